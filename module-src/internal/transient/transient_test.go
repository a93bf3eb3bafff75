package transient

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "dial tcp 10.0.0.1:443: i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestIs(t *testing.T) {
	for _, c := range []struct {
		why       string
		err       error
		transient bool
	}{
		// The engine or a BuildKit daemon restarting, a connection dropping.
		{"connection refused", fmt.Errorf("dial unix /var/run/docker.sock: %w", syscall.ECONNREFUSED), true},
		{"socket gone while the daemon restarts", fmt.Errorf("dial: %w", syscall.ENOENT), true},
		{"connection reset", syscall.ECONNRESET, true},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"a stream cut mid-build", errors.New("failed to solve: error reading from server: EOF"), true},
		{"gRPC unavailable", status.Error(codes.Unavailable, "connection error"), true},
		{"a network timeout", timeoutErr{}, true},
		{"the engine not running", errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"), true},
		// A registry overloaded or throttling.
		{"503 from a registry during an export", errors.New("failed to solve: error writing manifest blob: unavailable: injected 503"), true},
		{"502", errors.New("received unexpected HTTP status: 502 Bad Gateway"), true},
		{"429", errors.New("toomanyrequests: You have reached your pull rate limit"), true},
		{"500 on push", errors.New("received unexpected HTTP status: 500 Internal Server Error"), true},
		// Never worth another try.
		{"nil", nil, false},
		{"cancelled", context.Canceled, false},
		{"deadline", fmt.Errorf("build: %w", context.DeadlineExceeded), false},
		{"gRPC cancelled", status.Error(codes.Canceled, "context canceled"), false},
		{"a RUN step that printed 503", errors.New(`process "/bin/sh -c curl -f http://x || echo 503 Service Unavailable; exit 1" did not complete successfully: exit code: 1`), false},
		{"a RUN step that printed EOF", errors.New(`process "/bin/sh -c read x" did not complete successfully: exit code: 1: unexpected EOF`), false},
		{"a Dockerfile error", errors.New("failed to solve: dockerfile parse error on line 2: unknown instruction: RUNN"), false},
		{"an unknown CA", fmt.Errorf("get: %w", x509.UnknownAuthorityError{}), false},
		{"an unknown CA as text", errors.New(`error during connect: Head "https://h:2376/_ping": tls: failed to verify certificate: x509: certificate signed by unknown authority`), false},
		{"a certificate for another host", errors.New("x509: certificate is valid for a.test, not b.test"), false},
		{"no client certificate", errors.New("remote error: tls: certificate required"), false},
		{"a refused client certificate", errors.New("remote error: tls: bad certificate"), false},
		{"TLS against plain HTTP", errors.New("http: server gave HTTP response to HTTPS client"), false},
		{"refused credentials", errors.New("unauthorized: authentication required"), false},
		{"no credentials", errors.New("no basic auth credentials"), false},
		{"a denied push", errors.New("denied: requested access to the resource is denied"), false},
		{"a missing tag", errors.New("manifest unknown: manifest unknown"), false},
		{"a missing image", errors.New("Error response from daemon: pull access denied for x, repository does not exist"), false},
		{"no such image", errors.New("No such image: x:1"), false},
	} {
		assert.Equal(t, c.transient, Is(c.err), c.why)
	}
}
