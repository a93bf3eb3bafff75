//go:build tools

// Package tools pins runc for the current Docker Engine: Debian's runc 1.1.5 is
// too old for containerd 2.4 (see ../build.sh and tests/scripts/engine-current.sh).
package tools

import (
	_ "github.com/opencontainers/runc"
)
