// Package buildkitsign is the buildkit_sign module: sign an image in its
// registry and attach signed attestations (state signed), or verify its
// signature and attestations against public keys (state verified), in
// cosign's formats, with the signing package.
package buildkitsign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/signing"
)

// Options are the module's arguments after validation.
type Options struct {
	Image            string            `json:"image"`
	State            string            `json:"state"`
	Digest           string            `json:"digest"`
	Key              string            `json:"key"`
	KeyPassword      *string           `json:"key_password"`
	KeyPasswordFile  string            `json:"key_password_file"`
	PublicKeys       []string          `json:"public_key"`
	Annotations      map[string]string `json:"annotations"`
	Attestations     []Attestation     `json:"attestations"`
	Referrers        string            `json:"referrers"`
	RegistryUsername string            `json:"registry_username"`
	RegistryPassword string            `json:"registry_password"`
	InsecureRegistry bool              `json:"insecure_registry"`
	Timeout          int               `json:"timeout"`
}

// Attestation is one entry of the attestations option.
type Attestation struct {
	Type          string         `json:"type"`
	Predicate     string         `json:"predicate"`
	PredicateData any            `json:"predicate_data"`
	Match         map[string]any `json:"match"`
}

// Spec is the module's argument spec.
func Spec() module.Spec {
	return module.Spec{
		Options: map[string]*module.Option{
			"image":  {Type: module.TypeStr, Required: true},
			"state":  {Type: module.TypeStr, Default: "signed", Choices: []any{"signed", "verified"}},
			"digest": {Type: module.TypeStr},
			// Signing: a cosign key pair's private key and its password.
			"key":               {Type: module.TypePath},
			"key_password":      {Type: module.TypeStr, NoLog: true, EnvFallback: []string{"COSIGN_PASSWORD"}},
			"key_password_file": {Type: module.TypePath},
			// Verifying: the public keys that may have signed.
			"public_key":  {Type: module.TypeList, Elements: module.TypePath, Aliases: []string{"public_keys"}},
			"annotations": {Type: module.TypeDict},
			"attestations": {Type: module.TypeList, Elements: module.TypeDict, Options: map[string]*module.Option{
				"type":           {Type: module.TypeStr, Required: true},
				"predicate":      {Type: module.TypePath},
				"predicate_data": {Type: module.TypeRaw},
				"match":          {Type: module.TypeDict},
			}, MutuallyExclusive: [][]string{{"predicate", "predicate_data"}}},
			"referrers":         {Type: module.TypeStr, Default: "auto", Choices: []any{"auto", "always", "never"}},
			"registry_username": {Type: module.TypeStr},
			"registry_password": {Type: module.TypeStr, NoLog: true},
			"insecure_registry": {Type: module.TypeBool, Default: false},
			"timeout":           {Type: module.TypeInt, Default: 120},
		},
		MutuallyExclusive: [][]string{{"key_password", "key_password_file"}},
		RequiredTogether:  [][]string{{"registry_username", "registry_password"}},
		RequiredIf: []module.RequiredIf{
			{Key: "state", Value: "signed", Requirements: []string{"key"}},
			{Key: "state", Value: "verified", Requirements: []string{"public_key"}},
		},
		Returns: returns(),
	}
}

