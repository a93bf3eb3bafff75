package builder

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pelletier/go-toml/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildkitdConfigFromRegistryLists(t *testing.T) {
	t.Setenv("BUILDX_CONFIG", t.TempDir())
	c := NewContainer(Container{InsecureRegistries: []string{"127.0.0.1:5000"}, RegistryMirrors: []string{"mirror.example:5000"}}, nil, "")
	b, err := c.buildkitdConfig()
	require.NoError(t, err)
	var doc map[string]map[string]map[string]any
	require.NoError(t, toml.Unmarshal(b, &doc))
	assert.Equal(t, true, doc["registry"]["127.0.0.1:5000"]["http"])
	assert.Equal(t, []any{"mirror.example:5000"}, doc["registry"]["docker.io"]["mirrors"])

	none, err := NewContainer(Container{}, nil, "").buildkitdConfig()
	require.NoError(t, err)
	assert.Nil(t, none)
}

func TestWithCgroupParentKeepsTheUsersSetting(t *testing.T) {
	out, err := withCgroupParent([]byte("[registry.\"r:5000\"]\nhttp = true\n"), "/docker/abc")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, toml.Unmarshal(out, &doc))
	assert.Equal(t, "/docker/abc", doc["worker"].(map[string]any)["oci"].(map[string]any)["defaultCgroupParent"])
	assert.Contains(t, doc["registry"], "r:5000")

	out, err = withCgroupParent([]byte("[worker.oci]\ndefaultCgroupParent = \"/mine\"\n"), "/docker/abc")
	require.NoError(t, err)
	assert.Contains(t, string(out), "/mine")
	assert.NotContains(t, string(out), "/docker/abc")

	_, err = withCgroupParent([]byte("not = [toml"), "/x")
	assert.Error(t, err)
}

func TestContainerChecks(t *testing.T) {
	t.Setenv("BUILDX_CONFIG", t.TempDir())
	for _, tc := range []struct {
		c   Container
		err string
	}{
		{Container{Name: "ok-name_1.x"}, ""},
		{Container{Name: "-lead"}, "builder.name"},
		{Container{Name: "a/b"}, "builder.name"},
		{Container{Name: "x", Memory: "lots"}, "builder.memory"},
		{Container{Name: "x", CPUs: "-1"}, "builder.cpus"},
		{Container{Name: "x", CPUs: "two"}, "builder.cpus"},
		{Container{Name: "x", Config: "/nonexistent/buildkitd.toml"}, "builder.config"},
		{Container{Name: "x", Config: "/etc/hostname", InsecureRegistries: []string{"r"}}, "not both"},
	} {
		err := NewContainer(tc.c, nil, "").Check()
		if tc.err == "" {
			assert.NoError(t, err, tc.c.Name)
		} else {
			require.Error(t, err, tc.c.Name)
			assert.Contains(t, err.Error(), tc.err)
		}
	}
	memory, quota := NewContainer(Container{Memory: "4g", CPUs: "1.5"}, nil, "").limits()
	assert.Equal(t, int64(4<<30), memory)
	assert.Equal(t, int64(150000), quota)
}

func TestBuildxStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("BUILDX_CONFIG", dir)
	c := NewContainer(Container{Name: "jb", Image: "moby/buildkit:x", Memory: "2g", CPUs: "2", Network: "host",
		InsecureRegistries: []string{"r:5000"}}, nil, "unix:///var/run/docker.sock")
	cfg, err := c.buildkitdConfig()
	require.NoError(t, err)
	require.NoError(t, c.saveToStore(cfg))
	_, err = os.Stat(filepath.Join(dir, "activity", "jb"))
	require.NoError(t, err)
	ng, err := readNodeGroup("jb")
	require.NoError(t, err)
	assert.Equal(t, "docker-container", ng.Driver)
	require.Len(t, ng.Nodes, 1)
	assert.Equal(t, "jb0", ng.Nodes[0].Name)
	assert.Equal(t, "default", ng.Nodes[0].Endpoint)
	assert.Equal(t, map[string]string{"image": "moby/buildkit:x", "memory": "2g", "network": "host", "cpu-period": "100000", "cpu-quota": "200000"}, ng.Nodes[0].DriverOpts)

	// Named again without options, the builder takes them from the store.
	again := NewContainer(Container{Name: "jb"}, nil, "")
	assert.Equal(t, "moby/buildkit:x", again.Image)
	assert.Equal(t, "2g", again.Memory)
	assert.Equal(t, "2", again.CPUs)
	assert.Equal(t, "host", again.Network)
	got, err := again.buildkitdConfig()
	require.NoError(t, err)
	assert.Equal(t, cfg, got)
	assert.Equal(t, "buildx_buildkit_jb0", again.ContainerName())
	assert.Equal(t, "buildx_buildkit_jb0_state", again.StateVolume())

	// A builder of another driver under that name is refused.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "instances", "k8s"), []byte(`{"Name":"k8s","Driver":"kubernetes","Nodes":[{"Name":"k8s0"}]}`), 0o600))
	err = NewContainer(Container{Name: "k8s"}, nil, "").Check()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kubernetes")
	assert.Equal(t, "tcp://10.0.0.1:2376", storeEndpoint("tcp://10.0.0.1:2376"))
}

func TestTLSHints(t *testing.T) {
	r := Remote{Endpoint: "tcp://h:1234", CA: "/ca.pem", Cert: "/c.pem", Key: "/k.pem"}
	assert.Contains(t, r.tlsHint(errors.New("x509: certificate signed by unknown authority")), "builder.ca /ca.pem")
	assert.Contains(t, r.tlsHint(errors.New("x509: certificate is valid for a, not b")), "builder.server_name")
	assert.Contains(t, r.tlsHint(errors.New("remote error: tls: certificate required")), "builder.cert and builder.key")
	assert.Contains(t, r.tlsHint(errors.New("remote error: tls: bad certificate")), "builder.cert /c.pem")
	assert.Equal(t, "", r.tlsHint(errors.New("connection refused")))
}

func TestClassify(t *testing.T) {
	var step *StepError
	var passing *TransientError
	run := classify(errors.New(`process "/bin/sh -c curl -f http://x || echo 503 Service Unavailable; exit 1" did not complete successfully: exit code: 1`))
	assert.ErrorAs(t, run, &step, "a RUN step's failure is the Dockerfile's own, whatever it printed")
	push := classify(errors.New("failed to solve: error writing manifest blob: unavailable: injected 503"))
	assert.ErrorAs(t, push, &passing, "a registry answering 503 during an export is passing")
	eof := classify(errors.New("failed to solve: failed to copy: unexpected EOF"))
	assert.ErrorAs(t, eof, &passing)
	syntax := classify(errors.New("failed to solve: dockerfile parse error on line 2: unknown instruction: RUNN"))
	assert.ErrorAs(t, syntax, &step)
}
