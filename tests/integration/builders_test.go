package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/volume"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testBuildKitImage is a BuildKit image made here (no registry can be pulled
// from): the pinned buildkitd and buildctl, Debian's runc and its libraries,
// on the local busybox image.
const testBuildKitImage = "local/buildkit:test"

var buildkitImageOnce sync.Once

func buildkitImage(t *testing.T) string {
	t.Helper()
	buildkitImageOnce.Do(func() {
		dir := t.TempDir()
		copyFile := func(src, dst string) {
			b, err := os.ReadFile(src)
			require.NoError(t, err)
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, dst)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, dst), b, 0o755))
		}
		for _, env := range []string{"BUILDKITD", "BUILDCTL"} {
			bin := os.Getenv(env)
			require.NotEmpty(t, bin, "%s is not set: run .ci/tools/build.sh (tests/run does)", env)
			copyFile(bin, "root/usr/bin/"+strings.ToLower(env))
		}
		runc, err := exec.LookPath("runc")
		require.NoError(t, err, "Debian's runc (docker.io depends on it)")
		copyFile(runc, "root/usr/bin/runc")
		out, err := exec.Command("ldd", runc).Output()
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`(/[^ ]+\.so[^ ]*)`).FindAllString(string(out), -1) {
			copyFile(m, "root"+m)
		}
		df := "FROM local/busybox:latest\nCOPY root/ /\nRUN mkdir -p /run/buildkit /etc/buildkit /var/lib/buildkit\n" +
			"ENV PATH=/usr/bin:/bin\nVOLUME /var/lib/buildkit\nENTRYPOINT [\"buildkitd\"]\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644))
		cmd := exec.Command("docker", "build", "-q", "-t", testBuildKitImage, dir)
		cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
		b, err := cmd.CombinedOutput()
		require.NoError(t, err, string(b))
	})
	return testBuildKitImage
}

// registryBase pushes the local busybox image to the plain test registry, so
// builders that cannot see the engine's images can build FROM it.
func registryBase(t *testing.T) string {
	t.Helper()
	requireRegistries(t)
	ref := plainRegistry + "/bk-it/busybox:latest"
	pushToRegistry(t, "local/busybox:latest", ref)
	return ref
}

// pushToRegistry tags the engine's image src as ref and pushes it (no auth).
func pushToRegistry(t *testing.T, src, ref string) {
	t.Helper()
	api := dockerClient(t)
	ctx := context.Background()
	require.NoError(t, api.ImageTag(ctx, src, ref))
	rc, err := api.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: "e30="})
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, rc)
	rc.Close()
}

// removeBuilderWhenDone removes a docker-container builder's container and
// state volume when the test ends.
func removeBuilderWhenDone(t *testing.T, name string) {
	t.Cleanup(func() {
		api := dockerClient(t)
		_ = api.ContainerRemove(context.Background(), "buildx_buildkit_"+name+"0", container.RemoveOptions{Force: true})
		_ = api.VolumeRemove(context.Background(), "buildx_buildkit_"+name+"0_state", true)
	})
}

// containerBuilder is a builder option for a fresh docker-container builder,
// removed (with its state) when the test ends.
func containerBuilder(t *testing.T, name string, extra map[string]any) map[string]any {
	t.Helper()
	b := map[string]any{"driver": "docker-container", "name": name, "image": buildkitImage(t), "network": "host",
		"insecure_registries": []any{plainRegistry}}
	for k, v := range extra {
		b[k] = v
	}
	removeBuilderWhenDone(t, name)
	return b
}

func actionsOf(r result) []string {
	var out []string
	list, _ := r["actions"].([]any)
	for _, a := range list {
		s, _ := a.(string)
		out = append(out, s)
	}
	return out
}

