package buildkitimage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/go-units"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildctx"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/retry"
)

// InputsLabel is the image label that records the digest of everything that
// fed the build. A later run compares it to decide whether to build at all, so
// the decision survives across runs and hosts.
const InputsLabel = "io.jenkins-ha.buildkit.inputs"

// maxStdout caps the build log returned in stdout (the tail is kept).
const maxStdout = 256 << 10

var imageIDPattern = regexp.MustCompile(`^(sha256:)?[0-9a-fA-F]{64}$`)

type runner struct {
	m       *module.Module
	o       Options
	e       *engine.Engine
	ref     string // name:tag, or the image ID
	actions []string
}

// Run is the module's entry point.
func Run(ctx context.Context, m *module.Module) (module.Result, error) {
	var o Options
	if err := m.Decode(&o); err != nil {
		return module.Result{}, err
	}
	ref, err := imageRef(o)
	if err != nil {
		return module.Result{}, err
	}
	e, err := engine.Connect(ctx, o.Options)
	if err != nil {
		return module.Result{}, err
	}
	defer e.Close()
	r := &runner{m: m, o: o, e: e, ref: ref}
	var res module.Result
	switch {
	case o.State == "absent":
		res, err = r.absent(ctx)
	case o.Source == "local":
		res, err = r.local(ctx)
	default:
		res, err = r.build(ctx)
	}
	if res.Data == nil {
		res.Data = map[string]any{}
	}
	if _, ok := res.Data["image"]; !ok {
		res.Data["image"] = map[string]any{}
	}
	res.Data["actions"] = append([]string{}, r.actions...)
	return res, err
}

