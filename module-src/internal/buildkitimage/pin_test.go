package buildkitimage

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildctx"
)

func TestPinURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/etag":
			w.Header().Set("ETag", `"v1"`)
		case "/last-modified":
			w.Header().Set("Last-Modified", "Sun, 06 Dec 2026 01:00:00 GMT")
			w.Header().Set("Content-Length", "5")
		case "/missing":
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodHead {
			t.Errorf("pinning a URL asks with HEAD, got %s", r.Method)
		}
	}))
	defer srv.Close()
	r := &runner{o: Options{Retries: 0}}
	cases := []struct {
		src     buildctx.URLSource
		id, why string
	}{
		{buildctx.URLSource{URL: srv.URL + "/any", Checksum: "sha256:abc"}, "checksum sha256:abc", ""},
		{buildctx.URLSource{URL: srv.URL + "/etag"}, `etag "v1"`, ""},
		{buildctx.URLSource{URL: srv.URL + "/last-modified"}, "last-modified Sun, 06 Dec 2026 01:00:00 GMT length 5", ""},
		{buildctx.URLSource{URL: srv.URL + "/none"}, "", "the server gives no ETag or Last-Modified"},
		{buildctx.URLSource{URL: srv.URL + "/missing"}, "", "HEAD answered 404 Not Found"},
	}
	for _, c := range cases {
		id, why := r.pinURL(context.Background(), c.src)
		assert.Equal(t, c.id, id, c.src.URL)
		assert.Equal(t, c.why, why, c.src.URL)
	}
}

func TestUnpinnableSourcesAreNamedInTheReason(t *testing.T) {
	in := &inputs{unresolved: []string{"git source git://x (BuildKit resolves it during the build)", "ADD http://y (the server gives no ETag or Last-Modified)"}}
	assert.Equal(t, "sources that cannot be pinned before a build, so it runs and the result is compared: ADD http://y (the server gives no ETag or Last-Modified); git source git://x (BuildKit resolves it during the build)", in.describeUnresolved())
}
