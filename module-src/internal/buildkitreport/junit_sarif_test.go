package buildkitreport

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// withGates gives sample's images what the role records of each gate.
func withGates(r *Report) *Report {
	master := r.BuildResults.Master
	master.ImageID = "sha256:aaaa1111bbbb2222"
	master.Checks = map[string]*Check{
		"validation": {Status: "passed", Detail: "passed: http", Duration: 21},
		"metadata":   {Status: "passed", Detail: "OCI labels set, runs as a non-root user"},
	}
	master.Deployed = &Deployed{ImageID: master.ImageID, Created: "2024-01-15T10:00:00.123456789Z"}
	python := r.BuildResults.Agents["python"]
	python.ImageID = "sha256:cccc3333"
	python.Scan.Msg = "jenkins/jenkins-agent-python:candidate failed the vulnerability gate (fail_on: CRITICAL): 1 finding(s): CRITICAL CVE-2099-0001 (busybox 1.36.1-r2, fixed in 1.36.1-r5)"
	python.Scan.TrivyReport = "scans/python-cccc3333.trivy.json"
	python.Error = python.Scan.Msg
	python.Checks = map[string]*Check{
		"validation": {Status: "passed", Detail: "passed: java, tool"},
		"metadata":   {Status: "passed"},
	}
	python.Deployed = &Deployed{ImageID: "sha256:dddd4444", Created: "2024-01-01T00:00:00Z"}
	dind := r.BuildResults.Agents["dind"]
	dind.ImageID = "sha256:eeee5555"
	dind.Deployed = &Deployed{ImageID: dind.ImageID, Created: "2024-01-02T00:00:00Z"}
	r.BuildConfiguration["fail_on"] = []any{"CRITICAL"}
	r.BuildConfiguration["security_scan_enabled"] = true
	return r
}

type parsedJUnit struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Suites   []struct {
		Name  string `xml:"name,attr"`
		Cases []struct {
			Name      string  `xml:"name,attr"`
			Classname string  `xml:"classname,attr"`
			Skipped   *string `xml:"skipped"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
			Out string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestJUnitSaysWhichImageFailedWhichGateAndWhy(t *testing.T) {
	r := withGates(sample(t, time.Now(), "scan", 410000000))
	b, err := RenderJUnit(r)
	require.NoError(t, err)
	var doc parsedJUnit
	require.NoError(t, xml.Unmarshal(b, &doc))
	require.Len(t, doc.Suites, 3, "a suite per image")
	assert.Equal(t, 1, doc.Failures)
	assert.Equal(t, 0, doc.Errors)
	outcome := map[string]string{}
	for _, s := range doc.Suites {
		var names []string
		for _, c := range s.Cases {
			names = append(names, c.Name)
			assert.Equal(t, s.Name, c.Classname)
			key := strings.TrimPrefix(c.Classname, "jenkins_images.build-1.") + "/" + c.Name
			switch {
			case c.Failure != nil:
				outcome[key] = "failed: " + c.Failure.Message
			case c.Error != nil:
				outcome[key] = "error: " + c.Error.Message
			case c.Skipped != nil:
				outcome[key] = "skipped: " + *c.Skipped
			default:
				outcome[key] = "passed"
			}
		}
		assert.Equal(t, []string{"build", "scan", "validation", "metadata", "promotion"}, names, "the gates in the role's order; no signing when it is off")
	}
	assert.Equal(t, "passed", outcome["master/build"])
	assert.Equal(t, "passed", outcome["master/scan"])
	assert.Equal(t, "passed", outcome["master/promotion"])
	assert.Contains(t, outcome["python/scan"], "failed: jenkins/jenkins-agent-python:candidate failed the vulnerability gate")
	assert.Contains(t, outcome["python/scan"], "CVE-2099-0001")
	assert.Equal(t, "passed", outcome["python/validation"], "each gate's own outcome, not only the first failure")
	assert.Equal(t, "skipped: not promoted: failed at the scan gate; jenkins/jenkins-agent-python:latest still holds dddd4444", outcome["python/promotion"])
	assert.Equal(t, "passed", outcome["dind/build"], "unchanged is a passing build")
	assert.Contains(t, outcome["dind/scan"], "skipped: not needed: eeee5555 is the image jenkins/jenkins-agent-dind:latest already holds")
	assert.Contains(t, string(b), "vulnerabilities: critical 1, high 0")
	assert.Contains(t, string(b), `timestamp="`)
}

func TestJUnitBuildFailureSkipsTheRestAndSigningShowsWhenOn(t *testing.T) {
	r := withGates(sample(t, time.Now(), "passed", 1))
	py := r.BuildResults.Agents["python"]
	py.Gate, py.Status, py.Built, py.Error = "build", "failed", false, "RUN exit code 1\n\x1b[31mred\x1b[0m line"
	r.BuildResults.Master.Checks["signing"] = &Check{Status: "failed", Detail: "no key for registry.example.com"}
	r.BuildResults.Master.Gate = "signing"
	b, err := RenderJUnit(r)
	require.NoError(t, err)
	var doc parsedJUnit
	require.NoError(t, xml.Unmarshal(b, &doc), "control characters from build logs do not break the XML")
	assert.Equal(t, 2, doc.Failures)
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			switch {
			case strings.HasSuffix(s.Name, ".python") && c.Name == "build":
				require.NotNil(t, c.Failure)
				assert.Equal(t, "RUN exit code 1", c.Failure.Message)
			case strings.HasSuffix(s.Name, ".python") && c.Name != "build":
				require.NotNil(t, c.Skipped, c.Name)
			case strings.HasSuffix(s.Name, ".master") && c.Name == "signing":
				require.NotNil(t, c.Failure)
				assert.Equal(t, "no key for registry.example.com", c.Failure.Message)
			}
		}
	}
}

