package buildkitimageset

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitreport"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// runArgs validates args as the module's own and returns the set, or the error.
func newSet(t *testing.T, args map[string]any, check bool) (*set, error) {
	t.Helper()
	raw := map[string]any{"_ansible_check_mode": check}
	for k, v := range args {
		raw[k] = v
	}
	b, err := json.Marshal(raw)
	require.NoError(t, err)
	var generic map[string]any
	require.NoError(t, json.Unmarshal(b, &generic))
	m, err := module.ParseArgs(generic, Spec(), func(string) string { return "" })
	if err != nil {
		return nil, err
	}
	s := &set{m: m, params: m.Params}
	if err := m.Decode(&s.o); err != nil {
		return nil, err
	}
	return s, s.check()
}

func image(name string, extra map[string]any) map[string]any {
	img := map[string]any{"name": name, "repository": "registry.example.com/jenkins/" + name, "build": map[string]any{"path": "/srv/" + name}}
	for k, v := range extra {
		img[k] = v
	}
	return img
}

func TestOptionsThatCannotWorkAreRefused(t *testing.T) {
	for _, c := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"images": []any{}}, "images: give at least one image"},
		{map[string]any{"images": []any{image("a b", nil)}}, "images[0].name"},
		{map[string]any{"images": []any{image("a", nil), image("a", nil)}}, `images[1].name: "a" is given twice`},
		{map[string]any{"images": []any{image("a", map[string]any{"repository": "x/y:1"})}}, "images[0].repository"},
		{map[string]any{"images": []any{image("a", map[string]any{"repository": "jenkins/Master"})}}, "images[0].repository"},
		{map[string]any{"images": []any{image("a", map[string]any{"files": map[string]any{"../x": "y"}})}}, "images[0].files"},
		{map[string]any{"images": []any{image("a", map[string]any{"files": map[string]any{"/etc/passwd": "y"}})}}, "images[0].files"},
		{map[string]any{"images": []any{image("a", map[string]any{"kind": "controller"}), image("b", map[string]any{"kind": "controller"})}}, "images[1].kind"},
		{map[string]any{"images": []any{image("a", nil)}, "deploy_tag": "candidate"}, "deploy_tag"},
		{map[string]any{"images": []any{image("a", nil)}, "rollback_tag": "previous"}, "rollback_tag"},
		{map[string]any{"images": []any{image("a", nil)}, "deploy_tag": "bad tag!"}, "deploy_tag"},
		{map[string]any{"images": []any{image("a", nil)}, "push": true}, "push: pushes the deploy tag"},
		{map[string]any{"images": []any{image("a", nil)}, "deploy_tag": "latest", "sign": map[string]any{"key": "k"}}, "sign.public_key"},
		{map[string]any{"images": []any{image("a", nil)}, "deploy_tag": "latest", "sign": map[string]any{"key": "k", "public_key": "p"}}, "set push: true"},
		{map[string]any{"images": []any{image("a", nil)}, "preflight": map[string]any{"min_free_disk": "lots"}}, "preflight.min_free_disk"},
		{map[string]any{"images": []any{image("a", nil)}, "report": map[string]any{"started": "yesterday"}}, "report.started"},
		{map[string]any{"images": []any{image("a", nil)}, "scan": map[string]any{"timeout": 0}}, "scan.timeout"},
	} {
		_, err := newSet(t, c.args, false)
		require.Error(t, err, "%v", c.args)
		assert.Contains(t, err.Error(), c.want, "%v", c.args)
	}
	// A wrong type in a build option is buildkit_image's own check, named under images[].build.
	_, err := newSet(t, map[string]any{"images": []any{image("a", map[string]any{"build": map[string]any{"path": "/x", "nocache": "maybe"}})}}, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nocache")
}

func TestFilesAreWrittenOnlyWhenTheyDiffer(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"Dockerfile": "FROM scratch\n", "casc/jenkins.yaml": "jenkins: {}\n"}
	wrote, err := writeFiles(dir, files)
	require.NoError(t, err)
	assert.Equal(t, []string{"Dockerfile", "casc/jenkins.yaml"}, wrote)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "Dockerfile"), old, old))

	assert.Empty(t, differingFiles(dir, files))
	wrote, err = writeFiles(dir, files)
	require.NoError(t, err)
	assert.Empty(t, wrote, "unchanged files are left alone")
	st, err := os.Stat(filepath.Join(dir, "Dockerfile"))
	require.NoError(t, err)
	assert.Equal(t, old, st.ModTime(), "an unchanged file keeps its mtime (the stat cache still knows it)")

	files["Dockerfile"] = "FROM scratch\nLABEL a=b\n"
	assert.Equal(t, []string{"Dockerfile"}, differingFiles(dir, files))
	wrote, err = writeFiles(dir, files)
	require.NoError(t, err)
	assert.Equal(t, []string{"Dockerfile"}, wrote)
	b, _ := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	assert.Equal(t, files["Dockerfile"], string(b))
}

