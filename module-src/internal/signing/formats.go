package signing

// The formats cosign reads and writes, each written once here.
const (
	// cosign's tag scheme: sha256-<hex>.sig and sha256-<hex>.att in the image's repository.
	sigTagSuffix = ".sig"
	attTagSuffix = ".att"

	// A signature layer: the simple-signing payload, its signature in an annotation.
	simpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	signatureAnnotation    = "dev.cosignproject.cosign/signature"
	simpleSigningType      = "cosign container image signature"

	// An attestation layer: a DSSE envelope over an in-toto statement.
	dsseMediaType           = "application/vnd.dsse.envelope.v1+json"
	predicateTypeAnnotation = "predicateType"
	inTotoPayloadType       = "application/vnd.in-toto+json"
	inTotoStatementType     = "https://in-toto.io/Statement/v1"

	// A Sigstore bundle (v0.3) attached as an OCI 1.1 referrer, as cosign v3 writes it.
	bundleMediaType           = "application/vnd.dev.sigstore.bundle.v0.3+json"
	bundleMediaTypePrefix     = "application/vnd.dev.sigstore.bundle"
	bundleContentAnnotation   = "dev.sigstore.bundle.content"
	bundlePredicateAnnotation = "dev.sigstore.bundle.predicateType"
	emptyMediaType            = "application/vnd.oci.empty.v1+json"

	// SignPredicateType is the predicate of a signature made as a bundle:
	// an in-toto statement about the image with an empty predicate.
	SignPredicateType = "https://sigstore.dev/cosign/sign/v1"
)

// PredicateTypes maps cosign's --type shorthands to predicate type URIs.
var PredicateTypes = map[string]string{
	"custom":           "https://cosign.sigstore.dev/attestation/v1",
	"slsaprovenance":   "https://slsa.dev/provenance/v0.2",
	"slsaprovenance02": "https://slsa.dev/provenance/v0.2",
	"slsaprovenance1":  "https://slsa.dev/provenance/v1",
	"spdx":             "https://spdx.dev/Document",
	"spdxjson":         "https://spdx.dev/Document",
	"cyclonedx":        "https://cyclonedx.org/bom",
	"link":             "https://in-toto.io/Link/v1",
	"vuln":             "https://cosign.sigstore.dev/attestation/vuln/v1",
	"openvex":          "https://openvex.dev/ns",
}

// PredicateType resolves a cosign --type shorthand or a URI.
func PredicateType(t string) (string, bool) {
	if uri, ok := PredicateTypes[t]; ok {
		return uri, true
	}
	if len(t) > 8 && (t[:8] == "https://" || t[:7] == "http://") {
		return t, true
	}
	return "", false
}

// Referrers says when a signature or attestation is also attached as an
// OCI 1.1 referrer (a Sigstore bundle), beside cosign's tags.
type Referrers string

const (
	// ReferrersAuto attaches a referrer where the registry serves the referrers API.
	ReferrersAuto Referrers = "auto"
	// ReferrersAlways attaches one everywhere; registries without the API
	// get the OCI 1.1 fallback tag (sha256-<hex>, an index), as cosign v3 does.
	ReferrersAlways Referrers = "always"
	// ReferrersNever writes cosign's tags only.
	ReferrersNever Referrers = "never"
)
