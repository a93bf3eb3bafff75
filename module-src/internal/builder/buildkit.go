package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/platforms"
	dockerconfig "github.com/docker/cli/cli/config"
	clitypes "github.com/docker/cli/cli/config/types"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/guard"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/transient"
)

// EngineBuildKit is the BuildKit embedded in a Docker Engine.
type EngineBuildKit struct {
	api *client.Client

	// A shared builder (NewSharedEngineBuildKit) keeps one connection and
	// what the engine said of its features for every build of a set, and
	// runs them in its group's session where it can.
	isShared bool
	group    *Group
	mu       sync.Mutex
	client   *bkclient.Client
	features *Features
}

// NewEngineBuildKit returns the builder behind the engine's /grpc endpoint.
func NewEngineBuildKit(api *client.Client) *EngineBuildKit { return &EngineBuildKit{api: api} }

// NewSharedEngineBuildKit is the engine's BuildKit for the builds of a set:
// one connection for all of them (Close it after them), its features asked
// once, and the builds in group's session (nil: a session per build).
func NewSharedEngineBuildKit(api *client.Client, group *Group) *EngineBuildKit {
	return &EngineBuildKit{api: api, isShared: true, group: group}
}

// Close closes a shared builder's connection.
func (b *EngineBuildKit) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.client != nil {
		b.client.Close()
		b.client = nil
	}
}

// Group is the session group of a shared builder (nil otherwise).
func (b *EngineBuildKit) Group() *Group { return b.group }

// shared says whether b is a set's builder (NewSharedEngineBuildKit).
func (b *EngineBuildKit) shared() bool { return b.isShared }

// sharesSessions says whether the engine's BuildKit takes a build's context
// and Dockerfile as frontend inputs from a session several builds share:
// Docker 20.10 (API 1.41, BuildKit v0.8) and later do; older engines get a
// session per build.
func (b *EngineBuildKit) sharesSessions() bool {
	return versions.GreaterThanOrEqualTo(b.api.ClientVersion(), "1.41")
}

// Name implements Builder.
func (b *EngineBuildKit) Name() string { return "buildkit (docker engine)" }

// conn is a connection for one call: a shared builder's own (release does
// nothing), else a new one (release closes it).
func (b *EngineBuildKit) conn(ctx context.Context) (c *bkclient.Client, release func(), err error) {
	if !b.shared() {
		c, err := b.connect(ctx)
		if err != nil {
			return nil, nil, err
		}
		return c, func() { c.Close() }, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.client == nil {
		if b.client, err = b.connect(ctx); err != nil {
			return nil, nil, err
		}
	}
	return b.client, func() {}, nil
}

func (b *EngineBuildKit) connect(ctx context.Context) (*bkclient.Client, error) {
	return bkclient.New(ctx, "",
		bkclient.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return b.api.DialHijack(ctx, "/grpc", "h2c", map[string][]string{})
		}),
		bkclient.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return b.api.DialHijack(ctx, "/session", proto, meta)
		}),
	)
}

// Driver implements Builder.
func (b *EngineBuildKit) Driver() string { return DriverDocker }

// Features implements Builder (featuresOf), from the engine's workers: one
// carrying a snapshotter label means the containerd image store (Docker
// 20.10's BuildKit v0.8 is on the classic one). An error means the engine
// serves no BuildKit.
func (b *EngineBuildKit) Features(ctx context.Context) (Features, error) {
	if b.shared() {
		b.mu.Lock()
		f := b.features
		b.mu.Unlock()
		if f != nil {
			return *f, nil
		}
	}
	c, release, err := b.conn(ctx)
	if err != nil {
		return Features{}, err
	}
	defer release()
	workers, err := c.ListWorkers(ctx)
	if err != nil {
		return Features{}, err
	}
	f := featuresOf(DriverDocker, containerdStore(workers), nil)
	if b.shared() {
		b.mu.Lock()
		b.features = &f
		b.mu.Unlock()
	}
	return f, nil
}

// Describe is what the engine's BuildKit says of itself (one connection).
func (b *EngineBuildKit) Describe(ctx context.Context) (*Description, error) {
	return describe(ctx, b.connect)
}

