package buildkitimage

import (
	"fmt"
	"strings"

	"github.com/containerd/platforms"
)

// checkPlatform refuses, before any work, a platform BuildKit would fail on
// only after the work started: not os/arch[/variant], or an operating system
// or architecture that containerd's platform parser (BuildKit's own) does not
// know, such as linux/amd46. option names it in the error ("build.platform[0]").
func checkPlatform(option, p string) error {
	spec, err := platforms.Parse(p)
	if err != nil {
		return fmt.Errorf("%s: %q is not a platform (os/arch[/variant], e.g. linux/arm64): %v", option, p, err)
	}
	if !strings.Contains(p, "/") {
		return nil // one word parses only when it is an OS or an architecture the parser knows
	}
	if !knownOS(spec.OS) {
		return fmt.Errorf("%s: %q: unknown operating system %q (e.g. linux, windows)", option, p, spec.OS)
	}
	if !knownArch(spec.Architecture) {
		return fmt.Errorf("%s: %q: unknown architecture %q (e.g. amd64, arm64, arm/v7, 386, ppc64le, s390x, riscv64)", option, p, spec.Architecture)
	}
	return nil
}

// The parser's own lists, asked with one word: alone, a specifier must be an
// operating system or an architecture it knows, and it fills in the other
// part from this host.

func knownOS(os string) bool {
	q, err := platforms.Parse(os)
	return err == nil && q.OS == os
}

func knownArch(arch string) bool {
	q, err := platforms.Parse(arch)
	return err == nil && q.Architecture == arch
}
