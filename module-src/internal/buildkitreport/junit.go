package buildkitreport

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"sort"
	"strings"
)

// The gates of an image in the order the role runs them. Signing is there
// only when the report records it (it is on).
var gates = []string{"build", "scan", "validation", "metadata", "signing", "promotion"}

// A candidate that passed every gate but whose tags could not be moved has
// Gate "promotion": its promotion case fails.

// GateCase is one image's outcome at one gate, as a JUnit test case shows it.
type GateCase struct {
	Gate    string
	Status  string // passed, failed, error, skipped
	Message string // one line: why it failed or was skipped
	Detail  string // the rest: findings, messages, what was done
	Seconds float64
}

// GateCases is image e's outcome at each gate of run r.
func GateCases(r *Report, e NamedEntry) []GateCase {
	var out []GateCase
	for _, g := range gates {
		if g == "signing" && e.Checks["signing"] == nil {
			continue
		}
		out = append(out, gateCase(r, e, g))
	}
	return out
}

func gateCase(r *Report, e NamedEntry, gate string) GateCase {
	c := GateCase{Gate: gate}
	switch {
	case gate == "build":
		return buildCase(e)
	case e.Gate == "build":
		c.Status, c.Message = "skipped", "not run: the build failed"
		return c
	case strings.HasPrefix(e.Gate, "not needed") && gate != "promotion":
		c.Status, c.Message = "skipped", fmt.Sprintf("not needed: %s is the image %s already holds", shortID(e.ImageID), e.DeployTag)
		if gate == "scan" && e.Scan.ran() {
			c.Detail = fmt.Sprintf("last scan (run of %s): %s, %s", orUnknown(e.Scan.From), e.Scan.Status, countsText(e.Scan.Counts))
		}
		return c
	}
	switch gate {
	case "scan":
		return scanCase(r, e)
	case "promotion":
		return promotionCase(e)
	}
	chk := e.Checks[gate]
	if chk == nil {
		c.Status, c.Message = "skipped", "not recorded in the report"
		return c
	}
	c.Seconds = chk.Duration
	switch chk.Status {
	case "passed":
		c.Status, c.Detail = "passed", chk.Detail
	case "failed":
		c.Status, c.Message, c.Detail = "failed", firstLine(chk.Detail), chk.Detail
	default:
		c.Status, c.Message = "skipped", orDefault(chk.Detail, "skipped")
	}
	return c
}

func buildCase(e NamedEntry) GateCase {
	c := GateCase{Gate: "build", Seconds: e.Duration}
	switch {
	case e.Gate == "build":
		c.Status, c.Message, c.Detail = "failed", firstLine(e.Error), e.Error
	case e.Built:
		c.Status = "passed"
		c.Detail = fmt.Sprintf("built %s by %s (%s)", e.Image, orUnknown(e.Builder), orDefault(e.BuildReason, "inputs changed"))
		if e.CacheHitRatio != nil {
			c.Detail += fmt.Sprintf(", %.0f%% of the steps from the build cache", *e.CacheHitRatio*100)
		}
	default:
		c.Status, c.Detail = "passed", fmt.Sprintf("%s is up to date (inputs unchanged): nothing built", e.Image)
	}
	return c
}

func scanCase(r *Report, e NamedEntry) GateCase {
	c := GateCase{Gate: "scan"}
	if e.ScanDuration != nil {
		c.Seconds = *e.ScanDuration
	}
	detail := []string{}
	if e.Scan.Msg != "" {
		detail = append(detail, e.Scan.Msg)
	}
	if e.Scan.ran() {
		detail = append(detail, "vulnerabilities: "+countsText(e.Scan.Counts))
	}
	if len(e.Scan.Findings) > 0 {
		detail = append(detail, "failing findings: "+strings.Join(e.Scan.Findings, ", "))
	}
	if e.Scan.TrivyReport != "" {
		detail = append(detail, "Trivy report: "+e.Scan.TrivyReport)
	}
	c.Detail = strings.Join(detail, "\n")
	switch {
	case e.Gate == "scan" && e.Scan.Status == "failed":
		c.Status = "failed"
		c.Message = firstLine(orDefault(e.Scan.Msg, "failed the vulnerability gate: "+strings.Join(e.Scan.Findings, ", ")))
	case e.Gate == "scan":
		c.Status, c.Message = "error", firstLine(orDefault(e.Scan.Msg, "the scanner failed"))
	case e.Scan.Status == "passed" || e.Scan.Status == "failed":
		c.Status = "passed"
	case e.Scan.Status == "error":
		c.Status, c.Message = "skipped", "scanner error, not failing the run (jenkins_build_fail_on_scanner_error: false): "+firstLine(e.Scan.Msg)
	case r.BuildConfiguration["security_scan_enabled"] == false:
		c.Status, c.Message = "skipped", "not run: jenkins_build_scan_vulnerabilities is false"
	default:
		c.Status, c.Message = "skipped", "not run"
	}
	return c
}