// returns declares the module's result keys (documented in RETURN).
func returns() map[string]*module.Return {
	str := &module.Return{Type: module.TypeStr}
	// What state=signed wrote (signing.Attachment), what state=verified found (signing.Verified).
	written := map[string]*module.Return{"kind": str, "predicate_type": str, "tag": str, "referrer": str, "changed": {Type: module.TypeBool}}
	verified := map[string]*module.Return{"kind": str, "predicate_type": str, "key": str, "format": str, "where": str,
		"annotations": {Type: module.TypeDict}}
	either := maps.Clone(written)
	maps.Copy(either, verified)
	return map[string]*module.Return{
		"image":        str,
		"state":        str,
		"digest":       str,
		"signature":    {Type: module.TypeDict, Contains: written},
		"attestations": {Type: module.TypeList, Elements: module.TypeDict, Contains: either},
		"signatures":   {Type: module.TypeList, Elements: module.TypeDict, Contains: verified},
		"verified":     {Type: module.TypeBool},
	}
}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Run is the module's entry point. Verification only reads, so it runs in
// check mode too; signing in check mode says what it would write.
func Run(ctx context.Context, m *module.Module) (module.Result, error) {
	var o Options
	if err := m.Decode(&o); err != nil {
		return module.Result{}, err
	}
	if err := check(o); err != nil {
		return module.Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(o.Timeout)*time.Second)
	defer cancel()
	reg := signing.Registry{Username: o.RegistryUsername, Password: o.RegistryPassword, Insecure: o.InsecureRegistry}
	data := map[string]any{"image": o.Image, "state": o.State}

	// Keys first: a wrong password or key file fails before any registry work.
	var signer *signing.Signer
	var verifiers []*signing.Verifier
	if o.State == "signed" {
		s, err := loadSigner(m, o)
		if err != nil {
			return module.Result{Data: data}, err
		}
		signer = s
	} else {
		for _, p := range o.PublicKeys {
			b, err := os.ReadFile(p)
			if err != nil {
				return module.Result{Data: data}, fmt.Errorf("public_key: %w", err)
			}
			v, err := signing.LoadPublicKey(p, b)
			if err != nil {
				return module.Result{Data: data}, fmt.Errorf("public_key: %s: %w", p, err)
			}
			verifiers = append(verifiers, v)
		}
	}
	predicates, err := loadPredicates(o)
	if err != nil {
		return module.Result{Data: data}, err
	}

	t, err := reg.Resolve(ctx, o.Image)
	if err != nil {
		var ie *signing.InputError
		if errors.As(err, &ie) {
			return module.Result{Data: data}, fmt.Errorf("image: %w", err)
		}
		var ae *signing.AuthError
		if errors.As(err, &ae) {
			if o.RegistryUsername != "" {
				return module.Result{Data: data}, fmt.Errorf("registry_username/registry_password: %w (these were refused)", err)
			}
			return module.Result{Data: data}, fmt.Errorf("%w (registry_username/registry_password, or the docker config's credentials)", err)
		}
		return module.Result{Data: data}, err
	}
	data["digest"] = t.Digest.DigestStr()
	if o.Digest != "" && o.Digest != t.Digest.DigestStr() {
		verb := map[string]string{"signed": "signing it", "verified": "verification"}[o.State]
		return module.Result{Data: data}, fmt.Errorf("%s now points to %s, not to the digest %s given (the tag moved); %s refused",
			o.Image, t.Digest.DigestStr(), o.Digest, verb)
	}

	if o.State == "verified" {
		return verify(ctx, reg, o, t, verifiers, data)
	}

	so := signing.SignOptions{Annotations: o.Annotations, Referrers: signing.Referrers(o.Referrers), DryRun: m.CheckMode}
	signed, err := reg.Sign(ctx, t, signer, so, predicates)
	if err != nil {
		var ie *signing.InputError
		if errors.As(err, &ie) {
			err = fmt.Errorf("attestations: %w", err)
		}
		return module.Result{Data: data}, err
	}
	data["signature"] = signed.Signature
	data["attestations"] = signed.Attestations
	changed := signed.Signature.Changed
	for _, a := range signed.Attestations {
		changed = changed || a.Changed
	}
	atts := signed.Attestations
	msg := fmt.Sprintf("%s (%s) is signed by %s", o.Image, t.Digest.DigestStr(), o.Key)
	if !changed {
		msg += ": the signature and attestations were there already"
	} else if m.CheckMode {
		msg = fmt.Sprintf("%s (%s) would be signed by %s", o.Image, t.Digest.DigestStr(), o.Key)
	}
	if n := len(atts); n > 0 {
		msg += fmt.Sprintf(" (%d attestation(s))", n)
	}
	return module.Result{Changed: changed, Msg: msg, Data: data}, nil
}

func verify(ctx context.Context, reg signing.Registry, o Options, t signing.Target, keys []*signing.Verifier, data map[string]any) (module.Result, error) {
	vo := signing.VerifyOptions{Keys: keys, Signature: true, Annotations: o.Annotations}
	for _, a := range o.Attestations {
		uri, _ := signing.PredicateType(a.Type)
		vo.Attestations = append(vo.Attestations, signing.AttestationRule{PredicateType: uri, Match: a.Match})
	}
	res, err := reg.Verify(ctx, o.Image, t, vo)
	data["verified"] = err == nil
	data["signatures"] = res.Signatures
	data["attestations"] = res.Attestations
	if err != nil {
		return module.Result{Data: data}, err
	}
	keysUsed := []string{}
	for _, s := range res.Signatures {
		keysUsed = append(keysUsed, s.Key)
	}
	slices.Sort(keysUsed)
	return module.Result{Msg: fmt.Sprintf("%s (%s) is signed by %s%s", o.Image, t.Digest.DigestStr(),
		strings.Join(slices.Compact(keysUsed), ", "), attestedSuffix(len(o.Attestations))), Data: data}, nil
}