func TestDockerContainerBuilder(t *testing.T) {
	dockerCfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dockerCfg)
	base := registryBase(t)
	name := uniqueName(t)
	bname := "bk-it-b-" + name[len("bk-it-"):]
	dir := writeContext(t, map[string]string{
		"Dockerfile":  "FROM " + base + "\nCOPY payload.txt /payload.txt\nRUN cat /payload.txt > /copied.txt\n",
		"payload.txt": "built in a container builder\n",
	})
	args := buildArgs(name, dir, nil)
	args["builder"] = containerBuilder(t, bname, map[string]any{"memory": "1g", "cpus": "1.5"})

	first := run(t, "buildkit_image", args)
	require.False(t, first.failed(), first.msg())
	assert.True(t, first.changed())
	assert.Equal(t, "buildkit (docker-container "+bname+")", first["builder"])
	assert.Contains(t, actionsOf(first), fmt.Sprintf("Created builder %s (container buildx_buildkit_%s0)", bname, bname))
	_, files := savedImage(t, name+":latest")
	assert.Equal(t, "built in a container builder\n", string(files["copied.txt"]), "RUN ran in the builder; the result is in the engine")

	api := dockerClient(t)
	ctx := context.Background()
	info, err := api.ContainerInspect(ctx, "buildx_buildkit_"+bname+"0")
	require.NoError(t, err)
	assert.True(t, info.State.Running)
	assert.Equal(t, int64(1<<30), info.HostConfig.Memory, "memory limit applied to the builder's container")
	assert.Equal(t, int64(150000), info.HostConfig.CPUQuota, "cpus=1.5 is a CFS quota of 150000/100000")
	assert.Equal(t, int64(100000), info.HostConfig.CPUPeriod)
	_, err = api.VolumeInspect(ctx, "buildx_buildkit_"+bname+"0_state")
	assert.NoError(t, err, "state volume")

	second := run(t, "buildkit_image", args)
	require.False(t, second.failed(), second.msg())
	assert.False(t, second.changed(), "unchanged inputs: no build")

	// New limits are applied to the running builder; its cache stays.
	args["builder"].(map[string]any)["memory"] = "2g"
	args["force_source"] = true
	third := run(t, "buildkit_image", args)
	require.False(t, third.failed(), third.msg())
	assert.Contains(t, actionsOf(third), "Updated builder "+bname+": memory 2g")
	assert.NotContains(t, strings.Join(actionsOf(third), "\n"), "Created builder")
	info, err = api.ContainerInspect(ctx, "buildx_buildkit_"+bname+"0")
	require.NoError(t, err)
	assert.Equal(t, int64(2<<30), info.HostConfig.Memory)
	assert.Equal(t, 1.0, third["cache_hit_ratio"], "a forced rebuild of unchanged inputs comes from the builder's cache")

	// buildx's store knows our builder.
	var ng map[string]any
	b, err := os.ReadFile(filepath.Join(dockerCfg, "buildx", "instances", bname))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &ng))
	assert.Equal(t, "docker-container", ng["Driver"])
	if bx := os.Getenv("BUILDX"); bx != "" {
		require.NoError(t, os.MkdirAll(filepath.Join(dockerCfg, "cli-plugins"), 0o755))
		require.NoError(t, os.Symlink(bx, filepath.Join(dockerCfg, "cli-plugins", "docker-buildx")))
		out, err := exec.Command("docker", "buildx", "ls").CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Contains(t, string(out), bname, "docker buildx ls lists our builder")
		assert.Contains(t, string(out), "docker-container")

		// A builder made by `docker buildx create` is used as it is.
		made := "bk-it-bx-" + name[len("bk-it-"):]
		out, err = exec.Command("docker", "buildx", "create", "--name", made, "--driver", "docker-container",
			"--driver-opt", "image="+buildkitImage(t)+",network=host").CombinedOutput()
		require.NoError(t, err, string(out))
		t.Cleanup(func() { _ = exec.Command("docker", "buildx", "rm", "--force", made).Run() })
		other := buildArgs(uniqueName(t), writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nLABEL made.by=buildx\n"}), nil)
		other["builder"] = map[string]any{"driver": "docker-container", "name": made}
		res := run(t, "buildkit_image", other)
		require.False(t, res.failed(), res.msg())
		assert.Equal(t, "buildkit (docker-container "+made+")", res["builder"])
		assert.Equal(t, "buildx", res.label("made.by"))
	}

	missing := run(t, "buildkit_image", map[string]any{"name": uniqueName(t), "source": "build", "build": map[string]any{"path": dir},
		"builder": map[string]any{"driver": "docker-container", "name": "bk-it-never-made"}})
	assert.True(t, missing.failed())
	assert.Contains(t, missing.msg(), "builder.image is not set")
	bad := run(t, "buildkit_image", map[string]any{"name": uniqueName(t), "source": "build", "build": map[string]any{"path": dir},
		"builder": map[string]any{"driver": "docker-container", "name": bname, "memory": "lots"}})
	assert.True(t, bad.failed())
	assert.Contains(t, bad.msg(), "builder.memory")
}

