package builder

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNeeds(t *testing.T) {
	req := Request{
		Secrets: []Secret{{ID: "s"}}, SSH: []SSH{{ID: "default"}}, Export: &Export{Type: "tar"},
		CacheTo:   []Cache{{Type: "inline"}, {Type: "registry"}},
		Platforms: []string{"linux/amd64", "linux/arm64"}, Attest: map[string]string{"provenance": "mode=min"},
		Push: true, Network: "ci-net", Limits: Limits{Memory: 1 << 30},
	}
	var got []string
	for _, n := range Needs(req, []string{"line 3: RUN --mount=type=cache"}) {
		got = append(got, string(n.Feature)+" "+n.String())
	}
	assert.Equal(t, []string{
		"buildkit build.dockerfile: line 3: RUN --mount=type=cache",
		"buildkit build.secrets",
		"buildkit build.ssh",
		"buildkit build.outputs: type=tar",
		"buildkit build.cache_to[0]: type=inline",
		"buildkit build.cache_to[1]: type=registry",
		"cache-export build.cache_to[1]: type=registry",
		"multi-platform build.platform: lists 2 platforms",
		"attestations build.provenance/build.sbom",
		"direct-push push",
		`named-network build.network: "ci-net" is a named network`,
		"container-limits build.container_limits",
	}, got)
	assert.Empty(t, Needs(Request{Network: "host", Platforms: []string{"linux/amd64"}}, nil), "one platform and a BuildKit network mode need nothing")
}

// TestCheckEachFeatureAlone: each missing feature alone, on each kind of
// builder, is refused or warned about as the table in features.go says, and
// the message names the option and how to get the feature.
func TestCheckEachFeatureAlone(t *testing.T) {
	engine20 := featuresOf(DriverDocker, false, nil)
	engineContainerd := featuresOf(DriverDocker, true, nil)
	daemon := featuresOf(DriverRemote, true, []string{"linux/amd64", "linux/386"})
	classic := featuresOf(DriverLegacy, false, nil)
	cases := []struct {
		name     string
		f        Features
		need     Need
		refused  string // a part of the refusal, "" when it builds
		warned   bool
		nameHint string
	}{
		{"classic, a BuildKit line", classic, Need{BuildKit, "build.dockerfile", "line 2: heredoc in RUN"}, "line 2: heredoc in RUN needs BuildKit, which classic is not", false, ""},
		{"engine 20.10, a registry cache export", engine20, Need{CacheExport, "build.cache_to[0]", "type=registry"}, "exports type=inline only", false, ""},
		{"engine 20.10, two platforms", engine20, Need{MultiPlatform, "build.platform", "lists 2 platforms"}, "keeps one platform per image", false, ""},
		{"engine 20.10, attestations", engine20, Need{Attestations, "build.provenance/build.sbom", ""}, "", true, ""},
		{"engine containerd, attestations", engineContainerd, Need{Attestations, "build.provenance/build.sbom", ""}, "", false, ""},
		{"engine, a named network", engine20, Need{NamedNetwork, "build.network", `"n" is a named network`}, `build.network: "n" is a named network, which engine cannot use`, false, ""},
		{"daemon, a named network", daemon, Need{NamedNetwork, "build.network", `"n" is a named network`}, "only the classic builder", false, ""},
		{"engine, container limits", engine20, Need{ContainerLimits, "build.container_limits", ""}, "", true, ""},
		{"classic, container limits", classic, Need{ContainerLimits, "build.container_limits", ""}, "", false, ""},
		{"classic, a push by the builder", classic, Need{DirectPush, "push", ""}, "cannot push the result itself", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := map[bool]string{true: "classic", false: "engine"}[c.f.Has[NamedNetwork]]
			warned, err := Check(name, c.f, []Need{c.need}, false, nil)
			if c.refused != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.refused)
				assert.Contains(t, err.Error(), c.need.Option)
			} else {
				assert.NoError(t, err)
			}
			assert.Equal(t, c.warned, len(warned) == 1)
		})
	}
}

func TestCheckPlatformsTheBuilderRuns(t *testing.T) {
	daemon := Features{Has: map[Feature]bool{BuildKit: true}, Platforms: []string{"linux/amd64", "linux/arm64"}}
	_, err := Check("buildkit (remote x)", daemon, nil, true, []string{"linux/arm64", "linux/mips64le"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "build.platform[1]: buildkit (remote x) cannot run RUN steps for linux/mips64le")
	assert.Contains(t, err.Error(), "qemu-user-static")
	_, err = Check("buildkit (remote x)", daemon, nil, false, []string{"linux/mips64le"})
	assert.NoError(t, err, "without RUN steps any platform builds (nothing runs)")
	_, err = Check("engine", Features{Has: map[Feature]bool{BuildKit: true}}, nil, true, []string{"linux/mips64le"})
	assert.NoError(t, err, "a builder that does not say its platforms is not checked")
}