// Check mode predicts from what a real run would leave: the context as it
// is, with the files written over it; the context itself is not touched.
func TestScratchContextIsTheContextARealRunWouldLeave(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("old"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "extra.sh"), []byte("#!/bin/sh\n"), 0o755))
	require.NoError(t, os.Symlink("extra.sh", filepath.Join(dir, "link")))
	scratch, err := scratchContext(t.TempDir(), dir, map[string]string{"Dockerfile": "new", "conf/a": "a"})
	require.NoError(t, err)
	b, _ := os.ReadFile(filepath.Join(scratch, "Dockerfile"))
	assert.Equal(t, "new", string(b))
	st, err := os.Stat(filepath.Join(scratch, "extra.sh"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())
	link, err := os.Readlink(filepath.Join(scratch, "link"))
	require.NoError(t, err)
	assert.Equal(t, "extra.sh", link)
	b, _ = os.ReadFile(filepath.Join(scratch, "conf", "a"))
	assert.Equal(t, "a", string(b))
	b, _ = os.ReadFile(filepath.Join(dir, "Dockerfile"))
	assert.Equal(t, "old", string(b), "the context is left as it was")

	missing, err := scratchContext(t.TempDir(), filepath.Join(dir, "nope"), map[string]string{"Dockerfile": "x"})
	require.NoError(t, err, "a context not made yet is predicted from the files alone")
	b, _ = os.ReadFile(filepath.Join(missing, "Dockerfile"))
	assert.Equal(t, "x", string(b))
}

// reportOf runs the report assembly on items as the steps left them.
func reportOf(t *testing.T, args map[string]any, check bool, fill func(items map[string]*item)) *buildkitreport.Report {
	t.Helper()
	s, err := newSet(t, args, check)
	require.NoError(t, err)
	byName := map[string]*item{}
	for _, it := range s.items {
		byName[it.Name] = it
		it.deployed = map[string]any{}
	}
	fill(byName)
	for _, it := range s.items {
		s.decide(it)
	}
	return s.report(nil)
}

func doc(id string) map[string]any {
	return map[string]any{"Id": id, "Size": 1000, "Created": "2026-01-02T03:04:05Z"}
}

func built(id string) map[string]any {
	return map[string]any{"changed": true, "image": doc(id), "builder": "buildkit (docker engine)", "builder_driver": "docker",
		"build_reason": "inputs changed", "build_duration": 2.5, "total_steps": 4, "cached_steps": 1}
}

func unchanged(id string) map[string]any {
	return map[string]any{"changed": false, "image": doc(id), "build_reason": "none: the image's inputs are unchanged"}
}

var gatedArgs = map[string]any{
	"images": []any{
		image("master", map[string]any{"kind": "controller", "metadata": map[string]any{"expose": []any{"8080/tcp"}, "healthcheck": true}}),
		image("python", nil), image("dind", nil),
	},
	"deploy_tag": "latest", "rollback_tag": "previous",
	"scan":       map[string]any{"fail_on": []any{"CRITICAL"}},
	"validation": map[string]any{},
	"metadata":   map[string]any{"labels": []any{"org.opencontainers.image.version"}},
	"report":     map[string]any{"switches": map[string]any{"validation": "jenkins_build_functional_tests"}},
}

