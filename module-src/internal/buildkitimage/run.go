package buildkitimage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildctx"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/retry"
)

// InputsLabel is the image label that records the digest of everything that
// fed the build. A later run compares it (and this host's record of the image
// ID it built from those inputs, state.go) to decide whether to build at all.
const InputsLabel = "io.jenkins-ha.buildkit.inputs"

// maxStdout caps the build log returned in stdout (the tail is kept).
const maxStdout = 256 << 10

var imageIDPattern = regexp.MustCompile(`^sha256:[0-9a-fA-F]{64}$`) // docker_image's is_image_name_id: a bare hash is a name

func isImageID(s string) bool { return imageIDPattern.MatchString(s) }

// runner carries one module run: the options, the engine, and what it did.
type runner struct {
	m       *module.Module
	o       Options
	e       *engine.Engine
	name    string // repository without tag, or an image ID, or repo@digest
	tag     string // "" for IDs and digests
	ref     string // what the engine is asked for: name:tag, ID, or repo@digest
	res     module.Result
	actions []string
	shared  *Shared // the set's (buildkit_image_set), or nil

	// The context of a build, once read: its session key is asked for when
	// the builder is known (runBuild).
	bctx *buildctx.Context
	sum  buildctx.Sum
	// skipDaemon: a cluster that could not build fell back (builder.fallback)
	// to the engine's builders.
	skipDaemon bool
}

// Run is the module's entry point.
func Run(ctx context.Context, m *module.Module) (module.Result, error) { return run(ctx, m, nil) }

func run(ctx context.Context, m *module.Module, shared *Shared) (module.Result, error) {
	var o Options
	if err := m.Decode(&o); err != nil {
		return module.Result{}, err
	}
	r := &runner{m: m, o: o, res: module.Result{Data: map[string]any{"image": map[string]any{}}}, shared: shared}
	if err := r.checkOptions(); err != nil {
		return r.result(), err
	}
	var e *engine.Engine
	var err error
	if shared != nil {
		e, err = shared.Engine(ctx, o.Options)
	} else {
		e, err = engine.Connect(ctx, o.Options)
		if e != nil {
			defer e.Close()
		}
	}
	if err != nil {
		return r.result(), err
	}
	r.e = e
	// A promotion an interrupted run left half done is settled before this
	// run reads or moves its tags (promote.go).
	if err := r.settlePromotions(ctx, r.ref, r.repositoryTarget()); err != nil {
		return r.result(), err
	}
	if o.State == "absent" {
		err = r.absent(ctx)
		return r.result(), err
	}
	if !m.CheckMode {
		release, err := r.lockImage(ctx)
		if err != nil {
			return r.result(), err
		}
		defer release()
	}
	err = r.present(ctx)
	return r.result(), err
}

func (r *runner) result() module.Result {
	r.res.Data["actions"] = append([]string{}, r.actions...)
	return r.res
}

// checkOptions splits name into repository and tag the way docker_image does
// (a tag in name wins over tag) and refuses combinations that cannot work,
// with docker_image's messages.
func (r *runner) checkOptions() error {
	if err := r.checkNames(); err != nil {
		return err
	}
	return r.checkRollbackTag()
}

// repositoryTarget is the tag the repository option makes, "" without one.
func (r *runner) repositoryTarget() string {
	if r.o.Repository == "" {
		return ""
	}
	repo, tag := splitRepository(r.o.Repository, r.tag, r.o.Tag)
	return repo + ":" + tag
}

func (r *runner) checkNames() error {
	o := r.o
	if o.Tag != "" && !validTag.MatchString(o.Tag) {
		return fmt.Errorf("%q is not a valid docker tag!", o.Tag) // docker_image's words, checked first as there
	}
	if o.Repository != "" && isImageID(o.Repository) {
		return fmt.Errorf("`repository` must not be an image ID; got: %s", o.Repository)
	}
	if o.Repository != "" {
		if _, err := reference.ParseNormalizedNamed(o.Repository); err != nil {
			return fmt.Errorf("repository: %q is not a valid image name: %v", o.Repository, err)
		}
	}
	if isImageID(o.Name) {
		r.name, r.ref = o.Name, o.Name
		if o.Repository == "" && o.Push {
			return fmt.Errorf("Cannot push an image by ID; specify `repository` to tag and push the image with ID %s instead", o.Name)
		}
		if o.State == "present" && (o.Source == "build" || o.Source == "pull") {
			return fmt.Errorf("name: Image name must not be an image ID for source=%s; got: %s", o.Source, o.Name)
		}
		return nil
	}
	named, err := reference.ParseNormalizedNamed(o.Name)
	if err != nil {
		return fmt.Errorf("name: %q is not a valid image name: %v", o.Name, err)
	}
	if _, ok := named.(reference.Digested); ok {
		if o.State == "present" && o.Source == "build" {
			return fmt.Errorf("name: %q carries a digest; a build can only be tagged, give name:tag", o.Name)
		}
		r.name, r.ref = o.Name, o.Name
		return nil
	}
	r.name, r.tag = o.Name, o.Tag
	if tagged, ok := named.(reference.Tagged); ok {
		r.name = strings.TrimSuffix(o.Name, ":"+tagged.Tag())
		r.tag = tagged.Tag()
	}
	if r.tag == "" {
		r.tag = "latest"
	}
	if _, err := reference.WithTag(named, r.tag); err != nil {
		return fmt.Errorf("tag: %q is not a valid tag: %v", r.tag, err)
	}
	r.ref = r.name + ":" + r.tag
	if o.BuildTimeout <= 0 {
		return fmt.Errorf("build_timeout: must be a positive number of seconds, got %d", o.BuildTimeout)
	}
	if o.Retries < 0 {
		return fmt.Errorf("retries: must be 0 or more, got %d", o.Retries)
	}
	if o.LockTimeout < 0 {
		return fmt.Errorf("lock_timeout: must be 0 or more seconds, got %d", o.LockTimeout)
	}
	if o.RetryDelay < 0 {
		return fmt.Errorf("retry_delay: must be 0 or more seconds, got %v", o.RetryDelay)
	}
	if o.Build != nil {
		for i, p := range o.Build.Platform {
			if err := checkPlatform(fmt.Sprintf("build.platform[%d]", i), p); err != nil {
				return err
			}
		}
	}
	if r.daemonDriver() && o.BuildMethod == "legacy" {
		return fmt.Errorf("build_method=legacy builds with the engine's classic builder; it cannot use builder.driver=%s", o.Builder.Driver)
	}
	if o.State == "present" && o.Source == "build" {
		if _, err := r.cluster(); err != nil {
			return err
		}
	}
	if o.Pull != nil && o.Pull.Platform != "" {
		if err := checkPlatform("pull.platform", o.Pull.Platform); err != nil {
			return err
		}
	}
	if o.State == "present" && o.Source == "build" && r.pushedByBuildKit() {
		return r.checkPushedOptions()
	}
	return nil
}

