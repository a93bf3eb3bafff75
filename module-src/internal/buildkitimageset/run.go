package buildkitimageset

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/go-units"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitcache"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitimage"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitreport"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitscan"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitsign"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitvalidate"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/guard"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/verdict"
)

// set is one run of the module.
type set struct {
	m        *module.Module
	o        Options
	params   map[string]any // the validated arguments, for what is passed on as it is
	shared   *buildkitimage.Shared
	settings verdict.Settings
	started  time.Time
	items    []*item
	rules    verdict.MetadataRules
	builds   sync.WaitGroup // done when every image's build is
	t0       time.Time      // when the run started (for -vvv timings)
	slots    chan struct{}  // the scans that may run at once (slot)
}

// item is one image of the set and what each step said.
type item struct {
	Image
	index     int
	built     sync.Once      // tells s.builds this image's build is done
	raw       map[string]any // images[index] as validated
	path      string         // build.path
	buildPath string         // what the build reads (check mode: a scratch copy)
	candidate string         // repository:candidate_tag
	deployRef string
	rollRef   string

	wrote     []string        // context files written (check mode: would be)
	build     map[string]any  // buildkit_image's result
	deployed  map[string]any  // the deploy tag's image before the run ({}: none)
	scan      map[string]any  // buildkit_scan's result (nil: not run)
	checks    []probe         // buildkit_validate's results
	meta      []string        // the metadata gate's problems
	metaRan   bool            // the metadata gate ran
	signing   map[string]any  // push, sign, verify results
	sign      verdict.Signing // what they came to
	rollback  map[string]any  // buildkit_image's result (nil: not run)
	promote   map[string]any  // buildkit_image's result (nil: not run)
	pushed    map[string]any  // buildkit_image's push of the deploy tag (nil: not run)
	promoErr  string          // why promotion failed
	lookupErr string          // why the deploy tag's image is not known
	v         verdict.Verdict
	trivy     string // Trivy's JSON report to keep beside the reports
}