// registryIndex fetches repo:tag's manifest list / OCI index from the plain registry.
func registryIndex(t *testing.T, repo, tag string) map[string]any {
	t.Helper()
	return registryGetManifest(t, repo, tag, "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json")
}

// registryManifest fetches an image manifest by digest from the plain registry.
func registryManifest(t *testing.T, repo, digest string) map[string]any {
	t.Helper()
	return registryGetManifest(t, repo, digest, "application/vnd.oci.image.manifest.v1+json")
}

func registryGetManifest(t *testing.T, repo, ref, accept string) map[string]any {
	t.Helper()
	req, err := http.NewRequest("GET", fmt.Sprintf("http://%s/v2/%s/manifests/%s", plainRegistry, repo, ref), nil)
	require.NoError(t, err)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return m
}

func TestMultiPlatformPushWithProvenance(t *testing.T) {
	requireRegistries(t)
	name := uniqueName(t)
	repo := "bk-it/multi-" + name[len("bk-it-"):]
	dir := writeContext(t, map[string]string{
		"Dockerfile":  "FROM scratch\nARG TARGETPLATFORM\nCOPY payload.txt /payload.txt\nLABEL built.for=$TARGETPLATFORM\n",
		"payload.txt": "one per platform\n",
	})
	args := map[string]any{"name": plainRegistry + "/" + repo, "tag": "v1", "source": "build", "push": true,
		"build":   map[string]any{"path": dir, "platform": []any{"linux/amd64", "linux/arm64"}, "provenance": "max"},
		"builder": containerBuilder(t, "bk-it-mp-"+name[len("bk-it-"):], nil)}

	noPush := map[string]any{}
	for k, v := range args {
		noPush[k] = v
	}
	noPush["push"] = false
	refused := run(t, "buildkit_image", noPush)
	assert.True(t, refused.failed())
	assert.Contains(t, refused.msg(), "build.platform lists 2 platforms")
	assert.Contains(t, refused.msg(), "push: true")

	check := run(t, "buildkit_image", args, checkMode)
	require.False(t, check.failed(), check.msg())
	assert.True(t, check.changed())

	first := run(t, "buildkit_image", args)
	require.False(t, first.failed(), first.msg())
	assert.True(t, first.changed())
	digest := first.imageID()
	assert.True(t, strings.HasPrefix(digest, "sha256:"), digest)

	idx := registryIndex(t, repo, "v1")
	var plats []string
	attestations := 0
	for _, m := range idx["manifests"].([]any) {
		m := m.(map[string]any)
		p := m["platform"].(map[string]any)
		ann, _ := m["annotations"].(map[string]any)
		if ann["vnd.docker.reference.type"] == "attestation-manifest" {
			attestations++
			continue
		}
		plats = append(plats, fmt.Sprintf("%s/%s", p["os"], p["architecture"]))
	}
	assert.ElementsMatch(t, []string{"linux/amd64", "linux/arm64"}, plats, "a manifest list of both platforms")
	assert.Equal(t, 2, attestations, "a provenance attestation manifest per platform")

	second := run(t, "buildkit_image", args)
	require.False(t, second.failed(), second.msg())
	assert.False(t, second.changed(), "unchanged inputs, registry still has what was pushed")
	assert.Equal(t, digest, second.imageID())

	// The engine's own BuildKit (classic store) cannot hold several platforms: refused before any work.
	engine := map[string]any{"name": name, "source": "build", "build": map[string]any{"path": dir, "platform": "linux/amd64,linux/arm64"}}
	if engineHasContainerdStore(t) {
		// A current engine's own builder holds several platforms and
		// attestations in its image store, and pushes them.
		erepo := repo + "-engine"
		eargs := map[string]any{"name": plainRegistry + "/" + erepo, "source": "build", "push": true,
			"build": map[string]any{"path": dir, "platform": []any{"linux/amd64", "linux/arm64"}, "provenance": "min"}}
		res := run(t, "buildkit_image", eargs)
		require.False(t, res.failed(), res.msg())
		assert.Equal(t, "buildkit (docker engine)", res["builder"])
		var eplats []string
		for _, m := range registryIndex(t, erepo, "latest")["manifests"].([]any) {
			p := m.(map[string]any)["platform"].(map[string]any)
			eplats = append(eplats, fmt.Sprintf("%s/%s", p["os"], p["architecture"]))
		}
		assert.Contains(t, eplats, "linux/amd64")
		assert.Contains(t, eplats, "linux/arm64")
		assert.Contains(t, eplats, "unknown/unknown", "provenance attestation manifests")
		again := run(t, "buildkit_image", eargs)
		require.False(t, again.failed(), again.msg())
		assert.False(t, again.changed(), "unchanged inputs: no build, registry up to date")
		removeImage(plainRegistry + "/" + erepo + ":latest")
	} else {
		res := run(t, "buildkit_image", engine)
		assert.True(t, res.failed())
		assert.Contains(t, res.msg(), "keeps one platform per image")
		// Attestations on the engine's builder: built, with a warning that none were produced.
		one := run(t, "buildkit_image", map[string]any{"name": name, "source": "build", "build": map[string]any{"path": dir, "provenance": "min"}})
		require.False(t, one.failed(), one.msg())
		assert.Contains(t, toJSON(t, one["warnings"]), "none were produced")
	}
}

