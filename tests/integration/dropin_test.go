package integration

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// twice runs a task as community.docker's tests do: check mode, real run,
// then the same again; it returns the real runs.
func twice(t *testing.T, args map[string]any) (first, second result) {
	t.Helper()
	check := run(t, "buildkit_image", args, checkMode)
	require.False(t, check.failed(), "check mode: %s", check.msg())
	first = run(t, "buildkit_image", args)
	require.False(t, first.failed(), first.msg())
	assert.Equal(t, check.changed(), first.changed(), "check mode predicts the real run")
	assert.Equal(t, check["actions"], first["actions"], "check mode reports the same actions")
	check2 := run(t, "buildkit_image", args, checkMode)
	require.False(t, check2.failed(), "check mode: %s", check2.msg())
	second = run(t, "buildkit_image", args)
	require.False(t, second.failed(), second.msg())
	assert.Equal(t, check2.changed(), second.changed(), "check mode predicts the second run")
	return first, second
}

// builtImage builds a small unique image and returns its name (repository without tag).
func builtImage(t *testing.T) string {
	t.Helper()
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo " + name + " > /id\n"})
	res := run(t, "buildkit_image", buildArgs(name, dir, nil))
	require.False(t, res.failed(), res.msg())
	return name
}

func TestTagWithRepository(t *testing.T) {
	name := builtImage(t)
	alias := name + "-alias"
	t.Cleanup(func() { removeImage(alias + ":v2") })
	args := map[string]any{"name": name, "source": "local", "repository": alias + ":v2"}
	first, second := twice(t, args)
	assert.True(t, first.changed())
	assert.Equal(t, []any{"Tagged image " + name + ":latest to " + alias + ":v2"}, first["actions"])
	assert.False(t, second.changed())
	forced := run(t, "buildkit_image", map[string]any{"name": name, "source": "local", "repository": alias + ":v2", "force_tag": true})
	assert.False(t, forced.changed(), "force_tag onto the same image is not a change")
	assert.Equal(t, first["actions"], forced["actions"], "docker_image records the tag action all the same")
	byID := run(t, "buildkit_image", map[string]any{"name": first.imageID(), "source": "local", "repository": alias + ":v2"})
	require.False(t, byID.failed(), byID.msg())
	assert.False(t, byID.changed())

	bad := run(t, "buildkit_image", map[string]any{"name": name, "source": "local", "repository": first.imageID()})
	assert.True(t, bad.failed())
	assert.Contains(t, bad.msg(), "`repository` must not be an image ID")
	pushID := run(t, "buildkit_image", map[string]any{"name": first.imageID(), "source": "local", "push": true})
	assert.True(t, pushID.failed())
	assert.Contains(t, pushID.msg(), "Cannot push an image by ID")
	pullID := run(t, "buildkit_image", map[string]any{"name": first.imageID(), "source": "pull", "force_source": true})
	assert.True(t, pullID.failed())
	assert.Contains(t, pullID.msg(), "Image name must not be an image ID for source=pull")
}

func TestArchiveAndLoad(t *testing.T) {
	name := builtImage(t)
	archive := filepath.Join(t.TempDir(), "image.tar")
	first, second := twice(t, map[string]any{"name": name, "source": "local", "archive_path": archive})
	assert.True(t, first.changed())
	assert.Equal(t, []any{"Archived image " + name + ":latest to " + archive + ", since none present"}, first["actions"])
	assert.False(t, second.changed())
	st, err := os.Stat(archive)
	require.NoError(t, err)
	assert.Greater(t, st.Size(), int64(1000))

	other := builtImage(t)
	third := run(t, "buildkit_image", map[string]any{"name": other, "source": "local", "archive_path": archive})
	assert.True(t, third.changed(), "another image overwrites the archive")
	// As docker_image words it: the archived image's bare hash (its config file's name) and its names.
	assert.Regexp(t, "^"+regexp.QuoteMeta("Archived image "+other+":latest to "+archive+", overwriting archive with image ")+
		"[0-9a-f]{64} named "+regexp.QuoteMeta(name+":latest")+"$", third["actions"].([]any)[0])

	// Load it back after removing it.
	require.False(t, run(t, "buildkit_image", map[string]any{"name": other, "state": "absent"}).failed())
	load := map[string]any{"name": other, "source": "load", "load_path": archive}
	l1, l2 := twice(t, load)
	assert.True(t, l1.changed())
	assert.Equal(t, []any{"Loaded image " + other + ":latest from " + archive}, l1["actions"])
	assert.Equal(t, third.imageID(), l1.imageID())
	assert.False(t, l2.changed())
	// force_source loads again; the same image is no change, and check mode knows it from the archive.
	forcedLoad := map[string]any{"name": other, "source": "load", "load_path": archive, "force_source": true}
	fc := run(t, "buildkit_image", forcedLoad, checkMode)
	require.False(t, fc.failed(), fc.msg())
	fr := run(t, "buildkit_image", forcedLoad)
	require.False(t, fr.failed(), fr.msg())
	assert.False(t, fr.changed())
	assert.False(t, fc.changed(), "check mode reads the archive's manifest")

	wrong := run(t, "buildkit_image", map[string]any{"name": "foo:bar", "source": "load", "load_path": archive})
	assert.True(t, wrong.failed())
	assert.Equal(t, "The archive did not contain image 'foo:bar'. Instead, found '"+other+":latest'.", wrong.msg())

	junk := filepath.Join(t.TempDir(), "junk.tar")
	require.NoError(t, os.WriteFile(junk, []byte("not a tarball"), 0o644))
	bad := run(t, "buildkit_image", map[string]any{"name": "foo:bar", "source": "load", "load_path": junk})
	assert.True(t, bad.failed())

	missing := run(t, "buildkit_image", map[string]any{"name": "foo:bar", "source": "load", "load_path": "/no/such.tar"})
	assert.True(t, missing.failed())
	assert.Contains(t, missing.msg(), "Specified path /no/such.tar does not exist")
}

