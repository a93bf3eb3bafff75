package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
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
	"gopkg.in/yaml.v3"
)

// standins builds the stand-in base images (tests/fixtures/standins) and
// returns their names: controller, agent, a controller that never becomes
// ready, and an agent with a vulnerable busybox.
func standins(t *testing.T) map[string]string {
	t.Helper()
	prefix := uniqueName(t)
	out := map[string]string{}
	for key, b := range map[string]map[string]any{
		"controller":  {"target": "controller"},
		"agent":       {"target": "agent"},
		"never_ready": {"target": "controller", "args": map[string]any{"NEVER_READY": "1"}},
		"vulnerable":  {"target": "agent", "args": map[string]any{"APK_BUSYBOX": "1.36.1-r2"}},
	} {
		name := prefix + "-standin-" + strings.ReplaceAll(key, "_", "-")
		b["path"] = "../fixtures/standins"
		res := run(t, "buildkit_image", map[string]any{"name": name, "source": "build", "build": b})
		require.False(t, res.failed(), res.msg())
		t.Cleanup(func() { removeImage(name + ":latest") })
		out[key] = name + ":latest"
	}
	return out
}

type buildReport struct {
	BuildResults struct {
		Master map[string]any            `json:"jenkins_master"`
		Agents map[string]map[string]any `json:"jenkins_agents"`
	} `json:"build_results"`
	Summary struct {
		Built, Unchanged, Promoted, Failed []string
	} `json:"summary"`
	BuildCache map[string]any `json:"build_cache"`
}

func readReport(t *testing.T, dir string) buildReport {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "localhost", "build-report-latest.json"))
	require.NoError(t, err)
	var r buildReport
	require.NoError(t, json.Unmarshal(b, &r))
	_, err = os.Stat(filepath.Join(dir, "localhost", "build-report-latest.yml"))
	require.NoError(t, err, "the YAML report is written too")
	return r
}

// roleSetup is what every role test starts from: stand-in bases, a Trivy DB,
// a namespace of its own (cleaned up), a reports dir, and the role's vars.
func roleSetup(t *testing.T) (standin map[string]string, namespace, reports string, vars map[string]any) {
	t.Helper()
	standin = standins(t)
	cache := t.TempDir()
	trivyDB(t, cache, time.Hour, testAdvisories)
	namespace = uniqueName(t)
	cleanupNamespace(t, namespace)
	reports = t.TempDir()
	return standin, namespace, reports, roleVars(t, standin, namespace, reports, cache)
}

func roleVars(t *testing.T, s map[string]string, namespace, reports, trivyCache string) map[string]any {
	return map[string]any{
		"jenkins_images_namespace": namespace,
		"jenkins_images_base_images": map[string]any{"master": s["controller"], "dind": s["agent"], "maven": s["agent"],
			"python": s["agent"], "nodejs": s["agent"]},
		"jenkins_images_packages":              map[string]any{}, // the stand-ins have no apt
		"jenkins_images_agent_common_packages": []any{},
		"jenkins_images_plugins":               []any{"configuration-as-code:1887.v9e47623cb_043", "git:5.6.0"},
		"jenkins_images_build_dir":             filepath.Join(t.TempDir(), "build"),
		"jenkins_images_reports_dir":           reports,
		"jenkins_images_validation_budget":     60,
		"jenkins_build_security_scanner":       trivyBinary(t),
		"jenkins_build_security_offline":       true,
		"jenkins_build_security_cache_dir":     trivyCache,
		"jenkins_build_memory_limit":           "256m",
		"jenkins_build_cpu_limit":              "1",
	}
}

func cleanupNamespace(t *testing.T, namespace string) {
	t.Cleanup(func() {
		for _, repo := range []string{"jenkins-master", "jenkins-agent-dind", "jenkins-agent-maven", "jenkins-agent-python", "jenkins-agent-nodejs"} {
			for _, tag := range []string{"candidate", "latest", "previous"} {
				removeImage(namespace + "/" + repo + ":" + tag)
			}
		}
	})
}