func engineHasContainerdStore(t *testing.T) bool {
	info, err := dockerClient(t).Info(context.Background())
	require.NoError(t, err)
	for _, kv := range info.DriverStatus {
		if kv[0] == "driver-type" && strings.Contains(kv[1], "snapshotter") {
			return true
		}
	}
	return false
}

func TestRegistryCacheSharedBetweenBuilders(t *testing.T) {
	base := registryBase(t)
	id := uniqueName(t)[len("bk-it-"):]
	cacheRef := plainRegistry + "/bk-it/cache-" + id + ":buildcache"
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM " + base + "\nRUN sleep 2 && dd if=/dev/urandom of=/blob bs=1M count=8 2>/dev/null\n" +
			"COPY app.txt /app.txt\nRUN sleep 2 && sha256sum /blob /app.txt > /sums\n",
		"app.txt": "application\n",
	})
	build := func(builderName, image string, extra map[string]any) (result, time.Duration) {
		args := buildArgs(image, dir, extra)
		args["builder"] = containerBuilder(t, builderName, nil)
		args["force_source"] = true
		start := time.Now()
		res := run(t, "buildkit_image", args)
		require.False(t, res.failed(), res.msg())
		return res, time.Since(start)
	}
	// Builder B, cold: its builder up first so that start-up is not timed.
	nameB := "bk-it-cb-" + id
	warmup, _ := build(nameB, uniqueName(t), map[string]any{"nocache": true})
	_ = warmup
	_, cold := build(nameB, uniqueName(t), map[string]any{"nocache": true})

	// Builder A exports its cache to the registry (mode=max: every stage).
	imgA := uniqueName(t)
	a, _ := build("bk-it-ca-"+id, imgA, map[string]any{"cache_to": []any{map[string]any{"type": "registry", "ref": cacheRef, "mode": "max"}}})
	assert.True(t, registryManifestExists(t, plainRegistry, "bk-it/cache-"+id, "buildcache", false), "cache exported")
	_ = a

	// B's own cache pruned; it builds from A's registry cache.
	pr := run(t, "buildkit_cache", map[string]any{"state": "pruned", "all": true, "builder": containerBuilder(t, nameB, nil)})
	require.False(t, pr.failed(), pr.msg())
	imgB := uniqueName(t)
	b, warm := build(nameB, imgB, map[string]any{"cache_from": []any{map[string]any{"type": "registry", "ref": cacheRef}}})
	assert.GreaterOrEqual(t, b["cache_hit_ratio"], 0.99, "B's steps come from A's registry cache: %v", b["stdout"])
	_, filesA := savedImage(t, imgA+":latest")
	_, filesB := savedImage(t, imgB+":latest")
	assert.Equal(t, filesA["sums"], filesB["sums"], "same image content")
	t.Logf("builder B: cold %.2fs, warm from registry cache %.2fs (ratio %.2f)", cold.Seconds(), warm.Seconds(), warm.Seconds()/cold.Seconds())
	assert.Less(t, warm, cold)
}

