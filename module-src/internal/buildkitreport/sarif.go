package buildkitreport

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/scanner"
)

// trivyReport is the part of Trivy's JSON report that SARIF shows: the
// gate's view (scanner.Vulnerability) plus what a reader needs to act.
type trivyReport struct {
	SchemaVersion int `json:"SchemaVersion"`
	Trivy         struct {
		Version string `json:"Version"`
	} `json:"Trivy"`
	Results []struct {
		Target          string      `json:"Target"`
		Class           string      `json:"Class"`
		Vulnerabilities []trivyVuln `json:"Vulnerabilities"`
	} `json:"Results"`
}

type trivyVuln struct {
	scanner.Vulnerability
	Description string `json:"Description"`
	PrimaryURL  string `json:"PrimaryURL"`
	CVSS        map[string]struct {
		V3Score float64 `json:"V3Score"`
	} `json:"CVSS"`
}

// severity is Trivy's severity, upper case; anything else is UNKNOWN.
func (v trivyVuln) severity() string {
	s := strings.ToUpper(v.Severity)
	if !slices.Contains(scanner.Severities, s) {
		return "UNKNOWN"
	}
	return s
}

// securitySeverity is the highest CVSS v3 score, or one for the severity
// (as code-scanning tools rank findings).
func (v trivyVuln) securitySeverity() string {
	var best float64
	for _, c := range v.CVSS {
		best = max(best, c.V3Score)
	}
	if best == 0 {
		best = map[string]float64{"CRITICAL": 9.5, "HIGH": 8.0, "MEDIUM": 5.5, "LOW": 2.0}[v.severity()]
	}
	return strconv.FormatFloat(best, 'f', 1, 64)
}

// sarifLevel is a finding's SARIF level: error when its severity fails the
// gate (the report's fail_on), else warning down to MEDIUM, note below.
func sarifLevel(severity string, failOn []string) string {
	switch {
	case slices.Contains(failOn, severity):
		return "error"
	case severity == "CRITICAL" || severity == "HIGH" || severity == "MEDIUM":
		return "warning"
	default:
		return "note"
	}
}

