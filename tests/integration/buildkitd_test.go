package integration

import (
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildkitd starts a real standalone BuildKit daemon (BUILDKITD, built by
// .ci/tools/build.sh buildkitd) on a unix socket and returns its address.
func buildkitd(t *testing.T) string {
	t.Helper()
	return startBuildkitd(t, "", nil)
}

// startBuildkitd starts buildkitd listening on addr (a unix socket in its
// directory when empty) with extra flags, and returns the address.
func startBuildkitd(t *testing.T, addr string, extra []string) string {
	t.Helper()
	bin := os.Getenv("BUILDKITD")
	if bin == "" {
		t.Fatal("BUILDKITD is not set: run .ci/tools/build.sh buildkitd (tests/run does)")
	}
	dir, err := os.MkdirTemp("/var/tmp", "bk-it-buildkitd-")
	require.NoError(t, err)
	sock := filepath.Join(dir, "buildkitd.sock")
	log, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	require.NoError(t, err)
	listen := "unix://" + sock
	if addr != "" {
		listen = addr
	}
	args := append([]string{"--addr", listen, "--root", filepath.Join(dir, "root"),
		"--oci-worker=true", "--oci-worker-snapshotter=native", "--containerd-worker=false"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		log.Close()
		os.RemoveAll(dir)
	})
	for i := 0; i < 100; i++ {
		if addr != "" {
			if c, err := net.Dial("tcp", strings.TrimPrefix(addr, "tcp://")); err == nil {
				c.Close()
				return addr
			}
		} else if _, err := os.Stat(sock); err == nil {
			return "unix://" + sock
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "buildkitd.log"))
	t.Fatalf("buildkitd did not start:\n%s", b)
	return ""
}

// buildctlBuild fills the daemon's cache: a FROM scratch build that copies
// n files of size bytes (no RUN, so no base image is needed).
func buildctlBuild(t *testing.T, addr string, n, size int) {
	t.Helper()
	bin := os.Getenv("BUILDCTL")
	if bin == "" {
		t.Fatal("BUILDCTL is not set: run .ci/tools/build.sh buildctl (tests/run does)")
	}
	dir := t.TempDir()
	df := "FROM scratch\n"
	buf := make([]byte, size)
	for i := 0; i < n; i++ {
		_, _ = rand.Read(buf)
		name := filepath.Join(dir, "blob"+string(rune('a'+i)))
		require.NoError(t, os.WriteFile(name, buf, 0o644))
		df += "COPY " + filepath.Base(name) + " /\n"
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644))
	out, err := exec.Command(bin, "--addr", addr, "build", "--frontend", "dockerfile.v0",
		"--local", "context="+dir, "--local", "dockerfile="+dir).CombinedOutput()
	require.NoError(t, err, string(out))
}

func TestCacheOfAStandaloneBuildKitDaemon(t *testing.T) {
	addr := buildkitd(t)
	buildctlBuild(t, addr, 3, 1<<20)
	builder := map[string]any{"driver": "remote", "endpoint": addr, "name": "standalone"}

	info := run(t, "buildkit_cache", map[string]any{"state": "info", "builder": builder})
	require.False(t, info.failed(), info.msg())
	cache := info["cache"].(map[string]any)
	assert.Equal(t, "standalone", cache["builder"])
	assert.GreaterOrEqual(t, cache["total_bytes"], float64(3<<20))

	check := run(t, "buildkit_cache", map[string]any{"state": "pruned", "all": true, "builder": builder}, checkMode)
	require.False(t, check.failed(), check.msg())
	assert.True(t, check.changed())
	again := run(t, "buildkit_cache", map[string]any{"state": "info", "builder": builder})
	assert.Equal(t, cache["records"], again["cache"].(map[string]any)["records"], "check mode deleted nothing")

	pruned := run(t, "buildkit_cache", map[string]any{"state": "pruned", "all": true, "builder": builder})
	require.False(t, pruned.failed(), pruned.msg())
	assert.True(t, pruned.changed())
	b := pruned["before"].(map[string]any)["total_bytes"].(float64)
	a := pruned["after"].(map[string]any)["total_bytes"].(float64)
	assert.GreaterOrEqual(t, pruned["reclaimed_bytes"], float64(3<<20))
	assert.Less(t, a, b)

	second := run(t, "buildkit_cache", map[string]any{"state": "pruned", "all": true, "builder": builder})
	require.False(t, second.failed(), second.msg())
	assert.False(t, second.changed())

	plain := run(t, "buildkit_cache", map[string]any{"state": "info", "builder": map[string]any{"driver": "remote", "endpoint": "tcp://127.0.0.1:1234"}})
	assert.True(t, plain.failed())
	assert.Contains(t, plain.msg(), "plain TCP")
	missing := run(t, "buildkit_cache", map[string]any{"state": "info", "builder": map[string]any{"driver": "remote"}})
	assert.True(t, missing.failed())
	assert.Contains(t, missing.msg(), "endpoint")
}

func TestBuildOnARemoteBuildKitDaemon(t *testing.T) {
	addr := buildkitd(t)
	name := uniqueName(t)
	// A standalone daemon cannot see the engine's images: FROM scratch.
	dir := writeContext(t, map[string]string{
		"Dockerfile":  "FROM scratch\nCOPY payload.txt /payload.txt\nLABEL built.on=remote\n",
		"payload.txt": "built remotely\n",
	})
	args := buildArgs(name, dir, nil)
	args["builder"] = map[string]any{"driver": "remote", "endpoint": addr}
	first := run(t, "buildkit_image", args)
	require.False(t, first.failed(), first.msg())
	assert.True(t, first.changed())
	assert.Equal(t, "buildkit (remote "+addr+")", first["builder"])
	assert.Equal(t, "remote", first.label("built.on"))
	assert.NotEmpty(t, first.label("io.jenkins-ha.buildkit.inputs"), "the inputs label travels through the load")
	_, files := savedImage(t, name+":latest")
	assert.Equal(t, "built remotely\n", string(files["payload.txt"]), "the result was loaded into the engine")

	second := run(t, "buildkit_image", args)
	require.False(t, second.failed(), second.msg())
	assert.False(t, second.changed())
	assert.NotContains(t, second, "builder")

	args["build_method"] = "legacy"
	args["force_source"] = true
	legacy := run(t, "buildkit_image", args)
	assert.True(t, legacy.failed())
	assert.Contains(t, legacy.msg(), "builder.driver=remote")
	plain := run(t, "buildkit_image", map[string]any{"name": name, "source": "build", "force_source": true,
		"build": map[string]any{"path": dir}, "builder": map[string]any{"driver": "remote", "endpoint": "tcp://127.0.0.1:1234"}})
	assert.True(t, plain.failed())
	assert.Contains(t, plain.msg(), "plain TCP")
}
