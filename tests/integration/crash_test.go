package integration

// Whole runs of the jenkins_images role killed at random moments, and faults
// in the middle of a run. What is checked is what a user relies on, whatever
// implements it (the role's tasks today, Go later):
//
//   - a deploy tag always names a whole image that passed every gate, or the
//     one it named before;
//   - the rollback tag names the image deployed before (while a promotion is
//     cut between its two tag moves it may name the deployed image itself, and
//     the next run puts it right);
//   - nothing is left that breaks or misleads the next run: no validation
//     container, no temporary file, no lock held, no report that is partly
//     written or from two runs;
//   - the next run converges: it finishes what was interrupted and its report
//     says what happened.

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// roleImages are the role's images and their repositories.
var roleImages = map[string]string{"master": "jenkins-master", "dind": "jenkins-agent-dind", "maven": "jenkins-agent-maven",
	"python": "jenkins-agent-python", "nodejs": "jenkins-agent-nodejs"}

func roleImageNames() []string {
	names := make([]string, 0, len(roleImages))
	for n := range roleImages {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// isolation gives the runs of one test their own temp, cache and Ansible
// directories, so what a killed run leaves behind can be found (and is no
// other test's).
type isolation struct {
	tmp, cache, ansible string
}

func newIsolation(t *testing.T) *isolation {
	t.Helper()
	root := t.TempDir()
	iso := &isolation{tmp: filepath.Join(root, "tmp"), cache: filepath.Join(root, "cache"), ansible: filepath.Join(root, "ansible")}
	for _, d := range []string{iso.tmp, iso.cache, iso.ansible} {
		require.NoError(t, os.MkdirAll(d, 0o700))
	}
	return iso
}

func (iso *isolation) env() []string {
	return []string{"TMPDIR=" + iso.tmp, "XDG_CACHE_HOME=" + iso.cache,
		"ANSIBLE_LOCAL_TEMP=" + filepath.Join(iso.ansible, "local"), "ANSIBLE_REMOTE_TEMP=" + filepath.Join(iso.ansible, "remote"),
		"ANSIBLE_ASYNC_DIR=" + filepath.Join(iso.ansible, "async"), "PYTHONUNBUFFERED=1"}
}

// banner is a task as ansible-playbook announced it, and when.
type banner struct {
	name string
	at   time.Duration
}

type roleRun struct {
	out     string
	ok      bool
	killed  bool
	task    string // the task under way when the group was killed
	after   time.Duration
	banners []banner
	took    time.Duration
}

var ansiblePayload = regexp.MustCompile(`^ansible_.*_payload_[a-z0-9_]+$`)

var taskBanner = regexp.MustCompile(`^TASK \[(?:[^\]]*? : )?(.*)\] \*+$`)

// runRoleKilling runs playbooks/site.yml with vars in a process group of its
// own. killAt is asked at the n-th task banner (from 1) and says whether to
// SIGKILL the whole group, and after how long.
func runRoleKilling(t *testing.T, vars map[string]any, iso *isolation, extraEnv []string, killAt func(n int, task string) (time.Duration, bool)) roleRun {
	t.Helper()
	if killAt == nil {
		return runRole(t, vars, iso, extraEnv, nil)
	}
	return runRole(t, vars, iso, extraEnv, func(n int, task string, kill func(time.Duration)) {
		if d, ok := killAt(n, task); ok {
			kill(d)
		}
	})
}

// runRole runs playbooks/site.yml with vars in a process group of its own;
// onTask (if any) sees each task banner as it appears (n from 1) and may do
// something then (stop a registry, fill a disk) or ask for the whole group to
// be SIGKILLed after a while.
func runRole(t *testing.T, vars map[string]any, iso *isolation, extraEnv []string, onTask func(n int, task string, kill func(after time.Duration))) roleRun {
	t.Helper()
	b, err := json.Marshal(vars)
	require.NoError(t, err)
	bin := os.Getenv("ANSIBLE_BIN")
	if bin == "" {
		bin = "/usr/bin"
	}
	cmd := exec.Command(filepath.Join(bin, "ansible-playbook"), "playbooks/site.yml", "-e", string(b))
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG=../../ansible.cfg", "PATH="+bin+":/usr/bin:"+os.Getenv("PATH"), "ANSIBLE_NOCOLOR=1")
	cmd.Env = append(cmd.Env, iso.env()...)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	require.NoError(t, cmd.Start())
	w.Close()
	pgid := cmd.Process.Pid

	var (
		mu  sync.Mutex
		res roleRun
		out strings.Builder
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			out.WriteString(line + "\n")
			mu.Unlock()
			m := taskBanner.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			n++
			mu.Lock()
			res.banners = append(res.banners, banner{m[1], time.Since(start)})
			mu.Unlock()
			if onTask == nil {
				continue
			}
			task := m[1]
			onTask(n, task, func(d time.Duration) {
				time.AfterFunc(d, func() {
					mu.Lock()
					defer mu.Unlock()
					if res.killed {
						return
					}
					if syscall.Kill(-pgid, syscall.SIGKILL) == nil {
						res.killed, res.task, res.after = true, task, d
					}
				})
			})
		}
	}()
	err = cmd.Wait()
	res.took = time.Since(start)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Log("something outside the process group still holds the playbook's output open")
		r.Close()
		<-done
	}
	mu.Lock()
	defer mu.Unlock()
	res.ok = err == nil
	res.out = out.String()
	if res.killed {
		res.ok = false
	}
	return res
}

