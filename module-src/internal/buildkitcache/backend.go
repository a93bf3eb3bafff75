package buildkitcache

import (
	"context"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
)

// target is the builder whose cache the module reads and prunes: the
// engine's, or the docker-container or remote builder of the builder option.
type target struct {
	label  string // as results name it: "engine", or the builder's name
	cache  builder.BuildCache
	engine *engine.Engine // nil for a remote builder
}

func (t *target) close() {
	if t.engine != nil {
		t.engine.Close()
	}
}

func openTarget(ctx context.Context, o Options) (*target, error) {
	if r, ok := o.Builder.Remote(); ok {
		if err := r.Check(); err != nil {
			return nil, err
		}
		n := o.Builder.Name
		if n == "" {
			n = o.Builder.Endpoint
		}
		return &target{label: n, cache: builder.NewRemoteBuildKit(r, nil)}, nil
	}
	e, err := engine.Connect(ctx, o.Options)
	if err != nil {
		return nil, err
	}
	if c, ok := o.Builder.Container(e.API, e.Host); ok {
		if err := c.Check(); err != nil {
			e.Close()
			return nil, err
		}
		return &target{label: c.Name, cache: builder.NewContainerBuildKit(c, e.API), engine: e}, nil
	}
	return &target{label: "engine", cache: builder.NewEngineBuildKit(e.API), engine: e}, nil
}
