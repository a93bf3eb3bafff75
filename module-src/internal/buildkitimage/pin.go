package buildkitimage

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildctx"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/retry"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/transient"
)

// Pinning: each source a build reads is named by its content before the
// build, from where the builder will read it, so that a moved tag or a
// changed download is a changed input.
//
// An image is pinned in the engine's store when the builder prefers it
// there (the engine's BuildKit and the classic builder, without build.pull:
// the ID of the engine's image), else in the registry (build.pull, and
// builders that are BuildKit daemons of their own, which never see the
// engine's images: the digest the registry gives the tag), with the
// credentials and retries of a push.

// pinnedImage is one image reference, pinned or not.
type pinnedImage struct {
	id         string // "image <ID>" or "registry <digest>"
	inRegistry bool
	why        string // why it could not be pinned ("" when it was)
	config     []byte // the engine's image config, for the Dockerfile converter (nil: not in the engine)
}

// imagePinner pins image references, each once per run.
type imagePinner struct {
	r        *runner
	registry bool // pin in the registry, not the engine's store
	mu       sync.Mutex
	memo     map[string]pinnedImage
}

func (r *runner) imagePinner() *imagePinner {
	return &imagePinner{r: r, registry: r.o.Build.Pull || r.daemonDriver(), memo: map[string]pinnedImage{}}
}

// daemonDriver says whether builds go to a BuildKit daemon of its own
// (builder.driver docker-container or remote), which reads images from registries only.
func (r *runner) daemonDriver() bool {
	d := r.o.Builder
	return d != nil && (d.Driver == "docker-container" || d.Driver == "remote")
}

// config is the image config the Dockerfile converter is given for ref:
// the engine's, when ref is pinned there (its ONBUILD triggers and platform
// count), else a minimal one.
func (p *imagePinner) config(ctx context.Context, ref string) []byte {
	return p.image(ctx, ref).config
}

func (p *imagePinner) image(ctx context.Context, ref string) pinnedImage {
	p.mu.Lock()
	if v, ok := p.memo[ref]; ok {
		p.mu.Unlock()
		return v
	}
	p.mu.Unlock()
	v := p.pin(ctx, ref)
	p.mu.Lock()
	p.memo[ref] = v
	p.mu.Unlock()
	return v
}

func (p *imagePinner) pin(ctx context.Context, ref string) pinnedImage {
	if !p.registry {
		doc, err := p.r.inspect(ctx, ref)
		if err != nil {
			return pinnedImage{why: err.Error()}
		}
		if doc != nil {
			return pinnedImage{id: "image " + imageID(doc), config: configOf(doc)}
		}
	}
	digest, err := p.r.registryDigest(ctx, ref)
	if err != nil {
		return pinnedImage{why: err.Error()}
	}
	return pinnedImage{id: "registry " + digest, inRegistry: true}
}

// registryDigest is the digest the registry gives ref, asked through the
// engine (its registry settings, mirrors and certificates) with the
// credentials and retries of a push.
func (r *runner) registryDigest(ctx context.Context, ref string) (string, error) {
	host, _, err := registryHost(ref)
	if err != nil {
		return "", err
	}
	auth, err := r.registryAuth(host)
	if err != nil {
		return "", err
	}
	var digest string
	_, err = retry.Do(ctx, r.retryPolicy(), transient.Is, func(ctx context.Context) error {
		cctx, cancel := r.e.Call(ctx)
		defer cancel()
		di, err := r.e.API.DistributionInspect(cctx, ref, auth)
		if err != nil {
			return err
		}
		digest = string(di.Descriptor.Digest)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("not in the engine, and the registry did not give its digest: %w", err)
	}
	return digest, nil
}

// configOf is an OCI image config from an engine inspect document: the parts
// the Dockerfile converter reads (platform, layers, ONBUILD, env).
func configOf(doc map[string]any) []byte {
	cfg, _ := doc["Config"].(map[string]any)
	rootfs, _ := doc["RootFS"].(map[string]any)
	layers, _ := rootfs["Layers"].([]any)
	if layers == nil {
		layers = []any{}
	}
	c := map[string]any{}
	for _, k := range []string{"Env", "OnBuild", "WorkingDir", "User", "Shell"} {
		if v, ok := cfg[k]; ok && v != nil {
			c[k] = v
		}
	}
	b, _ := json.Marshal(map[string]any{
		"os":           doc["Os"],
		"architecture": doc["Architecture"],
		"variant":      doc["Variant"],
		"config":       c,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": layers},
	})
	return b
}

// normalizedRef is ref as BuildKit names it (docker.io/library/x:latest).
func normalizedRef(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	return reference.TagNameOnly(named).String(), nil
}

// pinURL pins an ADD <url> source: by the checksum ADD --checksum gives,
// else by the server's ETag or Last-Modified (and length) from a HEAD
// request; why says why it could not be.
func (r *runner) pinURL(ctx context.Context, u buildctx.URLSource) (id, why string) {
	if u.Checksum != "" {
		return "checksum " + u.Checksum, ""
	}
	c := retryablehttp.NewClient()
	c.Logger = nil
	c.RetryMax = r.o.Retries
	c.RetryWaitMin = time.Duration(r.o.RetryDelay * float64(time.Second))
	if c.RetryWaitMin <= 0 {
		c.RetryWaitMin = 100 * time.Millisecond
	}
	c.RetryWaitMax = 10 * time.Second
	c.HTTPClient.Timeout = 20 * time.Second
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodHead, u.URL, nil)
	if err != nil {
		return "", err.Error()
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err.Error()
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Sprintf("HEAD answered %s", resp.Status)
	}
	if etag := resp.Header.Get("ETag"); etag != "" {
		return "etag " + etag, ""
	}
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		return fmt.Sprintf("last-modified %s length %d", lm, resp.ContentLength), ""
	}
	return "", "the server gives no ETag or Last-Modified"
}
