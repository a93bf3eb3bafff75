package signing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"google.golang.org/protobuf/encoding/protojson"
)

// SignOptions are the choices of Sign and Attest.
type SignOptions struct {
	// Annotations go into the signed payload (cosign sign -a key=value).
	Annotations map[string]string
	// Referrers says when a Sigstore bundle referrer is attached too.
	Referrers Referrers
	// DryRun reports what would be written and writes nothing.
	DryRun bool
}

// Attachment is a signature or attestation of the image, as written or as
// found already there.
type Attachment struct {
	Kind          string `json:"kind"` // signature or attestation
	PredicateType string `json:"predicate_type,omitempty"`
	// Tag is cosign's tag that holds it (sha256-<hex>.sig or .att).
	Tag string `json:"tag"`
	// Referrer is the digest of the Sigstore bundle referrer, if one is attached.
	Referrer string `json:"referrer,omitempty"`
	// Changed says whether this run wrote it (or would, in a dry run).
	Changed bool `json:"changed"`
}

// Predicate is an attestation to sign: its predicate type URI and content.
type Predicate struct {
	Type string
	Data any
}

// Signed is what Sign wrote, or found already there.
type Signed struct {
	Signature    Attachment   `json:"signature"`
	Attestations []Attachment `json:"attestations"`
}

// layer is one signature or attestation to add under a cosign tag.
type layer struct {
	content     []byte
	mediaType   types.MediaType
	annotations map[string]string
}

// Sign signs the target with s - a simple-signing payload under cosign's
// .sig tag - and signs each predicate as an in-toto statement about it - a
// DSSE envelope under the .att tag - and attaches each as a Sigstore bundle
// referrer too where o.Referrers asks for one. What the same key already
// signed with the same content is not signed again. The registry is read
// once and each tag written at most once.
func (r Registry) Sign(ctx context.Context, t Target, s *Signer, o SignOptions, predicates []Predicate) (Signed, error) {
	statements := make([][]byte, len(predicates))
	for i, p := range predicates {
		st, err := json.Marshal(statement{Type: inTotoStatementType,
			Subject:       []subject{{Name: t.Digest.Context().Name(), Digest: map[string]string{"sha256": t.Hex()}}},
			PredicateType: p.Type, Predicate: p.Data})
		if err != nil {
			return Signed{}, &InputError{Msg: fmt.Sprintf("predicate of %s is not JSON: %v", p.Type, err)}
		}
		statements[i] = st
	}
	f, err := r.find(ctx, t)
	if err != nil {
		return Signed{}, err
	}
	wantRef, err := r.wantReferrer(ctx, t, o.Referrers)
	if err != nil {
		return Signed{}, err
	}
	annotations := toAny(o.Annotations)
	// What is there already, signed by this key.
	var haveSig, haveSigRef bool
	sigRef := ""
	haveAtt := make([]bool, len(predicates))
	haveAttRef := make([]string, len(predicates))
	for _, e := range f.entries {
		c, err := e.verify(s.Verifier(), t)
		if err != nil {
			continue
		}
		if c.signature {
			if sameJSON(c.annotations, annotations) {
				if e.format == "tag" {
					haveSig = true
				} else {
					haveSigRef, sigRef = true, e.where
				}
			}
			continue
		}
		for i, st := range statements {
			if sameStatement(c.payload, st) {
				if e.format == "tag" {
					haveAtt[i] = true
				} else {
					haveAttRef[i] = e.where
				}
			}
		}
	}

	out := Signed{Signature: Attachment{Kind: "signature", Tag: sigTag(t).String(), Referrer: sigRef,
		Changed: !haveSig || (wantRef && !haveSigRef)}, Attestations: []Attachment{}}
	for i, p := range predicates {
		out.Attestations = append(out.Attestations, Attachment{Kind: "attestation", PredicateType: p.Type, Tag: attTag(t).String(),
			Referrer: haveAttRef[i], Changed: !haveAtt[i] || (wantRef && haveAttRef[i] == "")})
	}
	if o.DryRun {
		return out, nil
	}

	if !haveSig {
		p, err := (&payload.Cosign{Image: t.Digest, Annotations: annotations}).MarshalJSON()
		if err != nil {
			return out, fmt.Errorf("signature payload: %w", err)
		}
		sig, err := s.SignMessage(bytes.NewReader(p))
		if err != nil {
			return out, fmt.Errorf("sign with %s: %w", s.Name, err)
		}
		if err := r.appendToTag(ctx, sigTag(t), layer{p, simpleSigningMediaType,
			map[string]string{signatureAnnotation: base64.StdEncoding.EncodeToString(sig)}}); err != nil {
			return out, err
		}
	}
	if wantRef && !haveSigRef {
		sub := subject{Digest: map[string]string{"sha256": t.Hex()}}
		if len(annotations) > 0 {
			sub.Annotations = annotations
		}
		st, err := json.Marshal(statement{Type: inTotoStatementType, Subject: []subject{sub},
			PredicateType: SignPredicateType, Predicate: map[string]any{}})
		if err != nil {
			return out, err
		}
		if out.Signature.Referrer, err = r.attachBundle(ctx, t, s, st, SignPredicateType); err != nil {
			return out, err
		}
	}
	var attLayers []layer
	for i, p := range predicates {
		if !haveAtt[i] {
			env, err := dsse.WrapSigner(s.SignerVerifier, inTotoPayloadType).SignMessage(bytes.NewReader(statements[i]))
			if err != nil {
				return out, fmt.Errorf("sign with %s: %w", s.Name, err)
			}
			attLayers = append(attLayers, layer{env, dsseMediaType, map[string]string{signatureAnnotation: "", predicateTypeAnnotation: p.Type}})
		}
		if wantRef && haveAttRef[i] == "" {
			if out.Attestations[i].Referrer, err = r.attachBundle(ctx, t, s, statements[i], p.Type); err != nil {
				return out, err
			}
		}
	}
	if len(attLayers) > 0 {
		if err := r.appendToTag(ctx, attTag(t), attLayers...); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (r Registry) wantReferrer(ctx context.Context, t Target, mode Referrers) (bool, error) {
	switch mode {
	case ReferrersAlways:
		return true, nil
	case ReferrersNever:
		return false, nil
	}
	return r.SupportsReferrers(ctx, t)
}

// appendToTag adds layers to the signature image under tag (creating it):
// how cosign keeps every signature of a digest under one .sig/.att tag.
func (r Registry) appendToTag(ctx context.Context, tag name.Tag, layers ...layer) error {
	opts, err := r.options(ctx, tag.Context())
	if err != nil {
		return err
	}
	img, err := remote.Image(tag, opts...)
	if err != nil {
		if !isNotFound(err) {
			return fmt.Errorf("read %s: %w", tag, err)
		}
		img = mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1)
	}
	for _, l := range layers {
		img, err = mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(l.content, l.mediaType), Annotations: l.annotations, MediaType: l.mediaType})
		if err != nil {
			return fmt.Errorf("add to %s: %w", tag, err)
		}
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		return fmt.Errorf("push %s: %w", tag, err)
	}
	return nil
}

