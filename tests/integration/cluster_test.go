package integration

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bkNode is a standalone buildkitd the test can kill and start again on the
// same root (its cache and its copies of contexts kept), as a node of a
// multi-node builder.
type bkNode struct {
	name, addr, dir string
	args            []string
	cmd             *exec.Cmd
	log             *os.File
}

// startNode starts a buildkitd node on a unix socket, or on TCP with mutual
// TLS when ca is given (a server certificate for 127.0.0.1 from ca).
func startNode(t *testing.T, name string, ca *testCA, extra ...string) *bkNode {
	t.Helper()
	bin := os.Getenv("BUILDKITD")
	require.NotEmpty(t, bin, "BUILDKITD is not set: run .ci/tools/build.sh buildkitd (tests/run does)")
	dir, err := os.MkdirTemp("/var/tmp", "bk-it-node-")
	require.NoError(t, err)
	n := &bkNode{name: name, dir: dir, addr: "unix://" + filepath.Join(dir, "buildkitd.sock")}
	if ca != nil {
		cert, key := ca.issue(t, "node-"+name, true)
		n.addr = fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
		extra = append(extra, "--tlscacert", ca.caFile(), "--tlscert", cert, "--tlskey", key)
	}
	n.args = append([]string{"--addr", n.addr, "--root", filepath.Join(dir, "root"),
		"--oci-worker=true", "--oci-worker-snapshotter=native", "--containerd-worker=false"}, extra...)
	n.start(t)
	t.Cleanup(func() {
		n.stop()
		os.RemoveAll(dir)
	})
	return n
}

func (n *bkNode) start(t *testing.T) {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(n.dir, "buildkitd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	n.log = log
	n.cmd = exec.Command(os.Getenv("BUILDKITD"), n.args...)
	n.cmd.Stdout, n.cmd.Stderr = log, log
	require.NoError(t, n.cmd.Start())
	for i := 0; i < 100; i++ {
		if strings.HasPrefix(n.addr, "unix://") {
			if _, err := os.Stat(strings.TrimPrefix(n.addr, "unix://")); err == nil {
				return
			}
		} else if c, err := net.Dial("tcp", strings.TrimPrefix(n.addr, "tcp://")); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(n.dir, "buildkitd.log"))
	t.Fatalf("buildkitd %s did not start:\n%s", n.name, b)
}

// kill ends the daemon at once (SIGKILL): a node that dies.
func (n *bkNode) kill() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	_ = n.cmd.Wait()
	n.cmd = nil
	if strings.HasPrefix(n.addr, "unix://") {
		os.Remove(strings.TrimPrefix(n.addr, "unix://"))
	}
	n.log.Close()
}

// stop ends the daemon cleanly.
func (n *bkNode) stop() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	n.cmd = nil
	n.log.Close()
}

// clusterOption is the builder option for a remote cluster of nodes.
func clusterOption(name string, ca *testCA, cliCert, cliKey string, nodes ...*bkNode) map[string]any {
	var list []any
	for _, n := range nodes {
		list = append(list, map[string]any{"name": n.name, "endpoint": n.addr})
	}
	b := map[string]any{"name": name, "driver": "remote", "nodes": list}
	if ca != nil {
		b["ca"], b["cert"], b["key"] = ca.caFile(), cliCert, cliKey
	}
	return b
}

// placementOf is a result's placement: node -> platforms, and its moves.
func placementOf(r result) (nodes map[string][]string, moved []map[string]any) {
	nodes = map[string][]string{}
	list, _ := r["placement"].([]any)
	for _, p := range list {
		p := p.(map[string]any)
		for _, x := range p["platforms"].([]any) {
			nodes[p["node"].(string)] = append(nodes[p["node"].(string)], x.(string))
		}
		m, _ := p["moved_from"].([]any)
		for _, x := range m {
			moved = append(moved, x.(map[string]any))
		}
	}
	return nodes, moved
}

// clusterSet is five image contexts sharing a first stage, as the role's set.
func clusterSet(t *testing.T, base, id string, sleep int) []string {
	var dirs []string
	for i, img := range []string{"master", "dind", "maven", "python", "nodejs"} {
		dirs = append(dirs, writeContext(t, map[string]string{
			"Dockerfile": fmt.Sprintf("FROM %s AS common\nRUN echo common > /common\nFROM common\nRUN sleep %d && echo %s-%d-%s > /image\nCOPY app.txt /app.txt\n",
				base, sleep, img, i, id),
			"app.txt": img + " app\n",
		}))
	}
	return dirs
}

