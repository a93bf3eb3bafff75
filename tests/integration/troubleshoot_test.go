package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// troubleshoot runs playbooks/troubleshoot-buildkit.yml with extra vars, as a
// user would, and returns its output and whether it succeeded.
func troubleshoot(t *testing.T, vars map[string]any) (string, bool) {
	t.Helper()
	return playbook(t, "playbooks/troubleshoot-buildkit.yml", vars)
}

// playbook runs ansible-playbook from the checkout with extra vars (and more
// arguments), as a user would.
func playbook(t *testing.T, path string, vars map[string]any, args ...string) (string, bool) {
	t.Helper()
	if _, err := os.Stat("../../plugins/bin/jenkins_ha_buildkit_linux_amd64"); err != nil {
		t.Fatal("the module binaries are not built: run make build (make test does)")
	}
	b, err := json.Marshal(vars)
	require.NoError(t, err)
	// ANSIBLE_BIN: the controller to run (tests/scripts/controller.sh), else Debian 12's in /usr/bin.
	bin := os.Getenv("ANSIBLE_BIN")
	if bin == "" {
		bin = "/usr/bin"
	}
	cmd := exec.Command(filepath.Join(bin, "ansible-playbook"), append([]string{path, "-e", string(b)}, args...)...)
	cmd.Dir = "../.."
	// The modules the playbook runs check their results against their declared keys too.
	cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG=../../ansible.cfg", "PATH="+bin+":/usr/bin:"+os.Getenv("PATH"), "ANSIBLE_NOCOLOR=1",
		strictReturnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NotContains(t, string(out), undeclaredReturns, "a module returned a key its Spec.Returns does not declare")
	return string(out), err == nil
}

func TestTroubleshootDiagnose(t *testing.T) {
	reports := t.TempDir()
	out, ok := troubleshoot(t, map[string]any{"troubleshoot_report_dir": reports})
	require.True(t, ok, out)
	assert.Contains(t, out, "[OK] engine: Docker")
	b, err := os.ReadFile(filepath.Join(reports, "diagnose-localhost.json"))
	require.NoError(t, err)
	var report map[string]any
	require.NoError(t, json.Unmarshal(b, &report))
	assert.Equal(t, "diagnose", report["mode"])
	assert.NotEmpty(t, report["checks"])
}

func TestTroubleshootFixMergesDaemonJSON(t *testing.T) {
	dir := t.TempDir()
	daemon := filepath.Join(dir, "daemon.json")
	require.NoError(t, os.WriteFile(daemon, []byte(`{"log-level": "warn", "features": {"containerd-snapshotter": false}, "insecure-registries": ["10.0.0.1:5000"]}`), 0o644))
	vars := map[string]any{"troubleshoot_mode": "fix", "troubleshoot_report_dir": dir, "troubleshoot_daemon_json": daemon,
		"troubleshoot_restart_engine": false}
	out, ok := troubleshoot(t, vars)
	require.True(t, ok, out)
	var cfg map[string]any
	b, err := os.ReadFile(daemon)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &cfg))
	assert.Equal(t, "warn", cfg["log-level"], "unrelated keys are kept")
	assert.Equal(t, []any{"10.0.0.1:5000"}, cfg["insecure-registries"])
	assert.Equal(t, map[string]any{"containerd-snapshotter": false, "buildkit": true}, cfg["features"])
	assert.Equal(t, map[string]any{"gc": map[string]any{"enabled": true, "defaultKeepStorage": "10GB"}}, cfg["builder"])
	backups, _ := filepath.Glob(daemon + ".*~")
	assert.Len(t, backups, 1, "a backup of the old daemon.json is kept")

	// A second fix changes nothing.
	out, ok = troubleshoot(t, vars)
	require.True(t, ok, out)
	assert.Contains(t, taskOutput(out, "Enable BuildKit and its cache GC, keeping every other key"), "ok:")
	backups, _ = filepath.Glob(daemon + ".*~")
	assert.Len(t, backups, 1)

	// An invalid daemon.json is never overwritten.
	broken := filepath.Join(dir, "broken.json")
	require.NoError(t, os.WriteFile(broken, []byte(`{"log-level": "warn",`), 0o644))
	vars["troubleshoot_daemon_json"] = broken
	out, ok = troubleshoot(t, vars)
	assert.False(t, ok, "fix must stop on an invalid daemon.json")
	b, err = os.ReadFile(broken)
	require.NoError(t, err)
	assert.Equal(t, `{"log-level": "warn",`, string(b))
	assert.Contains(t, out, broken+" is not valid JSON, so it was left as it is")
}

