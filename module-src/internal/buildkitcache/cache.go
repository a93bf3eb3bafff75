// Package buildkitcache is the buildkit_cache module: see, prune and reset the
// engine's build cache, and diagnose the build host. It only ever touches
// build cache records: never images, containers or volumes.
package buildkitcache

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/go-units"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// Options are the module's arguments after validation.
type Options struct {
	engine.Options
	State       string         `json:"state"`
	KeepStorage string         `json:"keep_storage"`
	OlderThan   string         `json:"older_than"`
	Filters     map[string]any `json:"filters"`
	All         bool           `json:"all"`
	CacheLimit  string         `json:"cache_limit"`
	Registries  []string       `json:"registries"`
	ScannerPath string         `json:"scanner_path"`
	TrivyCache  string         `json:"trivy_cache_dir"`
	MinFreeDisk string         `json:"min_free_disk"`
}

// Spec is the module's argument spec.
func Spec() module.Spec {
	opts := map[string]*module.Option{
		"state":           {Type: module.TypeStr, Default: "info", Choices: []any{"info", "pruned", "reset", "diagnose"}},
		"keep_storage":    {Type: module.TypeStr},
		"older_than":      {Type: module.TypeStr},
		"filters":         {Type: module.TypeDict},
		"all":             {Type: module.TypeBool, Default: false},
		"cache_limit":     {Type: module.TypeStr, Default: "10GB"},
		"registries":      {Type: module.TypeList, Elements: module.TypeStr},
		"scanner_path":    {Type: module.TypeStr, Default: "trivy"},
		"trivy_cache_dir": {Type: module.TypePath},
		"min_free_disk":   {Type: module.TypeStr, Default: "5GB"},
	}
	maps.Copy(opts, engine.ArgSpec())
	return module.Spec{Options: opts}
}

// Run is the module's entry point.
func Run(ctx context.Context, m *module.Module) (module.Result, error) {
	var o Options
	if err := m.Decode(&o); err != nil {
		return module.Result{}, err
	}
	p, err := parsePolicy(o)
	if err != nil {
		return module.Result{}, err
	}
	if o.State == "diagnose" {
		return diagnose(ctx, m, o, p)
	}
	e, err := engine.Connect(ctx, o.Options)
	if err != nil {
		return module.Result{}, err
	}
	defer e.Close()
	switch o.State {
	case "pruned":
		return prune(ctx, m, e, p, o.All)
	case "reset":
		return prune(ctx, m, e, policy{filters: p.filters}, true)
	}
	records, err := usage(ctx, e)
	if err != nil {
		return module.Result{}, err
	}
	return module.Result{Data: map[string]any{"cache": summarize(records, time.Now())}}, nil
}

// policy is keep_storage / older_than / filters, parsed.
type policy struct {
	keepBytes int64
	olderThan time.Duration
	filters   map[string]string
	limit     int64
	minFree   int64
}

func parsePolicy(o Options) (policy, error) {
	var p policy
	var err error
	if o.KeepStorage != "" {
		if p.keepBytes, err = units.RAMInBytes(o.KeepStorage); err != nil {
			return p, fmt.Errorf("keep_storage: %q is not a size such as 10GB: %v", o.KeepStorage, err)
		}
	}
	if o.OlderThan != "" {
		if p.olderThan, err = time.ParseDuration(o.OlderThan); err != nil || p.olderThan <= 0 {
			return p, fmt.Errorf("older_than: %q is not a duration such as 72h", o.OlderThan)
		}
	}
	if p.limit, err = units.RAMInBytes(o.CacheLimit); err != nil {
		return p, fmt.Errorf("cache_limit: %q is not a size such as 10GB: %v", o.CacheLimit, err)
	}
	if p.minFree, err = units.RAMInBytes(o.MinFreeDisk); err != nil {
		return p, fmt.Errorf("min_free_disk: %q is not a size such as 5GB: %v", o.MinFreeDisk, err)
	}
	p.filters = map[string]string{}
	for k, v := range o.Filters {
		switch k {
		case "until", "unused-for":
			return p, fmt.Errorf("filters.%s: use older_than", k)
		case "id", "parent", "type", "description", "inuse", "shared", "private":
		default:
			return p, fmt.Errorf("filters: unknown filter %q (id, parent, type, description, inuse, shared, private)", k)
		}
		p.filters[k] = fmt.Sprint(v)
	}
	return p, nil
}

func usage(ctx context.Context, e *engine.Engine) ([]*build.CacheRecord, error) {
	cctx, cancel := e.Call(ctx)
	defer cancel()
	du, err := e.API.DiskUsage(cctx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.BuildCacheObject}})
	if err != nil {
		return nil, fmt.Errorf("build cache disk usage: %w", err)
	}
	return du.BuildCache, nil
}