func promotionCase(e NamedEntry) GateCase {
	c := GateCase{Gate: "promotion"}
	held := "nothing"
	if e.Deployed != nil {
		held = shortID(e.Deployed.ImageID)
	}
	switch {
	case e.Promoted:
		c.Status = "passed"
		c.Detail = "promoted to " + e.DeployTag
		if e.RollbackTag != nil {
			c.Detail += "; the previous image is kept as " + *e.RollbackTag
		}
	case strings.HasPrefix(e.Gate, "not needed"):
		c.Status, c.Message = "skipped", fmt.Sprintf("not needed: %s already holds %s", e.DeployTag, held)
	case e.Gate == "promotion":
		c.Status, c.Message, c.Detail = "failed", firstLine(e.Error), fmt.Sprintf("%s\n%s still holds %s", e.Error, e.DeployTag, held)
	case e.Passed():
		c.Status, c.Message = "skipped", "not promoted"
	default:
		c.Status = "skipped"
		c.Message = fmt.Sprintf("not promoted: failed at the %s gate; %s still holds %s", e.Gate, e.DeployTag, held)
	}
	return c
}

// JUnit XML in the form Jenkins' junit step reads (the schema of Jenkins'
// JUnit format): a <testsuite> per image, a <testcase> per gate.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string           `xml:"name,attr"`
	Tests      int              `xml:"tests,attr"`
	Failures   int              `xml:"failures,attr"`
	Errors     int              `xml:"errors,attr"`
	Skipped    int              `xml:"skipped,attr"`
	Time       string           `xml:"time,attr"`
	Timestamp  string           `xml:"timestamp,attr,omitempty"`
	Hostname   string           `xml:"hostname,attr,omitempty"`
	Package    string           `xml:"package,attr"`
	Properties *junitProperties `xml:"properties,omitempty"`
	Cases      []junitCase      `xml:"testcase"`
}

type junitProperties struct {
	Property []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Skipped   *string       `xml:"skipped,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// RenderJUnit is run r as JUnit XML: the package is jenkins_images.<host>,
// the class the image, the test the gate, so Jenkins lists which image failed
// which gate and why.
func RenderJUnit(r *Report) ([]byte, error) {
	pkg := "jenkins_images." + orDefault(r.BuildHost, "unknown")
	doc := junitSuites{Name: "jenkins_images " + r.BuildHost, Time: seconds(r.Duration)}
	timestamp := ""
	if t := r.Started(); !t.IsZero() {
		timestamp = t.UTC().Format("2006-01-02T15:04:05")
	}
	for _, e := range r.Images() {
		class := pkg + "." + e.Name
		s := junitSuite{Name: class, Timestamp: timestamp, Hostname: r.BuildHost, Package: pkg}
		props := []junitProperty{{"image", e.Image}, {"image_id", e.ImageID}, {"status", e.Status}, {"gate", e.Gate},
			{"deploy_tag", e.DeployTag}}
		if e.Deployed != nil {
			props = append(props, junitProperty{"deployed_image_id", e.Deployed.ImageID})
		}
		s.Properties = &junitProperties{Property: props}
		var total float64
		for _, gc := range GateCases(r, e) {
			jc := junitCase{Name: gc.Gate, Classname: class, Time: seconds(gc.Seconds), SystemOut: gc.Detail}
			total += gc.Seconds
			switch gc.Status {
			case "failed":
				jc.Failure = &junitProblem{Message: gc.Message, Type: gc.Gate + " gate", Text: gc.Detail}
				jc.SystemOut = ""
				s.Failures++
			case "error":
				jc.Error = &junitProblem{Message: gc.Message, Type: gc.Gate + " error", Text: gc.Detail}
				jc.SystemOut = ""
				s.Errors++
			case "skipped":
				msg := gc.Message
				jc.Skipped = &msg
				s.Skipped++
			}
			s.Cases = append(s.Cases, jc)
		}
		s.Tests = len(s.Cases)
		s.Time = seconds(total)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Suites = append(doc.Suites, s)
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("render the JUnit report: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func seconds(s float64) string { return fmt.Sprintf("%.3f", s) }

func countsText(counts map[string]int) string {
	if len(counts) == 0 {
		return "none counted"
	}
	var parts []string
	for _, sev := range []string{"critical", "high", "medium", "low", "unknown"} {
		if n, ok := counts[sev]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", sev, n))
		}
	}
	var rest []string
	for k := range counts {
		switch k {
		case "critical", "high", "medium", "low", "unknown":
		default:
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	if id == "" {
		return "(no image)"
	}
	return id
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func orUnknown(s string) string { return orDefault(s, "unknown") }
