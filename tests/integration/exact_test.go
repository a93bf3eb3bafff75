package integration

// "Never a wrong image": for each kind of change, the module's changed must be
// right, and the image under the name must equal a fresh build of the final
// inputs — compared by content (every file's type, mode and bytes, and the
// config), not by ID. tests/run runs these on both engines of the matrix.

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// imageContent is what a user would compare of two images: every file of
// the image's filesystem (type, mode, owner, content digest or link target)
// and the parts of the config a container runs with.
func imageContent(t *testing.T, ref string) map[string]string {
	t.Helper()
	api := dockerClient(t)
	ctx := context.Background()
	created, err := api.ContainerCreate(ctx, &container.Config{Image: ref, Cmd: []string{"true"}}, nil, nil, nil, "")
	require.NoError(t, err, "create a container of %s", ref)
	defer api.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true})
	rc, err := api.ContainerExport(ctx, created.ID)
	require.NoError(t, err)
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		what := fmt.Sprintf("%c %o %d:%d", h.Typeflag, h.Mode&0o7777, h.Uid, h.Gid)
		switch h.Typeflag {
		case tar.TypeReg:
			sum := sha256.New()
			_, err := io.Copy(sum, tr)
			require.NoError(t, err)
			what += " " + hex.EncodeToString(sum.Sum(nil))
		case tar.TypeSymlink, tar.TypeLink:
			what += " -> " + h.Linkname
		}
		out["/"+strings.TrimPrefix(h.Name, "./")] = what
	}
	inspect, err := api.ImageInspect(ctx, ref)
	require.NoError(t, err)
	labels := []string{}
	for k, v := range inspect.Config.Labels {
		if k != "org.opencontainers.image.created" {
			labels = append(labels, k+"="+v)
		}
	}
	sort.Strings(labels)
	out["config"] = fmt.Sprintf("env=%q cmd=%q entrypoint=%q workdir=%q user=%q labels=%q",
		inspect.Config.Env, inspect.Config.Cmd, inspect.Config.Entrypoint, inspect.Config.WorkingDir, inspect.Config.User, labels)
	return out
}

// fileIn is one file of an image, read through a container.
func fileIn(t *testing.T, ref, path string) string {
	t.Helper()
	out, err := exec.Command("docker", "run", "--rm", ref, "cat", path).CombinedOutput()
	require.NoError(t, err, "%s in %s: %s", path, ref, out)
	return string(out)
}

// freshBuild builds the inputs of args from scratch: a copy of the context
// (mtimes kept) in a new directory, under a new name, without the build cache.
func freshBuild(t *testing.T, args map[string]any) string {
	t.Helper()
	build := args["build"].(map[string]any)
	copyDir := filepath.Join(t.TempDir(), "fresh")
	out, err := exec.Command("cp", "-a", build["path"].(string), copyDir).CombinedOutput()
	require.NoError(t, err, string(out))
	fresh := map[string]any{}
	for k, v := range build {
		fresh[k] = v
	}
	fresh["path"] = copyDir
	fresh["nocache"] = true
	name := uniqueName(t)
	res := run(t, "buildkit_image", map[string]any{"name": name, "source": "build", "build": fresh})
	require.False(t, res.failed(), "fresh build: %s", res.msg())
	return name + ":latest"
}

// expect runs args, checks changed, and that the image under the name equals
// a fresh build of the same inputs (when changed, and when not).
func expect(t *testing.T, what string, args map[string]any, changed bool) result {
	t.Helper()
	res := run(t, "buildkit_image", args)
	require.False(t, res.failed(), "%s: %s", what, res.msg())
	assert.Equal(t, changed, res.changed(), "%s: changed (build_reason: %v)", what, res["build_reason"])
	ref := args["name"].(string) + ":latest"
	assert.Equal(t, imageContent(t, freshBuild(t, args)), imageContent(t, ref), "%s: the image is not what a fresh build of the inputs gives", what)
	return res
}

// sameStat gives every path the same mtime (files written in one burst
// share an mtime tick).
func sameStat(t *testing.T, when time.Time, paths ...string) {
	t.Helper()
	for _, p := range paths {
		require.NoError(t, os.Chtimes(p, when, when))
	}
}

// rewriteKeepingStat writes content (of the same length) to path and puts its mtime back.
func rewriteKeepingStat(t *testing.T, path, content string) {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, st.Size(), int64(len(content)), "the edit must keep the size")
	require.NoError(t, os.WriteFile(path, []byte(content), st.Mode()))
	require.NoError(t, os.Chtimes(path, st.ModTime(), st.ModTime()))
	time.Sleep(50 * time.Millisecond) // out of the stat cache's racy window
}

