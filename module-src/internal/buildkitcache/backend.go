package buildkitcache

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	bkclient "github.com/moby/buildkit/client"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
)

// record is one build cache record, from either kind of builder.
type record struct {
	ID       string
	Type     string
	Size     int64
	InUse    bool
	Shared   bool
	LastUsed time.Time
}

// backend is a builder whose cache the module reads and prunes.
type backend interface {
	name() string
	usage(ctx context.Context) ([]record, error)
	prune(ctx context.Context, p policy, all bool) (deleted int, reclaimed int64, err error)
	close()
}

func openBackend(ctx context.Context, o Options) (backend, error) {
	if r, ok := o.Builder.Remote(); ok {
		c, err := r.Connect(ctx)
		if err != nil {
			return nil, err
		}
		n := o.Builder.Name
		if n == "" {
			n = o.Builder.Endpoint
		}
		return &buildkitBackend{c: c, label: n}, nil
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
		bk, err := c.Connect(ctx)
		if err != nil {
			e.Close()
			return nil, err
		}
		return &buildkitBackend{c: bk, label: c.Name, via: e}, nil
	}
	return &engineBackend{e: e}, nil
}

// engineBackend is the engine's embedded BuildKit, through the Docker API.
type engineBackend struct{ e *engine.Engine }

func (b *engineBackend) name() string { return "engine" }
func (b *engineBackend) close()       { b.e.Close() }

func (b *engineBackend) usage(ctx context.Context) ([]record, error) {
	cctx, cancel := b.e.Call(ctx)
	defer cancel()
	du, err := b.e.API.DiskUsage(cctx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.BuildCacheObject}})
	if err != nil {
		return nil, fmt.Errorf("build cache disk usage: %w", err)
	}
	out := make([]record, 0, len(du.BuildCache))
	for _, r := range du.BuildCache {
		last := r.CreatedAt
		if r.LastUsedAt != nil {
			last = *r.LastUsedAt
		}
		out = append(out, record{ID: r.ID, Type: r.Type, Size: r.Size, InUse: r.InUse, Shared: r.Shared, LastUsed: last})
	}
	return out, nil
}

func (b *engineBackend) prune(ctx context.Context, p policy, all bool) (int, int64, error) {
	args := filters.NewArgs()
	for k, v := range p.filters {
		args.Add(k, v)
	}
	if p.olderThan > 0 {
		args.Add("until", p.olderThan.String())
	}
	rep, err := b.e.API.BuildCachePrune(ctx, build.CachePruneOptions{All: all, KeepStorage: p.keepBytes, Filters: args})
	if err != nil {
		return 0, 0, err
	}
	return len(rep.CachesDeleted), int64(rep.SpaceReclaimed), nil
}

// buildkitBackend is a standalone BuildKit daemon, through its own API.
type buildkitBackend struct {
	c     *bkclient.Client
	label string
	via   *engine.Engine // the engine a container builder is reached through
}

func (b *buildkitBackend) name() string { return b.label }
func (b *buildkitBackend) close() {
	b.c.Close()
	if b.via != nil {
		b.via.Close()
	}
}

func (b *buildkitBackend) usage(ctx context.Context) ([]record, error) {
	du, err := b.c.DiskUsage(ctx)
	if err != nil {
		return nil, fmt.Errorf("build cache disk usage: %w", err)
	}
	out := make([]record, 0, len(du))
	for _, r := range du {
		last := r.CreatedAt
		if r.LastUsedAt != nil {
			last = *r.LastUsedAt
		}
		out = append(out, record{ID: r.ID, Type: string(r.RecordType), Size: r.Size, InUse: r.InUse, Shared: r.Shared, LastUsed: last})
	}
	return out, nil
}

func (b *buildkitBackend) prune(ctx context.Context, p policy, all bool) (int, int64, error) {
	var opts []bkclient.PruneOption
	if all {
		opts = append(opts, bkclient.PruneAll)
	}
	var fs []string
	for k, v := range p.filters {
		fs = append(fs, k+"=="+v)
	}
	if len(fs) > 0 {
		opts = append(opts, bkclient.WithFilter(fs))
	}
	if p.olderThan > 0 || p.keepBytes > 0 {
		// keep_storage is BuildKit's reserved space: prune until the cache fits it.
		opts = append(opts, bkclient.WithKeepOpt(p.olderThan, p.keepBytes, 0, 0))
	}
	ch := make(chan bkclient.UsageInfo)
	done := make(chan struct{})
	var n int
	var bytes int64
	go func() { // sums only: nothing here can panic
		defer close(done)
		for u := range ch {
			n++
			bytes += u.Size
		}
	}()
	err := b.c.Prune(ctx, ch, opts...)
	close(ch)
	<-done
	return n, bytes, err
}
