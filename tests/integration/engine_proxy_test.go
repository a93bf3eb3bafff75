package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// engineSocket is the unix socket of the engine under test.
func engineSocket(t *testing.T) string {
	t.Helper()
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	sock, ok := strings.CutPrefix(host, "unix://")
	require.True(t, ok, "the engine under test is not on a unix socket: %s", host)
	return sock
}

// engineProxy serves the engine's API on 127.0.0.1 (with TLS when tlsCfg is
// given) through an HTTP reverse proxy, upgrades (BuildKit's /grpc and
// /session) included. Paths refuse says yes to get a 404, as from an engine
// that has no such endpoint. It returns host:port.
func engineProxy(t *testing.T, tlsCfg *tls.Config, refuse func(path string) bool) string {
	t.Helper()
	sock := engineSocket(t)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "docker"
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}},
		FlushInterval: -1,
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse != nil && refuse(r.URL.Path) {
			http.Error(w, `{"message":"page not found"}`, http.StatusNotFound)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	if tlsCfg != nil {
		srv.TLS = tlsCfg
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestEngineWithoutBuildKitFallsBackToTheClassicBuilder: an engine that
// serves no /grpc (BuildKit) endpoint builds with the classic builder under
// build_method auto, and a Dockerfile that needs BuildKit fails naming its line.
func TestEngineWithoutBuildKitFallsBackToTheClassicBuilder(t *testing.T) {
	addr := engineProxy(t, nil, func(p string) bool { return strings.HasSuffix(p, "/grpc") || strings.HasSuffix(p, "/session") })
	host := "tcp://" + addr
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN echo classic > /how\n"})
	args := buildArgs(name, dir, nil)
	args["docker_host"] = host
	first := run(t, "buildkit_image", args)
	require.False(t, first.failed(), first.msg())
	assert.True(t, first.changed())
	assert.Equal(t, "legacy (docker engine classic builder)", first["builder"])
	assert.Contains(t, toJSON(t, first["warnings"]), "has no BuildKit")
	second := run(t, "buildkit_image", args)
	require.False(t, second.failed(), second.msg())
	assert.False(t, second.changed(), "the classic builder's image is a no-op the second time too")

	bk := buildArgs(uniqueName(t), cacheMountContext(t), nil)
	bk["docker_host"] = host
	refused := run(t, "buildkit_image", bk)
	assert.True(t, refused.failed())
	assert.Contains(t, refused.msg(), "has no BuildKit")
	assert.Contains(t, refused.msg(), "RUN --mount=type=cache")

	only := buildArgs(uniqueName(t), dir, nil)
	only["docker_host"] = host
	only["build_method"] = "buildkit"
	strict := run(t, "buildkit_image", only)
	assert.True(t, strict.failed())
	assert.Contains(t, strict.msg(), "build_method=buildkit: the engine at "+host+" serves no BuildKit")
}

// TestEngineOverMutualTLS: the engine connection options (tls,
// validate_certs, ca_path, client_cert, client_key, tls_hostname, and
// DOCKER_CERT_PATH) against an engine endpoint that requires a client
// certificate, BuildKit's /grpc included; wrong settings fail naming them.
func TestEngineOverMutualTLS(t *testing.T) {
	ca := newTestCA(t, "engine-ca")
	serverCert, serverKey := ca.issue(t, "engine", true)
	clientCert, clientKey := ca.issue(t, "client", false)
	pair, err := tls.LoadX509KeyPair(serverCert, serverKey)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	host := "tcp://" + engineProxy(t, &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}, nil)
	conn := map[string]any{"docker_host": host, "tls": true, "validate_certs": true, "ca_path": ca.caFile(),
		"client_cert": clientCert, "client_key": clientKey}

	name := uniqueName(t)
	args := buildArgs(name, cacheMountContext(t), nil)
	for k, v := range conn {
		args[k] = v
	}
	built := run(t, "buildkit_image", args)
	require.False(t, built.failed(), built.msg())
	assert.Equal(t, "buildkit (docker engine)", built["builder"], "BuildKit's /grpc works over the TLS connection")

	local := func(extra map[string]any) result {
		a := map[string]any{"name": name, "source": "local"}
		for k, v := range conn {
			a[k] = v
		}
		for k, v := range extra {
			if v == nil {
				delete(a, k)
			} else {
				a[k] = v
			}
		}
		return run(t, "buildkit_image", a)
	}
	ok := local(map[string]any{"tls_hostname": "buildkitd.test"})
	require.False(t, ok.failed(), "tls_hostname names a name in the certificate: %s", ok.msg())

	wrongName := local(map[string]any{"tls_hostname": "other.test"})
	assert.True(t, wrongName.failed())
	assert.Contains(t, wrongName.msg(), "tls_hostname")
	other := newTestCA(t, "other-ca")
	wrongCA := local(map[string]any{"ca_path": other.caFile()})
	assert.True(t, wrongCA.failed())
	assert.Contains(t, wrongCA.msg(), "ca_path")
	noClient := local(map[string]any{"client_cert": nil, "client_key": nil})
	assert.True(t, noClient.failed())
	assert.Contains(t, noClient.msg(), "client_cert")

	plain := local(map[string]any{"docker_host": "tcp://" + engineProxy(t, nil, nil)})
	assert.True(t, plain.failed())
	assert.Contains(t, plain.msg(), "does not speak TLS there: set tls and validate_certs to false")

	// DOCKER_CERT_PATH holds ca.pem, cert.pem and key.pem, as the docker CLI reads them.
	certDir := t.TempDir()
	for src, dst := range map[string]string{ca.caFile(): "ca.pem", clientCert: "cert.pem", clientKey: "key.pem"} {
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(certDir, dst), b, 0o600))
	}
	t.Setenv("DOCKER_CERT_PATH", certDir)
	fromEnv := local(map[string]any{"ca_path": nil, "client_cert": nil, "client_key": nil})
	require.False(t, fromEnv.failed(), "DOCKER_CERT_PATH: %s", fromEnv.msg())
}