// trivyJSON is a Trivy report (schema 2) with the findings the scan tests use.
const trivyJSON = `{"SchemaVersion": 2, "Trivy": {"Version": "0.74.0"}, "ArtifactName": "jenkins/jenkins-agent-python:candidate",
  "Results": [{"Target": "jenkins/jenkins-agent-python:candidate (alpine 3.22.1)", "Class": "os-pkgs", "Type": "alpine",
    "Vulnerabilities": [
      {"VulnerabilityID": "CVE-2099-0003", "PkgName": "busybox", "InstalledVersion": "1.36.1-r2", "FixedVersion": "1.36.1-r9",
       "Severity": "HIGH", "Title": "busybox: a high one", "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2099-0003"},
      {"VulnerabilityID": "CVE-2099-0001", "PkgName": "busybox", "InstalledVersion": "1.36.1-r2", "FixedVersion": "1.36.1-r5",
       "Severity": "CRITICAL", "Title": "busybox: a critical one", "Description": "Long text.", "CVSS": {"nvd": {"V3Score": 9.8}}},
      {"VulnerabilityID": "CVE-2099-0001", "PkgName": "busybox", "InstalledVersion": "1.36.1-r2", "FixedVersion": "1.36.1-r5",
       "Severity": "CRITICAL"},
      {"VulnerabilityID": "CVE-2099-0009", "PkgName": "musl", "InstalledVersion": "1.2.5-r0", "Severity": "LOW"}]}]}`

func TestSARIFListsEveryFindingWithTheGatesLevel(t *testing.T) {
	dir := t.TempDir()
	r := withGates(sample(t, time.Now(), "scan", 410000000))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "scans"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scans", "python-cccc3333.trivy.json"), []byte(trivyJSON), 0o644))
	r.BuildResults.Master.Scan.TrivyReport = "scans/missing.trivy.json"
	b, err := RenderSARIF(r, dir)
	require.NoError(t, err)
	var doc struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name    string `json:"name"`
					Version string `json:"version"`
					Rules   []struct {
						ID            string            `json:"id"`
						HelpURI       string            `json:"helpUri"`
						Properties    map[string]any    `json:"properties"`
						DefaultConfig map[string]string `json:"defaultConfiguration"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Invocations []struct {
				ExecutionSuccessful bool `json:"executionSuccessful"`
				Notifications       []struct {
					Message struct{ Text string } `json:"message"`
				} `json:"toolExecutionNotifications"`
			} `json:"invocations"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct{ Text string }
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string } `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
			Properties map[string]any `json:"properties"`
		} `json:"runs"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	assert.Equal(t, "2.1.0", doc.Version)
	require.Len(t, doc.Runs, 2, "master and python were scanned; dind's scan was skipped")
	master, python := doc.Runs[0], doc.Runs[1]
	assert.Equal(t, "jenkins/jenkins-master:candidate", master.Properties["image"])
	assert.Empty(t, master.Results)
	require.Len(t, master.Invocations, 1)
	assert.Contains(t, master.Invocations[0].Notifications[0].Message.Text, "cannot be read", "a missing report is said, not shown as clean")

	assert.Equal(t, "Trivy", python.Tool.Driver.Name)
	assert.Equal(t, "0.74.0", python.Tool.Driver.Version)
	require.Len(t, python.Results, 3, "the duplicate finding is listed once, as the gate counts it")
	assert.Equal(t, "CVE-2099-0001", python.Results[0].RuleID, "worst first")
	assert.Equal(t, "error", python.Results[0].Level, "fails the gate")
	assert.Contains(t, python.Results[0].Message.Text, "CRITICAL CVE-2099-0001: busybox 1.36.1-r2 (fixed in 1.36.1-r5)")
	assert.Equal(t, "warning", python.Results[1].Level, "HIGH does not fail a CRITICAL gate")
	assert.Equal(t, "note", python.Results[2].Level)
	assert.Equal(t, "jenkins/jenkins-agent-python", python.Results[0].Locations[0].PhysicalLocation.ArtifactLocation.URI)
	assert.NotEmpty(t, python.Results[0].PartialFingerprints["imageVulnerability/v1"])
	for _, res := range python.Results {
		assert.Equal(t, res.RuleID, python.Tool.Driver.Rules[res.RuleIndex].ID, "ruleIndex points at the rule")
	}
	rule := python.Tool.Driver.Rules[python.Results[0].RuleIndex]
	assert.Equal(t, "9.8", rule.Properties["security-severity"], "the CVSS score")
	assert.Equal(t, "error", rule.DefaultConfig["level"])
	assert.Equal(t, "8.0", python.Tool.Driver.Rules[python.Results[1].RuleIndex].Properties["security-severity"], "by severity without CVSS")
	assert.Equal(t, "https://avd.aquasec.com/nvd/cve-2099-0003", python.Tool.Driver.Rules[python.Results[1].RuleIndex].HelpURI)

	// A scanner error is a failed invocation, never an empty (clean-looking) scan.
	r.BuildResults.Agents["python"].Scan.Status = "error"
	b, err = RenderSARIF(r, dir)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &doc))
	assert.False(t, doc.Runs[1].Invocations[0].ExecutionSuccessful)
	assert.Contains(t, doc.Runs[1].Invocations[0].Notifications[0].Message.Text, "failed the vulnerability gate")

	// A report that is not Trivy's is an error naming the image.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scans", "python-cccc3333.trivy.json"), []byte(`{"x": 1}`), 0o644))
	r.BuildResults.Agents["python"].Scan.Status = "failed"
	_, err = RenderSARIF(r, dir)
	require.ErrorContains(t, err, "scan.trivy_report of python")
}

