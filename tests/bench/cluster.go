package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The distributed-build workloads: a BuildKit cluster (standalone buildkitd
// nodes, BUILDKITD) and a second build host (a current Docker Engine beside
// this one, tests/scripts/engine-current.sh), both on the local registry
// (tests/scripts/registry.sh). On one machine every node and engine shares
// the same CPUs: the figures say what the mechanism costs or saves here, not
// what separate machines would give.

// benchRegistry is the registry the workloads share bases and caches through:
// BENCH_REGISTRY, else tests/scripts/registry.sh's plain one.
var benchRegistry = func() string {
	if r := os.Getenv("BENCH_REGISTRY"); r != "" {
		return r
	}
	return "127.0.0.1:5000"
}()

// registryBase pushes local/busybox to the local registry (standalone
// daemons and other engines see registries, not this engine's images).
func (b *bench) registryBase() (string, bool) {
	if resp, err := http.Get("http://" + benchRegistry + "/v2/"); err != nil {
		fmt.Fprintf(os.Stderr, "bench: no registry on %s (tests/scripts/registry.sh start): skipped\n", benchRegistry)
		return "", false
	} else {
		resp.Body.Close()
	}
	ref := benchRegistry + "/bk-bench/busybox:latest"
	for _, args := range [][]string{{"tag", "local/busybox:latest", ref}, {"push", ref}} {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			must(fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, out))
		}
	}
	return ref, true
}

// setContexts are five contexts sharing a first stage (the set workload's,
// FROM base); spin adds a CPU-bound step of about a CPU-second to each image
// (a compile, an install): work a node's CPUs do.
func (b *bench) setContexts(prefix, base string, spin bool) []string {
	var dirs []string
	for i, name := range []string{"master", "dind", "maven", "python", "nodejs"} {
		own := fmt.Sprintf("RUN sleep 1 && echo %s-%d > /image\n", name, i)
		if spin {
			own = fmt.Sprintf("RUN i=0; while [ $i -lt 1000000 ]; do i=$((i+1)); done; echo %s-%d-$i > /image\n", name, i)
		}
		dirs = append(dirs, b.context(prefix+"-"+name, 3, 1024, fmt.Sprintf(
			"FROM %s AS common\nRUN sleep 2 && head -c 3000000 /dev/urandom > /common\nFROM common\n%sCOPY . /ctx\n", base, own)))
	}
	return dirs
}

// buildSet builds the set's images at once, args per image added to each.
func (b *bench) buildSet(names, dirs []string, extra func(i int) map[string]any) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for i, d := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := map[string]any{"name": names[i], "source": "build", "force_source": true, "build": map[string]any{"path": d}}
			for k, v := range extra(i) {
				args[k] = v
			}
			b.module("buildkit_image", args)
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// buildkitd starts a standalone BuildKit daemon in the bench's work
// directory and returns its address and how to stop it. cpus > 0 caps the
// daemon and its build steps to that many CPUs (a cgroup v1 CFS quota, the
// steps placed under it by BuildKit's defaultCgroupParent): a stand-in for a
// machine of its own.
func (b *bench) buildkitd(name string, cpus float64) (string, func()) {
	dir := filepath.Join(b.work, "node-"+name)
	must(os.MkdirAll(dir, 0o755))
	sock := filepath.Join(dir, "buildkitd.sock")
	log, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	must(err)
	args := []string{"--addr", "unix://" + sock, "--root", filepath.Join(dir, "root"),
		"--oci-worker=true", "--oci-worker-snapshotter=native", "--containerd-worker=false"}
	cgroup, procs := "", ""
	if cpus > 0 {
		var parent string
		cgroup, procs, parent = capCPU(fmt.Sprintf("bk-bench-%d-%s", os.Getpid(), name), cpus)
		cfg := filepath.Join(dir, "buildkitd.toml")
		must(os.WriteFile(cfg, []byte(fmt.Sprintf("[worker.oci]\n  defaultCgroupParent = %q\n", parent)), 0o644))
		args = append(args, "--config", cfg)
	}
	cmd := exec.Command(os.Getenv("BUILDKITD"), args...)
	cmd.Stdout, cmd.Stderr = log, log
	must(cmd.Start())
	if procs != "" {
		must(os.WriteFile(procs, []byte(fmt.Sprint(cmd.Process.Pid)), 0o644))
	}
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			log.Close()
			if cgroup != "" {
				removeCgroup(cgroup)
			}
		})
	}
	atExit = append(atExit, stop)
	return "unix://" + sock, stop
}