func TestBuilderFallback(t *testing.T) {
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo fallback > /f\n"})
	unreachable := map[string]any{"driver": "remote", "endpoint": "tcp://127.0.0.1:9", "insecure": true}

	args := buildArgs(name, dir, nil)
	args["builder"] = unreachable
	strict := run(t, "buildkit_image", args)
	assert.True(t, strict.failed())
	assert.Contains(t, strict.msg(), "127.0.0.1:9")
	_, exists := imageExists(t, name+":latest")
	assert.False(t, exists)

	unreachable["fallback"] = true
	res := run(t, "buildkit_image", args)
	require.False(t, res.failed(), res.msg())
	assert.True(t, res.changed())
	assert.Equal(t, "buildkit (docker engine)", res["builder"])
	require.NotEmpty(t, actionsOf(res))
	assert.Contains(t, strings.Join(actionsOf(res), "\n"), "Fell back from builder.driver=remote to the engine's BuildKit")
	assert.Contains(t, toJSON(t, res["warnings"]), "builder.fallback")
}

func TestResetContainerBuilderTouchesOnlyItsOwn(t *testing.T) {
	name := uniqueName(t)
	bname := "bk-it-rs-" + name[len("bk-it-"):]
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY payload.txt /p\n", "payload.txt": "reset me\n"})
	args := buildArgs(name, dir, nil)
	args["builder"] = containerBuilder(t, bname, nil)
	first := run(t, "buildkit_image", args)
	require.False(t, first.failed(), first.msg())

	api := dockerClient(t)
	ctx := context.Background()
	before, err := api.ContainerInspect(ctx, "buildx_buildkit_"+bname+"0")
	require.NoError(t, err)
	// Something that is not the builder's: a volume and a stopped container.
	bystander := "bk-it-bystander-" + name[len("bk-it-"):]
	_, err = api.VolumeCreate(ctx, volume.CreateOptions{Name: bystander})
	require.NoError(t, err)
	t.Cleanup(func() { _ = api.VolumeRemove(context.Background(), bystander, true) })

	info := run(t, "buildkit_cache", map[string]any{"state": "info", "builder": map[string]any{"driver": "docker-container", "name": bname}})
	require.False(t, info.failed(), info.msg())
	assert.Equal(t, bname, info["cache"].(map[string]any)["builder"])
	assert.Greater(t, info["cache"].(map[string]any)["records"], 0.0)

	check := run(t, "buildkit_cache", map[string]any{"state": "reset", "builder": map[string]any{"driver": "docker-container", "name": bname}}, checkMode)
	require.False(t, check.failed(), check.msg())
	assert.True(t, check.changed())
	same, err := api.ContainerInspect(ctx, "buildx_buildkit_"+bname+"0")
	require.NoError(t, err)
	assert.Equal(t, before.ID, same.ID, "check mode touched nothing")

	reset := run(t, "buildkit_cache", map[string]any{"state": "reset", "builder": map[string]any{"driver": "docker-container", "name": bname}})
	require.False(t, reset.failed(), reset.msg())
	assert.True(t, reset.changed())
	after, err := api.ContainerInspect(ctx, "buildx_buildkit_"+bname+"0")
	require.NoError(t, err)
	assert.NotEqual(t, before.ID, after.ID, "container recreated")
	assert.True(t, after.State.Running)
	assert.Equal(t, before.Config.Image, after.Config.Image, "from the same image")
	assert.Equal(t, before.HostConfig.NetworkMode, after.HostConfig.NetworkMode)
	empty := run(t, "buildkit_cache", map[string]any{"state": "info", "builder": map[string]any{"driver": "docker-container", "name": bname}})
	require.False(t, empty.failed(), empty.msg())
	assert.Equal(t, 0.0, empty["cache"].(map[string]any)["records"], "state volume recreated empty")
	_, err = api.VolumeInspect(ctx, bystander)
	assert.NoError(t, err, "a volume that is not the builder's is kept")
	_, ok := imageExists(t, name+":latest")
	assert.True(t, ok, "images are kept")
}

