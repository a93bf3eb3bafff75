//go:build tools

// Package tools pins containerd and its runc shim for the current Docker Engine
// (see ../build.sh and tests/scripts/engine-current.sh).
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
)
