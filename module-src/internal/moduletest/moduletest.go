// Package moduletest runs a module in-process the way Ansible runs it, for
// the modules' unit tests: an args file, the one JSON object printed back,
// the result checked against the module's declared result keys
// (module.StrictReturnsEnv), and no engine within reach.
package moduletest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// NoEngine is the Docker host the modules see: one that never answers, so
// that a unit test cannot reach an engine by accident (a case that did fails
// with a connection error naming it).
const NoEngine = "unix:///nonexistent/jenkins_ha.buildkit-unit/docker.sock"

// Env is the environment the module's options see (env fallbacks): only
// DOCKER_HOST (NoEngine) and StrictReturnsEnv, whatever the test runner's is.
func Env(k string) string {
	switch k {
	case "DOCKER_HOST":
		return NoEngine
	case module.StrictReturnsEnv:
		return "1"
	}
	return ""
}

// Run runs the module name (spec and run) on args, as JSON in an args file.
func Run(t testing.TB, name string, spec module.Spec, run module.RunFunc, args map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(args)
	require.NoError(t, err)
	return RunRaw(t, name, spec, run, b)
}

// RunRaw runs the module on an args file written byte for byte and returns
// the result object. It fails the test when the module printed anything but
// one JSON object, or a result that breaks its Spec.Returns.
func RunRaw(t testing.TB, name string, spec module.Spec, run module.RunFunc, raw []byte) map[string]any {
	t.Helper()
	path := filepath.Join(t.TempDir(), "args")
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	var out bytes.Buffer
	module.Run(context.Background(), []string{name, path}, &out, Env, spec, run)
	var res map[string]any
	dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
	require.NoError(t, dec.Decode(&res), "%s printed no JSON object: %s", name, out.String())
	require.False(t, dec.More(), "%s printed more than one JSON value: %s", name, out.String())
	msg, _ := res["msg"].(string)
	require.NotContains(t, msg, module.UndeclaredReturns, "%s returned a key its Spec.Returns does not declare", name)
	return res
}
