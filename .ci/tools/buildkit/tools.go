//go:build tools

// Package tools pins buildkitd and buildctl, which the tests run as a real
// standalone BuildKit daemon (see ../build.sh).
package tools

import (
	_ "github.com/moby/buildkit/cmd/buildctl"
	_ "github.com/moby/buildkit/cmd/buildkitd"
)
