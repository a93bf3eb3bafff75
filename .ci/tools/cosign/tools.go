//go:build tools

// Package tools pins the cosign CLI (v3) that the signing tests check
// buildkit_sign against, both ways (see ../build.sh).
package tools

import (
	_ "github.com/sigstore/cosign/v3/cmd/cosign"
)
