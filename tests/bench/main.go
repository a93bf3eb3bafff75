// Command bench runs the contenders side by side on the workloads users
// repeat, and prints medians and ratios against an anchor measured in the
// same run: this collection's modules, `docker buildx build` and
// `docker buildx bake` (the pinned plugin), the jenkins_images role through
// ansible-playbook, and community.docker.docker_image where it is installed.
//
//	make bench                      # full sizes, 5 iterations
//	go run ./tests/bench -quick     # CI: one iteration, small contexts
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

type result struct {
	workload, contender string
	samples             []time.Duration
	note                string
}

func (r result) median() time.Duration {
	s := append([]time.Duration(nil), r.samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

type bench struct {
	quick      bool
	iterations int
	bin        string // plugins/bin
	buildx     string // docker CLI config dir with the buildx plugin
	work       string
	results    []result
	maxRSS     map[string]int64
}

func main() {
	quick := flag.Bool("quick", false, "one iteration and small contexts (CI)")
	iterations := flag.Int("iterations", 5, "samples per contender")
	only := flag.String("workloads", "noop,noop-many,change,set,role-set,ssh,cluster,hosts", "the workloads to run, comma-separated: noop, noop-many, change, set, role-set, ssh, cluster, hosts")
	flag.Parse()
	b := &bench{quick: *quick, iterations: *iterations, maxRSS: map[string]int64{}}
	if b.quick {
		b.iterations = 1
	}
	root, _ := os.Getwd()
	b.bin = filepath.Join(root, "plugins", "bin")
	work, err := os.MkdirTemp("", "bk-bench-")
	must(err)
	defer os.RemoveAll(work)
	b.work = work
	if p := os.Getenv("BUILDX"); p != "" {
		cfg := filepath.Join(work, "docker-config")
		must(os.MkdirAll(filepath.Join(cfg, "cli-plugins"), 0o755))
		must(os.Symlink(p, filepath.Join(cfg, "cli-plugins", "docker-buildx")))
		b.buildx = cfg
	}

	files, size := 2000, 50<<10 // 100 MB
	if b.quick {
		files, size = 100, 10<<10
	}
	for _, w := range strings.Split(*only, ",") {
		switch strings.TrimSpace(w) {
		case "noop":
			b.noopOne(files, size)
		case "noop-many":
			many := 50000
			if b.quick {
				many = 5000
			}
			b.noopMany(many)
		case "change":
			b.smallChange(files, size)
		case "set":
			b.set()
		case "role-set":
			b.roleSet()
		case "ssh":
			b.overSSH()
		case "cluster":
			b.cluster()
		case "hosts":
			b.hosts()
		default:
			must(fmt.Errorf("unknown workload %q (noop, noop-many, change, set, role-set, ssh, cluster, hosts)", w))
		}
	}
	b.print()
}

// atExit are what must undoes before it ends the run (daemons started,
// cgroups made): os.Exit skips deferred calls.
var atExit []func()

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		for i := len(atExit) - 1; i >= 0; i-- {
			atExit[i]()
		}
		os.Exit(1)
	}
}

// context lays out n files of size random bytes and a Dockerfile.
func (b *bench) context(name string, n, size int, dockerfile string) string {
	dir := filepath.Join(b.work, name)
	buf := make([]byte, size)
	for i := 0; i < n; i++ {
		_, _ = rand.Read(buf)
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%50), fmt.Sprintf("f%04d.bin", i))
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, buf, 0o644))
	}
	must(os.MkdirAll(dir, 0o755))
	must(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644))
	old := time.Now().Add(-time.Hour)
	_ = filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })
	return dir
}

