package signing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"google.golang.org/protobuf/encoding/protojson"
)

// maxBlob bounds what is read of one signature, attestation or bundle.
const maxBlob = 64 << 20

// entry is one signature or attestation found for an image, not yet verified.
type entry struct {
	format string // "tag" (cosign's .sig/.att tags) or "referrer" (a Sigstore bundle)
	where  string // the tag, or the referrer manifest's digest
	// A simple-signing signature (format tag, .sig).
	payload, sig []byte
	// A DSSE envelope (JSON): an attestation, or any bundle.
	envelope []byte
}

// claims is what a verified entry says.
type claims struct {
	signature     bool // a signature (not an attestation)
	predicateType string
	predicate     any
	annotations   map[string]any
	payload       []byte // the signed payload (statement or simple-signing JSON)
}

// found is everything attached to one image.
type found struct {
	entries []entry
	tags    []string // the cosign tags that exist
	// unreadable lists attachments that could not be read, for messages.
	unreadable []string
}

// sigTag and attTag are cosign's tags for the target.
func sigTag(t Target) name.Tag { return t.Digest.Context().Tag("sha256-" + t.Hex() + sigTagSuffix) }
func attTag(t Target) name.Tag { return t.Digest.Context().Tag("sha256-" + t.Hex() + attTagSuffix) }

