package buildkitimage

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// FuzzBuildkitImageArgs feeds arbitrary args objects through the module's
// spec and option checks: never a panic, always an answer.
func FuzzBuildkitImageArgs(f *testing.F) {
	for _, seed := range []string{
		`{"name": "x", "source": "build", "build": {"path": "/tmp"}}`,
		`{"name": "x:y", "tag": "z", "state": "absent"}`,
		`{"name": "sha256:` + strings.Repeat("a", 64) + `", "source": "local", "repository": "r:t", "push": true}`,
		`{"name": "x", "source": "build", "build": {"path": "/tmp", "secrets": [{"id": "a", "type": "env", "env": "HOME"}], "cache_from": [{"type": "local", "src": "/tmp"}, "img"]}}`,
		`{"name": "x", "source": "build", "build": {"path": "/tmp", "container_limits": {"memory": "1g", "memswap": -1}}}`,
		`{"name": 1, "tag": true, "source": null}`,
		`{"name": "r:5000/x", "push": true, "source": "build", "build": {"path": "/tmp", "platform": "linux/amd64,linux/arm64", "provenance": "max"}, "builder": {"driver": "docker-container", "memory": "4g", "cpus": 2}}`,
		`{"name": "x", "source": "build", "build": {"path": "/tmp", "platform": ["linux/bogus/x/y"], "sbom": true}, "builder": {"driver": "remote", "endpoint": "tcp://h:1", "fallback": "yes"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var raw map[string]any
		if json.Unmarshal(data, &raw) != nil {
			return
		}
		m, err := module.ParseArgs(raw, Spec(), func(string) string { return "" })
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		var o Options
		_ = m.Decode(&o)
		_ = CheckOptions(o)
	})
}
