package buildkitscan

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/moduletest"
)

// runModule runs the module in-process, its full report kept in a scratch directory.
func runModule(t *testing.T, args map[string]any) map[string]any {
	t.Helper()
	full := map[string]any{"report_path": filepath.Join(t.TempDir(), "report.json")}
	for k, v := range args {
		full[k] = v
	}
	return moduletest.Run(t, "buildkit_scan", Spec(), Run, full)
}

func TestOptionChecks(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "image.tar")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	good := Options{Timeout: 300, FailOn: []string{"CRITICAL"}}
	assert.NoError(t, check(good))
	for _, c := range []struct {
		edit func(*Options)
		want string
	}{
		{func(o *Options) { o.Timeout = 0 }, "timeout: must be a positive number of seconds, got 0"},
		{func(o *Options) { o.IgnoreFile = filepath.Join(dir, "missing") }, "ignore_file: " + dir + "/missing does not exist or is not a file"},
		{func(o *Options) { o.IgnoreFile = dir }, "ignore_file: " + dir + " does not exist or is not a file"},
		{func(o *Options) { o.Input = filepath.Join(dir, "nope.tar") }, "input: " + dir + "/nope.tar does not exist"},
		{func(o *Options) { o.MaxDBAge = -1 }, "max_db_age: must be 0 (no limit) or a number of hours, got -1"},
		{func(o *Options) { o.FailOn = nil }, "fail_on: give at least one severity"},
	} {
		o := good
		c.edit(&o)
		err := check(o)
		require.Error(t, err, c.want)
		assert.Contains(t, err.Error(), c.want)
	}
	o := good
	o.Input, o.IgnoreFile = file, file
	assert.NoError(t, check(o))
}

func TestRelativePathsAreTheTasks(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	o := Options{Input: "images/a.tar", IgnoreFile: "/etc/trivyignore", ReportPath: "out/r.json"}
	require.NoError(t, absPaths(&o))
	assert.Equal(t, filepath.Join(wd, "images/a.tar"), o.Input)
	assert.Equal(t, "/etc/trivyignore", o.IgnoreFile)
	assert.Equal(t, filepath.Join(wd, "out/r.json"), o.ReportPath)
	assert.Empty(t, o.CacheDir, "unset stays unset")
}

func TestDefaultReportPathIsOneSafeFileNamePerImage(t *testing.T) {
	p := defaultReportPath("registry.example.com:5000/jenkins/controller:2.479.1")
	assert.Equal(t, "registry.example.com_5000_jenkins_controller_2.479.1.json", filepath.Base(p))
	assert.Equal(t, filepath.Join("jenkins_ha.buildkit", "scans"), filepath.Join(filepath.Base(filepath.Dir(filepath.Dir(p))), "scans"))
	q := defaultReportPath("/../a b/")
	assert.Equal(t, filepath.Dir(p), filepath.Dir(q), "no name escapes the directory")
	assert.Equal(t, ".._a_b.json", filepath.Base(q))
}

func writeDB(t *testing.T, cache string, updated time.Time) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(cache, "db"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cache, "db", "trivy.db"), []byte("db"), 0o644))
	b, _ := json.Marshal(map[string]any{"Version": 2, "UpdatedAt": updated})
	require.NoError(t, os.WriteFile(filepath.Join(cache, "db", "metadata.json"), b, 0o644))
}

