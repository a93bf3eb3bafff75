package buildkitimage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	dockerconfig "github.com/docker/cli/cli/config"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildctx"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/retry"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/transient"
)

// build is source=build: decide from the inputs digest whether a build is
// needed, then build, tag the extra output names, and write file outputs.
func (r *runner) build(ctx context.Context, before map[string]any) error {
	b := r.o.Build
	bctx, err := buildctx.Open(b.Path, b.Dockerfile)
	if err != nil {
		if strings.Contains(err.Error(), "Dockerfile") {
			return fmt.Errorf("build.dockerfile: %w", err)
		}
		// docker_image's words, with the option named.
		return fmt.Errorf("build.path: Requested build path %s could not be found or you do not have access.", b.Path)
	}
	args := b.Args.Strings()
	if b.UseConfigProxy != nil && *b.UseConfigProxy {
		args = r.withConfigProxy(args)
	}
	df, err := buildctx.ParseDockerfile(bctx.Dockerfile)
	if err != nil {
		return fmt.Errorf("build.dockerfile %s: %w", bctx.DockerfilePath, err)
	}
	req, err := r.request(bctx, args)
	if err != nil {
		return err
	}
	inputs, sum, in, err := r.inputsDigest(ctx, bctx, req)
	if err != nil {
		return err
	}
	req.Labels[InputsLabel] = inputs
	if b.CreatedLabel {
		// Set when a build runs, and outside the inputs digest: it records
		// when the image was made without making every run a rebuild.
		req.Labels[createdLabel] = time.Now().UTC().Format(time.RFC3339)
	}
	data := r.res.Data
	data["inputs_digest"] = inputs
	data["context"] = map[string]any{"files": sum.Files, "bytes": sum.Bytes, "hashed": sum.Hashed, "ignore_file": bctx.IgnoreFile}
	r.bctx, r.sum = bctx, sum

	if r.pushedByBuildKit() {
		return r.buildPushed(ctx, df, req, inputs, in)
	}
	beforeID := any(nil)
	labelled, upToDate := false, false
	if before != nil {
		beforeID = imageID(before)
		labelled = imageLabel(before, InputsLabel) == inputs
		upToDate = labelled && r.builtFrom(imageID(before)) == inputs && len(in.unresolved) == 0
	}
	switch {
	case upToDate && !r.o.ForceSource:
		data["build_reason"] = "none: the image's inputs are unchanged"
		r.res.Diff = idDiff(r.ref, beforeID, beforeID)
		return r.outputs(ctx, req, false)
	case before == nil:
		data["build_reason"] = "image missing"
	case r.o.ForceSource:
		data["build_reason"] = "force_source"
	case labelled && len(in.unresolved) > 0:
		data["build_reason"] = in.describeUnresolved()
	case labelled:
		data["build_reason"] = "the image under the name is not one this host built from these inputs (it carries their label, but its ID was not recorded for them: made from the built image, or built elsewhere)"
	default:
		data["build_reason"] = "inputs changed"
	}
	r.actions = append(r.actions, fmt.Sprintf("Built image %s from %s", r.ref, b.Path))

	if r.m.CheckMode {
		// A forced rebuild of unchanged inputs comes out of the cache as the same image.
		r.res.Changed = !(upToDate && !b.NoCache)
		after := any("(new image)")
		if !r.res.Changed {
			after = beforeID
		}
		r.res.Diff = idDiff(r.ref, beforeID, after)
		return r.outputs(ctx, req, true)
	}

	bld, err := r.pickBuilder(ctx, df, req)
	if err != nil {
		return err
	}
	if bld.Driver() == builder.DriverLegacy {
		// The classic builder pulls an image the engine lacks into the engine
		// itself; the next run would then pin it in the engine, other inputs,
		// and build again. Pulled here first, the recorded inputs name the
		// images the build used.
		pulled, err := r.pullForClassic(ctx, in, req.Platforms)
		if err != nil {
			return err
		}
		if pulled {
			if inputs, err = inputsOf(bctx, sum, in, req, b.CreatedLabel); err != nil {
				return err
			}
			req.Labels[InputsLabel] = inputs
			data["inputs_digest"] = inputs
		}
	}
	res, err := r.runBuild(ctx, bld, req)
	if err != nil {
		return err
	}
	data["total_steps"] = res.Steps
	data["cached_steps"] = res.CachedSteps
	after, err := r.inspect(ctx, r.ref)
	if err != nil {
		return err
	}
	if after == nil {
		return fmt.Errorf("build of %s reported image %s, but the engine has no image under that name", r.ref, res.ImageID)
	}
	if err := r.recordBuilt(imageID(after), inputs); err != nil {
		r.m.Warn(fmt.Sprintf("could not record the build of %s on this host (the next run builds again): %v", r.ref, err))
	}
	r.res.Changed = true
	r.settle(before, after)
	return r.outputs(ctx, req, true)
}

