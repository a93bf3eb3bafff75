// Package builder builds a Dockerfile into an engine image. A Builder hides
// how: BuildKit embedded in the Docker Engine (reached over the engine's /grpc
// and /session endpoints), or the engine's classic builder for engines and
// Dockerfiles that need it.
package builder

import (
	"context"
	"fmt"
	"io"
)

// Request is one build, with the option names of community.docker's docker_image.
type Request struct {
	ContextDir     string   // absolute build context
	DockerfilePath string   // absolute Dockerfile path
	Excludes       []string // .dockerignore patterns
	Tags           []string // repo:tag names the image gets
	Args           map[string]string
	Labels         map[string]string
	Target         string
	Platforms      []string // target platforms; several make a manifest list
	NoCache        bool
	Pull           bool
	Network        string
	ExtraHosts     map[string]string // host -> IP
	CacheFrom      []Cache
	CacheTo        []Cache
	ShmSize        int64 // bytes, 0 = engine default

	// BuildKit only.
	// SharedKey is the session's shared key: BuildKit keeps its synced copy
	// of the local sources (context, Dockerfile directory) per key, so it must
	// never be shared between contexts (buildctx.Context.SessionKey).
	SharedKey string
	Secrets   []Secret
	SSH       []SSH
	// Push has BuildKit push the result under Tags (InsecurePush: over plain
	// HTTP or to a registry with an untrusted certificate).
	Push         bool
	InsecurePush bool
	// Logins are registry credentials by host for BuildKit's own pushes and
	// pulls (else the docker CLI config's).
	Logins map[string]Login
	// NoLoad leaves the result out of the engine (a daemon builder's push only).
	NoLoad bool
	// Attest are attestations by kind ("provenance", "sbom") with their attributes.
	Attest map[string]string
	// Export, when set, writes the result there instead of into the engine's images.
	Export *Export

	// Classic builder only.
	Remove bool
	Limits Limits

	// Progress receives the plain build log as it happens.
	Progress io.Writer
}

// Login is a registry user and password.
type Login struct {
	Username string
	Password string
}

// Cache is a cache import or export: a BuildKit cache type and its attributes.
type Cache struct {
	Type  string
	Attrs map[string]string
}

// Secret is a build secret, held in memory and handed to BuildKit over the
// session when a RUN --mount=type=secret asks for it.
type Secret struct {
	ID    string
	Value []byte
}

// SSH is an SSH agent socket or key files forwarded for RUN --mount=type=ssh.
type SSH struct {
	ID    string
	Paths []string
}

// Export is a file output of the build: BuildKit's local, tar or oci exporter.
type Export struct {
	Type string // local, tar or oci
	Dest string
}

// Limits are docker_image's build.container_limits (classic builder only).
type Limits struct {
	Memory     int64
	MemorySwap int64
	CPUShares  int64
	CPUSetCPUs string
}

// Result is what a finished build reports.
type Result struct {
	ImageID     string
	Builder     string // which builder ran it, e.g. "buildkit (docker engine)"
	Steps       int    // build steps run or taken from cache
	CachedSteps int    // of which from cache
	Warnings    []string
}

// Builder runs builds.
type Builder interface {
	// Name says which builder this is, for results and messages.
	Name() string
	// Driver is its kind, machine-readable (DriverDocker, ...).
	Driver() string
	// Features says what it can do (features.go); asking is also the proof
	// that it answers, so an error means it cannot build at all now.
	Features(ctx context.Context) (Features, error)
	// Build runs one build. The returned error is a *StepError when a build
	// step (not the connection) failed.
	Build(ctx context.Context, req Request) (*Result, error)
}

// StepError is a build that ran and failed in the Dockerfile itself: retrying
// it would fail the same way.
type StepError struct {
	Msg string
}

func (e *StepError) Error() string { return e.Msg }

// TransientError is a build that failed on something passing (a registry
// answering 5xx while BuildKit pushed or exported a cache): retrying may work.
type TransientError struct {
	Err error
}

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

func joinKV(m map[string]string, sep string) []string {
	out := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, fmt.Sprintf("%s%s%s", k, sep, m[k]))
	}
	return out
}
