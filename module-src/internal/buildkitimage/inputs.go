package buildkitimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildctx"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
)

// inputsVersion changes when the digest's recipe does, so old labels never match.
const inputsVersion = 1

// inputsDigest is the digest of everything that feeds the build: the context
// as .dockerignore filters it, the Dockerfile, build args, target, platform,
// labels, network settings and the IDs of the base images in the engine.
func (r *runner) inputsDigest(ctx context.Context, bctx *buildctx.Context, df *buildctx.Dockerfile, req builder.Request) (string, buildctx.Sum, map[string]string, error) {
	sum, err := bctx.Fingerprint(ctx, r.cacheDir())
	if err != nil {
		return "", sum, nil, err
	}
	bases := map[string]string{}
	for _, name := range df.BaseImages {
		doc, err := r.inspect(ctx, name)
		if err != nil {
			return "", sum, nil, err
		}
		bases[name] = missingBase
		if doc != nil {
			bases[name] = imageID(doc)
		}
	}
	digest, err := inputsOf(bctx, sum, bases, req, r.o.Build.CreatedLabel)
	return digest, sum, bases, err
}

// missingBase stands in the inputs for a base image the engine does not have.
const missingBase = "missing"

// inputsOf is the inputs digest of a context fingerprint, the base images'
// IDs and the request. The labels the module sets for a build (the digest
// itself, and the created time with created_label) are not inputs.
func inputsOf(bctx *buildctx.Context, sum buildctx.Sum, bases map[string]string, req builder.Request, createdLabelSet bool) (string, error) {
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
		"bases":      bases,
		// Secret values never enter the digest (nor the image): only which secrets and agents the build gets.
		"secrets": secretIDs(req.Secrets),
		"ssh":     sshIDs(req.SSH),
	}
	if len(req.Attest) > 0 {
		doc["attest"] = req.Attest // only when asked, so older digests stay valid
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	d := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(d[:]), nil
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
