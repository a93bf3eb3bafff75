// Package buildkitvalidate is the buildkit_validate module: start a container
// from a candidate image, probe it (an HTTP endpoint, or a command and its
// output) within a time budget, and remove what it started.
package buildkitvalidate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
	"github.com/docker/go-units"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// Options are the module's arguments after validation.
type Options struct {
	engine.Options
	Image  string  `json:"image"`
	Budget int     `json:"budget"`
	Memory string  `json:"memory"`
	CPUs   float64 `json:"cpus"`
	Probe
}

// Probe is what a validation does in the container (buildkit_image_set's
// probes are these, with a name).
type Probe struct {
	HTTP         *HTTPProbe     `json:"http"`
	Command      []string       `json:"command"`
	ExpectOutput string         `json:"expect_output"`
	Entrypoint   []string       `json:"entrypoint"`
	Env          map[string]any `json:"env"`
	User         string         `json:"user"`
	Network      string         `json:"network"`
}

// HTTPProbe is the http suboption.
type HTTPProbe struct {
	Port         int    `json:"port"`
	Path         string `json:"path"`
	ExpectStatus int    `json:"expect_status"`
	ExpectHeader string `json:"expect_header"`
}

// Spec is the module's argument spec.
func Spec() module.Spec {
	opts := map[string]*module.Option{
		"image": {Type: module.TypeStr, Required: true},
		"http": {Type: module.TypeDict, Options: map[string]*module.Option{
			"port":          {Type: module.TypeInt, Default: 8080},
			"path":          {Type: module.TypeStr, Default: "/login"},
			"expect_status": {Type: module.TypeInt, Default: 200},
			"expect_header": {Type: module.TypeStr},
		}},
		"command":       {Type: module.TypeList, Elements: module.TypeStr},
		"expect_output": {Type: module.TypeStr},
		"entrypoint":    {Type: module.TypeList, Elements: module.TypeStr},
		"env":           {Type: module.TypeDict},
		"user":          {Type: module.TypeStr},
		"budget":        {Type: module.TypeInt, Default: 300},
		"memory":        {Type: module.TypeStr},
		"cpus":          {Type: module.TypeFloat},
		"network":       {Type: module.TypeStr},
	}
	maps.Copy(opts, engine.ArgSpec())
	return module.Spec{
		Options:           opts,
		RequiredOneOf:     [][]string{{"http", "command"}},
		MutuallyExclusive: [][]string{{"http", "command"}},
		Returns:           returns(),
	}
}

// returns declares the module's result keys (documented in RETURN).
func returns() map[string]*module.Return {
	str, integer := &module.Return{Type: module.TypeStr}, &module.Return{Type: module.TypeInt}
	return map[string]*module.Return{
		"image":           str,
		"passed":          {Type: module.TypeBool},
		"skipped_reason":  str,
		"removed_orphans": {Type: module.TypeList, Elements: module.TypeStr},
		"duration":        {Type: module.TypeFloat},
		"attempts":        integer,
		"status":          integer,
		"header":          str,
		"rc":              integer,
		"output":          str,
		"logs":            str,
	}
}

// probeLabel marks the containers this module starts, so none is ever mistaken for another.
const probeLabel = "io.jenkins-ha.buildkit.validation"