// summarize is state=info's report.
func summarize(records []*build.CacheRecord, now time.Time) map[string]any {
	var total, reclaimable int64
	byType := map[string]int{}
	var oldest, newest *time.Time
	for _, r := range records {
		total += r.Size
		if !r.InUse {
			reclaimable += r.Size
		}
		byType[r.Type]++
		t := lastUsed(r)
		if oldest == nil || t.Before(*oldest) {
			oldest = &t
		}
		if newest == nil || t.After(*newest) {
			newest = &t
		}
	}
	out := map[string]any{
		"total_bytes":       total,
		"total":             units.BytesSize(float64(total)),
		"reclaimable_bytes": reclaimable,
		"records":           len(records),
		"by_type":           byType,
		"builder":           "engine",
	}
	if oldest != nil {
		out["oldest_used"] = oldest.UTC().Format(time.RFC3339)
		out["newest_used"] = newest.UTC().Format(time.RFC3339)
		out["oldest_age_hours"] = int(now.Sub(*oldest).Hours())
	}
	return out
}

func lastUsed(r *build.CacheRecord) time.Time {
	if r.LastUsedAt != nil {
		return *r.LastUsedAt
	}
	return r.CreatedAt
}

// estimate is what a prune with p would delete, from the records alone (check
// mode): unused records older than older_than, then the least recently used
// until the cache fits keep_storage. The engine's own prune decides for real.
func estimate(records []*build.CacheRecord, p policy, all bool, now time.Time) (n int, bytes int64) {
	var total int64
	var candidates []*build.CacheRecord
	for _, r := range records {
		total += r.Size
		if r.InUse || (!all && r.Shared) || !matches(r, p.filters) {
			continue
		}
		candidates = append(candidates, r)
	}
	sort.Slice(candidates, func(i, j int) bool { return lastUsed(candidates[i]).Before(lastUsed(candidates[j])) })
	for _, r := range candidates {
		old := p.olderThan == 0 || now.Sub(lastUsed(r)) > p.olderThan
		over := p.keepBytes > 0 && total > p.keepBytes
		if p.olderThan > 0 && p.keepBytes > 0 {
			if !old && !over {
				continue
			}
		} else if p.keepBytes > 0 && !over {
			continue
		} else if !old {
			continue
		}
		n++
		bytes += r.Size
		total -= r.Size
	}
	return n, bytes
}

func matches(r *build.CacheRecord, f map[string]string) bool {
	if t, ok := f["type"]; ok && t != r.Type {
		return false
	}
	if v, ok := f["inuse"]; ok && (v == "true") != r.InUse {
		return false
	}
	if v, ok := f["shared"]; ok && (v == "true") != r.Shared {
		return false
	}
	if v, ok := f["private"]; ok && (v == "true") == r.Shared {
		return false
	}
	return true
}

// prune deletes build cache records by policy; reset is prune with all=true
// and no keep. changed only when something was deleted.
func prune(ctx context.Context, m *module.Module, e *engine.Engine, p policy, all bool) (module.Result, error) {
	before, err := usage(ctx, e)
	if err != nil {
		return module.Result{}, err
	}
	now := time.Now()
	data := map[string]any{"before": summarize(before, now)}
	if m.CheckMode {
		n, b := estimate(before, p, all, now)
		data["would_delete_records"] = n
		data["reclaimed_bytes"] = b
		data["reclaimed"] = units.BytesSize(float64(b))
		return module.Result{Changed: n > 0, Data: data}, nil
	}
	args := filters.NewArgs()
	for k, v := range p.filters {
		args.Add(k, v)
	}
	if p.olderThan > 0 {
		args.Add("until", p.olderThan.String())
	}
	rep, err := e.API.BuildCachePrune(ctx, build.CachePruneOptions{All: all, KeepStorage: p.keepBytes, Filters: args})
	if err != nil {
		return module.Result{Data: data}, fmt.Errorf("prune build cache: %w", err)
	}
	after, err := usage(ctx, e)
	if err != nil {
		return module.Result{Data: data}, err
	}
	data["after"] = summarize(after, now)
	data["deleted_records"] = len(rep.CachesDeleted)
	data["reclaimed_bytes"] = int64(rep.SpaceReclaimed)
	data["reclaimed"] = units.BytesSize(float64(rep.SpaceReclaimed))
	return module.Result{Changed: len(rep.CachesDeleted) > 0 || rep.SpaceReclaimed > 0, Data: data}, nil
}
