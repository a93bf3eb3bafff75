package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const cacheMountDockerfile = `FROM local/busybox:latest
ARG FLAVOUR=plain
WORKDIR /app
COPY app.txt /app/
RUN --mount=type=cache,target=/cache echo "$FLAVOUR" >> /cache/runs && cp /cache/runs /app/runs
`

func cacheMountContext(t *testing.T) string {
	return writeContext(t, map[string]string{
		"Dockerfile":    cacheMountDockerfile,
		"app.txt":       "version 1\n",
		".dockerignore": "ignored/\n*.log\n",
		"ignored/x.txt": "not sent\n",
		"debug.log":     "not sent\n",
	})
}

func TestCacheMountBuildThenNoOp(t *testing.T) {
	name := uniqueName(t)
	dir := cacheMountContext(t)
	args := buildArgs(name, dir, map[string]any{"labels": map[string]any{"team": "platform"}})

	first := run(t, "buildkit_image", args)
	require.False(t, first.failed(), first.msg())
	assert.True(t, first.changed())
	assert.Equal(t, "buildkit (docker engine)", first["builder"])
	assert.Equal(t, "platform", first.label("team"))
	assert.Equal(t, first["inputs_digest"], first.label("io.jenkins-ha.buildkit.inputs"))
	assert.Equal(t, []any{"Built image " + name + ":latest from " + dir}, first["actions"])
	assert.Contains(t, first["stdout"], "RUN --mount=type=cache")
	assert.Greater(t, first["total_steps"], float64(0))
	cfg := first.image()["Config"].(map[string]any)
	assert.Equal(t, "/app", cfg["WorkingDir"])
	id, ok := imageExists(t, name+":latest")
	require.True(t, ok)
	assert.Equal(t, id, first.imageID())

	second := run(t, "buildkit_image", args)
	require.False(t, second.failed(), second.msg())
	assert.False(t, second.changed())
	assert.NotContains(t, second, "builder", "a no-op run must not build")
	assert.Equal(t, first.imageID(), second.imageID())
	assert.Empty(t, second["actions"])
	assert.True(t, strings.HasPrefix(second["build_reason"].(string), "none"))
	ctxInfo := second["context"].(map[string]any)
	assert.Equal(t, float64(0), ctxInfo["hashed"], "unchanged files are not read again")
}

func TestWhatRebuilds(t *testing.T) {
	name := uniqueName(t)
	dir := cacheMountContext(t)
	base := buildArgs(name, dir, nil)
	first := run(t, "buildkit_image", base)
	require.False(t, first.failed(), first.msg())
	last := first.imageID()

	step := func(what string, args map[string]any, wantChanged bool) {
		t.Helper()
		res := run(t, "buildkit_image", args)
		require.False(t, res.failed(), "%s: %s", what, res.msg())
		assert.Equal(t, wantChanged, res.changed(), what)
		if wantChanged {
			assert.NotEqual(t, last, res.imageID(), what)
			assert.Contains(t, res, "builder", what)
		} else {
			assert.Equal(t, last, res.imageID(), what)
			assert.NotContains(t, res, "builder", what+": must not build")
		}
		last = res.imageID()
	}

	require.NoError(t, os.WriteFile(filepath.Join(dir, "ignored/x.txt"), []byte("changed but ignored\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "debug.log"), []byte("changed but ignored\n"), 0o644))
	step(".dockerignored files changed", base, false)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.txt"), []byte("version 2\n"), 0o644))
	step("context file changed", base, true)
	step("same again", base, false)

	withArg := buildArgs(name, dir, map[string]any{"args": map[string]any{"FLAVOUR": "spicy"}})
	step("build arg changed", withArg, true)
	step("same arg again", withArg, false)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(cacheMountDockerfile+"ENV EXTRA=1\n"), 0o644))
	step("Dockerfile changed", withArg, true)

	withLabel := buildArgs(name, dir, map[string]any{"args": map[string]any{"FLAVOUR": "spicy"}, "labels": map[string]any{"x": "y"}})
	step("label added", withLabel, true)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "new.txt"), []byte("new\n"), 0o644))
	step("file added to the context", withLabel, true)
}

