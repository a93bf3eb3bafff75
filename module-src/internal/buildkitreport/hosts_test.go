package buildkitreport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// twoHosts is a run over two build hosts: build-1 failed python's scan and
// built master on node n2 of a cluster after n1 died; build-2 passed.
func twoHosts(t *testing.T) *HostsReport {
	now := time.Now()
	one := sample(t, now.Add(-time.Minute), "scan", 410000000)
	m := one.BuildResults.Master
	m.Builder = "buildkit (cl/n2: remote tcp://10.0.0.2:1234)"
	m.BuilderNodes = []string{"n2"}
	m.Placement = []Placement{{Node: "n2", Platforms: []string{"linux/amd64"}, Reason: "least busy"}}
	m.Placement[0].MovedFrom = append(m.Placement[0].MovedFrom, struct {
		Node   string `json:"node"`
		Reason string `json:"reason"`
	}{"n1", "died during the build: EOF"})
	two := sample(t, now, "passed", 400000000)
	two.BuildHost = "build-2"
	return NewHostsReport(map[string]*Report{"build-1": one, "build-2": two}, []string{"build-3"})
}

func TestHostsReportPutsTheHostsSideBySide(t *testing.T) {
	hr := twoHosts(t)
	assert.Equal(t, "failed", hr.Verdict)
	assert.Contains(t, hr.Summary.Failed, "build-1/python: failed at the scan gate")
	assert.Contains(t, hr.Summary.Failed, "build-3: no report (the host did not get as far as its report)")
	assert.Contains(t, hr.Summary.Built, "build-2/master")
	page, err := RenderHostsHTML(hr)
	require.NoError(t, err)
	html := string(page)
	for _, want := range []string{`id="host-build-1"`, `id="host-build-2"`, `id="host-build-3"`, "no report", `id="image-build-1-master"`,
		"node n2", "moved from n1 to n2: died during the build: EOF", `href="build-2/build-report-latest.html"`, "FAILED"} {
		assert.Contains(t, html, want)
	}
	for _, bad := range []string{"http://", "https://", "<script", "<link", "src="} {
		assert.NotContains(t, html, bad)
	}
	// The host's own page shows the node and the move too.
	own, err := RenderHTML(hr.Hosts["build-1"], History{hr.Hosts["build-1"]})
	require.NoError(t, err)
	assert.Contains(t, string(own), "moved from n1 to n2")
}

func TestHostsMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts.prom")
	require.NoError(t, WriteHostsMetrics(path, twoHosts(t)))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(f)
	require.NoError(t, err)
	value := func(name string, labels map[string]string) float64 {
		for _, m := range fams[name].GetMetric() {
			ok := true
			for _, l := range m.GetLabel() {
				if want, set := labels[l.GetName()]; set && want != l.GetValue() {
					ok = false
				}
			}
			if ok {
				return m.GetGauge().GetValue()
			}
		}
		t.Fatalf("no %s%v", name, labels)
		return 0
	}
	assert.Equal(t, 0.0, value("jenkins_images_hosts_passed", nil))
	assert.Equal(t, 1.0, value("jenkins_images_hosts_host_passed", map[string]string{"host": "build-2"}))
	assert.Equal(t, 0.0, value("jenkins_images_hosts_host_passed", map[string]string{"host": "build-1"}))
	assert.Equal(t, 0.0, value("jenkins_images_hosts_host_reported", map[string]string{"host": "build-3"}))
	assert.Equal(t, 1.0, value("jenkins_images_hosts_images", map[string]string{"host": "build-1", "status": "failed"}))
	assert.Equal(t, 1.0, value("jenkins_images_hosts_image_built_on", map[string]string{"image": "master", "host": "build-1", "node": "n2"}))
	assert.Equal(t, 52.5, value("jenkins_images_hosts_build_seconds", map[string]string{"host": "build-2"}))
	for name := range fams {
		assert.True(t, strings.HasPrefix(name, "jenkins_images_hosts_"), "%s: the host view's names differ from the per-host files'", name)
	}
}
