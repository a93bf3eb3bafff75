package buildkitimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/retry"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/transient"
)

// attestationType is the annotation BuildKit marks an attestation manifest
// with in an index (vnd.docker.reference.type).
const attestationType = "attestation-manifest"

// mergeShares pushes one index under the module's name and tag listing the
// platforms each node pushed by digest (and their attestation manifests), as
// buildx merges a multi-node build. Only this last manifest PUT moves the
// tag: before it, the shares are in the registry under their digests only.
func (r *runner) mergeShares(ctx context.Context, shares []*share) (string, error) {
	host, _, err := registryHost(r.name)
	if err != nil {
		return "", err
	}
	var nopts []name.Option
	if r.insecureRegistry(host) {
		nopts = append(nopts, name.Insecure)
	}
	repo, err := name.NewRepository(r.name, nopts...)
	if err != nil {
		return "", fmt.Errorf("name %s: %w", r.name, err)
	}
	var auth authn.Authenticator = authn.Anonymous
	if r.o.RegistryUsername != "" {
		auth = &authn.Basic{Username: r.o.RegistryUsername, Password: r.o.RegistryPassword}
	} else if a, err := authn.DefaultKeychain.Resolve(repo); err == nil {
		auth = a
	}
	opts := func(ctx context.Context) []remote.Option {
		return []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithUserAgent("jenkins_ha.buildkit")}
	}
	var images, attestations []v1.Descriptor
	oci := false
	for _, s := range shares {
		if s.res == nil || s.res.ImageID == "" {
			return "", fmt.Errorf("node %s reported no digest for %v", s.node.Name, s.platforms)
		}
		var d *remote.Descriptor
		if _, err := retry.Do(ctx, r.retryPolicy(), transient.Is, func(ctx context.Context) error {
			var err error
			d, err = remote.Get(repo.Digest(s.res.ImageID), opts(ctx)...)
			return err
		}); err != nil {
			return "", fmt.Errorf("read what node %s pushed (%s@%s): %w", s.node.Name, r.name, s.res.ImageID, err)
		}
		switch {
		case d.MediaType.IsIndex():
			oci = oci || d.MediaType == types.OCIImageIndex
			idx, err := d.ImageIndex()
			if err != nil {
				return "", err
			}
			im, err := idx.IndexManifest()
			if err != nil {
				return "", err
			}
			for _, m := range im.Manifests {
				if m.Annotations["vnd.docker.reference.type"] == attestationType {
					attestations = append(attestations, m)
				} else {
					images = append(images, m)
				}
			}
		case d.MediaType.IsImage():
			oci = oci || d.MediaType == types.OCIManifestSchema1
			img, err := d.Image()
			if err != nil {
				return "", err
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return "", fmt.Errorf("read the config of what node %s pushed: %w", s.node.Name, err)
			}
			desc := d.Descriptor
			desc.Platform = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
			images = append(images, desc)
		default:
			return "", fmt.Errorf("node %s pushed a %s, not an image or an index", s.node.Name, d.MediaType)
		}
	}
	mt := types.DockerManifestList
	if oci || len(attestations) > 0 {
		mt = types.OCIImageIndex
	}
	raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: mt, Manifests: append(images, attestations...)})
	if err != nil {
		return "", err
	}
	tag := repo.Tag(r.tag)
	if _, err := retry.Do(ctx, r.retryPolicy(), transient.Is, func(ctx context.Context) error {
		return remote.Put(tag, rawManifest{raw: raw, mt: mt}, opts(ctx)...)
	}); err != nil {
		return "", fmt.Errorf("push the index %s: %w", tag, err)
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// rawManifest is a manifest to PUT as it is.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }
