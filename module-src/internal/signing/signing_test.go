package signing

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run against go-containerregistry's in-process registry, with
// and without the referrers API. tests/integration checks the same against a
// real registry and the cosign CLI.

func testRegistry(t *testing.T, referrers bool) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(referrers), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func pushRandom(t *testing.T, ref string) {
	t.Helper()
	img, err := random.Image(256, 1)
	require.NoError(t, err)
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	require.NoError(t, remote.Write(r, img))
}

func keyPair(t *testing.T) (*Signer, *Verifier) {
	t.Helper()
	priv, pub, err := GenerateKeyPair([]byte("pw"))
	require.NoError(t, err)
	s, err := LoadPrivateKey("k.key", priv, []byte("pw"))
	require.NoError(t, err)
	v, err := LoadPublicKey("k.pub", pub)
	require.NoError(t, err)
	return s, v
}

func TestLoadPrivateKeyWrongPassword(t *testing.T) {
	priv, _, err := GenerateKeyPair([]byte("right"))
	require.NoError(t, err)
	_, err = LoadPrivateKey("k", priv, []byte("wrong"))
	assert.ErrorIs(t, err, ErrWrongPassword)
	_, err = LoadPrivateKey("k", []byte("nonsense"), nil)
	assert.ErrorContains(t, err, "not a PEM file")
	_, err = LoadPublicKey("k", priv)
	assert.ErrorContains(t, err, "not a PEM public key")
}

func TestSignAttestVerify(t *testing.T) {
	for _, tc := range []struct {
		name      string
		referrers bool
		mode      Referrers
		wantRef   bool
	}{
		{"tags only, registry without referrers", false, ReferrersAuto, false},
		{"auto on a registry with referrers", true, ReferrersAuto, true},
		{"always on a registry without referrers (fallback tag)", false, ReferrersAlways, true},
		{"never", true, ReferrersNever, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			host := testRegistry(t, tc.referrers)
			image := host + "/app:1"
			pushRandom(t, image)
			var reg Registry
			target, err := reg.Resolve(ctx, image)
			require.NoError(t, err)
			s, v := keyPair(t)

			o := SignOptions{Referrers: tc.mode, Annotations: map[string]string{"gate": "passed"}}
			pred := map[string]any{"scanner": map[string]any{"result": map[string]any{"passed": true}}}
			preds := []Predicate{{Type: PredicateTypes["vuln"], Data: pred}}
			dry, err := reg.Sign(ctx, target, s, SignOptions{Referrers: tc.mode, Annotations: o.Annotations, DryRun: true}, preds)
			require.NoError(t, err)
			assert.True(t, dry.Signature.Changed)
			signed, err := reg.Sign(ctx, target, s, o, preds)
			require.NoError(t, err)
			assert.True(t, signed.Signature.Changed)
			assert.True(t, signed.Attestations[0].Changed)
			assert.Equal(t, tc.wantRef, signed.Signature.Referrer != "", "referrer %q", signed.Signature.Referrer)
			assert.Equal(t, tc.wantRef, signed.Attestations[0].Referrer != "")
			again, err := reg.Sign(ctx, target, s, o, preds)
			require.NoError(t, err)
			assert.False(t, again.Signature.Changed, "signing again is a no-op")
			assert.False(t, again.Attestations[0].Changed)
			dry, err = reg.Sign(ctx, target, s, SignOptions{Referrers: tc.mode, Annotations: o.Annotations, DryRun: true}, preds)
			require.NoError(t, err)
			assert.False(t, dry.Signature.Changed || dry.Attestations[0].Changed)

			res, err := reg.Verify(ctx, image, target, VerifyOptions{Keys: []*Verifier{v}, Signature: true,
				Annotations:  map[string]string{"gate": "passed"},
				Attestations: []AttestationRule{{PredicateType: PredicateTypes["vuln"], Match: map[string]any{"scanner.result.passed": true}}}})
			require.NoError(t, err)
			formats := map[string]bool{}
			for _, s := range res.Signatures {
				formats[s.Format] = true
			}
			assert.Equal(t, tc.wantRef, formats["referrer"])
			assert.True(t, formats["tag"])

			// The attestation must say what the rule asks.
			_, err = reg.Verify(ctx, image, target, VerifyOptions{Keys: []*Verifier{v}, Signature: true,
				Attestations: []AttestationRule{{PredicateType: PredicateTypes["vuln"], Match: map[string]any{"scanner.result.passed": false}}}})
			assert.ErrorContains(t, err, "scanner.result.passed is true, want false")
			_, err = reg.Verify(ctx, image, target, VerifyOptions{Keys: []*Verifier{v}, Signature: true,
				Attestations: []AttestationRule{{PredicateType: PredicateTypes["cyclonedx"]}}})
			assert.ErrorContains(t, err, "no https://cyclonedx.org/bom attestation signed by these keys (signed attestations found: https://cosign.sigstore.dev/attestation/vuln/v1)")

			// Another key verifies nothing.
			_, other := keyPair(t)
			other.Name = "other.pub"
			_, err = reg.Verify(ctx, image, target, VerifyOptions{Keys: []*Verifier{other}, Signature: true})
			var ve *VerifyError
			require.True(t, errors.As(err, &ve), "%v", err)
			assert.Contains(t, err.Error(), "with other.pub failed: no signature verifies")
			assert.Contains(t, err.Error(), image)
		})
	}
}

func TestVerifyMissingAndMovedTag(t *testing.T) {
	ctx := context.Background()
	host := testRegistry(t, false)
	image := host + "/app:1"
	pushRandom(t, image)
	var reg Registry
	s, v := keyPair(t)
	target, err := reg.Resolve(ctx, image)
	require.NoError(t, err)
	_, err = reg.Verify(ctx, image, target, VerifyOptions{Keys: []*Verifier{v}, Signature: true})
	assert.ErrorContains(t, err, "no signature: "+image+" has no sha256-"+target.Hex()+".sig tag")

	_, err = reg.Sign(ctx, target, s, SignOptions{Referrers: ReferrersNever}, nil)
	require.NoError(t, err)
	pushRandom(t, image) // the tag moves to an image nobody signed
	moved, err := reg.Resolve(ctx, image)
	require.NoError(t, err)
	require.NotEqual(t, target.Digest, moved.Digest)
	_, err = reg.Verify(ctx, image, moved, VerifyOptions{Keys: []*Verifier{v}, Signature: true})
	assert.ErrorContains(t, err, "the repository holds signatures for other digests: "+target.Digest.DigestStr())

	// The old signature copied under the new digest's tag is refused: it names the old digest.
	opts := []remote.Option{}
	old, err := remote.Image(sigTag(target), opts...)
	require.NoError(t, err)
	require.NoError(t, remote.Write(sigTag(moved), old))
	_, err = reg.Verify(ctx, image, moved, VerifyOptions{Keys: []*Verifier{v}, Signature: true})
	assert.ErrorContains(t, err, "it was made for "+target.Digest.DigestStr()+", not for "+moved.Digest.DigestStr())
}