func TestRoleSiteBuildsTheSetThenNoOp(t *testing.T) {
	_, namespace, reports, vars := roleSetup(t)
	vars["jenkins_images_cache_limit"] = "1TB" // the shared engine's cache is never over it: no cache alert

	// Check mode first: it says what each build would do and builds and writes nothing.
	out, ok := playbook(t, "playbooks/site.yml", vars, "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images", "--check")
	require.True(t, ok, out)
	assert.Contains(t, out, "master: would be built (image missing)")
	_, exists := imageExists(t, namespace+"/jenkins-master:candidate")
	assert.False(t, exists, "check mode built nothing")
	_, err := os.Stat(filepath.Join(reports, "localhost"))
	assert.True(t, os.IsNotExist(err), "check mode wrote no report")

	start := time.Now()
	out, ok = playbook(t, "playbooks/site.yml", vars, "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images")
	cold := time.Since(start)
	require.True(t, ok, out)
	r := readReport(t, reports)
	assert.ElementsMatch(t, []string{"master", "dind", "maven", "python", "nodejs"}, r.Summary.Built)
	assert.ElementsMatch(t, r.Summary.Built, r.Summary.Promoted)
	assert.Empty(t, r.Summary.Failed)
	assert.Equal(t, "passed", r.BuildResults.Master["gate"])
	assert.Equal(t, "passed", r.BuildResults.Master["scan"].(map[string]any)["status"])
	assert.Equal(t, true, r.BuildResults.Master["validated"])
	master := run(t, "buildkit_image", map[string]any{"name": namespace + "/jenkins-master:latest", "source": "local"})
	require.False(t, master.failed(), "the controller was promoted to the deploy tag")
	assert.Equal(t, "2.479.3", master.label("org.opencontainers.image.version"))
	assert.NotEmpty(t, master.label("org.opencontainers.image.created"))
	assert.Equal(t, "jenkins-builder", master.label("io.jenkins-ha.builder"))
	checkPassingRunReports(t, reports, []string{"master", "dind", "maven", "python", "nodejs"})
	assert.Equal(t, "engine", r.BuildCache["builder"], "the engine's build cache, measured")
	assert.Greater(t, r.BuildCache["total_bytes"], 0.0)

	// Check mode now predicts the no-op: nothing would change.
	out, ok = playbook(t, "playbooks/site.yml", vars, "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images", "--check")
	require.True(t, ok, out)
	assert.Regexp(t, `localhost\s*: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0`, out, "check mode predicts a no-op")
	assert.Contains(t, out, "master: unchanged, nothing built")

	start = time.Now()
	out, ok = playbook(t, "playbooks/site.yml", vars, "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images")
	noop := time.Since(start)
	require.True(t, ok, out)
	r = readReport(t, reports)
	assert.Empty(t, r.Summary.Built, "no image rebuilt on a no-op run")
	assert.Len(t, r.Summary.Unchanged, 5)
	assert.Empty(t, r.Summary.Promoted, "nothing to promote: the deploy tags already hold these images")
	assert.Regexp(t, `localhost\s*: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0`, out, "a no-op run changes nothing")
	scan := r.BuildResults.Master["scan"].(map[string]any)
	assert.Equal(t, "passed", scan["status"], "an unchanged image shows its last scan")
	assert.NotEmpty(t, scan["from"], "and the run that scanned it")
	outcomes := junitOutcomes(t, reports)
	assert.Equal(t, "passed", outcomes["master/build"], "an unchanged image is a passing build")
	assert.Contains(t, outcomes["master/scan"], "skipped: not needed: ", "no gate ran for an image already deployed")
	assert.Len(t, sarifRuns(t, reports), 5, "the last scans of unchanged images are still listed")
	t.Logf("whole role on the local inventory: cold %.1fs, no-op %.1fs, rebuilt on no-op: %d", cold.Seconds(), noop.Seconds(), len(r.Summary.Built))
}