// killSeed is KILL_TEST_SEED: a number, or "random"; 22 when unset.
func killSeed(t *testing.T) uint64 {
	t.Helper()
	v := os.Getenv("KILL_TEST_SEED")
	switch v {
	case "":
		return 22
	case "random":
		var b [8]byte
		_, _ = crand.Read(b[:])
		return binary.LittleEndian.Uint64(b[:]) % 1_000_000_000
	}
	n, err := strconv.ParseUint(v, 10, 64)
	require.NoError(t, err, "KILL_TEST_SEED must be a number or random")
	return n
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, name)
	return n
}

// tagID is the image ID a tag names, "" if it names none.
func tagID(t *testing.T, ref string) string {
	t.Helper()
	id, ok := imageExists(t, ref)
	if !ok {
		return ""
	}
	return id
}

// killWorld is what the kill test knows: the logical deploy and rollback of
// each image after the last promotion it saw complete, and which builds must
// fail a gate.
type killWorld struct {
	t         *testing.T
	namespace string
	standin   map[string]string
	deploy    map[string]string
	rollback  map[string]string
	cut       map[string]bool            // a kill left the rollback tag on the deployed image
	bad       map[string]map[string]bool // revision -> images that must fail a gate
	checks    int                        // invariant checks made
}

func (w *killWorld) ref(img, tag string) string {
	return w.namespace + "/" + roleImages[img] + ":" + tag
}

func (w *killWorld) check(ok bool, format string, args ...any) bool {
	w.t.Helper()
	w.checks++
	return assert.Truef(w.t, ok, format, args...)
}

// gated says whether the image ID is one that passed every gate: built by a
// run (the revision label), not from a base that fails one, and not an image
// a run was told must fail.
func (w *killWorld) gated(img, id string) (string, bool) {
	w.t.Helper()
	if id == "" {
		return "no image", false
	}
	inspect, err := dockerClient(w.t).ImageInspect(context.Background(), id)
	if err != nil {
		return "not a whole image in the engine: " + err.Error(), false
	}
	var labels map[string]string
	if inspect.Config != nil {
		labels = inspect.Config.Labels
	}
	rev, base := labels["org.opencontainers.image.revision"], labels["org.opencontainers.image.base.name"]
	if base == w.standin["vulnerable"] || base == w.standin["never_ready"] {
		return "built from " + base, false
	}
	if w.bad[rev][img] {
		return "revision " + rev + " of " + img + " must fail a gate", false
	}
	if _, known := w.bad[rev]; !known {
		return "revision " + rev + " is no run's", false
	}
	return rev, true
}