func TestSBOMAttestationWithAConfiguredGenerator(t *testing.T) {
	requireRegistries(t)
	id := uniqueName(t)[len("bk-it-"):]
	// A generator image made here: BuildKit runs its entrypoint with the
	// image to scan and a destination for in-toto SPDX statements.
	statement := `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[],"predicate":{"spdxVersion":"SPDX-2.3","name":"bk-it-generator"}}`
	genDir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\n" +
		`ENTRYPOINT ["/bin/sh", "-c", "printf '%s' '` + strings.ReplaceAll(statement, `"`, `\"`) + `' > \"$BUILDKIT_SCAN_DESTINATION/sbom.spdx.json\""]` + "\n"})
	generator := plainRegistry + "/bk-it/sbom-generator-" + id + ":latest"
	gen := run(t, "buildkit_image", map[string]any{"name": generator, "source": "build", "push": true, "build": map[string]any{"path": genDir}})
	require.False(t, gen.failed(), gen.msg())

	repo := "bk-it/sbom-" + id
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY payload.txt /payload.txt\n", "payload.txt": "with an sbom\n"})
	res := run(t, "buildkit_image", map[string]any{"name": plainRegistry + "/" + repo, "source": "build", "push": true,
		"build":   map[string]any{"path": dir, "sbom": true, "sbom_generator": generator},
		"builder": containerBuilder(t, "bk-it-sb-"+id, nil)})
	require.False(t, res.failed(), res.msg())
	assert.Equal(t, []any{"sbom"}, res["manifest"].(map[string]any)["attestations"])

	idx := registryIndex(t, repo, "latest")
	var predicates []string
	for _, m := range idx["manifests"].([]any) {
		m := m.(map[string]any)
		ann, _ := m["annotations"].(map[string]any)
		if ann["vnd.docker.reference.type"] != "attestation-manifest" {
			continue
		}
		att := registryManifest(t, repo, m["digest"].(string))
		for _, l := range att["layers"].([]any) {
			la, _ := l.(map[string]any)["annotations"].(map[string]any)
			predicates = append(predicates, fmt.Sprint(la["in-toto.io/predicate-type"]))
		}
	}
	assert.Contains(t, predicates, "https://spdx.dev/Document", "an SPDX SBOM attestation in the pushed index")
}

