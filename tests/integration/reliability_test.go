package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSameImageTwiceAtOnceBuildsOnce(t *testing.T) {
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN sleep 3 && echo once > /once\n"})
	args := buildArgs(name, dir, nil)
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func(i int) { defer wg.Done(); results[i] = run(t, "buildkit_image", args) }(i)
	}
	wg.Wait()
	built := 0
	for _, r := range results {
		require.False(t, r.failed(), r.msg())
		if _, ok := r["builder"]; ok {
			built++
			assert.True(t, r.changed())
		} else {
			assert.False(t, r.changed(), "the waiting run reuses the result")
			assert.Equal(t, true, r["waited_for_lock"])
		}
	}
	assert.Equal(t, 1, built, "exactly one of two simultaneous runs builds")
	assert.Equal(t, results[0].imageID(), results[1].imageID())
}

func TestTwentyConcurrentBuildsOfDifferentImages(t *testing.T) {
	const n = 20
	type job struct {
		name, marker string
		res          result
	}
	jobs := make([]*job, n)
	for i := range jobs {
		name := uniqueName(t)
		marker := fmt.Sprintf("image-%d-%s", i, name)
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo " + marker + " > /marker\n"})
		jobs[i] = &job{name: name, marker: marker}
		jobs[i].res = map[string]any{"dir": dir}
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func(j *job) {
			defer wg.Done()
			j.res = run(t, "buildkit_image", buildArgs(j.name, j.res["dir"].(string), nil))
		}(j)
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, j := range jobs {
		require.False(t, j.res.failed(), j.res.msg())
		assert.True(t, j.res.changed())
		ids[j.res.imageID()] = true
		_, files := savedImage(t, j.name+":latest")
		assert.Equal(t, j.marker+"\n", string(files["marker"]), "each image holds its own build")
	}
	assert.Len(t, ids, n, "twenty different images")
}

// hostile runs the module on an args file written byte for byte.
func hostile(t *testing.T, raw []byte) result {
	t.Helper()
	return runRaw(t, "buildkit_image", raw)
}

// TestHostileInputs holds the hostile arguments that are decided after the
// engine answers (paths in the build context, the archive, the builder's
// container); those decided before it are the unit test TestHostileInputs
// of module-src/internal/modules (make unit).
func TestHostileInputs(t *testing.T) {
	dir := cacheMountContext(t)
	outside := t.TempDir()
	cases := []struct {
		name string
		raw  string
		want string
	}{
		{"dockerfile outside the context", `{"name": "x", "source": "build", "build": {"path": "` + dir + `", "dockerfile": "../../../../../etc/passwd"}}`, "build.dockerfile"},
		{"path traversal in build.path", `{"name": "x", "source": "build", "build": {"path": "` + dir + `/../../../../nonexistent"}}`, "build.path"},
		{"archive outside a missing dir", `{"name": "local/busybox", "source": "local", "archive_path": "` + outside + `/no/such/dir/a.tar"}`, "archive"},
		{"builder name with a slash", `{"name": "x", "source": "build", "build": {"path": "` + dir + `"}, "builder": {"driver": "docker-container", "name": "../etc"}}`, "builder.name"},
		{"builder cpus not a number", `{"name": "x", "source": "build", "build": {"path": "` + dir + `"}, "builder": {"driver": "docker-container", "name": "b", "cpus": "all"}}`, "builder.cpus"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := hostile(t, []byte(c.raw))
			assert.True(t, res.failed(), "must fail")
			assert.Contains(t, strings.ToLower(res.msg()), strings.ToLower(c.want))
			assert.NotContains(t, res.msg(), "panic")
			assert.NotContains(t, res.msg(), "goroutine")
		})
	}
	entries, _ := os.ReadDir(outside)
	assert.Empty(t, entries, "nothing written outside where asked")

	// The engine options are every module's: each refuses them before any work
	// (buildkit_validate in check mode too, which connects to nothing).
	for module, args := range map[string]map[string]any{
		"buildkit_image":    {"name": "x", "source": "local"},
		"buildkit_validate": {"image": "x", "command": []any{"true"}, "_ansible_check_mode": true},
		"buildkit_cache":    {"state": "info"},
		"buildkit_scan":     {"image": "x"},
	} {
		for opt, bad := range map[string]any{"timeout": -1, "api_version": "v1.41", "docker_host": "foo://bar:2375"} {
			if module == "buildkit_scan" && opt != "docker_host" {
				continue // its timeout is the scan's; it has no api_version
			}
			a := map[string]any{opt: bad}
			for k, v := range args {
				a[k] = v
			}
			start := time.Now()
			res := run(t, module, a)
			assert.True(t, res.failed(), "%s %s=%v", module, opt, bad)
			assert.True(t, strings.HasPrefix(res.msg(), opt+": ") || strings.Contains(res.msg(), ". "+opt+": "), "%s names %s: %s", module, opt, res.msg())
			assert.Less(t, time.Since(start), 5*time.Second, "%s %s: refused before any work", module, opt)
		}
	}
}

