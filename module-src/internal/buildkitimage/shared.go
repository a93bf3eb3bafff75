package buildkitimage

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// Shared is what the buildkit_image runs of a set share in one process
// (buildkit_image_set): one connection per engine, and the engine's BuildKit
// as one builder whose builds share one session (builder.Group). Everything
// else — the options, the inputs digest and the host's records that decide
// whether to build, the builder choice, the build and its results — is
// buildkit_image's own, run by RunShared exactly as a task of its own.
type Shared struct {
	mu      sync.Mutex
	engines map[string]*sharedEngine
}

type sharedEngine struct {
	once sync.Once
	e    *engine.Engine
	err  error
	bk   *builder.EngineBuildKit
}

// NewShared returns an empty Shared; Close it after the runs.
func NewShared() *Shared { return &Shared{engines: map[string]*sharedEngine{}} }

// RunShared is buildkit_image's Run with what s shares.
func RunShared(s *Shared) module.RunFunc {
	return func(ctx context.Context, m *module.Module) (module.Result, error) { return run(ctx, m, s) }
}

// Engine is the engine connected with o, once per set of connection options.
func (s *Shared) Engine(ctx context.Context, o engine.Options) (*engine.Engine, error) {
	key, _ := json.Marshal(o)
	s.mu.Lock()
	se, ok := s.engines[string(key)]
	if !ok {
		se = &sharedEngine{}
		s.engines[string(key)] = se
	}
	s.mu.Unlock()
	se.once.Do(func() {
		se.e, se.err = engine.Connect(ctx, o)
		if se.err == nil {
			se.bk = builder.NewSharedEngineBuildKit(se.e.API, builder.NewGroup())
		}
	})
	return se.e, se.err
}

// engineBuildKit is the shared builder of an engine connected by engine.
func (s *Shared) engineBuildKit(e *engine.Engine) *builder.EngineBuildKit {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, se := range s.engines {
		if se.e == e {
			return se.bk
		}
	}
	return builder.NewEngineBuildKit(e.API)
}

// Sessions is how many BuildKit sessions the shared builders started (one
// per engine when its builds shared one).
func (s *Shared) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, se := range s.engines {
		if se.bk != nil {
			n += se.bk.Group().Sessions()
		}
	}
	return n
}

// Close ends the shared sessions and connections.
func (s *Shared) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, se := range s.engines {
		if se.bk != nil {
			se.bk.Group().Close()
			se.bk.Close()
		}
		if se.e != nil {
			se.e.Close()
		}
	}
}
