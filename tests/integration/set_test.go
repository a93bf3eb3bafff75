package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// setImages is a set of n images sharing a first stage, each with a file
// of its own and a .dockerignore'd file, under prefix.
func setImages(t *testing.T, prefix string, names ...string) (images []any, dirs map[string]string) {
	t.Helper()
	dirs = map[string]string{}
	for _, name := range names {
		dir := writeContext(t, map[string]string{
			"Dockerfile": "FROM local/busybox:latest AS common\nRUN echo shared > /shared\n" +
				"FROM common\nCOPY . /ctx\nRUN echo " + name + " > /image\n",
			"own.txt":       name + " file\n",
			"secret.key":    "must not reach the image\n",
			".dockerignore": "secret.key\n",
		})
		dirs[name] = dir
		images = append(images, map[string]any{"name": name, "repository": prefix + "/" + name, "build": map[string]any{"path": dir}})
	}
	return images, dirs
}

func setImage(prefix, name, tag string) string { return prefix + "/" + name + ":" + tag }

// TestSetBuildsEachImageAsBuildkitImageWould: the set's images are built
// together (in one BuildKit session on Docker 20.10), each equal to a fresh
// build of its own inputs, its .dockerignore honoured; a second run is a
// no-op that buildkit_image itself agrees with; a change rebuilds only its
// image.
func TestSetBuildsEachImageAsBuildkitImageWould(t *testing.T) {
	prefix := uniqueName(t)
	names := []string{"alpha", "beta", "gamma"}
	images, dirs := setImages(t, prefix, names...)
	t.Cleanup(func() {
		for _, n := range names {
			removeImage(setImage(prefix, n, "candidate"))
		}
	})
	args := map[string]any{"images": images}

	res := run(t, "buildkit_image_set", args)
	require.False(t, res.failed(), res.msg())
	assert.True(t, res.changed())
	assert.Equal(t, float64(1), res["sessions"], "the builds shared one BuildKit session")
	summary := res["summary"].(map[string]any)
	assert.ElementsMatch(t, []any{"alpha", "beta", "gamma"}, summary["built"])
	for _, n := range names {
		ref := setImage(prefix, n, "candidate")
		assert.Equal(t, n+"\n", fileIn(t, ref, "/image"))
		assert.Equal(t, n+" file\n", fileIn(t, ref, "/ctx/own.txt"), "each build got its own context")
		out, err := runInImage(ref, "ls", "/ctx")
		require.NoError(t, err)
		assert.NotContains(t, out, "secret.key", ".dockerignore is honoured in the shared session")
		fresh := freshBuild(t, map[string]any{"build": map[string]any{"path": dirs[n]}})
		assert.Equal(t, imageContent(t, fresh), imageContent(t, ref), "%s is what a fresh build of its inputs gives", n)
	}

	// Again: nothing changed, nothing is built; buildkit_image agrees, from the same records.
	res = run(t, "buildkit_image_set", args)
	require.False(t, res.failed(), res.msg())
	assert.False(t, res.changed())
	assert.ElementsMatch(t, []any{"alpha", "beta", "gamma"}, res["summary"].(map[string]any)["unchanged"])
	alone := run(t, "buildkit_image", map[string]any{"name": prefix + "/beta", "tag": "candidate", "source": "build", "build": map[string]any{"path": dirs["beta"]}})
	require.False(t, alone.failed(), alone.msg())
	assert.False(t, alone.changed(), "buildkit_image decides as the set did: %v", alone["build_reason"])

	// One file changes: only its image is built again, and holds the change.
	require.NoError(t, os.WriteFile(filepath.Join(dirs["gamma"], "own.txt"), []byte("gamma changed\n"), 0o644))
	time.Sleep(50 * time.Millisecond)
	res = run(t, "buildkit_image_set", args)
	require.False(t, res.failed(), res.msg())
	assert.Equal(t, []any{"gamma"}, res["summary"].(map[string]any)["built"])
	assert.Equal(t, "gamma changed\n", fileIn(t, setImage(prefix, "gamma", "candidate"), "/ctx/own.txt"))
}

