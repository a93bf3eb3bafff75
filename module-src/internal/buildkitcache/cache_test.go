package buildkitcache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/moduletest"
)

func options(kv map[string]any) Options {
	o := Options{CacheLimit: "10GB", MinFreeDisk: "5GB"}
	b, _ := json.Marshal(kv)
	_ = json.Unmarshal(b, &o)
	return o
}

func TestPolicyParsing(t *testing.T) {
	p, err := parsePolicy(options(map[string]any{"keep_storage": "1GB", "older_than": "72h",
		"filters": map[string]any{"type": "regular", "shared": true, "private": false}}))
	require.NoError(t, err)
	assert.Equal(t, int64(1<<30), p.keepBytes)
	assert.Equal(t, 72*time.Hour, p.olderThan)
	assert.Equal(t, int64(10<<30), p.limit)
	assert.Equal(t, int64(5<<30), p.minFree)
	assert.Equal(t, map[string]string{"type": "regular", "shared": "true", "private": "false"}, p.filters, "values as the engine's filters take them")

	for _, c := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"keep_storage": "lots"}, `keep_storage: "lots" is not a size such as 10GB`},
		{map[string]any{"older_than": "3 days"}, `older_than: "3 days" is not a duration such as 72h`},
		{map[string]any{"older_than": "-1h"}, `older_than: "-1h" is not a duration`},
		{map[string]any{"older_than": "0s"}, `older_than: "0s" is not a duration`},
		{map[string]any{"cache_limit": "big"}, `cache_limit: "big" is not a size`},
		{map[string]any{"min_free_disk": "some"}, `min_free_disk: "some" is not a size`},
		{map[string]any{"filters": map[string]any{"until": "24h"}}, "filters.until: use older_than"},
		{map[string]any{"filters": map[string]any{"unused-for": "24h"}}, "filters.unused-for: use older_than"},
		{map[string]any{"filters": map[string]any{"label": "x"}}, `filters: unknown filter "label"`},
	} {
		_, err := parsePolicy(options(c.opts))
		require.Error(t, err, c.opts)
		assert.Contains(t, err.Error(), c.want)
	}
}

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func ago(h int) time.Time { return now.Add(-time.Duration(h) * time.Hour) }

// cacheRecords is a build cache: two old unused records, one in use, one
// shared with an image, one recent.
func cacheRecords() []builder.CacheRecord {
	return []builder.CacheRecord{
		{ID: "old-big", Type: "regular", Size: 600, LastUsed: ago(200)},
		{ID: "old-small", Type: "source.local", Size: 100, LastUsed: ago(100)},
		{ID: "busy", Type: "regular", Size: 1000, InUse: true, LastUsed: ago(300)},
		{ID: "shared", Type: "regular", Size: 200, Shared: true, LastUsed: ago(400)},
		{ID: "fresh", Type: "exec.cachemount", Size: 50, LastUsed: ago(1)},
	}
}

func TestSummary(t *testing.T) {
	s := summarize("engine", cacheRecords(), now)
	assert.Equal(t, map[string]any{
		"total_bytes": int64(1950), "total": "1.904KiB", "reclaimable_bytes": int64(950),
		"records": 5, "in_use_records": 1,
		"by_type":     map[string]int{"regular": 3, "source.local": 1, "exec.cachemount": 1},
		"builder":     "engine",
		"oldest_used": "2026-11-10T20:00:00Z", "newest_used": "2026-11-27T11:00:00Z", "oldest_age_hours": 400,
	}, s)
	empty := summarize("jenkins-builder", nil, now)
	assert.Equal(t, 0, empty["records"])
	assert.NotContains(t, empty, "oldest_used", "no dates without records")
}