func TestPushAndPullPlainRegistry(t *testing.T) {
	requireRegistries(t)
	name := builtImage(t)
	repo := plainRegistry + "/" + randomRepo()
	t.Cleanup(func() { removeImage(repo + ":v1") })

	first, second := twice(t, map[string]any{"name": name, "source": "local", "repository": repo + ":v1", "push": true})
	assert.True(t, first.changed())
	// docker_image names the source image in the push action, not the repository.
	assert.Equal(t, []any{"Tagged image " + name + ":latest to " + repo + ":v1", "Pushed image " + name + " to " + repo + ":v1"}, first["actions"])
	assert.NotNil(t, first.image()["push_status"])
	assert.False(t, second.changed(), "the registry already has this image under the tag")
	assert.True(t, registryManifestExists(t, plainRegistry, strings.TrimPrefix(repo, plainRegistry+"/"), "v1", false))

	// Pull it back: missing locally -> pulled (changed); then present (not changed).
	removeImage(repo + ":v1")
	pull := map[string]any{"name": repo, "tag": "v1", "source": "pull", "pull": map[string]any{"platform": "linux/amd64"}}
	p1, p2 := twice(t, pull)
	assert.True(t, p1.changed())
	assert.Equal(t, []any{"Pulled image " + repo + ":v1"}, p1["actions"])
	assert.Equal(t, first.imageID(), p1.imageID())
	assert.False(t, p2.changed())
	forcedArgs := map[string]any{"name": repo, "tag": "v1", "source": "pull", "force_source": true}
	forcedCheck := run(t, "buildkit_image", forcedArgs, checkMode)
	require.False(t, forcedCheck.failed(), forcedCheck.msg())
	forced := run(t, "buildkit_image", forcedArgs)
	require.False(t, forced.failed(), forced.msg())
	assert.False(t, forced.changed(), "a forced pull of the same image is not a change")
	assert.False(t, forcedCheck.changed(), "check mode predicts it from the registry's digest")
}

func TestPushCredentials(t *testing.T) {
	requireRegistries(t)
	name := builtImage(t)
	repo := authRegistry + "/" + randomRepo()
	t.Cleanup(func() { removeImage(repo + ":latest") })
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no stored credentials

	denied := run(t, "buildkit_image", map[string]any{"name": name, "source": "local", "repository": repo, "push": true})
	assert.True(t, denied.failed())
	assert.Contains(t, denied.msg(), "Try logging into "+authRegistry+" first")
	assert.Equal(t, float64(0), denied["push_retries"], "an authentication error is not retried")

	args := map[string]any{"name": name, "source": "local", "repository": repo, "push": true,
		"registry_username": registryUser, "registry_password": registryPassword}
	ok := run(t, "buildkit_image", args)
	require.False(t, ok.failed(), ok.msg())
	assert.True(t, ok.changed())
	assert.True(t, registryManifestExists(t, authRegistry, strings.TrimPrefix(repo, authRegistry+"/"), "latest", true))
	out := strings.Join([]string{ok.msg(), toJSON(t, ok)}, "\n")
	assert.NotContains(t, out, registryPassword)
	again := run(t, "buildkit_image", args)
	require.False(t, again.failed(), again.msg())
	assert.False(t, again.changed())
}

