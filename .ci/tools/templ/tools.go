//go:build tools

// Package tools pins templ's generator, which turns the buildkit_report
// module's HTML page (module-src/internal/buildkitreport/*.templ) into Go code
// (see ../build.sh and `make generate`). Its own module, so the generator's
// dependencies never enter the root module's build list, and so never the
// version of a library linked into the shipped binary.
package tools

import (
	_ "github.com/a-h/templ/cmd/templ"
)
