package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/filesync"
	"github.com/tonistiigi/fsutil"
)

// Group is one BuildKit session that the builds of a set share on one
// builder, as `docker buildx bake` builds its targets: the builds run
// concurrently on one solver, which solves a stage they share once, and one
// session serves every build's context and Dockerfile (one connection to
// the builder instead of one per build).
//
// Each build's context and Dockerfile directory are served under names of
// their own, derived from the build's SharedKey (per builder and context,
// with a new nonce when the builder must start a fresh copy: see
// buildctx.SessionKey), and handed to the Dockerfile frontend as its
// "context" and "dockerfile" inputs, the context filtered by the build's
// .dockerignore patterns. What BuildKit keeps of a context is per name, so
// two contexts never share a copy, as with a session per build.
//
// A build that brings secrets, SSH agents, registry logins or a file export
// (which a session serves for one build only: a secret of one image must
// never be readable by another image's build) runs in a session of its own.
type Group struct {
	mu    sync.Mutex
	dirs  map[string]fsutil.FS
	sess  *session.Session
	dead  chan struct{} // closed when sess stops running
	runs  int           // sessions started, for tests
	close context.CancelFunc
}

// NewGroup returns a group; its session starts with the first build that uses it.
func NewGroup() *Group { return &Group{dirs: map[string]fsutil.FS{}} }

// Close ends the group's session (after its builds).
func (g *Group) Close() {
	if g == nil {
		return
	}
	g.mu.Lock()
	s, cancel := g.sess, g.close
	g.sess = nil
	g.mu.Unlock()
	if s != nil {
		_ = s.Close()
		cancel()
	}
}

// Sessions is how many sessions the group started (one, unless one broke
// and the next build started another).
func (g *Group) Sessions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.runs
}

// shareable says whether req can run in the group's session.
func (g *Group) shareable(req Request) bool {
	return g != nil && len(req.Secrets) == 0 && len(req.SSH) == 0 && len(req.Logins) == 0 && req.Export == nil && !req.Push
}

// LookupDir implements filesync.DirSource over the builds' directories.
func (g *Group) LookupDir(name string) (fsutil.FS, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fs, ok := g.dirs[name]
	return fs, ok
}

// session returns the running session, starting one (with the docker CLI
// config's registry credentials, as a build's own session has) when there is
// none or the last one stopped.
func (g *Group) session(dial session.Dialer) (*session.Session, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sess != nil {
		select {
		case <-g.dead:
			g.sess = nil
		default:
			return g.sess, nil
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := session.NewSession(ctx, "jenkins_ha.buildkit-set")
	if err != nil {
		cancel()
		return nil, fmt.Errorf("start the set's BuildKit session: %w", err)
	}
	s.Allow(filesync.NewFSSyncProvider(g))
	cfg := dockerconfig.LoadDefaultConfigFile(io.Discard)
	s.Allow(authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{AuthConfigProvider: authprovider.LoadAuthConfig(cfg)}))
	dead := make(chan struct{})
	go func() {
		defer close(dead)
		_ = s.Run(ctx, dial)
	}()
	g.sess, g.dead, g.close = s, dead, cancel
	g.runs++
	return s, nil
}

// inputs serves req's context and Dockerfile directory in the group's
// session and returns them as the Dockerfile frontend's inputs.
func (g *Group) inputs(s *session.Session, req Request) (map[string]llb.State, error) {
	if req.SharedKey == "" {
		return nil, errors.New("a build in a shared session needs its context's shared key")
	}
	ctxFS, err := fsutil.NewFS(req.ContextDir)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	dfDir := filepath.Dir(req.DockerfilePath)
	dfFS, err := fsutil.NewFS(dfDir)
	if err != nil {
		return nil, fmt.Errorf("Dockerfile directory: %w", err)
	}
	key := req.SharedKey
	if len(key) > 32 {
		key = key[:32]
	}
	ctxName, dfName := "context-"+key, "dockerfile-"+key
	g.mu.Lock()
	g.dirs[ctxName], g.dirs[dfName] = ctxFS, dfFS
	g.mu.Unlock()
	df := filepath.Base(req.DockerfilePath)
	context := []llb.LocalOption{llb.SessionID(s.ID()), llb.SharedKeyHint(ctxName), llb.WithCustomName("[internal] load build context")}
	if len(req.Excludes) > 0 {
		context = append(context, llb.ExcludePatterns(req.Excludes))
	}
	return map[string]llb.State{
		"context": llb.Local(ctxName, context...),
		"dockerfile": llb.Local(dfName, llb.SessionID(s.ID()), llb.SharedKeyHint(dfName),
			llb.FollowPaths([]string{df, df + ".dockerignore"}), llb.WithCustomName("[internal] load build definition from "+df)),
	}, nil
}

// sessionDialer is the engine's /session endpoint.
func (b *EngineBuildKit) sessionDialer() session.Dialer {
	return func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
		return b.api.DialHijack(ctx, "/session", proto, meta)
	}
}