func runInImage(ref string, cmd ...string) (string, error) {
	out, err := exec.Command("docker", append([]string{"run", "--rm", ref}, cmd...)...).CombinedOutput()
	return string(out), err
}

// TestSetKeepsSecretsToTheirOwnImage: an image with a build secret builds in
// a session of its own; another image of the set that asks for a secret of
// the same id gets none.
func TestSetKeepsSecretsToTheirOwnImage(t *testing.T) {
	prefix := uniqueName(t)
	// (Steps differ per image: BuildKit shares a step that is the same in two
	// builds, and a secret mount is not part of a step's cache key.)
	mount := func(who string) string {
		return "FROM local/busybox:latest\nRUN --mount=type=secret,id=token echo " + who + " > /who && (cat /run/secrets/token > /got 2>/dev/null || echo none > /got)\n"
	}
	owner := writeContext(t, map[string]string{"Dockerfile": mount("owner")})
	other := writeContext(t, map[string]string{"Dockerfile": mount("other")})
	plain := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo plain > /got\n"})
	t.Cleanup(func() {
		for _, n := range []string{"owner", "other", "plain"} {
			removeImage(setImage(prefix, n, "candidate"))
		}
	})
	res := run(t, "buildkit_image_set", map[string]any{"images": []any{
		map[string]any{"name": "owner", "repository": prefix + "/owner", "build": map[string]any{"path": owner,
			"secrets": []any{map[string]any{"id": "token", "type": "value", "value": "s3cr3t-value"}}}},
		map[string]any{"name": "other", "repository": prefix + "/other", "build": map[string]any{"path": other}},
		map[string]any{"name": "plain", "repository": prefix + "/plain", "build": map[string]any{"path": plain}},
	}})
	require.False(t, res.failed(), res.msg())
	assert.Equal(t, "s3cr3t-value", fileIn(t, setImage(prefix, "owner", "candidate"), "/got"))
	assert.Equal(t, "none\n", fileIn(t, setImage(prefix, "other", "candidate"), "/got"), "another image's build never reads the secret")
	assert.NotContains(t, toJSON(t, res), "s3cr3t-value")
}