// imageRef checks name and tag the way docker_image does: a tag in name wins
// over tag, and an image ID is only accepted where no build is asked for.
func imageRef(o Options) (string, error) {
	if imageIDPattern.MatchString(o.Name) {
		if o.State == "present" && o.Source == "build" {
			return "", errors.New("name: image name must not be an image ID for source=build; give a repository name")
		}
		return o.Name, nil
	}
	named, err := reference.ParseNormalizedNamed(o.Name)
	if err != nil {
		return "", fmt.Errorf("name: %q is not a valid image name: %v", o.Name, err)
	}
	if _, ok := named.(reference.Digested); ok {
		if o.State == "present" && o.Source == "build" {
			return "", fmt.Errorf("name: %q carries a digest; a build can only be tagged, give name:tag", o.Name)
		}
		return o.Name, nil
	}
	if _, ok := named.(reference.Tagged); ok {
		return o.Name, nil
	}
	tag := o.Tag
	if tag == "" {
		tag = "latest"
	}
	if _, err := reference.WithTag(named, tag); err != nil {
		return "", fmt.Errorf("tag: %q is not a valid tag: %v", tag, err)
	}
	return o.Name + ":" + tag, nil
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

func (r *runner) absent(ctx context.Context) (module.Result, error) {
	doc, err := r.inspect(ctx, r.ref)
	if err != nil || doc == nil {
		return module.Result{Diff: idDiff(r.ref, nil, nil)}, err
	}
	r.actions = append(r.actions, "Removed image "+r.ref)
	doc["state"] = "Deleted"
	res := module.Result{Changed: true, Diff: idDiff(r.ref, imageID(doc), nil), Data: map[string]any{"image": doc}}
	if r.m.CheckMode {
		return res, nil
	}
	cctx, cancel := r.e.Call(ctx)
	defer cancel()
	if _, err := r.e.API.ImageRemove(cctx, r.ref, image.RemoveOptions{Force: r.o.ForceAbsent, PruneChildren: true}); err != nil {
		return res, fmt.Errorf("remove image %s: %w", r.ref, err)
	}
	return res, nil
}

func (r *runner) local(ctx context.Context) (module.Result, error) {
	doc, err := r.inspect(ctx, r.ref)
	if err != nil {
		return module.Result{}, err
	}
	if doc == nil {
		return module.Result{}, fmt.Errorf("cannot find the image %s locally (source=local)", r.ref)
	}
	return module.Result{Data: map[string]any{"image": doc}}, nil
}

func (r *runner) build(ctx context.Context) (module.Result, error) {
	b := r.o.Build
	bctx, err := buildctx.Open(b.Path, b.Dockerfile)
	if err != nil {
		opt := "build.path"
		if strings.Contains(err.Error(), "Dockerfile") {
			opt = "build.dockerfile"
		}
		return module.Result{}, fmt.Errorf("%s: %w", opt, err)
	}
	args := stringMap(b.Args)
	df, err := buildctx.ParseDockerfile(bctx.Dockerfile, args)
	if err != nil {
		return module.Result{}, fmt.Errorf("build.dockerfile %s: %w", bctx.DockerfilePath, err)
	}
	req, err := r.request(bctx, args)
	if err != nil {
		return module.Result{}, err
	}

	before, err := r.inspect(ctx, r.ref)
	if err != nil {
		return module.Result{}, err
	}
	inputs, sum, err := r.inputsDigest(ctx, bctx, df, req)
	if err != nil {
		return module.Result{}, err
	}
	req.Labels[InputsLabel] = inputs
	data := map[string]any{
		"inputs_digest": inputs,
		"context":       map[string]any{"files": sum.Files, "bytes": sum.Bytes, "hashed": sum.Hashed, "ignore_file": bctx.IgnoreFile},
	}
	beforeID := any(nil)
	upToDate := false
	if before != nil {
		beforeID = imageID(before)
		upToDate = imageLabel(before, InputsLabel) == inputs
	}
	switch {
	case upToDate && !r.o.ForceSource:
		data["image"] = before
		data["build_reason"] = "none: the image's inputs are unchanged"
		return module.Result{Diff: idDiff(r.ref, beforeID, beforeID), Data: data}, nil
	case before == nil:
		data["build_reason"] = "image missing"
	case r.o.ForceSource:
		data["build_reason"] = "force_source"
	default:
		data["build_reason"] = "inputs changed"
	}
	r.actions = append(r.actions, fmt.Sprintf("Built image %s from %s", r.ref, b.Path))

	if r.m.CheckMode {
		// A forced rebuild of unchanged inputs comes out of the cache as the same image.
		changed := !(upToDate && !b.NoCache)
		after := any("(new image)")
		if !changed {
			after = beforeID
		}
		if before != nil {
			data["image"] = before
		}
		return module.Result{Changed: changed, Diff: idDiff(r.ref, beforeID, after), Data: data}, nil
	}

	bld, err := r.pickBuilder(ctx, df)
	if err != nil {
		return module.Result{Data: data}, err
	}
	var log tailBuffer
	req.Progress = &log
	timeout := time.Duration(r.o.BuildTimeout) * time.Second
	bctxTimeout, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var res *builder.Result
	retries, err := retry.Do(bctxTimeout, retry.Default, transientBuildError, func(ctx context.Context) error {
		var err error
		res, err = bld.Build(ctx, req)
		return err
	})
	data["builder"] = bld.Name()
	data["build_duration"] = time.Since(start).Seconds()
	data["build_retries"] = retries
	data["stdout"] = log.String()
	if err != nil {
		if errors.Is(bctxTimeout.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return module.Result{Data: data}, fmt.Errorf("build of %s timed out after %ds (build_timeout); the build was cancelled and %s was left as it was", r.ref, r.o.BuildTimeout, r.ref)
		}
		var step *builder.StepError
		if errors.As(err, &step) {
			return module.Result{Data: data}, fmt.Errorf("build of %s failed: %s", r.ref, step.Msg)
		}
		return module.Result{Data: data}, fmt.Errorf("build of %s: %w", r.ref, err)
	}
	for _, w := range res.Warnings {
		r.m.Warn("Dockerfile: " + w)
	}
	data["total_steps"] = res.Steps
	data["cached_steps"] = res.CachedSteps
	after, err := r.inspect(ctx, r.ref)
	if err != nil {
		return module.Result{Data: data}, err
	}
	if after == nil {
		return module.Result{Data: data}, fmt.Errorf("build of %s reported image %s, but the engine has no image under that name", r.ref, res.ImageID)
	}
	data["image"] = after
	afterID := imageID(after)
	return module.Result{Changed: afterID != beforeID, Diff: idDiff(r.ref, beforeID, afterID), Data: data}, nil
}

func transientBuildError(err error) bool {
	var step *builder.StepError
	return !errors.As(err, &step) && engine.IsTransient(err)
}

// pickBuilder chooses BuildKit or the classic builder from build_method, the
// engine, and what the Dockerfile needs.
func (r *runner) pickBuilder(ctx context.Context, df *buildctx.Dockerfile) (builder.Builder, error) {
	needs := strings.Join(df.BuildKitOnly, "; ")
	if r.o.BuildMethod == "legacy" {
		if needs != "" {
			return nil, fmt.Errorf("build.dockerfile needs BuildKit, which build_method=legacy does not use: %s", needs)
		}
		return builder.NewLegacy(r.e.API), nil
	}
	bk := builder.NewEngineBuildKit(r.e.API)
	cctx, cancel := r.e.Call(ctx)
	defer cancel()
	err := bk.Available(cctx)
	if err == nil {
		return bk, nil
	}
	if r.o.BuildMethod == "buildkit" {
		return nil, fmt.Errorf("build_method=buildkit: the engine at %s serves no BuildKit: %v", r.e.Host, err)
	}
	if needs != "" {
		return nil, fmt.Errorf("the engine at %s has no BuildKit (%v) and build.dockerfile needs it: %s", r.e.Host, err, needs)
	}
	r.m.Warn(fmt.Sprintf("the engine at %s has no BuildKit (%v); built with the classic builder", r.e.Host, err))
	return builder.NewLegacy(r.e.API), nil
}

// request turns the build options into a builder request.
func (r *runner) request(bctx *buildctx.Context, args map[string]string) (builder.Request, error) {
	b := r.o.Build
	req := builder.Request{
		ContextDir:     bctx.Dir,
		DockerfilePath: bctx.DockerfilePath,
		Excludes:       bctx.Excludes,
		Tags:           []string{r.ref},
		Args:           args,
		Labels:         stringMap(b.Labels),
		Target:         b.Target,
		Platform:       b.Platform,
		NoCache:        b.NoCache,
		Pull:           b.Pull,
		Network:        b.Network,
		ExtraHosts:     stringMap(b.EtcHosts),
		CacheFrom:      b.CacheFrom,
		Remove:         b.Rm,
	}
	if req.Labels == nil {
		req.Labels = map[string]string{}
	}
	if b.ShmSize != "" {
		n, err := units.RAMInBytes(b.ShmSize)
		if err != nil {
			return req, fmt.Errorf("build.shm_size: %q is not a size: %v", b.ShmSize, err)
		}
		req.ShmSize = n
	}
	if l := b.ContainerLimits; l != nil {
		var err error
		if req.Limits.Memory, err = sizeOption("build.container_limits.memory", l.Memory, false); err != nil {
			return req, err
		}
		if req.Limits.MemorySwap, err = sizeOption("build.container_limits.memswap", l.Memswap, true); err != nil {
			return req, err
		}
		if l.CPUShares != nil {
			req.Limits.CPUShares = *l.CPUShares
		}
		req.Limits.CPUSetCPUs = l.CPUSetCPUs
	}
	if r.o.BuildTimeout <= 0 {
		return req, fmt.Errorf("build_timeout: must be a positive number of seconds, got %d", r.o.BuildTimeout)
	}
	return req, nil
}

// sizeOption reads a size given as bytes (int, community.docker 3.x) or with units ("4g").
func sizeOption(name string, v any, allowUnlimited bool) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case float64:
		if x != float64(int64(x)) {
			return 0, fmt.Errorf("%s: %v is not a whole number of bytes", name, x)
		}
		return int64(x), nil
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case string:
		if allowUnlimited && (x == "unlimited" || x == "-1") {
			return -1, nil
		}
		n, err := units.RAMInBytes(x)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a size: %v", name, x, err)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("%s: expected a size such as 512m or a number of bytes, got %T", name, v)
	}
}

// stringMap converts a dict option's values to strings, as docker_image does for build args.
func stringMap(m map[string]any) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case string:
			out[k] = x
		case nil:
			out[k] = ""
		case bool:
			if x {
				out[k] = "True"
			} else {
				out[k] = "False"
			}
		default:
			b, _ := json.Marshal(x)
			out[k] = string(b)
		}
	}
	return out
}

// cacheDir is where the context stat cache lives: context_cache_dir, else
// the user's cache directory.
func (r *runner) cacheDir() string {
	if r.o.CacheDir != "" {
		return r.o.CacheDir
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "jenkins_ha.buildkit", "context")
	}
	return ""
}

// tailBuffer keeps the last maxStdout bytes written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*maxStdout {
		t.b = append([]byte(nil), t.b[len(t.b)-maxStdout:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	if len(t.b) > maxStdout {
		return "[...]\n" + string(t.b[len(t.b)-maxStdout:])
	}
	return string(t.b)
}