func TestRoleGatesKeepTheDeployedImage(t *testing.T) {
	s, namespace, reports, vars := roleSetup(t)
	vars["jenkins_images_cache_limit"] = "1KB" // any build cache is over it: the cache alert fires

	// A good controller and python agent are deployed first.
	vars["images_to_build"] = "master"
	out, ok := playbook(t, "playbooks/site.yml", vars)
	require.True(t, ok, out)
	vars["images_to_build"] = "python"
	out, ok = playbook(t, "playbooks/site.yml", vars)
	require.True(t, ok, out)
	deployed := func(repo string) string {
		res := run(t, "buildkit_image", map[string]any{"name": namespace + "/" + repo + ":latest", "source": "local"})
		require.False(t, res.failed(), res.msg())
		return res.imageID()
	}
	goodMaster, goodPython := deployed("jenkins-master"), deployed("jenkins-agent-python")

	// A vulnerable python agent fails the CRITICAL gate and is not promoted.
	vars["jenkins_images_base_images"].(map[string]any)["python"] = s["vulnerable"]
	out, ok = playbook(t, "playbooks/site.yml", vars)
	assert.False(t, ok, "a failed gate fails the run")
	assert.Contains(t, out, "python: failed at the scan gate (CVE-2099-0001)")
	r := readReport(t, reports)
	assert.Equal(t, "scan", r.BuildResults.Agents["python"]["gate"])
	assert.Equal(t, false, r.BuildResults.Agents["python"]["promoted"])
	assert.Equal(t, goodPython, deployed("jenkins-agent-python"), "the deploy tag stays on the previous image")
	checkHTMLReport(t, reports, "python", "scan", "CVE-2099-0001")
	checkMetrics(t, reports, "python", 0)
	checkGateMetric(t, reports, "python", "scan")
	checkFailedScanReports(t, reports)

	// With no severity failing the gate, the vulnerable python agent is promoted: now a deployed image has a
	// critical vulnerability, and Prometheus says so.
	vars["jenkins_build_fail_on_critical"] = false
	out, ok = playbook(t, "playbooks/site.yml", vars)
	require.True(t, ok, out)
	assert.NotEqual(t, goodPython, deployed("jenkins-agent-python"))
	checkDeployedCriticalReports(t, reports)
	delete(vars, "jenkins_build_fail_on_critical")

	// A controller that never becomes ready fails validation within its budget.
	vars["images_to_build"] = "master"
	vars["jenkins_images_base_images"].(map[string]any)["master"] = s["never_ready"]
	vars["jenkins_images_validation_budget"] = 5
	start := time.Now()
	out, ok = playbook(t, "playbooks/site.yml", vars)
	assert.False(t, ok)
	assert.Less(t, time.Since(start), 3*time.Minute)
	assert.Contains(t, out, "master: failed at the validation gate")
	assert.Contains(t, out, "did not answer 200 within 5s (budget)")
	assert.Equal(t, goodMaster, deployed("jenkins-master"), "the deploy tag stays on the previous image")
	r = readReport(t, reports)
	assert.Equal(t, "validation", r.BuildResults.Master["gate"])
	assert.Contains(t, r.BuildResults.Master["error"], "did not answer 200 within 5s (budget)", "the report says why")
	checkHTMLReport(t, reports, "master", "validation", "did not answer 200 within 5s")
	checkGateMetric(t, reports, "master", "validation")

	// A controller that runs as root and has no HEALTHCHECK fails the metadata gate.
	vars["jenkins_images_base_images"].(map[string]any)["master"] = s["controller"]
	vars["jenkins_images_validation_budget"] = 60
	rootTemplate := filepath.Join(t.TempDir(), "Dockerfile.root.j2")
	require.NoError(t, os.WriteFile(rootTemplate, []byte("FROM {{ jenkins_images_base_images.master }}\nUSER root\n"), 0o644))
	vars["jenkins_images_catalogue"] = roleCatalogue(t, map[string]any{"master": map[string]any{"template": rootTemplate}})
	out, ok = playbook(t, "playbooks/site.yml", vars)
	assert.False(t, ok)
	assert.Contains(t, out, "master: failed at the metadata gate - runs as root (no USER); has no HEALTHCHECK")
	assert.Equal(t, goodMaster, deployed("jenkins-master"), "the deploy tag stays on the previous image")
	delete(vars, "jenkins_images_catalogue")

	// The next good build is promoted, and the previous deploy image is kept for rollback.
	vars["jenkins_images_jenkins_version"] = "2.479.4"
	out, ok = playbook(t, "playbooks/site.yml", vars)
	require.True(t, ok, out)
	assert.NotEqual(t, goodMaster, deployed("jenkins-master"))
	rollback := run(t, "buildkit_image", map[string]any{"name": namespace + "/jenkins-master:previous", "source": "local"})
	require.False(t, rollback.failed(), rollback.msg())
	assert.Equal(t, goodMaster, rollback.imageID())
}

func TestTestPlaybookClassicBuilderPath(t *testing.T) {
	_, namespace, reports, vars := roleSetup(t)
	vars["jenkins_build_use_buildkit"] = false // the whole set, with the role's defaults otherwise
	out, ok := playbook(t, "playbooks/test-buildkit-images.yml", vars, "-i", "inventories/local/hosts.yml")
	require.True(t, ok, out)
	r := readReport(t, reports)
	assert.Equal(t, "legacy", r.BuildResults.Master["method"])
	assert.Equal(t, true, r.BuildResults.Master["promoted"])
	require.Len(t, r.BuildResults.Agents, 4)
	for name, a := range r.BuildResults.Agents {
		assert.Equal(t, "legacy", a["method"], name)
		assert.Equal(t, true, a["promoted"], name)
	}
	// The test playbook removed what it made.
	list, err := dockerClient(t).ImageList(t.Context(), imageListAll())
	require.NoError(t, err)
	for _, img := range list {
		for _, tag := range img.RepoTags {
			assert.False(t, strings.HasPrefix(tag, namespace+"/"), "left behind: %s", tag)
		}
	}
}