// Description is what a BuildKit says of itself: its workers, the platforms
// they run, and its version ("" before v0.11, such as Docker 20.10's v0.8,
// which has no Info call).
type Description struct {
	Workers   []*bkclient.WorkerInfo
	Platforms []string
	Version   string
}

func describe(ctx context.Context, connect func(context.Context) (*bkclient.Client, error)) (*Description, error) {
	c, err := connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	workers, err := c.ListWorkers(ctx)
	if err != nil {
		return nil, err
	}
	d := &Description{Workers: workers, Platforms: platformsOf(workers)}
	if info, err := c.Info(ctx); err == nil {
		d.Version = info.BuildkitVersion.Version
	}
	return d, nil
}

// platformsOf lists the platforms workers run (natively or through binfmt
// emulators registered when the daemon started).
func platformsOf(workers []*bkclient.WorkerInfo) []string {
	var out []string
	for _, w := range workers {
		for _, p := range w.Platforms {
			out = append(out, platforms.Format(platforms.Normalize(p)))
		}
	}
	return out
}

// containerdStore reports whether workers are those of an engine on the
// containerd image store (their worker carries a snapshotter label): only such
// an engine's BuildKit exports caches other than inline, and holds several
// platforms and attestations. Docker 20.10's BuildKit v0.8 does none of these.
func containerdStore(workers []*bkclient.WorkerInfo) bool {
	for _, w := range workers {
		if _, ok := w.Labels["org.mobyproject.buildkit.worker.snapshotter"]; ok {
			return true
		}
	}
	return false
}

// Build implements Builder.
func (b *EngineBuildKit) Build(ctx context.Context, req Request) (*Result, error) {
	c, release, err := b.conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to the engine's BuildKit: %w", err)
	}
	defer release()
	// The engine's own exporter names the image in the engine.
	image := bkclient.ExportEntry{Type: "moby", Attrs: map[string]string{"name": strings.Join(req.Tags, ",")}}
	if req.Push {
		image.Attrs["push"] = "true"
		if req.InsecurePush {
			image.Attrs["registry.insecure"] = "true"
		}
	}
	var group *Group
	if b.group.shareable(req) && b.sharesSessions() {
		group = b.group
	}
	// Without build.pull, images the engine has are read from its store (as
	// buildx does for the engine's builder): the module pins them there.
	res, err := solveIn(ctx, c, group, b.sessionDialer(), req, []bkclient.ExportEntry{image}, b.Name(), "local")
	if err != nil {
		return nil, err
	}
	if res.ImageID == "" && req.Export == nil {
		return nil, errors.New("BuildKit finished without reporting an image ID")
	}
	return res, nil
}

// solve runs one Dockerfile solve on c, exporting to exports (or to
// req.Export when set), with plain progress to req.Progress and step counts.
// resolveMode is how images are resolved without req.Pull ("" for BuildKit's default).
func solve(ctx context.Context, c *bkclient.Client, req Request, exports []bkclient.ExportEntry, name, resolveMode string) (*Result, error) {
	return solveIn(ctx, c, nil, nil, req, exports, name, resolveMode)
}