// restartEngine stops the dockerd that tests/scripts/engine.sh started and
// starts it again; it fails the test if the engine is not ours to restart.
// testEngine is the pid file and start script of the engine the tests run
// against: Debian's 20.10 (tests/scripts/engine.sh) or, when DOCKER_HOST
// points at it, the current engine (tests/scripts/engine-current.sh).
func testEngine() (pidfile, script string) {
	if os.Getenv("DOCKER_HOST") == currentEngineHost {
		return "/run/buildkit-tests-dockerd-current.pid", "../scripts/engine-current.sh"
	}
	return "/run/buildkit-tests-dockerd.pid", "../scripts/engine.sh"
}

const currentEngineHost = "unix:///run/jenkins_ha.buildkit-current/docker.sock"

func restartEngine(t *testing.T) {
	t.Helper()
	pidfile, script := testEngine()
	pidb, err := os.ReadFile(pidfile)
	if err != nil {
		t.Skip("the engine was not started by tests/scripts/engine.sh: not restarting someone else's dockerd")
	}
	var pid int
	_, err = fmt.Sscanf(string(pidb), "%d", &pid)
	require.NoError(t, err)
	p, err := os.FindProcess(pid)
	require.NoError(t, err)
	require.NoError(t, p.Signal(os.Interrupt))
	for i := 0; i < 100; i++ {
		if p.Signal(syscall.Signal(0)) != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, err := exec.Command(script).CombinedOutput()
	require.NoError(t, err, string(out))
}

func TestEngineRestartMidBuild(t *testing.T) {
	if pidfile, _ := testEngine(); !fileExists(pidfile) {
		t.Skip("the engine was not started by tests/scripts/engine.sh")
	}
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo v1 > /v\n"})
	good := run(t, "buildkit_image", buildArgs(name, dir, nil))
	require.False(t, good.failed(), good.msg())

	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM local/busybox:latest\nRUN sleep 4 && echo v2 > /v\n"), 0o644))
	args := buildArgs(name, dir, nil)
	args["retries"] = 6
	args["retry_delay"] = 1
	done := make(chan result, 1)
	go func() { done <- run(t, "buildkit_image", args) }()
	time.Sleep(2 * time.Second) // the RUN step is under way
	restartEngine(t)
	res := <-done

	id, ok := imageExists(t, name+":latest")
	require.True(t, ok, "the name still holds an image")
	if res.failed() {
		assert.Equal(t, good.imageID(), id, "a failed build leaves the previous image under the name")
		assert.NotContains(t, res.msg(), "panic")
		t.Logf("failed clearly: %s", res.msg())
		return
	}
	assert.True(t, res.changed())
	assert.GreaterOrEqual(t, res["build_retries"], float64(1), "the build was retried after the restart")
	assert.Equal(t, res.imageID(), id)
	_, files := savedImage(t, name+":latest")
	assert.Equal(t, "v2\n", string(files["v"]))
	t.Logf("survived the restart with %v retries", res["build_retries"])
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestEngineDiskFullFailsClearlyAndKeepsTheImage runs a throwaway current
// engine whose images live on a small tmpfs, in the matrix's current-engine
// pass (it needs that engine's binaries).
func TestEngineDiskFullFailsClearlyAndKeepsTheImage(t *testing.T) {
	if os.Getenv("DOCKER_HOST") != currentEngineHost {
		t.Skip("runs in the current-engine pass of make test-matrix")
	}
	lib := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", lib).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	env := append(os.Environ(), "ENGINE_CURRENT_INSTANCE=diskfull", "ENGINE_CURRENT_LIB="+lib,
		"ENGINE_CURRENT_BRIDGE=bkdiskfull0", "ENGINE_CURRENT_BRIDGE_CIDR=10.213.214.1/24")
	script := func(args ...string) (string, error) {
		cmd := exec.Command("../scripts/engine-current.sh", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		_, _ = script("stop")
		_ = exec.Command("umount", "-l", lib).Run()
	})
	out, err := script()
	require.NoError(t, err, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	host := lines[len(lines)-1]
	t.Setenv("DOCKER_HOST", host)

	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo small > /v\n"})
	good := run(t, "buildkit_image", buildArgs(name, dir, nil))
	require.False(t, good.failed(), good.msg())

	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM local/busybox:latest\nRUN dd if=/dev/zero of=/big bs=1M count=400\n"), 0o644))
	full := run(t, "buildkit_image", buildArgs(name, dir, nil))
	require.True(t, full.failed())
	assert.Contains(t, strings.ToLower(full.msg()), "no space left on device")
	assert.Contains(t, full.msg(), "is full: prune its build cache")
	id, ok := imageExists(t, name+":latest")
	require.True(t, ok)
	assert.Equal(t, good.imageID(), id, "the name still holds the previous image")
	_, files := savedImage(t, name+":latest")
	assert.Equal(t, "small\n", string(files["v"]), "the previous image is whole")
}