func TestForceSourceSolvesAndReportsUnchangedForSameID(t *testing.T) {
	name := uniqueName(t)
	dir := cacheMountContext(t)
	first := run(t, "buildkit_image", buildArgs(name, dir, nil))
	require.False(t, first.failed(), first.msg())

	forced := buildArgs(name, dir, nil)
	forced["force_source"] = true
	res := run(t, "buildkit_image", forced)
	require.False(t, res.failed(), res.msg())
	assert.Contains(t, res, "builder", "force_source always builds")
	assert.Equal(t, "force_source", res["build_reason"])
	assert.Equal(t, first.imageID(), res.imageID())
	assert.False(t, res.changed(), "same image ID, so not changed")
	assert.Equal(t, res["total_steps"], res["cached_steps"], "all steps from cache")
}

func TestCheckModeBuildsNothingAndPredicts(t *testing.T) {
	name := uniqueName(t)
	dir := cacheMountContext(t)
	args := buildArgs(name, dir, nil)

	check := run(t, "buildkit_image", args, checkMode, diffMode)
	require.False(t, check.failed(), check.msg())
	assert.True(t, check.changed())
	_, exists := imageExists(t, name+":latest")
	assert.False(t, exists, "check mode must not build")
	diff := check["diff"].(map[string]any)
	assert.Nil(t, diff["before"].(map[string]any)["id"])

	real := run(t, "buildkit_image", args, diffMode)
	require.False(t, real.failed(), real.msg())
	assert.Equal(t, check.changed(), real.changed(), "check mode predicted the real run")
	diff = real["diff"].(map[string]any)
	assert.Equal(t, real.imageID(), diff["after"].(map[string]any)["id"])

	again := run(t, "buildkit_image", args, checkMode)
	require.False(t, again.failed(), again.msg())
	assert.False(t, again.changed())
}

func TestStateAbsent(t *testing.T) {
	name := uniqueName(t)
	dir := cacheMountContext(t)
	require.False(t, run(t, "buildkit_image", buildArgs(name, dir, nil)).failed())

	absent := map[string]any{"name": name, "state": "absent"}
	check := run(t, "buildkit_image", absent, checkMode)
	assert.True(t, check.changed())
	_, exists := imageExists(t, name+":latest")
	assert.True(t, exists, "check mode removes nothing")

	res := run(t, "buildkit_image", absent)
	require.False(t, res.failed(), res.msg())
	assert.True(t, res.changed())
	assert.Equal(t, "Deleted", res.image()["state"])
	assert.Equal(t, []any{"Removed image " + name + ":latest"}, res["actions"])
	_, exists = imageExists(t, name+":latest")
	assert.False(t, exists)

	again := run(t, "buildkit_image", absent)
	require.False(t, again.failed(), again.msg())
	assert.False(t, again.changed())
}

func TestSourceLocal(t *testing.T) {
	res := run(t, "buildkit_image", map[string]any{"name": "local/busybox", "source": "local"})
	require.False(t, res.failed(), res.msg())
	assert.False(t, res.changed())
	assert.NotEmpty(t, res.imageID())

	missing := run(t, "buildkit_image", map[string]any{"name": "local/does-not-exist", "source": "local"})
	assert.True(t, missing.failed())
	assert.Contains(t, missing.msg(), "local/does-not-exist")
}

func TestLegacyBuilder(t *testing.T) {
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM local/busybox:latest\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n",
		"a.txt":      "a\n",
	})
	args := buildArgs(name, dir, map[string]any{"labels": map[string]any{"built": "classic"}})
	args["build_method"] = "legacy"
	res := run(t, "buildkit_image", args)
	require.False(t, res.failed(), res.msg())
	assert.True(t, res.changed())
	assert.Equal(t, "legacy (docker engine classic builder)", res["builder"])
	assert.Equal(t, "classic", res.label("built"))
	assert.Equal(t, float64(5), res["total_steps"], "3 Dockerfile steps and the 2 LABEL steps the classic builder adds")

	again := run(t, "buildkit_image", args)
	require.False(t, again.failed(), again.msg())
	assert.False(t, again.changed())
}