func attestedSuffix(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" and carries the %d attestation(s) required", n)
}

func check(o Options) error {
	if o.Timeout <= 0 {
		return fmt.Errorf("timeout: must be a positive number of seconds, got %d", o.Timeout)
	}
	if o.Digest != "" && !digestPattern.MatchString(o.Digest) {
		return fmt.Errorf("digest: must be sha256:<64 hex digits>, got %q", o.Digest)
	}
	if o.State == "verified" {
		if o.Key != "" {
			return errors.New("key: a private key signs (state: signed); to verify, give the public key as public_key")
		}
	} else if len(o.PublicKeys) > 0 {
		return errors.New("public_key: used with state: verified; state: signed signs with key")
	}
	for i, a := range o.Attestations {
		if _, ok := signing.PredicateType(a.Type); !ok {
			return fmt.Errorf("attestations[%d].type: %q is neither one of cosign's predicate types (%s) nor a URI", i, a.Type, strings.Join(typeNames(), ", "))
		}
		switch o.State {
		case "signed":
			if a.Predicate == "" && a.PredicateData == nil {
				return fmt.Errorf("attestations[%d]: give the predicate to sign, as a file (predicate) or inline (predicate_data)", i)
			}
			if a.Match != nil {
				return fmt.Errorf("attestations[%d].match: used with state: verified", i)
			}
		case "verified":
			if a.Predicate != "" || a.PredicateData != nil {
				return fmt.Errorf("attestations[%d]: predicate and predicate_data are signed with state: signed; to check what an attestation says, use match", i)
			}
		}
	}
	return nil
}

func typeNames() []string {
	names := make([]string, 0, len(signing.PredicateTypes))
	for k := range signing.PredicateTypes {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// loadSigner opens the private key with its password: key_password (or
// COSIGN_PASSWORD), key_password_file, or none.
func loadSigner(m *module.Module, o Options) (*signing.Signer, error) {
	b, err := os.ReadFile(o.Key)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	var password []byte
	from := "key_password (or COSIGN_PASSWORD)"
	switch {
	case o.KeyPasswordFile != "":
		from = "key_password_file " + o.KeyPasswordFile
		p, err := os.ReadFile(o.KeyPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("key_password_file: %w", err)
		}
		password = []byte(strings.TrimRight(string(p), "\r\n"))
		m.AddNoLogValue(string(password))
	case o.KeyPassword != nil:
		password = []byte(*o.KeyPassword)
	default:
		from = "no password (neither key_password, COSIGN_PASSWORD nor key_password_file is set)"
	}
	s, err := signing.LoadPrivateKey(o.Key, b, password)
	if errors.Is(err, signing.ErrWrongPassword) {
		return nil, fmt.Errorf("key: %s: the password from %s does not decrypt it", o.Key, from)
	}
	if err != nil {
		return nil, fmt.Errorf("key: %s: %w", o.Key, err)
	}
	return s, nil
}

// loadPredicates reads the predicates to sign: JSON files or inline data.
// An SPDX tag-value document (type spdx) is signed as a string, as cosign does.
func loadPredicates(o Options) ([]signing.Predicate, error) {
	if o.State != "signed" {
		return nil, nil
	}
	var out []signing.Predicate
	for i, a := range o.Attestations {
		uri, _ := signing.PredicateType(a.Type)
		p := signing.Predicate{Type: uri, Data: a.PredicateData}
		if a.Predicate != "" {
			b, err := os.ReadFile(a.Predicate)
			if err != nil {
				return nil, fmt.Errorf("attestations[%d].predicate: %w", i, err)
			}
			if err := json.Unmarshal(b, &p.Data); err != nil {
				if a.Type != "spdx" {
					return nil, fmt.Errorf("attestations[%d].predicate: %s is not JSON (%v)", i, a.Predicate, err)
				}
				p.Data = string(b)
			}
		}
		out = append(out, p)
	}
	return out, nil
}
