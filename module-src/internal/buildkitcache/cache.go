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

	"github.com/docker/go-units"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// Options are the module's arguments after validation.
type Options struct {
	engine.Options
	State       string          `json:"state"`
	KeepStorage string          `json:"keep_storage"`
	OlderThan   string          `json:"older_than"`
	Filters     map[string]any  `json:"filters"`
	All         bool            `json:"all"`
	CacheLimit  string          `json:"cache_limit"`
	Registries  []string        `json:"registries"`
	ScannerPath string          `json:"scanner_path"`
	TrivyCache  string          `json:"trivy_cache_dir"`
	MinFreeDisk string          `json:"min_free_disk"`
	Builder     *builder.Choice `json:"builder"`
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
		"builder":         builder.ArgSpec(),
	}
	maps.Copy(opts, engine.ArgSpec())
	return module.Spec{Options: opts, Returns: returns()}
}

// returns declares the module's result keys (documented in RETURN).
func returns() map[string]*module.Return {
	str, integer, dict := &module.Return{Type: module.TypeStr}, &module.Return{Type: module.TypeInt}, &module.Return{Type: module.TypeDict}
	return map[string]*module.Return{
		// state=info
		"cache": dict,
		"builders": {Type: module.TypeList, Elements: module.TypeDict, Contains: map[string]*module.Return{
			"builder":   str,
			"container": str,
			"state":     str,
			"cache":     dict,
			"error":     str,
		}},
		// state=pruned, state=reset
		"before":               dict,
		"after":                dict,
		"reclaimed_bytes":      integer,
		"reclaimed":            str,
		"deleted_records":      integer,
		"would_delete_records": integer,
		// state=reset of a docker-container builder
		"builder": {Type: module.TypeDict, Contains: map[string]*module.Return{
			"name":          str,
			"container":     str,
			"volume":        str,
			"status_before": str,
		}},
		"actions": {Type: module.TypeList, Elements: module.TypeStr},
		// state=diagnose
		"status": str,
		"checks": {Type: module.TypeList, Elements: module.TypeDict, Contains: map[string]*module.Return{
			"name":        str,
			"status":      str,
			"detail":      str,
			"remediation": str,
		}},
		"counts":  {Type: module.TypeDict, Contains: map[string]*module.Return{"ok": integer, "warn": integer, "fail": integer}},
		"summary": {Type: module.TypeList, Elements: module.TypeStr},
	}
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
	if o.State == "reset" && o.Builder != nil && o.Builder.Driver == "docker-container" && len(o.Builder.Nodes) == 0 {
		return resetContainer(ctx, m, o)
	}
	t, err := openTarget(ctx, o)
	if err != nil {
		return module.Result{}, err
	}
	defer t.close()
	switch o.State {
	case "pruned":
		return prune(ctx, m, t, p, o.All)
	case "reset":
		return prune(ctx, m, t, policy{filters: p.filters}, true)
	}
	summary, err := usage(ctx, t)
	if err != nil {
		return module.Result{}, err
	}
	data := map[string]any{"cache": summary}
	if t.label == "engine" {
		// The engine's cache, and that of every docker-container builder on it.
		data["builders"] = builderCaches(ctx, t.engine)
	}
	return module.Result{Data: data}, nil
}

// Usage is state=info's summary of one build cache: the engine's, or that of
// the docker-container or remote builder choice names (buildkit_image_set
// measures it after its builds, for the report and the cache alert).
func Usage(ctx context.Context, o engine.Options, choice *builder.Choice) (map[string]any, error) {
	t, err := openTarget(ctx, Options{Options: o, Builder: choice})
	if err != nil {
		return nil, err
	}
	defer t.close()
	return usage(ctx, t)
}

func usage(ctx context.Context, t *target) (map[string]any, error) {
	records, err := t.cache.CacheUsage(ctx)
	if err != nil {
		return nil, err
	}
	return summarize(t.label, records, time.Now()), nil
}