func TestExactTwoProjectsWithTheSameStatsDoNotMix(t *testing.T) {
	when := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	project := func(letter string) (string, map[string]any) {
		dir := writeContext(t, map[string]string{
			"Dockerfile": "FROM local/busybox:latest\nCOPY data.txt /data.txt\nRUN echo " + strings.Repeat(letter, 4) + " > /from-dockerfile\n",
			"data.txt":   strings.Repeat(strings.ToUpper(letter), 8) + "\n",
		})
		sameStat(t, when, filepath.Join(dir, "Dockerfile"), filepath.Join(dir, "data.txt"))
		return dir, buildArgs(uniqueName(t), dir, nil)
	}
	_, a := project("a")
	_, b := project("b")
	expect(t, "project a", a, true)
	expect(t, "project b, same paths, sizes and mtimes as a", b, true)
	assert.Equal(t, "BBBBBBBB\n", fileIn(t, b["name"].(string), "/data.txt"))
	assert.Equal(t, "bbbb\n", fileIn(t, b["name"].(string), "/from-dockerfile"))
	expect(t, "project a again", a, false)
	expect(t, "project b again", b, false)
}

func TestExactEditKeepingSizeAndMtimeReachesTheImage(t *testing.T) {
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM local/busybox:latest\nCOPY data.txt /data.txt\nRUN echo one > /from-dockerfile\n",
		"data.txt":   "version 1\n",
	})
	args := buildArgs(uniqueName(t), dir, nil)
	expect(t, "first build", args, true)
	expect(t, "unchanged", args, false)

	rewriteKeepingStat(t, filepath.Join(dir, "data.txt"), "version 2\n")
	res := expect(t, "a context file edited keeping size and mtime", args, true)
	assert.Equal(t, "version 2\n", fileIn(t, args["name"].(string), "/data.txt"))
	assert.Equal(t, true, res["context"].(map[string]any)["fresh_copy"], "the builder starts a fresh copy of the context")
	expect(t, "unchanged after it", args, false)

	rewriteKeepingStat(t, filepath.Join(dir, "Dockerfile"), "FROM local/busybox:latest\nCOPY data.txt /data.txt\nRUN echo two > /from-dockerfile\n")
	expect(t, "the Dockerfile edited keeping size and mtime", args, true)
	assert.Equal(t, "two\n", fileIn(t, args["name"].(string), "/from-dockerfile"))

	// An ordinary edit after that goes through the builder's copy as usual.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.txt"), []byte("version 3, longer\n"), 0o644))
	time.Sleep(50 * time.Millisecond)
	res = expect(t, "an ordinary edit", args, true)
	assert.Equal(t, false, res["context"].(map[string]any)["fresh_copy"], "an ordinary edit is sent over the builder's copy")
}

// variant builds a small image FROM local/busybox with /v holding content.
func variant(t *testing.T, content string) string {
	t.Helper()
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo " + content + " > /v\n"})
	res := run(t, "buildkit_image", buildArgs(name, dir, nil))
	require.False(t, res.failed(), res.msg())
	return name + ":latest"
}

func retag(t *testing.T, src, ref string) {
	t.Helper()
	require.NoError(t, dockerClient(t).ImageTag(context.Background(), src, ref))
}

func TestExactImagesTheBuildReadsAreInputs(t *testing.T) {
	one, two := variant(t, "one"), variant(t, "two")
	src := uniqueName(t)
	arch := uniqueName(t) + "-" + runtime.GOARCH // FROM ${P}-${TARGETARCH}:1
	t.Cleanup(func() { removeImage(src + ":1"); removeImage(arch + ":1") })
	retag(t, one, src+":1")
	retag(t, one, arch+":1")
	cases := map[string]string{
		"COPY --from=<image>":        "FROM local/busybox:latest\nCOPY --from=" + src + ":1 /v /copied\n",
		"RUN --mount from=<image>":   "FROM local/busybox:latest\nRUN --mount=type=bind,from=" + src + ":1,target=/m cat /m/v > /mounted\n",
		"FROM name-${TARGETARCH}:1":  "ARG P=" + strings.TrimSuffix(arch, "-"+runtime.GOARCH) + "\nFROM ${P}-${TARGETARCH}:1\nRUN cat /v > /based\n",
		"global ARG default nesting": "ARG NS=" + strings.Split(src, "-")[0] + "\nARG NAME=${NS}-" + strings.SplitN(src, "-", 2)[1] + "\nFROM ${NAME}:1\nRUN cat /v > /based\n",
	}
	for what, df := range cases {
		t.Run(what, func(t *testing.T) {
			retag(t, one, src+":1")
			retag(t, one, arch+":1")
			args := buildArgs(uniqueName(t), writeContext(t, map[string]string{"Dockerfile": df}), nil)
			expect(t, "first build", args, true)
			expect(t, "unchanged", args, false)
			retag(t, two, src+":1")
			retag(t, two, arch+":1")
			expect(t, "the image it reads moved", args, true)
			expect(t, "unchanged after it", args, false)
		})
	}
}