// pullForClassic pulls the images the inputs pinned in the registry into the
// engine, as the classic builder would (with source=pull's credentials and
// retries), pins them in the engine, and says whether it pulled any.
func (r *runner) pullForClassic(ctx context.Context, in *inputs, platforms []string) (bool, error) {
	platform := ""
	if len(platforms) == 1 {
		platform = platforms[0]
	}
	var pulled []string
	for _, ref := range in.inRegistry {
		if _, err := r.pullImage(ctx, ref, platform); err != nil {
			return false, fmt.Errorf("pull image %s for the classic builder: %w", ref, err)
		}
		doc, err := r.inspect(ctx, ref)
		if err != nil {
			return false, err
		}
		if doc != nil {
			in.images[ref] = "image " + imageID(doc)
		}
		pulled = append(pulled, ref)
	}
	in.inRegistry = nil
	if len(pulled) > 0 {
		r.res.Data["base_images_pulled"] = pulled // beside actions, which keep docker_image's wording
	}
	return len(pulled) > 0, nil
}

// runBuild runs the build on bld within build_timeout, retrying what is
// transient, and records the builder, duration, retries and log.
func (r *runner) runBuild(ctx context.Context, bld builder.Builder, req builder.Request) (*builder.Result, error) {
	data := r.res.Data
	var log tailBuffer
	req.Progress = &log
	bctxTimeout, cancel := context.WithTimeout(ctx, time.Duration(r.o.BuildTimeout)*time.Second)
	defer cancel()
	var sync *buildctx.Sync
	if bld.Driver() != builder.DriverLegacy && r.bctx != nil {
		// The classic builder is sent the whole context each time; BuildKit
		// keeps a copy per shared key and updates it by stat metadata.
		sync = r.bctx.SessionKey(r.stateDir("sync"), r.e.Host+"\x00"+bld.Name(), r.sum)
		req.SharedKey = sync.Key
		if c, ok := data["context"].(map[string]any); ok {
			c["fresh_copy"] = sync.Fresh
		}
	}
	start := time.Now()
	var res *builder.Result
	retries, err := retry.Do(bctxTimeout, r.retryPolicy(), transientBuildError, func(ctx context.Context) error {
		var err error
		res, err = bld.Build(ctx, req)
		return err
	})
	if serr := sync.Done(err == nil); serr != nil {
		r.m.Warn(fmt.Sprintf("could not record what the builder holds of the context (the next build sends all of it): %v", serr))
	}
	data["builder"] = bld.Name()
	data["builder_driver"] = bld.Driver()
	data["build_duration"] = time.Since(start).Seconds()
	data["build_retries"] = retries
	data["stdout"] = log.String()
	if err != nil {
		if errors.Is(bctxTimeout.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("build of %s timed out after %ds (build_timeout); the build was cancelled and %s was left as it was", r.ref, r.o.BuildTimeout, r.ref)
		}
		var step *builder.StepError
		tail := ""
		if errors.As(err, &step) {
			tail = lastLines(log.String(), 6)
		}
		hint := ""
		if strings.Contains(strings.ToLower(err.Error()+tail), "no space left on device") {
			hint = fmt.Sprintf("; the disk of %s is full: prune its build cache (buildkit_cache state=pruned) or give it more space. %s was left as it was", bld.Name(), r.ref)
		}
		if step != nil {
			if tail != "" {
				tail = "\nlast lines of the build log:\n" + tail
			}
			return nil, fmt.Errorf("build of %s failed: %s%s%s", r.ref, step.Msg, hint, tail)
		}
		return nil, fmt.Errorf("build of %s: %w%s", r.ref, err, hint)
	}
	for _, w := range res.Warnings {
		r.m.Warn("Dockerfile: " + w)
	}
	data["total_steps"] = res.Steps
	data["cached_steps"] = res.CachedSteps
	if res.Steps > 0 {
		data["cache_hit_ratio"] = float64(res.CachedSteps) / float64(res.Steps)
	}
	return res, nil
}

// withConfigProxy adds the docker CLI config's proxies (proxies.default or
// the engine host's entry) as build args the user did not set, as docker_image's
// build.use_config_proxy does.
func (r *runner) withConfigProxy(args map[string]string) map[string]string {
	out := map[string]string{}
	cfg := dockerconfig.LoadDefaultConfigFile(io.Discard)
	for k, v := range cfg.ParseProxyConfig(r.e.Host, nil) {
		if v != nil {
			out[k] = *v
		}
	}
	for k, v := range args {
		out[k] = v
	}
	return out
}

// createdLabel is the OCI creation-time label that build.created_label sets.
const createdLabel = "org.opencontainers.image.created"

func transientBuildError(err error) bool {
	var step *builder.StepError
	var passing *builder.TransientError
	return errors.As(err, &passing) || !errors.As(err, &step) && transient.Is(err)
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

// lastLines is the last n non-empty lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var out []string
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			out = append([]string{lines[i]}, out...)
		}
	}
	return strings.Join(out, "\n")
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
