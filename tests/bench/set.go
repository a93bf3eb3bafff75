package main

// The image-set workloads: five images built together, cold and as a no-op,
// with `docker buildx bake` of the same five as the anchor.
//
//   - set: five synthetic images sharing a first stage (a 2 s step that
//     BuildKit should run once for all five);
//   - role-set: the jenkins_images role's own five images, rendered by the
//     role from its templates with the stand-in bases the role tests use
//     (tests/fixtures/standins) and an offline Trivy DB made here; the bake
//     file is generated from the contexts the role rendered.
//
// "Cold" means that no step of the set is in the build cache. Instead of
// resetting the (shared) engine's build cache, every cold run builds from a
// base that no earlier run used: a fresh nonce in the shared stage (set) or
// a stand-in base with a nonce layer on top (role-set), one per contender and
// run. Contenders run interleaved (one sample of each in turn), so that a busy
// moment of the machine does not fall on one contender only.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bakeFile writes a bake definition (JSON, which bake reads as it reads HCL)
// of targets and returns its path.
func (b *bench) bakeFile(name string, targets map[string]map[string]any) string {
	names := make([]string, 0, len(targets))
	for n := range targets {
		names = append(names, n)
	}
	sort.Strings(names)
	def := map[string]any{"group": map[string]any{"default": map[string]any{"targets": names}}, "target": targets}
	raw, err := json.MarshalIndent(def, "", "  ")
	must(err)
	p := filepath.Join(b.work, name+".bake.json")
	must(os.WriteFile(p, raw, 0o644))
	return p
}

// bake runs `docker buildx bake` of a bake file, allowed to read dirs.
func (b *bench) bake(file string, dirs ...string) time.Duration {
	args := []string{"buildx", "bake", "--progress", "quiet", "-f", file}
	for _, d := range dirs {
		args = append(args, "--allow=fs.read="+d)
	}
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+b.buildx)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		must(fmt.Errorf("buildx bake: %v: %s", err, out))
	}
	return time.Since(start)
}

// hasModule says whether the binary has a module (the set module is new).
func (b *bench) hasModule(name string) bool {
	out, err := exec.Command(filepath.Join(b.bin, "jenkins_ha_buildkit_linux_"+runtime.GOARCH), "--list").Output()
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) == name {
			return true
		}
	}
	return false
}

// concurrently runs f for each of n and returns the wall time.
func concurrently(n int, f func(i int)) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); f(i) }(i)
	}
	wg.Wait()
	return time.Since(start)
}

// sample is one contender of a workload, measured in turns.
type sample struct {
	contender string
	note      string
	run       func(iteration int) time.Duration
	samples   []time.Duration
}

// interleave runs each contender once per iteration, in turn.
func (b *bench) interleave(workload string, contenders []*sample) {
	for i := 0; i < b.iterations; i++ {
		for _, c := range contenders {
			c.samples = append(c.samples, c.run(i))
		}
	}
	for _, c := range contenders {
		b.add(workload, c.contender, c.samples, c.note)
	}
}

var setNames = []string{"master", "dind", "maven", "python", "nodejs"}

// set: five images sharing a first stage, cold and no-op.
func (b *bench) set() {
	const common = "FROM local/busybox:latest AS common\nRUN echo %s > /nonce && sleep 2 && head -c 3000000 /dev/urandom > /common\n"
	dirs := map[string]string{}
	for i, name := range setNames {
		dirs[name] = b.context("set-"+name, 3, 1024, "")
		_ = i
	}
	// Each run writes the Dockerfiles with its own nonce in the shared stage.
	write := func(nonce string) {
		for i, name := range setNames {
			df := fmt.Sprintf(common, nonce) + fmt.Sprintf("FROM common\nRUN sleep 1 && echo %s-%d > /image\nCOPY . /ctx\n", name, i)
			must(os.WriteFile(filepath.Join(dirs[name], "Dockerfile"), []byte(df), 0o644))
		}
		time.Sleep(50 * time.Millisecond) // out of the stat cache's racy window
	}
	nonce := 0
	fresh := func(contender string) { nonce++; write(fmt.Sprintf("%s-%d-%d", contender, os.Getpid(), nonce)) }

	set := b.hasModule("buildkit_image_set")
	setArgs := func() map[string]any {
		var images []any
		for _, name := range setNames {
			images = append(images, map[string]any{"name": name, "repository": "bk-bench-set-module/" + name, "build": map[string]any{"path": dirs[name]}})
		}
		return map[string]any{"images": images, "candidate_tag": "latest"}
	}
	var targets = map[string]map[string]any{}
	for _, name := range setNames {
		targets[name] = map[string]any{"context": dirs[name], "tags": []string{"bk-bench-set-bake/" + name + ":latest"}}
	}
	bakeFile := b.bakeFile("set", targets)
	x5 := func() time.Duration {
		return concurrently(len(setNames), func(i int) { b.build("bk-bench-set-x5/"+setNames[i], dirs[setNames[i]]) })
	}
	bake := func() time.Duration { return b.bake(bakeFile, b.work) }
	module := func() time.Duration { _, d := b.module("buildkit_image_set", setArgs()); return d }

	cold := "cold, 5 images sharing a stage (no step cached)"
	var contenders []*sample
	if b.buildx != "" {
		contenders = append(contenders, &sample{contender: "docker buildx bake (the 5 targets)", note: "anchor",
			run: func(int) time.Duration { fresh("bake"); return bake() }})
	}
	if set {
		contenders = append(contenders, &sample{contender: "buildkit_image_set (module process)",
			run: func(int) time.Duration { fresh("set"); return module() }})
	}
	contenders = append(contenders, &sample{contender: "buildkit_image x5, concurrent (module processes)",
		run: func(int) time.Duration { fresh("x5"); return x5() }})
	b.interleave(cold, contenders)

	noop := "no-op, the 5-image set"
	write("noop")
	contenders = nil
	if b.buildx != "" {
		bake()
		contenders = append(contenders, &sample{contender: "docker buildx bake (the 5 targets)", note: "anchor", run: func(int) time.Duration { return bake() }})
	}
	if set {
		module()
		contenders = append(contenders, &sample{contender: "buildkit_image_set (module process)", run: func(int) time.Duration { return module() }})
	}
	x5()
	contenders = append(contenders, &sample{contender: "buildkit_image x5, concurrent (module processes)", run: func(int) time.Duration { return x5() }})
	b.interleave(noop, contenders)
	for _, name := range setNames {
		_ = exec.Command("docker", "rmi", "-f", "bk-bench-set-module/"+name+":latest", "bk-bench-set-bake/"+name+":latest", "bk-bench-set-x5/"+name+":latest").Run()
	}
}