// module runs one of our module binaries like Ansible does and returns its JSON result.
func (b *bench) module(name string, args map[string]any) (map[string]any, time.Duration) {
	args["_ansible_module_name"] = name
	if os.Getenv("BENCH_DEBUG") != "" {
		// The modules' -vvv timings (buildkit_image_set: built / gated / done at) on stderr.
		args["_ansible_verbosity"] = 3
	}
	raw, _ := json.Marshal(args)
	f, err := os.CreateTemp(b.work, "args-")
	must(err)
	_, _ = f.Write(raw)
	f.Close()
	defer os.Remove(f.Name())
	// The multi-call binary, as the action plugin runs it: <binary> <module> <args file>.
	cmd := exec.Command(filepath.Join(b.bin, "jenkins_ha_buildkit_linux_"+runtime.GOARCH), name, f.Name())
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(b.work, "cache"))
	if os.Getenv("BENCH_DEBUG") != "" {
		cmd.Stderr = os.Stderr
	}
	start := time.Now()
	out, _ := cmd.Output()
	d := time.Since(start)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss*1024 > b.maxRSS[name] {
		b.maxRSS[name] = ru.Maxrss * 1024
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		must(fmt.Errorf("%s printed %q", name, out))
	}
	if f, _ := res["failed"].(bool); f {
		must(fmt.Errorf("%s failed: %v", name, res["msg"]))
	}
	if os.Getenv("BENCH_DEBUG") != "" {
		if images, ok := res["images"].([]any); ok {
			for _, img := range images {
				im, _ := img.(map[string]any)
				bd, _ := im["build"].(map[string]any)
				fmt.Fprintf(os.Stderr, "%s: %v: changed=%v build_reason=%v\n", name, im["name"], bd["changed"], bd["build_reason"])
			}
		}
	}
	return res, d
}

func (b *bench) build(name, dir string) (map[string]any, time.Duration) {
	return b.module("buildkit_image", map[string]any{"name": name, "source": "build", "build": map[string]any{"path": dir}})
}

func (b *bench) buildxBuild(tag, dir string) time.Duration {
	cmd := exec.Command("docker", "buildx", "build", "--progress", "quiet", "-t", tag, dir)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+b.buildx)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		must(fmt.Errorf("buildx: %v: %s", err, out))
	}
	return time.Since(start)
}

func (b *bench) dockerImageAvailable() bool {
	out, err := exec.Command("/usr/bin/ansible-doc", "-l", "community.docker").CombinedOutput()
	return err == nil && strings.Contains(string(out), "community.docker.docker_image ")
}

func (b *bench) adhoc(module, args string) time.Duration {
	cmd := exec.Command("/usr/bin/ansible", "localhost", "-m", module, "-a", args)
	cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(must2(os.Getwd()), "ansible.cfg"), "XDG_CACHE_HOME="+filepath.Join(b.work, "cache"))
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		must(fmt.Errorf("ansible -m %s: %v: %s", module, err, out))
	}
	return time.Since(start)
}

func must2(s string, err error) string { must(err); return s }

func (b *bench) add(workload, contender string, samples []time.Duration, note string) {
	b.results = append(b.results, result{workload, contender, samples, note})
}

func (b *bench) repeat(f func() time.Duration) []time.Duration {
	var s []time.Duration
	for i := 0; i < b.iterations; i++ {
		s = append(s, f())
	}
	return s
}

// noopOne: nothing changed since the last build of one image.
func (b *bench) noopOne(files, size int) {
	dir := b.context("noop", files, size, "FROM local/busybox:latest\nCOPY . /ctx\n")
	w := fmt.Sprintf("no-op, one image (%d files, %d MB)", files, files*size>>20)
	b.build("bk-bench-noop", dir)
	b.add(w, "buildkit_image (module process)", b.repeat(func() time.Duration { _, d := b.build("bk-bench-noop", dir); return d }), "")
	args := fmt.Sprintf(`{"name": "bk-bench-noop", "source": "build", "build": {"path": %q}}`, dir)
	b.add(w, "buildkit_image (ansible task)", b.repeat(func() time.Duration { return b.adhoc("jenkins_ha.buildkit.buildkit_image", args) }), "")
	if b.buildx != "" {
		b.buildxBuild("bk-bench-noop-bx", dir)
		b.add(w, "docker buildx build", b.repeat(func() time.Duration { return b.buildxBuild("bk-bench-noop-bx", dir) }), "anchor")
	}
	if b.dockerImageAvailable() {
		dargs := fmt.Sprintf(`{"name": "bk-bench-noop-di", "source": "build", "build": {"path": %q}}`, dir)
		b.adhoc("community.docker.docker_image", dargs)
		b.add(w, "community.docker.docker_image (ansible task)", b.repeat(func() time.Duration { return b.adhoc("community.docker.docker_image", dargs) }), "")
	}
}