// RenderSARIF is the scan findings of run r as SARIF 2.1.0: one run per
// image whose scan stands for it (this run's, or carried over), every
// vulnerability Trivy found (not only those failing the gate), read from the
// Trivy reports kept beside the reports in reportsDir.
func RenderSARIF(r *Report, reportsDir string) ([]byte, error) {
	log, err := sarif.New(sarif.Version210)
	if err != nil {
		return nil, err
	}
	var failOn []string
	if list, ok := r.BuildConfiguration["fail_on"].([]any); ok {
		for _, s := range list {
			failOn = append(failOn, strings.ToUpper(fmt.Sprint(s)))
		}
	}
	for _, e := range r.Images() {
		if e.Scan.Status == "" || e.Scan.Status == "skipped" {
			continue
		}
		run, err := sarifRun(r, e, reportsDir, failOn)
		if err != nil {
			return nil, err
		}
		log.AddRun(run)
	}
	var buf bytes.Buffer
	if err := log.PrettyWrite(&buf); err != nil {
		return nil, fmt.Errorf("render the SARIF report: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func sarifRun(r *Report, e NamedEntry, reportsDir string, failOn []string) (*sarif.Run, error) {
	run := sarif.NewRunWithInformationURI("Trivy", "https://trivy.dev")
	run.Results = []*sarif.Result{} // an actual scan: present, even when empty
	run.WithAutomationDetails(sarif.NewRunAutomationDetails().
		WithID(fmt.Sprintf("jenkins_images/%s/%s/%s", r.BuildHost, e.Name, r.BuildTimestamp)).
		WithDescriptionText(fmt.Sprintf("Vulnerability scan of %s (%s) for the jenkins_images role on %s", e.Image, shortID(e.ImageID), r.BuildHost)))
	props := sarif.NewPropertyBag()
	props.AddString("name", e.Name)
	props.AddString("image", e.Image)
	props.AddString("imageId", e.ImageID)
	props.AddString("scanStatus", e.Scan.Status)
	if e.Scan.From != "" {
		props.AddString("scannedInRunOf", e.Scan.From)
	}
	run.AttachPropertyBag(props)

	inv := run.AddInvocation(e.Scan.ran())
	if !e.Scan.ran() {
		inv.AddTToolExecutionNotification(sarif.NewNotification().WithLevel("error").
			WithTextMessage(orDefault(e.Scan.Msg, "the scan did not come to a verdict")))
		return run, nil
	}
	if e.Scan.TrivyReport == "" {
		inv.AddTToolExecutionNotification(sarif.NewNotification().WithLevel("warning").
			WithTextMessage("Trivy's report was not kept beside the reports: the findings are not listed"))
		return run, nil
	}
	path := e.Scan.TrivyReport
	if !filepath.IsAbs(path) {
		path = filepath.Join(reportsDir, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		inv.AddTToolExecutionNotification(sarif.NewNotification().WithLevel("warning").
			WithTextMessage(fmt.Sprintf("Trivy's report %s cannot be read: %v", e.Scan.TrivyReport, err)))
		return run, nil
	}
	var tr trivyReport
	if err := json.Unmarshal(b, &tr); err != nil || tr.SchemaVersion != 2 {
		return nil, fmt.Errorf("scan.trivy_report of %s: %s is not a Trivy JSON report (schema 2)", e.Name, path)
	}
	if tr.Trivy.Version != "" {
		run.Tool.Driver.WithVersion(tr.Trivy.Version)
	}
	repo := repository(e.Image)
	type finding struct {
		trivyVuln
		target string
	}
	var findings []finding
	seen := map[string]bool{}
	for _, res := range tr.Results {
		for _, v := range res.Vulnerabilities {
			// As the gate counts: one finding per CVE, package and version.
			key := v.VulnerabilityID + "\x00" + v.PkgName + "\x00" + v.InstalledVersion
			if seen[key] {
				continue
			}
			seen[key] = true
			findings = append(findings, finding{v, res.Target})
		}
	}
	rank := func(s string) int { return slices.Index(scanner.Severities, s) }
	sort.SliceStable(findings, func(i, j int) bool {
		a, b := findings[i], findings[j]
		if rank(a.severity()) != rank(b.severity()) {
			return rank(a.severity()) < rank(b.severity())
		}
		if a.VulnerabilityID != b.VulnerabilityID {
			return a.VulnerabilityID < b.VulnerabilityID
		}
		return a.PkgName < b.PkgName
	})
	for _, f := range findings {
		sev := f.severity()
		level := sarifLevel(sev, failOn)
		rule := run.AddRule(f.VulnerabilityID)
		if rule.ShortDescription == nil {
			rule.WithDescription(orDefault(f.Title, f.VulnerabilityID))
			if f.Description != "" {
				rule.WithFullDescription(sarif.NewMultiformatMessageString(f.Description))
			}
			if f.PrimaryURL != "" {
				rule.WithHelpURI(f.PrimaryURL)
			}
			rule.WithTextHelp(fmt.Sprintf("%s (%s): %s", f.VulnerabilityID, sev, orDefault(f.Title, "see "+orDefault(f.PrimaryURL, "the advisory"))))
			rule.WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(level))
			rule.WithProperties(sarif.Properties{"security-severity": f.securitySeverity(), "precision": "very-high",
				"tags": []string{"security", "vulnerability", strings.ToLower(sev)}})
		}
		fix := "no fix yet"
		if f.FixedVersion != "" {
			fix = "fixed in " + f.FixedVersion
		}
		text := fmt.Sprintf("%s %s: %s %s (%s) in %s", sev, f.VulnerabilityID, f.PkgName, f.InstalledVersion, fix, e.Image)
		if level == "error" {
			text += " - fails the gate (fail_on " + strings.Join(failOn, ", ") + ")"
		}
		if f.Title != "" {
			text += ". " + f.Title
		}
		res := run.CreateResultForRule(f.VulnerabilityID).WithLevel(level).WithMessage(sarif.NewTextMessage(text))
		loc := sarif.NewLocationWithPhysicalLocation(sarif.NewPhysicalLocation().
			WithArtifactLocation(sarif.NewSimpleArtifactLocation(repo)).
			WithRegion(sarif.NewSimpleRegion(1, 1)))
		loc.AddLogicalLocations(sarif.NewLogicalLocation().WithName(f.PkgName).
			WithFullyQualifiedName(f.target + "/" + f.PkgName + "@" + f.InstalledVersion))
		res.AddLocation(loc)
		sum := sha256.Sum256([]byte(repo + "\x00" + f.VulnerabilityID + "\x00" + f.PkgName + "\x00" + f.InstalledVersion))
		res.WithPartialFingerPrints(map[string]any{"imageVulnerability/v1": hex.EncodeToString(sum[:16])})
		rp := sarif.NewPropertyBag()
		rp.AddString("severity", sev)
		rp.AddString("package", f.PkgName)
		rp.AddString("installedVersion", f.InstalledVersion)
		rp.AddString("fixedVersion", f.FixedVersion)
		rp.AddString("target", f.target)
		rp.AddString("image", e.Image)
		res.AttachPropertyBag(rp)
	}
	return run, nil
}

// repository is an image reference without its tag or digest.
func repository(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}
