package integration

// Helpers for tests that push to or pull from the local registries that
// tests/scripts/registry.sh starts (Debian's docker-registry, plain HTTP on
// 127.0.0.1, which the Docker Engine treats as insecure by default).

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	plainRegistry    = "127.0.0.1:5000" // no auth
	authRegistry     = "127.0.0.1:5001" // htpasswd auth, realm bk-test
	registryUser     = "bkuser"
	registryPassword = "bkpass-7f3a"
)

// manifestAccept is what a client sends to get any image manifest or index.
var manifestAccept = strings.Join([]string{
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
}, ", ")

var registryHTTP = &http.Client{Timeout: 10 * time.Second}

// requireRegistries fails the test unless both local registries answer /v2/:
// the plain one with 200, the auth one with 401 (no credentials sent).
func requireRegistries(t testing.TB) {
	t.Helper()
	for _, r := range []struct {
		addr string
		want int
	}{{plainRegistry, http.StatusOK}, {authRegistry, http.StatusUnauthorized}} {
		resp, err := registryHTTP.Get("http://" + r.addr + "/v2/")
		if err != nil {
			t.Fatalf("registry %s does not answer (%v); run tests/scripts/registry.sh start", r.addr, err)
		}
		resp.Body.Close()
		if resp.StatusCode != r.want {
			t.Fatalf("registry %s answers GET /v2/ with %d, want %d; run tests/scripts/registry.sh start",
				r.addr, resp.StatusCode, r.want)
		}
	}
}

// flakyProxy starts a reverse proxy on 127.0.0.1 in front of target (host:port)
// that answers status to the first failFirst requests under /v2/ other than the
// /v2/ ping itself (so clients still find the registry), and forwards everything
// else. hits reports how many requests it failed. The Host header is passed
// through, so the registry's upload Locations point back at the proxy.
func flakyProxy(t testing.TB, target string, failFirst int, status int) (addr string, hits func() int) {
	t.Helper()
	return flakyProxyMatching(t, target, failFirst, status, func(r *http.Request) bool {
		return strings.HasPrefix(r.URL.Path, "/v2/") && r.URL.Path != "/v2/"
	})
}

// isManifestPut matches the request that publishes a tag: the engine does not
// retry a failed manifest PUT itself, so failures there reach the module.
func isManifestPut(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
}

// flakyProxyMatching is flakyProxy failing only the requests match accepts.
func flakyProxyMatching(t testing.TB, target string, failFirst int, status int, match func(*http.Request) bool) (addr string, hits func() int) {
	t.Helper()
	var (
		mu     sync.Mutex
		failed int
	)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match(r) {
			mu.Lock()
			fail := failed < failFirst
			if fail {
				failed++
			}
			mu.Unlock()
			if fail {
				// Read the body so the client sees the status, not a reset.
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
				w.WriteHeader(status)
				fmt.Fprintf(w, `{"errors":[{"code":"UNAVAILABLE","message":"flakyProxy: injected %d"}]}`+"\n", status)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("flakyProxy: listen: %v", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return failed
	}
}

// registryManifestExists reports whether registry has a manifest for repo:tag
// (HEAD /v2/<repo>/manifests/<tag>). With auth it sends the test credentials.
func registryManifestExists(t testing.TB, registry, repo, tag string, auth bool) bool {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, "http://"+registry+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatalf("registryManifestExists: %v", err)
	}
	req.Header.Set("Accept", manifestAccept)
	if auth {
		req.SetBasicAuth(registryUser, registryPassword)
	}
	resp, err := registryHTTP.Do(req)
	if err != nil {
		t.Fatalf("HEAD %s: %v", req.URL, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusNotFound:
		return false
	}
	t.Fatalf("HEAD %s: unexpected status %s", req.URL, resp.Status)
	return false
}

// randomRepo is a repository name no other test uses.
func randomRepo() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "bk-it/" + hex.EncodeToString(b)
}

func TestRegistryHelpers(t *testing.T) {
	requireRegistries(t)

	addr, hits := flakyProxy(t, plainRegistry, 2, http.StatusServiceUnavailable)
	get := func(path string) int {
		t.Helper()
		resp, err := registryHTTP.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s through flakyProxy: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("/v2/"); got != http.StatusOK {
		t.Fatalf("ping through flakyProxy: got %d, want 200 (the ping is never failed)", got)
	}
	for i, want := range []int{503, 503, 200, 200} {
		if got := get("/v2/_catalog"); got != want {
			t.Fatalf("GET /v2/_catalog #%d through flakyProxy: got %d, want %d", i+1, got, want)
		}
	}
	if hits() != 2 {
		t.Fatalf("flakyProxy hits() = %d, want 2", hits())
	}

	repo := randomRepo()
	if registryManifestExists(t, plainRegistry, repo, "latest", false) {
		t.Fatalf("manifest %s/%s:latest exists on a fresh name", plainRegistry, repo)
	}
	if registryManifestExists(t, authRegistry, repo, "latest", true) {
		t.Fatalf("manifest %s/%s:latest exists on a fresh name", authRegistry, repo)
	}
}