func TestContainerBuilderKilledMidBuildIsRetried(t *testing.T) {
	base := registryBase(t)
	name := uniqueName(t)
	bname := "bk-it-kl-" + name[len("bk-it-"):]
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo v1 > /v\n"})
	args := buildArgs(name, dir, nil)
	args["builder"] = containerBuilder(t, bname, nil)
	good := run(t, "buildkit_image", args)
	require.False(t, good.failed(), good.msg())

	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+base+"\nRUN sleep 4 && echo v2 > /v\n"), 0o644))
	args["retries"] = 6
	args["retry_delay"] = 1
	done := make(chan result, 1)
	go func() { done <- run(t, "buildkit_image", args) }()
	time.Sleep(2 * time.Second) // the RUN step is under way
	// BuildKit dies inside its container; the restart policy brings it back.
	api := dockerClient(t)
	ctx := context.Background()
	ex, err := api.ContainerExecCreate(ctx, "buildx_buildkit_"+bname+"0", container.ExecOptions{Cmd: []string{"killall", "-9", "buildkitd"}})
	require.NoError(t, err)
	require.NoError(t, api.ContainerExecStart(ctx, ex.ID, container.ExecStartOptions{}))
	for i := 0; i < 50; i++ {
		st, err := api.ContainerExecInspect(ctx, ex.ID)
		require.NoError(t, err)
		if !st.Running {
			require.Equal(t, 0, st.ExitCode, "buildkitd was killed")
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res := <-done

	require.False(t, res.failed(), res.msg())
	assert.GreaterOrEqual(t, res["build_retries"], float64(1), "retried on the restarted daemon")
	_, files := savedImage(t, name+":latest")
	assert.Equal(t, "v2\n", string(files["v"]))
	t.Logf("survived the builder's death with %v retries", res["build_retries"])
}

func TestCacheExportThroughAFlakyRegistryIsRetried(t *testing.T) {
	requireRegistries(t)
	id := uniqueName(t)[len("bk-it-"):]
	proxy, hits := flakyProxyMatching(t, plainRegistry, 2, http.StatusServiceUnavailable, isManifestPut)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY payload.txt /p\n", "payload.txt": "cache me " + id + "\n"})
	args := buildArgs(uniqueName(t), dir, map[string]any{"cache_to": []any{map[string]any{"type": "registry", "ref": proxy + "/bk-it/flaky-cache-" + id + ":c", "mode": "max"}}})
	args["builder"] = containerBuilder(t, "bk-it-fl-"+id, map[string]any{"insecure_registries": []any{plainRegistry, proxy}})
	args["retries"] = 4
	args["retry_delay"] = 0.5
	res := run(t, "buildkit_image", args)
	require.False(t, res.failed(), res.msg())
	assert.Equal(t, 2, hits(), "the registry failed two manifest uploads")
	assert.GreaterOrEqual(t, res["build_retries"], float64(1), "the retries are in the result")
	assert.True(t, registryManifestExists(t, plainRegistry, "bk-it/flaky-cache-"+id, "c", false), "the cache was exported in the end")
	t.Logf("cache export through a registry failing 2 manifest PUTs with 503: %v build retries", res["build_retries"])
}

func TestOtherCacheTypesPassThroughToTheBuilder(t *testing.T) {
	id := uniqueName(t)[len("bk-it-"):]
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY payload.txt /p\n", "payload.txt": id})
	args := buildArgs(uniqueName(t), dir, map[string]any{"cache_to": []any{map[string]any{"type": "s3", "mode": "max", "attrs": map[string]any{
		"endpoint_url": "http://127.0.0.1:9", "bucket": "bk-it", "region": "us-east-1", "use_path_style": true,
		"access_key_id": "bk-it", "secret_access_key": "bk-it-secret"}}}})
	args["builder"] = containerBuilder(t, "bk-it-s3-"+id, nil)
	res := run(t, "buildkit_image", args)
	// No S3 here: that BuildKit tried the endpoint proves the entry reached it as given.
	assert.True(t, res.failed())
	assert.Contains(t, res.msg(), "127.0.0.1:9")

	bad := run(t, "buildkit_image", buildArgs(uniqueName(t), dir, map[string]any{"cache_to": []any{map[string]any{"type": "s3", "ref": "x"}}}))
	assert.True(t, bad.failed())
	assert.Contains(t, bad.msg(), "attrs")
}

func TestBuilderDiskFullFailsClearlyAndKeepsTheImage(t *testing.T) {
	base := registryBase(t)
	// The builder's data root on a 48 MB tmpfs.
	root := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", root).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", root).Run() })
	cfg := filepath.Join(t.TempDir(), "buildkitd.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("[registry.\""+plainRegistry+"\"]\n  http = true\n"), 0o644))
	addr := startBuildkitd(t, "", []string{"--root", filepath.Join(root, "buildkit"), "--config", cfg})

	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo small > /v\n"})
	args := buildArgs(name, dir, nil)
	args["builder"] = map[string]any{"driver": "remote", "endpoint": addr}
	good := run(t, "buildkit_image", args)
	require.False(t, good.failed(), good.msg())

	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+base+"\nRUN dd if=/dev/zero of=/big bs=1M count=200\n"), 0o644))
	full := run(t, "buildkit_image", args)
	require.True(t, full.failed())
	assert.Contains(t, strings.ToLower(full.msg()), "no space left on device", "the step's own words are in the message")
	assert.Contains(t, full.msg(), "is full: prune its build cache")
	id, ok := imageExists(t, name+":latest")
	require.True(t, ok)
	assert.Equal(t, good.imageID(), id, "the name still holds the previous image")
	_, files := savedImage(t, name+":latest")
	assert.Equal(t, "small\n", string(files["v"]))
	t.Logf("disk full: %s", full.msg()[max(0, len(full.msg())-300):])
}

func TestPlatformWithoutEmulatorIsRefusedBeforeTheBuild(t *testing.T) {
	base := registryBase(t)
	id := uniqueName(t)[len("bk-it-"):]
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo built > /v\n"})
	args := map[string]any{"name": plainRegistry + "/bk-it/noemu-" + id, "source": "build", "push": true,
		"build":   map[string]any{"path": dir, "platform": []any{"linux/amd64", "linux/mips64le"}},
		"builder": containerBuilder(t, "bk-it-ne-"+id, nil)}
	res := run(t, "buildkit_image", args)
	require.True(t, res.failed())
	assert.Contains(t, res.msg(), "build.platform[1]")
	assert.Contains(t, res.msg(), "cannot run RUN steps for linux/mips64le")
	assert.Contains(t, res.msg(), "qemu-user-static")
	assert.NotContains(t, toJSON(t, res["stdout"]), "RUN echo", "refused before any build step")
}

