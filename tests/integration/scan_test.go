package integration

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// trivyBinary is the pinned Trivy the tests run (TRIVY=path, as tests/run sets
// it from .ci/tools/build.sh trivy).
func trivyBinary(t testing.TB) string {
	t.Helper()
	p := os.Getenv("TRIVY")
	if p == "" {
		if found, err := exec.LookPath("trivy"); err == nil {
			p = found
		}
	}
	if p == "" {
		t.Fatal("TRIVY is not set and trivy is not on PATH: run .ci/tools/build.sh trivy")
	}
	return p
}

type advisory struct {
	id, pkg, fixed string
	severity       int // 1 LOW .. 4 CRITICAL
}

// trivyDB writes a vulnerability DB in Trivy's layout (bbolt file plus
// metadata.json) under cacheDir/db, updated `age` ago.
func trivyDB(t testing.TB, cacheDir string, age time.Duration, advisories []advisory) {
	t.Helper()
	dbDir := filepath.Join(cacheDir, "db")
	require.NoError(t, os.MkdirAll(dbDir, 0o755))
	db, err := bolt.Open(filepath.Join(dbDir, "trivy.db"), 0o644, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		vulns, err := tx.CreateBucketIfNotExists([]byte("vulnerability"))
		if err != nil {
			return err
		}
		src, err := tx.CreateBucketIfNotExists([]byte("data-source"))
		if err != nil {
			return err
		}
		ds, _ := json.Marshal(map[string]string{"ID": "alpine", "Name": "Alpine Secdb", "URL": "https://secdb.alpinelinux.org/"})
		if err := src.Put([]byte("alpine 3.22"), ds); err != nil {
			return err
		}
		osBkt, err := tx.CreateBucketIfNotExists([]byte("alpine 3.22"))
		if err != nil {
			return err
		}
		for _, a := range advisories {
			pb, err := osBkt.CreateBucketIfNotExists([]byte(a.pkg))
			if err != nil {
				return err
			}
			adv := map[string]any{}
			if a.fixed != "" {
				adv["FixedVersion"] = a.fixed
			}
			b, _ := json.Marshal(adv)
			if err := pb.Put([]byte(a.id), b); err != nil {
				return err
			}
			v, _ := json.Marshal(map[string]any{"Title": "test " + a.id, "VendorSeverity": map[string]int{"nvd": a.severity}})
			if err := vulns.Put([]byte(a.id), v); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())
	updated := time.Now().Add(-age).UTC()
	meta, _ := json.Marshal(map[string]any{"Version": 2, "NextUpdate": updated.Add(24 * 365 * time.Hour), "UpdatedAt": updated, "DownloadedAt": updated})
	require.NoError(t, os.WriteFile(filepath.Join(dbDir, "metadata.json"), meta, 0o644))
}

// alpineImage builds a FROM scratch image that Trivy sees as Alpine 3.22 with
// the given apk packages (name -> version).
func alpineImage(t testing.TB, pkgs map[string]string) string {
	t.Helper()
	var installed strings.Builder
	for name, version := range pkgs {
		installed.WriteString("P:" + name + "\nV:" + version + "\nA:x86_64\no:" + name + "\n\n")
	}
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile":     "FROM scratch\nCOPY alpine-release /etc/alpine-release\nCOPY installed /lib/apk/db/installed\n",
		"alpine-release": "3.22.1\n",
		"installed":      installed.String(),
	})
	res := run(t, "buildkit_image", buildArgs(name, dir, nil))
	require.False(t, res.failed(), res.msg())
	return name + ":latest"
}

var testAdvisories = []advisory{
	{"CVE-2099-0001", "busybox", "1.36.1-r5", 4}, // CRITICAL, fixed in r5
	{"CVE-2099-0002", "musl", "", 4},             // CRITICAL, no fix yet
	{"CVE-2099-0003", "busybox", "1.36.1-r9", 3}, // HIGH
}

func scanArgs(t *testing.T, cache, image string, extra map[string]any) map[string]any {
	args := map[string]any{"image": image, "scanner_path": trivyBinary(t), "offline": true, "cache_dir": cache,
		"report_path": filepath.Join(t.TempDir(), "report.json")}
	for k, v := range extra {
		args[k] = v
	}
	return args
}