// cluster: the cold 5-image set on a builder of one node vs three (each
// image loaded into the engine; every node's cache pruned before each run),
// with a CPU-bound step per image: nodes sharing this machine's CPUs, then
// nodes capped to 2/3 of a CPU each (1 node: 2/3 CPU; 3 nodes: 2 CPUs), as
// machines of their own would add CPUs.
func (b *bench) cluster() {
	if os.Getenv("BUILDKITD") == "" {
		fmt.Fprintln(os.Stderr, "bench: BUILDKITD is not set (.ci/tools/build.sh buildkitd): cluster workload skipped")
		return
	}
	base, ok := b.registryBase()
	if !ok {
		return
	}
	dirs := b.setContexts("cluster", base, true)
	var names []string
	for i := range dirs {
		names = append(names, fmt.Sprintf("bk-bench-cluster-%d", i))
	}
	defer func() { _ = exec.Command("docker", append([]string{"rmi", "-f"}, names...)...).Run() }()
	for _, cpus := range []float64{0, 2.0 / 3} {
		if cpus > 0 && !canCapCPU() {
			fmt.Fprintln(os.Stderr, "bench: no cgroup cpu controller to cap nodes with: the cluster workload's capped nodes are skipped")
			continue
		}
		w := "cold, 5 images sharing a stage + 1 CPU-s each, BuildKit cluster, nodes sharing the machine's CPUs"
		if cpus > 0 {
			w = "cold, 5 images sharing a stage + 1 CPU-s each, BuildKit cluster, each node capped to 2/3 CPU"
		}
		var nodes []map[string]any
		var stops []func()
		for _, n := range []string{"n1", "n2", "n3"} {
			addr, stop := b.buildkitd(fmt.Sprintf("%s-%v", n, cpus > 0), cpus)
			stops = append(stops, stop)
			nodes = append(nodes, map[string]any{"name": n, "endpoint": addr})
		}
		runs := map[int]func() time.Duration{}
		for _, n := range []int{1, 3} {
			builder := map[string]any{"name": fmt.Sprintf("bk-bench-%d-nodes-%v", n, cpus > 0), "driver": "remote", "nodes": nodes[:n]}
			runs[n] = func() time.Duration {
				b.module("buildkit_cache", map[string]any{"state": "pruned", "all": true, "builder": builder})
				return b.buildSet(names, dirs, func(int) map[string]any { return map[string]any{"builder": builder} })
			}
			runs[n]() // the nodes up and the bases pulled once, outside the samples
		}
		// Samples alternate, so that a change in the machine's load falls on both alike.
		var one, three []time.Duration
		for i := 0; i < b.iterations; i++ {
			one = append(one, runs[1]())
			three = append(three, runs[3]())
		}
		b.add(w, "buildkit_image x5, concurrent, 1 node", one, "anchor")
		b.add(w, "buildkit_image x5, concurrent, 3 nodes", three, "")
		for _, stop := range stops {
			stop()
		}
	}
}