// buildSet builds the set's images at once on builder, as the role does.
func buildSet(t *testing.T, names, dirs []string, b map[string]any, extra map[string]any) []result {
	out := make([]result, len(dirs))
	var wg sync.WaitGroup
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := buildArgs(names[i], dirs[i], nil)
			args["builder"] = b
			for k, v := range extra {
				args[k] = v
			}
			out[i] = run(t, "buildkit_image", args)
		}()
	}
	wg.Wait()
	return out
}

// checkSetImages checks each image of the set holds its own build.
func checkSetImages(t *testing.T, names []string, id string) {
	t.Helper()
	for i, img := range []string{"master", "dind", "maven", "python", "nodejs"} {
		_, files := savedImage(t, names[i]+":latest")
		assert.Equal(t, fmt.Sprintf("%s-%d-%s\n", img, i, id), string(files["image"]), "%s holds its own build", img)
		assert.Equal(t, img+" app\n", string(files["app.txt"]))
		assert.Equal(t, "common\n", string(files["common"]))
	}
}

func TestClusterSpreadsTheSetOverThreeNodesOverMutualTLS(t *testing.T) {
	base := registryBase(t)
	id := uniqueName(t)[len("bk-it-"):]
	ca := newTestCA(t, "bk-it cluster CA")
	cliCert, cliKey := ca.issue(t, "client", false)
	nodes := []*bkNode{startNode(t, "n1", ca), startNode(t, "n2", ca), startNode(t, "n3", ca)}
	bname := "bk-it-cl-" + id
	b := clusterOption(bname, ca, cliCert, cliKey, nodes...)
	buildxConfig := t.TempDir()
	t.Setenv("BUILDX_CONFIG", buildxConfig)

	// Steps long enough that every build is placed while the others run (placement counts running builds).
	dirs := clusterSet(t, base, id, 3)
	var names []string
	for range dirs {
		names = append(names, uniqueName(t))
	}
	first := buildSet(t, names, dirs, b, nil)
	used := map[string]string{}
	perNode := map[string]int{}
	for i, r := range first {
		require.False(t, r.failed(), r.msg())
		assert.True(t, r.changed())
		got, moved := placementOf(r)
		require.Len(t, got, 1, "one node builds a single-platform image: %v", r["placement"])
		assert.Empty(t, moved)
		for n := range got {
			used[names[i]] = n
			perNode[n]++
			assert.Equal(t, fmt.Sprintf("buildkit (%s/%s: remote %s)", bname, n, nodeAddr(nodes, n)), r["builder"])
		}
		assert.Equal(t, "remote", r["builder_driver"])
		assert.Equal(t, true, r["context"].(map[string]any)["fresh_copy"])
	}
	assert.Len(t, perNode, 3, "the set is spread over the three nodes: %v", perNode)
	for n, c := range perNode {
		assert.LessOrEqual(t, c, 2, "node %s took %d of 5 images", n, c)
	}
	checkSetImages(t, names, id)

	// buildx's store holds one builder with the three nodes: docker buildx ls lists them.
	var ng struct {
		Name, Driver string
		Nodes        []struct{ Name, Endpoint string }
	}
	raw, err := os.ReadFile(filepath.Join(buildxConfig, "instances", bname))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &ng))
	assert.Equal(t, "remote", ng.Driver)
	require.Len(t, ng.Nodes, 3)
	if bx := os.Getenv("BUILDX"); bx != "" {
		out, err := exec.Command(bx, "ls").CombinedOutput()
		require.NoError(t, err, string(out))
		for _, n := range nodes {
			assert.Regexp(t, regexp.QuoteMeta(`\_ `+n.name)+`\s+`+regexp.QuoteMeta(`\_ `+n.addr)+`\s+running`, string(out), "buildx ls lists node %s running:\n%s", n.name, out)
		}
		t.Logf("docker buildx ls:\n%s", out)
	}

	// Unchanged: nothing is built, no node is asked.
	again := buildSet(t, names, dirs, b, nil)
	for _, r := range again {
		require.False(t, r.failed(), r.msg())
		assert.False(t, r.changed())
		assert.NotContains(t, r, "placement")
	}
	// Rebuilt (force_source): each image goes back to the node that built it (cache affinity), from its cache.
	forced := buildSet(t, names, dirs, b, map[string]any{"force_source": true})
	for i, r := range forced {
		require.False(t, r.failed(), r.msg())
		got, _ := placementOf(r)
		_, same := got[used[names[i]]]
		assert.True(t, same, "%s stays on %s: %v", names[i], used[names[i]], r["placement"])
		assert.Contains(t, toJSON(t, r["placement"]), "cache affinity")
		assert.Equal(t, 1.0, r["cache_hit_ratio"], "its node's cache is warm")
		assert.Equal(t, false, r["context"].(map[string]any)["fresh_copy"], "and its copy of the context")
	}

	// The cluster's build cache, measured over its nodes.
	info := run(t, "buildkit_cache", map[string]any{"state": "info", "builder": b})
	require.False(t, info.failed(), info.msg())
	assert.Equal(t, bname, info["cache"].(map[string]any)["builder"])
	assert.Greater(t, info["cache"].(map[string]any)["total_bytes"], 0.0)
}

