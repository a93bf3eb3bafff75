package buildkitimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/platforms"
	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/docker/go-units"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildctx"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/retry"
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
	if _, classic := bld.(*builder.Legacy); classic {
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
	if _, classic := bld.(*builder.Legacy); !classic && r.bctx != nil {
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
	return errors.As(err, &passing) || !errors.As(err, &step) && engine.IsTransient(err)
}

// pickBuilder chooses BuildKit or the classic builder from build_method, the
// engine, and what the Dockerfile and options need.
func (r *runner) pickBuilder(ctx context.Context, df *buildctx.Dockerfile, req builder.Request) (builder.Builder, error) {
	needs := append([]string{}, df.BuildKitOnly...)
	if len(req.Secrets) > 0 {
		needs = append(needs, "build.secrets")
	}
	if len(req.SSH) > 0 {
		needs = append(needs, "build.ssh")
	}
	if len(req.CacheTo) > 0 {
		needs = append(needs, "build.cache_to")
	}
	need := strings.Join(needs, "; ")
	fellBack := false
	if d := r.o.Builder; d != nil && d.Driver != "" && d.Driver != "docker" {
		if r.o.BuildMethod == "legacy" {
			return nil, fmt.Errorf("build_method=legacy builds with the engine's classic builder; it cannot use builder.driver=%s", d.Driver)
		}
		if namedNetwork(r.o.Build.Network) {
			return nil, fmt.Errorf("build.network: %q is a named network, which a builder.driver=%s builder cannot use (it takes default, host or none; the builder container's own network is builder.network)", r.o.Build.Network, d.Driver)
		}
		bld, have, err := r.daemonBuilder(ctx)
		if err == nil && df.Runs {
			err = checkPlatforms(bld.Name(), have, req.Platforms)
		}
		if err == nil {
			return bld, nil
		}
		if !d.Fallback {
			return nil, err
		}
		fellBack = true
		r.actions = append(r.actions, fmt.Sprintf("Fell back from builder.driver=%s to the engine's BuildKit: %v", d.Driver, err))
		r.m.Warn(fmt.Sprintf("builder.driver=%s is not usable (%v); building on the engine's BuildKit (builder.fallback)", d.Driver, err))
	}
	if r.o.BuildMethod == "legacy" {
		if need != "" {
			return nil, fmt.Errorf("build needs BuildKit, which build_method=legacy does not use: %s", need)
		}
		return builder.NewLegacy(r.e.API), nil
	}
	if network := r.o.Build.Network; namedNetwork(network) {
		// docker_image builds on a user-defined network with the classic
		// builder; BuildKit has no such network mode, so auto does the same.
		if need != "" {
			return nil, fmt.Errorf("build.network: %q is a named network, which only the classic builder can use, but this build needs BuildKit: %s", network, need)
		}
		r.actions = append(r.actions, fmt.Sprintf("Built with the classic builder: build.network %q is a named network, which BuildKit cannot use", network))
		return builder.NewLegacy(r.e.API), nil
	}
	bk := builder.NewEngineBuildKit(r.e.API)
	cctx, cancel := r.e.Call(ctx)
	defer cancel()
	workers, err := bk.Workers(cctx)
	if err == nil {
		containerdStore := builder.ContainerdStore(workers)
		for i, c := range req.CacheTo {
			if c.Type != "inline" && !containerdStore {
				return nil, fmt.Errorf("build.cache_to[%d]: type=%s needs a BuildKit that exports caches; the engine's embedded BuildKit (classic image store, e.g. Docker 20.10) exports type=inline only", i, c.Type)
			}
		}
		if len(req.Platforms) > 1 && !containerdStore {
			return nil, fmt.Errorf("build.platform lists %d platforms, but the engine at %s keeps one platform per image (classic image store, e.g. Docker 20.10): use builder.driver docker-container or remote with push: true, or an engine on the containerd image store", len(req.Platforms), r.e.Host)
		}
		if len(req.Attest) > 0 && !containerdStore {
			r.m.Warn(fmt.Sprintf("build.provenance/build.sbom: the engine's embedded BuildKit (classic image store) cannot store attestations; none were produced for %s. Use builder.driver docker-container or remote with push: true", r.ref))
			r.res.Data["attestations"] = "not produced: the engine's classic image store cannot hold them"
		}
		if r.o.Build.ContainerLimits != nil {
			r.m.Warn("build.container_limits applies to the classic builder only; BuildKit ignores it (use a docker-container builder with memory/cpus limits)")
		}
		return bk, nil
	}
	if r.o.BuildMethod == "buildkit" {
		return nil, fmt.Errorf("build_method=buildkit: the engine at %s serves no BuildKit: %v", r.e.Host, err)
	}
	if need != "" {
		return nil, fmt.Errorf("the engine at %s has no BuildKit (%v) and the build needs it: %s", r.e.Host, err, need)
	}
	if fellBack {
		r.actions = append(r.actions, fmt.Sprintf("Fell back from the engine's BuildKit to the classic builder: %v", err))
	}
	r.m.Warn(fmt.Sprintf("the engine at %s has no BuildKit (%v); built with the classic builder", r.e.Host, err))
	return builder.NewLegacy(r.e.API), nil
}

// checkPlatforms refuses, before the build, target platforms a daemon that
// runs the platforms have cannot run RUN steps for, saying how to get an emulator.
func checkPlatforms(name string, have, want []string) error {
	for i, p := range want {
		spec, err := platforms.Parse(p)
		if err != nil {
			return fmt.Errorf("build.platform[%d]: %v", i, err)
		}
		ok := false
		for _, h := range have {
			if hs, err := platforms.Parse(h); err == nil && platforms.Only(hs).Match(spec) {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("build.platform[%d]: %s cannot run RUN steps for %s (it runs %s): register QEMU emulators with binfmt_misc (Debian: apt-get install qemu-user-static binfmt-support) and restart the builder (buildkit_cache state=reset)", i, name, platforms.Format(spec), strings.Join(have, ", "))
		}
	}
	return nil
}

// daemonBuilder is the builder of builder.driver docker-container or remote,
// made ready to build (a container builder is created or started), with the
// platforms its workers run: asking for them is also the proof that it answers.
func (r *runner) daemonBuilder(ctx context.Context) (*builder.DaemonBuildKit, []string, error) {
	var bld *builder.DaemonBuildKit
	if remote, ok := r.o.Builder.Remote(); ok {
		bld = builder.NewRemoteBuildKit(remote, r.e.API)
	} else if c, ok := r.o.Builder.Container(r.e.API, r.e.Host); ok {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		acts, err := c.Ensure(cctx)
		r.actions = append(r.actions, acts...)
		if err != nil {
			return nil, nil, err
		}
		r.res.Data["builder_container"] = c.ContainerName()
		bld = builder.NewContainerBuildKit(c, r.e.API)
	} else {
		return nil, nil, fmt.Errorf("builder.driver: %q is not a BuildKit daemon driver", r.o.Builder.Driver)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	have, err := bld.Platforms(cctx)
	if err != nil {
		return nil, nil, err
	}
	return bld, have, nil
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
		Labels:         b.Labels.Strings(),
		Target:         b.Target,
		Platforms:      b.Platform,
		NoCache:        b.NoCache,
		Pull:           b.Pull,
		Network:        b.Network,
		ExtraHosts:     b.EtcHosts.Strings(),
		Remove:         b.Rm,
	}
	if req.Labels == nil {
		req.Labels = map[string]string{}
	}
	if b.Provenance != "" || b.SBOM {
		req.Attest = map[string]string{}
		if b.Provenance != "" {
			req.Attest["provenance"] = "mode=" + b.Provenance
		}
		if b.SBOM {
			req.Attest["sbom"] = "true"
			if b.SBOMGenerator != "" {
				req.Attest["sbom"] = "generator=" + b.SBOMGenerator
			}
		}
	}
	if namedNetwork(b.Network) && r.o.BuildMethod == "buildkit" {
		return req, fmt.Errorf("build.network: %q is a named network, which only the classic builder can use (build_method: legacy or auto); BuildKit takes default, host or none", b.Network)
	}
	if b.ShmSize != "" {
		n, err := units.RAMInBytes(b.ShmSize)
		if err != nil {
			return req, fmt.Errorf("Failed to convert build.shm_size to bytes: %q is not a size: %v", b.ShmSize, err)
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
	var err error
	if req.Secrets, err = r.secrets(); err != nil {
		return req, err
	}
	for i, s := range b.SSH {
		paths := s.Paths
		if len(paths) == 0 {
			sock := os.Getenv("SSH_AUTH_SOCK")
			if sock == "" {
				return req, fmt.Errorf("build.ssh[%d]: no paths given and SSH_AUTH_SOCK is not set for the module", i)
			}
			paths = []string{sock}
		}
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				return req, fmt.Errorf("build.ssh[%d].paths: %v", i, err)
			}
		}
		req.SSH = append(req.SSH, builder.SSH{ID: s.ID, Paths: paths})
	}
	if req.CacheFrom, err = cacheImports(b.CacheFrom); err != nil {
		return req, err
	}
	for i, c := range b.CacheTo {
		e, err := cacheExport(i, c)
		if err != nil {
			return req, err
		}
		req.CacheTo = append(req.CacheTo, e)
	}
	return req, nil
}

// secrets reads build.secrets into memory: the values go to BuildKit over the
// session only, and are masked in everything the module prints.
func (r *runner) secrets() ([]builder.Secret, error) {
	var out []builder.Secret
	seen := map[string]bool{}
	for i, s := range r.o.Build.Secrets {
		if seen[s.ID] {
			return nil, fmt.Errorf("build.secrets[%d].id: %q is given twice", i, s.ID)
		}
		seen[s.ID] = true
		var v []byte
		switch s.Type {
		case "file":
			b, err := os.ReadFile(s.Src)
			if err != nil {
				return nil, fmt.Errorf("build.secrets[%d].src: %v", i, err)
			}
			v = b
		case "env":
			val, ok := os.LookupEnv(s.Env)
			if !ok {
				return nil, fmt.Errorf("build.secrets[%d].env: environment variable %s is not set for the module", i, s.Env)
			}
			v = []byte(val)
		case "value":
			v = []byte(s.Value)
		}
		if len(v) > 0 {
			r.m.AddNoLogValue(string(v))
			if t := strings.TrimSpace(string(v)); t != "" && t != string(v) {
				r.m.AddNoLogValue(t)
			}
		}
		out = append(out, builder.Secret{ID: s.ID, Value: v})
	}
	return out, nil
}

// cacheImports reads build.cache_from: docker_image's plain image names, or
// typed entries.
func cacheImports(entries []any) ([]builder.Cache, error) {
	var out []builder.Cache
	for i, e := range entries {
		switch v := e.(type) {
		case string:
			out = append(out, builder.Cache{Type: "registry", Attrs: map[string]string{"ref": v}})
		case map[string]any:
			b, _ := json.Marshal(v)
			var c CacheEntry
			if err := json.Unmarshal(b, &c); err != nil {
				return nil, fmt.Errorf("build.cache_from[%d]: %v", i, err)
			}
			for k := range v {
				switch k {
				case "type", "ref", "src", "mode", "dest", "attrs":
				default:
					return nil, fmt.Errorf("build.cache_from[%d]: unknown key %q (type, ref, src, attrs)", i, k)
				}
			}
			switch c.Type {
			case "registry", "inline":
				if c.Ref == "" {
					return nil, fmt.Errorf("build.cache_from[%d]: type=%s needs ref", i, c.Type)
				}
				out = append(out, builder.Cache{Type: "registry", Attrs: map[string]string{"ref": c.Ref}})
			case "local":
				if c.Src == "" {
					return nil, fmt.Errorf("build.cache_from[%d]: type=local needs src", i)
				}
				out = append(out, builder.Cache{Type: "local", Attrs: map[string]string{"src": c.Src}})
			case "gha", "s3", "azblob":
				attrs, err := passThroughAttrs(fmt.Sprintf("build.cache_from[%d]", i), c)
				if err != nil {
					return nil, err
				}
				out = append(out, builder.Cache{Type: c.Type, Attrs: attrs})
			default:
				return nil, fmt.Errorf("build.cache_from[%d].type: must be one of registry, local, inline, gha, s3, azblob, got %q", i, c.Type)
			}
		default:
			return nil, fmt.Errorf("build.cache_from[%d]: expected an image name or a dict with type, got %T", i, e)
		}
	}
	return out, nil
}

func cacheExport(i int, c CacheEntry) (builder.Cache, error) {
	attrs := map[string]string{}
	if c.Mode != "" {
		attrs["mode"] = c.Mode
	}
	switch c.Type {
	case "inline":
	case "registry", "local":
		if c.Type == "registry" && c.Ref == "" {
			return builder.Cache{}, fmt.Errorf("build.cache_to[%d]: type=registry needs ref", i)
		}
		if c.Type == "local" && c.Dest == "" {
			return builder.Cache{}, fmt.Errorf("build.cache_to[%d]: type=local needs dest", i)
		}
		// Further exporter settings (compression, compression-level,
		// oci-mediatypes, image-manifest, ignore-error) go in attrs.
		extra, err := stringAttrs(fmt.Sprintf("build.cache_to[%d]", i), c.Attrs)
		if err != nil {
			return builder.Cache{}, err
		}
		for k, v := range extra {
			if k == "ref" || k == "dest" || k == "mode" {
				return builder.Cache{}, fmt.Errorf("build.cache_to[%d].attrs.%s: give %s as the entry's own option, not in attrs", i, k, k)
			}
			attrs[k] = v
		}
		if c.Type == "registry" {
			attrs["ref"] = c.Ref
		} else {
			attrs["dest"] = c.Dest
		}
	case "gha", "s3", "azblob":
		pass, err := passThroughAttrs(fmt.Sprintf("build.cache_to[%d]", i), c)
		if err != nil {
			return builder.Cache{}, err
		}
		maps.Copy(attrs, pass)
	}
	return builder.Cache{Type: c.Type, Attrs: attrs}, nil
}

// passThroughAttrs are the attributes of a cache type this module does not
// model (gha, s3, azblob), handed to BuildKit as they are (strings).
func passThroughAttrs(opt string, c CacheEntry) (map[string]string, error) {
	if c.Ref != "" || c.Src != "" || c.Dest != "" {
		return nil, fmt.Errorf("%s: type=%s takes its settings in attrs (e.g. bucket, region, url), not ref/src/dest", opt, c.Type)
	}
	return stringAttrs(opt, c.Attrs)
}

// stringAttrs turns a cache entry's attrs into BuildKit's string attributes.
func stringAttrs(opt string, in map[string]any) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range in {
		switch x := v.(type) {
		case string:
			out[k] = x
		case bool, float64, int:
			out[k] = fmt.Sprint(x)
		default:
			return nil, fmt.Errorf("%s.attrs.%s: expected a string, got %T", opt, k, v)
		}
	}
	return out, nil
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
			return 0, fmt.Errorf("Failed to convert %s to bytes: %q is not a size: %v", name, x, err)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("%s: expected a size such as 512m or a number of bytes, got %T", name, v)
	}
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

// namedNetwork reports whether build.network names a user-defined network
// rather than one of the modes BuildKit has.
func namedNetwork(n string) bool {
	switch n {
	case "", "default", "bridge", "host", "none":
		return false
	}
	return true
}