func TestPruneEstimate(t *testing.T) {
	cases := []struct {
		name  string
		p     policy
		all   bool
		n     int
		bytes int64
	}{
		{"no limits: every unused, unshared record", policy{}, false, 3, 750},
		{"all: shared records too", policy{}, true, 4, 950},
		{"older than 150h", policy{olderThan: 150 * time.Hour}, false, 1, 600},
		{"older than 150h, all", policy{olderThan: 150 * time.Hour}, true, 2, 800},
		// 1950 bytes, keep 1300: the least recently used go first until it fits.
		{"keep storage", policy{keepBytes: 1300}, false, 2, 700},
		{"keep storage, all", policy{keepBytes: 1300}, true, 2, 800},
		{"keep storage it already fits", policy{keepBytes: 5000}, false, 0, 0},
		{"type filter", policy{filters: map[string]string{"type": "source.local"}}, false, 1, 100},
		{"shared filter", policy{filters: map[string]string{"shared": "true"}}, true, 1, 200},
		{"private filter", policy{filters: map[string]string{"private": "true"}}, true, 3, 750},
		{"inuse filter never prunes what is in use", policy{filters: map[string]string{"inuse": "true"}}, true, 0, 0},
	}
	for _, c := range cases {
		n, bytes := estimate(cacheRecords(), c.p, c.all, now)
		assert.Equal(t, c.n, n, c.name)
		assert.Equal(t, c.bytes, bytes, c.name)
	}
}

// fakeCache is a builder's cache in memory: a prune deletes what the
// estimate would, so that the module's flow can be checked without a daemon.
type fakeCache struct {
	records []builder.CacheRecord
	pruned  int
	failOn  string
}

func (f *fakeCache) CacheUsage(context.Context) ([]builder.CacheRecord, error) {
	if f.failOn == "usage" {
		return nil, errors.New("build cache disk usage: daemon gone")
	}
	return f.records, nil
}

func (f *fakeCache) PruneCache(_ context.Context, o builder.PruneOptions) (int, int64, error) {
	f.pruned++
	if f.failOn == "prune" {
		return 0, 0, errors.New("prune refused")
	}
	p := policy{filters: o.Filters, olderThan: o.KeepDuration, keepBytes: o.KeepBytes}
	n, bytes := estimate(f.records, p, o.All, time.Now())
	var kept []builder.CacheRecord
	for _, r := range f.records {
		if r.InUse || (!o.All && r.Shared) {
			kept = append(kept, r)
		}
	}
	f.records = kept
	return n, bytes, nil
}

// runThrough runs fn as the module's RunFunc, in-process, as Ansible would.
func runThrough(t *testing.T, check bool, fn module.RunFunc) map[string]any {
	t.Helper()
	return moduletest.Run(t, "buildkit_cache", Spec(), fn, map[string]any{"_ansible_check_mode": check})
}

func pruneWith(c *fakeCache, p policy, all bool) module.RunFunc {
	return func(ctx context.Context, m *module.Module) (module.Result, error) {
		return prune(ctx, m, &target{label: "fake", cache: c}, p, all)
	}
}

func TestPruneInCheckModeDeletesNothingAndEstimates(t *testing.T) {
	b := &fakeCache{records: cacheRecords()}
	res := runThrough(t, true, pruneWith(b, policy{}, false))
	assert.Nil(t, res["failed"], res["msg"])
	assert.Zero(t, b.pruned, "nothing pruned in check mode")
	assert.Equal(t, true, res["changed"])
	assert.Equal(t, 3.0, res["would_delete_records"])
	assert.Equal(t, 750.0, res["reclaimed_bytes"])
	assert.Equal(t, "750B", res["reclaimed"])
	assert.Equal(t, 5.0, res["before"].(map[string]any)["records"])
	assert.NotContains(t, res, "after")

	nothing := runThrough(t, true, pruneWith(&fakeCache{records: cacheRecords()}, policy{keepBytes: 1 << 40}, false))
	assert.Equal(t, false, nothing["changed"], "a cache that fits is no change")
}

