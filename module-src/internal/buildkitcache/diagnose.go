package buildkitcache

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/go-units"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/retry"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/scanner"
)

// Check is one diagnose finding.
type Check struct {
	Name        string `json:"name"`
	Status      string `json:"status"` // ok, warn, fail
	Detail      string `json:"detail"`
	Remediation string `json:"remediation,omitempty"`
}

var rank = map[string]int{"ok": 0, "warn": 1, "fail": 2}

// diagnose runs read-only checks of the build host. It never fails the task
// for a failing check: the checks are the result.
func diagnose(ctx context.Context, m *module.Module, o Options, p policy) (module.Result, error) {
	var checks []Check
	add := func(c Check) { checks = append(checks, c) }

	// Fewer retries than a build: a stopped engine should be reported quickly.
	connectCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	e, err := engine.ConnectWith(connectCtx, o.Options, retry.Policy{Attempts: 2, Base: 500 * time.Millisecond})
	cancel()
	if err != nil {
		add(Check{Name: "engine", Status: "fail", Detail: err.Error(),
			Remediation: "start the Docker engine (systemctl start docker, or troubleshoot_mode=fix) and check docker_host"})
	} else {
		defer e.Close()
		pre, _, _ := Preflight(ctx, e, p.minFree)
		add(pre[0])
		if len(pre) > 1 { // the engine answered
			checks = append(checks, buildkitCheck(ctx, e))
			checks = append(checks, pre[1:]...)
			checks = append(checks, cacheCheck(ctx, e, p.limit))
			checks = append(checks, builderContainersCheck(ctx, e))
			if c, ok := o.Builder.Container(e.API, e.Host); ok {
				add(containerBuilderCheck(ctx, c))
			}
		}
	}
	if r, ok := o.Builder.Remote(); ok {
		add(remoteBuilderCheck(ctx, o.Builder, r))
	}
	var api *client.Client
	host := ""
	if err == nil {
		api, host = e.API, e.Host
	}
	if cl, ok, cerr := o.Builder.Cluster(api, host); ok {
		checks = append(checks, clusterChecks(ctx, cl, cerr)...)
	}
	add(binfmtCheck())
	for _, r := range o.Registries {
		add(registryCheck(ctx, r))
	}
	add(trivyCheck(o.ScannerPath, o.TrivyCache))

	worst := "ok"
	counts := map[string]int{"ok": 0, "warn": 0, "fail": 0}
	for _, c := range checks {
		counts[c.Status]++
		if rank[c.Status] > rank[worst] {
			worst = c.Status
		}
	}
	var lines []string
	for _, c := range checks {
		lines = append(lines, c.Line())
	}
	return module.Result{
		Msg:  fmt.Sprintf("diagnose: %s (%d ok, %d warn, %d fail)", worst, counts["ok"], counts["warn"], counts["fail"]),
		Data: map[string]any{"status": worst, "checks": checks, "counts": counts, "summary": lines},
	}, nil
}

// Preflight is what says whether a build host can build at all: the engine
// answering, and the free space of its data root against min_free_disk.
// diagnose shows them among its checks; buildkit_image_set stops before
// any build when one fails (ok false). checks holds the engine's check, then
// the disk's when the engine answered; root is the engine's data root.
func Preflight(ctx context.Context, e *engine.Engine, minFree int64) (checks []Check, root string, ok bool) {
	cctx, cancel := e.Call(ctx)
	info, err := e.API.Info(cctx)
	cancel()
	if err != nil {
		return []Check{{Name: "engine", Status: "fail", Detail: err.Error(), Remediation: "check the engine's logs (journalctl -u docker)"}}, "", false
	}
	checks = []Check{
		{Name: "engine", Status: "ok", Detail: fmt.Sprintf("Docker %s at %s, API %s", info.ServerVersion, e.Host, e.API.ClientVersion())},
		diskCheck(info.DockerRootDir, minFree),
	}
	return checks, info.DockerRootDir, checks[1].Status != "fail"
}

// Line is a check as the summary shows it: "[FAIL] disk: ... -> what to do".
func (c Check) Line() string {
	line := fmt.Sprintf("[%s] %s: %s", strings.ToUpper(c.Status), c.Name, c.Detail)
	if c.Remediation != "" && c.Status != "ok" {
		line += " -> " + c.Remediation
	}
	return line
}

func buildkitCheck(ctx context.Context, e *engine.Engine) Check {
	cctx, cancel := e.Call(ctx)
	defer cancel()
	d, err := builder.NewEngineBuildKit(e.API).Describe(cctx)
	if err != nil {
		return Check{Name: "buildkit", Status: "warn", Detail: "the engine serves no BuildKit: " + err.Error(),
			Remediation: "use Docker 19.03 or later; builds fall back to the classic builder meanwhile"}
	}
	return Check{Name: "buildkit", Status: "ok", Detail: fmt.Sprintf("embedded BuildKit %s, %d worker(s), platforms %s",
		versionOf(d, "version not reported (before v0.11)"), len(d.Workers), strings.Join(slices.Sorted(slices.Values(d.Platforms)), ", "))}
}