func TestPushRetriesTransientRegistryErrors(t *testing.T) {
	requireRegistries(t)
	name := builtImage(t)
	// The engine retries blob uploads itself (waiting 5-20 s) but not the
	// manifest PUT: 503s there are the module's to retry.
	proxy, hits := flakyProxyMatching(t, plainRegistry, 3, 503, isManifestPut)
	repo := proxy + "/" + randomRepo()
	t.Cleanup(func() { removeImage(repo + ":latest") })
	res := run(t, "buildkit_image", map[string]any{"name": name, "source": "local", "repository": repo, "push": true,
		"retries": 4, "retry_delay": 0.2})
	require.False(t, res.failed(), res.msg())
	assert.True(t, res.changed())
	assert.Equal(t, 3, hits(), "every planned 503 was served")
	if engineHasContainerdStore(t) {
		// containerd's registry client retries a 503 once itself: 3 failures take 1 or 2 module retries.
		assert.GreaterOrEqual(t, res["push_retries"], float64(1))
		assert.LessOrEqual(t, res["push_retries"], float64(3))
	} else {
		assert.Equal(t, float64(3), res["push_retries"])
	}
	assert.True(t, registryManifestExists(t, proxy, strings.TrimPrefix(repo, proxy+"/"), "latest", false))

	// Too many failures: the push fails after retries+1 tries, saying why.
	proxy2, _ := flakyProxyMatching(t, plainRegistry, 100, 503, isManifestPut)
	repo2 := proxy2 + "/" + randomRepo()
	t.Cleanup(func() { removeImage(repo2 + ":latest") })
	failed := run(t, "buildkit_image", map[string]any{"name": name, "source": "local", "repository": repo2, "push": true,
		"retries": 2, "retry_delay": 0.1})
	assert.True(t, failed.failed())
	assert.Contains(t, failed.msg(), "503")
	assert.Equal(t, float64(2), failed["push_retries"])
}

func TestUseConfigProxy(t *testing.T) {
	cfg := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"proxies":{"default":{"httpProxy":"http://proxy.example:3128","noProxy":"localhost"}}}`), 0o600))
	t.Setenv("DOCKER_CONFIG", cfg)
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nARG HTTP_PROXY\nARG NO_PROXY\nRUN echo \"$HTTP_PROXY $NO_PROXY\" > /proxy\n"})
	res := run(t, "buildkit_image", buildArgs(name, dir, map[string]any{"use_config_proxy": true}))
	require.False(t, res.failed(), res.msg())
	_, files := savedImage(t, name+":latest")
	assert.Equal(t, "http://proxy.example:3128 localhost\n", string(files["proxy"]))
}

// TestPushCredentialsFromDockerConfig: with no registry_username, the
// credentials come from the docker CLI's config.json, as `docker push` finds
// them: a stored auth, or a credential helper (docker-credential-<name> on PATH).
func TestPushCredentialsFromDockerConfig(t *testing.T) {
	requireRegistries(t)
	name := builtImage(t)

	// A stored auth ("docker login" without a helper).
	cfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg)
	auth := base64.StdEncoding.EncodeToString([]byte(registryUser + ":" + registryPassword))
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "config.json"),
		[]byte(`{"auths": {"`+authRegistry+`": {"auth": "`+auth+`"}}}`), 0o600))
	repo := authRegistry + "/" + randomRepo()
	t.Cleanup(func() { removeImage(repo + ":latest") })
	stored := run(t, "buildkit_image", map[string]any{"name": name, "source": "local", "repository": repo, "push": true})
	require.False(t, stored.failed(), stored.msg())
	assert.True(t, registryManifestExists(t, authRegistry, strings.TrimPrefix(repo, authRegistry+"/"), "latest", true))

	// A credential helper.
	bin := t.TempDir()
	helper := "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n" +
		"printf '{\"ServerURL\":\"%s\",\"Username\":\"" + registryUser + "\",\"Secret\":\"" + registryPassword + "\"}' \"$server\"\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "docker-credential-bktest"), []byte(helper), 0o755))
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	cfg2 := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg2)
	require.NoError(t, os.WriteFile(filepath.Join(cfg2, "config.json"), []byte(`{"credHelpers": {"`+authRegistry+`": "bktest"}}`), 0o600))
	repo2 := authRegistry + "/" + randomRepo()
	t.Cleanup(func() { removeImage(repo2 + ":latest") })
	helped := run(t, "buildkit_image", map[string]any{"name": name, "source": "local", "repository": repo2, "push": true})
	require.False(t, helped.failed(), helped.msg())
	assert.True(t, registryManifestExists(t, authRegistry, strings.TrimPrefix(repo2, authRegistry+"/"), "latest", true))
	assert.NotContains(t, toJSON(t, helped), registryPassword, "the helper's secret is not in the result")
}
