package buildkitvalidate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/go-connections/nat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/moduletest"
)

func runModule(t *testing.T, args map[string]any) map[string]any {
	t.Helper()
	return moduletest.Run(t, "buildkit_validate", Spec(), Run, args)
}

func TestCheckModeStartsNothingAndSaysSo(t *testing.T) {
	res := runModule(t, map[string]any{"image": "jenkins/controller:1", "http": map[string]any{}, "_ansible_check_mode": true})
	assert.Nil(t, res["failed"], res["msg"])
	assert.False(t, res["changed"].(bool))
	assert.Contains(t, res, "passed")
	assert.Nil(t, res["passed"], "no verdict in check mode")
	assert.Equal(t, "check mode", res["skipped_reason"])
}

// Bad options fail naming the option before any engine is asked, in check
// mode as well.
func TestBadOptionsFailBeforeTheEngine(t *testing.T) {
	cases := []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"command": []string{"true"}, "budget": 0}, "budget: must be a positive number"},
		{map[string]any{"command": []string{"true"}, "expect_output": "(unclosed"}, "expect_output:"},
		{map[string]any{"command": []string{"true"}, "memory": "lots"}, `memory: "lots" is not a size`},
		{map[string]any{"command": []string{"true"}, "cpus": -1}, "cpus: must be a positive number"},
		{map[string]any{"http": map[string]any{"port": 70000}}, "http.port: must be a port number"},
		{map[string]any{"http": map[string]any{}, "command": []string{"true"}}, "mutually exclusive: http|command"},
		{map[string]any{}, "one of the following is required: http, command"},
	}
	for _, c := range cases {
		for _, check := range []bool{false, true} {
			args := map[string]any{"image": "x", "_ansible_check_mode": check}
			for k, v := range c.args {
				args[k] = v
			}
			res := runModule(t, args)
			assert.Equal(t, true, res["failed"], c.want)
			assert.Contains(t, res["msg"], c.want)
			assert.NotContains(t, res["msg"], moduletest.NoEngine, "decided before the engine")
		}
	}
}

func TestTheProbeContainer(t *testing.T) {
	o := Options{Image: "jenkins/agent:1", Memory: "512m", CPUs: 1.5, Probe: Probe{User: "1000", Env: map[string]any{"B": 2, "A": "x"},
		Entrypoint: []string{}, Command: []string{"java", "-version"}}}
	cfg, host, port, err := containerConfig(o)
	require.NoError(t, err)
	assert.Equal(t, "jenkins/agent:1", cfg.Image)
	assert.Equal(t, "1000", cfg.User)
	assert.Equal(t, []string{"A=x", "B=2"}, cfg.Env, "sorted, values as text")
	assert.Equal(t, []string{""}, []string(cfg.Entrypoint), "an empty list clears the image's entrypoint")
	assert.Equal(t, []string{"java", "-version"}, []string(cfg.Cmd))
	assert.Equal(t, "1", cfg.Labels[probeLabel], "marked as the module's")
	assert.Equal(t, int64(512<<20), host.Memory)
	assert.Equal(t, int64(1_500_000_000), host.NanoCPUs)
	assert.Empty(t, port)
	assert.Empty(t, host.PortBindings)

	o = Options{Image: "jenkins/controller:1", Probe: Probe{HTTP: &HTTPProbe{Port: 8080, Path: "/login", ExpectStatus: 200}, Command: []string{"ignored"}}}
	cfg, host, port, err = containerConfig(o)
	require.NoError(t, err)
	assert.Equal(t, nat.Port("8080/tcp"), port)
	assert.Contains(t, cfg.ExposedPorts, port)
	assert.Equal(t, []nat.PortBinding{{HostIP: "127.0.0.1", HostPort: ""}}, host.PortBindings[port], "published on the loopback only, on a free port")
	assert.Nil(t, cfg.Cmd, "the image's own command serves HTTP")
	assert.Nil(t, cfg.Entrypoint, "the image's entrypoint is kept unless asked")
	assert.Zero(t, host.Memory)
	assert.Zero(t, host.NanoCPUs)
}

func running(context.Context) (bool, int) { return false, 0 }

func TestHTTPProbePassesOnTheExpectedAnswer(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/login" {
			http.NotFound(w, r)
			return
		}
		if hits.Add(1) < 3 { // starting up
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("X-Jenkins", "2.479.1")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	data := map[string]any{}
	err := pollHTTP(context.Background(), srv.URL, HTTPProbe{Path: "/login", ExpectStatus: 200, ExpectHeader: "X-Jenkins"}, 30*time.Second, running, data)
	require.NoError(t, err)
	assert.Equal(t, 3, data["attempts"])
	assert.Equal(t, 200, data["status"])
	assert.Equal(t, "2.479.1", data["header"])
	assert.Empty(t, module.CheckReturns(returns(), data))
}

func TestHTTPProbeFailsWhenTheBudgetRunsOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // the right status, without the header asked for
	}))
	defer srv.Close()
	data := map[string]any{}
	start := time.Now()
	err := pollHTTP(context.Background(), srv.URL, HTTPProbe{Path: "/login", ExpectStatus: 200, ExpectHeader: "X-Jenkins"}, time.Second, running, data)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 3*time.Second, "no wait past the budget")
	assert.Contains(t, err.Error(), "GET /login did not answer 200 within 1s (budget)")
	assert.Contains(t, err.Error(), "answered 200 without the X-Jenkins header")
	assert.Equal(t, "", data["header"])
	assert.GreaterOrEqual(t, data["attempts"], 2)
}

func TestHTTPProbeStopsWhenTheContainerExits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	calls := 0
	exited := func(context.Context) (bool, int) {
		calls++
		return calls >= 2, 137
	}
	data := map[string]any{}
	err := pollHTTP(context.Background(), srv.URL, HTTPProbe{Path: "/", ExpectStatus: 200}, time.Minute, exited, data)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the container exited (code 137) before GET / answered 200; last: GET / answered 502")
	assert.Equal(t, 2, data["attempts"])
	assert.Equal(t, 502, data["status"])
	assert.NotContains(t, data, "header", "no header asked for")
}

func TestHTTPProbeOfNothingListening(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // a port nobody listens on
	err := pollHTTP(context.Background(), url, HTTPProbe{Path: "/", ExpectStatus: 200}, 500*time.Millisecond, running, map[string]any{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connection refused")
}

func TestCommandVerdict(t *testing.T) {
	assert.NoError(t, commandVerdict(0, "openjdk 17\nok", nil))
	assert.NoError(t, commandVerdict(0, "openjdk version \"17.0.9\"", regexp.MustCompile(`version "17\.`)))
	err := commandVerdict(3, "starting\nboom: no such file", nil)
	require.Error(t, err)
	assert.Equal(t, "the command exited with 3: boom: no such file", err.Error(), "the last line says why")
	err = commandVerdict(0, "openjdk version \"11.0.2\"\n", regexp.MustCompile(`version "17\.`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `does not match "version \"17\\.": openjdk version "11.0.2"`)
}
