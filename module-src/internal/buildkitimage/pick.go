package buildkitimage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildctx"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
)

// candidate is a builder the build may run on, in the order they are tried.
type candidate struct {
	open func(context.Context) (builder.Builder, error)
	// fellBack records why the build moves on to the next candidate
	// (actions and warnings); nil: the build does not move on from it.
	fellBack func(reason error)
}

// candidates are the builders to try, from build_method and builder: the
// daemon of builder.driver (then the engine's builders only with
// builder.fallback), the engine's BuildKit, and the classic builder (with
// build_method auto, or alone with legacy).
func (r *runner) candidates() []candidate {
	engineBK := candidate{open: func(context.Context) (builder.Builder, error) {
		if r.shared != nil {
			return r.shared.engineBuildKit(r.e), nil
		}
		return builder.NewEngineBuildKit(r.e.API), nil
	}}
	classic := candidate{open: func(context.Context) (builder.Builder, error) { return builder.NewLegacy(r.e.API), nil }}
	var list []candidate
	if r.daemonDriver() && !r.skipDaemon {
		d := r.o.Builder
		list = append(list, candidate{open: r.daemonBuilder})
		if !d.Fallback {
			return list
		}
		list[0].fellBack = func(err error) {
			r.actions = append(r.actions, fmt.Sprintf("Fell back from builder.driver=%s to the engine's BuildKit: %v", d.Driver, err))
			r.m.Warn(fmt.Sprintf("builder.driver=%s is not usable (%v); building on the engine's BuildKit (builder.fallback)", d.Driver, err))
		}
	}
	switch r.o.BuildMethod {
	case "legacy":
		return append(list, classic)
	case "buildkit":
		return append(list, engineBK)
	}
	fromDaemon := len(list) > 0 || r.skipDaemon
	engineBK.fellBack = func(err error) {
		var none *noBuildKit
		if errors.As(err, &none) {
			if fromDaemon {
				r.actions = append(r.actions, fmt.Sprintf("Fell back from the engine's BuildKit to the classic builder: %v", none.err))
			}
			r.m.Warn(fmt.Sprintf("the engine at %s has no BuildKit (%v); built with the classic builder", r.e.Host, none.err))
			return
		}
		// A user-defined build.network: docker_image builds on it with the
		// classic builder, and BuildKit has no such network mode.
		r.actions = append(r.actions, fmt.Sprintf("Built with the classic builder: %v", err))
	}
	return append(list, engineBK, classic)
}

// noBuildKit is an engine that does not answer on its BuildKit endpoint.
type noBuildKit struct{ err error }

func (e *noBuildKit) Error() string { return e.err.Error() }

// pickBuilder chooses the builder: the first candidate that answers and has
// what the request and the Dockerfile need (builder.Check), warning about
// what it builds without; the fallbacks on the way are said once it is
// chosen. When none can, the error says why.
func (r *runner) pickBuilder(ctx context.Context, df *buildctx.Dockerfile, req builder.Request) (builder.Builder, error) {
	needs := builder.Needs(req, df.BuildKitOnly)
	var fellBack []func()
	var refusals []refusal
	list := r.candidates()
	for i, c := range list {
		bld, warned, err := r.try(ctx, c, needs, df.Runs, req.Platforms)
		if err == nil {
			for _, f := range fellBack {
				f()
			}
			for _, n := range warned {
				r.m.Warn(builder.Lacks(bld.Name(), n))
				if n.Feature == builder.Attestations {
					r.res.Data["attestations"] = "not produced: " + bld.Name() + " cannot store them"
				}
			}
			return bld, nil
		}
		refusals = append(refusals, refusal{bld, err})
		if i == len(list)-1 || c.fellBack == nil {
			break
		}
		fellBack = append(fellBack, func() { c.fellBack(err) })
	}
	return nil, r.explain(refusals)
}

// refusal is a candidate that could not build, and why.
type refusal struct {
	bld builder.Builder // nil when it could not even be opened
	err error
}

// explain says why no candidate can build: the first one's reason, and a
// later one's only when it is news — it has a feature an earlier one lacked
// (a named network takes the classic builder, which then lacks BuildKit),
// or an earlier one did not answer at all.
func (r *runner) explain(refusals []refusal) error {
	var why []string
	lacked := map[builder.Feature]bool{}
	unusable := false
	for i, rf := range refusals {
		var refused *builder.Refused
		isRefused := errors.As(rf.err, &refused)
		if i > 0 && !unusable && isRefused {
			news := false
			for f := range lacked {
				if !slices.ContainsFunc(refused.Needs, func(n builder.Need) bool { return n.Feature == f }) {
					news = true
				}
			}
			if !news {
				continue
			}
		}
		why = append(why, r.reason(rf))
		if isRefused {
			for _, n := range refused.Needs {
				lacked[n.Feature] = true
			}
		} else {
			unusable = true
		}
	}
	return errors.New(strings.Join(why, "; "))
}

// try opens a candidate and checks it can build what needs ask for.
func (r *runner) try(ctx context.Context, c candidate, needs []builder.Need, runs bool, targets []string) (builder.Builder, []builder.Need, error) {
	bld, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, max(r.e.Timeout, 20*time.Second))
	f, err := bld.Features(cctx)
	cancel()
	if err != nil {
		if bld.Driver() == builder.DriverDocker {
			err = &noBuildKit{err: err}
		}
		return bld, nil, err
	}
	warned, err := builder.Check(bld.Name(), f, needs, runs, targets)
	return bld, warned, err
}

// reason is why a candidate cannot build, with the setting that chose it.
func (r *runner) reason(rf refusal) string {
	bld, err := rf.bld, rf.err
	var none *noBuildKit
	switch {
	case errors.As(err, &none) && r.o.BuildMethod == "buildkit":
		return fmt.Sprintf("build_method=buildkit: the engine at %s serves no BuildKit: %v", r.e.Host, none.err)
	case errors.As(err, &none):
		return fmt.Sprintf("the engine at %s has no BuildKit (%v)", r.e.Host, none.err)
	case bld != nil && bld.Driver() == builder.DriverLegacy && r.o.BuildMethod == "legacy":
		return "build_method=legacy: " + err.Error()
	}
	return err.Error()
}

// daemonBuilder is the builder of builder.driver docker-container or remote,
// made ready to build (a container builder is created or started).
func (r *runner) daemonBuilder(ctx context.Context) (builder.Builder, error) {
	if remote, ok := r.o.Builder.Remote(); ok {
		return builder.NewRemoteBuildKit(remote, r.e.API), nil
	}
	c, ok := r.o.Builder.Container(r.e.API, r.e.Host)
	if !ok {
		return nil, fmt.Errorf("builder.driver: %q is not a BuildKit daemon driver", r.o.Builder.Driver)
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	acts, err := c.Ensure(cctx)
	r.actions = append(r.actions, acts...)
	if err != nil {
		return nil, err
	}
	r.res.Data["builder_container"] = c.ContainerName()
	return builder.NewContainerBuildKit(c, r.e.API), nil
}