// roleSet: the role's five images, cold without and with the gates, and no-op.
func (b *bench) roleSet() {
	trivy := os.Getenv("TRIVY")
	if trivy == "" {
		fmt.Fprintln(os.Stderr, "bench: TRIVY is not set (.ci/tools/build.sh trivy): role-set workload skipped")
		return
	}
	root := must2(os.Getwd())
	standin := map[string]string{}
	for _, kind := range []string{"controller", "agent"} {
		name := "bk-bench-standin-" + kind
		b.module("buildkit_image", map[string]any{"name": name, "source": "build",
			"build": map[string]any{"path": filepath.Join(root, "tests", "fixtures", "standins"), "target": kind}})
		standin[kind] = name + ":latest"
	}
	trivyCache := filepath.Join(b.work, "trivy-cache")
	trivyDB(trivyCache)

	// Fresh bases: a stand-in with a nonce layer, one pair per contender and run.
	var made []string
	n := 0
	bases := func(contender string) map[string]string {
		n++
		out := map[string]string{}
		var mu sync.Mutex
		concurrently(2, func(i int) {
			kind := []string{"controller", "agent"}[i]
			dir := filepath.Join(b.work, fmt.Sprintf("base-%s-%d", kind, n))
			must(os.MkdirAll(dir, 0o755))
			must(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(fmt.Sprintf(
				"FROM %s\nUSER root\nRUN echo %s-%d-%d > /.bench-nonce\nUSER jenkins\n", standin[kind], contender, os.Getpid(), n)), 0o644))
			name := fmt.Sprintf("bk-bench-base-%s:%d", kind, n)
			b.module("buildkit_image", map[string]any{"name": name, "source": "build", "build": map[string]any{"path": dir}})
			mu.Lock()
			out[kind] = name
			made = append(made, name)
			mu.Unlock()
		})
		return out
	}
	baseOf := func(bs map[string]string, image string) string {
		if image == "master" {
			return bs["controller"]
		}
		return bs["agent"]
	}

	namespace := fmt.Sprintf("bk-bench-%d", os.Getpid())
	buildDir := filepath.Join(b.work, "role-build")
	reports := filepath.Join(b.work, "role-reports")
	repos := map[string]string{"master": "jenkins-master", "dind": "jenkins-agent-dind", "maven": "jenkins-agent-maven",
		"python": "jenkins-agent-python", "nodejs": "jenkins-agent-nodejs"}
	roleVars := func(bs map[string]string, gates bool) map[string]any {
		images := map[string]any{}
		for _, name := range setNames {
			images[name] = baseOf(bs, name)
		}
		return map[string]any{
			"jenkins_images_namespace": namespace, "jenkins_images_base_images": images,
			"jenkins_images_packages": map[string]any{}, "jenkins_images_agent_common_packages": []any{},
			"jenkins_images_plugins":   []any{"configuration-as-code:1887.v9e47623cb_043", "git:5.6.0"},
			"jenkins_images_build_dir": buildDir, "jenkins_images_reports_dir": reports,
			"jenkins_images_validation_budget": 60, "jenkins_images_cache_limit": "1TB",
			"jenkins_build_security_scanner": trivy, "jenkins_build_security_offline": true, "jenkins_build_security_cache_dir": trivyCache,
			"jenkins_build_memory_limit": "256m", "jenkins_build_cpu_limit": "1",
			"jenkins_build_scan_vulnerabilities": gates, "jenkins_build_functional_tests": gates, "jenkins_build_validate_images": gates,
		}
	}
	role := func(vars map[string]any) time.Duration {
		raw, err := json.Marshal(vars)
		must(err)
		cmd := exec.Command("/usr/bin/ansible-playbook", "playbooks/site.yml", "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images", "-e", string(raw))
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(root, "ansible.cfg"), "PATH=/usr/bin:"+os.Getenv("PATH"),
			"XDG_CACHE_HOME="+filepath.Join(b.work, "cache"), "ANSIBLE_NOCOLOR=1")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			must(fmt.Errorf("the role: %v: %s", err, out))
		}
		return time.Since(start)
	}
	// The role renders the contexts; bake and the modules build those.
	first := bases("render")
	role(roleVars(first, false))
	for _, name := range setNames {
		if _, err := os.Stat(filepath.Join(buildDir, name, "Dockerfile")); err != nil {
			must(fmt.Errorf("the role rendered no context for %s: %v", name, err))
		}
	}
	bakeFile := func(bs map[string]string) string {
		targets := map[string]map[string]any{}
		for _, name := range setNames {
			targets[name] = map[string]any{"context": filepath.Join(buildDir, name), "dockerfile": "Dockerfile",
				"args": map[string]string{"BASE_IMAGE": baseOf(bs, name)}, "tags": []string{"bk-bench-bake/" + repos[name] + ":candidate"}}
		}
		return b.bakeFile("role-set", targets)
	}
	setArgs := func(bs map[string]string, gates bool) map[string]any {
		var images []any
		for _, name := range setNames {
			img := map[string]any{"name": name, "repository": "bk-bench-set/" + repos[name],
				"build": map[string]any{"path": filepath.Join(buildDir, name), "args": map[string]any{"BASE_IMAGE": baseOf(bs, name)}}}
			if gates {
				if name == "master" {
					img["probes"] = []any{map[string]any{"name": "http", "http": map[string]any{"port": 8080, "path": "/login", "expect_header": "X-Jenkins"}}}
					img["metadata"] = map[string]any{"expose": []any{"8080/tcp"}, "healthcheck": true}
				} else {
					tool := map[string][]any{"dind": {"docker", "--version"}, "maven": {"mvn", "-v"}, "python": {"python3", "--version"}, "nodejs": {"node", "--version"}}[name]
					out := map[string]string{"dind": "Docker version", "maven": "Apache Maven", "python": "Python 3", "nodejs": "^v[0-9]+"}[name]
					img["probes"] = []any{
						map[string]any{"name": "java", "command": []any{"java", "-version"}, "entrypoint": []any{}, "expect_output": "version", "network": "none"},
						map[string]any{"name": "tool", "command": tool, "entrypoint": []any{}, "expect_output": out, "network": "none"},
					}
				}
			}
			images = append(images, img)
		}
		// As the role calls it: preflight, promotion, the report (and its build cache measurement).
		args := map[string]any{"images": images, "candidate_tag": "candidate", "deploy_tag": "latest", "rollback_tag": "previous",
			"preflight": map[string]any{}, "report": map[string]any{"host": "localhost", "cache_limit": "1TB"}}
		if gates {
			args["scan"] = map[string]any{"scanner_path": trivy, "offline": true, "cache_dir": trivyCache, "fail_on": []any{"CRITICAL"},
				"report_dir": filepath.Join(b.work, "set-scans"), "sbom": true}
			args["validation"] = map[string]any{"budget": 60, "memory": "256m", "cpus": 1.0}
			args["metadata"] = map[string]any{"labels": []any{}, "non_root": true}
		}
		return args
	}
	x5 := func(bs map[string]string) time.Duration {
		return concurrently(len(setNames), func(i int) {
			name := setNames[i]
			b.module("buildkit_image", map[string]any{"name": "bk-bench-x5/" + repos[name] + ":candidate", "source": "build",
				"build": map[string]any{"path": filepath.Join(buildDir, name), "args": map[string]any{"BASE_IMAGE": baseOf(bs, name)}}})
		})
	}
	set := b.hasModule("buildkit_image_set")
	module := func(args map[string]any) time.Duration { _, d := b.module("buildkit_image_set", args); return d }

	// Cold, with and without the gates: every contender in turn, one run each
	// per iteration, so both rows are measured in the same stretch of time;
	// bake (which has no gates) anchors both.
	var bake, setOff, setOn, roleOff, roleOn, x5s *sample
	var contenders []*sample
	if b.buildx != "" {
		bake = &sample{contender: "docker buildx bake (bake file of the rendered contexts)", note: "anchor",
			run: func(int) time.Duration { return b.bake(bakeFile(bases("bake")), buildDir) }}
		contenders = append(contenders, bake)
	}
	if set {
		setOff = &sample{contender: "buildkit_image_set (module process)",
			run: func(int) time.Duration { return module(setArgs(bases("set"), false)) }}
		setOn = &sample{contender: "buildkit_image_set with scan, validation, metadata (module process)",
			run: func(int) time.Duration { return module(setArgs(bases("set-gated"), true)) }}
		contenders = append(contenders, setOff, setOn)
	}
	roleOff = &sample{contender: "jenkins_images role (ansible-playbook site.yml)", run: func(int) time.Duration { return role(roleVars(bases("role"), false)) }}
	roleOn = &sample{contender: "jenkins_images role with scan, validation, metadata (ansible-playbook)",
		run: func(int) time.Duration { return role(roleVars(bases("role-gated"), true)) }}
	x5s = &sample{contender: "buildkit_image x5, concurrent (module processes)", run: func(int) time.Duration { return x5(bases("x5")) }}
	contenders = append(contenders, roleOff, roleOn, x5s)
	for i := 0; i < b.iterations; i++ {
		for _, c := range contenders {
			c.samples = append(c.samples, c.run(i))
		}
	}
	off := "the role's 5 images, cold, gates off"
	on := "the role's 5 images, cold, scan + validation (anchor: bake without them)"
	for _, r := range []struct {
		workload string
		c        *sample
	}{{off, bake}, {off, setOff}, {off, roleOff}, {off, x5s}, {on, setOn}, {on, roleOn}, {on, bake}} {
		if r.c != nil {
			b.add(r.workload, r.c.contender, r.c.samples, r.c.note)
		}
	}

	// No-op: each contender again on the bases of its last run. The role
	// first: it renders the contexts the others build (its Dockerfiles name
	// the bases), so every warm-up below sees the contexts the samples see.
	noopBases := bases("noop")
	vars := roleVars(noopBases, true)
	role(vars)
	bf := ""
	contenders = nil
	if b.buildx != "" {
		bf = bakeFile(noopBases)
		b.bake(bf, buildDir)
		contenders = append(contenders, &sample{contender: "docker buildx bake (bake file of the rendered contexts)", note: "anchor",
			run: func(int) time.Duration { return b.bake(bf, buildDir) }})
	}
	if set {
		args := setArgs(noopBases, true)
		module(args)
		contenders = append(contenders, &sample{contender: "buildkit_image_set (module process)", run: func(int) time.Duration { return module(args) }})
	}
	role(vars)
	contenders = append(contenders,
		&sample{contender: "jenkins_images role, scan + validation on (ansible-playbook site.yml)", run: func(int) time.Duration { return role(vars) }})
	x5(noopBases)
	contenders = append(contenders, &sample{contender: "buildkit_image x5, concurrent (module processes)", run: func(int) time.Duration { return x5(noopBases) }})
	b.interleave("the role's 5 images, no-op", contenders)

	// Leave nothing behind.
	var rm []string
	for _, name := range setNames {
		for _, tag := range []string{"candidate", "latest", "previous"} {
			rm = append(rm, namespace+"/"+repos[name]+":"+tag, "bk-bench-set/"+repos[name]+":"+tag)
		}
		rm = append(rm, "bk-bench-bake/"+repos[name]+":candidate", "bk-bench-x5/"+repos[name]+":candidate")
	}
	rm = append(append(rm, made...), standin["controller"], standin["agent"])
	_ = exec.Command("docker", append([]string{"rmi", "-f"}, rm...)...).Run()
}

