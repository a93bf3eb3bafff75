// Package integration runs the module binaries against a real Docker Engine,
// the way Ansible runs them: an args file in argv[1], one JSON object back.
// tests/run starts dockerd and imports the local/busybox base image first.
package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/require"
)

var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("integration tests need a Docker engine; skipped with -short")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "bk-it-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	// The multi-call binary, run under each module's name as a link (busybox-style).
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "jenkins_ha_buildkit"), "../../module-src/buildkit").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the modules: %v\n%s", err, out)
		os.Exit(1)
	}
	for _, m := range []string{"buildkit_image", "buildkit_image_set", "buildkit_scan", "buildkit_cache", "buildkit_validate", "buildkit_report", "buildkit_sign"} {
		if err := os.Symlink("jenkins_ha_buildkit", filepath.Join(dir, m)); err != nil {
			panic(err)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is a module's JSON reply.
type result map[string]any

func (r result) changed() bool { b, _ := r["changed"].(bool); return b }
func (r result) failed() bool  { b, _ := r["failed"].(bool); return b }
func (r result) msg() string   { s, _ := r["msg"].(string); return s }

func (r result) image() map[string]any { m, _ := r["image"].(map[string]any); return m }

func (r result) imageID() string { id, _ := r.image()["Id"].(string); return id }

func (r result) label(k string) string {
	cfg, _ := r.image()["Config"].(map[string]any)
	labels, _ := cfg["Labels"].(map[string]any)
	v, _ := labels[k].(string)
	return v
}

// run calls a module binary with args plus the _ansible_* keys Ansible adds.
func run(t testing.TB, module string, args map[string]any, ansible ...map[string]any) result {
	t.Helper()
	full := map[string]any{
		"_ansible_check_mode":  false,
		"_ansible_diff":        false,
		"_ansible_no_log":      false,
		"_ansible_verbosity":   0,
		"_ansible_module_name": module,
		"_ansible_tmpdir":      t.TempDir(),
		"_ansible_version":     "2.14.18",
		"_ansible_future_key":  "ignored",
	}
	for k, v := range args {
		full[k] = v
	}
	for _, a := range ansible {
		for k, v := range a {
			full[k] = v
		}
	}
	b, err := json.Marshal(full)
	require.NoError(t, err)
	return runRaw(t, module, b)
}

// runRaw calls a module binary with an args file written byte for byte.
func runRaw(t testing.TB, module string, args []byte) result {
	t.Helper()
	argsFile := filepath.Join(t.TempDir(), "args")
	require.NoError(t, os.WriteFile(argsFile, args, 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, module), argsFile)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(binDir, "cache"))
	stdout, _ := cmd.Output() // the exit code is not what Ansible reads
	var res result
	require.NoError(t, json.Unmarshal(stdout, &res), "module printed non-JSON: %s", stdout)
	return res
}

var checkMode = map[string]any{"_ansible_check_mode": true}
var diffMode = map[string]any{"_ansible_diff": true}

func uniqueName(t testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "bk-it-" + hex.EncodeToString(b)
	t.Cleanup(func() { removeImage(name + ":latest") })
	return name
}

func dockerClient(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func removeImage(ref string) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
}

func imageExists(t testing.TB, ref string) (string, bool) {
	t.Helper()
	inspect, err := dockerClient(t).ImageInspect(context.Background(), ref)
	if client.IsErrNotFound(err) {
		return "", false
	}
	require.NoError(t, err)
	return inspect.ID, true
}

// writeContext lays out a build context from a map of relative path to content.
func writeContext(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, p)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(content), 0o644))
		// Files that were just written are "racy" for the stat cache and always
		// re-read; a real context is older than the run that builds it.
		old := time.Now().Add(-time.Hour)
		require.NoError(t, os.Chtimes(full, old, old))
	}
	time.Sleep(50 * time.Millisecond) // out of the stat cache's racy window (ctime is now)
	return dir
}

func buildArgs(name, dir string, extra map[string]any) map[string]any {
	build := map[string]any{"path": dir}
	for k, v := range extra {
		build[k] = v
	}
	return map[string]any{"name": name, "source": "build", "build": build}
}

func toJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func imageListAll() image.ListOptions { return image.ListOptions{All: true} }
