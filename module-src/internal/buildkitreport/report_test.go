package buildkitreport

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sample(t *testing.T, started time.Time, pythonGate string, pythonSize int64) *Report {
	t.Helper()
	doc := `{
	  "build_timestamp": "` + started.UTC().Format(time.RFC3339) + `",
	  "build_host": "build-1",
	  "build_configuration": {"builder": "jenkins-builder", "build_method": "auto", "platform": "linux/amd64"},
	  "build_results": {
	    "jenkins_master": {"image": "jenkins/jenkins-master:candidate", "built": true, "status": "built", "method": "buildkit",
	      "size": 500000000, "duration": 42.5, "cache_hit_ratio": 0.75, "gate": "passed", "validated": true, "promoted": true,
	      "deploy_tag": "jenkins/jenkins-master:latest", "rollback_tag": "jenkins/jenkins-master:previous",
	      "scan_duration": 3.2, "validation_duration": 21.0,
	      "scan": {"status": "passed", "counts": {"critical": 0, "high": 2, "medium": 5, "low": 9, "unknown": 0}, "findings": []}},
	    "jenkins_agents": {
	      "python": {"image": "jenkins/jenkins-agent-python:candidate", "built": true, "status": "built", "method": "buildkit",
	        "size": ` + jsonInt(pythonSize) + `, "duration": 10.0, "cache_hit_ratio": 0.5, "gate": "` + pythonGate + `", "validated": null, "promoted": false,
	        "deploy_tag": "jenkins/jenkins-agent-python:latest", "rollback_tag": null, "scan_duration": 1.5,
	        "scan": {"status": "failed", "counts": {"critical": 1, "high": 0, "medium": 0, "low": 0, "unknown": 0}, "findings": ["CVE-2099-0001"]}},
	      "dind": {"image": "jenkins/jenkins-agent-dind:candidate", "built": false, "status": "unchanged", "method": "none",
	        "size": 300000000, "duration": 0, "cache_hit_ratio": null, "gate": "not needed (already deployed)", "validated": null,
	        "promoted": false, "deploy_tag": "jenkins/jenkins-agent-dind:latest", "rollback_tag": null, "scan": {"status": "skipped", "counts": {}, "findings": []}}
	    }
	  },
	  "summary": {"built": ["master", "python"], "unchanged": ["dind"], "promoted": ["master"], "failed": []}
	}`
	var r Report
	require.NoError(t, json.Unmarshal([]byte(doc), &r))
	if pythonGate != "passed" {
		r.Summary.Failed = []string{"python: failed at the scan gate (CVE-2099-0001)"}
		r.Verdict = "failed"
	} else {
		r.Verdict = "passed"
	}
	r.Duration = 61
	return &r
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestHTMLShowsEveryImageTheVerdictAndWhy(t *testing.T) {
	now := time.Now()
	prev := sample(t, now.Add(-time.Hour), "passed", 400000000)
	cur := sample(t, now, "scan", 410000000)
	page, err := RenderHTML(cur, History{prev, cur})
	require.NoError(t, err)
	html := string(page)
	for _, want := range []string{"FAILED", "master", "python", "dind", "failed at scan", "CVE-2099-0001",
		"promoted to jenkins/jenkins-master:latest", "jenkins/jenkins-master:previous", "75%", "9.537MiB since last run",
		"Last 2 runs: 50% succeeded", "unchanged"} {
		assert.Contains(t, html, want)
	}
	// Self-contained: nothing is fetched from anywhere.
	for _, bad := range []string{"http://", "https://", "<script", "<link", "@import", "src="} {
		assert.NotContains(t, html, bad)
	}
}

func TestMetricsParseAndHoldTheSeries(t *testing.T) {
	now := time.Now()
	prev := sample(t, now.Add(-time.Hour), "passed", 400000000)
	cur := sample(t, now, "scan", 410000000)
	path := filepath.Join(t.TempDir(), "jenkins_images.prom")
	require.NoError(t, WriteMetrics(path, cur, History{prev, cur}, Limits{}))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	require.NoError(t, err)
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f, ok := families[name]
		require.True(t, ok, "missing %s", name)
		for _, m := range f.Metric {
			if matchLabels(m, labels) {
				return m.GetGauge().GetValue()
			}
		}
		t.Fatalf("no %s with %v", name, labels)
		return 0
	}
	master := map[string]string{"image": "master", "host": "build-1"}
	python := map[string]string{"image": "python", "host": "build-1"}
	assert.Equal(t, 42.5, value("jenkins_image_build_duration_seconds", master))
	assert.Equal(t, 1.0, value("jenkins_image_build_success", master))
	assert.Equal(t, 0.0, value("jenkins_image_build_success", python), "a failed gate is a failure")
	assert.Equal(t, 0.75, value("jenkins_image_cache_hit_ratio", master))
	assert.Equal(t, 5e8, value("jenkins_image_size_bytes", master))
	assert.Equal(t, 1.0, value("jenkins_image_vulnerabilities", map[string]string{"image": "python", "host": "build-1", "severity": "critical"}))
	assert.Equal(t, 3.2, value("jenkins_image_scan_duration_seconds", master))
	assert.Equal(t, 21.0, value("jenkins_image_validation_duration_seconds", master))
	assert.Equal(t, float64(prev.Started().Unix()), value("jenkins_image_last_success_timestamp_seconds", python), "python last passed in the previous run")
	assert.Equal(t, float64(cur.Started().Unix()), value("jenkins_image_last_success_timestamp_seconds", master))
	assert.Equal(t, 0.0, value("jenkins_images_run_success", map[string]string{"host": "build-1"}))
	assert.Equal(t, 61.0, value("jenkins_images_run_duration_seconds", map[string]string{"host": "build-1"}))
	assert.Equal(t, 1.0, value("jenkins_image_gate_failed", map[string]string{"image": "python", "host": "build-1", "gate": "scan"}), "the failed gate is named")
	assert.Len(t, families["jenkins_image_gate_failed"].Metric, 1, "only failed images have the series")
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*"))
	assert.Len(t, leftovers, 1, "written through a temp file and a rename")
}

func matchLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.Label {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return len(got) == len(want)
}

func TestHistoryKeepsTheLastRuns(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-10 * time.Hour)
	for i := 0; i < 5; i++ {
		_, err := Save(dir, sample(t, base.Add(time.Duration(i)*time.Hour), "passed", 1))
		require.NoError(t, err)
	}
	h, err := LoadHistory(dir, 3)
	require.NoError(t, err)
	require.Len(t, h, 3)
	assert.True(t, h[0].Started().Before(h[2].Started()), "oldest first")
	require.NoError(t, os.WriteFile(filepath.Join(historyDir(dir), "build-report-99999999T000000Z.json"), []byte("{broken"), 0o644))
	h, err = LoadHistory(dir, 10)
	require.NoError(t, err)
	assert.Len(t, h, 5, "an unreadable report is skipped")
	assert.True(t, strings.HasPrefix(filepath.Base(historyDir(dir)), "history"))
}

func TestCarryOverShowsTheLastScanOfAnUnchangedImage(t *testing.T) {
	now := time.Now()
	prev := sample(t, now.Add(-time.Hour), "passed", 400000000)
	prev.BuildResults.Agents["dind"].ImageID = "sha256:d1"
	prev.BuildResults.Agents["dind"].Scan.Status = "passed"
	prev.BuildResults.Agents["dind"].Scan.Counts = map[string]int{"critical": 0, "high": 3}
	cur := sample(t, now, "passed", 400000000)
	cur.BuildResults.Agents["dind"].ImageID = "sha256:d1"
	older := sample(t, now.Add(-2*time.Hour), "passed", 400000000)
	older.BuildResults.Agents["dind"].ImageID = "sha256:d0" // another image: never carried
	older.BuildResults.Agents["dind"].Scan.Status = "failed"

	CarryOver(cur, History{older, prev})
	dind := cur.BuildResults.Agents["dind"]
	assert.Equal(t, "passed", dind.Scan.Status)
	assert.Equal(t, 3, dind.Scan.Counts["high"])
	assert.Equal(t, prev.BuildTimestamp, dind.Scan.From)
	assert.Nil(t, dind.ScanDuration, "no scan ran in this run")
	page, err := RenderHTML(cur, History{prev, cur})
	require.NoError(t, err)
	assert.Contains(t, string(page), "scanned in the run of "+prev.BuildTimestamp)

	// A different image ID is not the same image: its scan stays skipped.
	other := sample(t, now, "passed", 400000000)
	other.BuildResults.Agents["dind"].ImageID = "sha256:d2"
	CarryOver(other, History{older, prev})
	assert.Equal(t, "skipped", other.BuildResults.Agents["dind"].Scan.Status)
	assert.Empty(t, other.BuildResults.Agents["dind"].Scan.From)
}

// TestGrafanaDashboardUsesTheseMetrics keeps the sample dashboard in step with
// the metrics: every series a panel queries is one WriteMetrics writes.
func TestGrafanaDashboardUsesTheseMetrics(t *testing.T) {
	b, err := os.ReadFile("../../../roles/jenkins_images/files/grafana-dashboard.json")
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	written, _ := fullMetrics(t) // a run in which every series is written
	queried := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, name := range seriesName.FindAllString(target.Expr, -1) {
				queried++
				assert.Contains(t, written, "# TYPE "+name+" ", "panel %q queries %s, which is not written", p.Title, name)
			}
		}
	}
	assert.Greater(t, queried, 10)
}