func nodeAddr(nodes []*bkNode, name string) string {
	for _, n := range nodes {
		if n.name == name {
			return n.addr
		}
	}
	return ""
}

func TestClusterNodeKilledMidSetMovesItsWork(t *testing.T) {
	base := registryBase(t)
	id := uniqueName(t)[len("bk-it-"):]
	nodes := []*bkNode{startNode(t, "k1", nil), startNode(t, "k2", nil), startNode(t, "k3", nil)}
	b := clusterOption("bk-it-kill-"+id, nil, "", "", nodes...)
	dirs := clusterSet(t, base, id, 5)
	var names []string
	for range dirs {
		names = append(names, uniqueName(t))
	}
	done := make(chan []result, 1)
	go func() { done <- buildSet(t, names, dirs, b, map[string]any{"retries": 2, "retry_delay": 0.5}) }()

	// Kill the node that holds the most builds once their RUN steps are under way.
	victim := busiestNode(t, nodes, 30*time.Second)
	time.Sleep(2 * time.Second)
	victim.kill()
	t.Logf("killed node %s during the set", victim.name)
	results := <-done

	moves := 0
	for i, r := range results {
		require.False(t, r.failed(), "%s: %s", names[i], r.msg())
		got, moved := placementOf(r)
		assert.NotContains(t, got, victim.name, "nothing is left on the dead node")
		for _, m := range moved {
			if m["node"] == victim.name {
				moves++
				assert.Contains(t, m["reason"], "died during the build")
			}
		}
		if len(moved) > 0 {
			t.Logf("%s: placement %s; builder %v; retries %v", names[i], toJSON(t, r["placement"]), r["builder"], r["build_retries"])
			assert.Contains(t, toJSON(t, r["nodes_down"]), victim.name)
			assert.Contains(t, toJSON(t, r["warnings"]), "moves to another node")
		}
	}
	assert.GreaterOrEqual(t, moves, 1, "at least one image moved off the killed node")
	checkSetImages(t, names, id)
	t.Logf("%d image(s) moved off %s; every image built correctly", moves, victim.name)
}

// busiestNode waits until the cluster's builds are placed (this host's
// placement record holds their leases) and returns the node with the most.
func busiestNode(t *testing.T, nodes []*bkNode, within time.Duration) *bkNode {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(binDir, "cache", "jenkins_ha.buildkit", "placement", "*.json"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			var rec struct{ Leases []struct{ Node string } }
			if json.Unmarshal(raw, &rec) != nil || len(rec.Leases) < 5 {
				continue
			}
			count := map[string]int{}
			for _, l := range rec.Leases {
				count[l.Node]++
			}
			var best *bkNode
			for _, n := range nodes {
				if best == nil || count[n.name] > count[best.name] {
					best = n
				}
			}
			if count[best.name] > 0 {
				return best
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the set's builds were not placed in time")
	return nil
}

// archProbe is a static program for GOARCH arch that writes its
// architecture to the file it is given: a RUN step that shows where it ran.
func archProbe(t *testing.T, dir, arch string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "main.go")
	require.NoError(t, os.WriteFile(src, []byte("package main\n\nimport (\n\t\"os\"\n\t\"runtime\"\n)\n\nfunc main() { _ = os.WriteFile(os.Args[1], []byte(runtime.GOARCH+\"\\n\"), 0o644) }\n"), 0o644))
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "probe-"+arch), src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "probe-"+arch), old, old))
}