// TestSetGatesAndPromotesEachImageOnItsOwn: a candidate that fails its probe
// keeps the deploy tag where it was; the others are promoted, the deployed
// image kept under the rollback tag; a failed build fails only its image.
func TestSetGatesAndPromotesEachImageOnItsOwn(t *testing.T) {
	prefix := uniqueName(t)
	good := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nARG V=1\nRUN echo $V > /v\nUSER 1000\n"})
	bad := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nARG V=1\nRUN echo $V > /v\n"})
	broken := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN exit 3\n"})
	names := []string{"good", "bad", "broken"}
	t.Cleanup(func() {
		for _, n := range names {
			for _, tag := range []string{"candidate", "latest", "previous"} {
				removeImage(setImage(prefix, n, tag))
			}
		}
	})
	args := func(v string) map[string]any {
		probe := []any{map[string]any{"name": "v", "network": "none", "command": []any{"cat", "/v"}, "expect_output": "^" + v}}
		return map[string]any{
			"images": []any{
				map[string]any{"name": "good", "repository": prefix + "/good", "probes": probe, "build": map[string]any{"path": good, "args": map[string]any{"V": v}}},
				map[string]any{"name": "bad", "repository": prefix + "/bad", "probes": probe, "build": map[string]any{"path": bad, "args": map[string]any{"V": v}}},
			},
			"deploy_tag": "latest", "rollback_tag": "previous",
			"validation": map[string]any{"budget": 30}, "metadata": map[string]any{"non_root": true},
		}
	}
	res := run(t, "buildkit_image_set", args("1"))
	require.False(t, res.failed(), "a failed gate does not fail the task: %s", res.msg())
	summary := res["summary"].(map[string]any)
	assert.Equal(t, []any{"good"}, summary["promoted"])
	assert.Equal(t, []any{"bad: failed at the metadata gate - runs as root (no USER)"}, summary["failed"])
	first, ok := imageExists(t, setImage(prefix, "good", "latest"))
	require.True(t, ok)
	_, ok = imageExists(t, setImage(prefix, "bad", "latest"))
	assert.False(t, ok, "a candidate that failed a gate is not promoted")

	res = run(t, "buildkit_image_set", args("2"))
	require.False(t, res.failed(), res.msg())
	second, _ := imageExists(t, setImage(prefix, "good", "latest"))
	assert.NotEqual(t, first, second, "the new candidate is promoted")
	kept, _ := imageExists(t, setImage(prefix, "good", "previous"))
	assert.Equal(t, first, kept, "the deployed image is kept under the rollback tag")
	report := res["report"].(map[string]any)["build_results"].(map[string]any)["jenkins_agents"].(map[string]any)
	assert.Equal(t, "passed: v", report["good"].(map[string]any)["checks"].(map[string]any)["validation"].(map[string]any)["detail"])

	// A broken build among them: only its image fails, at the build gate.
	a := args("3")
	a["images"] = append(a["images"].([]any), map[string]any{"name": "broken", "repository": prefix + "/broken", "build": map[string]any{"path": broken}})
	res = run(t, "buildkit_image_set", a)
	require.False(t, res.failed(), res.msg())
	failed := res["summary"].(map[string]any)["failed"].([]any)
	require.Len(t, failed, 2)
	assert.True(t, strings.HasPrefix(failed[1].(string), "broken: failed at the build gate - build of "+prefix+"/broken:candidate failed"), failed[1])
	third, _ := imageExists(t, setImage(prefix, "good", "latest"))
	assert.NotEqual(t, second, third, "the other images go on")
	assert.Contains(t, res["lines"], "broken: FAILED: "+res["images"].([]any)[2].(map[string]any)["build"].(map[string]any)["msg"].(string))
}

// TestSetCheckModeChangesNothing: check mode predicts from the files it
// would write, and writes, builds and tags nothing.
func TestSetCheckModeChangesNothing(t *testing.T) {
	prefix := uniqueName(t)
	dir := filepath.Join(t.TempDir(), "ctx")
	t.Cleanup(func() {
		removeImage(setImage(prefix, "one", "candidate"))
		removeImage(setImage(prefix, "one", "latest"))
	})
	args := map[string]any{"images": []any{map[string]any{"name": "one", "repository": prefix + "/one",
		"files": map[string]any{"Dockerfile": "FROM local/busybox:latest\nCOPY conf/a /a\n", "conf/a": "one\n"},
		"build": map[string]any{"path": dir}}}, "deploy_tag": "latest"}
	res := run(t, "buildkit_image_set", args, checkMode)
	require.False(t, res.failed(), res.msg())
	assert.True(t, res.changed())
	assert.Contains(t, res["lines"], "one: would be built (image missing)")
	_, err := os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "check mode wrote no context")

	res = run(t, "buildkit_image_set", args)
	require.False(t, res.failed(), res.msg())
	assert.Equal(t, "one\n", fileIn(t, setImage(prefix, "one", "latest"), "/a"))
	res = run(t, "buildkit_image_set", args, checkMode)
	require.False(t, res.failed(), res.msg())
	assert.False(t, res.changed(), "check mode predicts the no-op: %v", res["lines"])
	args["images"].([]any)[0].(map[string]any)["files"].(map[string]any)["conf/a"] = "two\n"
	res = run(t, "buildkit_image_set", args, checkMode)
	require.False(t, res.failed(), res.msg())
	assert.True(t, res.changed(), "a file that would change is a build that would run")
	assert.Contains(t, res["lines"], "one: would be built (inputs changed)")
	b, _ := os.ReadFile(filepath.Join(dir, "conf", "a"))
	assert.Equal(t, "one\n", string(b))
}
