package buildkitreport

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// fullMetrics writes the metrics of a run in which every series the alert
// rules read is present, and parses them back.
func fullMetrics(t *testing.T) (string, map[string]float64) {
	t.Helper()
	now := time.Now()
	prev := withGates(sample(t, now.Add(-time.Hour), "passed", 400000000))
	prev.BuildResults.Agents["python"].ImageID = "sha256:dddd4444" // the image still deployed
	prev.BuildResults.Agents["python"].Scan.Counts = map[string]int{"critical": 2, "high": 1}
	prev.BuildResults.Agents["python"].Scan.Status = "failed"
	prev.BuildResults.Agents["python"].Gate = "scan"
	prev.Verdict = "failed"
	prev.FirstRun = "2024-01-01T00:00:00Z"
	prev.LastSuccess = "2024-02-01T00:00:00Z"
	cur := withGates(sample(t, now, "scan", 410000000))
	cur.BuildCache = &BuildCache{Builder: "jenkins-builder", TotalBytes: 12 << 30, Limit: "10GB"}
	Carry(cur, History{prev})
	path := filepath.Join(t.TempDir(), "m.prom")
	require.NoError(t, WriteMetrics(path, cur, History{prev, cur}, Limits{ImageAge: 30 * 24 * time.Hour, WithoutSuccess: 26 * time.Hour}))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	require.NoError(t, err)
	values := map[string]float64{}
	for name, f := range families {
		for _, m := range f.Metric {
			key := name
			for _, l := range m.Label {
				if l.GetName() != "host" {
					key += "," + l.GetName() + "=" + l.GetValue()
				}
			}
			values[key] = m.GetGauge().GetValue()
		}
	}
	return string(b), values
}

func TestMetricsCarryWhatTheAlertsNeed(t *testing.T) {
	_, v := fullMetrics(t)
	assert.Equal(t, 2.0, v["jenkins_image_deployed_vulnerabilities,image=python,severity=critical"],
		"python's candidate failed its scan: the deployed image is the earlier one, with its own last scan")
	assert.Equal(t, 1.0, v["jenkins_image_vulnerabilities,image=python,severity=critical"], "the candidate's scan, as before")
	assert.Equal(t, 0.0, v["jenkins_image_deployed_vulnerabilities,image=master,severity=critical"], "master's candidate is what is deployed")
	_, known := v["jenkins_image_deployed_vulnerabilities,image=dind,severity=critical"]
	assert.False(t, known, "no scan of dind's deployed image is known: no series rather than a made-up 0")
	created, _ := time.Parse(time.RFC3339, "2024-01-01T00:00:00Z")
	assert.Equal(t, float64(created.Unix()), v["jenkins_image_deployed_created_timestamp_seconds,image=python"])
	assert.Equal(t, float64(int64(12)<<30), v["jenkins_images_build_cache_bytes,builder=jenkins-builder"])
	assert.Equal(t, float64(int64(10)<<30), v["jenkins_images_build_cache_limit_bytes,builder=jenkins-builder"], "10GB as buildkit_cache reads it")
	assert.Equal(t, 30*86400.0, v["jenkins_images_image_age_limit_seconds"])
	assert.Equal(t, 26*3600.0, v["jenkins_images_success_interval_limit_seconds"])
	first, _ := time.Parse(time.RFC3339, "2024-01-01T00:00:00Z")
	last, _ := time.Parse(time.RFC3339, "2024-02-01T00:00:00Z")
	assert.Equal(t, float64(first.Unix()), v["jenkins_images_first_run_timestamp_seconds"], "carried from the history")
	assert.Equal(t, float64(last.Unix()), v["jenkins_images_last_success_timestamp_seconds"], "a failed run keeps the last success")
}