// hosts: the second build host's cold build of the set from the registry
// cache the first host exported, against its own cold build. The first
// host is this engine with a standalone buildkitd as its builder (it exports
// a registry cache per image, mode=max); the second is a current Docker
// Engine beside it, building with its own BuildKit, its build cache pruned
// before each sample.
func (b *bench) hosts() {
	if os.Getenv("BUILDKITD") == "" {
		fmt.Fprintln(os.Stderr, "bench: BUILDKITD is not set (.ci/tools/build.sh buildkitd): hosts workload skipped")
		return
	}
	base, ok := b.registryBase()
	if !ok {
		return
	}
	if b.quick {
		// CI's smoke run starts no engine for it: it uses one that answers.
		if st, err := exec.Command("tests/scripts/engine-current.sh", "status").CombinedOutput(); err != nil || !strings.Contains(string(st), " up on ") {
			fmt.Fprintln(os.Stderr, "bench: -quick and no current engine running (tests/scripts/engine-current.sh): hosts workload skipped")
			return
		}
	}
	out, err := exec.Command("tests/scripts/engine-current.sh").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: the second engine does not start (tests/scripts/engine-current.sh: %v): hosts workload skipped\n", err)
		return
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	second := lines[len(lines)-1]
	addr, stop := b.buildkitd("host-a", 0)
	defer stop()
	id := fmt.Sprint(time.Now().UnixNano())
	dirs := b.setContexts("hosts", base, false)
	var names []string
	for i := range dirs {
		names = append(names, fmt.Sprintf("bk-bench-hosts-%d", i))
	}
	defer func() {
		_ = exec.Command("docker", append([]string{"rmi", "-f"}, names...)...).Run()
		rm := exec.Command("docker", append([]string{"rmi", "-f"}, names...)...)
		rm.Env = append(os.Environ(), "DOCKER_HOST="+second)
		_ = rm.Run()
	}()
	cacheRef := func(i int) string {
		return fmt.Sprintf("%s/bk-bench-cache-%s/image-%d:buildcache", benchRegistry, id, i)
	}
	// Host A builds the set and exports its registry cache.
	hostA := map[string]any{"name": "bk-bench-host-a", "driver": "remote", "endpoint": addr}
	b.buildSet(names, dirs, func(i int) map[string]any {
		return map[string]any{"builder": hostA, "build": map[string]any{"path": dirs[i],
			"cache_to": []any{map[string]any{"type": "registry", "ref": cacheRef(i), "mode": "max"}}}}
	})
	// Host B: its own cold build, and a cold build from host A's cache.
	onB := map[string]any{"docker_host": second}
	prune := func() {
		b.module("buildkit_cache", map[string]any{"state": "pruned", "all": true, "docker_host": second})
	}
	w := "cold, 5 images sharing a stage, on a second build host (a current engine's BuildKit, its cache pruned)"
	own := func() time.Duration {
		prune()
		return b.buildSet(names, dirs, func(int) map[string]any { return onB })
	}
	shared := func() time.Duration {
		prune()
		return b.buildSet(names, dirs, func(i int) map[string]any {
			return map[string]any{"docker_host": second, "build": map[string]any{"path": dirs[i],
				"cache_from": []any{map[string]any{"type": "registry", "ref": cacheRef(i)}}}}
		})
	}
	own() // the base pulled into the second engine once, outside the samples
	var ownS, sharedS []time.Duration
	for i := 0; i < b.iterations; i++ { // alternating, as above
		ownS = append(ownS, own())
		sharedS = append(sharedS, shared())
	}
	b.add(w, "buildkit_image x5, its own cold build", ownS, "anchor")
	b.add(w, "buildkit_image x5, from the first host's registry cache", sharedS, "")
}

// removeCgroup removes a cgroup directory and the ones BuildKit made under it, deepest first.
func removeCgroup(dir string) {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i])
	}
}

// canCapCPU says whether capCPU can: the cgroup v1 cpu controller, or cgroup
// v2 with cpu delegated from the root.
func canCapCPU() bool {
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); err == nil {
		return true
	}
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
	return err == nil && strings.Contains(" "+string(b), " cpu")
}

// capCPU makes a cgroup of name capped to cpus CPUs (CFS quota). It returns
// the directory to remove, the cgroup.procs file the daemon goes in, and the
// cgroup parent its build steps go under (BuildKit's defaultCgroupParent),
// both under the cap. On cgroup v2 the daemon sits in a leaf of its own
// (no process in a cgroup whose children have controllers).
func capCPU(name string, cpus float64) (dir, procs, parent string) {
	quota := int(cpus * 100000)
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); err == nil {
		dir = filepath.Join("/sys/fs/cgroup/cpu", name)
		must(os.Mkdir(dir, 0o755))
		must(os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(fmt.Sprint(quota)), 0o644))
		return dir, filepath.Join(dir, "cgroup.procs"), "/" + name
	}
	dir = filepath.Join("/sys/fs/cgroup", name)
	must(os.Mkdir(dir, 0o755))
	must(os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(fmt.Sprintf("%d 100000", quota)), 0o644))
	must(os.Mkdir(filepath.Join(dir, "daemon"), 0o755))
	return dir, filepath.Join(dir, "daemon", "cgroup.procs"), "/" + name + "/steps"
}
