//go:build tools

// Package tools pins the cosign CLI v2, the other major version the signing
// tests check buildkit_sign against (see ../build.sh).
package tools

import (
	_ "github.com/sigstore/cosign/v2/cmd/cosign"
)
