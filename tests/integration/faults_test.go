package integration

// Faults in the middle of a run of the jenkins_images role: the registry goes
// down during the push of the deploy tags or during the cache export of the
// set, the disk fills while the report is written, the engine restarts during
// promotion. Each time the deploy and rollback tags stay right, nothing is
// left that misleads, the run fails clearly or rides it out, and the next run
// converges (crash_test.go has the invariants and the run helpers).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ownRegistry is Debian's docker-registry on a port of its own, which a test
// may take down and bring back (the shared ones on 5000/5001 are never
// touched). onLine sees each line of its log.
type ownRegistry struct {
	t      *testing.T
	addr   string
	config string
	mu     sync.Mutex
	cmd    *exec.Cmd   // the one running now
	all    []*exec.Cmd // every one started
	onLine func(string)
}

func startOwnRegistry(t *testing.T) *ownRegistry {
	t.Helper()
	bin := "/usr/bin/docker-registry"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("Debian's docker-registry is not installed (tests/scripts/deps.sh installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yml")
	require.NoError(t, os.WriteFile(config, []byte("version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: "+
		filepath.Join(dir, "data")+"\n  delete:\n    enabled: true\nhttp:\n  addr: "+addr+"\n  secret: bk-own-registry\n"), 0o644))
	r := &ownRegistry{t: t, addr: addr, config: config}
	t.Cleanup(r.killAll)
	r.start()
	return r
}