// The report says what each image went through: a promoted one, one that
// failed the scan gate, an unchanged one that carries its last scan.
func TestReportSaysWhatEachImageWentThrough(t *testing.T) {
	r := reportOf(t, gatedArgs, false, func(items map[string]*item) {
		m := items["master"]
		m.build = built("sha256:m2")
		m.deployed = doc("sha256:m1")
		m.scan = map[string]any{"scan_status": "passed", "passed": true, "counts": map[string]any{"critical": 0, "high": 2},
			"findings": []any{}, "report_path": "/b/reports/master-trivy.json", "scan_duration": 0.5, "msg": "passed"}
		m.trivy = "/b/reports/master-trivy.json"
		m.checks = []probe{{name: "http", res: map[string]any{"passed": true, "duration": 1.5}}}
		m.metaRan = true
		m.promote = map[string]any{"changed": true}
		m.rollback = map[string]any{"changed": true}

		p := items["python"]
		p.build = built("sha256:p2")
		p.scan = map[string]any{"scan_status": "failed", "passed": false, "counts": map[string]any{"critical": 1},
			"findings": []any{map[string]any{"id": "CVE-2099-0001"}}, "msg": "python failed the vulnerability gate"}
		p.checks = []probe{{name: "java", res: map[string]any{"duration": 1.0}}, {name: "tool", res: map[string]any{"duration": 1.0}}}
		p.metaRan = true

		d := items["dind"]
		d.build = unchanged("sha256:d1")
		d.deployed = doc("sha256:d1")
	})
	m := r.BuildResults.Master
	require.NotNil(t, m)
	assert.Equal(t, "passed", m.Gate)
	assert.True(t, m.Promoted)
	assert.Equal(t, "registry.example.com/jenkins/master:previous", *m.RollbackTag)
	assert.Equal(t, "sha256:m2", m.Deployed.ImageID, "the deploy tag holds the candidate now")
	assert.Equal(t, "scans/master-m2.trivy.json", m.Scan.TrivyReport)
	assert.Equal(t, 0.25, *m.CacheHitRatio)
	assert.Equal(t, "built", m.Status)
	assert.Equal(t, "passed: http", m.Checks["validation"].Detail)
	assert.Equal(t, "OCI labels set, runs as a non-root user; exposes 8080/tcp, has a HEALTHCHECK", m.Checks["metadata"].Detail)

	p := r.BuildResults.Agents["python"]
	assert.Equal(t, "scan", p.Gate)
	assert.False(t, p.Promoted)
	assert.Nil(t, p.Deployed, "nothing was deployed, nothing is")
	assert.Nil(t, p.RollbackTag)
	assert.Equal(t, []string{"CVE-2099-0001"}, p.Scan.Findings)
	assert.Equal(t, 2.0, *p.ValidationDuration)

	d := r.BuildResults.Agents["dind"]
	assert.Equal(t, "not needed (already deployed)", d.Gate)
	assert.Equal(t, "unchanged", d.Status)
	assert.Nil(t, d.Checks, "no gate ran")
	assert.Nil(t, d.Validated)
	assert.Equal(t, "skipped", d.Scan.Status)

	assert.Equal(t, []string{"master", "python"}, r.Summary.Built)
	assert.Equal(t, []string{"dind"}, r.Summary.Unchanged)
	assert.Equal(t, []string{"master"}, r.Summary.Promoted)
	assert.Equal(t, []string{"python: failed at the scan gate (CVE-2099-0001)"}, r.Summary.Failed)

	// The unchanged image carries the last scan of its image ID from the history (buildkit_report).
	earlier := &buildkitreport.Report{BuildTimestamp: "2026-01-01T00:00:00Z"}
	earlier.BuildResults.Agents = map[string]*buildkitreport.Entry{"dind": {ImageID: "sha256:d1", Status: "built",
		Scan: buildkitreport.Scan{Status: "passed", Counts: map[string]int{"high": 3}}}}
	buildkitreport.CarryOver(r, buildkitreport.History{earlier})
	assert.Equal(t, "passed", d.Scan.Status)
	assert.Equal(t, 3, d.Scan.Counts["high"])
	assert.Equal(t, "2026-01-01T00:00:00Z", d.Scan.From)
	assert.Equal(t, "failed", p.Scan.Status, "this run's own scan is not replaced")
}

