package buildkitimage

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPlatformOptionsAreCheckedBeforeAnyWork(t *testing.T) {
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/x86_64", "linux/aarch64", "linux/386",
		"linux/ppc64le", "linux/s390x", "linux/riscv64", "windows/amd64", "arm64", "linux"} {
		assert.NoError(t, checkPlatform("build.platform[0]", p), p)
	}
	for p, want := range map[string]string{
		"linux/amd46":   `build.platform[0]: "linux/amd46": unknown architecture "amd46"`,
		"linux/arm65/8": `unknown architecture "arm65"`,
		"linx/amd64":    `unknown operating system "linx"`,
		"amd46":         `is not a platform`,
		"no such/thing": `is not a platform`,
	} {
		assert.ErrorContains(t, checkPlatform("build.platform[0]", p), want, p)
	}

	base := Options{Name: "x", Source: "build", State: "present", BuildTimeout: 60, Build: &BuildOptions{Path: "/tmp"}}
	o := base
	o.Build = &BuildOptions{Path: "/tmp", Platform: []string{"linux/amd64", "linux/amd46"}}
	assert.ErrorContains(t, CheckOptions(o), `build.platform[1]: "linux/amd46": unknown architecture "amd46"`)
	o = base
	o.Source, o.Build, o.Pull = "pull", nil, &PullOptions{Platform: "linux/sparc65"}
	assert.ErrorContains(t, CheckOptions(o), `pull.platform: "linux/sparc65": unknown architecture`)
}