// find reads every signature and attestation attached to the target: the
// .sig and .att tags and the Sigstore bundles among its referrers (the
// referrers API, or the OCI 1.1 fallback tag where the registry has none).
func (r Registry) find(ctx context.Context, t Target) (found, error) {
	opts, err := r.options(ctx, t.Digest.Context())
	if err != nil {
		return found{}, err
	}
	var f found
	for _, tag := range []name.Tag{sigTag(t), attTag(t)} {
		img, err := remote.Image(tag, opts...)
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return found{}, fmt.Errorf("read %s: %w", tag, err)
		}
		f.tags = append(f.tags, tag.TagStr())
		mf, err := img.Manifest()
		if err != nil {
			return found{}, fmt.Errorf("read %s: %w", tag, err)
		}
		for i, l := range mf.Layers {
			where := fmt.Sprintf("%s (layer %d)", tag.TagStr(), i)
			b, err := readBlob(img, l.Digest)
			if err != nil {
				f.unreadable = append(f.unreadable, fmt.Sprintf("%s: %v", where, err))
				continue
			}
			switch {
			case l.MediaType == simpleSigningMediaType:
				sig, err := base64.StdEncoding.DecodeString(l.Annotations[signatureAnnotation])
				if err != nil || len(sig) == 0 {
					f.unreadable = append(f.unreadable, where+": no signature annotation")
					continue
				}
				f.entries = append(f.entries, entry{format: "tag", where: where, payload: b, sig: sig})
			case l.MediaType == dsseMediaType:
				f.entries = append(f.entries, entry{format: "tag", where: where, envelope: b})
			}
		}
	}
	// A registry that answers the referrers API (or its fallback tag) with an
	// error does not hide the signatures under cosign's tags: it is noted.
	idx, err := remote.Referrers(t.Digest, opts...)
	var im *v1.IndexManifest
	if err == nil {
		im, err = idx.IndexManifest()
	}
	if err != nil {
		f.unreadable = append(f.unreadable, fmt.Sprintf("the referrers of %s: %v", t.Digest.DigestStr(), err))
		return f, nil
	}
	for _, d := range im.Manifests {
		// The artifact type is the bundle's, or (registries that list the
		// config's media type instead) the descriptor carries the bundle's annotation.
		if !strings.HasPrefix(d.ArtifactType, bundleMediaTypePrefix) && d.Annotations[bundleContentAnnotation] == "" {
			continue
		}
		where := "referrer " + d.Digest.String()
		env, err := r.readBundle(ctx, t.Digest.Context().Digest(d.Digest.String()), opts)
		if err != nil {
			f.unreadable = append(f.unreadable, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		f.entries = append(f.entries, entry{format: "referrer", where: where, envelope: env})
	}
	return f, nil
}

func readBlob(img v1.Image, h v1.Hash) ([]byte, error) {
	l, err := img.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxBlob+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBlob {
		return nil, fmt.Errorf("larger than %d bytes", maxBlob)
	}
	return b, nil
}

// readBundle reads a Sigstore bundle referrer and returns its DSSE envelope
// as JSON (message-signature bundles are for blobs, not images).
func (r Registry) readBundle(_ context.Context, d name.Digest, opts []remote.Option) ([]byte, error) {
	img, err := remote.Image(d, opts...)
	if err != nil {
		return nil, err
	}
	mf, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if len(mf.Layers) != 1 || !strings.HasPrefix(string(mf.Layers[0].MediaType), bundleMediaTypePrefix) {
		return nil, errors.New("not one bundle layer")
	}
	b, err := readBlob(img, mf.Layers[0].Digest)
	if err != nil {
		return nil, err
	}
	var pb protobundle.Bundle
	if err := protojson.Unmarshal(b, &pb); err != nil {
		return nil, fmt.Errorf("not a Sigstore bundle: %w", err)
	}
	de := pb.GetDsseEnvelope()
	if de == nil {
		return nil, errors.New("the bundle holds no DSSE envelope")
	}
	env := ssldsse.Envelope{PayloadType: de.GetPayloadType(), Payload: base64.StdEncoding.EncodeToString(de.GetPayload())}
	for _, s := range de.GetSignatures() {
		env.Signatures = append(env.Signatures, ssldsse.Signature{KeyID: s.GetKeyid(), Sig: base64.StdEncoding.EncodeToString(s.GetSig())})
	}
	return json.Marshal(env)
}

// verify checks an entry's signature with v and that it is about the
// target's digest, and returns what it says.
func (e entry) verify(v *Verifier, t Target) (claims, error) {
	if e.sig != nil {
		if err := v.VerifySignature(bytes.NewReader(e.sig), bytes.NewReader(e.payload)); err != nil {
			return claims{}, fmt.Errorf("invalid signature: %w", err)
		}
		var p payload.SimpleContainerImage
		if err := json.Unmarshal(e.payload, &p); err != nil {
			return claims{}, fmt.Errorf("the signed payload is not cosign's: %w", err)
		}
		if p.Critical.Type != simpleSigningType {
			return claims{}, fmt.Errorf("the signed payload's type is %q, not %q", p.Critical.Type, simpleSigningType)
		}
		if p.Critical.Image.DockerManifestDigest != t.Digest.DigestStr() {
			return claims{}, &digestMismatch{signed: p.Critical.Image.DockerManifestDigest}
		}
		return claims{signature: true, annotations: p.Optional, payload: e.payload}, nil
	}
	var decoded []byte
	dv := dsse.WrapVerifier(v.Verifier, dsse.WithExpectedPayloadType(inTotoPayloadType), dsse.WithDecodedPayload(&decoded))
	if err := dv.VerifySignature(bytes.NewReader(e.envelope), nil); err != nil {
		return claims{}, fmt.Errorf("invalid signature: %w", err)
	}
	var st statement
	if err := json.Unmarshal(decoded, &st); err != nil {
		return claims{}, fmt.Errorf("the signed payload is not an in-toto statement: %w", err)
	}
	var subjects []string
	var annotations map[string]any
	for _, s := range st.Subject {
		if s.Digest["sha256"] == t.Hex() {
			subjects = nil
			annotations = s.Annotations
			break
		}
		subjects = append(subjects, "sha256:"+s.Digest["sha256"])
	}
	if subjects != nil || len(st.Subject) == 0 {
		return claims{}, &digestMismatch{signed: strings.Join(subjects, ", ")}
	}
	c := claims{predicateType: st.PredicateType, predicate: st.Predicate, annotations: annotations, payload: decoded}
	c.signature = st.PredicateType == SignPredicateType
	return c, nil
}

// digestMismatch is a valid signature for another image.
type digestMismatch struct{ signed string }

func (d *digestMismatch) Error() string {
	if d.signed == "" {
		return "it names no image digest"
	}
	return "it was made for " + d.signed
}

// statement is an in-toto statement (v0.1 and v1 read alike).
type statement struct {
	Type          string    `json:"_type"`
	Subject       []subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     any       `json:"predicate"`
}

type subject struct {
	Name        string            `json:"name,omitempty"`
	Digest      map[string]string `json:"digest"`
	Annotations map[string]any    `json:"annotations,omitempty"`
}