// CheckOptions runs the option checks that need no engine (for tests and fuzzing).
func CheckOptions(o Options) error {
	r := &runner{o: o, res: module.Result{Data: map[string]any{}}}
	return r.checkOptions()
}

// retryPolicy is the user's retries / retry_delay for registry and engine operations.
func (r *runner) retryPolicy() retry.Policy {
	base := time.Duration(r.o.RetryDelay * float64(time.Second))
	return retry.Policy{Attempts: r.o.Retries + 1, Base: base, Max: 30 * time.Second}
}

// present is docker_image's state=present: get the image from its source if
// it is missing (or forced, or its build inputs changed), then archive, tag
// and push as asked.
func (r *runner) present(ctx context.Context) error {
	before, err := r.inspect(ctx, r.ref)
	if err != nil {
		return err
	}
	r.res.Data["image"] = orEmpty(before)
	switch r.o.Source {
	case "build":
		err = r.build(ctx, before)
	case "load":
		if before == nil || r.o.ForceSource {
			err = r.load(ctx, before)
		}
	case "pull":
		if before == nil || r.o.ForceSource {
			err = r.pull(ctx, before)
		}
	case "local":
		if before == nil {
			err = fmt.Errorf("Cannot find the image %s locally.", r.ref)
		}
	}
	if err != nil || (r.o.Source == "build" && r.pushedByBuildKit()) {
		return err // a builder push is complete: the engine holds no image to archive, tag or push
	}
	if r.o.ArchivePath != "" {
		if err := r.archive(ctx); err != nil {
			return err
		}
	}
	if r.o.Repository != "" {
		return r.tagInto(ctx, r.o.Repository, r.o.Push)
	}
	if r.o.Push {
		return r.push(ctx, r.name, r.tag)
	}
	return nil
}

// absent is docker_image's state=absent.
func (r *runner) absent(ctx context.Context) error {
	doc, err := r.inspect(ctx, r.ref)
	if err != nil || doc == nil {
		r.res.Diff = idDiff(r.ref, nil, nil)
		return err
	}
	r.actions = append(r.actions, "Removed image "+r.ref)
	doc["state"] = "Deleted"
	r.res.Changed = true
	r.res.Diff = idDiff(r.ref, imageID(doc), nil)
	r.res.Data["image"] = doc
	if r.m.CheckMode {
		return nil
	}
	cctx, cancel := r.e.Call(ctx)
	defer cancel()
	if _, err := r.e.API.ImageRemove(cctx, r.ref, image.RemoveOptions{Force: r.o.ForceAbsent, PruneChildren: true}); err != nil && !client.IsErrNotFound(err) {
		return fmt.Errorf("Error removing image %s - %w", r.ref, err)
	}
	return nil
}

// inspect returns the engine's inspect document for ref, or nil if there is no such image.
func (r *runner) inspect(ctx context.Context, ref string) (map[string]any, error) {
	cctx, cancel := r.e.Call(ctx)
	defer cancel()
	var raw bytes.Buffer
	if _, err := r.e.API.ImageInspect(cctx, ref, client.ImageInspectWithRawResponse(&raw)); err != nil {
		if client.IsErrNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return doc, nil
}

func orEmpty(doc map[string]any) map[string]any {
	if doc == nil {
		return map[string]any{}
	}
	return doc
}

func imageID(doc map[string]any) string {
	id, _ := doc["Id"].(string)
	return id
}

func imageLabel(doc map[string]any, key string) string {
	cfg, _ := doc["Config"].(map[string]any)
	labels, _ := cfg["Labels"].(map[string]any)
	v, _ := labels[key].(string)
	return v
}

func idDiff(ref string, before, after any) *module.Diff {
	return &module.Diff{
		Before:       map[string]any{"image": ref, "id": before},
		After:        map[string]any{"image": ref, "id": after},
		BeforeHeader: ref + " (before)",
		AfterHeader:  ref + " (after)",
	}
}

// sameID resets changed when an operation left the image ID as it was, as docker_image does.
func (r *runner) settle(before, after map[string]any) {
	r.res.Data["image"] = orEmpty(after)
	var b, a any
	if before != nil {
		b = imageID(before)
	}
	if after != nil {
		a = imageID(after)
	}
	r.res.Diff = idDiff(r.ref, b, a)
	if before != nil && after != nil && b == a {
		r.res.Changed = false
	}
}

// validTag is a docker tag: what docker_image's is_valid_tag accepts.
var validTag = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}$`)