// A scan that cannot give a verdict fails the task, or with
// fail_on_scanner_error: false reports it and lets the play go on.
func TestScannerErrors(t *testing.T) {
	missing := map[string]any{"image": "jenkins/controller:1", "scanner_path": filepath.Join(t.TempDir(), "trivy")}
	res := runModule(t, missing)
	assert.Equal(t, true, res["failed"])
	assert.Contains(t, res["msg"], "scanner_path: Trivy not found")
	assert.Equal(t, "error", res["scan_status"])
	assert.Equal(t, "scanner missing", res["scanner_error"])
	assert.Equal(t, false, res["passed"])
	assert.Equal(t, "jenkins/controller:1", res["image"])

	missing["fail_on_scanner_error"] = false
	res = runModule(t, missing)
	assert.Nil(t, res["failed"], res["msg"])
	assert.Equal(t, false, res["passed"], "no verdict is not a pass")
	assert.Equal(t, "error", res["scan_status"])
	assert.Contains(t, res["warnings"].([]any)[0], "vulnerability scan not done (fail_on_scanner_error: false): scanner_path: Trivy not found")

	// An old DB, offline: refused before Trivy runs.
	cache := t.TempDir()
	writeDB(t, cache, time.Now().Add(-100*time.Hour))
	res = runModule(t, map[string]any{"image": "x", "scanner_path": fakeTrivy(t), "offline": true, "cache_dir": cache, "max_db_age": 24})
	assert.Equal(t, true, res["failed"])
	assert.Contains(t, res["msg"], "max_db_age: Trivy's DB was updated 100h0m0s ago")
	assert.Equal(t, "vulnerability DB", res["scanner_error"])
	assert.Equal(t, 100.0, res["db_age_hours"])
	assert.NotEmpty(t, res["db_updated_at"])

	// No DB at all, offline.
	res = runModule(t, map[string]any{"image": "x", "scanner_path": fakeTrivy(t), "offline": true, "cache_dir": t.TempDir()})
	assert.Equal(t, "vulnerability DB", res["scanner_error"])
	assert.Contains(t, res["msg"], "no Trivy vulnerability DB at")
}

func TestAnUnhealthyTrivyServerIsAScannerError(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		assert.Equal(t, "/healthz", r.URL.Path)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	res := runModule(t, map[string]any{"image": "x", "scanner_path": fakeTrivy(t), "server": srv.URL + "/", "server_token": "s3cret-token"})
	assert.Equal(t, true, res["failed"])
	assert.Equal(t, "server", res["scanner_error"])
	assert.Contains(t, res["msg"], "server: Trivy server "+srv.URL)
	assert.Equal(t, int32(4), calls.Load(), "asked again with backoff before giving up")
	b, _ := json.Marshal(res)
	assert.NotContains(t, string(b), "s3cret-token")
}

// fakeTrivy is a stand-in for the Trivy CLI: `image` writes the report in
// $FAKE_TRIVY_REPORT to --output, `convert` fails unless $FAKE_TRIVY_SBOM is set.
func fakeTrivy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "trivy")
	script := `#!/bin/sh
cmd=$1; shift
out=""
while [ $# -gt 0 ]; do
  case "$1" in --output) out=$2; shift ;; esac
  shift
done
case "$cmd" in
  image) cp "$FAKE_TRIVY_REPORT" "$out" ;;
  convert) [ -n "$FAKE_TRIVY_SBOM" ] || { echo "FATAL convert: unsupported" >&2; exit 1; }; echo '{"bomFormat":"CycloneDX"}' > "$out" ;;
esac
`
	require.NoError(t, os.WriteFile(bin, []byte(script), 0o755))
	return bin
}

// trivyReport is a Trivy JSON report: Debian 11 past its end of support,
// three CRITICAL findings, one HIGH, one LOW without a fix.
const trivyReport = `{"SchemaVersion": 2, "ArtifactName": "x",
 "Metadata": {"OS": {"Family": "debian", "Name": "11.8", "EOSL": true}},
 "Results": [
  {"Target": "x (debian 11.8)", "Packages": [{}, {}, {}],
   "Vulnerabilities": [
    {"VulnerabilityID": "CVE-3", "PkgName": "zlib", "InstalledVersion": "1", "FixedVersion": "2", "Severity": "CRITICAL", "Status": "fixed"},
    {"VulnerabilityID": "CVE-1", "PkgName": "openssl", "InstalledVersion": "1", "FixedVersion": "2", "Severity": "CRITICAL", "Status": "fixed"},
    {"VulnerabilityID": "CVE-4", "PkgName": "curl", "InstalledVersion": "1", "FixedVersion": "", "Severity": "LOW", "Status": "affected"},
    {"VulnerabilityID": "CVE-2", "PkgName": "bash", "InstalledVersion": "5", "FixedVersion": "", "Severity": "CRITICAL", "Status": "affected"},
    {"VulnerabilityID": "CVE-5", "PkgName": "tar", "InstalledVersion": "1", "FixedVersion": "3", "Severity": "HIGH", "Status": "fixed"}]},
  {"Target": "app/lib.jar", "Packages": [{}]}]}`

