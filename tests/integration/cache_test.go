package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fillCache builds n images with distinct layers of size bytes each, then
// removes the images: what stays is build cache only.
func fillCache(t *testing.T, n, size int) {
	t.Helper()
	for i := 0; i < n; i++ {
		name := uniqueName(t)
		dir := writeContext(t, map[string]string{"Dockerfile": fmt.Sprintf(
			"FROM local/busybox:latest\nRUN head -c %d /dev/urandom > /blob && echo %s-%d > /id\n", size, name, i)})
		res := run(t, "buildkit_image", buildArgs(name, dir, nil))
		require.False(t, res.failed(), res.msg())
		removeImage(name + ":latest")
	}
}

func cacheInfo(t *testing.T) map[string]any {
	t.Helper()
	res := run(t, "buildkit_cache", map[string]any{"state": "info"})
	require.False(t, res.failed(), res.msg())
	assert.False(t, res.changed())
	return res["cache"].(map[string]any)
}

func TestCachePruneByAgeAndSize(t *testing.T) {
	fillCache(t, 3, 2<<20)
	before := cacheInfo(t)
	require.Greater(t, before["total_bytes"], float64(6<<20))

	// Check mode deletes nothing but says what it would reclaim.
	check := run(t, "buildkit_cache", map[string]any{"state": "pruned", "keep_storage": "1MB"}, checkMode)
	require.False(t, check.failed(), check.msg())
	assert.True(t, check.changed())
	assert.Greater(t, check["reclaimed_bytes"], float64(0))
	// (Record sizes can move by a few bytes of metadata between two reads.)
	afterCheck := cacheInfo(t)
	assert.Equal(t, before["records"], afterCheck["records"], "check mode deleted nothing")
	assert.InDelta(t, before["total_bytes"], afterCheck["total_bytes"], 64<<10, "check mode deleted nothing")

	// By size.
	sized := run(t, "buildkit_cache", map[string]any{"state": "pruned", "keep_storage": "1MB"})
	require.False(t, sized.failed(), sized.msg())
	assert.True(t, sized.changed())
	b := sized["before"].(map[string]any)["total_bytes"].(float64)
	a := sized["after"].(map[string]any)["total_bytes"].(float64)
	// (As above, records other than the pruned ones can move by a few bytes of metadata meanwhile.)
	assert.InDelta(t, b-a, sized["reclaimed_bytes"], 64<<10, "reclaimed bytes match the cache before and after")
	assert.Less(t, a, b-float64(5<<20), "the unused 2 MB layers went")

	// By age: nothing is older than a day; everything unused is older than a second.
	fillCache(t, 2, 1<<20)
	day := run(t, "buildkit_cache", map[string]any{"state": "pruned", "older_than": "24h"})
	require.False(t, day.failed(), day.msg())
	assert.False(t, day.changed(), "nothing is a day old")
	time.Sleep(2 * time.Second)
	sec := run(t, "buildkit_cache", map[string]any{"state": "pruned", "older_than": "1s"})
	require.False(t, sec.failed(), sec.msg())
	assert.True(t, sec.changed())
	assert.Greater(t, sec["reclaimed_bytes"], float64(1<<20))
	again := run(t, "buildkit_cache", map[string]any{"state": "pruned", "older_than": "1s"})
	assert.False(t, again.changed(), "a second prune has nothing left to do")
}

func TestCacheResetKeepsEverythingElse(t *testing.T) {
	fillCache(t, 1, 1<<20)
	vol := "bk-it-keep-" + strings.TrimPrefix(uniqueName(t), "bk-it-")
	ctr := vol + "-ctr"
	out, err := exec.Command("docker", "volume", "create", vol).CombinedOutput()
	require.NoError(t, err, string(out))
	t.Cleanup(func() { _ = exec.Command("docker", "volume", "rm", "-f", vol).Run() })
	out, err = exec.Command("docker", "run", "-d", "--name", ctr, "-v", vol+":/data", "local/busybox:latest", "sleep", "300").CombinedOutput()
	require.NoError(t, err, string(out))
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", ctr).Run() })

	res := run(t, "buildkit_cache", map[string]any{"state": "reset"})
	require.False(t, res.failed(), res.msg())
	assert.True(t, res.changed())
	after := res["after"].(map[string]any)
	// BuildKit v0.33 (current engines) can hold records of a cancelled build
	// in use until the engine restarts; those cannot be pruned and are reported.
	assert.Equal(t, after["in_use_records"], after["records"], "the build cache holds nothing that is not in use")
	if after["in_use_records"].(float64) > 0 {
		assert.Contains(t, toJSON(t, res["warnings"]), "in use")
	}

	_, err = dockerClient(t).VolumeInspect(context.Background(), vol)
	assert.NoError(t, err, "the volume survives")
	c, err := dockerClient(t).ContainerInspect(context.Background(), ctr)
	require.NoError(t, err, "the container survives")
	assert.True(t, c.State.Running)
	_, exists := imageExists(t, "local/busybox:latest")
	assert.True(t, exists, "images survive")

	// A build works after the reset.
	fillCache(t, 1, 1024)
}

func TestDiagnose(t *testing.T) {
	requireRegistries(t)
	res := run(t, "buildkit_cache", map[string]any{"state": "diagnose", "registries": []any{plainRegistry, authRegistry}})
	require.False(t, res.failed(), res.msg())
	assert.False(t, res.changed())
	byName := map[string]map[string]any{}
	for _, c := range res["checks"].([]any) {
		m := c.(map[string]any)
		byName[m["name"].(string)] = m
	}
	assert.Equal(t, "ok", byName["engine"]["status"])
	assert.Equal(t, "ok", byName["buildkit"]["status"])
	assert.Contains(t, byName["disk"]["detail"], "free at")
	assert.Equal(t, "ok", byName["registry "+plainRegistry]["status"])
	assert.Equal(t, "ok", byName["registry "+authRegistry]["status"], "401 means reachable")

	// The engine down: a fail with its remediation, not a crash.
	down := run(t, "buildkit_cache", map[string]any{"state": "diagnose", "docker_host": "unix://" + filepath.Join(t.TempDir(), "no-engine.sock"),
		"registries": []any{"127.0.0.1:1"}})
	require.False(t, down.failed(), down.msg())
	assert.Equal(t, "fail", down["status"])
	first := down["checks"].([]any)[0].(map[string]any)
	assert.Equal(t, "engine", first["name"])
	assert.Equal(t, "fail", first["status"])
	assert.Contains(t, first["remediation"], "start the Docker engine")
}

func TestCacheCommandForCron(t *testing.T) {
	bin := filepath.Join(binDir, "buildkit_cache")
	out, err := exec.Command(bin, "prune", "--keep-storage", "10GB", "--older-than", "72h", "--dry-run", "--json").Output()
	require.NoError(t, err, string(out))
	var res map[string]any
	require.NoError(t, json.Unmarshal(out, &res))
	assert.Contains(t, res, "reclaimed_bytes")
	human, err := exec.Command(bin, "info").CombinedOutput()
	require.NoError(t, err, string(human))
	assert.Contains(t, string(human), "build cache:")
	bad := exec.Command(bin, "prune", "--keep-storage", "lots")
	msg, err := bad.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(msg), "keep_storage")
}