// Check mode: no gate ran; what would be built is said, and an existing
// candidate's promotion is predicted.
func TestReportInCheckMode(t *testing.T) {
	r := reportOf(t, gatedArgs, true, func(items map[string]*item) {
		items["master"].build = map[string]any{"changed": true, "image": map[string]any{}, "build_reason": "image missing"}
		items["python"].build = map[string]any{"changed": false, "image": doc("sha256:left")}
		items["python"].deployed = doc("sha256:p1")
		items["python"].promote = map[string]any{"changed": true}
		items["dind"].build = unchanged("sha256:d1")
		items["dind"].deployed = doc("sha256:d1")
	})
	assert.Equal(t, "passed", r.BuildResults.Master.Gate, "predicted: no gate runs in check mode")
	assert.False(t, r.BuildResults.Master.Promoted, "nothing to promote before a real build")
	assert.True(t, r.BuildResults.Agents["python"].Promoted, "the candidate a failed run left would be promoted")
	assert.Equal(t, "skipped", r.BuildResults.Agents["python"].Scan.Status)
	assert.Empty(t, r.Summary.Failed)
	assert.ElementsMatch(t, []string{"master", "dind", "python"}, r.Summary.Unchanged, "check mode builds nothing (as the role always said)")

	s, err := newSet(t, gatedArgs, true)
	require.NoError(t, err)
	for _, it := range s.items {
		it.deployed = map[string]any{}
		it.build = map[string]any{"changed": it.Name == "master", "image": map[string]any{}, "build_reason": "image missing"}
		s.decide(it)
	}
	assert.Equal(t, "master: would be built (image missing)", s.line(s.items[0]))
	assert.Equal(t, "python: unchanged, nothing built", s.line(s.items[1]))
	assert.True(t, s.items[0].v.WouldBuild)
}

func TestReportOfAFailedPromotionAndOfGatesOff(t *testing.T) {
	r := reportOf(t, gatedArgs, false, func(items map[string]*item) {
		for _, it := range items {
			it.build = built("sha256:" + it.Name)
			it.scan = map[string]any{"scan_status": "passed", "passed": true}
			it.metaRan = true
		}
		items["master"].promote = map[string]any{"failed": true, "msg": "Error tagging: no space"}
		items["master"].promoErr = "Error tagging: no space"
	})
	m := r.BuildResults.Master
	assert.Equal(t, GatePromotion, m.Gate)
	assert.False(t, m.Promoted)
	assert.Contains(t, r.Summary.Failed, "master: failed at the promotion gate - Error tagging: no space")

	off := map[string]any{"images": gatedArgs["images"], "deploy_tag": "latest",
		"validation": map[string]any{"enabled": false}, "metadata": map[string]any{"enabled": false},
		"report": map[string]any{"switches": map[string]any{"validation": "jenkins_build_functional_tests"}}}
	r = reportOf(t, off, false, func(items map[string]*item) {
		for _, it := range items {
			it.build = built("sha256:" + it.Name)
			it.promote = map[string]any{"changed": true}
		}
	})
	m = r.BuildResults.Master
	assert.Equal(t, "passed", m.Gate)
	assert.Equal(t, "jenkins_build_functional_tests is false", m.Checks["validation"].Detail, "the report names the role's switch")
	assert.Equal(t, "metadata.enabled is false", m.Checks["metadata"].Detail, "or the module's option")
	assert.Nil(t, m.ValidationDuration)
	assert.Nil(t, m.ScanDuration)
	assert.Len(t, r.Summary.Promoted, 3)
}

// A run takes a recent measurement of the build cache; an old one is measured again.
func TestCacheMeasurementIsReusedWhileRecent(t *testing.T) {
	dir := t.TempDir()
	args := map[string]any{"images": []any{image("a", nil)}, "context_cache_dir": filepath.Join(dir, "context"),
		"docker_host": "tcp://127.0.0.1:1", "tls": true, "ca_path": filepath.Join(dir, "no-ca.pem"),
		"report": map[string]any{"cache_limit": "1GB"}} // a CA file that is not there fails at once: a measurement is an error
	s, err := newSet(t, args, false)
	require.NoError(t, err)
	fresh := s.cacheInfo(context.Background())
	assert.NotEmpty(t, fresh.Error, "no measurement yet: it measures (and the engine is not there)")

	recent := buildkitreport.BuildCache{Builder: "engine", TotalBytes: 2 << 30, Measured: time.Now().UTC().Format(time.RFC3339)}
	b, _ := json.Marshal(recent)
	require.NoError(t, os.MkdirAll(filepath.Dir(s.cacheRecordPath()), 0o700))
	require.NoError(t, os.WriteFile(s.cacheRecordPath(), b, 0o600))
	c := s.cacheInfo(context.Background())
	assert.Empty(t, c.Error)
	assert.Equal(t, int64(2<<30), c.TotalBytes, "the recent measurement")
	assert.Equal(t, recent.Measured, c.Measured)
	assert.Equal(t, "1GB", c.Limit)

	recent.Measured = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	b, _ = json.Marshal(recent)
	require.NoError(t, os.WriteFile(s.cacheRecordPath(), b, 0o600))
	c = s.cacheInfo(context.Background())
	assert.NotEmpty(t, c.Error, "an old measurement is measured again")
}
