package builder

import (
	"fmt"
	"strings"

	"github.com/containerd/platforms"
)

// Feature is something a build may ask of a builder. Each builder says which
// it has (Builder.Features); Needs lists what a request asks for; Check is
// the one place that turns a missing feature into a refusal before any work,
// or a build without it and a warning. Adding a feature is one constant, one
// line in lacking, and the builders that have it in featuresOf.
type Feature string

const (
	// BuildKit is BuildKit's Dockerfile (RUN --mount, heredocs, COPY --link,
	// # syntax), build secrets, SSH forwarding, cache exports and file outputs.
	BuildKit Feature = "buildkit"
	// CacheExport is a cache_to other than inline (registry, local, s3, ...).
	CacheExport Feature = "cache-export"
	// MultiPlatform is several platforms under one name.
	MultiPlatform Feature = "multi-platform"
	// Attestations are provenance and SBOM kept with the image.
	Attestations Feature = "attestations"
	// DirectPush is the builder pushing the result itself.
	DirectPush Feature = "direct-push"
	// NamedNetwork is RUN steps on a user-defined network.
	NamedNetwork Feature = "named-network"
	// ContainerLimits are memory and CPU limits per build (build.container_limits).
	ContainerLimits Feature = "container-limits"
)

// Drivers, as results report them (builder_driver).
const (
	DriverDocker          = "docker"           // the engine's embedded BuildKit
	DriverDockerContainer = "docker-container" // a BuildKit daemon in a container on the engine
	DriverRemote          = "remote"           // a standalone BuildKit daemon
	DriverLegacy          = "legacy"           // the engine's classic builder
)

// featuresOf is what each kind of builder can do: the one table of it.
// containerdStore says whether the engine keeps images in the containerd
// image store (only then does its embedded BuildKit export caches, hold
// several platforms and attestations); platforms are what a daemon's
// workers run.
func featuresOf(driver string, containerdStore bool, platforms []string) Features {
	switch driver {
	case DriverLegacy:
		return Features{Has: map[Feature]bool{NamedNetwork: true, ContainerLimits: true}}
	case DriverDocker:
		return Features{Has: map[Feature]bool{
			BuildKit: true, DirectPush: true, CacheExport: containerdStore, MultiPlatform: containerdStore, Attestations: containerdStore,
		}}
	default: // a BuildKit daemon of its own: everything but a named network and the classic builder's limits
		return Features{Has: map[Feature]bool{
			BuildKit: true, DirectPush: true, CacheExport: true, MultiPlatform: true, Attestations: true,
		}, Platforms: platforms}
	}
}

// Features are what one builder can do.
type Features struct {
	Has map[Feature]bool
	// Platforms are the platforms its RUN steps can run on (natively or
	// through emulators), when it says; nil when it is not asked.
	Platforms []string
}

// Need is one thing a build asks for: the feature, and the option (or
// Dockerfile line) that asks for it, with what it asks.
type Need struct {
	Feature Feature
	Option  string
	Detail  string
}

func (n Need) String() string {
	if n.Detail == "" {
		return n.Option
	}
	return n.Option + ": " + n.Detail
}

// lacking says what a builder without a feature does: refuse the build, or
// build without it and warn (warn true). The message names the need (its
// option) and the builder ("%[1]s" and "%[2]s"), and how to get the feature.
var lacking = map[Feature]struct {
	warn bool
	msg  string
}{
	BuildKit:        {msg: "%[1]s needs BuildKit, which %[2]s is not: build with BuildKit (build_method auto or buildkit, on an engine that serves it)"},
	CacheExport:     {msg: "%[1]s needs a BuildKit that exports caches; %[2]s exports type=inline only (the classic image store, e.g. Docker 20.10): use builder.driver docker-container or remote, or an engine on the containerd image store"},
	MultiPlatform:   {msg: "%[1]s, but %[2]s keeps one platform per image (the classic image store, e.g. Docker 20.10): use builder.driver docker-container or remote with push: true, or an engine on the containerd image store"},
	Attestations:    {warn: true, msg: "%[1]s: %[2]s cannot store attestations (the classic image store); none were produced. Use builder.driver docker-container or remote with push: true"},
	DirectPush:      {msg: "%[1]s: %[2]s cannot push the result itself: use builder.driver docker-container or remote"},
	NamedNetwork:    {msg: "%[1]s, which %[2]s cannot use: BuildKit takes default, host or none; only the classic builder runs steps on a named network (build_method auto or legacy)"},
	ContainerLimits: {warn: true, msg: "%[1]s applies to the classic builder only; %[2]s ignores it (use a docker-container builder with builder.memory and builder.cpus)"},
}