// trivyDB writes an offline Trivy DB (Trivy's bbolt layout and metadata.json)
// under cacheDir/db with one advisory the stand-ins do not match, as the
// integration tests do: the scans run to a verdict, offline.
func trivyDB(cacheDir string) {
	dbDir := filepath.Join(cacheDir, "db")
	must(os.MkdirAll(dbDir, 0o755))
	db, err := bolt.Open(filepath.Join(dbDir, "trivy.db"), 0o644, nil)
	must(err)
	must(db.Update(func(tx *bolt.Tx) error {
		vulns, err := tx.CreateBucketIfNotExists([]byte("vulnerability"))
		if err != nil {
			return err
		}
		src, err := tx.CreateBucketIfNotExists([]byte("data-source"))
		if err != nil {
			return err
		}
		ds, _ := json.Marshal(map[string]string{"ID": "alpine", "Name": "Alpine Secdb", "URL": "https://secdb.alpinelinux.org/"})
		if err := src.Put([]byte("alpine 3.22"), ds); err != nil {
			return err
		}
		osBkt, err := tx.CreateBucketIfNotExists([]byte("alpine 3.22"))
		if err != nil {
			return err
		}
		pb, err := osBkt.CreateBucketIfNotExists([]byte("busybox"))
		if err != nil {
			return err
		}
		adv, _ := json.Marshal(map[string]any{"FixedVersion": "1.36.1-r5"})
		if err := pb.Put([]byte("CVE-2099-0001"), adv); err != nil {
			return err
		}
		v, _ := json.Marshal(map[string]any{"Title": "bench CVE-2099-0001", "VendorSeverity": map[string]int{"nvd": 4}})
		return vulns.Put([]byte("CVE-2099-0001"), v)
	}))
	must(db.Close())
	updated := time.Now().Add(-time.Hour).UTC()
	meta, _ := json.Marshal(map[string]any{"Version": 2, "NextUpdate": updated.Add(24 * 365 * time.Hour), "UpdatedAt": updated, "DownloadedAt": updated})
	must(os.WriteFile(filepath.Join(dbDir, "metadata.json"), meta, 0o644))
}