// registryFile reads a file of the platform's image of ref from the plain registry.
func registryFile(t *testing.T, ref, platform, path string) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	require.NoError(t, err)
	os, arch, _ := strings.Cut(platform, "/")
	img, err := remote.Image(r, remote.WithPlatform(v1.Platform{OS: os, Architecture: arch}))
	require.NoError(t, err)
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return ""
		}
		require.NoError(t, err)
		if strings.TrimPrefix(h.Name, "/") == strings.TrimPrefix(path, "/") {
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			return string(b)
		}
	}
}

func TestClusterTwoPlatformsOnTwoNodesIntoOneIndex(t *testing.T) {
	requireRegistries(t)
	id := uniqueName(t)[len("bk-it-"):]
	amd := startNode(t, "amd", nil)
	// The stand-in for a native arm64 machine: a daemon that runs linux/arm64 only (through QEMU here).
	arm := startNode(t, "arm", nil, "--oci-worker-platform", "linux/arm64")
	b := clusterOption("bk-it-mp-"+id, nil, "", "", amd, arm)
	dir := writeContext(t, map[string]string{
		"Dockerfile":  "FROM scratch\nARG TARGETARCH\nCOPY probe-${TARGETARCH} /probe\nRUN [\"/probe\", \"/arch\"]\nCOPY payload.txt /payload.txt\n",
		"payload.txt": "one index " + id + "\n",
	})
	archProbe(t, dir, "amd64")
	archProbe(t, dir, "arm64")
	repo := "bk-it/cluster-mp-" + id
	ref := plainRegistry + "/" + repo + ":v1"
	args := map[string]any{"name": plainRegistry + "/" + repo, "tag": "v1", "source": "build", "push": true,
		"build": map[string]any{"path": dir, "platform": []any{"linux/amd64", "linux/arm64"}, "provenance": "min"}, "builder": b}

	first := run(t, "buildkit_image", args)
	require.False(t, first.failed(), first.msg())
	assert.True(t, first.changed())
	got, moved := placementOf(first)
	assert.Equal(t, map[string][]string{"amd": {"linux/amd64"}, "arm": {"linux/arm64"}}, got, "each platform on the node that runs it natively")
	assert.Empty(t, moved)
	assert.NotContains(t, toJSON(t, first["placement"]), "emulates")
	assert.Contains(t, strings.Join(actionsOf(first), "\n"), "Merged the platforms built on nodes amd, arm into one index")

	idx := registryIndex(t, repo, "v1")
	var plats []string
	attestations := 0
	for _, m := range idx["manifests"].([]any) {
		m := m.(map[string]any)
		if ann, _ := m["annotations"].(map[string]any); ann["vnd.docker.reference.type"] == "attestation-manifest" {
			attestations++
			continue
		}
		p := m["platform"].(map[string]any)
		plats = append(plats, fmt.Sprintf("%s/%s", p["os"], p["architecture"]))
	}
	assert.ElementsMatch(t, []string{"linux/amd64", "linux/arm64"}, plats, "one index of both platforms")
	assert.Equal(t, 2, attestations, "each node's provenance attestation is in the index")
	assert.Equal(t, first.imageID(), registryDigest(t, repo, "v1"), "the result's digest is the index under the tag")
	assert.Equal(t, "amd64\n", registryFile(t, ref, "linux/amd64", "arch"))
	assert.Equal(t, "arm64\n", registryFile(t, ref, "linux/arm64", "arch"))
	assert.Equal(t, "one index "+id+"\n", registryFile(t, ref, "linux/arm64", "payload.txt"))

	again := run(t, "buildkit_image", args)
	require.False(t, again.failed(), again.msg())
	assert.False(t, again.changed(), "unchanged inputs, the registry holds the index last pushed")

	// The arm64 node gone: the diagnosis warns of it, the platform is emulated on the other node, and the result says why.
	arm.stop()
	diag := run(t, "buildkit_cache", map[string]any{"state": "diagnose", "builder": b, "scanner_path": "/bin/true"})
	require.False(t, diag.failed(), diag.msg())
	summary := toJSON(t, diag["summary"])
	assert.Contains(t, summary, "[OK] builder "+b["name"].(string)+" node amd")
	assert.Contains(t, summary, "[WARN] builder "+b["name"].(string)+" node arm")
	args["force_source"] = true
	moved1 := run(t, "buildkit_image", args)
	require.False(t, moved1.failed(), moved1.msg())
	got, moved = placementOf(moved1)
	assert.Equal(t, map[string][]string{"amd": {"linux/amd64", "linux/arm64"}}, got)
	require.Len(t, moved, 1)
	assert.Equal(t, "arm", moved[0]["node"])
	assert.Contains(t, moved[0]["reason"], "did not answer")
	assert.Contains(t, toJSON(t, moved1["placement"]), "emulates linux/arm64")
	assert.Equal(t, "arm64\n", registryFile(t, ref, "linux/arm64", "arch"))
}

