// Package engine connects to a Docker Engine with community.docker's
// connection options, and says which option to fix when TLS fails.
package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/tlsconfig"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/retry"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/transient"
)

// DefaultHost is the engine socket used when neither docker_host nor DOCKER_HOST is set.
const DefaultHost = "unix:///var/run/docker.sock"

// Options are community.docker's engine connection options.
type Options struct {
	Host          string `json:"docker_host"`
	APIVersion    string `json:"api_version"`
	Timeout       int    `json:"timeout"`
	TLS           bool   `json:"tls"`
	ValidateCerts bool   `json:"validate_certs"`
	CAPath        string `json:"ca_path"`
	ClientCert    string `json:"client_cert"`
	ClientKey     string `json:"client_key"`
	TLSHostname   string `json:"tls_hostname"`
	UseSSHClient  bool   `json:"use_ssh_client"`
	Debug         bool   `json:"debug"`
}

// Engine is a connected engine client plus the per-call timeout the user asked for.
type Engine struct {
	API     *client.Client
	Host    string
	Timeout time.Duration // for short API calls; builds have their own deadline
}

// Connect makes the client and pings the engine, retrying while it is
// unreachable for a transient reason (a restarting daemon).
func Connect(ctx context.Context, o Options) (*Engine, error) {
	return ConnectWith(ctx, o, retry.Default)
}

// ConnectWith is Connect with its own retry policy for the first ping.
func ConnectWith(ctx context.Context, o Options, policy retry.Policy) (*Engine, error) {
	if o.UseSSHClient {
		return nil, fmt.Errorf("use_ssh_client: ssh connections are not supported; forward the engine socket or use tcp:// with TLS")
	}
	host, httpsScheme, err := ParseHost(o.Host)
	if err != nil {
		return nil, fmt.Errorf("docker_host: %w", err)
	}
	if err := CheckAPIVersion(o.APIVersion); err != nil {
		return nil, fmt.Errorf("api_version: %w", err)
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("timeout: must be a positive number of seconds, got %d", o.Timeout)
	}
	// Our own transport (client.WithHost sets its dialer for the address), so
	// that the dialer can wait for an engine that restarts (redial).
	tr := &http.Transport{}
	opts := []client.Opt{client.WithHTTPClient(&http.Client{Transport: tr, CheckRedirect: client.CheckRedirect})}
	if o.TLS || httpsScheme || o.ValidateCerts || o.CAPath != "" && o.ClientCert != "" {
		tc, err := tlsConfig(o, host)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
		opts = append(opts, client.WithScheme("https"))
	}
	opts = append(opts, client.WithHost(host))
	if o.APIVersion != "" && o.APIVersion != "auto" {
		opts = append(opts, client.WithVersion(o.APIVersion))
	} else {
		opts = append(opts, client.WithAPIVersionNegotiation())
	}
	api, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker_host %q: %w", host, err)
	}
	timeout := time.Duration(o.Timeout) * time.Second
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	e := &Engine{API: api, Host: host, Timeout: timeout}
	answered := &atomic.Bool{}
	tr.DialContext = redial(tr.DialContext, answered, timeout)
	var ping types.Ping
	_, err = retry.Do(ctx, policy, transient.Is, func(ctx context.Context) error {
		cctx, cancel := e.Call(ctx)
		defer cancel()
		ping, err = api.Ping(cctx)
		return err
	})
	if err != nil {
		api.Close()
		if hint, ok := tlsHint(err); ok {
			return nil, fmt.Errorf("cannot reach the Docker engine at %s: %w (%s)", host, err, hint)
		}
		return nil, fmt.Errorf("cannot reach the Docker engine at %s: %w", host, err)
	}
	// Settle the API version from this ping instead of a second round trip.
	api.NegotiateAPIVersionPing(ping)
	answered.Store(true)
	return e, nil
}

// redial wraps the transport's dialer: once the engine has answered, a dial
// it refuses (its socket gone or not listening: the engine restarting) is
// tried again with backoff, for up to wait (the timeout option) or the
// call's own deadline, so a call made while the engine restarts waits for
// it instead of failing. Before the engine first answered, Connect's own
// retries apply. Only the dial is retried: nothing has been sent yet.
func redial(dial func(ctx context.Context, network, addr string) (net.Conn, error), answered *atomic.Bool, wait time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err == nil || !answered.Load() || !transient.NotListening(err) {
			return conn, err
		}
		deadline := time.Now().Add(wait)
		pause := 250 * time.Millisecond
		for time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return nil, err
			case <-time.After(pause):
			}
			if conn, err = dial(ctx, network, addr); err == nil || !transient.NotListening(err) {
				return conn, err
			}
			pause = min(pause*2, 2*time.Second)
		}
		return nil, err
	}
}

// Call bounds a short API call by the user's timeout.
func (e *Engine) Call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.Timeout)
}

// Close releases the client's connections.
func (e *Engine) Close() error { return e.API.Close() }

func tlsConfig(o Options, host string) (*tls.Config, error) {
	certDir := os.Getenv("DOCKER_CERT_PATH")
	pick := func(v, file string) string {
		if v == "" && certDir != "" {
			if _, err := os.Stat(filepath.Join(certDir, file)); err == nil {
				return filepath.Join(certDir, file)
			}
		}
		return v
	}
	opts := tlsconfig.Options{
		CAFile:             pick(o.CAPath, "ca.pem"),
		CertFile:           pick(o.ClientCert, "cert.pem"),
		KeyFile:            pick(o.ClientKey, "key.pem"),
		InsecureSkipVerify: !o.ValidateCerts,
	}
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, errors.New("client_cert and client_key must be given together")
	}
	tc, err := tlsconfig.Client(opts)
	if err != nil {
		return nil, fmt.Errorf("TLS configuration (ca_path, client_cert, client_key): %w", err)
	}
	if o.TLSHostname != "" {
		tc.ServerName = o.TLSHostname
	} else if h, _, err := net.SplitHostPort(strings.TrimPrefix(host, "tcp://")); err == nil {
		tc.ServerName = h
	}
	return tc, nil
}

// tlsHint says which connection option to fix when err is the TLS handshake
// with the engine failing, and whether it is one.
func tlsHint(err error) (string, bool) {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unknown authority"):
		return "the engine's certificate is not signed by the CA in ca_path (or DOCKER_CERT_PATH/ca.pem)", true
	case strings.Contains(msg, "certificate is valid for"), strings.Contains(msg, "certificate is not valid for"):
		return "the engine's certificate does not name this host: set tls_hostname to a name it holds", true
	case strings.Contains(msg, "certificate required"):
		return "the engine requires a client certificate: set client_cert and client_key (or DOCKER_CERT_PATH)", true
	case strings.Contains(msg, "bad certificate"), strings.Contains(msg, "unknown certificate"):
		return "the engine refused the client certificate in client_cert: is it signed by a CA the engine trusts?", true
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"), strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "the engine does not speak TLS there: set tls and validate_certs to false", true
	}
	return "", false
}