func versionOf(d *builder.Description, unknown string) string {
	if d.Version == "" {
		return unknown
	}
	return d.Version
}

// builderContainersCheck lists the buildx-style builders (containers named
// buildx_buildkit_<builder>0) on the engine, with their state.
func builderContainersCheck(ctx context.Context, e *engine.Engine) Check {
	cctx, cancel := e.Call(ctx)
	defer cancel()
	list, err := builderContainers(cctx, e)
	if err != nil {
		return Check{Name: "builders", Status: "warn", Detail: "cannot list builder containers: " + err.Error()}
	}
	var states []string
	stopped := 0
	for _, bc := range list {
		states = append(states, bc.name+" "+bc.state)
		if bc.state != "running" {
			stopped++
		}
	}
	if len(states) == 0 {
		return Check{Name: "builders", Status: "ok", Detail: "no docker-container builders on this engine (builds use its own BuildKit)"}
	}
	c := Check{Name: "builders", Status: "ok", Detail: strings.Join(states, ", ")}
	if stopped > 0 {
		c.Detail += fmt.Sprintf(" (%d not running: a builder starts again on its next build)", stopped)
	}
	return c
}

// builderContainer is a buildx-style builder's container on the engine.
type builderContainer struct{ name, container, state string }

// builderContainers lists the containers named buildx_buildkit_<builder>0
// (buildx's docker-container driver, and this collection's), by builder name.
func builderContainers(ctx context.Context, e *engine.Engine) ([]builderContainer, error) {
	list, err := e.API.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("name", "buildx_buildkit_"))})
	if err != nil {
		return nil, err
	}
	var out []builderContainer
	for _, c := range list {
		for _, n := range c.Names {
			n = strings.TrimPrefix(n, "/")
			if rest, ok := strings.CutPrefix(n, "buildx_buildkit_"); ok && strings.HasSuffix(rest, "0") && !strings.HasSuffix(rest, "_state") {
				out = append(out, builderContainer{name: strings.TrimSuffix(rest, "0"), container: n, state: c.State})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// containerBuilderCheck says whether the named docker-container builder is
// there, running, and its BuildKit answers.
func containerBuilderCheck(ctx context.Context, c *builder.Container) Check {
	name := "builder " + c.Name
	if err := c.Check(); err != nil {
		return Check{Name: name, Status: "fail", Detail: err.Error(), Remediation: "fix the builder option"}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	state, err := c.Status(cctx)
	switch {
	case err != nil:
		return Check{Name: name, Status: "fail", Detail: err.Error(), Remediation: "check the engine"}
	case state == "missing":
		return Check{Name: name, Status: "ok", Detail: "not created yet: the next build creates it (" + c.ContainerName() + ")"}
	case state == "stopped":
		return Check{Name: name, Status: "warn", Detail: c.ContainerName() + " is stopped", Remediation: "the next build starts it; troubleshoot_mode=fix or reset recreates it"}
	}
	return daemonCheck(cctx, name, builder.NewContainerBuildKit(c, nil), c.ContainerName()+" running",
		c.ContainerName()+" is running but its BuildKit does not answer",
		"recreate the builder: troubleshoot_mode=fix (or reset) with troubleshoot_builder naming it")
}

// remoteBuilderCheck says whether a remote builder's daemon answers.
func remoteBuilderCheck(ctx context.Context, choice *builder.Choice, r builder.Remote) Check {
	name := "builder " + choice.Name
	if choice.Name == "" {
		name = "builder " + r.Endpoint
	}
	if err := r.Check(); err != nil {
		return Check{Name: name, Status: "fail", Detail: err.Error(), Remediation: "fix the builder option"}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return daemonCheck(cctx, name, builder.NewRemoteBuildKit(r, nil), r.Endpoint+":",
		r.Endpoint+" does not answer", "start the remote buildkitd, or check builder.endpoint and its TLS files")
}

// daemonCheck asks a builder's BuildKit daemon what it is, once.
func daemonCheck(ctx context.Context, name string, bk *builder.DaemonBuildKit, subject, failure, remediation string) Check {
	d, err := bk.Describe(ctx)
	if err != nil {
		return Check{Name: name, Status: "fail", Detail: fmt.Sprintf("%s: %v", failure, err), Remediation: remediation}
	}
	return Check{Name: name, Status: "ok", Detail: fmt.Sprintf("%s BuildKit %s, platforms %s", subject,
		versionOf(d, "(version not reported)"), strings.Join(d.Platforms, ", "))}
}

func diskCheck(root string, minFree int64) Check {
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		return Check{Name: "disk", Status: "warn", Detail: fmt.Sprintf("cannot read free space at %s: %v", root, err),
			Remediation: "run the diagnosis on the engine's host"}
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	c := Check{Name: "disk", Status: "ok", Detail: fmt.Sprintf("%s free at %s", units.BytesSize(float64(free)), root)}
	if free < minFree {
		c.Status = "fail"
		c.Detail += fmt.Sprintf(", less than min_free_disk %s", units.BytesSize(float64(minFree)))
		c.Remediation = "prune the build cache (troubleshoot_mode=optimize) and unused images"
	} else if free < 2*minFree {
		c.Status = "warn"
		c.Remediation = "plan a prune: builds need room"
	}
	return c
}

func cacheCheck(ctx context.Context, e *engine.Engine, limit int64) Check {
	records, err := builder.NewEngineBuildKit(e.API).CacheUsage(ctx)
	if err != nil {
		return Check{Name: "build_cache", Status: "warn", Detail: err.Error()}
	}
	var total int64
	for _, r := range records {
		total += r.Size
	}
	c := Check{Name: "build_cache", Status: "ok", Detail: fmt.Sprintf("%s in %d records (limit %s)", units.BytesSize(float64(total)), len(records), units.BytesSize(float64(limit)))}
	if total > limit {
		c.Status = "warn"
		c.Remediation = "prune to the limit: buildkit_cache state=pruned keep_storage=" + units.BytesSize(float64(limit))
	}
	return c
}

func binfmtCheck() Check {
	matches, _ := filepath.Glob("/proc/sys/fs/binfmt_misc/qemu-*")
	var arches []string
	for _, m := range matches {
		arches = append(arches, strings.TrimPrefix(filepath.Base(m), "qemu-"))
	}
	if len(arches) == 0 {
		return Check{Name: "binfmt", Status: "warn", Detail: "no qemu emulators registered: only native platforms can be built",
			Remediation: "install qemu-user-static and binfmt-support for multi-platform builds"}
	}
	sort.Strings(arches)
	return Check{Name: "binfmt", Status: "ok", Detail: "emulated: " + strings.Join(arches, ", ")}
}

func registryCheck(ctx context.Context, reg string) Check {
	url := reg
	if !strings.Contains(url, "://") {
		scheme := "https"
		if strings.HasPrefix(url, "127.") || strings.HasPrefix(url, "localhost") {
			scheme = "http"
		}
		url = scheme + "://" + url
	}
	url = strings.TrimRight(url, "/") + "/v2/"
	c := retryablehttp.NewClient()
	c.RetryMax = 3
	c.RetryWaitMin = 200 * time.Millisecond
	c.RetryWaitMax = 2 * time.Second
	c.Logger = nil
	c.HTTPClient.Timeout = 5 * time.Second
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Check{Name: "registry " + reg, Status: "fail", Detail: err.Error()}
	}
	resp, err := c.Do(req)
	if err != nil {
		return Check{Name: "registry " + reg, Status: "fail", Detail: err.Error(), Remediation: "check the registry's address, DNS, firewall and proxy settings"}
	}
	resp.Body.Close()
	// 401 is a registry asking for credentials: reachable.
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
		return Check{Name: "registry " + reg, Status: "ok", Detail: fmt.Sprintf("%s answers %s", url, resp.Status)}
	}
	return Check{Name: "registry " + reg, Status: "warn", Detail: fmt.Sprintf("%s answers %s", url, resp.Status), Remediation: "is this a Docker registry (API v2)?"}
}

func trivyCheck(path, cacheDir string) Check {
	bin, err := exec.LookPath(path)
	if err != nil {
		return Check{Name: "trivy", Status: "warn", Detail: fmt.Sprintf("%s not found: images cannot be scanned", path),
			Remediation: "install Trivy or set scanner_path"}
	}
	if cacheDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			cacheDir = filepath.Join(d, "trivy")
		}
	}
	meta, err := scanner.ReadDBMetadata(cacheDir)
	if err != nil {
		return Check{Name: "trivy", Status: "warn", Detail: fmt.Sprintf("%s present, no vulnerability DB in %s", bin, cacheDir),
			Remediation: "run one scan with network access, or put a DB in the cache dir for offline scans"}
	}
	age := time.Since(meta.UpdatedAt)
	c := Check{Name: "trivy", Status: "ok", Detail: fmt.Sprintf("%s, DB updated %s ago", bin, age.Round(time.Hour))}
	if age > 7*24*time.Hour {
		c.Status = "warn"
		c.Remediation = "update the vulnerability DB: findings newer than the DB are missed"
	}
	return c
}

// clusterChecks say whether each node of a builder of several answers. A
// node that does not is a warning while another answers (builds go to the
// others), a failure when none does.
func clusterChecks(ctx context.Context, cl *builder.Cluster, err error) []Check {
	if err != nil {
		return []Check{{Name: "builder", Status: "fail", Detail: err.Error(), Remediation: "fix the builder option"}}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out []Check
	up := 0
	for _, n := range cl.Nodes {
		c := daemonCheck(cctx, "builder "+cl.Name+" node "+n.Name, n.Builder(), n.Endpoint+":", n.Endpoint+" does not answer",
			"start its BuildKit (builds go to the other nodes meanwhile), or leave it out of builder.nodes")
		if c.Status == "ok" {
			up++
		}
		out = append(out, c)
	}
	for i := range out {
		if out[i].Status == "fail" && up > 0 {
			out[i].Status = "warn"
		}
	}
	return out
}
