package signing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// AttestationRule is an attestation the image must carry.
type AttestationRule struct {
	PredicateType string
	// Match maps dotted paths into the predicate to the values they must
	// have ({"scanner.result.passed": true}).
	Match map[string]any
}

// VerifyOptions say what must be there and who must have signed it.
type VerifyOptions struct {
	// Keys: each signature and attestation must verify with one of them.
	Keys []*Verifier
	// Signature requires a signature of the image.
	Signature bool
	// Annotations the signature must carry (cosign verify -a key=value).
	Annotations map[string]string
	// Attestations that must be there, each signed by one of Keys.
	Attestations []AttestationRule
}

// Verified is one signature or attestation that verified.
type Verified struct {
	Kind          string         `json:"kind"`
	PredicateType string         `json:"predicate_type,omitempty"`
	Key           string         `json:"key"`
	Format        string         `json:"format"` // tag or referrer
	Where         string         `json:"where"`
	Annotations   map[string]any `json:"annotations,omitempty"`
}

// Verification is what Verify found.
type Verification struct {
	Digest       string     `json:"digest"`
	Signatures   []Verified `json:"signatures"`
	Attestations []Verified `json:"attestations"`
}

// Verify checks that the target is signed, and carries the attestations
// asked for, by one of the keys. Any failure is a *VerifyError naming the
// image, its digest, the keys and what is wrong.
func (r Registry) Verify(ctx context.Context, image string, t Target, o VerifyOptions) (Verification, error) {
	keys := make([]string, len(o.Keys))
	for i, k := range o.Keys {
		keys[i] = k.Name
	}
	fail := func(format string, args ...any) error {
		return &VerifyError{Image: image, Digest: t.Digest.DigestStr(), Keys: keys, Reason: fmt.Sprintf(format, args...)}
	}
	f, err := r.find(ctx, t)
	if err != nil {
		return Verification{}, err
	}
	res := Verification{Digest: t.Digest.DigestStr(), Signatures: []Verified{}, Attestations: []Verified{}}
	var sigProblems, attProblems []string
	verified := map[int]claims{}
	for i, e := range f.entries {
		var errs []string
		for _, k := range o.Keys {
			c, err := e.verify(k, t)
			if err != nil {
				var dm *digestMismatch
				if errors.As(err, &dm) {
					errs = append(errs, fmt.Sprintf("%s verifies with %s but %v, not for %s (copied from another image?)", e.where, k.Name, dm, t.Digest.DigestStr()))
				} else {
					errs = append(errs, fmt.Sprintf("%s: %s: %v", e.where, k.Name, err))
				}
				continue
			}
			verified[i] = c
			v := Verified{Key: k.Name, Format: e.format, Where: e.where, Annotations: c.annotations}
			if c.signature {
				v.Kind = "signature"
				res.Signatures = append(res.Signatures, v)
			} else {
				v.Kind, v.PredicateType = "attestation", c.predicateType
				res.Attestations = append(res.Attestations, v)
			}
			break
		}
		if _, ok := verified[i]; !ok {
			if e.sig != nil || e.format == "referrer" {
				sigProblems = append(sigProblems, errs...)
			} else {
				attProblems = append(attProblems, errs...)
			}
		}
	}

	if o.Signature {
		if len(f.entries) == 0 {
			return res, fail("no signature: %s has no %s tag and no Sigstore bundle among its referrers%s%s",
				image, sigTag(t).TagStr(), r.otherSignedDigests(ctx, t), unreadable(f))
		}
		var ok []Verified
		for _, v := range res.Signatures {
			if sameJSON(v.Annotations, toAny(o.Annotations)) || hasAnnotations(v.Annotations, o.Annotations) {
				ok = append(ok, v)
			}
		}
		switch {
		case len(res.Signatures) == 0 && len(sigProblems) == 0:
			return res, fail("no signature: %s has attestations but no signature (no %s tag)%s", image, sigTag(t).TagStr(), r.otherSignedDigests(ctx, t))
		case len(res.Signatures) == 0:
			return res, fail("no signature verifies: %s%s", strings.Join(first(sigProblems, 3), "; "), unreadable(f))
		case len(ok) == 0:
			return res, fail("signed, but no signature carries the annotations %v (found: %v)", o.Annotations, res.Signatures[0].Annotations)
		}
	}
	for _, rule := range o.Attestations {
		var match []Verified
		var mismatch []string
		for i, c := range verified {
			if c.signature || c.predicateType != rule.PredicateType {
				continue
			}
			if msg := matches(c.predicate, rule.Match); msg != "" {
				mismatch = append(mismatch, fmt.Sprintf("%s: %s", f.entries[i].where, msg))
				continue
			}
			match = append(match, Verified{Kind: "attestation", PredicateType: c.predicateType, Format: f.entries[i].format, Where: f.entries[i].where})
		}
		switch {
		case len(match) > 0:
		case len(mismatch) > 0:
			return res, fail("the %s attestation does not say what is required: %s", rule.PredicateType, strings.Join(first(mismatch, 3), "; "))
		default:
			var have []string
			for _, a := range res.Attestations {
				have = append(have, a.PredicateType)
			}
			slices.Sort(have)
			have = slices.Compact(have)
			msg := fmt.Sprintf("no %s attestation signed by these keys", rule.PredicateType)
			if len(have) > 0 {
				msg += fmt.Sprintf(" (signed attestations found: %s)", strings.Join(have, ", "))
			}
			if len(attProblems) > 0 {
				msg += "; " + strings.Join(first(attProblems, 3), "; ")
			}
			return res, fail("%s%s", msg, unreadable(f))
		}
	}
	return res, nil
}

func hasAnnotations(have map[string]any, want map[string]string) bool {
	for k, v := range want {
		if s, ok := have[k].(string); !ok || s != v {
			return false
		}
	}
	return true
}

// matches checks the predicate against rule's dotted paths; "" when all hold.
func matches(predicate any, rule map[string]any) string {
	keys := make([]string, 0, len(rule))
	for k := range rule {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, path := range keys {
		cur := predicate
		for _, part := range strings.Split(path, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[part]
		}
		if !reflect.DeepEqual(normalize(cur), normalize(rule[path])) {
			got, _ := json.Marshal(cur)
			want, _ := json.Marshal(rule[path])
			return fmt.Sprintf("%s is %s, want %s", path, got, want)
		}
	}
	return ""
}

var sigTagPattern = regexp.MustCompile(`^sha256-([0-9a-f]{64})\.sig$`)

// otherSignedDigests names other digests of the repository that have
// signatures: the sign of a tag moved onto an image nobody signed.
func (r Registry) otherSignedDigests(ctx context.Context, t Target) string {
	opts, err := r.options(ctx, t.Digest.Context())
	if err != nil {
		return ""
	}
	tags, err := remote.List(t.Digest.Context(), opts...)
	if err != nil {
		return ""
	}
	var others []string
	for _, tag := range tags {
		if m := sigTagPattern.FindStringSubmatch(tag); m != nil && m[1] != t.Hex() {
			others = append(others, "sha256:"+m[1])
		}
	}
	if len(others) == 0 {
		return ""
	}
	return fmt.Sprintf(" (the repository holds signatures for other digests: %s; if %s was pushed again or moved, the image it names now was never signed)",
		strings.Join(first(others, 3), ", "), t.Ref.String())
}

func unreadable(f found) string {
	if len(f.unreadable) == 0 {
		return ""
	}
	return "; unreadable: " + strings.Join(first(f.unreadable, 3), "; ")
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}