// registryDigest is the digest of repo:tag in the plain registry.
func registryDigest(t *testing.T, repo, tag string) string {
	t.Helper()
	r, err := name.ParseReference(plainRegistry+"/"+repo+":"+tag, name.Insecure)
	require.NoError(t, err)
	d, err := remote.Head(r)
	require.NoError(t, err)
	return d.Digest.String()
}

// TestClusterExactnessWhenBuildsMoveBetweenNodes: each node's BuildKit keeps
// its own copy of a context under its own session key, and this host a record
// of what each holds. A build that moves to another node and back, with an
// edit that gives a file the size and mtime of what the first node's copy
// holds, still gets the new bytes; each image equals a fresh build of its inputs.
func TestClusterExactnessWhenBuildsMoveBetweenNodes(t *testing.T) {
	id := uniqueName(t)[len("bk-it-"):]
	a, b := startNode(t, "ea", nil), startNode(t, "eb", nil)
	byName := map[string]*bkNode{"ea": a, "eb": b}
	other := map[string]*bkNode{"ea": b, "eb": a}
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY data.txt /data.txt\n", "data.txt": "one\n"})
	data := filepath.Join(dir, "data.txt")
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	sameStat(t, t0, data)
	args := buildArgs(uniqueName(t), dir, nil)
	args["builder"] = clusterOption("bk-it-ex-"+id, nil, "", "", a, b)
	where := func(r result) string {
		got, _ := placementOf(r)
		require.Len(t, got, 1)
		for n := range got {
			return n
		}
		return ""
	}

	first := expect(t, "first build", args, true)
	n1 := where(first)
	assert.Equal(t, true, first["context"].(map[string]any)["fresh_copy"])

	// Its node down: the build moves to the other, which starts its own copy.
	byName[n1].stop()
	require.NoError(t, os.WriteFile(data, []byte("two\n"), 0o644))
	require.NoError(t, os.Chtimes(data, t0.Add(time.Hour), t0.Add(time.Hour)))
	time.Sleep(50 * time.Millisecond)
	second := expect(t, "an edit, built on the other node", args, true)
	n2 := where(second)
	assert.NotEqual(t, n1, n2)
	_, moved := placementOf(second)
	require.Len(t, moved, 1)
	assert.Equal(t, n1, moved[0]["node"])
	assert.Contains(t, moved[0]["reason"], "did not answer")
	assert.Equal(t, true, second["context"].(map[string]any)["fresh_copy"], "the other node had no copy of this context")
	assert.Equal(t, "two\n", savedFile(t, args["name"].(string), "data.txt"))

	// Back on the first node (the second down), with a file that has the size
	// and mtime of what the first node's copy holds ("one\n" at t0), other bytes.
	byName[n1].start(t)
	other[n1].stop()
	require.NoError(t, os.WriteFile(data, []byte("uno\n"), 0o644))
	sameStat(t, t0, data)
	time.Sleep(50 * time.Millisecond)
	third := expect(t, "back on the first node, a file with the stat its copy holds", args, true)
	assert.Equal(t, n1, where(third))
	assert.Equal(t, "uno\n", savedFile(t, args["name"].(string), "data.txt"), "the new bytes, not the first node's old copy")
	assert.Equal(t, true, third["context"].(map[string]any)["fresh_copy"], "the first node starts a fresh copy")

	// An ordinary edit on the same node goes through its copy as usual.
	require.NoError(t, os.WriteFile(data, []byte("eins\n"), 0o644))
	time.Sleep(50 * time.Millisecond)
	fourth := expect(t, "an ordinary edit on the same node", args, true)
	assert.Equal(t, n1, where(fourth))
	assert.Equal(t, false, fourth["context"].(map[string]any)["fresh_copy"])

	// Unchanged inputs are a no-op whichever nodes answer: none is asked.
	byName[n1].stop()
	noop := expect(t, "unchanged, every node down", args, false)
	assert.NotContains(t, noop, "placement")
}

