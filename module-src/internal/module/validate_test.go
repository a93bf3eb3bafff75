package module

import (
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// imageSpec looks like a real module's spec and exercises every rule.
func imageSpec() Spec {
	return Spec{
		Options: map[string]*Option{
			"name":      {Required: true, Aliases: []string{"image"}},
			"tag":       {Default: "latest"},
			"state":     {Default: "present", Choices: []any{"present", "absent", "built"}},
			"source":    {Choices: []any{"build", "local", "pull"}},
			"timeout":   {Type: TypeInt, Default: 60},
			"force":     {Type: TypeBool, Default: false, Aliases: []string{"force_source", "overwrite"}},
			"password":  {NoLog: true, EnvFallback: []string{"BK_PASSWORD", "REGISTRY_PASSWORD"}},
			"username":  {},
			"token":     {NoLog: true},
			"platforms": {Type: TypeList, Elements: TypeStr, Choices: []any{"linux/amd64", "linux/arm64"}},
			"labels":    {Type: TypeDict},
			"ratio":     {Type: TypeFloat},
			"extra":     {Type: TypeRaw},
			"build": {Type: TypeDict, Options: map[string]*Option{
				"path":       {Type: TypePath, Required: true, Aliases: []string{"context"}},
				"dockerfile": {Default: "Dockerfile"},
				"args":       {Type: TypeDict},
				"nocache":    {Type: TypeBool, Default: false},
				"network":    {Choices: []any{"default", "host", "none"}},
				"cache_from": {Type: TypeList, Elements: TypeStr},
				"cache_to":   {Type: TypeList, Elements: TypeStr},
				"secret":     {NoLog: true},
				"limits": {Type: TypeDict, Options: map[string]*Option{
					"memory": {Type: TypeInt},
					"swap":   {Type: TypeInt},
				}, RequiredTogether: [][]string{{"memory", "swap"}}},
			},
				MutuallyExclusive: [][]string{{"cache_from", "cache_to"}},
				RequiredIf:        []RequiredIf{{Key: "network", Value: "none", Requirements: []string{"args"}}},
			},
			"registries": {Type: TypeList, Elements: TypeDict, Options: map[string]*Option{
				"host":     {Required: true},
				"user":     {},
				"password": {NoLog: true},
				"insecure": {Type: TypeBool, Default: false},
			}, RequiredTogether: [][]string{{"user", "password"}}},
		},
		MutuallyExclusive: [][]string{{"username", "token"}},
		RequiredTogether:  [][]string{{"username", "password"}},
		RequiredOneOf:     [][]string{{"source", "state"}},
		RequiredIf: []RequiredIf{
			{Key: "source", Value: "build", Requirements: []string{"build"}},
			{Key: "state", Value: "built", Requirements: []string{"build", "source"}, AnyOf: true},
		},
	}
}

func parseOK(t *testing.T, spec Spec, raw map[string]any, vars map[string]string) *Module {
	t.Helper()
	m, err := ParseArgs(raw, spec, env(vars))
	require.NoError(t, err)
	return m
}

func TestDefaultsAndAbsentOptions(t *testing.T) {
	m := parseOK(t, imageSpec(), map[string]any{"name": "app"}, nil)
	assert.Equal(t, "app", m.Params["name"])
	assert.Equal(t, "latest", m.Params["tag"])
	assert.Equal(t, "present", m.Params["state"])
	assert.Equal(t, 60, m.Params["timeout"])
	assert.Equal(t, false, m.Params["force"])
	// Every option has a key; absent options without default are nil, and an
	// absent dict option does not get its sub-defaults.
	assert.Len(t, m.Params, len(imageSpec().Options))
	assert.Contains(t, m.Params, "build")
	assert.Nil(t, m.Params["build"])
	assert.Nil(t, m.Params["source"])
}

func TestNullIsAbsent(t *testing.T) {
	m := parseOK(t, imageSpec(), map[string]any{"name": "app", "tag": nil, "build": nil, "source": nil}, nil)
	assert.Equal(t, "latest", m.Params["tag"])
	assert.Nil(t, m.Params["build"])

	_, err := ParseArgs(map[string]any{"name": nil}, imageSpec(), env(nil))
	require.Error(t, err)
	assert.Equal(t, "missing required arguments: name", err.Error())
}

func TestDefaultIsCoerced(t *testing.T) {
	spec := Spec{Options: map[string]*Option{
		"n":    {Type: TypeInt, Default: "5"},
		"l":    {Type: TypeList, Elements: TypeInt, Default: []string{"1", "2"}},
		"p":    {Type: TypePath, Default: "~/x"},
		"bad":  {Type: TypeInt, Default: "five"},
		"good": {Type: TypeBool, Default: "yes"},
	}}
	_, err := ParseArgs(map[string]any{}, spec, env(map[string]string{"HOME": "/h"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "argument 'bad' is of type str and we were unable to convert to int")

	delete(spec.Options, "bad")
	m := parseOK(t, spec, map[string]any{}, map[string]string{"HOME": "/h"})
	assert.Equal(t, 5, m.Params["n"])
	assert.Equal(t, []any{1, 2}, m.Params["l"])
	assert.Equal(t, "/h/x", m.Params["p"])
	assert.Equal(t, true, m.Params["good"])
}

func TestAliases(t *testing.T) {
	m := parseOK(t, imageSpec(), map[string]any{"image": "app", "force_source": "yes"}, nil)
	assert.Equal(t, "app", m.Params["name"])
	assert.Equal(t, true, m.Params["force"])
	assert.NotContains(t, m.Params, "image")
	assert.NotContains(t, m.Params, "force_source")
	assert.Empty(t, m.warnings)

	// Option and alias both set: the canonical wins, with AnsibleModule's warning.
	m = parseOK(t, imageSpec(), map[string]any{"name": "a", "image": "b"}, nil)
	assert.Equal(t, "a", m.Params["name"])
	assert.Equal(t, []string{"Both option name and its alias image are set."}, m.warnings)

	// Two aliases: the first listed wins.
	m = parseOK(t, imageSpec(), map[string]any{"name": "a", "overwrite": false, "force_source": true}, nil)
	assert.Equal(t, true, m.Params["force"])
	assert.Equal(t, []string{"Both option force and its alias overwrite are set."}, m.warnings)

	// Sub-option aliases.
	m = parseOK(t, imageSpec(), map[string]any{"name": "a", "build": map[string]any{"context": "/src"}}, nil)
	assert.Equal(t, "/src", m.Params["build"].(map[string]any)["path"])
}

func TestChoices(t *testing.T) {
	m := parseOK(t, imageSpec(), map[string]any{"name": "a", "state": "absent", "platforms": "linux/amd64,linux/arm64"}, nil)
	assert.Equal(t, "absent", m.Params["state"])
	assert.Equal(t, []any{"linux/amd64", "linux/arm64"}, m.Params["platforms"])

	_, err := ParseArgs(map[string]any{"name": "a", "state": "gone"}, imageSpec(), nil)
	require.Error(t, err)
	assert.Equal(t, "value of state must be one of: present, absent, built, got: gone", err.Error())

	_, err = ParseArgs(map[string]any{"name": "a", "platforms": []any{"linux/amd64", "windows/amd64", "linux/s390x"}}, imageSpec(), nil)
	require.Error(t, err)
	assert.Equal(t, "value of platforms must be one or more of: linux/amd64, linux/arm64. Got no match for: windows/amd64, linux/s390x", err.Error())

	// Numeric choices compare by value after coercion.
	spec := Spec{Options: map[string]*Option{"level": {Type: TypeInt, Choices: []any{1, 2, 3}}}}
	m = parseOK(t, spec, map[string]any{"level": "2"}, nil)
	assert.Equal(t, 2, m.Params["level"])

	// A YAML boolean in a string option maps back to the one boolean choice.
	spec = Spec{Options: map[string]*Option{"mode": {Choices: []any{"yes", "no", "auto"}}}}
	m = parseOK(t, spec, map[string]any{"mode": false}, nil)
	assert.Equal(t, "no", m.Params["mode"])
}

// TestCheck: an option's own check runs on its coerced value (given, from
// the environment or defaulted, in sub-options too) and its error names the option.
func TestCheck(t *testing.T) {
	positive := func(v any) error {
		if n, _ := v.(int); n <= 0 {
			return errors.New("must be a positive number of seconds")
		}
		return nil
	}
	spec := Spec{Options: map[string]*Option{
		"timeout": {Type: TypeInt, Default: 60, EnvFallback: []string{"BK_TIMEOUT"}, Check: positive},
		"build":   {Type: TypeDict, Options: map[string]*Option{"wait": {Type: TypeInt, Check: positive}}},
	}}
	m := parseOK(t, spec, map[string]any{"timeout": "5"}, nil)
	assert.Equal(t, 5, m.Params["timeout"])
	parseOK(t, spec, map[string]any{}, nil) // the default passes

	_, err := ParseArgs(map[string]any{"timeout": -1, "build": map[string]any{"wait": 0}}, spec, nil)
	require.Error(t, err)
	assert.Equal(t, "timeout: must be a positive number of seconds. build.wait: must be a positive number of seconds", err.Error())
	_, err = ParseArgs(map[string]any{}, spec, env(map[string]string{"BK_TIMEOUT": "-3"}))
	require.Error(t, err)
	assert.Equal(t, "timeout: must be a positive number of seconds", err.Error())
	_, err = ParseArgs(map[string]any{"timeout": "soon"}, spec, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "positive", "a value of the wrong type is not checked")
}

func TestEnvFallback(t *testing.T) {
	m := parseOK(t, imageSpec(), map[string]any{"name": "a", "username": "u"},
		map[string]string{"BK_PASSWORD": "", "REGISTRY_PASSWORD": "from-env"})
	assert.Equal(t, "from-env", m.Params["password"])
	assert.Contains(t, m.noLog, "from-env")

	m = parseOK(t, imageSpec(), map[string]any{"name": "a", "username": "u", "password": "given"},
		map[string]string{"BK_PASSWORD": "from-env"})
	assert.Equal(t, "given", m.Params["password"])
}

func TestNoLogValuesCollected(t *testing.T) {
	m := parseOK(t, imageSpec(), map[string]any{
		"name": "a", "token": "tok-123",
		"build": map[string]any{"path": "/src", "secret": "s3cr3t"},
		"registries": []any{
			map[string]any{"host": "r1", "user": "u", "password": "pw-one"},
			"host=r2 user=v password=pw-two",
		},
	}, nil)
	for _, secret := range []string{"tok-123", "s3cr3t", "pw-one", "pw-two", "host=r2 user=v password=pw-two"} {
		assert.Contains(t, m.noLog, secret)
	}
	assert.NotContains(t, m.noLog, "u")
	assert.NotContains(t, m.noLog, "r1")
	regs := m.Params["registries"].([]any)
	assert.Equal(t, map[string]any{"host": "r2", "user": "v", "password": "pw-two", "insecure": false}, regs[1])
}

func TestMutuallyExclusive(t *testing.T) {
	_, err := ParseArgs(map[string]any{"name": "a", "username": "u", "password": "p", "token": "t"}, imageSpec(), nil)
	require.Error(t, err)
	assert.Equal(t, "parameters are mutually exclusive: username|token", err.Error())
}

func TestRequiredTogether(t *testing.T) {
	_, err := ParseArgs(map[string]any{"name": "a", "username": "u"}, imageSpec(), env(nil))
	require.Error(t, err)
	assert.Equal(t, "parameters are required together: username, password", err.Error())
	// The env fallback counts.
	parseOK(t, imageSpec(), map[string]any{"name": "a", "username": "u"}, map[string]string{"BK_PASSWORD": "p"})
}

func TestRequiredOneOf(t *testing.T) {
	spec := Spec{
		Options:       map[string]*Option{"a": {}, "b": {Aliases: []string{"bee"}}},
		RequiredOneOf: [][]string{{"a", "b"}},
	}
	_, err := ParseArgs(map[string]any{}, spec, nil)
	require.Error(t, err)
	assert.Equal(t, "one of the following is required: a, b", err.Error())
	parseOK(t, spec, map[string]any{"bee": "x"}, nil)
}

func TestRequiredIf(t *testing.T) {
	// all of
	_, err := ParseArgs(map[string]any{"name": "a", "source": "build"}, imageSpec(), nil)
	require.Error(t, err)
	assert.Equal(t, "source is build but all of the following are missing: build", err.Error())
	parseOK(t, imageSpec(), map[string]any{"name": "a", "source": "build", "build": map[string]any{"path": "."}}, nil)

	// any of
	_, err = ParseArgs(map[string]any{"name": "a", "state": "built"}, imageSpec(), nil)
	require.Error(t, err)
	assert.Equal(t, "state is built but any of the following are missing: build, source", err.Error())
	parseOK(t, imageSpec(), map[string]any{"name": "a", "state": "built", "source": "local"}, nil)

	// compared after coercion, bools shown like Python
	spec := Spec{
		Options:    map[string]*Option{"enabled": {Type: TypeBool}, "port": {Type: TypeInt}},
		RequiredIf: []RequiredIf{{Key: "enabled", Value: true, Requirements: []string{"port"}}},
	}
	_, err = ParseArgs(map[string]any{"enabled": "yes"}, spec, nil)
	require.Error(t, err)
	assert.Equal(t, "enabled is True but all of the following are missing: port", err.Error())
	parseOK(t, spec, map[string]any{"enabled": "no"}, nil)
}

func TestNestedDictOptions(t *testing.T) {
	m := parseOK(t, imageSpec(), map[string]any{
		"name": "a",
		"build": map[string]any{
			"path":       "~/src",
			"args":       "A=1, B=two",
			"cache_from": "x,y",
			"limits":     map[string]any{"memory": "512", "swap": 1024},
		},
	}, map[string]string{"HOME": "/home/u"})
	build := m.Params["build"].(map[string]any)
	assert.Equal(t, map[string]any{
		"path":       "/home/u/src",
		"dockerfile": "Dockerfile",
		"args":       map[string]any{"A": "1", "B": "two"},
		"nocache":    false,
		"network":    nil,
		"cache_from": []any{"x", "y"},
		"cache_to":   nil,
		"secret":     nil,
		"limits":     map[string]any{"memory": 512, "swap": 1024},
	}, build)

	// The dict may come as a k=v or JSON string.
	m = parseOK(t, imageSpec(), map[string]any{"name": "a", "build": `{"path": "/x", "nocache": "yes"}`}, nil)
	assert.Equal(t, true, m.Params["build"].(map[string]any)["nocache"])
	m = parseOK(t, imageSpec(), map[string]any{"name": "a", "build": "path=/y nocache=on"}, nil)
	assert.Equal(t, "/y", m.Params["build"].(map[string]any)["path"])
}

func TestNestedRules(t *testing.T) {
	cases := []struct {
		name  string
		build map[string]any
		want  string
	}{
		{"required", map[string]any{}, "missing required arguments: path found in build"},
		{"choices", map[string]any{"path": ".", "network": "bridge"}, "value of network must be one of: default, host, none, got: bridge found in build"},
		{"mutually exclusive", map[string]any{"path": ".", "cache_from": "a", "cache_to": "b"}, "parameters are mutually exclusive: cache_from|cache_to found in build"},
		{"required if", map[string]any{"path": ".", "network": "none"}, "network is none but all of the following are missing: args found in build"},
		{"unsupported", map[string]any{"path": ".", "squash": true}, "Unsupported parameters for (buildkit_image) module: build.squash. Supported parameters include: args, cache_from, cache_to, dockerfile, limits, network, nocache, path (context), secret."},
		{"type", map[string]any{"path": ".", "nocache": "sometimes"}, "argument 'build.nocache' is of type str and we were unable to convert to bool"},
		{"deeper required together", map[string]any{"path": ".", "limits": map[string]any{"memory": 1}}, "parameters are required together: memory, swap found in build.limits"},
		{"deeper type", map[string]any{"path": ".", "limits": map[string]any{"memory": "1g", "swap": 1}}, "argument 'build.limits.memory' is of type str and we were unable to convert to int"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseArgs(map[string]any{"_ansible_module_name": "buildkit_image", "name": "a", "build": tc.build}, imageSpec(), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestListOfDicts(t *testing.T) {
	m := parseOK(t, imageSpec(), map[string]any{"name": "a", "registries": []any{
		map[string]any{"host": "r1"},
		map[string]any{"host": "r2", "user": "u", "password": "p", "insecure": "yes"},
	}}, nil)
	assert.Equal(t, []any{
		map[string]any{"host": "r1", "user": nil, "password": nil, "insecure": false},
		map[string]any{"host": "r2", "user": "u", "password": "p", "insecure": true},
	}, m.Params["registries"])

	_, err := ParseArgs(map[string]any{"name": "a", "registries": []any{
		map[string]any{"host": "r1"},
		map[string]any{"user": "u"},
		map[string]any{"host": "r3", "port": 5000},
	}}, imageSpec(), nil)
	require.Error(t, err)
	var verr *ValidationError
	require.True(t, errors.As(err, &verr))
	assert.Equal(t, []string{
		"missing required arguments: host found in registries[1]",
		"parameters are required together: user, password found in registries[1]",
		"Unsupported parameters for (module) module: registries[2].port. Supported parameters include: host, insecure, password, user.",
	}, verr.Messages)

	_, err = ParseArgs(map[string]any{"name": "a", "registries": []any{map[string]any{"host": "r1"}, 7}}, imageSpec(), nil)
	require.Error(t, err)
	assert.Equal(t, "argument 'registries[1]' is of type int and we were unable to convert to dict: type int cannot be converted to a dict", err.Error())
}

func TestAllErrorsReported(t *testing.T) {
	_, err := ParseArgs(map[string]any{"state": "gone", "timeout": "soon", "bogus": 1}, imageSpec(), nil)
	require.Error(t, err)
	assert.Equal(t, "Unsupported parameters for (module) module: bogus. "+
		"Supported parameters include: build, extra, force (force_source, overwrite), labels, name (image), password, platforms, ratio, registries, source, state, tag, timeout, token, username. "+
		"missing required arguments: name. "+
		"value of state must be one of: present, absent, built, got: gone. "+
		"argument 'timeout' is of type str and we were unable to convert to int: 'soon' is not an integer", err.Error())
}

func TestStringConversion(t *testing.T) {
	spec := Spec{Options: map[string]*Option{"tag": {}}}
	m := parseOK(t, spec, map[string]any{"tag": 1.0}, nil)
	assert.Equal(t, "1.0", m.Params["tag"])
	require.Len(t, m.warnings, 1)
	assert.Contains(t, m.warnings[0], "The value 1.0 (type float) in a string field was converted to '1.0' (type string) for option 'tag'")

	m = parseOK(t, spec, map[string]any{"tag": 3, "_ansible_string_conversion_action": "ignore"}, nil)
	assert.Equal(t, "3", m.Params["tag"])
	assert.Empty(t, m.warnings)

	_, err := ParseArgs(map[string]any{"tag": true, "_ansible_string_conversion_action": "error"}, spec, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "argument 'tag' is of type bool and we were unable to convert to str")
}

func TestInternalKeys(t *testing.T) {
	spec := Spec{Options: map[string]*Option{"x": {}}}
	m := parseOK(t, spec, map[string]any{
		"x": "1", "_ansible_check_mode": true, "_ansible_diff": "yes", "_ansible_no_log": false,
		"_ansible_verbosity": 3, "_ansible_tmpdir": nil, "_ansible_remote_tmp": "~/.ansible/tmp",
		"_ansible_version": "2.14.18", "_ansible_module_name": "bk", "_ansible_selinux_special_fs": []any{"nfs"},
		"_ansible_target_log_info": nil, "_ansible_something_new": map[string]any{"a": 1},
	}, map[string]string{"HOME": "/root"})
	assert.True(t, m.CheckMode)
	assert.True(t, m.DiffMode)
	assert.False(t, m.NoLog)
	assert.Equal(t, 3, m.Verbosity)
	assert.Equal(t, "/root/.ansible/tmp", m.TmpDir)
	assert.Equal(t, "bk", m.name)
	assert.Equal(t, map[string]any{"x": "1"}, m.Params)

	m = parseOK(t, spec, map[string]any{"_ansible_tmpdir": "/tmp/ansible-tmp-1/", "_ansible_remote_tmp": "/x"}, nil)
	assert.Equal(t, "/tmp/ansible-tmp-1/", m.TmpDir)
	m = parseOK(t, spec, map[string]any{}, nil)
	assert.Equal(t, os.TempDir(), m.TmpDir)
	assert.False(t, m.CheckMode)

	_, err := ParseArgs(map[string]any{"_ansible_check_mode": "perhaps"}, spec, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "_ansible_check_mode")
}

func TestParseArgsDoesNotModifyInput(t *testing.T) {
	raw := map[string]any{"name": "a", "image": "b", "platforms": []any{"linux/amd64"},
		"registries": []any{map[string]any{"host": "h"}}, "build": map[string]any{"path": "~"}}
	_, err := ParseArgs(raw, imageSpec(), env(map[string]string{"HOME": "/h"}))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"name": "a", "image": "b", "platforms": []any{"linux/amd64"},
		"registries": []any{map[string]any{"host": "h"}}, "build": map[string]any{"path": "~"}}, raw)
}

func TestDecode(t *testing.T) {
	type build struct {
		Path      string         `json:"path"`
		Args      map[string]any `json:"args"`
		CacheFrom []string       `json:"cache_from"`
	}
	var opts struct {
		Name    string `json:"name"`
		Timeout int    `json:"timeout"`
		Force   bool   `json:"force"`
		Build   *build `json:"build"`
		Source  string `json:"source"`
	}
	m := parseOK(t, imageSpec(), map[string]any{"name": "a", "timeout": "30", "overwrite": "yes",
		"build": map[string]any{"path": "/s", "args": "K=V", "cache_from": "a,b"}}, nil)
	require.NoError(t, m.Decode(&opts))
	assert.Equal(t, "a", opts.Name)
	assert.Equal(t, 30, opts.Timeout)
	assert.True(t, opts.Force)
	assert.Equal(t, &build{Path: "/s", Args: map[string]any{"K": "V"}, CacheFrom: []string{"a", "b"}}, opts.Build)
	assert.Empty(t, opts.Source)

	var wrong struct {
		Name int `json:"name"`
	}
	assert.Error(t, m.Decode(&wrong))
}

// TestBadInputsNameTheOption checks that every error names the option at
// fault, with its full path for sub-options.
func TestBadInputsNameTheOption(t *testing.T) {
	build := func(kv ...any) map[string]any {
		b := map[string]any{"path": "."}
		for i := 0; i < len(kv); i += 2 {
			b[kv[i].(string)] = kv[i+1]
		}
		return b
	}
	cases := []struct {
		name   string
		args   map[string]any
		option string // substring the message must contain
	}{
		{"missing name", map[string]any{}, "missing required arguments: name"},
		{"unknown option", map[string]any{"name": "a", "colour": "red"}, "module: colour."},
		{"unknown options sorted", map[string]any{"name": "a", "zz": 1, "aa": 2}, "module: aa, zz."},
		{"state choice", map[string]any{"name": "a", "state": "gone"}, "value of state must be one of"},
		{"source choice", map[string]any{"name": "a", "source": "git"}, "value of source"},
		{"timeout word", map[string]any{"name": "a", "timeout": "soon"}, "argument 'timeout'"},
		{"timeout fraction", map[string]any{"name": "a", "timeout": 1.5}, "argument 'timeout'"},
		{"timeout bool", map[string]any{"name": "a", "timeout": true}, "argument 'timeout'"},
		{"timeout list", map[string]any{"name": "a", "timeout": []any{1}}, "argument 'timeout'"},
		{"force word", map[string]any{"name": "a", "force": "sure"}, "argument 'force'"},
		{"force alias word", map[string]any{"name": "a", "overwrite": "sure"}, "argument 'force'"},
		{"force int", map[string]any{"name": "a", "force": 5}, "argument 'force'"},
		{"name list", map[string]any{"name": []any{"a"}}, "argument 'name'"},
		{"name dict", map[string]any{"name": map[string]any{}}, "argument 'name'"},
		{"labels plain string", map[string]any{"name": "a", "labels": "oops"}, "argument 'labels'"},
		{"labels int", map[string]any{"name": "a", "labels": 3}, "argument 'labels'"},
		{"labels bad json", map[string]any{"name": "a", "labels": "{nope"}, "argument 'labels'"},
		{"ratio word", map[string]any{"name": "a", "ratio": "half"}, "argument 'ratio'"},
		{"ratio bool", map[string]any{"name": "a", "ratio": true}, "argument 'ratio'"},
		{"platforms dict", map[string]any{"name": "a", "platforms": map[string]any{}}, "argument 'platforms'"},
		{"platforms element", map[string]any{"name": "a", "platforms": []any{"linux/amd64", []any{}}}, "argument 'platforms[1]'"},
		{"platforms choice", map[string]any{"name": "a", "platforms": "linux/mips"}, "value of platforms"},
		{"username and token", map[string]any{"name": "a", "username": "u", "password": "p", "token": "t"}, "username|token"},
		{"username alone", map[string]any{"name": "a", "username": "u"}, "required together: username, password"},
		{"source build without build", map[string]any{"name": "a", "source": "build"}, "source is build"},
		{"state built alone", map[string]any{"name": "a", "state": "built"}, "state is built"},
		{"build string", map[string]any{"name": "a", "build": "nonsense"}, "argument 'build'"},
		{"build list", map[string]any{"name": "a", "build": []any{}}, "argument 'build'"},
		{"build missing path", map[string]any{"name": "a", "build": map[string]any{}}, "path found in build"},
		{"build unknown", map[string]any{"name": "a", "build": build("squash", true)}, "build.squash"},
		{"build nocache", map[string]any{"name": "a", "build": build("nocache", "maybe")}, "argument 'build.nocache'"},
		{"build network", map[string]any{"name": "a", "build": build("network", "bridge")}, "value of network"},
		{"build args int", map[string]any{"name": "a", "build": build("args", 7)}, "argument 'build.args'"},
		{"build path list", map[string]any{"name": "a", "build": build("path", []any{"."})}, "argument 'build.path'"},
		{"build cache element", map[string]any{"name": "a", "build": build("cache_from", []any{"a", "b", map[string]any{}})}, "argument 'build.cache_from[2]'"},
		{"build cache both", map[string]any{"name": "a", "build": build("cache_from", "a", "cache_to", "b")}, "cache_from|cache_to found in build"},
		{"build network none", map[string]any{"name": "a", "build": build("network", "none")}, "network is none"},
		{"limits memory", map[string]any{"name": "a", "build": build("limits", map[string]any{"memory": "lots", "swap": 1})}, "argument 'build.limits.memory'"},
		{"limits together", map[string]any{"name": "a", "build": build("limits", map[string]any{"swap": 1})}, "memory, swap found in build.limits"},
		{"limits unknown", map[string]any{"name": "a", "build": build("limits", map[string]any{"cpu": 1})}, "build.limits.cpu"},
		{"registries string", map[string]any{"name": "a", "registries": "nonsense"}, "argument 'registries[0]'"},
		{"registries missing host", map[string]any{"name": "a", "registries": []any{map[string]any{}}}, "host found in registries[0]"},
		{"registries insecure", map[string]any{"name": "a", "registries": []any{map[string]any{"host": "h", "insecure": "very"}}}, "argument 'registries[0].insecure'"},
		{"registries unknown", map[string]any{"name": "a", "registries": []any{map[string]any{"host": "h"}, map[string]any{"host": "h", "port": 1}}}, "registries[1].port"},
		{"registries user only", map[string]any{"name": "a", "registries": []any{map[string]any{"host": "h", "user": "u"}}}, "user, password found in registries[0]"},
	}
	require.GreaterOrEqual(t, len(cases), 30)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseArgs(tc.args, imageSpec(), env(nil))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.option)
		})
	}
}