// registryOnly pushes src as ref to the plain test registry and removes
// every name of it from the engine, so that only the registry has it.
func registryOnly(t *testing.T, src, ref string) {
	t.Helper()
	pushToRegistry(t, src, ref)
	_, err := dockerClient(t).ImageRemove(context.Background(), ref, image.RemoveOptions{})
	require.NoError(t, err)
}

func TestExactRegistryBaseThatMoves(t *testing.T) {
	requireRegistries(t)
	one, two := variant(t, "one"), variant(t, "two")
	for _, pull := range []bool{false, true} {
		t.Run(fmt.Sprintf("pull=%v", pull), func(t *testing.T) {
			base := plainRegistry + "/" + randomRepo() + ":1"
			registryOnly(t, one, base)
			dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN cat /v > /based\n"})
			args := buildArgs(uniqueName(t), dir, map[string]any{"pull": pull})
			expect(t, "first build", args, true)
			if _, inEngine := imageExists(t, base); inEngine && !pull {
				t.Logf("this engine keeps the bases BuildKit pulls (%s): the build reads it from there", base)
				return
			}
			expect(t, "unchanged", args, false)
			registryOnly(t, two, base)
			expect(t, "the base moved in the registry", args, true)
			assert.Equal(t, "two\n", fileIn(t, args["name"].(string), "/based"))
			expect(t, "unchanged after it", args, false)
		})
	}
}

func TestExactAddURL(t *testing.T) {
	var body atomic.Value
	body.Store("first\n")
	validators := true
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := body.Load().(string)
		if validators {
			sum := sha256.Sum256([]byte(b))
			w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
		}
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			return
		}
		_, _ = io.WriteString(w, b)
	})}
	// The engine's BuildKit fetches ADD URLs from the daemon's own network:
	// loopback is the host's.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	url := "http://" + ln.Addr().String() + "/file.txt"
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nADD " + url + " /added.txt\n"})
	args := buildArgs(uniqueName(t), dir, nil)

	expect(t, "first build", args, true)
	expect(t, "unchanged (same ETag)", args, false)
	body.Store("second\n")
	expect(t, "the URL's content changed", args, true)
	assert.Equal(t, "second\n", fileIn(t, args["name"].(string), "/added.txt"))

	// Without validators the build runs and BuildKit's cache decides. (A
	// fresh build in between would add a second cache record of the same
	// step, which BuildKit may pick instead: same content, other history
	// times. So the comparison with a fresh build comes after.)
	validators = false
	res := run(t, "buildkit_image", args)
	require.False(t, res.failed(), res.msg())
	assert.True(t, res.changed(), "the server stops sending an ETag: other inputs")
	res = run(t, "buildkit_image", args)
	require.False(t, res.failed(), res.msg())
	assert.False(t, res.changed(), "a server without ETag or Last-Modified: built and compared")
	assert.Contains(t, res["build_reason"], "cannot be pinned")
	assert.Contains(t, res, "builder", "it was built to compare")
	assert.Equal(t, imageContent(t, freshBuild(t, args)), imageContent(t, args["name"].(string)+":latest"))
	body.Store("third!\n")
	expect(t, "a server without validators, content changed", args, true)
	assert.Equal(t, "third!\n", fileIn(t, args["name"].(string), "/added.txt"))
}

func TestExactDockerignoreIsReadAsBuildKitReadsIt(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "rules")
	require.NoError(t, os.WriteFile(outside, []byte("secret.txt\n"), 0o644))
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM local/busybox:latest\nCOPY . /ctx/\n",
		"secret.txt": "one\n",
		"sub/rules":  "other.txt\n",
		"other.txt":  "x\n",
	})
	// A link out of the context finds nothing in BuildKit's copy: no rules.
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, ".dockerignore")))
	args := buildArgs(uniqueName(t), dir, nil)
	expect(t, "first build", args, true)
	assert.Equal(t, "one\n", fileIn(t, args["name"].(string), "/ctx/secret.txt"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("two\n"), 0o644))
	time.Sleep(50 * time.Millisecond)
	expect(t, "a file the outside rules would ignore changed", args, true)

	// A link inside it is followed, from the context as root.
	require.NoError(t, os.Remove(filepath.Join(dir, ".dockerignore")))
	require.NoError(t, os.Symlink("/sub/rules", filepath.Join(dir, ".dockerignore")))
	expect(t, "rules from inside the context", args, true)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other.txt"), []byte("y\n"), 0o644))
	time.Sleep(50 * time.Millisecond)
	expect(t, "a file those rules ignore changed", args, false)
}

