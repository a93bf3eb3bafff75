package buildkitimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildctx"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
)

// inputsVersion changes when the digest's recipe does, so old labels never match.
// 2: every image the build reads (not only FROM lines), pinned to a content
// digest from the engine or the registry, and ADD <url> sources.
const inputsVersion = 2

// inputs is everything that feeds a build besides the context and the request.
type inputs struct {
	// images are the images the build reads (stage bases, --from images,
	// mount sources, the '# syntax' frontend), each pinned: "image <ID>" from
	// the engine's store or "registry <digest>" from the registry.
	images map[string]string
	// inRegistry are the images pinned in the registry: the classic builder
	// pulls them into the engine itself, so they are pulled first for it.
	inRegistry []string
	// urls are ADD <url> sources, pinned by checksum, ETag or Last-Modified.
	urls map[string]string
	// unresolved says which sources cannot be pinned before a build (git
	// sources, a registry that does not answer, a URL without validators):
	// such a build runs, and BuildKit's cache makes an unchanged result the
	// same image.
	unresolved []string
}

// inputsDigest is the digest of everything that feeds the build: the context
// as .dockerignore filters it, the Dockerfile, build args, target, platform,
// labels, network settings and every source the build reads, pinned.
func (r *runner) inputsDigest(ctx context.Context, bctx *buildctx.Context, req builder.Request) (string, buildctx.Sum, *inputs, error) {
	sum, err := bctx.Fingerprint(ctx, r.cacheDir())
	if err != nil {
		return "", sum, nil, err
	}
	in, err := r.readInputs(ctx, bctx, req)
	if err != nil {
		return "", sum, nil, err
	}
	digest, err := inputsOf(bctx, sum, in, req, r.o.Build.CreatedLabel)
	return digest, sum, in, err
}

// inputsOf is the inputs digest of a context fingerprint, the pinned sources
// and the request. The labels the module sets for a build (the digest itself,
// and the created time with created_label) are not inputs.
func inputsOf(bctx *buildctx.Context, sum buildctx.Sum, in *inputs, req builder.Request, createdLabelSet bool) (string, error) {
	dfRel, err := filepath.Rel(bctx.Dir, bctx.DockerfilePath)
	if err != nil {
		dfRel = bctx.DockerfilePath
	}
	dfSum := sha256.Sum256(bctx.Dockerfile)
	labels := map[string]string{}
	for k, v := range req.Labels {
		if k != InputsLabel && !(createdLabelSet && k == createdLabel) {
			labels[k] = v
		}
	}
	unresolved := append([]string{}, in.unresolved...)
	sort.Strings(unresolved)
	doc := map[string]any{ // json.Marshal sorts map keys: the encoding is canonical
		"version":    inputsVersion,
		"context":    sum.Digest,
		"dockerfile": map[string]string{"path": filepath.ToSlash(dfRel), "sha256": hex.EncodeToString(dfSum[:])},
		"args":       req.Args,
		"target":     req.Target,
		"platform":   strings.Join(req.Platforms, ","),
		"labels":     labels,
		"network":    req.Network,
		"etc_hosts":  req.ExtraHosts,
		"images":     in.images,
		"urls":       in.urls,
		"unresolved": unresolved,
		// Secret values never enter the digest (nor the image): only which secrets and agents the build gets.
		"secrets": secretIDs(req.Secrets),
		"ssh":     sshIDs(req.SSH),
	}
	if len(req.Attest) > 0 {
		doc["attest"] = req.Attest
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	d := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(d[:]), nil
}

// readInputs reads the Dockerfile with BuildKit's own converter and pins
// every source it reads.
func (r *runner) readInputs(ctx context.Context, bctx *buildctx.Context, req builder.Request) (*inputs, error) {
	in := &inputs{images: map[string]string{}, urls: map[string]string{}}
	pin := r.imagePinner()
	src, err := buildctx.ReadSources(ctx, bctx.Dockerfile, buildctx.SourceOptions{
		Args: req.Args, Target: req.Target, Platforms: req.Platforms, BuildPlatform: r.buildPlatform(ctx),
	}, func(ctx context.Context, ref string, _ ocispecs.Platform) ([]byte, error) {
		return pin.config(ctx, ref), nil
	})
	if err != nil {
		// The builder reads the Dockerfile itself and says what is wrong with
		// it; here it only means the sources are not known before the build.
		in.unresolved = append(in.unresolved, fmt.Sprintf("the Dockerfile's sources (%v)", err))
		return in, nil
	}
	refs := []string{}
	for _, im := range src.Images {
		refs = append(refs, im.Ref)
	}
	if src.Syntax != "" {
		ref, err := normalizedRef(src.Syntax)
		if err != nil {
			in.unresolved = append(in.unresolved, fmt.Sprintf("the # syntax frontend %q (%v)", src.Syntax, err))
		} else {
			refs = append(refs, ref)
		}
	}
	for _, ref := range refs {
		p := pin.image(ctx, ref)
		if p.why != "" {
			in.unresolved = append(in.unresolved, fmt.Sprintf("image %s (%s)", ref, p.why))
			continue
		}
		in.images[ref] = p.id
		if p.inRegistry && !slices.Contains(in.inRegistry, ref) {
			in.inRegistry = append(in.inRegistry, ref)
		}
	}
	for _, u := range src.URLs {
		id, why := r.pinURL(ctx, u)
		if why != "" {
			in.unresolved = append(in.unresolved, fmt.Sprintf("ADD %s (%s)", u.URL, why))
			continue
		}
		in.urls[u.URL] = id
	}
	for _, g := range src.Git {
		in.unresolved = append(in.unresolved, fmt.Sprintf("git source %s (BuildKit resolves it during the build)", g))
	}
	sort.Strings(in.inRegistry)
	return in, nil
}

// buildPlatform is the platform the build runs on, for BUILDPLATFORM and the
// default target platform ("" for this host's). An engine on this host runs
// this host's platform, and so does a docker-container builder on it; an
// engine elsewhere says what it runs; a remote builder is asked (its first
// worker's platform is its default), which costs a connection on each run,
// so it is asked only when the target platform is not given.
func (r *runner) buildPlatform(ctx context.Context) string {
	if remote, ok := r.o.Builder.Remote(); ok {
		if len(r.o.Build.Platform) > 0 {
			return ""
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		have, err := builder.NewRemoteBuildKit(remote, r.e.API).Platforms(cctx)
		if err != nil || len(have) == 0 {
			return "" // the build reports an unreachable builder itself
		}
		return have[0]
	}
	if strings.HasPrefix(r.e.Host, "unix://") {
		return ""
	}
	cctx, cancel := r.e.Call(ctx)
	defer cancel()
	v, err := r.e.API.ServerVersion(cctx)
	if err != nil || v.Os == "" || v.Arch == "" {
		return ""
	}
	return v.Os + "/" + v.Arch
}

// describeUnresolved is the build reason for sources that cannot be pinned.
func (in *inputs) describeUnresolved() string {
	u := slices.Sorted(slices.Values(in.unresolved))
	return "sources that cannot be pinned before a build, so it runs and the result is compared: " + strings.Join(u, "; ")
}

func secretIDs(s []builder.Secret) []string {
	ids := []string{}
	for _, x := range s {
		ids = append(ids, x.ID)
	}
	sort.Strings(ids)
	return ids
}

func sshIDs(s []builder.SSH) []string {
	ids := []string{}
	for _, x := range s {
		ids = append(ids, x.ID)
	}
	sort.Strings(ids)
	return ids
}