// TestLegacyBuilderFromARegistryBaseIsANoOpTheSecondTime: the classic
// builder needs the base in the engine; the module pulls it before recording
// the inputs, so the second run finds the same inputs and builds nothing.
func TestLegacyBuilderFromARegistryBaseIsANoOpTheSecondTime(t *testing.T) {
	requireRegistries(t)
	base := plainRegistry + "/" + randomRepo() + ":v1"
	pushToRegistry(t, "local/busybox:latest", base)
	removeImage(base) // only the registry has it now
	t.Cleanup(func() { removeImage(base) })
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo " + name + " > /id\n"})
	args := buildArgs(name, dir, nil)
	args["build_method"] = "legacy"
	first := run(t, "buildkit_image", args)
	require.False(t, first.failed(), first.msg())
	assert.True(t, first.changed())
	assert.Equal(t, []any{base}, first["base_images_pulled"])
	second := run(t, "buildkit_image", args)
	require.False(t, second.failed(), second.msg())
	assert.False(t, second.changed(), "the second run builds nothing")
	assert.Equal(t, "none: the image's inputs are unchanged", second["build_reason"])
}

func TestLegacyRefusesBuildKitDockerfileNamingTheLine(t *testing.T) {
	name := uniqueName(t)
	dir := cacheMountContext(t)
	args := buildArgs(name, dir, nil)
	args["build_method"] = "legacy"
	res := run(t, "buildkit_image", args)
	assert.True(t, res.failed())
	assert.Contains(t, res.msg(), "line 5: RUN --mount=type=cache")
	assert.Contains(t, res.msg(), "build_method=legacy")
}

func TestFailingStepIsNotRetriedAndKeepsTheOldImage(t *testing.T) {
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo ok > /ok\n"})
	good := run(t, "buildkit_image", buildArgs(name, dir, nil))
	require.False(t, good.failed(), good.msg())

	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM local/busybox:latest\nRUN echo broken; exit 3\n"), 0o644))
	bad := run(t, "buildkit_image", buildArgs(name, dir, nil))
	assert.True(t, bad.failed())
	assert.Contains(t, bad.msg(), "exit code: 3")
	assert.Equal(t, float64(0), bad["build_retries"])
	id, ok := imageExists(t, name+":latest")
	require.True(t, ok)
	assert.Equal(t, good.imageID(), id, "a failed build leaves the previous image under the name")
}

func TestBuildTimeoutCancels(t *testing.T) {
	name := uniqueName(t)
	marker := "sleep 61" + fmt.Sprint(time.Now().UnixNano()%7) // a step no other test runs
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN " + marker + "\n"})
	args := buildArgs(name, dir, nil)
	args["build_timeout"] = 3
	tmp := t.TempDir()
	before := containerCount(t)
	res := run(t, "buildkit_image", args, map[string]any{"_ansible_tmpdir": tmp})
	assert.True(t, res.failed())
	assert.Contains(t, res.msg(), "timed out after 3s (build_timeout)")
	_, exists := imageExists(t, name+":latest")
	assert.False(t, exists)

	// Cancelled for real: the step's process ends, no container or temp file is left.
	gone := false
	for i := 0; i < 100 && !gone; i++ {
		out, _ := exec.Command("pgrep", "-f", marker).Output()
		gone = len(strings.TrimSpace(string(out))) == 0
		if !gone {
			time.Sleep(100 * time.Millisecond)
		}
	}
	assert.True(t, gone, "the RUN step's process was stopped")
	assert.Equal(t, before, containerCount(t), "no container left behind")
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "no temp file left behind")
}

func containerCount(t *testing.T) int {
	t.Helper()
	list, err := dockerClient(t).ContainerList(context.Background(), container.ListOptions{All: true})
	require.NoError(t, err)
	return len(list)
}

