//go:build tools

// Package tools pins the tools the tests and benchmarks build from the Go
// module proxy (see build.sh); it is not part of the collection.
package tools

import (
	_ "github.com/docker/buildx/cmd/buildx"
)