// noopMany: nothing changed in a context of many small files, where the
// per-file work of the no-op decision (one lstat each, the stat cache) shows.
// The contender's label carries its peak RSS and the stat cache's size.
func (b *bench) noopMany(files int) {
	dir := b.context("noop-many", files, 512, "FROM local/busybox:latest\nCOPY . /ctx\n")
	w := fmt.Sprintf("no-op, one image (%d files of 512 B)", files)
	b.build("bk-bench-noop-many", dir)
	before := b.maxRSS["buildkit_image"]
	b.maxRSS["buildkit_image"] = 0
	samples := b.repeat(func() time.Duration { _, d := b.build("bk-bench-noop-many", dir); return d })
	rss := b.maxRSS["buildkit_image"]
	b.maxRSS["buildkit_image"] = max(before, rss)
	var cache int64
	stats, _ := filepath.Glob(filepath.Join(b.work, "cache", "jenkins_ha.buildkit", "context", "*.stat"))
	for _, f := range stats {
		if st, err := os.Stat(f); err == nil && st.Size() > cache {
			cache = st.Size()
		}
	}
	b.add(w, fmt.Sprintf("buildkit_image (module process; peak RSS %.0f MB, stat cache %.1f MB)", float64(rss)/1e6, float64(cache)/1e6), samples, "")
	if b.buildx != "" {
		b.buildxBuild("bk-bench-noop-many-bx", dir)
		b.add(w, "docker buildx build", b.repeat(func() time.Duration { return b.buildxBuild("bk-bench-noop-many-bx", dir) }), "anchor")
	}
}

// smallChange: one context file changed, in the last stage.
func (b *bench) smallChange(files, size int) {
	dir := b.context("change", files, size, "FROM local/busybox:latest AS base\nRUN echo base > /base\nFROM base\nCOPY . /ctx\n")
	w := "small change (one file, last stage)"
	n := 0
	touch := func() {
		n++
		must(os.WriteFile(filepath.Join(dir, "d00", "f0000.bin"), []byte(fmt.Sprintf("change %d %d", n, time.Now().UnixNano())), 0o644))
	}
	b.build("bk-bench-change", dir)
	b.add(w, "buildkit_image (module process)", b.repeat(func() time.Duration { touch(); _, d := b.build("bk-bench-change", dir); return d }), "")
	if b.buildx != "" {
		b.buildxBuild("bk-bench-change-bx", dir)
		b.add(w, "docker buildx build", b.repeat(func() time.Duration { touch(); return b.buildxBuild("bk-bench-change-bx", dir) }), "anchor")
	}
}