// solveIn is solve in group's session (dialled with dial), or in a session
// of the build's own when group is nil.
func solveIn(ctx context.Context, c *bkclient.Client, group *Group, dial session.Dialer, req Request, exports []bkclient.ExportEntry, name, resolveMode string) (*Result, error) {
	opt, err := solveOpt(req)
	if err != nil {
		return nil, err
	}
	if group != nil {
		s, err := group.session(dial)
		if err != nil {
			return nil, err
		}
		if opt.FrontendInputs, err = group.inputs(s, req); err != nil {
			return nil, err
		}
		opt.LocalMounts, opt.Session, opt.SharedKey = nil, nil, ""
		opt.SharedSession, opt.SessionPreInitialized = s, true
	}
	if resolveMode != "" && !req.Pull {
		opt.FrontendAttrs["image-resolve-mode"] = resolveMode
	}
	if req.Export != nil {
		exp, done, err := fileExport(*req.Export)
		if err != nil {
			return nil, err
		}
		defer done()
		opt.Exports = []bkclient.ExportEntry{exp}
	} else {
		opt.Exports = exports
	}

	progress := req.Progress
	if progress == nil {
		progress = io.Discard
	}
	display, err := progressui.NewDisplay(progress, progressui.PlainMode)
	if err != nil {
		return nil, err
	}
	ch := make(chan *bkclient.SolveStatus)
	tee := make(chan *bkclient.SolveStatus)
	steps := newStepCounter()
	var resp *bkclient.SolveResponse
	var warnings []bkclient.VertexWarning
	eg, ectx := errgroup.WithContext(ctx)
	// guard.Func: a panic in any of these becomes the build's error, not a crash.
	eg.Go(guard.Func(func() error {
		var err error
		resp, err = c.Solve(ectx, nil, *opt, ch)
		return err
	}))
	eg.Go(guard.Func(func() error {
		defer close(tee)
		for s := range ch {
			steps.add(s)
			tee <- s
		}
		return nil
	}))
	eg.Go(guard.Func(func() error {
		var err error
		// The display must drain the channel even when ctx ends, or Solve blocks.
		warnings, err = display.UpdateFrom(context.WithoutCancel(ctx), tee)
		return err
	}))
	if err := eg.Wait(); err != nil {
		return nil, classify(err)
	}
	res := &Result{Builder: name, ImageID: resp.ExporterResponse["containerimage.digest"]}
	if res.ImageID == "" {
		res.ImageID = resp.ExporterResponse["containerimage.config.digest"]
	}
	res.Steps, res.CachedSteps = steps.counts()
	for _, w := range warnings {
		res.Warnings = append(res.Warnings, string(w.Short))
	}
	return res, nil
}

// classify turns a solve error into a StepError when the Dockerfile itself
// failed, and a TransientError when something passing did (a daemon
// restarting, a dropped stream, a registry answering 5xx while BuildKit
// pulled, exported a cache or pushed): the caller retries only the latter.
func classify(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if transient.Is(err) {
		return &TransientError{Err: err}
	}
	return &StepError{Msg: err.Error()}
}

func solveOpt(req Request) (*bkclient.SolveOpt, error) {
	ctxFS, err := fsutil.NewFS(req.ContextDir)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(req.DockerfilePath))
	if err != nil {
		return nil, fmt.Errorf("Dockerfile directory: %w", err)
	}
	attrs := map[string]string{"filename": filepath.Base(req.DockerfilePath)}
	if req.Target != "" {
		attrs["target"] = req.Target
	}
	if len(req.Platforms) > 0 {
		attrs["platform"] = strings.Join(req.Platforms, ",")
	}
	for k, v := range req.Attest {
		attrs["attest:"+k] = v
	}
	for k, v := range req.Args {
		attrs["build-arg:"+k] = v
	}
	for k, v := range req.Labels {
		attrs["label:"+k] = v
	}
	if req.NoCache {
		attrs["no-cache"] = ""
	}
	if req.Pull {
		attrs["image-resolve-mode"] = "pull"
	}
	if len(req.ExtraHosts) > 0 {
		attrs["add-hosts"] = strings.Join(joinKV(req.ExtraHosts, "="), ",")
	}
	if req.ShmSize > 0 {
		attrs["shm-size"] = strconv.FormatInt(req.ShmSize, 10)
	}
	var entitlements []string
	switch req.Network {
	case "", "default", "bridge":
	case "host":
		attrs["force-network-mode"] = "host"
		entitlements = append(entitlements, "network.host")
	case "none":
		attrs["force-network-mode"] = "none"
	default:
		return nil, fmt.Errorf("network %q: BuildKit builds use default, host or none (use build_method: legacy for a named network)", req.Network)
	}
	cfg := dockerconfig.LoadDefaultConfigFile(io.Discard)
	for host, l := range req.Logins {
		cfg.AuthConfigs[host] = clitypes.AuthConfig{Username: l.Username, Password: l.Password, ServerAddress: host}
	}
	attachables := []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(cfg),
	})}
	if len(req.Secrets) > 0 {
		m := make(map[string][]byte, len(req.Secrets))
		for _, s := range req.Secrets {
			m[s.ID] = s.Value
		}
		attachables = append(attachables, secretsprovider.FromMap(m))
	}
	if len(req.SSH) > 0 {
		var agents []sshprovider.AgentConfig
		for _, s := range req.SSH {
			agents = append(agents, sshprovider.AgentConfig{ID: s.ID, Paths: s.Paths})
		}
		sp, err := sshprovider.NewSSHAgentProvider(agents)
		if err != nil {
			return nil, fmt.Errorf("ssh: %w", err)
		}
		attachables = append(attachables, sp)
	}
	return &bkclient.SolveOpt{
		SharedKey:           req.SharedKey,
		Frontend:            "dockerfile.v0",
		FrontendAttrs:       attrs,
		LocalMounts:         map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		CacheImports:        cacheEntries(req.CacheFrom),
		CacheExports:        cacheEntries(req.CacheTo),
		AllowedEntitlements: entitlements,
		Session:             attachables,
	}, nil
}