// savedFile is a file of the engine's image ref (read from docker save: no shell needed).
func savedFile(t *testing.T, ref, path string) string {
	t.Helper()
	_, files := savedImage(t, ref+":latest")
	return string(files[path])
}

// TestClusterOfDockerContainerNodes: a builder of two BuildKit containers on
// the engine, as `docker buildx create --append` makes one: both created,
// recorded as one builder with two nodes, and two images built on them.
func TestClusterOfDockerContainerNodes(t *testing.T) {
	base := registryBase(t)
	id := uniqueName(t)[len("bk-it-"):]
	bname := "bk-it-dc-" + id
	buildxConfig := t.TempDir()
	t.Setenv("BUILDX_CONFIG", buildxConfig)
	api := dockerClient(t)
	for _, n := range []string{bname + "-a", bname + "-b"} {
		t.Cleanup(func() {
			_ = api.ContainerRemove(context.Background(), "buildx_buildkit_"+n, container.RemoveOptions{Force: true})
			_ = api.VolumeRemove(context.Background(), "buildx_buildkit_"+n+"_state", true)
		})
	}
	b := map[string]any{"name": bname, "driver": "docker-container", "image": buildkitImage(t), "network": "host",
		"insecure_registries": []any{plainRegistry}, "nodes": []any{map[string]any{"name": bname + "-a"}, map[string]any{"name": bname + "-b"}}}
	var names, dirs []string
	for i := 0; i < 2; i++ {
		names = append(names, uniqueName(t))
		dirs = append(dirs, writeContext(t, map[string]string{"Dockerfile": fmt.Sprintf("FROM %s\nRUN sleep 4 && echo image-%d > /v\n", base, i)}))
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := buildArgs(names[i], dirs[i], nil)
			args["builder"] = b
			results[i] = run(t, "buildkit_image", args)
		}()
	}
	wg.Wait()
	used := map[string]bool{}
	for i, r := range results {
		require.False(t, r.failed(), r.msg())
		assert.Equal(t, "docker-container", r["builder_driver"])
		got, _ := placementOf(r)
		for n := range got {
			used[n] = true
		}
		assert.Equal(t, fmt.Sprintf("image-%d\n", i), savedFile(t, names[i], "v"))
	}
	assert.Len(t, used, 2, "two images at once go to the two nodes")
	for _, n := range []string{bname + "-a", bname + "-b"} {
		info, err := api.ContainerInspect(context.Background(), "buildx_buildkit_"+n)
		require.NoError(t, err, "node %s is a container", n)
		assert.True(t, info.State.Running)
	}
	if bx := os.Getenv("BUILDX"); bx != "" {
		out, err := exec.Command(bx, "ls").CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Regexp(t, regexp.QuoteMeta(bname)+`\s+docker-container`, string(out))
		for _, n := range []string{bname + "-a", bname + "-b"} {
			assert.Regexp(t, regexp.QuoteMeta(`\_ `+n)+`\s+\\_ \S+\s+running`, string(out), "buildx ls lists node %s:\n%s", n, out)
		}
	}
}