func withReport(t *testing.T) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trivy.json")
	require.NoError(t, os.WriteFile(p, []byte(trivyReport), 0o644))
	t.Setenv("FAKE_TRIVY_REPORT", p)
}

func TestTheGateDecidesFromTheReport(t *testing.T) {
	withReport(t)
	cache := t.TempDir()
	writeDB(t, cache, time.Now().Add(-2*time.Hour))
	args := map[string]any{"image": "jenkins/agent:1", "scanner_path": fakeTrivy(t), "skip_db_update": true, "cache_dir": cache,
		"fail_on": []string{"CRITICAL"}, "max_findings": 2}
	res := runModule(t, args)
	assert.Equal(t, true, res["failed"])
	assert.Contains(t, res["msg"], "jenkins/agent:1 failed the vulnerability gate (fail_on: CRITICAL): 3 finding(s)")
	assert.Equal(t, "failed", res["scan_status"])
	assert.Equal(t, false, res["passed"])
	assert.Equal(t, 3.0, res["findings_total"])
	assert.Len(t, res["findings"], 2, "at most max_findings listed")
	assert.Equal(t, map[string]any{"critical": 3.0, "high": 1.0, "medium": 0.0, "low": 1.0, "unknown": 0.0}, res["counts"])
	assert.Equal(t, 4.0, res["packages"])
	assert.Equal(t, map[string]any{"family": "debian", "name": "11.8", "eosl": true}, res["os"])
	assert.Equal(t, "missing", res["java_db"], "no Java DB in the cache: JARs were skipped, and it says so")
	warnings := strings.Join(toStrings(res["warnings"]), "\n")
	assert.Contains(t, warnings, "no Trivy Java DB at "+filepath.Join(cache, "java-db"))
	assert.Contains(t, warnings, "jenkins/agent:1 runs debian 11.8, which is past its end of support")
	assert.FileExists(t, res["report_path"].(string), "the full report is kept")

	// Fixed-only findings, gate on HIGH: the unfixed CRITICAL no longer counts.
	args["ignore_unfixed"], args["fail_on"] = true, []string{"HIGH"}
	res = runModule(t, args)
	assert.Equal(t, 1.0, res["findings_total"])
	assert.Equal(t, "CVE-5", res["findings"].([]any)[0].(map[string]any)["id"])
	assert.Equal(t, 2.0, res["counts"].(map[string]any)["critical"])

	args["fail_on"] = []string{"MEDIUM"}
	res = runModule(t, args)
	assert.Nil(t, res["failed"], res["msg"])
	assert.Equal(t, true, res["passed"])
	assert.Equal(t, "passed", res["scan_status"])
	assert.Equal(t, "jenkins/agent:1 passed the vulnerability gate (fail_on: MEDIUM)", res["msg"])
}

func TestAnSBOMThatCannotBeWritten(t *testing.T) {
	withReport(t)
	sbom := filepath.Join(t.TempDir(), "sbom.json")
	args := map[string]any{"image": "x", "scanner_path": fakeTrivy(t), "fail_on": []string{"MEDIUM"},
		"sbom_format": "cyclonedx", "sbom_path": sbom}
	// A passing image: a missing SBOM fails the task...
	res := runModule(t, args)
	assert.Equal(t, true, res["failed"])
	assert.Contains(t, res["msg"], "sbom_format cyclonedx: trivy convert to cyclonedx failed")
	assert.Equal(t, "passed", res["scan_status"], "the gate's verdict stands")
	// ...unless scanner errors are not to fail it.
	args["fail_on_scanner_error"] = false
	res = runModule(t, args)
	assert.Nil(t, res["failed"], res["msg"])
	assert.Contains(t, res["sbom_error"], "unsupported")
	assert.NotContains(t, res, "sbom_path")
	assert.NoFileExists(t, sbom)

	t.Setenv("FAKE_TRIVY_SBOM", "1")
	res = runModule(t, args)
	assert.Nil(t, res["failed"], res["msg"])
	assert.Equal(t, sbom, res["sbom_path"])
	assert.FileExists(t, sbom)
}

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, e := range list {
		out = append(out, e.(string))
	}
	return out
}