// Run is the module's entry point. It changes nothing that outlives it, so
// changed is always false; in check mode it does not start a container.
func Run(ctx context.Context, m *module.Module) (module.Result, error) {
	var o Options
	if err := m.Decode(&o); err != nil {
		return module.Result{}, err
	}
	if o.Budget <= 0 {
		return module.Result{}, fmt.Errorf("budget: must be a positive number of seconds, got %d", o.Budget)
	}
	var re *regexp.Regexp
	if o.ExpectOutput != "" {
		var err error
		if re, err = regexp.Compile(o.ExpectOutput); err != nil {
			return module.Result{}, fmt.Errorf("expect_output: %v", err)
		}
	}
	cfg, host, port, err := containerConfig(o)
	if err != nil {
		return module.Result{}, err
	}
	if m.CheckMode {
		return module.Result{Msg: "check mode: no container started", Data: map[string]any{"passed": nil, "skipped_reason": "check mode"}}, nil
	}
	e, err := engine.Connect(ctx, o.Options)
	if err != nil {
		return module.Result{}, err
	}
	defer e.Close()

	// A run killed while it validated (SIGKILL: no deferred removal) left its
	// container behind; the next one removes it first (owner.go).
	data := map[string]any{"image": o.Image}
	if removed := reapOrphans(ctx, e); len(removed) > 0 {
		data["removed_orphans"] = removed
	}
	cfg.Labels[ownerLabel] = ownerOfThisProcess()

	name := "bk-validate-" + randomSuffix()
	start := time.Now()
	created, err := e.API.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if err != nil {
		return module.Result{}, fmt.Errorf("create a container from %s: %w", o.Image, err)
	}
	// Whatever happens next, the container goes.
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = e.API.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}()
	if err := e.API.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return module.Result{}, fmt.Errorf("start a container from %s: %w", o.Image, err)
	}
	budget := time.Duration(o.Budget) * time.Second
	var verdict error
	if o.HTTP != nil {
		verdict = probeHTTP(ctx, e, created.ID, port, *o.HTTP, budget, data)
	} else {
		verdict = probeCommand(ctx, e, created.ID, re, budget, data)
	}
	data["duration"] = time.Since(start).Seconds()
	data["passed"] = verdict == nil
	if verdict != nil {
		data["logs"] = logsTail(ctx, e, created.ID)
		return module.Result{Data: data}, fmt.Errorf("%s failed validation: %w", o.Image, verdict)
	}
	return module.Result{Msg: o.Image + " passed validation", Data: data}, nil
}

// containerConfig is the probe container the options ask for: the HTTP
// probe's port published on the host's loopback only, or the command.
func containerConfig(o Options) (*container.Config, *container.HostConfig, nat.Port, error) {
	cfg := &container.Config{Image: o.Image, User: o.User, Labels: map[string]string{probeLabel: "1"}}
	for _, k := range sortedKeys(o.Env) {
		cfg.Env = append(cfg.Env, k+"="+fmt.Sprint(o.Env[k]))
	}
	if o.Entrypoint != nil {
		cfg.Entrypoint = o.Entrypoint
		if len(o.Entrypoint) == 0 {
			cfg.Entrypoint = []string{""} // clear the image's entrypoint
		}
	}
	host := &container.HostConfig{}
	if o.Memory != "" {
		n, err := units.RAMInBytes(o.Memory)
		if err != nil {
			return nil, nil, "", fmt.Errorf("memory: %q is not a size: %v", o.Memory, err)
		}
		host.Memory = n
	}
	if o.CPUs < 0 {
		return nil, nil, "", fmt.Errorf("cpus: must be a positive number of CPUs, got %v", o.CPUs)
	}
	if o.CPUs > 0 {
		host.NanoCPUs = int64(o.CPUs * 1e9)
	}
	if o.Network != "" {
		if o.HTTP != nil && o.Network == "none" {
			return nil, nil, "", fmt.Errorf("network: none leaves no port to probe over HTTP; give a network (or none) with command probes only")
		}
		host.NetworkMode = container.NetworkMode(o.Network)
	}
	var port nat.Port
	if o.HTTP != nil {
		if o.HTTP.Port < 1 || o.HTTP.Port > 65535 {
			return nil, nil, "", fmt.Errorf("http.port: must be a port number (1 to 65535), got %d", o.HTTP.Port)
		}
		port = nat.Port(strconv.Itoa(o.HTTP.Port) + "/tcp")
		cfg.ExposedPorts = nat.PortSet{port: {}}
		host.PortBindings = nat.PortMap{port: {{HostIP: "127.0.0.1", HostPort: ""}}}
	} else {
		cfg.Cmd = o.Command
	}
	return cfg, host, port, nil
}