// start runs the registry (again, with the same storage) and waits for it.
func (r *ownRegistry) start() {
	r.t.Helper()
	cmd := exec.Command("/usr/bin/docker-registry", "serve", r.config)
	pr, pw, err := os.Pipe()
	require.NoError(r.t, err)
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(r.t, cmd.Start())
	pw.Close()
	r.mu.Lock()
	r.all = append(r.all, cmd)
	r.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r.mu.Lock()
			f := r.onLine
			r.mu.Unlock()
			if f != nil {
				f(sc.Text())
			}
		}
		pr.Close()
	}()
	r.mu.Lock()
	r.cmd = cmd
	r.mu.Unlock()
	require.Eventually(r.t, func() bool {
		resp, err := registryHTTP.Get("http://" + r.addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "the registry on %s did not come up", r.addr)
}

// stop takes the registry down at once (SIGKILL: a crash, not a shutdown).
func (r *ownRegistry) stop() {
	r.mu.Lock()
	cmd := r.cmd
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
}

// killAll makes sure no registry the test started outlives it.
func (r *ownRegistry) killAll() {
	r.stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, cmd := range r.all {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}

func (r *ownRegistry) watch(f func(line string)) {
	r.mu.Lock()
	r.onLine = f
	r.mu.Unlock()
}

// setTask is the role's task that builds, gates, promotes and pushes the images.
const setTask = "Build, gate and promote the images"

func regexpFind(re, s string) string { return regexp.MustCompile(re).FindString(s) }

// taskOutput is what ansible-playbook printed for the task named (by prefix) task.
func taskOutput(out, task string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(out, "\n") {
		if m := taskBanner.FindStringSubmatch(line); m != nil {
			in = strings.HasPrefix(m[1], task)
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// registryTagDigest is the manifest digest the registry has under repo:tag, "" if none.
func registryTagDigest(t *testing.T, registry, repo, tag string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, "http://"+registry+"/v2/"+repo+"/manifests/"+tag, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", manifestAccept)
	resp, err := registryHTTP.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return ""
	}
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return resp.Header.Get("Docker-Content-Digest")
}

// pushedAs says whether the engine knows image id as repo@digest (a push of it made that digest).
func pushedAs(t *testing.T, id, repo, digest string) bool {
	t.Helper()
	inspect, err := dockerClient(t).ImageInspect(context.Background(), id)
	require.NoError(t, err)
	for _, d := range inspect.RepoDigests {
		if d == repo+"@"+digest {
			return true
		}
	}
	return false
}

func removeRoleImages(t *testing.T, prefix string) {
	t.Cleanup(func() {
		for _, repo := range roleImages {
			for _, tag := range []string{"candidate", "latest", "previous"} {
				removeImage(prefix + repo + ":" + tag)
			}
		}
	})
}

// TestRolePushWhileTheRegistryGoesDown: the registry dies while the deploy
// tag is pushed (at its first blob upload). The run fails naming the push;
// the engine's deploy tag has moved (the image passed its gates), the
// registry's still names the whole previous image. With the registry back,
// the next run pushes what the previous run could not, building nothing.
func TestRolePushWhileTheRegistryGoesDown(t *testing.T) {
	_, namespace, reports, vars := roleSetup(t)
	reg := startOwnRegistry(t)
	prefix := reg.addr + "/" + namespace + "/"
	removeRoleImages(t, prefix)
	iso := newIsolation(t)
	vars["jenkins_images_registry"] = reg.addr + "/"
	vars["jenkins_images_push"] = true
	vars["images_to_build"] = "python"
	vars["jenkins_build_retry_count"] = 1
	vars["jenkins_build_retry_delay"] = 1
	repo := namespace + "/jenkins-agent-python"
	deploy, rollback := prefix+"jenkins-agent-python:latest", prefix+"jenkins-agent-python:previous"

	first := runRole(t, vars, iso, nil, nil)
	require.True(t, first.ok, first.out)
	d1 := tagID(t, deploy)
	_ = rollback
	pushed1 := registryTagDigest(t, reg.addr, repo, "latest")
	require.NotEmpty(t, pushed1)
	require.True(t, pushedAs(t, d1, reg.addr+"/"+repo, pushed1), "the registry has the deployed image")

	vars["jenkins_images_revision"] = "registry-down"
	var once sync.Once
	reg.watch(func(line string) {
		if strings.Contains(line, "/v2/"+repo+"/blobs/uploads/") {
			once.Do(func() { go reg.stop() })
		}
	})
	start := time.Now()
	down := runRole(t, vars, iso, nil, nil)
	t.Logf("the run with the registry down failed after %s", time.Since(start).Round(time.Second))
	require.False(t, down.ok, "a push that cannot be made fails the run")
	assert.Regexp(t, `fatal: .*push [^ ]*jenkins-agent-python:latest: Error pushing image`, taskOutput(down.out, "Fail when an image"), "the failure names the push")
	t.Logf("the failure: %s", regexpFind(`Error pushing image[^"]+`, down.out))
	d2 := tagID(t, deploy)
	assert.NotEqual(t, d1, d2, "the candidate passed its gates: the engine's deploy tag moved")
	assert.Equal(t, d1, tagID(t, rollback), "and the image deployed before is the rollback")

	reg.watch(nil)
	reg.start()
	assert.Equal(t, pushed1, registryTagDigest(t, reg.addr, repo, "latest"), "the registry's tag still names the whole previous image")
	again := runRole(t, vars, iso, nil, nil)
	require.True(t, again.ok, again.out)
	assert.Contains(t, taskOutput(again.out, setTask), "changed: [localhost]", "the next run pushes it")
	pushed2 := registryTagDigest(t, reg.addr, repo, "latest")
	assert.True(t, pushedAs(t, d2, reg.addr+"/"+repo, pushed2), "the registry now has the deployed image")
	assert.Equal(t, d2, tagID(t, deploy))
	assert.Equal(t, d1, tagID(t, rollback))
	r := readReport(t, reports)
	assert.Empty(t, r.Summary.Built, "nothing rebuilt")
	assert.Empty(t, r.Summary.Promoted, "nothing promoted again: the report says what this run did")

	var (
		mu   sync.Mutex
		sent []string
	)
	reg.watch(func(line string) {
		if strings.Contains(line, "/blobs/uploads/") || strings.Contains(line, `"PUT /v2/`) {
			mu.Lock()
			sent = append(sent, line)
			mu.Unlock()
		}
	})
	third := runRole(t, vars, iso, nil, nil)
	reg.watch(nil)
	require.True(t, third.ok, third.out)
	assert.Contains(t, taskOutput(third.out, setTask), "ok: [localhost]", "then nothing changes")
	mu.Lock()
	assert.Empty(t, sent, "and nothing is sent")
	mu.Unlock()
}

// TestRoleReportOnAFullDisk: the reports live on a small tmpfs that fills up
// while the report is written (the run's history entry fits, the HTML page
// does not). The run fails saying the file system is full; every report file
// is the previous run's, whole, and no temp file is left; with space again
// the next run writes them all.
func TestRoleReportOnAFullDisk(t *testing.T) {
	if os.Getenv("DOCKER_HOST") == currentEngineHost {
		t.Skip("the report is written on the controller, whatever the engine: Debian's 20.10 pass runs it")
	}
	_, _, _, vars := roleSetup(t)
	reports := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", reports).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", reports).Run() })
	iso := newIsolation(t)
	vars["jenkins_images_reports_dir"] = reports
	vars["images_to_build"] = "python"
	dir := filepath.Join(reports, "localhost")

	first := runRole(t, vars, iso, nil, nil)
	require.True(t, first.ok, first.out)
	before := map[string][]byte{}
	for _, f := range []string{"build-report-latest.json", "build-report-latest.yml", "build-report-latest.html", "jenkins_images.prom"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		before[f] = b
	}
	history, _ := filepath.Glob(filepath.Join(dir, "history", "*.json"))
	require.Len(t, history, 1)
	entry, err := os.ReadFile(history[0])
	require.NoError(t, err)

	// When the report is assembled, fill the disk but for room for this run's
	// history entry (written first) and less than a page more: the page and the
	// metrics that follow do not fit.
	room := (int64(len(entry)) + 1024 + 4095) / 4096 * 4096
	filler := filepath.Join(reports, "filler")
	fill := func() {
		f, err := os.Create(filler)
		require.NoError(t, err)
		chunk := make([]byte, 64<<10)
		for {
			if _, err := f.Write(chunk); err != nil {
				break
			}
		}
		st, err := f.Stat()
		require.NoError(t, err)
		require.NoError(t, f.Truncate(st.Size()-room))
		f.Close()
	}
	vars["jenkins_images_revision"] = "disk-full"
	full := runRole(t, vars, iso, nil, func(_ int, task string, _ func(time.Duration)) {
		if strings.HasPrefix(task, "Write the reports and the Prometheus metrics") {
			fill()
		}
	})
	require.False(t, full.ok, "a report that cannot be written fails the run")
	assert.Contains(t, full.out, "the file system is full")
	assert.Regexp(t, `html_path|json_path|metrics_path|reports_dir`, full.out, "the failure names what could not be written")
	t.Logf("the failure: %s", regexpFind(`(html_path|json_path|metrics_path|reports_dir): write [^"]+`, full.out))
	for f, b := range before {
		now, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		assert.Equal(t, string(b), string(now), "%s: the previous run's, whole", f)
	}
	var stray []string
	for _, d := range []string{dir, filepath.Join(dir, "history")} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				stray = append(stray, e.Name())
			}
		}
	}
	assert.Empty(t, stray, "no temp file left on the full disk")

	require.NoError(t, os.Remove(filler))
	again := runRole(t, vars, iso, nil, nil)
	require.True(t, again.ok, again.out)
	r := readReport(t, reports)
	assert.Equal(t, []string{"python"}, r.Summary.Unchanged, "built and promoted by the run whose report did not fit")
	assert.Empty(t, r.Summary.Promoted)
	var fromJSON, last struct {
		BuildTimestamp string `json:"build_timestamp"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "build-report-latest.json"))
	require.NoError(t, json.Unmarshal(b, &fromJSON))
	history, _ = filepath.Glob(filepath.Join(dir, "history", "*.json"))
	b, _ = os.ReadFile(history[len(history)-1])
	require.NoError(t, json.Unmarshal(b, &last))
	assert.Equal(t, fromJSON.BuildTimestamp, last.BuildTimestamp, "the page, the files and the history are this run's")
	html, _ := os.ReadFile(filepath.Join(dir, "build-report-latest.html"))
	assert.Contains(t, string(html), "</html>")
}

// privateEngine starts a current Docker Engine of the test's own
// (tests/scripts/engine-current.sh with its own instance, data root and
// bridge: ENGINE_CURRENT_INSTANCE/_BRIDGE/_BRIDGE_CIDR, else "restart",
// bkrestart0, 10.213.216.1/24), returns its DOCKER_HOST and a function that
// restarts its dockerd (SIGTERM, then started again).
func privateEngine(t *testing.T) (host string, restart func()) {
	host, stop, start := privateEngineParts(t)
	return host, func() { stop(); start() }
}

// privateEngineParts is privateEngine with the stop (SIGTERM, waited for)
// and the start apart.
func privateEngineParts(t *testing.T) (host string, stop, start func()) {
	t.Helper()
	inst, bridge, cidr := os.Getenv("ENGINE_CURRENT_INSTANCE"), os.Getenv("ENGINE_CURRENT_BRIDGE"), os.Getenv("ENGINE_CURRENT_BRIDGE_CIDR")
	if inst == "" || inst == "current" {
		inst, bridge, cidr = "restart", "bkrestart0", "10.213.216.1/24"
	}
	env := append(os.Environ(), "ENGINE_CURRENT_INSTANCE="+inst, "ENGINE_CURRENT_BRIDGE="+bridge, "ENGINE_CURRENT_BRIDGE_CIDR="+cidr)
	script := func(args ...string) (string, error) {
		cmd := exec.Command("../scripts/engine-current.sh", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = script("stop") })
	out, err := script()
	require.NoError(t, err, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	host = lines[len(lines)-1]
	pidfile := "/run/buildkit-tests-dockerd-" + inst + ".pid"
	stop = func() {
		b, err := os.ReadFile(pidfile)
		require.NoError(t, err)
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		require.NoError(t, err)
		p, err := os.FindProcess(pid)
		require.NoError(t, err)
		require.NoError(t, p.Signal(syscall.SIGTERM))
		for i := 0; i < 300 && p.Signal(syscall.Signal(0)) == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	start = func() {
		out, err := script()
		assert.NoError(t, err, out)
	}
	return host, stop, start
}

// TestScanThroughAnEngineRestart: Trivy reads the candidate from the engine;
// the engine is down when the scan starts and back a second later. The scan
// is no verdict on the image, so buildkit_scan waits for the engine and scans
// again: a vulnerable image fails its gate even with fail_on_scanner_error
// off (before, the role promoted it with a scanner error).
func TestScanThroughAnEngineRestart(t *testing.T) {
	if os.Getenv("DOCKER_HOST") != currentEngineHost && os.Getenv("ENGINE_CURRENT_INSTANCE") == "" {
		t.Skip("runs in the current-engine pass of make test-matrix (or with ENGINE_CURRENT_INSTANCE: a private engine of its own)")
	}
	host, stop, start := privateEngineParts(t)
	t.Setenv("DOCKER_HOST", host)
	cache := t.TempDir()
	trivyDB(t, cache, 2*time.Hour, testAdvisories)
	vulnerable := alpineImage(t, map[string]string{"busybox": "1.36.1-r2"})

	stop()
	back := make(chan struct{})
	go func() {
		defer close(back)
		time.Sleep(time.Second)
		start()
	}()
	res := run(t, "buildkit_scan", scanArgs(t, cache, vulnerable, map[string]any{"fail_on_scanner_error": false}))
	<-back
	assert.True(t, res.failed(), "the vulnerable image fails its gate: %s", res.msg())
	assert.Equal(t, "failed", res["scan_status"])
	assert.Contains(t, res.msg(), "CVE-2099-0001")
	assert.Contains(t, fmt.Sprint(res["warnings"]), "the engine answers with the image: scanned again")

	// An engine that stays down: a scanner error, as before (no verdict, said so).
	stop()
	down := run(t, "buildkit_scan", scanArgs(t, cache, vulnerable, map[string]any{"fail_on_scanner_error": false}))
	assert.False(t, down.failed(), down.msg())
	assert.Equal(t, "error", down["scan_status"])
}

// TestRoleEngineRestartedDuringPromotion restarts the engine (a private
// current engine of the test's own: the shared one is never restarted) when
// the role starts promoting the set. Whatever the restart hits, the deploy
// tags name whole images that passed their gates or the ones before, the
// rollback tags the images deployed before; the run rides it out or fails
// clearly, and the next run converges.
func TestRoleEngineRestartedDuringPromotion(t *testing.T) {
	if os.Getenv("DOCKER_HOST") != currentEngineHost && os.Getenv("ENGINE_CURRENT_INSTANCE") == "" {
		t.Skip("runs in the current-engine pass of make test-matrix (or with ENGINE_CURRENT_INSTANCE: a private engine of its own)")
	}
	host, restart := privateEngine(t)
	t.Setenv("DOCKER_HOST", host)
	standin, namespace, reports, vars := roleSetup(t)
	iso := newIsolation(t)
	vars["images_to_build"] = "all"
	w := &killWorld{t: t, namespace: namespace, standin: standin, deploy: map[string]string{}, rollback: map[string]string{},
		cut: map[string]bool{}, bad: map[string]map[string]bool{namespace + "-restart-0": {}, namespace + "-restart-1": {"python": true}}}

	vars["jenkins_images_revision"] = namespace + "-restart-0"
	first := runRole(t, vars, iso, nil, nil)
	require.True(t, first.ok, first.out)
	for _, img := range roleImageNames() {
		w.deploy[img] = tagID(t, w.ref(img, "latest"))
	}

	vars["jenkins_images_revision"] = namespace + "-restart-1"
	vars["jenkins_images_base_images"].(map[string]any)["python"] = standin["vulnerable"]
	restarted := make(chan time.Duration, 1)
	start := time.Now()
	// The set promotes each image as soon as its gates pass: the engine is
	// restarted the moment the first deploy tag moves, with others to go.
	during := runRole(t, vars, iso, nil, func(_ int, task string, _ func(time.Duration)) {
		if strings.HasPrefix(task, "Build, gate and promote the images") {
			go func() {
				for time.Since(start) < 5*time.Minute {
					for _, img := range roleImageNames() {
						if id, ok := imageExists(t, w.ref(img, "latest")); ok && id != w.deploy[img] {
							at := time.Now()
							restart()
							restarted <- time.Since(at)
							return
						}
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
		}
	})
	select {
	case d := <-restarted:
		// python fails its gate either way: the run rode the restart out if it got to the end.
		rodeOut := strings.Contains(during.out, "TASK [jenkins_ha.buildkit.jenkins_images : Fail when an image did not pass its gates")
		promoting := time.Duration(0)
		for i, b := range during.banners {
			if strings.HasPrefix(b.name, "Build, gate and promote the images") && i+1 < len(during.banners) {
				promoting = during.banners[i+1].at - b.at
			}
		}
		t.Logf("the engine restarted in %s, from the first deploy tag's move; the set's task took %s; the run %s (%s)", d.Round(100*time.Millisecond),
			promoting.Round(100*time.Millisecond), map[bool]string{true: "rode it out", false: "stopped"}[rodeOut], time.Since(start).Round(time.Second))
		if !rodeOut {
			t.Logf("where it stopped:\n%s", tail(during.out, 12))
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the run never reached promotion")
	}
	assert.NotContains(t, during.out, "panic")
	assert.NotContains(t, during.out, "MODULE FAILURE")
	w.afterKill() // the invariants, at once

	done := runRole(t, vars, iso, nil, nil)
	w.afterRun(done, namespace+"-restart-1", reports, iso)
	if t.Failed() {
		t.Logf("the run with the restart:\n%s", tail(during.out, 60))
		t.Logf("the run after it:\n%s", tail(done.out, 60))
	}
}

// TestRoleCacheExportWhileTheRegistryGoesDown: the set builds on a
// docker-container builder that exports a registry cache per image; the cache
// registry dies at the first cache upload. No image that was not fully built
// is promoted, the deploy tags stay on whole images, the run fails naming the
// registry (or rides it out), and with the registry back the next run builds,
// exports and promotes the set.
func TestRoleCacheExportWhileTheRegistryGoesDown(t *testing.T) {
	if os.Getenv("DOCKER_HOST") == currentEngineHost {
		t.Skip("the docker-container builder exports the cache, whatever the engine: Debian's 20.10 pass runs it")
	}
	s, namespace, reports, vars := roleSetup(t)
	cache, bases := startOwnRegistry(t), startOwnRegistry(t)
	// The builder sees registries, not the engine's images: the stand-ins go to a registry that stays up.
	for _, key := range []string{"controller", "agent", "vulnerable"} {
		ref := bases.addr + "/" + namespace + "/" + strings.TrimSuffix(s[key], ":latest") + ":latest"
		pushToRegistry(t, s[key], ref)
		s[key] = ref
		t.Cleanup(func() { removeImage(ref) })
	}
	iso := newIsolation(t)
	onContainerBuilder(t, vars, s, "bk-it-cache-"+namespace[len("bk-it-"):], cache.addr+"/"+namespace+"-cache", bases.addr, cache.addr)
	vars["jenkins_build_retry_count"] = 1
	vars["jenkins_build_retry_delay"] = 1
	vars["images_to_build"] = "all"
	w := &killWorld{t: t, namespace: namespace, standin: s, deploy: map[string]string{}, rollback: map[string]string{},
		cut: map[string]bool{}, bad: map[string]map[string]bool{namespace + "-cache-0": {}, namespace + "-cache-1": {"nodejs": true}}}
	agents := roleImageNames()

	vars["jenkins_images_revision"] = namespace + "-cache-0"
	first := runRole(t, vars, iso, nil, nil)
	require.True(t, first.ok, first.out)
	for _, img := range agents {
		w.deploy[img] = tagID(t, w.ref(img, "latest"))
	}

	vars["jenkins_images_revision"] = namespace + "-cache-1"
	vars["jenkins_images_base_images"].(map[string]any)["nodejs"] = s["vulnerable"]
	var once sync.Once
	killedAt := make(chan string, 1)
	// An export asks whether the registry has each blob (HEAD), uploads the
	// missing ones and puts the cache manifest; an import only GETs.
	cache.watch(func(line string) {
		if !strings.Contains(line, "/v2/"+namespace+"-cache/") {
			return
		}
		if strings.Contains(line, "/blobs/uploads/") || strings.Contains(line, "HEAD") && strings.Contains(line, "/blobs/") ||
			strings.Contains(line, "PUT") && strings.Contains(line, "/manifests/") {
			once.Do(func() { killedAt <- regexpFind(`/v2/[^ "?]+`, line); go cache.stop() })
		}
	})
	down := runRole(t, vars, iso, nil, nil)
	select {
	case at := <-killedAt:
		t.Logf("the cache registry was killed at %s", at)
	default:
		t.Fatal("no cache upload reached the registry")
	}
	require.False(t, down.ok, "nodejs fails its gate, whatever the registry did")
	r := readReport(t, reports)
	t.Logf("with the cache registry down: built %v, promoted %v, failed %v", r.Summary.Built, r.Summary.Promoted, r.Summary.Failed)
	t.Logf("what each build did:\n%s", taskOutput(down.out, "Show what each build did"))
	for _, f := range r.Summary.Failed {
		if strings.Contains(f, "failed at the build gate") {
			assert.Regexp(t, `(?i)cache|`+strings.ReplaceAll(cache.addr, ".", `\.`)+`|connect`, f, "a build that failed says why")
		}
	}
	for _, img := range agents {
		x := tagID(t, w.ref(img, "latest"))
		why, ok := w.gated(img, x)
		assert.True(t, ok, "%s: the deploy tag names %s (%s)", img, x, why)
		if x != w.deploy[img] {
			assert.Equal(t, w.deploy[img], tagID(t, w.ref(img, "previous")), "%s: promoted, the rollback is the image deployed before", img)
			w.rollback[img], w.deploy[img] = w.deploy[img], x
		}
	}

	cache.watch(nil)
	cache.start()
	done := runRole(t, vars, iso, nil, nil)
	require.False(t, done.ok, "nodejs still fails its gate")
	r = readReport(t, reports)
	assert.Len(t, r.Summary.Failed, 1, "only the vulnerable agent fails now: %v", r.Summary.Failed)
	for _, img := range []string{"master", "dind", "maven", "python"} {
		cand := tagID(t, w.ref(img, "candidate"))
		assert.Equal(t, cand, tagID(t, w.ref(img, "latest")), "%s is deployed", img)
	}
	// The images whose Dockerfiles run steps have a cache to export (the stand-in agents' have none).
	for _, img := range []string{"master", "maven"} {
		assert.True(t, registryManifestExists(t, cache.addr, namespace+"-cache/"+roleImages[img], "buildcache", false), "%s's cache is exported", img)
	}
	assert.Equal(t, w.deploy["nodejs"], tagID(t, w.ref("nodejs", "latest")), "the vulnerable nodejs is never deployed")
}