// afterKill checks the invariants at the moment a run was killed.
func (w *killWorld) afterKill() {
	w.t.Helper()
	for _, img := range roleImageNames() {
		x, r := tagID(w.t, w.ref(img, "latest")), tagID(w.t, w.ref(img, "previous"))
		why, ok := w.gated(img, x)
		w.check(ok, "%s: the deploy tag names %s (%s)", img, x, why)
		switch {
		case x != w.deploy[img]: // promoted before the kill
			w.check(r == w.deploy[img], "%s: promoted to %s, but the rollback tag names %s, not the image deployed before (%s)", img, x, r, w.deploy[img])
			w.rollback[img], w.deploy[img], w.cut[img] = w.deploy[img], x, false
		case r == w.rollback[img]:
			w.check(true, "")
		default:
			// Cut between the two tag moves: the rollback tag already names the
			// deployed image. Allowed only until the next run.
			w.cut[img] = w.check(r == x, "%s: the rollback tag names %s: neither the image deployed before (%s) nor the deployed one (%s)", img, r, w.rollback[img], x)
		}
	}
}

// afterRun checks a run that was not killed: good candidates deployed, the
// bad one not, rollback tags exact, the report truthful, nothing left over.
func (w *killWorld) afterRun(rr roleRun, rev string, reports string, iso *isolation) {
	w.t.Helper()
	w.check(!rr.ok, "a run with a candidate that fails a gate fails")
	rep := readReport(w.t, reports)
	var promoted []string
	for _, img := range roleImageNames() {
		x, r, cand := tagID(w.t, w.ref(img, "latest")), tagID(w.t, w.ref(img, "previous")), tagID(w.t, w.ref(img, "candidate"))
		if w.bad[rev][img] {
			w.check(x == w.deploy[img], "%s must fail a gate: the deploy tag moved from %s to %s", img, w.deploy[img], x)
			w.check(r == w.rollback[img], "%s: the rollback tag names %s, not %s (the image deployed before %s)", img, orNothing(r), orNothing(w.rollback[img]), x)
			w.check(slices.ContainsFunc(rep.Summary.Failed, func(s string) bool { return strings.HasPrefix(s, img+": failed at the ") }),
				"the report says %s failed a gate: %v", img, rep.Summary.Failed)
			w.check(!slices.Contains(rep.Summary.Promoted, img), "the report does not say %s was promoted", img)
		} else {
			w.check(x == cand && x != "", "%s passes its gates: the deploy tag names %s, not the candidate %s", img, x, cand)
			if x != w.deploy[img] {
				w.check(r == w.deploy[img], "%s: promoted, the rollback tag names %s, not the image deployed before (%s)", img, r, w.deploy[img])
				promoted = append(promoted, img)
				w.rollback[img], w.deploy[img] = w.deploy[img], x
			} else {
				w.check(r == w.rollback[img], "%s: unchanged, the rollback tag names %s, not %s", img, orNothing(r), orNothing(w.rollback[img]))
			}
			w.check(!slices.ContainsFunc(rep.Summary.Failed, func(s string) bool { return strings.HasPrefix(s, img+":") }), "the report does not say %s failed: %v", img, rep.Summary.Failed)
		}
		w.cut[img] = false
	}
	slices.Sort(promoted)
	got := slices.Clone(rep.Summary.Promoted)
	slices.Sort(got)
	w.check(slices.Equal(promoted, got), "the report says it promoted %v; the run promoted %v", got, promoted)
	w.leftovers(reports, iso)
}

