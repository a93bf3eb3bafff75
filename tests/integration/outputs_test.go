package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFileOutputs(t *testing.T) {
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo exported > /marker\n"})
	out := t.TempDir()
	localDir := filepath.Join(out, "rootfs")
	tarball := filepath.Join(out, "image.tar")
	args := buildArgs(name, dir, map[string]any{"outputs": []any{
		map[string]any{"type": "local", "dest": localDir},
		map[string]any{"type": "tar", "dest": tarball},
	}})
	first, second := twice(t, args)
	assert.True(t, first.changed())
	assert.Contains(t, first["actions"], "Exported image "+name+":latest as local to "+localDir)
	assert.Contains(t, first["actions"], "Exported image "+name+":latest as tar to "+tarball)
	marker, err := os.ReadFile(filepath.Join(localDir, "marker"))
	require.NoError(t, err)
	assert.Equal(t, "exported\n", string(marker))
	st, err := os.Stat(tarball)
	require.NoError(t, err)
	assert.Greater(t, st.Size(), int64(1000))
	_, exists := imageExists(t, name+":latest")
	assert.True(t, exists, "the image is in the engine as well")
	assert.False(t, second.changed(), "outputs present and inputs unchanged: nothing to do")

	// type=docker with dest: a tarball `docker load` (and source: load) takes, named like the image.
	dockerTar := filepath.Join(out, "docker.tar")
	withDocker := buildArgs(name, dir, map[string]any{"outputs": []any{map[string]any{"type": "docker", "dest": dockerTar}}})
	exported := run(t, "buildkit_image", withDocker)
	require.False(t, exported.failed(), exported.msg())
	assert.Contains(t, exported["actions"], "Exported image "+name+":latest as docker to "+dockerTar)
	removeImage(name + ":latest")
	loaded := run(t, "buildkit_image", map[string]any{"name": name, "source": "load", "load_path": dockerTar})
	require.False(t, loaded.failed(), loaded.msg())
	assert.True(t, loaded.changed())

	// A removed output is written again.
	require.NoError(t, os.Remove(tarball))
	again := run(t, "buildkit_image", args)
	require.False(t, again.failed(), again.msg())
	assert.True(t, again.changed())
	assert.Equal(t, []any{"Exported image " + name + ":latest as tar to " + tarball}, again["actions"])
}

func TestImageOutputNamesAndPush(t *testing.T) {
	requireRegistries(t)
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo " + name + " > /id\n"})
	pushed := plainRegistry + "/" + randomRepo() + ":v1"
	t.Cleanup(func() { removeImage(pushed) })
	args := buildArgs(name, dir, map[string]any{"outputs": []any{
		map[string]any{"type": "image", "name": []any{pushed}, "push": true},
	}})
	first, second := twice(t, args)
	assert.True(t, first.changed())
	repo, tag, _ := strings.Cut(strings.TrimPrefix(pushed, plainRegistry+"/"), ":")
	assert.True(t, registryManifestExists(t, plainRegistry, repo, tag, false))
	assert.False(t, second.changed())
}

func TestCacheExport(t *testing.T) {
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo cache > /c\n"})
	inline := run(t, "buildkit_image", buildArgs(name, dir, map[string]any{"cache_to": []any{map[string]any{"type": "inline"}}}))
	require.False(t, inline.failed(), inline.msg())
	assert.True(t, inline.changed())

	// The inline cache of an engine image is a cache source for another build.
	other := uniqueName(t)
	from := run(t, "buildkit_image", buildArgs(other, dir, map[string]any{"nocache": false, "cache_from": []any{name + ":latest", map[string]any{"type": "registry", "ref": name + ":latest"}}}))
	require.False(t, from.failed(), from.msg())

	registry := run(t, "buildkit_image", buildArgs(uniqueName(t), dir, map[string]any{"cache_to": []any{map[string]any{"type": "registry", "ref": "127.0.0.1:5000/cache/x", "mode": "max"}}}))
	if engineHasContainerdStore(t) {
		// A current engine's own builder exports caches.
		require.False(t, registry.failed(), registry.msg())
		assert.True(t, registryManifestExists(t, plainRegistry, "cache/x", "latest", false), "the cache is in the registry")
	} else {
		// Engines on the classic image store (Docker 20.10) export inline caches only, and say so.
		assert.True(t, registry.failed())
		assert.Contains(t, registry.msg(), "build.cache_to[0]: type=registry needs a BuildKit that exports caches")
	}
	badFrom := run(t, "buildkit_image", buildArgs(uniqueName(t), dir, map[string]any{"cache_from": []any{map[string]any{"type": "ftp"}}}))
	assert.True(t, badFrom.failed())
	assert.Contains(t, badFrom.msg(), "build.cache_from[0].type")
	badTo := run(t, "buildkit_image", buildArgs(uniqueName(t), dir, map[string]any{"cache_to": []any{map[string]any{"type": "local"}}}))
	assert.True(t, badTo.failed())
	assert.Contains(t, badTo.msg(), "build.cache_to[0]: type=local needs dest")
}
