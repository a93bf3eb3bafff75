//go:build tools

// Package tools pins Trivy, which buildkit_scan's tests run offline (see ../build.sh).
package tools

import (
	_ "github.com/aquasecurity/trivy/cmd/trivy"
)
