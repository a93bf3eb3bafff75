package modules

import (
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"

	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestResolvePicksTheModuleByName(t *testing.T) {
	cases := []struct {
		args []string
		want string
		rest []string
	}{
		{[]string{"/x/buildkit_image", "/tmp/args"}, "buildkit_image", []string{"buildkit_image", "/tmp/args"}},
		{[]string{"/t/AnsiballZ_jenkins_ha_buildkit_scan_linux_amd64", "/t/args"}, "buildkit_scan", []string{"buildkit_scan", "/t/args"}},
		{[]string{"jenkins_ha_buildkit_validate_linux_arm64", "a"}, "buildkit_validate", []string{"buildkit_validate", "a"}},
		{[]string{"/h/.cache/jenkins_ha.buildkit/bin/jenkins_ha_buildkit_linux_amd64-0123456789abcdef0123", "buildkit_report", "/tmp/f"},
			"buildkit_report", []string{"buildkit_report", "/tmp/f"}},
		{[]string{"/usr/local/bin/jenkins-buildkit-cache", "prune", "--keep-storage", "1GB"}, "buildkit_cache",
			[]string{"buildkit_cache", "prune", "--keep-storage", "1GB"}},
		{[]string{"/usr/local/bin/buildkit_cache", "info"}, "buildkit_cache", []string{"buildkit_cache", "info"}},
	}
	for _, c := range cases {
		e, rest, ok := Resolve(c.args)
		require.True(t, ok, c.args)
		assert.Equal(t, c.want, e.Name, c.args)
		assert.Equal(t, c.rest, rest, c.args)
	}
	for _, args := range [][]string{nil, {"jenkins_ha_buildkit_linux_amd64"}, {"jenkins_ha_buildkit_linux_amd64", "/tmp/args"},
		{"jenkins_ha_buildkit_linux_amd64", "buildkit_nope", "/tmp/args"}, {"AnsiballZ_jenkins_ha_buildkit_nope_linux_amd64", "/tmp/args"}} {
		_, _, ok := Resolve(args)
		assert.False(t, ok, args)
	}
}

func TestAnUnknownModuleIsAFailureAnsibleCanShow(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"/t/AnsiballZ_jenkins_ha_buildkit_linux_amd64", "/t/args"}, &out, &errOut)
	assert.Equal(t, 2, code)
	var res map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	assert.Equal(t, true, res["failed"])
	assert.Contains(t, res["msg"], "buildkit_image")
}

func TestListNamesEveryModule(t *testing.T) {
	var out bytes.Buffer
	assert.Equal(t, 0, run([]string{"jenkins_ha_buildkit_linux_amd64", "--list"}, &out, &out))
	assert.Equal(t, strings.Join(Names(), "\n")+"\n", out.String())
}

func TestAModuleRunsUnderItsName(t *testing.T) {
	args := filepath.Join(t.TempDir(), "args")
	require.NoError(t, os.WriteFile(args, []byte(`{"_ansible_check_mode": true, "state": "nope"}`), 0o600))
	var out bytes.Buffer
	code := run([]string{"jenkins_ha_buildkit_linux_amd64", "buildkit_cache", args}, &out, &bytes.Buffer{})
	assert.Equal(t, 1, code)
	var res map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	assert.Contains(t, res["msg"], "state", "buildkit_cache's own validation answered")
}

// The table is the one list of modules: the docs, the routing to the action
// plugin and the action group must name exactly these.
func TestTheCollectionListsTheTableModules(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	docs, err := filepath.Glob(filepath.Join(root, "plugins", "modules", "*.py"))
	require.NoError(t, err)
	var names []string
	for _, d := range docs {
		names = append(names, strings.TrimSuffix(filepath.Base(d), ".py"))
	}
	sort.Strings(names)
	assert.Equal(t, Names(), names, "plugins/modules/*.py (one docs file per module)")

	raw, err := os.ReadFile(filepath.Join(root, "meta", "runtime.yml"))
	require.NoError(t, err)
	var rt struct {
		PluginRouting struct {
			Modules map[string]struct {
				ActionPlugin string `yaml:"action_plugin"`
			} `yaml:"modules"`
		} `yaml:"plugin_routing"`
		ActionGroups map[string][]any `yaml:"action_groups"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &rt))
	var routed []string
	for name, r := range rt.PluginRouting.Modules {
		routed = append(routed, name)
		assert.Equal(t, "jenkins_ha.buildkit.go_module", r.ActionPlugin, name)
	}
	sort.Strings(routed)
	assert.Equal(t, Names(), routed, "meta/runtime.yml plugin_routing.modules")
	var group []string
	for _, n := range rt.ActionGroups["buildkit"] {
		if s, ok := n.(string); ok {
			group = append(group, s)
		}
	}
	sort.Strings(group)
	// module_defaults for the group sets the engine connection options once,
	// so the group is exactly the modules that take them (a module without
	// them would fail on an unsupported parameter).
	var engineModules []string
	for _, e := range All() {
		all := true
		for name := range engine.ArgSpec() {
			if _, ok := e.Spec().Options[name]; !ok {
				all = false
			}
		}
		if all {
			engineModules = append(engineModules, e.Name)
		}
	}
	assert.Equal(t, engineModules, group, "meta/runtime.yml action_groups.buildkit: the modules that take the engine options")
}