// checkHTMLReport opens the role's HTML report in a real browser (desktop and
// phone widths), keeps the screenshots under tests/output, and checks what a
// person would read there.
func checkHTMLReport(t *testing.T, reports, image, gate, reason string) {
	t.Helper()
	html := filepath.Join(reports, "localhost", "build-report-latest.html")
	out, err := filepath.Abs("../output")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(out, 0o755))
	shot := "build-report-" + gate
	dom, netlog := chromium(t, html, filepath.Join(out, shot+"-desktop.png"), "1280,1100")
	for _, want := range []string{"FAILED", image, "failed at " + gate, reason, "Last ", "runs:"} {
		assert.Contains(t, dom, want)
	}
	assert.Empty(t, fetchedHosts(netlog), "the report fetched something from the network")
	_, _ = chromium(t, html, filepath.Join(out, shot+"-phone.png"), "390,1400")
	t.Logf("screenshots: %s/%s-{desktop,phone}.png", out, shot)
}

// readMetrics parses the role's metrics file with the Prometheus text parser.
func readMetrics(t *testing.T, reports string) map[string]*dto.MetricFamily {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(reports, "localhost", "jenkins_images.prom"))
	require.NoError(t, err)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	require.NoError(t, err)
	return families
}

// checkGateMetric finds jenkins_image_gate_failed naming the failed gate.
func checkGateMetric(t *testing.T, reports, image, gate string) {
	t.Helper()
	families := readMetrics(t, reports)
	require.Contains(t, families, "jenkins_image_gate_failed")
	found := false
	for _, m := range families["jenkins_image_gate_failed"].Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["image"] == image && labels["gate"] == gate && m.GetGauge().GetValue() == 1 {
			found = true
		}
	}
	assert.True(t, found, "no jenkins_image_gate_failed{image=%q,gate=%q} 1", image, gate)
}

// checkMetrics checks the series of the role's metrics file for image.
func checkMetrics(t *testing.T, reports, image string, success float64) {
	t.Helper()
	families := readMetrics(t, reports)
	for _, name := range []string{"jenkins_image_build_duration_seconds", "jenkins_image_build_success", "jenkins_image_size_bytes",
		"jenkins_image_vulnerabilities", "jenkins_image_scan_duration_seconds", "jenkins_images_run_success", "jenkins_images_run_duration_seconds"} {
		require.Contains(t, families, name)
	}
	found := false
	for _, m := range families["jenkins_image_build_success"].Metric {
		for _, l := range m.Label {
			if l.GetName() == "image" && l.GetValue() == image {
				assert.Equal(t, success, m.GetGauge().GetValue())
				found = true
			}
		}
	}
	assert.True(t, found, "no jenkins_image_build_success for %s", image)
	for _, m := range families["jenkins_image_vulnerabilities"].Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["image"] == image && labels["severity"] == "critical" {
			assert.Equal(t, 1.0, m.GetGauge().GetValue())
		}
	}
}

// TestRoleWithAContainerBuilder runs the role the way a user who outgrew the
// engine's builder does: a docker-container builder with the seed's limits,
// bases from a registry, and a registry cache exported per image.
func TestRoleWithAContainerBuilder(t *testing.T) {
	s, namespace, reports, vars := roleSetup(t)
	api := dockerClient(t)
	ctx := context.Background()
	// The builder sees registries, not the engine's images: the stand-ins go to the local registry.
	for _, key := range []string{"controller", "agent"} {
		ref := plainRegistry + "/" + namespace + "/" + strings.TrimSuffix(s[key], ":latest") + ":latest"
		pushToRegistry(t, s[key], ref)
		s[key] = ref
		t.Cleanup(func() { removeImage(ref) })
	}
	bname := "bk-it-role-" + namespace[len("bk-it-"):]
	onContainerBuilder(t, vars, s, bname, plainRegistry+"/"+namespace+"-cache", plainRegistry)

	out, ok := playbook(t, "playbooks/site.yml", vars, "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images")
	require.True(t, ok, out)
	r := readReport(t, reports)
	assert.ElementsMatch(t, []string{"master", "dind", "maven", "python", "nodejs"}, r.Summary.Built)
	assert.ElementsMatch(t, r.Summary.Built, r.Summary.Promoted)
	assert.Equal(t, "buildkit (docker-container "+bname+")", r.BuildResults.Master["builder"])
	info, err := api.ContainerInspect(ctx, "buildx_buildkit_"+bname+"0")
	require.NoError(t, err)
	assert.Equal(t, int64(256<<20), info.HostConfig.Memory, "jenkins_build_memory_limit on the builder")
	assert.Equal(t, int64(100000), info.HostConfig.CPUQuota, "jenkins_build_cpu_limit on the builder")
	assert.True(t, registryManifestExists(t, plainRegistry, namespace+"-cache/jenkins-master", "buildcache", false), "the controller's registry cache")
	assert.Equal(t, bname, r.BuildCache["builder"], "the builder's own cache is measured for the cache alert")
	assert.Greater(t, r.BuildCache["total_bytes"], 0.0)

	out, ok = playbook(t, "playbooks/site.yml", vars, "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images")
	require.True(t, ok, out)
	r = readReport(t, reports)
	assert.Empty(t, r.Summary.Built, "no image rebuilt on a no-op run")
}

