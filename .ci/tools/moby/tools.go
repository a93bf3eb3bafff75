//go:build tools

// Package tools pins dockerd, the current Docker Engine (containerd image store)
// the tests can run against beside Debian's 20.10, and its docker-proxy (Debian's
// 20.10 docker-proxy does not speak the current one's protocol: published ports
// fail with "failed to start docker-proxy"); see ../build.sh and
// tests/scripts/engine-current.sh.
package tools

import (
	_ "github.com/moby/moby/v2/cmd/docker-proxy"
	_ "github.com/moby/moby/v2/cmd/dockerd"
)