// TestTroubleshootFixRecreatesABrokenBuilder: a builder container that runs
// but whose BuildKit does not answer is found by diagnose and recreated by
// fix; optimize then schedules the cleanup of its cache too.
func TestTroubleshootFixRecreatesABrokenBuilder(t *testing.T) {
	name := uniqueName(t)
	bname := "bk-it-fx-" + name[len("bk-it-"):]
	b := containerBuilder(t, bname, nil)
	out, err := exec.Command("docker", "run", "-d", "--name", "buildx_buildkit_"+bname+"0", "local/busybox:latest", "sleep", "600").CombinedOutput()
	require.NoError(t, err, string(out))

	dir := t.TempDir()
	daemon := filepath.Join(dir, "daemon.json")
	vars := map[string]any{"troubleshoot_mode": "fix", "troubleshoot_report_dir": dir, "troubleshoot_daemon_json": daemon,
		"troubleshoot_restart_engine": false, "troubleshoot_builder": b}
	text, ok := troubleshoot(t, vars)
	require.True(t, ok, text)
	assert.Contains(t, text, "[FAIL] builder "+bname+": buildx_buildkit_"+bname+"0 is running but its BuildKit does not answer")
	assert.Contains(t, taskOutput(text, "Recreate the builder when it is broken (its state volume goes with it)"), "changed:")
	img, err := exec.Command("docker", "inspect", "-f", "{{.Config.Image}}", "buildx_buildkit_"+bname+"0").Output()
	require.NoError(t, err)
	assert.Equal(t, buildkitImage(t)+"\n", string(img), "the builder was recreated from its image")
	diag := run(t, "buildkit_cache", map[string]any{"state": "diagnose", "builder": b})
	for _, c := range diag["checks"].([]any) {
		if m := c.(map[string]any); m["name"] == "builder "+bname {
			assert.Equal(t, "ok", m["status"], m["detail"])
		}
	}

	// optimize: the builder's cache is pruned now and in the scheduled cleanup.
	cronName := "bk-it-cache-" + strings.TrimPrefix(name, "bk-it-")
	t.Cleanup(func() { os.Remove("/etc/cron.d/" + cronName) })
	bin := filepath.Join(dir, "jenkins-buildkit-cache")
	text, ok = troubleshoot(t, map[string]any{"troubleshoot_mode": "optimize", "troubleshoot_report_dir": dir,
		"troubleshoot_cleanup_binary": bin, "troubleshoot_cleanup_cron_file": cronName, "troubleshoot_builder": b})
	require.True(t, ok, text)
	cron, err := os.ReadFile("/etc/cron.d/" + cronName)
	require.NoError(t, err)
	assert.Contains(t, string(cron), bin+" prune --keep-storage 10GB --older-than 72h\n")
	assert.Contains(t, string(cron), bin+" prune --keep-storage 10GB --older-than 72h --builder "+bname)
	res, err := exec.Command(bin, "prune", "--keep-storage", "10GB", "--older-than", "72h", "--builder", bname, "--dry-run").CombinedOutput()
	require.NoError(t, err, string(res))
	assert.Contains(t, string(res), "would reclaim")

	// reset: the builder is recreated and the engine's own cache cleared too; the smoke build runs on the builder.
	// (The engine's cache gets a record first, whatever else ran on the engine before.)
	warm := run(t, "buildkit_image", buildArgs(uniqueName(t), writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo " + name + " > /warm\n"}), nil))
	require.False(t, warm.failed(), warm.msg())
	before, err := exec.Command("docker", "inspect", "-f", "{{.Id}}", "buildx_buildkit_"+bname+"0").Output()
	require.NoError(t, err)
	text, ok = troubleshoot(t, map[string]any{"troubleshoot_mode": "reset", "troubleshoot_report_dir": dir, "troubleshoot_builder": b})
	require.True(t, ok, text)
	assert.Contains(t, taskOutput(text, "Clear the engine's build cache too"), "changed:")
	assert.Contains(t, text, "the builder built sha256:")
	after, err := exec.Command("docker", "inspect", "-f", "{{.Id}}", "buildx_buildkit_"+bname+"0").Output()
	require.NoError(t, err)
	assert.NotEqual(t, string(before), string(after), "the builder's container was recreated")
}

func TestTroubleshootOptimizeSchedulesCleanup(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "jenkins-buildkit-cache")
	cronName := "bk-it-cache-" + strings.TrimPrefix(uniqueName(t), "bk-it-")
	t.Cleanup(func() { os.Remove("/etc/cron.d/" + cronName) })
	out, ok := troubleshoot(t, map[string]any{"troubleshoot_mode": "optimize", "troubleshoot_report_dir": dir,
		"troubleshoot_cleanup_binary": bin, "troubleshoot_cleanup_cron_file": cronName})
	require.True(t, ok, out)
	assert.Contains(t, out, "reclaimed")
	cron, err := os.ReadFile("/etc/cron.d/" + cronName)
	require.NoError(t, err, "no systemd here: the cleanup goes to cron")
	assert.Contains(t, string(cron), bin+" prune --keep-storage 10GB --older-than 72h")
	// The installed command works.
	res, err := exec.Command(bin, "prune", "--keep-storage", "10GB", "--older-than", "72h", "--dry-run").CombinedOutput()
	require.NoError(t, err, string(res))
	assert.Contains(t, string(res), "would reclaim")
}

func TestTroubleshootResetKeepsData(t *testing.T) {
	fillCache(t, 1, 1<<20)
	vol := "bk-it-jenkins-home-" + strings.TrimPrefix(uniqueName(t), "bk-it-")
	out, err := exec.Command("docker", "volume", "create", vol).CombinedOutput()
	require.NoError(t, err, string(out))
	t.Cleanup(func() { _ = exec.Command("docker", "volume", "rm", "-f", vol).Run() })
	ctr := vol + "-ctr"
	out, err = exec.Command("docker", "run", "-d", "--name", ctr, "-v", vol+":/var/jenkins_home", "local/busybox:latest", "sleep", "300").CombinedOutput()
	require.NoError(t, err, string(out))
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", ctr).Run() })

	text, ok := troubleshoot(t, map[string]any{"troubleshoot_mode": "reset", "troubleshoot_report_dir": t.TempDir()})
	require.True(t, ok, text)
	assert.Contains(t, text, "the builder built sha256:")
	assert.NoError(t, exec.Command("docker", "volume", "inspect", vol).Run(), "Jenkins' volume survives a reset")
	state, err := exec.Command("docker", "inspect", "-f", "{{.State.Running}}", ctr).Output()
	require.NoError(t, err)
	assert.Equal(t, "true\n", string(state), "the running container survives a reset")
	_, exists := imageExists(t, "jenkins-ha/buildkit-smoke-test:latest")
	assert.False(t, exists, "the smoke test image is removed")
}
