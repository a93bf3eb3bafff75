package signing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Registry is how the package reaches registries.
type Registry struct {
	// Username and Password, when set, are used for every registry;
	// otherwise the docker config and its credential helpers are.
	Username, Password string
	// Insecure allows plain HTTP (loopback registries always may).
	Insecure bool
	// Transport is the HTTP transport (nil: http.DefaultTransport).
	Transport http.RoundTripper
}

func (r Registry) nameOptions() []name.Option {
	if r.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

func (r Registry) auth(res authn.Resource) (authn.Authenticator, error) {
	if r.Username != "" {
		return &authn.Basic{Username: r.Username, Password: r.Password}, nil
	}
	return authn.DefaultKeychain.Resolve(res)
}

func (r Registry) options(ctx context.Context, res authn.Resource) ([]remote.Option, error) {
	a, err := r.auth(res)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", res.RegistryStr(), err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(a), remote.WithUserAgent("jenkins_ha.buildkit")}
	if r.Transport != nil {
		opts = append(opts, remote.WithTransport(r.Transport))
	}
	return opts, nil
}

// Target is an image in a registry, pinned to the digest of its manifest.
type Target struct {
	// Ref is the reference as given (a tag or a digest).
	Ref name.Reference
	// Digest is Ref's repository at the resolved digest.
	Digest name.Digest
	// Descriptor is the manifest's descriptor (media type, size, digest).
	Descriptor v1.Descriptor
}

// Hex is the digest's hex part.
func (t Target) Hex() string { return strings.TrimPrefix(t.Digest.DigestStr(), "sha256:") }

// Resolve parses image and asks its registry for the digest it points at.
func (r Registry) Resolve(ctx context.Context, image string) (Target, error) {
	ref, err := name.ParseReference(image, r.nameOptions()...)
	if err != nil {
		return Target{}, &InputError{Msg: fmt.Sprintf("not an image reference: %v", err)}
	}
	opts, err := r.options(ctx, ref.Context())
	if err != nil {
		return Target{}, err
	}
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		if isNotFound(err) {
			return Target{}, &NotFoundError{Image: image}
		}
		var terr *transport.Error
		if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
			return Target{}, &AuthError{Registry: ref.Context().RegistryStr(), Image: image, Status: terr.StatusCode}
		}
		return Target{}, fmt.Errorf("resolve %s: %w", image, err)
	}
	if desc.Digest.Algorithm != "sha256" {
		return Target{}, fmt.Errorf("resolve %s: digest %s is not sha256", image, desc.Digest)
	}
	return Target{Ref: ref, Digest: ref.Context().Digest(desc.Digest.String()), Descriptor: *desc}, nil
}

// SupportsReferrers says whether the registry serves the OCI 1.1 referrers
// API for the target's repository (an OCI index from GET /v2/<name>/referrers/<digest>).
func (r Registry) SupportsReferrers(ctx context.Context, t Target) (bool, error) {
	repo := t.Digest.Context()
	a, err := r.auth(repo)
	if err != nil {
		return false, fmt.Errorf("credentials for %s: %w", repo.RegistryStr(), err)
	}
	base := r.Transport
	if base == nil {
		base = remote.DefaultTransport
	}
	tr, err := transport.NewWithContext(ctx, repo.Registry, a, base, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return false, fmt.Errorf("connect to %s: %w", repo.RegistryStr(), err)
	}
	u := fmt.Sprintf("%s://%s/v2/%s/referrers/%s", repo.Registry.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), t.Digest.DigestStr())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", string(types.OCIImageIndex))
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return false, fmt.Errorf("ask %s for referrers: %w", repo.RegistryStr(), err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), string(types.OCIImageIndex)), nil
}

func isNotFound(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		if terr.StatusCode == http.StatusNotFound {
			return true
		}
		for _, d := range terr.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return true
			}
		}
	}
	return false
}
