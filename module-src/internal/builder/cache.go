package builder

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	bkclient "github.com/moby/buildkit/client"
)

// CacheRecord is one build cache record of a builder.
type CacheRecord struct {
	ID       string
	Type     string
	Size     int64
	InUse    bool
	Shared   bool
	LastUsed time.Time
}

// PruneOptions say which build cache records to delete: those matching
// Filters (BuildKit's record fields: id, parent, type, description, inuse,
// shared, private), unused for longer than KeepDuration, then the least
// recently used until the cache fits KeepBytes; All takes shared records too.
type PruneOptions struct {
	All          bool
	Filters      map[string]string
	KeepDuration time.Duration
	KeepBytes    int64
}

// BuildCache is a builder whose build cache can be read and pruned.
type BuildCache interface {
	CacheUsage(ctx context.Context) ([]CacheRecord, error)
	PruneCache(ctx context.Context, o PruneOptions) (deleted int, reclaimed int64, err error)
}

var (
	_ BuildCache = (*EngineBuildKit)(nil)
	_ BuildCache = (*DaemonBuildKit)(nil)
)

// CacheUsage implements BuildCache through the engine's API (its build cache is
// its BuildKit's).
func (b *EngineBuildKit) CacheUsage(ctx context.Context) ([]CacheRecord, error) {
	du, err := b.api.DiskUsage(ctx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.BuildCacheObject}})
	if err != nil {
		return nil, fmt.Errorf("build cache disk usage: %w", err)
	}
	out := make([]CacheRecord, 0, len(du.BuildCache))
	for _, r := range du.BuildCache {
		last := r.CreatedAt
		if r.LastUsedAt != nil {
			last = *r.LastUsedAt
		}
		out = append(out, CacheRecord{ID: r.ID, Type: r.Type, Size: r.Size, InUse: r.InUse, Shared: r.Shared, LastUsed: last})
	}
	return out, nil
}

// PruneCache implements BuildCache through the engine's API (Docker 20.10 reads
// all, keep-storage and filters; KeepDuration is its "until" filter).
func (b *EngineBuildKit) PruneCache(ctx context.Context, o PruneOptions) (int, int64, error) {
	args := filters.NewArgs()
	for k, v := range o.Filters {
		args.Add(k, v)
	}
	if o.KeepDuration > 0 {
		args.Add("until", o.KeepDuration.String())
	}
	rep, err := b.api.BuildCachePrune(ctx, build.CachePruneOptions{All: o.All, KeepStorage: o.KeepBytes, Filters: args})
	if err != nil {
		return 0, 0, err
	}
	return len(rep.CachesDeleted), int64(rep.SpaceReclaimed), nil
}

// CacheUsage implements BuildCache through the daemon's own API.
func (b *DaemonBuildKit) CacheUsage(ctx context.Context) ([]CacheRecord, error) {
	c, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	du, err := c.DiskUsage(ctx)
	if err != nil {
		return nil, fmt.Errorf("build cache disk usage: %w", err)
	}
	out := make([]CacheRecord, 0, len(du))
	for _, r := range du {
		last := r.CreatedAt
		if r.LastUsedAt != nil {
			last = *r.LastUsedAt
		}
		out = append(out, CacheRecord{ID: r.ID, Type: string(r.RecordType), Size: r.Size, InUse: r.InUse, Shared: r.Shared, LastUsed: last})
	}
	return out, nil
}

// PruneCache implements BuildCache through the daemon's own API (KeepBytes is its
// reserved space: it prunes until the cache fits).
func (b *DaemonBuildKit) PruneCache(ctx context.Context, o PruneOptions) (int, int64, error) {
	c, err := b.connect(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	var opts []bkclient.PruneOption
	if o.All {
		opts = append(opts, bkclient.PruneAll)
	}
	var fs []string
	for k, v := range o.Filters {
		fs = append(fs, k+"=="+v)
	}
	if len(fs) > 0 {
		opts = append(opts, bkclient.WithFilter(fs))
	}
	if o.KeepDuration > 0 || o.KeepBytes > 0 {
		opts = append(opts, bkclient.WithKeepOpt(o.KeepDuration, o.KeepBytes, 0, 0))
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
	err = c.Prune(ctx, ch, opts...)
	close(ch)
	<-done
	return n, bytes, err
}
