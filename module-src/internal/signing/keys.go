// Package signing signs container images in a registry and verifies them, in
// the formats cosign writes and reads: a signature or in-toto attestation
// stored next to the image under cosign's sha256-<digest>.sig / .att tags, and
// a Sigstore bundle attached as an OCI 1.1 referrer. Keys are cosign key
// pairs. There is no transparency log and no certificate authority here:
// signatures are made without a Rekor entry and verified against the given
// public keys alone (cosign's --tlog-upload=false and --insecure-ignore-tlog).
package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// The PEM block types of cosign's encrypted private keys (older and newer).
const (
	cosignPrivateKeyType   = "ENCRYPTED COSIGN PRIVATE KEY"
	sigstorePrivateKeyType = "ENCRYPTED SIGSTORE PRIVATE KEY"
)

// ErrWrongPassword is returned by LoadPrivateKey when the password does not
// open the key.
var ErrWrongPassword = errors.New("the password does not decrypt the key")

// Signer is a private key that signs, with the name messages use for it
// (its file, say) and the base64 SHA-256 of its public key (the bundle hint).
type Signer struct {
	Name string
	signature.SignerVerifier
	hint string
}

// Verifier is a public key that verifies, with the name messages use for it.
type Verifier struct {
	Name string
	signature.Verifier
}

// LoadPrivateKey opens a cosign private key (PEM "ENCRYPTED SIGSTORE PRIVATE
// KEY" or "ENCRYPTED COSIGN PRIVATE KEY", as `cosign generate-key-pair`
// writes) with its password. ECDSA and RSA keys sign with SHA-256.
func LoadPrivateKey(name string, pemBytes, password []byte) (*Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("not a PEM file")
	}
	if block.Type != sigstorePrivateKeyType && block.Type != cosignPrivateKeyType {
		return nil, fmt.Errorf("a PEM %q block, not a cosign private key (%q, from cosign generate-key-pair)", block.Type, sigstorePrivateKeyType)
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		if strings.Contains(err.Error(), "decryption failed") {
			return nil, ErrWrongPassword
		}
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse the decrypted key: %w", err)
	}
	sv, err := signature.LoadSignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("load the key: %w", err)
	}
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, err
	}
	hint, err := keyHint(pub)
	if err != nil {
		return nil, err
	}
	return &Signer{Name: name, SignerVerifier: sv, hint: hint}, nil
}

// LoadPublicKey reads a PEM public key (cosign.pub).
func LoadPublicKey(name string, pemBytes []byte) (*Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, errors.New("not a PEM public key (cosign.pub, from cosign generate-key-pair or cosign public-key)")
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("load the key: %w", err)
	}
	return &Verifier{Name: name, Verifier: v}, nil
}

// Verifier returns the signer's own public key as a Verifier.
func (s *Signer) Verifier() *Verifier { return &Verifier{Name: s.Name, Verifier: s.SignerVerifier} }

// keyHint is the base64 SHA-256 of the DER public key, which Sigstore bundles
// carry as the hint of the key that signed them.
func keyHint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// GenerateKeyPair makes a cosign key pair as `cosign generate-key-pair`
// does: an ECDSA P-256 key, PKCS #8, encrypted with the password (scrypt +
// secretbox) in an "ENCRYPTED SIGSTORE PRIVATE KEY" PEM block, and its PEM
// public key.
func GenerateKeyPair(password []byte) (privPEM, pubPEM []byte, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, nil, err
	}
	pubPEM, err = cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: sigstorePrivateKeyType, Bytes: enc}), pubPEM, nil
}