// probe is one validation probe's result.
type probe struct {
	name   string
	res    map[string]any
	failed bool
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Run is the module's entry point.
func Run(ctx context.Context, m *module.Module) (module.Result, error) {
	s := &set{m: m, params: m.Params, t0: time.Now(), slots: make(chan struct{}, max(2, runtime.NumCPU()))}
	if err := m.Decode(&s.o); err != nil {
		return module.Result{}, err
	}
	if err := s.check(); err != nil {
		return module.Result{}, err
	}
	s.shared = buildkitimage.NewShared()
	defer s.shared.Close()
	data := map[string]any{}
	if s.o.Preflight != nil {
		checks, err := s.preflight(ctx)
		data["preflight"] = map[string]any{"checks": checks}
		if err != nil {
			return module.Result{Data: data}, err
		}
	}
	// The builder's build cache is measured once the builds are done (a
	// docker-container builder may only be made by them), while the gates
	// run (cacheInfo).
	var cache *buildkitreport.BuildCache
	measured := make(chan struct{})
	s.builds.Add(len(s.items))
	go func() {
		defer close(measured)
		if !s.m.CheckMode && s.o.Report != nil {
			_ = guard.Func(func() error { cache = s.cacheInfo(ctx); return nil })()
			s.m.Debugf(3, "buildkit_image_set: build cache measured at %.2fs", time.Since(s.t0).Seconds())
		}
	}()
	s.run(ctx)
	<-measured
	return s.result(data, cache)
}

// check refuses what cannot work, naming the option.
func (s *set) check() error {
	o := &s.o
	if len(o.Images) == 0 {
		return errors.New("images: give at least one image")
	}
	seen := map[string]bool{}
	controller := ""
	for i, img := range o.Images {
		opt := fmt.Sprintf("images[%d]", i)
		if !safeName.MatchString(img.Name) {
			return fmt.Errorf("%s.name: %q must be letters, digits, '.', '_' or '-' (it names the image in the report and its files)", opt, img.Name)
		}
		if seen[img.Name] {
			return fmt.Errorf("%s.name: %q is given twice", opt, img.Name)
		}
		seen[img.Name] = true
		if img.Kind == "controller" {
			if controller != "" {
				return fmt.Errorf("%s.kind: %q is a second controller (%q is one); the report holds one controller and its agents", opt, img.Name, controller)
			}
			controller = img.Name
		}
		named, err := reference.ParseNormalizedNamed(img.Repository)
		if err != nil {
			return fmt.Errorf("%s.repository: %q is not an image name: %v", opt, img.Repository, err)
		}
		if _, tagged := named.(reference.Tagged); tagged {
			return fmt.Errorf("%s.repository: %q carries a tag; give the repository alone (the tags are candidate_tag, deploy_tag, rollback_tag)", opt, img.Repository)
		}
		if _, digested := named.(reference.Digested); digested {
			return fmt.Errorf("%s.repository: %q carries a digest; give the repository alone", opt, img.Repository)
		}
		if err := checkFiles(opt+".files", img.Files); err != nil {
			return err
		}
		if s.raw(i)["build"] == nil {
			return fmt.Errorf("%s.build: required (buildkit_image's build options: path, args, ...)", opt)
		}
	}
	for _, t := range []struct{ option, tag string }{{"candidate_tag", o.CandidateTag}, {"deploy_tag", o.DeployTag}, {"rollback_tag", o.RollbackTag}} {
		if t.tag != "" && !validTag.MatchString(t.tag) {
			return fmt.Errorf("%s: %q is not a valid tag", t.option, t.tag)
		}
	}
	if o.CandidateTag == "" {
		return errors.New("candidate_tag: must not be empty")
	}
	if o.DeployTag != "" && o.DeployTag == o.CandidateTag {
		return fmt.Errorf("deploy_tag: %q is candidate_tag too; the deploy tag moves only to a candidate that passed", o.DeployTag)
	}
	if o.RollbackTag != "" && (o.DeployTag == "" || o.RollbackTag == o.DeployTag || o.RollbackTag == o.CandidateTag) {
		return fmt.Errorf("rollback_tag: %q needs a deploy_tag of its own, other than candidate_tag and rollback_tag", o.RollbackTag)
	}
	if o.Push && o.DeployTag == "" {
		return errors.New("push: pushes the deploy tag; set deploy_tag")
	}
	if o.Scan != nil && o.Scan.Enabled && o.Scan.Timeout <= 0 {
		return fmt.Errorf("scan.timeout: must be a positive number of seconds, got %d", o.Scan.Timeout)
	}
	if o.Validation != nil && o.Validation.Enabled && o.Validation.Budget <= 0 {
		return fmt.Errorf("validation.budget: must be a positive number of seconds, got %d", o.Validation.Budget)
	}
	if g := o.Sign; g != nil && g.Enabled {
		if g.Key == "" || g.PublicKey == "" {
			return errors.New("sign: signing needs sign.key (the cosign private key) and sign.public_key (which verifies each candidate before promotion)")
		}
		if !o.Push || o.DeployTag == "" {
			return errors.New("sign: candidates are signed in their registry: set push: true and deploy_tag")
		}
	}
	if p := o.Preflight; p != nil {
		if _, err := units.RAMInBytes(p.MinFreeDisk); err != nil {
			return fmt.Errorf("preflight.min_free_disk: %q is not a size such as 5GB: %v", p.MinFreeDisk, err)
		}
	}
	if r := o.Report; r != nil {
		if r.Started != "" {
			if _, err := time.Parse(time.RFC3339, r.Started); err != nil {
				return fmt.Errorf("report.started: %q is not an RFC 3339 time such as 2026-01-02T03:04:05Z", r.Started)
			}
		}
		if r.CacheMaxAge < 0 {
			return fmt.Errorf("report.cache_max_age: must be 0 (measure every run) or more seconds, got %d", r.CacheMaxAge)
		}
		if r.CacheLimit != "" {
			if _, err := units.RAMInBytes(r.CacheLimit); err != nil {
				return fmt.Errorf("report.cache_limit: %q is not a size such as 10GB: %v", r.CacheLimit, err)
			}
		}
	}
	s.settings = verdict.Settings{
		Scan:       o.Scan != nil && o.Scan.Enabled,
		Validation: o.Validation != nil && o.Validation.Enabled,
		Metadata:   o.Metadata != nil && o.Metadata.Enabled,
		Sign:       o.Sign != nil && o.Sign.Enabled,
		Force:      o.ForceSource,
		CheckMode:  s.m.CheckMode,
	}
	if s.settings.Scan {
		s.settings.FailOn, s.settings.FailOnScannerError = o.Scan.FailOn, o.Scan.FailOnScannerError
	}
	if s.settings.Metadata {
		s.rules = verdict.MetadataRules{Labels: o.Metadata.Labels, NonRoot: o.Metadata.NonRoot}
	}
	s.started = time.Now().UTC().Truncate(time.Second)
	if o.Report != nil && o.Report.Started != "" {
		s.started, _ = time.Parse(time.RFC3339, o.Report.Started)
	}
	for i, img := range o.Images {
		it := &item{Image: img, index: i, raw: s.raw(i)}
		build, _ := it.raw["build"].(map[string]any)
		it.path, _ = build["path"].(string)
		it.candidate = img.Repository + ":" + o.CandidateTag
		if o.DeployTag != "" {
			it.deployRef = img.Repository + ":" + o.DeployTag
		}
		if o.RollbackTag != "" {
			it.rollRef = img.Repository + ":" + o.RollbackTag
		}
		s.items = append(s.items, it)
	}
	return nil
}

var validTag = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}$`)

// raw is images[i] as validated.
func (s *set) raw(i int) map[string]any {
	list, _ := s.params["images"].([]any)
	if i < len(list) {
		m, _ := list[i].(map[string]any)
		return m
	}
	return nil
}

// engineArgs are the engine connection options, passed on to every module that takes them.
func (s *set) engineArgs(args map[string]any) map[string]any {
	for k := range engine.ArgSpec() {
		if v, ok := s.params[k]; ok && v != nil {
			args[k] = v
		}
	}
	return args
}

// preflight stops the run before any build when the engine does not answer
// or its disk is below min_free_disk (buildkit_cache's own checks).
func (s *set) preflight(ctx context.Context) ([]buildkitcache.Check, error) {
	minFree, _ := units.RAMInBytes(s.o.Preflight.MinFreeDisk)
	e, err := s.shared.Engine(ctx, s.o.Options)
	if err != nil {
		return []buildkitcache.Check{{Name: "engine", Status: "fail", Detail: err.Error()}}, err
	}
	checks, _, ok := buildkitcache.Preflight(ctx, e, minFree)
	if ok {
		return checks, nil
	}
	var lines []string
	for _, c := range checks {
		if c.Status == "fail" {
			lines = append(lines, c.Line())
		}
	}
	return checks, fmt.Errorf("the build host cannot build: %s", strings.Join(lines, "; "))
}

// run takes every image through its steps, concurrently: each image's own
// steps in order (its deploy tag moves only after its own gates), the
// images independent of each other.
func (s *set) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, it := range s.items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.buildDone(it)
			if err := guard.Func(func() error { s.image(ctx, it); return nil })(); err != nil {
				it.build = map[string]any{"failed": true, "msg": err.Error()}
				s.decide(it)
			}
		}()
	}
	wg.Wait()
}

// buildDone tells s.builds that the image's build is done (once).
func (s *set) buildDone(it *item) { it.built.Do(s.builds.Done) }

// image is one image's steps.
func (s *set) image(ctx context.Context, it *item) {
	// The deploy tag's image, looked up while the build runs.
	var lookup sync.WaitGroup
	it.deployed = map[string]any{}
	if it.deployRef != "" {
		lookup.Add(1)
		go func() {
			defer lookup.Done()
			res, failed := s.call(ctx, "buildkit_image", map[string]any{"name": it.deployRef, "source": "local"})
			msg, _ := res["msg"].(string)
			switch {
			case !failed:
				if doc, ok := res["image"].(map[string]any); ok {
					it.deployed = doc
				}
			case !strings.HasPrefix(msg, "Cannot find the image"):
				// Not knowing what the deploy tag holds, the image is not
				// promoted: its rollback tag could not be kept.
				it.lookupErr = fmt.Sprintf("look up %s: %s", it.deployRef, msg)
			}
		}()
	}
	if !s.contexts(it) {
		s.buildDone(it)
		lookup.Wait()
		s.decide(it)
		return
	}
	it.build = s.buildImage(ctx, it)
	s.buildDone(it)
	s.m.Debugf(3, "buildkit_image_set: %s built at %.2fs", it.Name, time.Since(s.t0).Seconds())
	if it.buildPath != it.path {
		os.RemoveAll(it.buildPath)
	}
	lookup.Wait()
	b := s.buildOf(it)
	if !verdict.Gated(s.settings, b, imageID(it.deployed)) || s.m.CheckMode {
		s.decide(it)
		s.promote(ctx, it)
		return
	}
	s.gates(ctx, it)
	s.m.Debugf(3, "buildkit_image_set: %s gated at %.2fs", it.Name, time.Since(s.t0).Seconds())
	s.decide(it)
	if it.v.Sign {
		s.signCandidate(ctx, it)
		s.decide(it)
	}
	s.promote(ctx, it)
	s.m.Debugf(3, "buildkit_image_set: %s done at %.2fs", it.Name, time.Since(s.t0).Seconds())
}

// contexts writes the image's files into its context (check mode: into a
// scratch copy that the build is predicted from). A failure is the build's.
func (s *set) contexts(it *item) bool {
	it.buildPath = it.path
	if len(it.Files) == 0 {
		return true
	}
	var err error
	if s.m.CheckMode {
		it.wrote = differingFiles(it.path, it.Files)
		it.buildPath, err = scratchContext(s.m.TmpDir, it.path, it.Files)
	} else {
		it.wrote, err = writeFiles(it.path, it.Files)
	}
	if err != nil {
		it.build = map[string]any{"failed": true, "msg": fmt.Sprintf("images[%d].%v", it.index, err)}
		return false
	}
	return true
}

// buildImage is buildkit_image's source=build of the candidate, with the
// image's build options and the set's, as a task of its own would run it.
func (s *set) buildImage(ctx context.Context, it *item) map[string]any {
	build := maps.Clone(it.raw["build"].(map[string]any))
	build["path"] = it.buildPath
	args := map[string]any{"name": it.Repository, "tag": s.o.CandidateTag, "source": "build", "force_source": s.o.ForceSource, "build": build}
	for _, k := range buildOnly {
		if v, ok := s.params[k]; ok && v != nil {
			args[k] = v
		}
	}
	if s.o.CacheDir != "" {
		args["context_cache_dir"] = s.o.CacheDir
	}
	res, _ := s.callWith(ctx, "buildkit_image", buildkitimage.Spec(), buildkitimage.RunShared(s.shared), s.engineArgs(args))
	return res
}

// call runs one of the modules with the engine options.
func (s *set) call(ctx context.Context, name string, args map[string]any) (map[string]any, bool) {
	switch name {
	case "buildkit_image":
		return s.callWith(ctx, name, buildkitimage.Spec(), buildkitimage.RunShared(s.shared), s.engineArgs(args))
	case "buildkit_validate":
		return s.callWith(ctx, name, buildkitvalidate.Spec(), buildkitvalidate.Run, s.engineArgs(args))
	case "buildkit_cache":
		return s.callWith(ctx, name, buildkitcache.Spec(), buildkitcache.Run, s.engineArgs(args))
	case "buildkit_scan":
		if h, ok := s.params["docker_host"].(string); ok && h != "" {
			args["docker_host"] = h
		}
		return s.callWith(ctx, name, buildkitscan.Spec(), buildkitscan.Run, args)
	case "buildkit_sign":
		return s.callWith(ctx, name, buildkitsign.Spec(), buildkitsign.Run, args)
	}
	panic("buildkit_image_set: no module " + name)
}

// callWith runs a module in this process; a failure is in its result (kept
// without its invocation: the set's own says what it was given).
func (s *set) callWith(ctx context.Context, name string, spec module.Spec, run module.RunFunc, args map[string]any) (map[string]any, bool) {
	res, failed := s.m.Call(ctx, name, spec, run, args)
	delete(res, "invocation")
	if ws, ok := res["warnings"].([]any); ok {
		for _, w := range ws {
			s.m.Warn(fmt.Sprintf("%s: %v", name, w))
		}
	}
	return res, failed
}

// buildOf is what the verdict needs of the build.
func (s *set) buildOf(it *item) verdict.Build {
	b := verdict.Build{Failed: isTrue(it.build["failed"]), Changed: isTrue(it.build["changed"])}
	b.Msg, _ = it.build["msg"].(string)
	if doc, ok := it.build["image"].(map[string]any); ok {
		b.ImageID = imageID(doc)
	}
	return b
}

// decide is the verdict on what the steps said so far.
func (s *set) decide(it *item) {
	img := verdict.Image{Build: s.buildOf(it), Deployed: imageID(it.deployed), Metadata: it.meta, Signing: it.sign}
	if it.scan != nil {
		img.Scan = &verdict.Scan{Passed: isTrue(it.scan["passed"])}
		img.Scan.Status, _ = it.scan["scan_status"].(string)
		img.Scan.Msg, _ = it.scan["msg"].(string)
	}
	for _, p := range it.checks {
		msg, _ := p.res["msg"].(string)
		img.Checks = append(img.Checks, verdict.Check{Name: p.name, Failed: p.failed, Msg: msg, Duration: number(p.res["duration"])})
	}
	it.v = verdict.Decide(s.settings, img)
}

// gates runs the candidate's scan, probes and metadata check, concurrently.
func (s *set) gates(ctx context.Context, it *item) {
	var wg sync.WaitGroup
	if s.settings.Scan {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.slot()()
			t := time.Now()
			it.scan = s.scanCandidate(ctx, it)
			s.m.Debugf(3, "buildkit_image_set: %s scanned at %.2fs (%.2fs)", it.Name, time.Since(s.t0).Seconds(), time.Since(t).Seconds())
		}()
	}
	if s.settings.Validation {
		probes, _ := it.raw["probes"].([]any)
		it.checks = make([]probe, len(probes))
		for i, p := range probes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				args := map[string]any{}
				for k, v := range p.(map[string]any) {
					if v != nil && k != "name" {
						args[k] = v
					}
				}
				name, _ := p.(map[string]any)["name"].(string)
				args["image"] = s.candidateID(it)
				args["budget"] = s.o.Validation.Budget
				if s.o.Validation.Memory != "" {
					args["memory"] = s.o.Validation.Memory
				}
				if s.o.Validation.CPUs > 0 {
					args["cpus"] = s.o.Validation.CPUs
				}
				t := time.Now()
				res, failed := s.call(ctx, "buildkit_validate", args)
				it.checks[i] = probe{name: name, res: res, failed: failed}
				s.m.Debugf(3, "buildkit_image_set: %s probe %s at %.2fs (%.2fs)", it.Name, name, time.Since(s.t0).Seconds(), time.Since(t).Seconds())
			}()
		}
	}
	if s.settings.Metadata {
		// The candidate's inspect document is in the build's result (after
		// the build, or as it is when none ran).
		it.metaRan = true
		if doc, ok := it.build["image"].(map[string]any); ok && imageID(doc) != "" {
			it.meta = s.rulesOf(it).Problems(verdict.ConfigOf(doc))
		} else {
			it.meta = []string{"not found in the engine"}
		}
	}
	wg.Wait()
}

// slot waits for a scan's turn and returns its release. Trivy is CPU-bound
// (and takes memory in proportion to the image), so at most one scan per CPU
// runs at a time: more at once only makes each slower, and the builds still
// running beside them. (Probes are not held back: most of their time is a
// wait for the candidate, a controller's up to minutes.)
func (s *set) slot() func() {
	s.slots <- struct{}{}
	return func() { <-s.slots }
}

// rulesOf are the metadata rules for an image: the set's and its own.
func (s *set) rulesOf(it *item) verdict.MetadataRules {
	r := s.rules
	if it.Metadata != nil {
		r.Expose, r.Healthcheck = it.Metadata.Expose, it.Metadata.Healthcheck
	}
	return r
}

// scanCandidate is buildkit_scan of the candidate, with its Trivy report
// (and SBOM) under scan.report_dir.
func (s *set) scanCandidate(ctx context.Context, it *item) map[string]any {
	sc := s.o.Scan
	failOn := sc.FailOn
	if len(failOn) == 0 {
		failOn = []string{"CRITICAL"} // scanned and reported; the gate does not fail (verdict)
	}
	args := map[string]any{"image": s.candidateID(it), "scanner_path": sc.ScannerPath, "fail_on": failOn, "timeout": sc.Timeout,
		"offline": sc.Offline, "fail_on_scanner_error": sc.FailOnScannerError}
	if sc.CacheDir != "" {
		args["cache_dir"] = sc.CacheDir
	}
	if sc.ReportDir != "" {
		args["report_path"] = filepath.Join(sc.ReportDir, it.Name+"-trivy.json")
		if sc.SBOM {
			args["sbom_format"], args["sbom_path"] = "cyclonedx", filepath.Join(sc.ReportDir, it.Name+".cdx.json")
		}
	}
	res, _ := s.call(ctx, "buildkit_scan", args)
	if st, _ := res["scan_status"].(string); st == "passed" || st == "failed" {
		it.trivy, _ = res["report_path"].(string)
	}
	return res
}

// signCandidate pushes the candidate, signs it by digest with its SBOM and
// the gate verdict as attestations, and verifies both with the public key.
func (s *set) signCandidate(ctx context.Context, it *item) {
	g := s.o.Sign
	it.signing = map[string]any{}
	fail := func(step string, res map[string]any) {
		msg, _ := res["msg"].(string)
		if msg == "" {
			msg = step + " failed"
		}
		it.sign = verdict.Signing{Error: msg}
	}
	pushed, failed := s.call(ctx, "buildkit_image", map[string]any{"name": it.candidate, "source": "local", "push": true})
	it.signing["push"] = pushed
	if failed {
		fail("push", pushed)
		return
	}
	digest := ""
	if doc, ok := pushed["image"].(map[string]any); ok {
		if list, ok := doc["RepoDigests"].([]any); ok {
			for _, d := range list {
				if ds, _ := d.(string); strings.HasPrefix(ds, it.Repository+"@") {
					digest = strings.TrimPrefix(ds, it.Repository+"@")
					break
				}
			}
		}
	}
	var atts []any
	if sbom, _ := it.scan["sbom_path"].(string); sbom != "" {
		atts = append(atts, map[string]any{"type": "cyclonedx", "predicate": sbom})
	}
	counts := it.scan["counts"]
	if counts == nil {
		counts = map[string]any{}
	}
	dbVersion, _ := it.scan["db_updated_at"].(string)
	failOn := []any{}
	for _, f := range s.settings.FailOn {
		failOn = append(failOn, f)
	}
	atts = append(atts, map[string]any{"type": "vuln", "predicate_data": map[string]any{
		"invocation": map[string]any{"uri": g.Invocation, "event_id": s.started.Format(time.RFC3339), "builder.id": s.host(), "parameters": nil},
		"scanner": map[string]any{"uri": "pkg:github/aquasecurity/trivy", "version": "",
			"db": map[string]any{"uri": "", "version": dbVersion},
			"result": map[string]any{"passed": true, "scan": it.v.ScanStatus, "fail_on": failOn, "counts": counts,
				"validated": it.v.Validated, "metadata_ok": it.v.MetadataOK}},
		"metadata": map[string]any{"scanStartedOn": s.started.Format(time.RFC3339), "scanFinishedOn": time.Now().UTC().Format(time.RFC3339)},
	}})
	args := map[string]any{"image": it.candidate, "key": g.Key, "attestations": atts}
	if digest != "" {
		args["digest"] = digest
	}
	if g.KeyPasswordFile != "" {
		args["key_password_file"] = g.KeyPasswordFile
	} else if g.KeyPassword != "" {
		args["key_password"] = g.KeyPassword
	}
	signed, failed := s.call(ctx, "buildkit_sign", args)
	it.signing["sign"] = signed
	if failed {
		fail("sign", signed)
		return
	}
	verified, failed := s.call(ctx, "buildkit_sign", map[string]any{"image": signed["image"], "digest": signed["digest"], "state": "verified",
		"public_key": []any{g.PublicKey}, "attestations": []any{map[string]any{"type": "vuln", "match": map[string]any{"scanner.result.passed": true}}}})
	it.signing["verify"] = verified
	if failed {
		fail("verify", verified)
		return
	}
	it.sign.OK = true
	it.sign.Digest, _ = verified["digest"].(string)
}

// promote keeps the deployed image under the rollback tag, then moves the
// deploy tag to the candidate, in one journaled buildkit_image call (by its image ID: the candidate tag may have
// moved meanwhile), as the verdict says; with push, every deploy tag is
// pushed, not only a new one (a run stopped between a promotion and its push
// is pushed by the next; nothing is sent where the registry has the image).
// In check mode the same calls predict what a real run would change.
func (s *set) promote(ctx context.Context, it *item) {
	if it.deployRef == "" {
		return
	}
	if it.v.Rollback || it.v.Promote {
		if it.lookupErr != "" {
			it.promoErr = it.lookupErr
			return
		}
		if it.v.Promote {
			// One buildkit_image task moves both tags, journaled on the host
			// (its rollback_tag): a run killed between the two moves is put
			// right by the next lookup of the deploy tag.
			args := map[string]any{"name": s.candidateID(it), "source": "local", "repository": it.deployRef, "force_tag": true}
			if it.v.Rollback && it.rollRef != "" {
				args["rollback_tag"] = s.o.RollbackTag
			}
			res, failed := s.call(ctx, "buildkit_image", args)
			it.promote = res
			if rb, ok := res["rollback"].(map[string]any); ok {
				it.rollback = rb
			}
			if failed {
				it.promoErr, _ = res["msg"].(string)
				return
			}
		}
	}
	if s.o.Push && !s.m.CheckMode && (imageID(it.deployed) != "" || it.promote != nil) {
		args := map[string]any{"name": it.deployRef, "source": "local", "push": true}
		for _, k := range []string{"retries", "retry_delay"} {
			if v, ok := s.params[k]; ok && v != nil {
				args[k] = v
			}
		}
		res, failed := s.call(ctx, "buildkit_image", args)
		it.pushed = res
		if failed {
			it.promoErr = "push " + it.deployRef + ": " + str(res["msg"])
		}
	}
}

// candidateID is the candidate's image ID from its build's result, by which
// the gates and the promotion name it (the candidate tag when there is none).
func (s *set) candidateID(it *item) string {
	if doc, ok := it.build["image"].(map[string]any); ok {
		if id := imageID(doc); id != "" {
			return id
		}
	}
	return it.candidate
}

// host names the build host in the report and the attestations.
func (s *set) host() string {
	if s.o.Report != nil && s.o.Report.Host != "" {
		return s.o.Report.Host
	}
	h, _ := os.Hostname()
	return h
}

func imageID(doc map[string]any) string {
	id, _ := doc["Id"].(string)
	return id
}

func isTrue(v any) bool {
	b, _ := v.(bool)
	return b
}

func number(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	}
	return 0
}