// attachBundle signs the statement into a Sigstore bundle and attaches it to
// the target as an OCI 1.1 referrer (ggcr keeps the fallback tag index on
// registries without the referrers API). It returns the referrer's digest.
func (r Registry) attachBundle(ctx context.Context, t Target, s *Signer, st []byte, predicateType string) (string, error) {
	envJSON, err := dsse.WrapSigner(s.SignerVerifier, inTotoPayloadType).SignMessage(bytes.NewReader(st))
	if err != nil {
		return "", fmt.Errorf("sign with %s: %w", s.Name, err)
	}
	var env ssldsse.Envelope
	if err := json.Unmarshal(envJSON, &env); err != nil {
		return "", err
	}
	pe := &protodsse.Envelope{Payload: st, PayloadType: env.PayloadType}
	for _, sg := range env.Signatures {
		raw, err := base64.StdEncoding.DecodeString(sg.Sig)
		if err != nil {
			return "", err
		}
		pe.Signatures = append(pe.Signatures, &protodsse.Signature{Sig: raw, Keyid: sg.KeyID})
	}
	b, err := protojson.Marshal(&protobundle.Bundle{
		MediaType: bundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: s.hint}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: pe},
	})
	if err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	repo := t.Digest.Context()
	opts, err := r.options(ctx, repo)
	if err != nil {
		return "", err
	}
	cfg := static.NewLayer([]byte("{}"), emptyMediaType)
	layer := static.NewLayer(b, bundleMediaType)
	for _, l := range []v1.Layer{cfg, layer} {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
			return "", fmt.Errorf("push a bundle blob to %s: %w", repo, err)
		}
	}
	cfgDigest, _ := cfg.Digest()
	layerDigest, _ := layer.Digest()
	mf := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  bundleMediaType,
		Config:        v1.Descriptor{MediaType: emptyMediaType, Size: 2, Digest: cfgDigest},
		Layers:        []v1.Descriptor{{MediaType: bundleMediaType, Size: int64(len(b)), Digest: layerDigest}},
		Subject:       &v1.Descriptor{MediaType: t.Descriptor.MediaType, Size: t.Descriptor.Size, Digest: t.Descriptor.Digest},
		Annotations: map[string]string{
			bundleContentAnnotation:            "dsse-envelope",
			bundlePredicateAnnotation:          predicateType,
			"org.opencontainers.image.created": time.Now().UTC().Format(time.RFC3339),
		},
	}
	raw, err := json.Marshal(mf)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	d := "sha256:" + hex.EncodeToString(sum[:])
	if err := remote.Put(repo.Digest(d), rawManifest(raw), opts...); err != nil {
		return "", fmt.Errorf("push the bundle referrer to %s: %w", repo, err)
	}
	return d, nil
}

type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func toAny(m map[string]string) map[string]any {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sameJSON compares two values as JSON documents (nil and empty maps alike).
func sameJSON(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(normalize(a), normalize(b))
}

func sameStatement(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// normalize is v after a JSON round trip.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}
