//go:build tools

// Package tools pins Prometheus' promtool, which checks and unit-tests the
// jenkins_images role's alerting rules (see ../build.sh).
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