func TestExactImageTaggedOverTheNameIsRebuilt(t *testing.T) {
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo built > /v\n"})
	name := uniqueName(t)
	args := buildArgs(name, dir, nil)
	expect(t, "first build", args, true)

	// docker commit of a container of our image: it inherits the inputs label.
	out, err := exec.Command("docker", "run", "--name", name+"-c", name+":latest", "sh", "-c", "echo changed > /v").CombinedOutput()
	require.NoError(t, err, string(out))
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name+"-c").Run() })
	out, err = exec.Command("docker", "commit", name+"-c", name+":latest").CombinedOutput()
	require.NoError(t, err, string(out))
	res := expect(t, "a committed container tagged over the name", args, true)
	assert.Contains(t, res["build_reason"], "not one this host built")
	assert.Equal(t, "built\n", fileIn(t, name, "/v"))

	// An image built FROM ours, tagged over the name.
	child := writeContext(t, map[string]string{"Dockerfile": "FROM " + name + ":latest\nRUN echo child > /child\n"})
	out, err = exec.Command("docker", "build", "-q", "-t", name+":latest", child).CombinedOutput()
	require.NoError(t, err, string(out))
	expect(t, "an image built FROM ours tagged over the name", args, true)
	expect(t, "unchanged after it", args, false)
}

func TestExactValidDockerfilesBuild(t *testing.T) {
	tagged := uniqueName(t)
	t.Cleanup(func() { removeImage(tagged + ":" + runtime.GOARCH) })
	retag(t, "local/busybox:latest", tagged+":"+runtime.GOARCH)
	cases := map[string]map[string]string{
		"FROM x:${TARGETARCH}":            {"Dockerfile": "FROM " + tagged + ":${TARGETARCH}\nRUN echo ok > /ok\n"},
		"ARG default from another ARG":    {"Dockerfile": "ARG REG=local\nARG IMAGE=${REG}/busybox:latest\nFROM ${IMAGE}\nRUN echo ok > /ok\n"},
		"build-arg over a nested default": {"Dockerfile": "ARG REG=nowhere\nARG IMAGE=${REG}/busybox:latest\nFROM ${IMAGE}\nRUN echo ok > /ok\n"},
	}
	for what, files := range cases {
		t.Run(what, func(t *testing.T) {
			extra := map[string]any{}
			if strings.HasPrefix(what, "build-arg") {
				extra["args"] = map[string]any{"REG": "local"}
			}
			args := buildArgs(uniqueName(t), writeContext(t, files), extra)
			expect(t, "first build", args, true)
			expect(t, "unchanged", args, false)
		})
	}
	t.Run("a unix socket in the context", func(t *testing.T) {
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nCOPY . /ctx/\n", "file": "x\n"})
		ln, err := net.Listen("unix", filepath.Join(dir, "agent.sock"))
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		time.Sleep(50 * time.Millisecond)
		args := buildArgs(uniqueName(t), dir, nil)
		expect(t, "first build", args, true)
		expect(t, "unchanged", args, false)
	})
}

func TestBuildArgsReachTheBuildAsDockerImageSendsThem(t *testing.T) {
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nARG F\nARG BIG\nARG T\nARG N\nARG L\nRUN echo \"$F|$BIG|$T|$N|$L\" > /args\n"})
	// Written as Ansible writes them: 1.0 is a float, the big number an int.
	raw := fmt.Sprintf(`{"name": %q, "source": "build", "build": {"path": %q, "args": {"F": 1.0, "BIG": 12345678901234567890, "T": true, "N": null, "L": [1, "a", 2.50]}}, "_ansible_check_mode": false, "_ansible_tmpdir": %q}`, name, dir, t.TempDir())
	res := runRaw(t, "buildkit_image", []byte(raw))
	require.False(t, res.failed(), res.msg())
	assert.Equal(t, "1.0|12345678901234567890|True|None|[1, 'a', 2.5]\n", fileIn(t, name, "/args"))
	again := runRaw(t, "buildkit_image", []byte(raw))
	require.False(t, again.failed(), again.msg())
	assert.False(t, again.changed())
}