func TestScanGate(t *testing.T) {
	cache := t.TempDir()
	trivyDB(t, cache, 2*time.Hour, testAdvisories)
	vulnerable := alpineImage(t, map[string]string{"busybox": "1.36.1-r2"})
	patched := alpineImage(t, map[string]string{"busybox": "1.36.1-r9"})
	withMusl := alpineImage(t, map[string]string{"busybox": "1.36.1-r9", "musl": "1.2.5-r0"})

	res := run(t, "buildkit_scan", scanArgs(t, cache, vulnerable, nil))
	assert.True(t, res.failed(), "a CRITICAL finding fails the default gate")
	assert.False(t, res.changed())
	assert.Equal(t, false, res["passed"])
	assert.Equal(t, "failed", res["scan_status"])
	assert.Contains(t, res.msg(), "CRITICAL CVE-2099-0001 (busybox 1.36.1-r2, fixed in 1.36.1-r5)")
	counts := res["counts"].(map[string]any)
	assert.Equal(t, float64(1), counts["critical"])
	assert.Equal(t, float64(1), counts["high"])
	findings := res["findings"].([]any)
	require.Len(t, findings, 1)
	f := findings[0].(map[string]any)
	assert.Equal(t, map[string]any{"id": "CVE-2099-0001", "package": "busybox", "installed": "1.36.1-r2", "fixed": "1.36.1-r5",
		"severity": "CRITICAL", "status": "fixed", "target": f["target"]}, f)
	report, err := os.ReadFile(res["report_path"].(string))
	require.NoError(t, err)
	assert.Contains(t, string(report), "CVE-2099-0003", "the kept report has every severity")
	assert.Equal(t, float64(2), res["db_age_hours"])

	ok := run(t, "buildkit_scan", scanArgs(t, cache, patched, nil))
	require.False(t, ok.failed(), ok.msg())
	assert.Equal(t, true, ok["passed"])
	assert.Equal(t, "passed", ok["scan_status"])

	// HIGH passes by default, fails when fail_on includes it.
	high := run(t, "buildkit_scan", scanArgs(t, cache, vulnerable, map[string]any{"fail_on": []any{"HIGH"}}))
	assert.True(t, high.failed())
	assert.Contains(t, high.msg(), "HIGH CVE-2099-0003")

	// ignore_unfixed drops the unfixed CRITICAL in musl.
	unfixed := run(t, "buildkit_scan", scanArgs(t, cache, withMusl, nil))
	assert.True(t, unfixed.failed())
	assert.Contains(t, unfixed.msg(), "CVE-2099-0002")
	ignoredUnfixed := run(t, "buildkit_scan", scanArgs(t, cache, withMusl, map[string]any{"ignore_unfixed": true}))
	require.False(t, ignoredUnfixed.failed(), ignoredUnfixed.msg())

	// An ignore file removes what it names.
	ignore := filepath.Join(t.TempDir(), ".trivyignore")
	require.NoError(t, os.WriteFile(ignore, []byte("# accepted until the rebuild\nCVE-2099-0001\n"), 0o644))
	ignored := run(t, "buildkit_scan", scanArgs(t, cache, vulnerable, map[string]any{"ignore_file": ignore}))
	require.False(t, ignored.failed(), ignored.msg())
	assert.Equal(t, float64(0), ignored["counts"].(map[string]any)["critical"])

	// Check mode scans too (read-only) and gives the same verdict.
	check := run(t, "buildkit_scan", scanArgs(t, cache, vulnerable, nil), checkMode)
	assert.True(t, check.failed())
	assert.False(t, check.changed())
}

func TestScanSBOMAndArchiveInput(t *testing.T) {
	cache := t.TempDir()
	trivyDB(t, cache, time.Hour, testAdvisories)
	img := alpineImage(t, map[string]string{"busybox": "1.36.1-r9"})
	sbom := filepath.Join(t.TempDir(), "sbom.cdx.json")
	res := run(t, "buildkit_scan", scanArgs(t, cache, img, map[string]any{"sbom_format": "cyclonedx", "sbom_path": sbom}))
	require.False(t, res.failed(), res.msg())
	b, err := os.ReadFile(sbom)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	assert.Equal(t, "CycloneDX", doc["bomFormat"])
	assert.Contains(t, string(b), "busybox")

	// The same image from a saved tarball.
	raw, _ := savedImage(t, img)
	tarball := filepath.Join(t.TempDir(), "img.tar")
	require.NoError(t, os.WriteFile(tarball, raw, 0o644))
	args := scanArgs(t, cache, "", map[string]any{"input": tarball})
	delete(args, "image")
	fromFile := run(t, "buildkit_scan", args)
	require.False(t, fromFile.failed(), fromFile.msg())
	assert.Equal(t, res["packages"], fromFile["packages"])
}