func TestPruneReportsBeforeAfterAndWhatItKept(t *testing.T) {
	b := &fakeCache{records: cacheRecords()}
	res := runThrough(t, false, pruneWith(b, policy{}, true))
	assert.Nil(t, res["failed"], res["msg"])
	assert.Equal(t, 1, b.pruned)
	assert.Equal(t, true, res["changed"])
	assert.Equal(t, 4.0, res["deleted_records"])
	assert.Equal(t, 950.0, res["reclaimed_bytes"])
	assert.Equal(t, 5.0, res["before"].(map[string]any)["records"])
	assert.Equal(t, 1.0, res["after"].(map[string]any)["records"])
	assert.Equal(t, []any{"1 build cache records of fake are in use (a build running, or one the builder has not released yet) and were kept"},
		res["warnings"])

	again := runThrough(t, false, pruneWith(b, policy{}, true))
	assert.Equal(t, false, again["changed"], "nothing left to prune")
}

func TestPruneErrorsKeepWhatWasSeen(t *testing.T) {
	res := runThrough(t, false, pruneWith(&fakeCache{records: cacheRecords(), failOn: "prune"}, policy{}, false))
	assert.Equal(t, true, res["failed"])
	assert.Equal(t, "prune the build cache of fake: prune refused", res["msg"])
	assert.Contains(t, res, "before")
	res = runThrough(t, false, pruneWith(&fakeCache{failOn: "usage"}, policy{}, false))
	assert.Contains(t, res["msg"], "daemon gone")
}

func TestDiskCheck(t *testing.T) {
	dir := t.TempDir()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dir, &st))
	free := int64(st.Bavail) * int64(st.Bsize)

	ok := diskCheck(dir, 1)
	assert.Equal(t, "ok", ok.Status, ok.Detail)
	assert.Contains(t, ok.Detail, "free at "+dir)

	fail := diskCheck(dir, free*4)
	assert.Equal(t, "fail", fail.Status)
	assert.Contains(t, fail.Detail, "less than min_free_disk")
	assert.Contains(t, fail.Remediation, "prune the build cache")

	warn := diskCheck(dir, free*2/3) // above the minimum, under twice it
	assert.Equal(t, "warn", warn.Status, warn.Detail)
	assert.Equal(t, "plan a prune: builds need room", warn.Remediation)

	gone := diskCheck(filepath.Join(dir, "no", "such"), 1)
	assert.Equal(t, "warn", gone.Status)
	assert.Contains(t, gone.Detail, "cannot read free space")
}

func TestRegistryCheck(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch {
		case r.URL.Path != "/v2/":
			http.NotFound(w, r)
		case n == 1:
			w.WriteHeader(http.StatusServiceUnavailable) // a registry restarting: retried
		default:
			w.WriteHeader(http.StatusUnauthorized) // asks for credentials: reachable
		}
	}))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")

	c := registryCheck(context.Background(), hostPort) // 127.x without a scheme: plain HTTP
	assert.Equal(t, "ok", c.Status, c.Detail)
	assert.Equal(t, "registry "+hostPort, c.Name)
	assert.Contains(t, c.Detail, srv.URL+"/v2/ answers 401")
	assert.Equal(t, int32(2), calls.Load(), "the 503 was retried")

	notRegistry := httptest.NewServer(http.NotFoundHandler())
	defer notRegistry.Close()
	c = registryCheck(context.Background(), notRegistry.URL+"/")
	assert.Equal(t, "warn", c.Status)
	assert.Contains(t, c.Detail, "answers 404")
	assert.Equal(t, "is this a Docker registry (API v2)?", c.Remediation)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	l.Close()
	c = registryCheck(context.Background(), closed)
	assert.Equal(t, "fail", c.Status)
	assert.Contains(t, c.Detail, "connection refused")
	assert.Contains(t, c.Remediation, "check the registry's address")
}

