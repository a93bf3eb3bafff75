package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

func TestTLSHints(t *testing.T) {
	for _, c := range []struct {
		err  error
		hint string
	}{
		{syscall.ECONNREFUSED, ""},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), ""},
		{context.Canceled, ""},
		{errors.New("no such image"), ""},
		{errors.New(`error during connect: Head "https://h:2376/_ping": tls: failed to verify certificate: x509: certificate signed by unknown authority`), "ca_path"},
		{errors.New("x509: certificate is valid for a.test, not b.test"), "tls_hostname"},
		{errors.New("remote error: tls: certificate required"), "client_cert and client_key"},
		{errors.New("remote error: tls: bad certificate"), "client_cert"},
		{errors.New("http: server gave HTTP response to HTTPS client"), "tls and validate_certs to false"},
	} {
		hint, ok := tlsHint(c.err)
		assert.Equal(t, c.hint != "", ok, "%v", c.err)
		assert.Contains(t, hint, c.hint, "%v", c.err)
	}
}

func TestConnectionOptionsAreCheckedBeforeAnyWork(t *testing.T) {
	for in, want := range map[string]string{
		"":                                DefaultHost,
		"unix://":                         DefaultHost,
		"unix:///run/docker.sock":         "unix:///run/docker.sock",
		"http+unix:///run/docker.sock":    "unix:///run/docker.sock",
		"tcp://10.0.0.1:2376":             "tcp://10.0.0.1:2376",
		"http://build-1.example.com:2375": "tcp://build-1.example.com:2375",
		"build-1.example.com:2375":        "tcp://build-1.example.com:2375",
		"tcp://[::1]:2375/":               "tcp://[::1]:2375",
	} {
		addr, _, err := ParseHost(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, addr, in)
		}
	}
	_, tls, err := ParseHost("https://h:2376")
	assert.NoError(t, err)
	assert.True(t, tls, "https:// asks for TLS")

	for in, want := range map[string]string{
		"foo://bar:2375":       `unsupported scheme "foo"`,
		"htp://h:2375":         `unsupported scheme "htp"`,
		"ssh://user@host":      "ssh:// connections are not supported",
		"npipe:////./pipe/x":   "named pipes are not supported",
		"fd://":                "fd://",
		"/var/run/docker.sock": "unix:///var/run/docker.sock",
		"unix://relative.sock": "absolute path",
		"tcp://h":              "HOST:PORT",
		"tcp://:2375":          "HOST:PORT",
		"tcp://h:http":         "not a port number",
		"tcp://h:70000":        "not a port number",
	} {
		_, _, err := ParseHost(in)
		assert.ErrorContains(t, err, want, in)
		assert.ErrorContains(t, CheckHost(in), want, in)
	}

	for _, v := range []string{"auto", "", "1.41", "1.24"} {
		assert.NoError(t, CheckAPIVersion(v), v)
	}
	assert.ErrorContains(t, CheckAPIVersion("latest"), `"latest" is not an engine API version`)
	assert.ErrorContains(t, CheckAPIVersion("v1.41"), "without the v: 1.41")
	assert.ErrorContains(t, CheckAPIVersion("1.41; rm -rf /"), "MAJOR.MINOR")

	assert.NoError(t, checkTimeout(1))
	assert.ErrorContains(t, checkTimeout(-5), "must be a positive number of seconds, got -5")
	assert.ErrorContains(t, checkTimeout(0), "got 0")
}

// TestSpecChecksRunBeforeTheModule: the checks sit on the options every
// module takes, so the runtime refuses bad values (also from DOCKER_*
// variables) before the module connects to anything.
func TestSpecChecksRunBeforeTheModule(t *testing.T) {
	spec := module.Spec{Options: ArgSpec()}
	_, err := module.ParseArgs(map[string]any{"timeout": -1, "api_version": "newest", "docker_host": "foo://bar"}, spec, nil)
	require.Error(t, err)
	for _, want := range []string{"timeout: must be a positive number of seconds, got -1", `api_version: "newest" is not an engine API version`,
		`docker_host: "foo://bar": unsupported scheme "foo"`} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = module.ParseArgs(map[string]any{}, spec, func(k string) string {
		return map[string]string{"DOCKER_HOST": "ftp://h:21"}[k]
	})
	assert.ErrorContains(t, err, `docker_host: "ftp://h:21": unsupported scheme "ftp"`)
}

// TestRedialWaitsForARestartingEngine: once the engine answered, a refused
// dial (the engine restarting) is tried again; before that, and for other
// errors, it fails at once.
func TestRedialWaitsForARestartingEngine(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	flaky := func(fails int, err error) (func(context.Context, string, string) (net.Conn, error), *int) {
		calls := 0
		return func(context.Context, string, string) (net.Conn, error) {
			calls++
			if calls <= fails {
				return nil, err
			}
			c, _ := net.Pipe()
			return c, nil
		}, &calls
	}
	answered := &atomic.Bool{}
	answered.Store(true)

	dial, calls := flaky(2, refused)
	conn, err := redial(dial, answered, 10*time.Second)(context.Background(), "unix", "x")
	require.NoError(t, err)
	conn.Close()
	assert.Equal(t, 3, *calls, "retried while the engine was down")

	dial, calls = flaky(2, errors.New("no route to host"))
	_, err = redial(dial, answered, 10*time.Second)(context.Background(), "tcp", "x")
	assert.Error(t, err)
	assert.Equal(t, 1, *calls, "other errors are not retried")

	dial, calls = flaky(100, refused)
	start := time.Now()
	_, err = redial(dial, answered, 600*time.Millisecond)(context.Background(), "unix", "x")
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Less(t, time.Since(start), 3*time.Second, "no longer than the timeout option")

	dial, calls = flaky(100, refused)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = redial(dial, answered, time.Minute)(ctx, "unix", "x")
	assert.Error(t, err, "nor than the call's own deadline")

	before := &atomic.Bool{}
	dial, calls = flaky(2, refused)
	_, err = redial(dial, before, time.Minute)(context.Background(), "unix", "x")
	assert.Error(t, err)
	assert.Equal(t, 1, *calls, "before the engine first answered, Connect's own retries apply")
}
