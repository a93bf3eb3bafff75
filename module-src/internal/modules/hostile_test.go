package modules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/moduletest"
)

// Hostile and malformed arguments fail with a message naming the option,
// never with a panic or a non-JSON reply, before the engine is asked. The
// cases decided after the engine answers (paths in the build context, the
// archive, the builder's container) are tests/integration's TestHostileInputs.
func TestHostileInputs(t *testing.T) {
	image, ok := Lookup("buildkit_image")
	require.True(t, ok)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM local/busybox:latest\n"), 0o644))
	cases := []struct {
		name string
		raw  string
		want string
	}{
		{"huge name", `{"name": "` + strings.Repeat("a", 1<<20) + `", "source": "local"}`, "name"},
		{"NUL in name", `{"name": "bad\u0000name", "source": "local"}`, "name"},
		{"NUL in tag", `{"name": "x", "tag": "v\u00001", "source": "local"}`, "tag"},
		{"non-UTF-8 in name", "{\"name\": \"\xff\xfe\", \"source\": \"local\"}", "name"},
		{"deeply nested build.args", `{"name": "x", "source": "build", "build": {"path": "` + dir + `", "args": ` + strings.Repeat(`{"a": `, 200) + `1` + strings.Repeat(`}`, 200) + `}, "build_timeout": -1}`, "build_timeout"},
		{"build as a string", `{"name": "x", "source": "build", "build": "path=/tmp; rm -rf /"}`, "build"},
		{"list for a string", `{"name": ["a", "b"], "source": "local"}`, "name"},
		{"dict for a bool", `{"name": "x", "source": "local", "force_source": {"a": 1}}`, "force_source"},
		{"text for an int", `{"name": "x", "source": "local", "timeout": "soon"}`, "timeout"},
		{"float for an int", `{"name": "x", "source": "local", "retries": 2.5}`, "retries"},
		{"negative retries", `{"name": "x", "source": "local", "retries": -1}`, "retries"},
		{"unknown sub-option", `{"name": "x", "source": "build", "build": {"path": "/tmp", "squash": true}}`, "build.squash"},
		{"secret without id", `{"name": "x", "source": "build", "build": {"path": "/tmp", "secrets": [{"type": "value", "value": "zzz"}]}}`, "id"},
		{"bad output type", `{"name": "x", "source": "build", "build": {"path": "/tmp", "outputs": [{"type": "registry"}]}}`, "type"},
		{"bad builder driver", `{"name": "x", "source": "build", "build": {"path": "/tmp"}, "builder": {"driver": "kubernetes"}}`, "driver must be one of"},
		{"remote without endpoint", `{"name": "x", "source": "build", "build": {"path": "/tmp"}, "builder": {"driver": "remote"}}`, "endpoint"},
		{"remote cert without key", `{"name": "x", "source": "build", "build": {"path": "/tmp"}, "builder": {"driver": "remote", "endpoint": "tcp://h:1", "cert": "/c"}}`, "key"},
		{"bad platform", `{"name": "x", "source": "build", "build": {"path": "/tmp", "platform": "linux/amd64,no such/thing"}}`, "build.platform[1]"},
		{"several platforms without push", `{"name": "x", "source": "build", "build": {"path": "/tmp", "platform": ["linux/amd64", "linux/arm64"]}, "builder": {"driver": "remote", "endpoint": "tcp://h:1", "insecure": true}}`, "push: true"},
		{"provenance level", `{"name": "x", "source": "build", "build": {"path": "/tmp", "provenance": "full"}}`, "provenance"},
		{"unknown architecture", `{"name": "x", "source": "build", "build": {"path": "` + dir + `", "platform": "linux/amd46"}}`, `build.platform[0]: "linux/amd46": unknown architecture "amd46"`},
		{"unknown pull architecture", `{"name": "x", "source": "pull", "pull": {"platform": "linux/arm65"}}`, `pull.platform: "linux/arm65": unknown architecture`},
		{"negative timeout", `{"name": "x", "source": "local", "timeout": -5}`, "timeout: must be a positive number of seconds, got -5"},
		{"api_version not a version", `{"name": "x", "source": "local", "api_version": "latest"}`, `api_version: "latest" is not an engine API version`},
		{"docker_host with an unsupported scheme", `{"name": "x", "source": "local", "docker_host": "foo://build-1.invalid:2375"}`, `docker_host: "foo://build-1.invalid:2375": unsupported scheme "foo"`},
		{"docker_host without a port", `{"name": "x", "source": "local", "docker_host": "tcp://build-1.invalid"}`, "docker_host"},
		{"not an object", `["name", "x"]`, "args"},
		{"not JSON", `name=x source=local`, "args"},
		{"empty file", ``, "args"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := moduletest.RunRaw(t, "buildkit_image", image.Spec(), image.Run, []byte(c.raw))
			msg, _ := res["msg"].(string)
			assert.Equal(t, true, res["failed"], "must fail")
			assert.Contains(t, strings.ToLower(msg), strings.ToLower(c.want))
			assert.NotContains(t, msg, "panic")
			assert.NotContains(t, msg, "goroutine")
			assert.NotContains(t, msg, moduletest.NoEngine, "decided before the engine was asked")
		})
	}
}
