package buildkitreport

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The YAML and JSON reports hold the report as the module returns it.
func TestYAMLAndJSONHoldTheReport(t *testing.T) {
	r := sample(t, time.Now(), "scan", 410000000)
	r.BuildResults.Master.Error = "naïve ✓ 𝄞 <&>"
	want, err := generic(r)
	require.NoError(t, err)

	j, err := RenderJSON(r)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(j), "{\n    \"build_configuration\": {\n        \"build_method\""), "sorted keys, four spaces: %s", j[:60])
	assert.Contains(t, string(j), `na\u00efve \u2713 \ud834\udd1e <&>`, "non-ASCII escaped as Python's json does, no HTML escaping")
	var fromJSON any
	require.NoError(t, json.Unmarshal(j, &fromJSON))

	y, err := RenderYAML(r)
	require.NoError(t, err)
	var fromYAML any
	require.NoError(t, yaml.Unmarshal(y, &fromYAML))
	assert.Equal(t, normalizeJSON(t, want), normalizeJSON(t, fromJSON))
	assert.Equal(t, normalizeJSON(t, want), normalizeJSON(t, fromYAML))
}

func normalizeJSON(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// A Trivy report that did not reach the reports is not pointed at.
func TestKeptScansClearsReportsThatAreNotThere(t *testing.T) {
	dir := t.TempDir()
	r := sample(t, time.Now(), "scan", 1)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "scans"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scans", "master-abc.trivy.json"), []byte("{}"), 0o644))
	r.BuildResults.Master.Scan.TrivyReport = "scans/master-abc.trivy.json"
	r.BuildResults.Agents["python"].Scan.TrivyReport = "scans/python-def.trivy.json"
	KeptScans(r, dir)
	assert.Equal(t, "scans/master-abc.trivy.json", r.BuildResults.Master.Scan.TrivyReport)
	assert.Empty(t, r.BuildResults.Agents["python"].Scan.TrivyReport)
}

func TestUnpackScansKeepsTrivyReportsOnly(t *testing.T) {
	pack := func(names ...string) string {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		for _, n := range names {
			require.NoError(t, tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: 2, Typeflag: tar.TypeReg}))
			_, _ = tw.Write([]byte("{}"))
		}
		require.NoError(t, tw.Close())
		require.NoError(t, zw.Close())
		p := filepath.Join(t.TempDir(), "scans.tar.gz")
		require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
		return p
	}
	dir := t.TempDir()
	archive := pack("scans/master-0123456789ab.trivy.json", "scans/dind-ab.trivy.json")
	require.NoError(t, UnpackScans(archive, dir))
	for _, n := range []string{"master-0123456789ab", "dind-ab"} {
		b, err := os.ReadFile(filepath.Join(dir, "scans", n+".trivy.json"))
		require.NoError(t, err)
		assert.Equal(t, "{}", string(b))
	}
	_, err := os.Stat(archive)
	assert.True(t, os.IsNotExist(err), "the archive is removed")
	for _, bad := range []string{"../escape.trivy.json", "scans/../../x.trivy.json", "/etc/passwd", "scans/x.sh"} {
		err := UnpackScans(pack(bad), dir)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "is not a Trivy report", bad)
	}
}