func writeDBMetadata(t *testing.T, dir string, updated time.Time) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "db"), 0o755))
	b, err := json.Marshal(map[string]any{"Version": 2, "UpdatedAt": updated})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "db", "metadata.json"), b, 0o644))
}

func TestTrivyCheck(t *testing.T) {
	missing := trivyCheck(filepath.Join(t.TempDir(), "trivy"), "")
	assert.Equal(t, "warn", missing.Status)
	assert.Contains(t, missing.Detail, "not found: images cannot be scanned")

	bin := filepath.Join(t.TempDir(), "trivy")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	cache := t.TempDir()
	noDB := trivyCheck(bin, cache)
	assert.Equal(t, "warn", noDB.Status)
	assert.Contains(t, noDB.Detail, "no vulnerability DB in "+cache)

	writeDBMetadata(t, cache, time.Now().Add(-30*time.Hour))
	fresh := trivyCheck(bin, cache)
	assert.Equal(t, "ok", fresh.Status, fresh.Detail)
	assert.Contains(t, fresh.Detail, "DB updated 30h0m0s ago")

	writeDBMetadata(t, cache, time.Now().Add(-10*24*time.Hour))
	old := trivyCheck(bin, cache)
	assert.Equal(t, "warn", old.Status)
	assert.Contains(t, old.Remediation, "update the vulnerability DB")
}

// The command line for cron refuses what it cannot run before it asks any daemon.
func TestCommandRefusesBadArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"prune", "--keep-storage"}, 2, "flag needs an argument"},
		{[]string{"prune", "--nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"prune", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"prune", "--filter", "novalue"}, 2, `"novalue" is not key=value`},
		{[]string{"prune", "--keep-storage", "lots"}, 1, `keep_storage: "lots" is not a size`},
		{[]string{"prune", "--filter", "until=24h"}, 1, "filters.until: use older_than"},
		{[]string{"info", "--cache-limit", "x"}, 1, `cache_limit: "x" is not a size`},
	} {
		var out, errOut bytes.Buffer
		code := Command(context.Background(), c.args, &out, &errOut)
		assert.Equal(t, c.code, code, c.args)
		assert.Contains(t, errOut.String(), c.want, c.args)
		assert.Empty(t, out.String(), c.args)
	}
}

func TestCommandSaysWhatItDidForPeople(t *testing.T) {
	var b strings.Builder
	printHuman(&b, "pruned", module.Result{Data: map[string]any{"reclaimed": "1.5GiB", "reclaimed_bytes": int64(1610612736)}}, false)
	printHuman(&b, "pruned", module.Result{Data: map[string]any{"reclaimed": "0B", "reclaimed_bytes": int64(0)}}, true)
	printHuman(&b, "info", module.Result{Data: map[string]any{
		"cache": summarize("engine", cacheRecords(), now),
		"builders": []map[string]any{
			{"builder": "jenkins-builder", "state": "running", "cache": summarize("jenkins-builder", nil, now)},
			{"builder": "old", "state": "exited"},
			{"builder": "broken", "state": "running", "error": "no answer"},
		},
	}}, false)
	printHuman(&b, "diagnose", module.Result{Msg: "diagnose: warn (1 ok, 1 warn, 0 fail)", Data: map[string]any{
		"summary": []string{"[OK] engine: Docker 20.10", "[WARN] binfmt: none -> install qemu"}}}, false)
	assert.Equal(t, fmt.Sprint(
		"reclaimed 1.5GiB (1610612736 bytes)\n",
		"would reclaim 0B (0 bytes)\n",
		"build cache: 1.904KiB in 5 records (950 bytes reclaimable)\n",
		"builder jenkins-builder: 0B in 0 records (0 bytes reclaimable)\n",
		"builder old: exited\n",
		"builder broken: running (no answer)\n",
		"diagnose: warn (1 ok, 1 warn, 0 fail)\n",
		"  [OK] engine: Docker 20.10\n",
		"  [WARN] binfmt: none -> install qemu\n",
	), b.String())
}