func cacheEntries(cs []Cache) []bkclient.CacheOptionsEntry {
	var out []bkclient.CacheOptionsEntry
	for _, c := range cs {
		out = append(out, bkclient.CacheOptionsEntry{Type: c.Type, Attrs: c.Attrs})
	}
	return out
}

// fileExport is the exporter entry for a local directory or a tarball.
func fileExport(e Export) (bkclient.ExportEntry, func(), error) {
	switch e.Type {
	case "local":
		if err := os.MkdirAll(e.Dest, 0o755); err != nil {
			return bkclient.ExportEntry{}, nil, fmt.Errorf("output dest: %w", err)
		}
		return bkclient.ExportEntry{Type: bkclient.ExporterLocal, OutputDir: e.Dest}, func() {}, nil
	case "tar", "oci":
		// Written beside dest and renamed on success: a failed export leaves no partial file.
		tmp, err := os.CreateTemp(filepath.Dir(e.Dest), ".export-*")
		if err != nil {
			return bkclient.ExportEntry{}, nil, fmt.Errorf("output dest: %w", err)
		}
		typ := bkclient.ExporterTar
		if e.Type == "oci" {
			typ = bkclient.ExporterOCI
		}
		ok := false
		entry := bkclient.ExportEntry{Type: typ, Output: func(map[string]string) (io.WriteCloser, error) {
			return &renameOnClose{File: tmp, dest: e.Dest, ok: &ok}, nil
		}}
		return entry, func() {
			if !ok {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}, nil
	}
	return bkclient.ExportEntry{}, nil, fmt.Errorf("unknown output type %q", e.Type)
}

// renameOnClose moves a finished export into place when the exporter closes it.
type renameOnClose struct {
	*os.File
	dest string
	ok   *bool
}

func (r *renameOnClose) Close() error {
	if err := r.File.Close(); err != nil {
		return err
	}
	if err := os.Rename(r.File.Name(), r.dest); err != nil {
		return err
	}
	*r.ok = true
	return nil
}

// stepCounter follows vertex updates and counts the Dockerfile's steps.
type stepCounter struct {
	mu     sync.Mutex
	cached map[string]bool // vertex digest -> cached, for completed user-visible vertices
}

func newStepCounter() *stepCounter { return &stepCounter{cached: map[string]bool{}} }

func (s *stepCounter) add(st *bkclient.SolveStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range st.Vertexes {
		// Dockerfile steps are named "[stage n/m] INSTRUCTION"; FROM only
		// resolves an image, so it is not a step that can run or be cached.
		if v.Completed == nil || v.Error != "" || strings.HasPrefix(v.Name, "[internal]") || !strings.HasPrefix(v.Name, "[") || strings.Contains(v.Name, "] FROM ") {
			continue
		}
		// A cached step can be reported again, uncached, when its layers are
		// fetched lazily from a cache import: once cached, it stays cached.
		s.cached[v.Digest.String()] = s.cached[v.Digest.String()] || v.Cached
	}
}

func (s *stepCounter) counts() (total, cached int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.cached {
		total++
		if c {
			cached++
		}
	}
	return total, cached
}
