package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// defaultEngine is Debian's Docker 20.10 on its usual socket.
const defaultEngine = "unix:///var/run/docker.sock"

// TestRoleOnTwoBuildHosts runs the role on an inventory of two build hosts,
// the two engines of the matrix (Debian's 20.10 and a current engine): with
// jenkins_images_distribute each builds its share of the set, pushes it to
// the registry and promotes it there, and the controller gets one report of
// both hosts. It runs where DOCKER_HOST names the second engine (the
// matrix's current-engine pass).
func TestRoleOnTwoBuildHosts(t *testing.T) {
	second := os.Getenv("DOCKER_HOST")
	if second == "" || second == defaultEngine {
		t.Skip("needs a second engine in DOCKER_HOST (the current-engine pass of make test-matrix)")
	}
	requireRegistries(t)
	s, namespace, reports, vars := roleSetup(t)
	// The hosts share bases and results through the registry.
	for _, key := range []string{"controller", "agent"} {
		ref := plainRegistry + "/" + namespace + "/" + strings.TrimSuffix(s[key], ":latest") + ":latest"
		pushToRegistry(t, s[key], ref)
		s[key] = ref
	}
	vars["jenkins_images_base_images"] = map[string]any{"master": s["controller"], "dind": s["agent"], "maven": s["agent"],
		"python": s["agent"], "nodejs": s["agent"]}
	vars["jenkins_images_registry"] = plainRegistry + "/"
	vars["jenkins_images_push"] = true
	vars["jenkins_images_distribute"] = true
	vars["jenkins_images_cache_limit"] = "1TB"
	delete(vars, "jenkins_images_build_dir") // one per host, in the inventory
	prefix := plainRegistry + "/" + namespace + "/"
	engines := map[string]string{"build-a": defaultEngine, "build-b": second}
	t.Cleanup(func() {
		for _, host := range engines {
			c, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
			if err != nil {
				continue
			}
			for _, repo := range []string{"jenkins-master", "jenkins-agent-dind", "jenkins-agent-maven", "jenkins-agent-python", "jenkins-agent-nodejs"} {
				for _, tag := range []string{"candidate", "latest", "previous"} {
					_, _ = c.ImageRemove(context.Background(), prefix+repo+":"+tag, image.RemoveOptions{Force: true})
				}
			}
			c.Close()
		}
	})

	// Two machines: each host its own engine, build directory and module state.
	dir := t.TempDir()
	writeInventory := func(file string, engines map[string]string) string {
		var hosts strings.Builder
		for _, h := range []string{"build-a", "build-b", "build-c"} {
			if engines[h] == "" {
				continue
			}
			fmt.Fprintf(&hosts, "        %s:\n          ansible_connection: local\n          ansible_python_interpreter: /usr/bin/python3\n"+
				"          test_docker_host: %q\n          test_cache_home: %q\n          jenkins_images_build_dir: %q\n",
				h, engines[h], filepath.Join(dir, h, "cache"), filepath.Join(dir, h, "build"))
		}
		inventory := filepath.Join(dir, file)
		require.NoError(t, os.WriteFile(inventory, []byte("all:\n  children:\n    jenkins_build_hosts:\n      hosts:\n"+hosts.String()), 0o644))
		return inventory
	}
	inventory := writeInventory("hosts.yml", engines)
	play := filepath.Join(dir, "site.yml")
	require.NoError(t, os.WriteFile(play, []byte(`- name: Jenkins images on two build hosts
  hosts: jenkins_build_hosts
  gather_facts: false
  environment:
    DOCKER_HOST: "{{ test_docker_host }}"
    XDG_CACHE_HOME: "{{ test_cache_home }}"
  roles:
    - role: jenkins_ha.buildkit.jenkins_images
`), 0o644))

	out, ok := playbook(t, play, vars, "-i", inventory)
	require.True(t, ok, out)
	share := map[string][]string{"build-a": {"master", "maven", "nodejs"}, "build-b": {"dind", "python"}}
	for host, images := range share {
		r := readHostReport(t, reports, host)
		assert.ElementsMatch(t, images, r.Summary.Built, "%s builds its share", host)
		assert.ElementsMatch(t, images, r.Summary.Promoted)
		assert.Empty(t, r.Summary.Failed)
		api := engineClient(t, engines[host])
		for _, img := range []string{"master", "dind", "maven", "python", "nodejs"} {
			_, err := api.ImageInspect(context.Background(), prefix+repoOf(img)+":candidate")
			mine := strings.Contains(strings.Join(images, " "), img)
			assert.Equal(t, mine, err == nil, "%s holds %s only when it is its share", host, img)
		}
	}
	for _, img := range []string{"master", "dind", "maven", "python", "nodejs"} {
		assert.True(t, registryManifestExists(t, plainRegistry, namespace+"/"+repoOf(img), "latest", false), "%s promoted in the registry", img)
	}

	// One report of both hosts, on the controller.
	raw, err := os.ReadFile(filepath.Join(reports, "build-report-hosts.json"))
	require.NoError(t, err)
	var hr struct {
		Verdict string                     `json:"verdict"`
		Hosts   map[string]json.RawMessage `json:"hosts"`
		Missing []string                   `json:"missing_hosts"`
		Summary struct{ Built []string }   `json:"summary"`
	}
	require.NoError(t, json.Unmarshal(raw, &hr))
	assert.Equal(t, "passed", hr.Verdict)
	assert.Len(t, hr.Hosts, 2)
	assert.Empty(t, hr.Missing)
	assert.Len(t, hr.Summary.Built, 5)
	html, err := os.ReadFile(filepath.Join(reports, "build-report-hosts.html"))
	require.NoError(t, err)
	for _, want := range []string{`id="host-build-a"`, `id="host-build-b"`, `id="image-build-a-master"`, `id="image-build-b-python"`} {
		assert.Contains(t, string(html), want)
	}
	metrics, err := os.ReadFile(filepath.Join(reports, "jenkins_images_hosts.prom"))
	require.NoError(t, err)
	assert.Contains(t, string(metrics), "jenkins_images_hosts_passed 1")
	assert.Contains(t, string(metrics), `jenkins_images_hosts_images{host="build-b",status="built"} 2`)
	keepOutput(t, filepath.Join(reports, "build-report-hosts.html"))

	// The second run changes nothing on either host.
	out, ok = playbook(t, play, vars, "-i", inventory)
	require.True(t, ok, out)
	for host := range share {
		assert.Regexp(t, host+`\s*: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0`, out, "a no-op on %s", host)
		assert.Empty(t, readHostReport(t, reports, host).Summary.Built)
	}

	// A third host whose engine is down fails its preflight: the shares are dealt over the two that passed
	// (still no-ops), and the report of all hosts says the third has none.
	engines["build-c"] = "unix://" + filepath.Join(dir, "no-engine.sock")
	out, ok = playbook(t, play, vars, "-i", writeInventory("hosts3.yml", engines))
	assert.False(t, ok, "the host without an engine fails the play")
	assert.Regexp(t, `build-c\s*: ok=\d+\s+changed=0\s+unreachable=0\s+failed=1`, out)
	for host := range share {
		assert.Regexp(t, host+`\s*: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0`, out, "%s keeps its share, a no-op", host)
	}
	raw, err = os.ReadFile(filepath.Join(reports, "build-report-hosts.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &hr))
	assert.Equal(t, "failed", hr.Verdict)
	assert.Equal(t, []string{"build-c"}, hr.Missing)
	assert.Len(t, hr.Hosts, 2)
}

func repoOf(img string) string {
	if img == "master" {
		return "jenkins-master"
	}
	return "jenkins-agent-" + img
}

func readHostReport(t *testing.T, reports, host string) buildReport {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(reports, host, "build-report-latest.json"))
	require.NoError(t, err)
	var r buildReport
	require.NoError(t, json.Unmarshal(b, &r))
	return r
}

func engineClient(t *testing.T, host string) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}