// overSSH: one Ansible task against a host reached by real SSH (sshd on
// 127.0.0.1:2222, started here), ours vs docker_image, transfers included.
func (b *bench) overSSH() {
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		fmt.Fprintln(os.Stderr, "bench: no /usr/sbin/sshd (openssh-server): SSH workload skipped")
		return
	}
	dir := filepath.Join(b.work, "ssh")
	must(os.MkdirAll(dir, 0o700))
	run := func(name string, args ...string) {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			must(fmt.Errorf("%s: %v: %s", name, err, out))
		}
	}
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host_key"))
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "client_key"))
	pub, err := os.ReadFile(filepath.Join(dir, "client_key.pub"))
	must(err)
	must(os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600))
	cfg := fmt.Sprintf("Port 2222\nListenAddress 127.0.0.1\nHostKey %s/host_key\nAuthorizedKeysFile %s/authorized_keys\n"+
		"PermitRootLogin prohibit-password\nPasswordAuthentication no\nStrictModes no\nUsePAM no\nPidFile %s/sshd.pid\n", dir, dir, dir)
	must(os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600))
	must(os.MkdirAll("/run/sshd", 0o755))
	sshd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	must(sshd.Start())
	defer func() { _ = sshd.Process.Kill(); _ = sshd.Wait() }()
	time.Sleep(500 * time.Millisecond)
	inv := filepath.Join(dir, "hosts.ini")
	must(os.WriteFile(inv, []byte(fmt.Sprintf("sshhost ansible_host=127.0.0.1 ansible_port=2222 ansible_user=root ansible_python_interpreter=/usr/bin/python3 "+
		"ansible_ssh_private_key_file=%s/client_key ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n", dir)), 0o600))
	task := func(module, args string, verbose bool) (time.Duration, string) {
		a := []string{"sshhost", "-i", inv, "-m", module, "-a", args}
		if verbose {
			a = append(a, "-vvv")
		}
		cmd := exec.Command("/usr/bin/ansible", a...)
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(must2(os.Getwd()), "ansible.cfg"), "ANSIBLE_SSH_PIPELINING=False")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			must(fmt.Errorf("ansible over ssh -m %s: %v: %s", module, err, out))
		}
		return time.Since(start), string(out)
	}
	// A fresh host: the first task sends the binary, later ones only their arguments.
	_ = os.RemoveAll("/root/.cache/jenkins_ha.buildkit/bin")
	w := "one task over SSH (image present, source: local)"
	ours := `{"name": "local/busybox", "source": "local"}`
	first, _ := task("jenkins_ha.buildkit.buildkit_image", ours, false)
	b.add(w, "buildkit_image, first task (binary sent)", []time.Duration{first}, "")
	b.add(w, "buildkit_image, repeated task", b.repeat(func() time.Duration { d, _ := task("jenkins_ha.buildkit.buildkit_image", ours, false); return d }), "")
	_, log := task("jenkins_ha.buildkit.buildkit_image", ours, true)
	resent := strings.Contains(log, "PUT ") && strings.Contains(log, "/bin/jenkins_ha_buildkit_linux_")
	fmt.Fprintf(os.Stderr, "bench: repeated task re-sent the binary: %v\n", resent)
	if b.dockerImageAvailable() {
		b.add(w, "community.docker.docker_image", b.repeat(func() time.Duration {
			d, _ := task("community.docker.docker_image", ours, false)
			return d
		}), "anchor")
	}
}

func (b *bench) print() {
	fmt.Printf("\n## Benchmarks (%s, %d CPUs, %s, %d iteration(s))\n\n", runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), engineVersion(), b.iterations)
	fmt.Println("| workload | contender | median | ratio to anchor |")
	fmt.Println("|---|---|---|---|")
	anchors := map[string]time.Duration{}
	for _, r := range b.results {
		if r.note == "anchor" {
			anchors[r.workload] = r.median()
		}
	}
	for _, r := range b.results {
		ratio := "—"
		if a, ok := anchors[r.workload]; ok && r.note != "anchor" {
			ratio = fmt.Sprintf("%.2f", float64(r.median())/float64(a))
		} else if r.note == "anchor" {
			ratio = "1 (anchor)"
		}
		fmt.Printf("| %s | %s | %s | %s |\n", r.workload, r.contender, r.median().Round(time.Millisecond), ratio)
	}
	fmt.Println("\n| binary (every module) | size | module | peak RSS in this run |")
	fmt.Println("|---|---|---|---|")
	bin := filepath.Join(b.bin, "jenkins_ha_buildkit_linux_"+runtime.GOARCH)
	size := "not built"
	if st, err := os.Stat(bin); err == nil {
		size = fmt.Sprintf("%.1f MB", float64(st.Size())/1e6)
	}
	names := make([]string, 0, len(b.maxRSS))
	for name := range b.maxRSS {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		names = []string{"—"}
	}
	for _, name := range names {
		rss := "—"
		if v, ok := b.maxRSS[name]; ok {
			rss = fmt.Sprintf("%.1f MB", float64(v)/1e6)
		}
		fmt.Printf("| %s | %s | %s | %s |\n", filepath.Base(bin), size, name, rss)
	}
}

func engineVersion() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "Docker {{.Server.Version}}").Output()
	if err != nil {
		return "engine unknown"
	}
	return strings.TrimSpace(string(out))
}