// Needs lists what req asks of a builder. buildKitOnly are the Dockerfile's
// lines only BuildKit builds ("line N: what"); runs says whether it has RUN
// steps (which need each target platform's CPU or an emulator).
func Needs(req Request, buildKitOnly []string) []Need {
	var needs []Need
	for _, l := range buildKitOnly {
		needs = append(needs, Need{Feature: BuildKit, Option: "build.dockerfile", Detail: l})
	}
	if len(req.Secrets) > 0 {
		needs = append(needs, Need{Feature: BuildKit, Option: "build.secrets"})
	}
	if len(req.SSH) > 0 {
		needs = append(needs, Need{Feature: BuildKit, Option: "build.ssh"})
	}
	if req.Export != nil {
		needs = append(needs, Need{Feature: BuildKit, Option: "build.outputs", Detail: "type=" + req.Export.Type})
	}
	for i, c := range req.CacheTo {
		opt := fmt.Sprintf("build.cache_to[%d]", i)
		needs = append(needs, Need{Feature: BuildKit, Option: opt, Detail: "type=" + c.Type})
		if c.Type != "inline" {
			needs = append(needs, Need{Feature: CacheExport, Option: opt, Detail: "type=" + c.Type})
		}
	}
	if n := len(req.Platforms); n > 1 {
		needs = append(needs, Need{Feature: MultiPlatform, Option: "build.platform", Detail: fmt.Sprintf("lists %d platforms", n)})
	}
	if len(req.Attest) > 0 {
		needs = append(needs, Need{Feature: Attestations, Option: "build.provenance/build.sbom"})
	}
	if req.Push {
		needs = append(needs, Need{Feature: DirectPush, Option: "push"})
	}
	if IsNamedNetwork(req.Network) {
		needs = append(needs, Need{Feature: NamedNetwork, Option: "build.network", Detail: fmt.Sprintf("%q is a named network", req.Network)})
	}
	if req.Limits != (Limits{}) {
		needs = append(needs, Need{Feature: ContainerLimits, Option: "build.container_limits"})
	}
	return needs
}

// IsNamedNetwork says whether network names a user-defined network rather
// than one of the modes BuildKit has.
func IsNamedNetwork(network string) bool {
	switch network {
	case "", "default", "bridge", "host", "none":
		return false
	}
	return true
}

// Check decides whether the builder called name, with features f, can build
// what needs ask for. It returns the needs it builds without (each to be
// warned about: Lacks says how), and a *Refused error when it cannot build.
// runs says whether the Dockerfile has RUN steps, checked against
// f.Platforms for each target platform.
func Check(name string, f Features, needs []Need, runs bool, targets []string) ([]Need, error) {
	refused := &Refused{Builder: name}
	var warned []Need
	for _, n := range needs {
		if f.Has[n.Feature] {
			continue
		}
		if lacking[n.Feature].warn {
			warned = append(warned, n)
		} else {
			refused.Needs = append(refused.Needs, n)
			refused.msgs = append(refused.msgs, Lacks(name, n))
		}
	}
	if runs && f.Platforms != nil {
		for i, p := range targets {
			if msg := runsOn(f.Platforms, p); msg != "" {
				refused.msgs = append(refused.msgs, fmt.Sprintf("build.platform[%d]: %s %s", i, name, msg))
			}
		}
	}
	if len(refused.msgs) > 0 {
		return warned, refused
	}
	return warned, nil
}

// Refused is a builder that cannot build a request: what it lacks, and why.
type Refused struct {
	Builder string
	Needs   []Need // the needs it lacks the feature for
	msgs    []string
}

func (e *Refused) Error() string { return strings.Join(e.msgs, "; ") }

// Lacks says what the builder called name does about a need it lacks the
// feature for, naming the option and how to get the feature.
func Lacks(name string, n Need) string {
	return fmt.Sprintf(lacking[n.Feature].msg, n, name)
}

// runsOn says why RUN steps for platform cannot run on a builder running
// have ("" when they can), with how to get an emulator.
func runsOn(have []string, platform string) string {
	spec, err := platforms.Parse(platform)
	if err != nil {
		return err.Error()
	}
	for _, h := range have {
		if hs, err := platforms.Parse(h); err == nil && platforms.Only(hs).Match(spec) {
			return ""
		}
	}
	return fmt.Sprintf("cannot run RUN steps for %s (it runs %s): register QEMU emulators with binfmt_misc (Debian: apt-get install qemu-user-static binfmt-support) and restart the builder (buildkit_cache state=reset)", platforms.Format(spec), strings.Join(have, ", "))
}