func TestCarryKeepsTheLastSuccessAndTheFirstRun(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	at := func(d time.Duration, gate string) *Report {
		r := sample(t, now.Add(d), gate, 1)
		return r
	}
	first, ok, bad := at(-3*time.Hour, "passed"), at(-2*time.Hour, "passed"), at(-time.Hour, "scan")
	Carry(first, nil)
	assert.Equal(t, first.BuildTimestamp, first.FirstRun)
	assert.Equal(t, first.BuildTimestamp, first.LastSuccess)
	Carry(ok, History{first})
	Carry(bad, History{first, ok})
	assert.Equal(t, ok.BuildTimestamp, bad.LastSuccess)
	assert.Equal(t, first.BuildTimestamp, bad.FirstRun)
	// Beyond the history's window, the carried values stand.
	later := at(0, "scan")
	Carry(later, History{bad})
	assert.Equal(t, ok.BuildTimestamp, later.LastSuccess)
	assert.Equal(t, first.BuildTimestamp, later.FirstRun)
	// A history that never passed has no last success.
	never := at(0, "scan")
	Carry(never, History{at(-time.Hour, "scan")})
	assert.Empty(t, never.LastSuccess)
}

var seriesName = regexp.MustCompile(`\bjenkins_images?_[a-z_]+\b`)

type ruleFile struct {
	Groups []struct {
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertRulesUseTheseMetrics keeps the shipped alert rules, their unit
// tests and the dashboard's alert panel in step with the metrics: every
// series a rule reads or a test feeds is one WriteMetrics writes, every alert
// is unit-tested, and the dashboard shows the rules' alerts.
func TestAlertRulesUseTheseMetrics(t *testing.T) {
	written, _ := fullMetrics(t)
	b, err := os.ReadFile("../../../roles/jenkins_images/files/prometheus-alerts.yml")
	require.NoError(t, err)
	var rules ruleFile
	require.NoError(t, yaml.Unmarshal(b, &rules))
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert)
			alerts[r.Alert] = true
			names := seriesName.FindAllString(r.Expr, -1)
			assert.NotEmpty(t, names, r.Alert)
			for _, name := range names {
				assert.Contains(t, written, "# TYPE "+name+" gauge", "alert %s reads %s, which is not written", r.Alert, name)
			}
		}
	}
	for _, want := range []string{"JenkinsImageBuildFailed", "JenkinsImageGateFailed", "JenkinsImageCriticalVulnerabilities",
		"JenkinsImageTooOld", "JenkinsImagesBuildCacheOverLimit", "JenkinsImagesNoSuccessfulRun"} {
		assert.True(t, alerts[want], "missing alert %s", want)
	}

	tests, err := filepath.Glob("../../../tests/prometheus/*_test.yml")
	require.NoError(t, err)
	require.NotEmpty(t, tests)
	tested := map[string]bool{}
	for _, f := range tests {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var doc struct {
			Tests []struct {
				InputSeries []struct {
					Series string `yaml:"series"`
				} `yaml:"input_series"`
				AlertRuleTests []struct {
					Alertname string `yaml:"alertname"`
				} `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		require.NoError(t, yaml.Unmarshal(b, &doc), f)
		for _, tc := range doc.Tests {
			for _, s := range tc.InputSeries {
				for _, name := range seriesName.FindAllString(s.Series, 1) {
					assert.Contains(t, written, "# TYPE "+name+" gauge", "%s feeds %s, which is not written", f, name)
				}
			}
			for _, a := range tc.AlertRuleTests {
				assert.True(t, alerts[a.Alertname], "%s tests %s, which is no rule", f, a.Alertname)
				tested[a.Alertname] = true
			}
		}
	}
	for a := range alerts {
		assert.True(t, tested[a], "alert %s has no unit test in tests/prometheus", a)
	}

	dash, err := os.ReadFile("../../../roles/jenkins_images/files/grafana-dashboard.json")
	require.NoError(t, err)
	for a := range alerts {
		assert.Contains(t, string(dash), a, "the dashboard's alert panel does not name %s", a)
	}
}
