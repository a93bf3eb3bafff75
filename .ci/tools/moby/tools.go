//go:build tools

// Package tools pins dockerd, the current Docker Engine (containerd image store)
// the tests can run against beside Debian's 20.10 (see ../build.sh and
// tests/scripts/engine-current.sh).
package tools

import (
	_ "github.com/moby/moby/v2/cmd/dockerd"
)