// TestClusterWithNoNodeAnswering: refused naming every node and why, or with
// builder.fallback built on the engine's BuildKit, said in actions.
func TestClusterWithNoNodeAnswering(t *testing.T) {
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo fell back > /f\n"})
	b := map[string]any{"name": "bk-it-gone-" + uniqueName(t)[len("bk-it-"):], "driver": "remote", "nodes": []any{
		map[string]any{"name": "g1", "endpoint": "unix:///nonexistent/g1.sock"},
		map[string]any{"name": "g2", "endpoint": "tcp://127.0.0.1:9"}}, "insecure": true}
	name := uniqueName(t)
	args := buildArgs(name, dir, nil)
	args["builder"] = b
	res := run(t, "buildkit_image", args)
	require.True(t, res.failed())
	assert.Contains(t, res.msg(), "no node answers")
	assert.Contains(t, res.msg(), "g1 does not answer")
	assert.Contains(t, res.msg(), "g2 does not answer")
	_, exists := imageExists(t, name+":latest")
	assert.False(t, exists)

	b["fallback"] = true
	res = run(t, "buildkit_image", args)
	require.False(t, res.failed(), res.msg())
	assert.Equal(t, "buildkit (docker engine)", res["builder"])
	assert.Contains(t, strings.Join(actionsOf(res), "\n"), "Fell back from builder "+b["name"].(string)+" to the engine's BuildKit")
}

// TestRoleOnAClusterOfThreeNodes runs the role on a builder of three
// standalone BuildKit nodes with a registry cache: the set spreads over the
// nodes, each node exports its images' caches, the report says where each
// image was built, and the second run is a no-op.
func TestRoleOnAClusterOfThreeNodes(t *testing.T) {
	s, namespace, reports, vars := roleSetup(t)
	for _, key := range []string{"controller", "agent"} {
		ref := plainRegistry + "/" + namespace + "/" + strings.TrimSuffix(s[key], ":latest") + ":latest"
		pushToRegistry(t, s[key], ref)
		s[key] = ref
		t.Cleanup(func() { removeImage(ref) })
	}
	nodes := []*bkNode{startNode(t, "r1", nil), startNode(t, "r2", nil), startNode(t, "r3", nil)}
	t.Setenv("BUILDX_CONFIG", t.TempDir())
	var list []any
	for _, n := range nodes {
		list = append(list, map[string]any{"name": n.name, "endpoint": n.addr})
	}
	vars["jenkins_images_base_images"] = map[string]any{"master": s["controller"], "dind": s["agent"], "maven": s["agent"],
		"python": s["agent"], "nodejs": s["agent"]}
	vars["jenkins_build_builder_name"] = "bk-it-rc-" + namespace[len("bk-it-"):]
	vars["jenkins_build_buildx_driver"] = "remote"
	vars["jenkins_build_builder_nodes"] = list
	vars["jenkins_build_cache_registry"] = plainRegistry + "/" + namespace + "-cache"
	vars["jenkins_images_cache_limit"] = "1TB"

	out, ok := playbook(t, "playbooks/site.yml", vars, "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images")
	require.True(t, ok, out)
	r := readReport(t, reports)
	assert.ElementsMatch(t, []string{"master", "dind", "maven", "python", "nodejs"}, r.Summary.Built)
	assert.ElementsMatch(t, r.Summary.Built, r.Summary.Promoted)
	perNode := map[string]int{}
	entries := map[string]map[string]any{"master": r.BuildResults.Master}
	for k, v := range r.BuildResults.Agents {
		entries[k] = v
	}
	for img, e := range entries {
		nodes, _ := e["builder_nodes"].([]any)
		require.Len(t, nodes, 1, "%s: %v", img, e["placement"])
		perNode[nodes[0].(string)]++
		assert.Contains(t, e["builder"], vars["jenkins_build_builder_name"].(string)+"/"+nodes[0].(string)+": remote")
		if img == "master" || img == "maven" { // the stand-in agents without packages have no step of their own to cache
			assert.True(t, registryManifestExists(t, plainRegistry, namespace+"-cache/"+repoOf(img), "buildcache", false), "%s's registry cache", img)
		}
	}
	assert.Len(t, perNode, 3, "the role's set spread over the three nodes: %v", perNode)
	assert.Equal(t, vars["jenkins_build_builder_name"], r.BuildCache["builder"], "the cluster's cache, over its nodes")
	checkHTMLNodes(t, reports)

	out, ok = playbook(t, "playbooks/site.yml", vars, "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images")
	require.True(t, ok, out)
	assert.Regexp(t, `localhost\s*: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0`, out)
	assert.Empty(t, readReport(t, reports).Summary.Built)
}

func checkHTMLNodes(t *testing.T, reports string) {
	t.Helper()
	html, err := os.ReadFile(filepath.Join(reports, "localhost", "build-report-latest.html"))
	require.NoError(t, err)
	assert.Contains(t, string(html), "<dt>Nodes</dt>")
}