func TestScannerErrors(t *testing.T) {
	cache := t.TempDir()
	trivyDB(t, cache, 24*30*time.Hour, testAdvisories)
	img := alpineImage(t, map[string]string{"busybox": "1.36.1-r2"})

	missing := run(t, "buildkit_scan", scanArgs(t, cache, img, map[string]any{"scanner_path": "/no/such/trivy"}))
	assert.True(t, missing.failed())
	assert.Contains(t, missing.msg(), "scanner_path")

	noDB := run(t, "buildkit_scan", scanArgs(t, t.TempDir(), img, nil))
	assert.True(t, noDB.failed())
	assert.Contains(t, noDB.msg(), "no Trivy vulnerability DB")

	old := run(t, "buildkit_scan", scanArgs(t, cache, img, map[string]any{"max_db_age": 24}))
	assert.True(t, old.failed())
	assert.Contains(t, old.msg(), "max_db_age")

	timeout := run(t, "buildkit_scan", scanArgs(t, cache, img, map[string]any{"timeout": 1, "scanner_path": slowScanner(t)}))
	assert.True(t, timeout.failed())
	assert.Contains(t, timeout.msg(), "did not finish within 1s (timeout)")
	// The real Trivy on an image it cannot read in a second (300 MB to export from the engine).
	big := uniqueName(t)
	bigDir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN head -c 300000000 /dev/urandom > /blob\n"})
	built := run(t, "buildkit_image", buildArgs(big, bigDir, nil))
	require.False(t, built.failed(), built.msg())
	t.Cleanup(func() { removeImage(big + ":latest") })
	realTimeout := run(t, "buildkit_scan", scanArgs(t, cache, big+":latest", map[string]any{"timeout": 1}))
	assert.True(t, realTimeout.failed())
	assert.Contains(t, realTimeout.msg(), "did not finish within 1s (timeout)")
	assert.Equal(t, "timeout", realTimeout["scanner_error"])

	soft := run(t, "buildkit_scan", scanArgs(t, t.TempDir(), img, map[string]any{"fail_on_scanner_error": false}))
	require.False(t, soft.failed(), soft.msg())
	assert.Equal(t, "error", soft["scan_status"])
	assert.Equal(t, false, soft["passed"])
	assert.NotEmpty(t, soft["warnings"])

	badIgnore := run(t, "buildkit_scan", scanArgs(t, cache, img, map[string]any{"ignore_file": "/no/.trivyignore"}))
	assert.True(t, badIgnore.failed())
	assert.Contains(t, badIgnore.msg(), "ignore_file")

	server := run(t, "buildkit_scan", scanArgs(t, cache, img, map[string]any{"server": "http://127.0.0.1:1"}))
	assert.True(t, server.failed())
	assert.Contains(t, server.msg(), "server: Trivy server http://127.0.0.1:1 is not healthy")
}

// slowScanner is a stand-in for a Trivy that hangs: a timeout must stop it.
func slowScanner(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "trivy")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755))
	return p
}

// BenchmarkScanOneImage times buildkit_scan of one small image, offline, with
// the generated DB (the whole module process, Trivy included).
//
//	TRIVY=$(.ci/tools/build.sh trivy) go test ./tests/integration -run '^$' -bench ScanOneImage -benchtime 5x
func BenchmarkScanOneImage(b *testing.B) {
	cache := b.TempDir()
	trivyDB(b, cache, time.Hour, testAdvisories)
	img := alpineImage(b, map[string]string{"busybox": "1.36.1-r9"})
	args := map[string]any{"image": img, "scanner_path": trivyBinary(b), "offline": true, "cache_dir": cache,
		"report_path": filepath.Join(b.TempDir(), "report.json")}
	var total float64
	for i := 0; i < b.N; i++ {
		res := run(b, "buildkit_scan", args)
		if res.failed() {
			b.Fatal(res.msg())
		}
		total += res["scan_duration"].(float64)
	}
	b.ReportMetric(total/float64(b.N), "trivy-s/op")
}