// TestContainerBuilderDiagnoseAndScheduledPrune is the troubleshooting side of
// a docker-container builder: diagnose names it, its BuildKit and its state;
// the cleanup command prunes its cache by size and age (as cron runs it).
func TestContainerBuilderDiagnoseAndScheduledPrune(t *testing.T) {
	name := uniqueName(t)
	bname := "bk-it-dg-" + name[len("bk-it-"):]
	b := containerBuilder(t, bname, nil)
	for i := 0; i < 2; i++ {
		dir := writeContext(t, map[string]string{"Dockerfile": fmt.Sprintf("FROM scratch\nCOPY blob /blob%d\n", i), "blob": strings.Repeat(fmt.Sprint(i), 2<<20)})
		args := buildArgs(fmt.Sprintf("%s-%d", name, i), dir, nil)
		args["builder"] = b
		res := run(t, "buildkit_image", args)
		require.False(t, res.failed(), res.msg())
		t.Cleanup(func() { removeImage(fmt.Sprintf("%s-%d:latest", name, i)) })
	}
	byName := func(res result) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, c := range res["checks"].([]any) {
			m := c.(map[string]any)
			out[m["name"].(string)] = m
		}
		return out
	}
	sel := map[string]any{"driver": "docker-container", "name": bname}
	diag := run(t, "buildkit_cache", map[string]any{"state": "diagnose", "builder": sel})
	require.False(t, diag.failed(), diag.msg())
	checks := byName(diag)
	require.Contains(t, checks, "builder "+bname)
	assert.Equal(t, "ok", checks["builder "+bname]["status"])
	assert.Contains(t, checks["builder "+bname]["detail"], "running BuildKit v", "the builder's BuildKit names its version")
	assert.Contains(t, checks["builders"]["detail"], bname+" running")
	assert.Contains(t, checks["buildkit"]["detail"], "embedded BuildKit")

	// The cleanup command, as cron or the systemd timer runs it, on this builder.
	bin := filepath.Join(binDir, "buildkit_cache")
	infoOf := func() map[string]any {
		out, err := exec.Command(bin, "info", "--builder", bname, "--json").Output()
		require.NoError(t, err, string(out))
		var res map[string]any
		require.NoError(t, json.Unmarshal(out, &res))
		return res["cache"].(map[string]any)
	}
	before := infoOf()
	require.Greater(t, before["total_bytes"], float64(4<<20))
	// info on the engine lists every builder container with its own cache.
	engineInfo := run(t, "buildkit_cache", map[string]any{"state": "info"})
	require.False(t, engineInfo.failed(), engineInfo.msg())
	var listed map[string]any
	for _, b := range engineInfo["builders"].([]any) {
		if m := b.(map[string]any); m["builder"] == bname {
			listed = m
		}
	}
	require.NotNil(t, listed, "info lists the builder: %v", engineInfo["builders"])
	assert.Equal(t, "running", listed["state"])
	assert.Equal(t, before["records"], listed["cache"].(map[string]any)["records"])
	human, err := exec.Command(bin, "info").CombinedOutput()
	require.NoError(t, err, string(human))
	assert.Contains(t, string(human), "builder "+bname+": ")
	time.Sleep(2 * time.Second)
	out, err := exec.Command(bin, "prune", "--builder", bname, "--keep-storage", "1MB", "--older-than", "1s", "--json").Output()
	require.NoError(t, err, string(out))
	var pruned map[string]any
	require.NoError(t, json.Unmarshal(out, &pruned))
	assert.Equal(t, true, pruned["changed"])
	assert.Greater(t, pruned["reclaimed_bytes"], float64(4<<20), "the 2 MB layers went")
	after := infoOf()
	assert.InDelta(t, before["total_bytes"].(float64)-after["total_bytes"].(float64), pruned["reclaimed_bytes"], 64<<10,
		"reclaimed bytes match info before and after")
	bad, err := exec.Command(bin, "prune", "--builder", bname, "--filter", "nonsense").CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(bad), "not key=value")

	// Stopped: diagnose warns and says what to do.
	require.NoError(t, dockerClient(t).ContainerStop(context.Background(), "buildx_buildkit_"+bname+"0", container.StopOptions{}))
	stopped := byName(run(t, "buildkit_cache", map[string]any{"state": "diagnose", "builder": sel}))
	assert.Equal(t, "warn", stopped["builder "+bname]["status"])
	assert.Contains(t, stopped["builder "+bname]["remediation"], "troubleshoot_mode=fix")
}