func TestBadInputsNameTheOption(t *testing.T) {
	dir := cacheMountContext(t)
	cases := []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"name": "x", "source": "build", "build": map[string]any{"path": "/does/not/exist"}}, "build.path"},
		{map[string]any{"name": "x", "source": "build", "build": map[string]any{"path": dir, "dockerfile": "Nope"}}, "build.dockerfile"},
		{map[string]any{"name": "x", "source": "build"}, "build"},
		{map[string]any{"name": "x"}, "source"},
		{map[string]any{"name": "Bad Name!", "source": "build", "build": map[string]any{"path": dir}}, "name"},
		{map[string]any{"name": "x", "tag": "bad tag", "source": "build", "build": map[string]any{"path": dir}}, "tag"},
		{map[string]any{"name": "sha256:" + strings.Repeat("a", 64), "source": "build", "build": map[string]any{"path": dir}}, "image ID"},
		{map[string]any{"name": "x", "source": "build", "build": map[string]any{"path": dir, "shm_size": "lots"}}, "build.shm_size"},
		{map[string]any{"name": "x", "source": "build", "build": map[string]any{"path": dir, "network": "mynet"}}, "network"},
		{map[string]any{"name": "x", "source": "build", "build_timeout": 0, "build": map[string]any{"path": dir}}, "build_timeout"},
		{map[string]any{"name": "x", "source": "build", "build": map[string]any{"path": dir, "container_limits": map[string]any{"memory": "huge"}}}, "build.container_limits.memory"},
		{map[string]any{"name": "x", "source": "fetch"}, "source"},
		{map[string]any{"name": "x", "source": "local", "docker_host": "ssh://user@host"}, "docker_host"},
		{map[string]any{"name": "x", "source": "build", "build": map[string]any{"path": dir}, "bogus": 1}, "bogus"},
	}
	for _, c := range cases {
		res := run(t, "buildkit_image", c.args)
		assert.True(t, res.failed(), "%v should fail", c.args)
		assert.Contains(t, res.msg(), c.want, "%v", c.args)
	}
}

func TestCreatedLabelDoesNotBreakIdempotence(t *testing.T) {
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo created > /c\n"})
	args := buildArgs(name, dir, map[string]any{"created_label": true})
	first := run(t, "buildkit_image", args)
	require.False(t, first.failed(), first.msg())
	created := first.label("org.opencontainers.image.created")
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT`, created)
	second := run(t, "buildkit_image", args)
	require.False(t, second.failed(), second.msg())
	assert.False(t, second.changed())
	assert.Equal(t, created, second.label("org.opencontainers.image.created"))
}

// TestNamedNetworkBuildsWithTheClassicBuilder: docker_image builds on a
// user-defined network; BuildKit has no such network mode, so build_method
// auto builds those with the classic builder, and says so.
func TestNamedNetworkBuildsWithTheClassicBuilder(t *testing.T) {
	net := "bk-it-net-" + strings.TrimPrefix(uniqueName(t), "bk-it-")
	out, err := exec.Command("docker", "network", "create", net).CombinedOutput()
	require.NoError(t, err, string(out))
	t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", net).Run() })
	name := uniqueName(t)
	// On a user-defined network the engine's embedded DNS answers at 127.0.0.11.
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN grep -q 127.0.0.11 /etc/resolv.conf && echo on-net > /net\n"})
	args := buildArgs(name, dir, map[string]any{"network": net})
	res := run(t, "buildkit_image", args)
	require.False(t, res.failed(), res.msg())
	assert.Equal(t, "legacy (docker engine classic builder)", res["builder"])
	assert.Contains(t, strings.Join(actionsOf(res), "\n"), "build.network: \""+net+"\" is a named network")
	again := run(t, "buildkit_image", args)
	require.False(t, again.failed(), again.msg())
	assert.False(t, again.changed())

	// A build that needs BuildKit cannot have it: the message names both.
	bk := buildArgs(uniqueName(t), cacheMountContext(t), map[string]any{"network": net})
	refused := run(t, "buildkit_image", bk)
	assert.True(t, refused.failed())
	assert.Contains(t, refused.msg(), "build.network: \""+net+"\" is a named network")
	assert.Contains(t, refused.msg(), "RUN --mount")
}