func TestRepositoryDropsTagAndDigest(t *testing.T) {
	for in, want := range map[string]string{
		"jenkins/jenkins-master:candidate":         "jenkins/jenkins-master",
		"registry:5000/jenkins/agent:candidate":    "registry:5000/jenkins/agent",
		"registry:5000/jenkins/agent":              "registry:5000/jenkins/agent",
		"jenkins/agent@sha256:abc":                 "jenkins/agent",
		"registry:5000/jenkins/agent:1@sha256:abc": "registry:5000/jenkins/agent",
	} {
		assert.Equal(t, want, repository(in), in)
	}
}

func TestPruneScansKeepsWhatTheHistoryRefersTo(t *testing.T) {
	dir := t.TempDir()
	scans := filepath.Join(dir, "scans")
	require.NoError(t, os.MkdirAll(scans, 0o755))
	for _, f := range []string{"python-old.trivy.json", "python-cccc3333.trivy.json", "notes.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(scans, f), []byte("{}"), 0o644))
	}
	r := withGates(sample(t, time.Now(), "scan", 1))
	require.NoError(t, PruneScans(dir, History{r}))
	left, _ := filepath.Glob(filepath.Join(scans, "*"))
	for i := range left {
		left[i] = filepath.Base(left[i])
	}
	assert.ElementsMatch(t, []string{"python-cccc3333.trivy.json", "notes.txt"}, left)
}

// runModule runs the module on report with the outputs under dir.
func runModule(t *testing.T, r *Report, dir string) error {
	t.Helper()
	b, err := json.Marshal(r)
	require.NoError(t, err)
	var report map[string]any
	require.NoError(t, json.Unmarshal(b, &report))
	m, err := module.ParseArgs(map[string]any{"report": report, "reports_dir": dir,
		"html_path": filepath.Join(dir, "page.html"), "junit_path": filepath.Join(dir, "r.junit.xml"),
		"sarif_path": filepath.Join(dir, "r.sarif"), "metrics_path": filepath.Join(dir, "m.prom")},
		Spec(), func(string) string { return "" })
	require.NoError(t, err)
	res, err := Run(t.Context(), m)
	assert.Empty(t, module.CheckReturns(Spec().Returns, res.Data), "every result key is declared")
	return err
}

func TestModuleWritesEveryDocumentOrNone(t *testing.T) {
	dir := t.TempDir()
	r := withGates(sample(t, time.Now(), "scan", 410000000))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "scans"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scans", "python-cccc3333.trivy.json"), []byte(trivyJSON), 0o644))
	require.NoError(t, runModule(t, r, dir))
	for _, f := range []string{"page.html", "r.junit.xml", "r.sarif", "m.prom"} {
		_, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
	}
	history, _ := filepath.Glob(filepath.Join(dir, "history", "*.json"))
	require.Len(t, history, 1)

	// A Trivy report that cannot be read as one fails the module naming it, and nothing is written.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scans", "python-cccc3333.trivy.json"), []byte("not json"), 0o644))
	before, err := os.ReadFile(filepath.Join(dir, "r.junit.xml"))
	require.NoError(t, err)
	later := withGates(sample(t, time.Now().Add(time.Minute), "scan", 410000000))
	err = runModule(t, later, dir)
	require.ErrorContains(t, err, "scan.trivy_report of python")
	history, _ = filepath.Glob(filepath.Join(dir, "history", "*.json"))
	assert.Len(t, history, 1, "the run was not added to the history")
	after, err := os.ReadFile(filepath.Join(dir, "r.junit.xml"))
	require.NoError(t, err)
	assert.Equal(t, before, after, "the last JUnit report stands")

	bad := withGates(sample(t, time.Now(), "scan", 1))
	bad.BuildCache = &BuildCache{Builder: "engine", Limit: "ten gigs"}
	require.ErrorContains(t, runModule(t, bad, t.TempDir()), `report: build_cache.limit "ten gigs" is not a size such as 10GB`)
}