// TestRoleRefusesSettingsThatCannotWork: the seed's switches that cannot work
// together stop the run before anything is built, naming the variable.
func TestRoleRefusesSettingsThatCannotWork(t *testing.T) {
	base := map[string]any{"jenkins_images_namespace": uniqueName(t), "jenkins_images_build_dir": t.TempDir(),
		"jenkins_images_reports_dir": t.TempDir(), "images_to_build": "master"}
	for _, c := range []struct {
		vars map[string]any
		want string
	}{
		{map[string]any{"jenkins_build_multiarch_enabled": true, "jenkins_build_buildx_driver": "docker-container"},
			"jenkins_build_multiarch_enabled and jenkins_build_provenance need jenkins_build_buildx_driver docker"},
		{map[string]any{"jenkins_build_multiarch_enabled": true, "jenkins_build_use_buildkit": false},
			"jenkins_build_multiarch_enabled needs BuildKit"},
		{map[string]any{"jenkins_build_squash_layers": true}, "BuildKit does not squash layers"},
		{map[string]any{"jenkins_build_cache_mode": "maximal"}, "jenkins_build_cache_mode"},
	} {
		vars := map[string]any{}
		maps.Copy(vars, base)
		maps.Copy(vars, c.vars)
		out, ok := playbook(t, "playbooks/site.yml", vars, "--tags", "jenkins-images")
		assert.False(t, ok, "%v should be refused", c.vars)
		assert.Contains(t, out, c.want, "%v", c.vars)
		assert.NotContains(t, out, "Build, gate and promote the images (jenkins_ha.buildkit.buildkit_image_set)]", "refused before any build: %v", c.vars)
	}
}

// onContainerBuilder sets vars for a run on a docker-container builder of
// the test's own, name (removed when the test ends), with the seed's limits,
// bases from registries (the stand-ins s already pushed there), and a
// registry cache per image under cacheRepo.
func onContainerBuilder(t *testing.T, vars map[string]any, s map[string]string, name, cacheRepo string, registries ...string) {
	t.Helper()
	vars["jenkins_images_base_images"] = map[string]any{"master": s["controller"], "dind": s["agent"], "maven": s["agent"],
		"python": s["agent"], "nodejs": s["agent"]}
	vars["jenkins_build_builder_name"] = name
	vars["jenkins_build_buildx_driver"] = "docker-container"
	vars["jenkins_build_builder_image"] = buildkitImage(t)
	vars["jenkins_build_builder_network"] = "host"
	insecure := []any{}
	for _, r := range registries {
		insecure = append(insecure, r)
	}
	vars["jenkins_build_builder_insecure_registries"] = insecure
	vars["jenkins_build_cache_registry"] = cacheRepo
	removeBuilderWhenDone(t, name)
}

// roleCatalogue is the role's jenkins_images_catalogue with some entries'
// keys replaced (extra vars replace a whole dict, so the test passes it all).
func roleCatalogue(t *testing.T, override map[string]any) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../../roles/jenkins_images/vars/main.yml")
	require.NoError(t, err)
	var vars struct {
		Catalogue map[string]map[string]any `yaml:"jenkins_images_catalogue"`
	}
	require.NoError(t, yaml.Unmarshal(b, &vars))
	out := map[string]any{}
	for name, entry := range vars.Catalogue {
		if o, ok := override[name].(map[string]any); ok {
			maps.Copy(entry, o)
		}
		out[name] = entry
	}
	return out
}