// leftovers checks that a finished run left nothing behind: no validation
// container, no temporary file, no lock held, every report file whole and of
// this run.
func (w *killWorld) leftovers(reports string, iso *isolation) {
	w.t.Helper()
	t := w.t
	api := dockerClient(t)
	list, err := api.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "io.jenkins-ha.buildkit.validation"))})
	require.NoError(t, err)
	var mine []string // this test's: from an image of one of its revisions
	for _, c := range list {
		if strings.HasPrefix(c.Labels["org.opencontainers.image.revision"], w.namespace+"-") {
			mine = append(mine, c.Names[0]+" ("+c.Image+", "+c.State+")")
		}
	}
	w.check(len(mine) == 0, "validation containers left: %v", mine)

	// Ansible's own Python modules unpack into TMPDIR (ansible_<module>_payload_*)
	// and leave that behind when killed: Ansible's, not checked here.
	var tmp []string
	_ = filepath.WalkDir(iso.tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == iso.tmp {
			return nil
		}
		if ansiblePayload.MatchString(d.Name()) {
			return filepath.SkipDir
		}
		tmp = append(tmp, strings.TrimPrefix(p, iso.tmp+"/"))
		return nil
	})
	w.check(len(tmp) == 0, "temporary files left in TMPDIR: %v", tmp)

	// Every lock can be taken: none is held by a process that is gone.
	locks, _ := filepath.Glob(filepath.Join(iso.cache, "jenkins_ha.buildkit", "locks", "*"))
	for _, l := range locks {
		f, err := os.OpenFile(l, os.O_RDWR, 0)
		if !assert.NoError(t, err) {
			continue
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		w.check(err == nil, "lock %s is still held: %v", l, err)
		f.Close()
	}

	// The report files: whole, and all of the same (this) run.
	dir := filepath.Join(reports, "localhost")
	var stray []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		base := d.Name()
		if strings.HasPrefix(base, ".") || strings.Contains(base, ".partial") || strings.Contains(base, "tmp") || regexp.MustCompile(`\.prom\d+$`).MatchString(base) {
			stray = append(stray, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	w.check(len(stray) == 0, "temporary files left among the reports: %v", stray)
	var fromJSON, fromYAML struct {
		BuildTimestamp string `json:"build_timestamp" yaml:"build_timestamp"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "build-report-latest.json"))
	require.NoError(t, err)
	w.check(json.Unmarshal(b, &fromJSON) == nil, "build-report-latest.json is whole JSON")
	b, err = os.ReadFile(filepath.Join(dir, "build-report-latest.yml"))
	require.NoError(t, err)
	w.check(yaml.Unmarshal(b, &fromYAML) == nil, "build-report-latest.yml is whole YAML")
	w.check(fromJSON.BuildTimestamp == fromYAML.BuildTimestamp, "the JSON and YAML reports are of one run: %s, %s", fromJSON.BuildTimestamp, fromYAML.BuildTimestamp)
	history, _ := filepath.Glob(filepath.Join(dir, "history", "build-report-*.json"))
	slices.Sort(history)
	if w.check(len(history) > 0, "the run is kept in the history") {
		var last struct {
			BuildTimestamp string `json:"build_timestamp"`
		}
		b, err = os.ReadFile(history[len(history)-1])
		require.NoError(t, err)
		w.check(json.Unmarshal(b, &last) == nil && last.BuildTimestamp == fromJSON.BuildTimestamp,
			"the newest history entry is this run's: %s, %s", last.BuildTimestamp, fromJSON.BuildTimestamp)
	}
	html, err := os.ReadFile(filepath.Join(dir, "build-report-latest.html"))
	require.NoError(t, err)
	w.check(strings.Contains(string(html), "</html>"), "the HTML report is whole")
	_ = readMetrics(t, reports) // parses, or fails the test
	w.checks++
}

// TestRoleKilledAtRandomMoments kills ansible-playbook's whole process group
// (the play, its workers and the modules they run) at random moments of runs
// of the jenkins_images role, checks the invariants at once, then runs the
// role to completion and checks that it converged. Each run has changed
// images and one candidate that must fail a gate (a vulnerable agent fails
// the scan, a controller that never answers fails validation). The kill
// moments are drawn from KILL_TEST_SEED (a number, or random; 22 when unset),
// KILL_TEST_KILLS kills (4 when unset). The seed is printed: the same seed
// draws the same moments. KILL_TEST_AT=<task>[@<delay>] kills at one task
// instead, to look at one moment again.
func TestRoleKilledAtRandomMoments(t *testing.T) {
	seed := killSeed(t)
	kills := envInt(t, "KILL_TEST_KILLS", 4)
	rng := rand.New(rand.NewPCG(seed, 22))
	t.Logf("kill test: seed %d (KILL_TEST_SEED=%d draws the same moments), %d kills", seed, seed, kills)

	standin, namespace, reports, vars := roleSetup(t)
	iso := newIsolation(t)
	vars["images_to_build"] = "all"
	vars["jenkins_images_validation_budget"] = 8
	w := &killWorld{t: t, namespace: namespace, standin: standin, deploy: map[string]string{}, rollback: map[string]string{},
		cut: map[string]bool{}, bad: map[string]map[string]bool{}}
	defer func() { t.Logf("kill test: seed %d, %d invariant checks", seed, w.checks) }()

	// inputs gives a run its own revision (every image changes) and one image
	// that must fail a gate.
	inputs := func(rev, bad string) {
		vars["jenkins_images_revision"] = rev
		bases := map[string]any{"master": standin["controller"]}
		for _, a := range []string{"dind", "maven", "python", "nodejs"} {
			bases[a] = standin["agent"]
		}
		switch bad {
		case "master":
			bases["master"] = standin["never_ready"]
		case "":
		default:
			bases[bad] = standin["vulnerable"]
		}
		vars["jenkins_images_base_images"] = bases
		w.bad[rev] = map[string]bool{bad: true}
	}

	// The first run deploys every image (no gate to fail yet); it is also the
	// clock the kill moments are drawn on.
	inputs(namespace+"-kill-0", "")
	first := runRoleKilling(t, vars, iso, nil, nil)
	require.True(t, first.ok, first.out)
	for _, img := range roleImageNames() {
		w.deploy[img] = tagID(t, w.ref(img, "latest"))
		require.NotEmpty(t, w.deploy[img])
	}
	timeline := first.banners
	t.Logf("kill test: a whole run takes %s, %d tasks", first.took.Round(time.Second), len(timeline))

	survived := 0
	rev := 0
	for k := 1; k <= kills; k++ {
		rev++
		revision := fmt.Sprintf("%s-kill-%d", namespace, rev)
		bad := roleImageNames()[rng.IntN(len(roleImages))]
		inputs(revision, bad)
		n, delay := killMoment(rng, timeline, first.took)
		if at := os.Getenv("KILL_TEST_AT"); at != "" {
			n, delay = killAtTask(t, timeline, at)
		}
		killed := runRoleKilling(t, vars, iso, nil, func(i int, task string) (time.Duration, bool) { return delay, i == n })
		if !killed.killed {
			t.Logf("kill %d: the run ended (ok=%v) before task %d + %s; counted as a run to completion", k, killed.ok, n, delay.Round(time.Millisecond))
		} else {
			t.Logf("kill %d: SIGKILL %s into %q (task %d), %s into the run; %s fails a gate", k, killed.after.Round(time.Millisecond), killed.task, n,
				(timeline[n-1].at + killed.after).Round(100*time.Millisecond), bad)
			survived++
		}
		w.afterKill()

		// The next run: the same inputs again (a retried job), or the next
		// change (another image must fail now).
		if rng.IntN(2) == 1 {
			rev++
			revision = fmt.Sprintf("%s-kill-%d", namespace, rev)
			bad = roleImageNames()[rng.IntN(len(roleImages))]
			inputs(revision, bad)
			t.Logf("kill %d: the next run has new inputs; %s fails a gate", k, bad)
		} else {
			t.Logf("kill %d: the next run has the same inputs", k)
		}
		done := runRoleKilling(t, vars, iso, nil, nil)
		w.afterRun(done, revision, reports, iso)
		if t.Failed() {
			t.Logf("the killed run:\n%s", tail(killed.out, 60))
			t.Logf("the run after it:\n%s", tail(done.out, 80))
			t.FailNow()
		}
	}
	t.Logf("kill test: %d kills survived, %d invariant checks", survived, w.checks)
}

// killMoment draws when to kill a run, on the clock of a whole run
// (timeline, took): half the time a moment anywhere in the run (most fall in
// the long phases: builds, scans, validation), half the time a task drawn
// evenly (the short ones too: promotion, the report) and a moment within it.
// It returns the task (from 1) and how long after its banner.
func killMoment(rng *rand.Rand, timeline []banner, took time.Duration) (int, time.Duration) {
	end := func(i int) time.Duration { // when task i (from 0) ended
		if i+1 < len(timeline) {
			return timeline[i+1].at
		}
		return took
	}
	if rng.IntN(2) == 0 {
		at := timeline[0].at + time.Duration(rng.Int64N(int64(took-timeline[0].at)))
		for i := range timeline {
			if at < end(i) {
				return i + 1, at - timeline[i].at
			}
		}
	}
	i := rng.IntN(len(timeline))
	return i + 1, time.Duration(rng.Int64N(int64(end(i)-timeline[i].at) + 1))
}

// killAtTask reads KILL_TEST_AT, <task name prefix>[@<delay>]: every kill at
// that task, delay after its banner (0 when not given). It is for looking at
// one moment again; the random moments are what CI runs.
func killAtTask(t *testing.T, timeline []banner, at string) (int, time.Duration) {
	t.Helper()
	name, after, _ := strings.Cut(at, "@")
	var d time.Duration
	if after != "" {
		var err error
		d, err = time.ParseDuration(after)
		require.NoError(t, err, "KILL_TEST_AT=%s", at)
	}
	for i, b := range timeline {
		if strings.HasPrefix(b.name, name) {
			return i + 1, d
		}
	}
	t.Fatalf("KILL_TEST_AT=%s: no such task in the run", at)
	return 0, 0
}

func orNothing(id string) string {
	if id == "" {
		return "nothing"
	}
	return id
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startModule starts a module binary as Ansible runs it and returns the
// process and a function that waits for its JSON reply.
func startModule(t *testing.T, module string, args map[string]any) (*exec.Cmd, func() result) {
	t.Helper()
	args["_ansible_module_name"] = module
	b, err := json.Marshal(args)
	require.NoError(t, err)
	argsFile := filepath.Join(t.TempDir(), "args")
	require.NoError(t, os.WriteFile(argsFile, b, 0o600))
	cmd := exec.Command(filepath.Join(binDir, module), argsFile)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(binDir, "cache"))
	var out strings.Builder
	cmd.Stdout = &out
	require.NoError(t, cmd.Start())
	return cmd, func() result {
		_ = cmd.Wait()
		var res result
		require.NoError(t, json.Unmarshal([]byte(out.String()), &res), "module printed non-JSON: %s", out.String())
		return res
	}
}

// holdingProxy is the engine's API on 127.0.0.1 through a proxy that holds
// the first request hold accepts: never forwarded, or (forward) forwarded and
// done by the engine but never answered. held is closed then, and the client
// is gone when the test kills it.
func holdingProxy(t *testing.T, hold func(*http.Request) bool, forward bool) (host string, held <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{})
	var once sync.Once
	sock := engineSocket(t)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "docker" },
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}},
		FlushInterval: -1,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		holdIt := false
		if hold(r) {
			once.Do(func() { holdIt = true })
		}
		if holdIt {
			if forward {
				rec := httptest.NewRecorder()
				rp.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
			}
			close(ch)
			<-r.Context().Done() // the client is killed before it hears back
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return "tcp://" + srv.Listener.Addr().String(), ch
}

// TestPromotionCutBetweenItsTagMovesIsSettled kills buildkit_image at the
// worst moments of a promotion (repository + force_tag + rollback_tag):
// between the rollback tag's move and the deploy tag's, with and without an
// image under the rollback tag before, and after both moves. At the kill the
// deploy tag names the image it named before; the next task that reads the
// deploy tag puts the rollback tag right (check mode only says so).
func TestPromotionCutBetweenItsTagMovesIsSettled(t *testing.T) {
	repo := uniqueName(t)
	t.Cleanup(func() {
		for _, tag := range []string{"latest", "previous", "candidate", "old"} {
			removeImage(repo + ":" + tag)
		}
	})
	build := func(tag, marker string) string {
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo " + marker + " > /m\n"})
		res := run(t, "buildkit_image", buildArgs(repo+":"+tag, dir, nil))
		require.False(t, res.failed(), res.msg())
		return res.imageID()
	}
	older, deployed, candidate := build("old", "older-"+repo), build("latest", "deployed-"+repo), build("candidate", "candidate-"+repo)
	isTagOf := func(r *http.Request, tag string) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/tag") && r.URL.Query().Get("tag") == tag
	}
	promote := func(host string) map[string]any {
		return map[string]any{"name": repo + ":candidate", "source": "local", "repository": repo + ":latest", "force_tag": true,
			"rollback_tag": "previous", "docker_host": host, "_ansible_check_mode": false}
	}
	lookup := func(host string, check bool) result {
		return run(t, "buildkit_image", map[string]any{"name": repo + ":latest", "source": "local", "docker_host": host},
			map[string]any{"_ansible_check_mode": check})
	}
	cut := func(hold func(*http.Request) bool, forward bool) string {
		host, held := holdingProxy(t, hold, forward)
		cmd, wait := startModule(t, "buildkit_image", promote(host))
		select {
		case <-held:
		case <-time.After(time.Minute):
			t.Fatal("the promotion never reached the held request")
		}
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
		_ = wait
		return host
	}

	for _, c := range []struct {
		name         string
		rollbackWas  string
		hold         func(*http.Request) bool
		forward      bool
		atKill       [2]string // deploy, rollback
		settled      [2]string
		outcome      string
		settleChange bool
	}{
		{"cut between the moves", older, func(r *http.Request) bool { return isTagOf(r, "latest") }, false,
			[2]string{deployed, deployed}, [2]string{deployed, older}, "undone", true},
		{"cut between the moves, no rollback image before", "", func(r *http.Request) bool { return isTagOf(r, "latest") }, false,
			[2]string{deployed, deployed}, [2]string{deployed, ""}, "undone", true},
		{"cut before the first move", older, func(r *http.Request) bool { return isTagOf(r, "previous") }, false,
			[2]string{deployed, older}, [2]string{deployed, older}, "undone", false},
		{"cut after both moves", older, func(r *http.Request) bool { return isTagOf(r, "latest") }, true, [2]string{candidate, deployed}, [2]string{candidate, deployed}, "done", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			retag(t, deployed, repo+":latest")
			removeImage(repo + ":previous")
			if c.rollbackWas != "" {
				retag(t, c.rollbackWas, repo+":previous")
			}
			host := cut(c.hold, c.forward)
			assert.Equal(t, c.atKill, [2]string{tagID(t, repo+":latest"), tagID(t, repo+":previous")}, "at the kill (deploy, rollback)")

			check := lookup(host, true)
			require.False(t, check.failed(), check.msg())
			assert.Equal(t, true, check["promotion_interrupted"], "check mode says a real run would settle it")
			assert.Equal(t, c.atKill, [2]string{tagID(t, repo+":latest"), tagID(t, repo+":previous")}, "check mode changes nothing")

			res := lookup(host, false)
			require.False(t, res.failed(), res.msg())
			settled, _ := res["promotion_settled"].(map[string]any)
			assert.Equal(t, c.outcome, settled["outcome"])
			assert.Equal(t, c.settleChange, res.changed())
			assert.Equal(t, c.settled, [2]string{tagID(t, repo+":latest"), tagID(t, repo+":previous")}, "settled (deploy, rollback)")
			assert.Equal(t, c.settled[0], res.imageID(), "the lookup reports the deployed image")

			again := lookup(host, false)
			assert.Nil(t, again["promotion_settled"], "settled once")
			assert.False(t, again.changed())

			// The promotion run again from there is whole.
			if c.settled[0] != candidate {
				done := run(t, "buildkit_image", promote(host))
				require.False(t, done.failed(), done.msg())
				assert.True(t, done.changed())
				assert.Equal(t, [2]string{candidate, deployed}, [2]string{tagID(t, repo+":latest"), tagID(t, repo+":previous")})
				assert.Equal(t, map[string]any{"tag": repo + ":previous", "image": deployed}, done["rollback"])
			}
		})
	}
}

// validationContainers lists the validation containers from image.
func validationContainers(t *testing.T, image string) []string {
	t.Helper()
	list, err := dockerClient(t).ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "io.jenkins-ha.buildkit.validation"), filters.Arg("ancestor", image))})
	require.NoError(t, err)
	var names []string
	for _, c := range list {
		names = append(names, strings.TrimPrefix(c.Names[0], "/"))
	}
	return names
}

// TestValidationContainerOfAKilledRunIsRemoved: buildkit_validate killed
// with SIGKILL cannot remove its container; the next run removes it first,
// and leaves the container of a run that is still going alone.
func TestValidationContainerOfAKilledRunIsRemoved(t *testing.T) {
	img := builtImage(t)
	probe := func() map[string]any {
		return map[string]any{"image": img, "command": []any{"sleep", "30"}, "budget": 60}
	}
	killed, _ := startModule(t, "buildkit_validate", probe())
	require.Eventually(t, func() bool { return len(validationContainers(t, img)) == 1 }, time.Minute, 100*time.Millisecond)
	left := validationContainers(t, img)
	require.NoError(t, killed.Process.Kill())
	_ = killed.Wait()
	assert.Equal(t, left, validationContainers(t, img), "SIGKILL: the container is left (nothing could remove it)")

	alive, wait := startModule(t, "buildkit_validate", probe()) // a run still going: its container must stay
	require.Eventually(t, func() bool {
		return len(validationContainers(t, img)) == 1 && validationContainers(t, img)[0] != left[0] ||
			len(validationContainers(t, img)) == 2
	}, time.Minute, 100*time.Millisecond)
	require.Eventually(t, func() bool { return !slices.Contains(validationContainers(t, img), left[0]) }, time.Minute, 100*time.Millisecond,
		"the second run removed the killed run's container first")
	running := validationContainers(t, img)
	require.Len(t, running, 1)

	res := run(t, "buildkit_validate", map[string]any{"image": img, "command": []any{"true"}, "budget": 30})
	require.False(t, res.failed(), res.msg())
	assert.Nil(t, res["removed_orphans"], "the live run's container is not an orphan")
	assert.Equal(t, running, validationContainers(t, img), "and is left alone")
	require.NoError(t, alive.Process.Kill())
	_ = wait
	_ = alive.Wait()
	res = run(t, "buildkit_validate", map[string]any{"image": img, "command": []any{"true"}, "budget": 30})
	require.False(t, res.failed(), res.msg())
	assert.Len(t, res["removed_orphans"], 1)
	assert.Empty(t, validationContainers(t, img), "nothing left")
}

// TestGatesJudgeTheImageByID: the role's gates and its promotion name the
// candidate by the image ID its build returned, not by the candidate tag,
// which another run (a killed run's build, still going) may move meanwhile.
// The scan and the validation take an image ID.
func TestGatesJudgeTheImageByID(t *testing.T) {
	cache := t.TempDir()
	trivyDB(t, cache, time.Hour, testAdvisories)
	vulnerable := alpineImage(t, map[string]string{"busybox": "1.36.1-r2"})
	id, ok := imageExists(t, vulnerable)
	require.True(t, ok)
	res := run(t, "buildkit_scan", scanArgs(t, cache, id, nil))
	assert.True(t, res.failed(), "scanned by ID, the CRITICAL finding fails the gate")
	assert.Contains(t, res.msg(), "CVE-2099-0001")

	img := builtImage(t)
	id, ok = imageExists(t, img+":latest")
	require.True(t, ok)
	res = run(t, "buildkit_validate", map[string]any{"image": id, "command": []any{"cat", "/id"}, "expect_output": img, "budget": 30})
	require.False(t, res.failed(), res.msg())
	assert.Equal(t, true, res["passed"])
}