// probeHTTP polls the published port with backoff until the expected answer,
// the container exits, or the budget runs out.
func probeHTTP(ctx context.Context, e *engine.Engine, id string, port nat.Port, p HTTPProbe, budget time.Duration, data map[string]any) error {
	inspect, err := e.API.ContainerInspect(ctx, id)
	if err != nil {
		return err
	}
	bindings := inspect.NetworkSettings.Ports[port]
	if len(bindings) == 0 {
		return fmt.Errorf("port %s was not published", port)
	}
	exited := func(ctx context.Context) (bool, int) {
		st, err := e.API.ContainerInspect(ctx, id)
		if err != nil || st.State.Running {
			return false, 0
		}
		return true, st.State.ExitCode
	}
	return pollHTTP(ctx, "http://127.0.0.1:"+bindings[0].HostPort, p, budget, exited, data)
}

// pollHTTP GETs base+p.Path with backoff (250ms doubling to 4s) until it
// answers p.ExpectStatus (with p.ExpectHeader, if any), exited says the
// container is gone, or the next wait would end past the budget. It records
// attempts, and the last status and header, in data.
func pollHTTP(ctx context.Context, base string, p HTTPProbe, budget time.Duration, exited func(context.Context) (bool, int), data map[string]any) error {
	deadline := time.Now().Add(budget)
	url := base + p.Path
	client := &http.Client{Timeout: 5 * time.Second}
	wait := 100 * time.Millisecond // a server that starts quickly is seen quickly; then backoff
	attempts := 0
	last := "no answer yet"
	for {
		attempts++
		data["attempts"] = attempts
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("http.path: %v", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			headerOK := p.ExpectHeader == "" || resp.Header.Get(p.ExpectHeader) != ""
			data["status"] = resp.StatusCode
			if p.ExpectHeader != "" {
				data["header"] = resp.Header.Get(p.ExpectHeader)
			}
			if resp.StatusCode == p.ExpectStatus && headerOK {
				return nil
			}
			last = fmt.Sprintf("GET %s answered %d", p.Path, resp.StatusCode)
			if !headerOK {
				last += " without the " + p.ExpectHeader + " header"
			}
		} else {
			last = err.Error()
		}
		if gone, code := exited(ctx); gone {
			return fmt.Errorf("the container exited (code %d) before GET %s answered %d; last: %s", code, p.Path, p.ExpectStatus, last)
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("GET %s did not answer %d within %s (budget); last: %s", p.Path, p.ExpectStatus, budget, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		if wait < 4*time.Second {
			wait *= 2
		}
	}
}

// probeCommand waits for the command to finish and checks its exit code and output.
func probeCommand(ctx context.Context, e *engine.Engine, id string, re *regexp.Regexp, budget time.Duration, data map[string]any) error {
	wctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	statusCh, errCh := e.API.ContainerWait(wctx, id, container.WaitConditionNotRunning)
	var code int64
	select {
	case err := <-errCh:
		if errors.Is(wctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("the command did not finish within %s (budget)", budget)
		}
		return err
	case st := <-statusCh:
		code = st.StatusCode
	}
	out := logsTail(ctx, e, id)
	data["rc"] = code
	data["output"] = out
	return commandVerdict(code, out, re)
}

// commandVerdict passes a command that exited 0 with output matching re (if any).
func commandVerdict(code int64, out string, re *regexp.Regexp) error {
	if code != 0 {
		return fmt.Errorf("the command exited with %d: %s", code, lastLine(out))
	}
	if re != nil && !re.MatchString(out) {
		return fmt.Errorf("the command's output does not match %q: %s", re, lastLine(out))
	}
	return nil
}

func logsTail(ctx context.Context, e *engine.Engine, id string) string {
	rc, err := e.API.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "50"})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, io.LimitReader(rc, 1<<20))
	return strings.TrimRight(out.String(), "\n")
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		return s[i+1:]
	}
	return s
}

func randomSuffix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