// TestScanOfflineWithJavaArchivesAndDefaults is the controller's case: an
// image holding a WAR scanned offline with no Java DB (Trivy alone refuses
// it), the DB in Trivy's default cache dir (no cache_dir given), and an
// ignore file and report path given relative to the task's directory.
func TestScanOfflineWithJavaArchivesAndDefaults(t *testing.T) {
	defaultCache := filepath.Join(binDir, "cache", "trivy") // XDG_CACHE_HOME of run()
	require.NoError(t, os.RemoveAll(defaultCache))
	t.Cleanup(func() { os.RemoveAll(defaultCache) })
	trivyDB(t, defaultCache, time.Hour, testAdvisories)

	var war bytes.Buffer
	zw := zip.NewWriter(&war)
	f, err := zw.Create("META-INF/MANIFEST.MF")
	require.NoError(t, err)
	_, _ = f.Write([]byte("Manifest-Version: 1.0\nImplementation-Title: jenkins-war\nImplementation-Version: 2.504.1\n"))
	require.NoError(t, zw.Close())
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY alpine-release /etc/alpine-release\nCOPY installed /lib/apk/db/installed\n" +
			"COPY jenkins.war /usr/share/jenkins/jenkins.war\n",
		"alpine-release": "3.22.1\n",
		"installed":      "P:busybox\nV:1.36.1-r2\nA:x86_64\no:busybox\n\n",
		"jenkins.war":    war.String(),
	})
	built := run(t, "buildkit_image", buildArgs(name, dir, nil))
	require.False(t, built.failed(), built.msg())

	cwd, err := os.Getwd()
	require.NoError(t, err)
	ignore := filepath.Join(t.TempDir(), ".trivyignore")
	require.NoError(t, os.WriteFile(ignore, []byte("CVE-2099-0001\n"), 0o644))
	relIgnore, err := filepath.Rel(cwd, ignore)
	require.NoError(t, err)
	relReport, err := filepath.Rel(cwd, filepath.Join(t.TempDir(), "report.json"))
	require.NoError(t, err)

	args := map[string]any{"image": name + ":latest", "scanner_path": trivyBinary(t), "offline": true,
		"ignore_file": relIgnore, "report_path": relReport}
	res := run(t, "buildkit_scan", args)
	require.False(t, res.failed(), "the WAR must not stop an offline scan: %s", res.msg())
	assert.Equal(t, "passed", res["scan_status"], "the relative ignore file was applied")
	assert.Equal(t, "missing", res["java_db"])
	assert.Contains(t, fmt.Sprint(res["warnings"]), "no Trivy Java DB")
	assert.True(t, filepath.IsAbs(res["report_path"].(string)), "report_path is made absolute: %v", res["report_path"])
	_, err = os.Stat(res["report_path"].(string))
	assert.NoError(t, err)

	// Without the ignore file the same scan finds the CRITICAL: the OS packages were scanned.
	delete(args, "ignore_file")
	gate := run(t, "buildkit_scan", args)
	assert.True(t, gate.failed())
	assert.Contains(t, gate.msg(), "CVE-2099-0001")
}

// TestScanThroughATrivyServer runs the gate in Trivy's client/server mode
// against a real `trivy server` holding the generated DB (started by the
// test): the module waits for its health check while it starts, and the
// server's token is required and never shown.
func TestScanThroughATrivyServer(t *testing.T) {
	cache := t.TempDir()
	trivyDB(t, cache, time.Hour, testAdvisories)
	vulnerable := alpineImage(t, map[string]string{"busybox": "1.36.1-r2"})
	addr := "127.0.0.1:" + fmt.Sprint(freePort(t))
	const token = "s3rver-t0ken-bk-it"
	srv := exec.Command(trivyBinary(t), "server", "--listen", addr, "--cache-dir", cache, "--skip-db-update", "--token", token)
	var srvLog bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })

	args := map[string]any{"image": vulnerable, "scanner_path": trivyBinary(t), "server": "http://" + addr, "server_token": token,
		"cache_dir": t.TempDir(), "report_path": filepath.Join(t.TempDir(), "report.json")}
	res := run(t, "buildkit_scan", args) // started just now: the health check waits for it
	assert.True(t, res.failed(), "server log: %s", srvLog.String())
	assert.Equal(t, "failed", res["scan_status"], "%s; server log: %s", res.msg(), srvLog.String())
	assert.Contains(t, res.msg(), "CRITICAL CVE-2099-0001")
	assert.NotContains(t, toJSON(t, res), token, "the token is no_log")

	args["server_token"] = "wrong"
	denied := run(t, "buildkit_scan", args)
	assert.True(t, denied.failed())
	assert.Equal(t, "error", denied["scan_status"], denied.msg())
	assert.Contains(t, denied.msg(), "server_token: the Trivy server refused the token")
}
