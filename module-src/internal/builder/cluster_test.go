package builder

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClusterOptionsAreCheckedNamingTheNode(t *testing.T) {
	t.Setenv("BUILDX_CONFIG", t.TempDir())
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte("x"), 0o600))
	for _, c := range []struct {
		choice Choice
		want   string
	}{
		{Choice{Driver: "remote", Nodes: []NodeChoice{{Name: "a", Endpoint: "unix:///x"}}}, "builder.nodes: give the builder a builder.name"},
		{Choice{Name: "c", Driver: "remote", Nodes: []NodeChoice{{Name: "a"}}}, "builder.nodes[0].endpoint: a remote node needs the daemon's address"},
		{Choice{Name: "c", Driver: "remote", Nodes: []NodeChoice{{Name: "a", Endpoint: "unix:///x"}, {Name: "a", Endpoint: "unix:///y"}}}, `builder.nodes[1].name: "a" is given twice`},
		{Choice{Name: "c", Driver: "remote", Nodes: []NodeChoice{{Name: "a b", Endpoint: "unix:///x"}}}, "builder.nodes[0].name:"},
		{Choice{Name: "c", Driver: "remote", Nodes: []NodeChoice{{Name: "a", Endpoint: "tcp://h:1"}}}, "builder.nodes[0].endpoint tcp://h:1 is plain TCP"},
		{Choice{Name: "c", Driver: "remote", Nodes: []NodeChoice{{Name: "a", Endpoint: "http://h:1"}}}, `builder.nodes[0].endpoint: "http://h:1" must start with unix:// or tcp://`},
		{Choice{Name: "c", Driver: "remote", CA: "/nonexistent/ca.pem", Nodes: []NodeChoice{{Name: "a", Endpoint: "tcp://h:1"}}}, "builder.nodes[0].ca:"},
		{Choice{Name: "c", Driver: "remote", Nodes: []NodeChoice{{Name: "a", Endpoint: "unix:///x", Platforms: []string{"linux/bogus/x/y"}}}}, "builder.nodes[0].platforms[0]"},
		{Choice{Name: "c", Driver: "docker-container", Nodes: []NodeChoice{{Name: "a", Endpoint: "tcp://h:1"}}}, "builder.nodes[0].endpoint: a docker-container node is a BuildKit container on this engine"},
		{Choice{Name: "c", Driver: "docker-container", Memory: "lots", Nodes: []NodeChoice{{Name: "a"}}}, "builder.memory"},
	} {
		_, isCluster, err := c.choice.Cluster(nil, "")
		assert.True(t, isCluster)
		if assert.Error(t, err, "%+v", c.choice) {
			assert.Contains(t, err.Error(), c.want)
		}
	}
	// A node whose socket is gone is a node that is down, not a wrong option; TLS files default to the builder's.
	cl, ok, err := (&Choice{Name: "c", Driver: "remote", CA: ca, Nodes: []NodeChoice{{Name: "a", Endpoint: "unix:///nonexistent.sock"},
		{Name: "b", Endpoint: "tcp://127.0.0.1:1", Platforms: []string{"linux/arm64"}}}}).Cluster(nil, "")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, ca, cl.Node("b").remote.CA)
	assert.Equal(t, []string{"linux/arm64"}, cl.Node("b").Declared)
	assert.Equal(t, "buildkit (c/a: remote unix:///nonexistent.sock)", cl.Node("a").Builder().Name())
	// Not clusters: the engine's builder, one remote daemon, one docker-container builder.
	for _, c := range []Choice{{Driver: "docker"}, {Driver: "remote", Endpoint: "unix:///x"}, {Name: "one", Driver: "docker-container"}} {
		_, ok, err := c.Cluster(nil, "")
		assert.False(t, ok)
		assert.NoError(t, err)
	}
}

func TestClusterInBuildxStore(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("BUILDX_CONFIG", dir)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte("x"), 0o600))
	cl, _, err := (&Choice{Name: "farm", Driver: "remote", CA: ca, ServerName: "bk.test", Nodes: []NodeChoice{
		{Name: "amd", Endpoint: "tcp://10.0.0.1:1234"}, {Name: "arm", Endpoint: "tcp://10.0.0.2:1234", Platforms: []string{"linux/arm64"}}}}).Cluster(nil, "")
	require.NoError(t, err)
	require.NoError(t, cl.SaveToStore())
	raw, err := os.ReadFile(filepath.Join(dir, "instances", "farm"))
	require.NoError(t, err)
	var ng map[string]any
	require.NoError(t, json.Unmarshal(raw, &ng))
	assert.Equal(t, "remote", ng["Driver"])
	nodes := ng["Nodes"].([]any)
	require.Len(t, nodes, 2)
	arm := nodes[1].(map[string]any)
	assert.Equal(t, "tcp://10.0.0.2:1234", arm["Endpoint"])
	assert.Equal(t, []any{map[string]any{"os": "linux", "architecture": "arm64"}}, arm["Platforms"])
	assert.Equal(t, map[string]any{"cacert": ca, "servername": "bk.test"}, arm["DriverOpts"])
	_, err = os.Stat(filepath.Join(dir, "activity", "farm"))
	assert.NoError(t, err)

	// The builder by its name alone: its nodes from the store, as docker buildx create --append left them.
	again, ok, err := (&Choice{Name: "farm", Driver: "remote"}).Cluster(nil, "")
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, again.FromStore)
	assert.Equal(t, []string{"linux/arm64"}, again.Node("arm").Declared)
	assert.Equal(t, ca, again.Node("arm").remote.CA)
	assert.Equal(t, "bk.test", again.Node("arm").remote.ServerName)

	// Another driver under the same name is refused.
	other, _, err := (&Choice{Name: "farm", Driver: "docker-container", Nodes: []NodeChoice{{Name: "x"}}}).Cluster(nil, "")
	require.NoError(t, err)
	assert.ErrorContains(t, other.SaveToStore(), `"farm" is a remote builder in buildx's builder store, not docker-container`)
}
