package buildctx

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Sources is everything a build of a Dockerfile reads besides its context,
// as BuildKit's own Dockerfile frontend sees it: the Dockerfile is converted
// in-process with BuildKit's dockerfile2llb (its parser, instruction model and
// ARG expansion: automatic platform ARGs, nested defaults, build-arg
// overrides, stages unreachable from the target left out).
type Sources struct {
	// Images are the images the build reads, each with the platform it is
	// read for: stage bases, COPY --from and RUN --mount from= images.
	Images []ImageRef
	// Syntax is the frontend image of a '# syntax=' directive, "" if none.
	Syntax string
	// URLs are ADD <http(s) url> sources, with the checksum ADD --checksum pins ("" if none).
	URLs []URLSource
	// Git are git sources (ADD <git url>): identifiers BuildKit resolves itself.
	Git []string
}

// ImageRef is an image reference after ARG expansion, normalized the way
// BuildKit normalizes it (docker.io/library/busybox:latest).
type ImageRef struct {
	Ref      string
	Platform string
}

// URLSource is an ADD <url>.
type URLSource struct {
	URL      string
	Checksum string
}

// SourceOptions are the build's settings that decide what it reads.
type SourceOptions struct {
	Args   map[string]string
	Target string
	// Platforms are the target platforms ("" or none: the build platform).
	Platforms []string
	// BuildPlatform is the builder's own platform, "" for this host's.
	BuildPlatform string
}

// ResolveImage is asked for each image the build reads, with the platform it
// is read for. It returns the image's config JSON (nil for a minimal one).
type ResolveImage func(ctx context.Context, ref string, platform ocispecs.Platform) ([]byte, error)

// ReadSources lists what a build of content reads besides its context,
// calling resolve for each image. Each target platform is converted on its
// own, since the images read (FROM x:${TARGETARCH}) can differ by platform.
func ReadSources(ctx context.Context, content []byte, o SourceOptions, resolve ResolveImage) (*Sources, error) {
	src := &Sources{}
	if syntax, _, _, ok := parser.DetectSyntax(content); ok {
		src.Syntax = syntax
	}
	buildPlatform := platforms.DefaultSpec()
	if o.BuildPlatform != "" {
		p, err := platforms.Parse(o.BuildPlatform)
		if err != nil {
			return nil, fmt.Errorf("build platform %q: %w", o.BuildPlatform, err)
		}
		buildPlatform = platforms.Normalize(p)
	}
	targets := []*ocispecs.Platform{nil}
	if len(o.Platforms) > 0 {
		targets = nil
		for _, s := range o.Platforms {
			p, err := platforms.Parse(s)
			if err != nil {
				return nil, fmt.Errorf("platform %q: %w", s, err)
			}
			p = platforms.Normalize(p)
			targets = append(targets, &p)
		}
	}
	r := &recorder{resolve: resolve, seen: map[ImageRef]bool{}}
	for _, tp := range targets {
		args := map[string]string{}
		for k, v := range o.Args {
			args[k] = v
		}
		res, err := dockerfile2llb.Dockerfile2LLB(ctx, content, dockerfile2llb.ConvertOpt{
			Config: dockerui.Config{
				BuildArgs:              args,
				Target:                 o.Target,
				BuildPlatforms:         []ocispecs.Platform{buildPlatform},
				MultiPlatformRequested: len(targets) > 1,
			},
			TargetPlatform: tp,
			MetaResolver:   r,
		})
		if err != nil {
			return nil, err
		}
		def, err := res.State.Marshal(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the build graph: %w", err)
		}
		for _, dt := range def.Def {
			var op pb.Op
			if err := op.UnmarshalVT(dt); err != nil {
				return nil, fmt.Errorf("read the build graph: %w", err)
			}
			s := op.GetSource()
			if s == nil {
				continue
			}
			scheme, _, _ := strings.Cut(s.Identifier, "://")
			switch scheme {
			case "http", "https":
				u := URLSource{URL: s.Identifier, Checksum: s.Attrs[pb.AttrHTTPChecksum]}
				if !slices.Contains(src.URLs, u) {
					src.URLs = append(src.URLs, u)
				}
			case "git":
				if !slices.Contains(src.Git, s.Identifier) {
					src.Git = append(src.Git, s.Identifier)
				}
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	src.Images = r.refs
	return src, nil
}

// recorder is the converter's image resolver: it records each image asked
// for and hands back the config the caller's resolver gives.
type recorder struct {
	resolve ResolveImage
	mu      sync.Mutex
	seen    map[ImageRef]bool
	refs    []ImageRef
	err     error
}

func (r *recorder) ResolveImageConfig(ctx context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	p := platforms.DefaultSpec()
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		p = *opt.ImageOpt.Platform
	}
	p = platforms.Normalize(p)
	cfg, err := r.resolve(ctx, ref, p)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return "", "", nil, err
	}
	key := ImageRef{Ref: ref, Platform: platforms.Format(p)}
	if !r.seen[key] {
		r.seen[key] = true
		r.refs = append(r.refs, key)
	}
	if cfg == nil {
		cfg = minimalConfig(p)
	}
	return ref, "", cfg, nil
}

// minimalConfig is an image config with one layer (so that the converter
// does not take the image for scratch) on platform p.
func minimalConfig(p ocispecs.Platform) []byte {
	b, _ := json.Marshal(ocispecs.Image{
		Platform: p,
		RootFS:   ocispecs.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString("jenkins_ha.buildkit")}},
	})
	return b
}