// builderCaches summarizes the cache of each buildx-style builder container
// on the engine: a running one is asked, a stopped one is listed as such.
func builderCaches(ctx context.Context, e *engine.Engine) []map[string]any {
	cctx, cancel := e.Call(ctx)
	names, err := builderContainers(cctx, e)
	cancel()
	out := []map[string]any{}
	if err != nil {
		return append(out, map[string]any{"error": err.Error()})
	}
	for _, bc := range names {
		entry := map[string]any{"builder": bc.name, "container": bc.container, "state": bc.state}
		if bc.state == "running" {
			func() {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				c := builder.NewContainer(builder.Container{Name: bc.name}, e.API, e.Host)
				records, err := builder.NewContainerBuildKit(c, e.API).CacheUsage(cctx)
				if err != nil {
					entry["error"] = err.Error()
					return
				}
				entry["cache"] = summarize(bc.name, records, time.Now())
			}()
		}
		out = append(out, entry)
	}
	return out
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

// summarize is state=info's report.
func summarize(builder string, records []builder.CacheRecord, now time.Time) map[string]any {
	var total, reclaimable int64
	inUse := 0
	byType := map[string]int{}
	var oldest, newest *time.Time
	for _, r := range records {
		total += r.Size
		if !r.InUse {
			reclaimable += r.Size
		} else {
			inUse++
		}
		byType[r.Type]++
		t := r.LastUsed
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
		"in_use_records":    inUse,
		"by_type":           byType,
		"builder":           builder,
	}
	if oldest != nil {
		out["oldest_used"] = oldest.UTC().Format(time.RFC3339)
		out["newest_used"] = newest.UTC().Format(time.RFC3339)
		out["oldest_age_hours"] = int(now.Sub(*oldest).Hours())
	}
	return out
}

// estimate is what a prune with p would delete, from the records alone (check
// mode): unused records older than older_than, then the least recently used
// until the cache fits keep_storage. The builder's own prune decides for real.
func estimate(records []builder.CacheRecord, p policy, all bool, now time.Time) (n int, bytes int64) {
	var total int64
	var candidates []builder.CacheRecord
	for _, r := range records {
		total += r.Size
		if r.InUse || (!all && r.Shared) || !matches(r, p.filters) {
			continue
		}
		candidates = append(candidates, r)
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].LastUsed.Before(candidates[j].LastUsed) })
	for _, r := range candidates {
		old := p.olderThan > 0 && now.Sub(r.LastUsed) > p.olderThan
		over := p.keepBytes > 0 && total > p.keepBytes
		noLimits := p.olderThan == 0 && p.keepBytes == 0
		if !(old || over || noLimits) {
			continue
		}
		n++
		bytes += r.Size
		total -= r.Size
	}
	return n, bytes
}

func matches(r builder.CacheRecord, f map[string]string) bool {
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
func prune(ctx context.Context, m *module.Module, t *target, p policy, all bool) (module.Result, error) {
	before, err := t.cache.CacheUsage(ctx)
	if err != nil {
		return module.Result{}, err
	}
	now := time.Now()
	data := map[string]any{"before": summarize(t.label, before, now)}
	if m.CheckMode {
		n, bytes := estimate(before, p, all, now)
		data["would_delete_records"] = n
		data["reclaimed_bytes"] = bytes
		data["reclaimed"] = units.BytesSize(float64(bytes))
		return module.Result{Changed: n > 0, Data: data}, nil
	}
	deleted, reclaimed, err := t.cache.PruneCache(ctx, builder.PruneOptions{All: all, Filters: p.filters, KeepDuration: p.olderThan, KeepBytes: p.keepBytes})
	if err != nil {
		return module.Result{Data: data}, fmt.Errorf("prune the build cache of %s: %w", t.label, err)
	}
	after, err := t.cache.CacheUsage(ctx)
	if err != nil {
		return module.Result{Data: data}, err
	}
	data["after"] = summarize(t.label, after, now)
	if n := data["after"].(map[string]any)["in_use_records"].(int); n > 0 && all {
		m.Warn(fmt.Sprintf("%d build cache records of %s are in use (a build running, or one the builder has not released yet) and were kept", n, t.label))
	}
	data["deleted_records"] = deleted
	data["reclaimed_bytes"] = reclaimed
	data["reclaimed"] = units.BytesSize(float64(reclaimed))
	return module.Result{Changed: deleted > 0 || reclaimed > 0, Data: data}, nil
}

// resetContainer is state=reset for a docker-container builder: its
// container and state volume removed and the builder created again. Nothing
// that is not the builder's own is touched.
func resetContainer(ctx context.Context, m *module.Module, o Options) (module.Result, error) {
	e, err := engine.Connect(ctx, o.Options)
	if err != nil {
		return module.Result{}, err
	}
	defer e.Close()
	c, _ := o.Builder.Container(e.API, e.Host)
	if err := c.Check(); err != nil {
		return module.Result{}, err
	}
	status, err := c.Status(ctx)
	if err != nil {
		return module.Result{}, fmt.Errorf("builder %s: %w", c.Name, err)
	}
	data := map[string]any{"builder": map[string]any{"name": c.Name, "container": c.ContainerName(), "volume": c.StateVolume(), "status_before": status}}
	if m.CheckMode {
		return module.Result{Changed: true, Data: data}, nil
	}
	actions, err := c.Reset(ctx)
	data["actions"] = actions
	return module.Result{Changed: true, Data: data}, err
}
