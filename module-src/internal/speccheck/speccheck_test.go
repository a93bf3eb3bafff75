package speccheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// writeCollection lays out plugins/modules/<name>.py and doc fragments in a temp dir.
func writeCollection(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return root
}

const stub = `#!/usr/bin/python
DOCUMENTATION = r"""
---
module: demo
options:
  name:
    description: The name.
    type: str
    required: true
  password:
    description:
      - The password. Never shown in results or logs.
    type: str
  host:
    description: The host. Falls back to C(DEMO_HOST).
    type: str
    default: unix:///x.sock
    aliases: [url]
  level:
    type: list
    elements: str
    choices: [b, a]
    default: [a]
  delay:
    type: float
    default: 1
  build:
    type: dict
    suboptions:
      path:
        type: path
        required: true
extends_documentation_fragment:
  - jenkins_ha.buildkit.conn
"""

RETURN = r"""
image:
  description: The image.
  returned: always
  type: dict
  sample: {"Id": "sha256:1", "push_status": "ok"}
  contains:
    push_status:
      description: Pushed.
      type: str
actions:
  description: What was done.
  returned: always
  type: list
  elements: str
  sample: [Built]
"""
`

const fragment = `
class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  timeout:
    type: int
    default: 60
"""
`

func demoSpec() module.Spec {
	return module.Spec{
		Options: map[string]*module.Option{
			"name":     {Required: true},
			"password": {NoLog: true},
			"host":     {Default: "unix:///x.sock", Aliases: []string{"url"}, EnvFallback: []string{"DEMO_HOST"}},
			"level":    {Type: module.TypeList, Elements: module.TypeStr, Choices: []any{"a", "b"}, Default: []any{"a"}},
			"delay":    {Type: module.TypeFloat, Default: 1.0},
			"build":    {Type: module.TypeDict, Options: map[string]*module.Option{"path": {Type: module.TypePath, Required: true}}},
			"timeout":  {Type: module.TypeInt, Default: 60},
		},
		Returns: map[string]*module.Return{
			"image":   {Type: module.TypeDict, Open: true, Contains: map[string]*module.Return{"push_status": {}}},
			"actions": {Type: module.TypeList, Elements: module.TypeStr},
		},
	}
}

func demoDocs(t *testing.T) *Docs {
	t.Helper()
	root := writeCollection(t, map[string]string{
		"plugins/modules/demo.py":       stub,
		"plugins/doc_fragments/conn.py": fragment,
	})
	d, err := ReadDocs(root, "demo")
	require.NoError(t, err)
	return d
}

func TestDocsThatSayWhatTheSpecSaysPass(t *testing.T) {
	d := demoDocs(t)
	assert.Contains(t, d.Options, "timeout", "the fragment's options are the module's")
	spec := demoSpec()
	assert.Empty(t, CompareOptions(spec.Options, d.Options))
	assert.Empty(t, CompareReturns(spec.Returns, d.Returns))
}

func TestEveryOptionDriftIsNamed(t *testing.T) {
	d := demoDocs(t)
	spec := demoSpec()
	o := spec.Options
	o["name"].Required = false
	o["password"].NoLog = false
	o["host"].Default = "tcp://h:2375"
	o["host"].Aliases = []string{"docker_url"}
	o["host"].EnvFallback = nil
	o["level"].Choices = []any{"a", "c"}
	o["level"].Elements = module.TypePath
	o["delay"].Type = module.TypeInt
	o["build"].Options["dockerfile"] = &module.Option{}
	o["build"].Options["path"].Type = module.TypeStr
	o["new_option"] = &module.Option{Type: module.TypeBool}
	delete(o, "timeout")
	assert.Equal(t, []string{
		`option build.dockerfile: in the Go spec, not documented`,
		`option build.path: type str in Go, path in the docs`,
		`option delay: default 1 (float64) in Go, 1 (int64) in the docs`,
		`option delay: type int in Go, float in the docs`,
		`option host: aliases [docker_url] in Go, [url] in the docs`,
		`option host: default "tcp://h:2375" in Go, "unix:///x.sock" in the docs`,
		`option host: environment fallbacks [] in Go, [DEMO_HOST] in the docs ("Falls back to C(VAR)")`,
		`option level: choices ["a", "c"] in Go, ["a", "b"] in the docs`,
		`option level: elements "path" in Go, "str" in the docs`,
		`option name: required false in Go, true in the docs`,
		`option new_option: in the Go spec, not documented`,
		`option password: its description says "Never shown in results or logs.", but it is not no_log in Go`,
		`option timeout: documented, not in the Go spec`,
	}, CompareOptions(o, d.Options))
}

func TestEveryReturnDriftIsNamed(t *testing.T) {
	d := demoDocs(t)
	r := demoSpec().Returns
	r["image"].Contains = map[string]*module.Return{"push_status": {Type: module.TypeInt}, "state": {}}
	r["image"].Open = false
	r["actions"].Elements = ""
	r["report"] = &module.Return{Type: module.TypeDict}
	assert.Equal(t, []string{
		`return actions: elements "" in Go, "str" in RETURN`,
		`return image.push_status: type int in Go, str in RETURN`,
		`return image.state: declared in Go, not documented in RETURN`,
		`return image: its sample does not fit the declaration: image.Id: not declared`,
		`return image: its sample does not fit the declaration: image.push_status: declared int, got str`,
		`return report: declared in Go, not documented in RETURN`,
	}, CompareReturns(r, d.Returns))
}

func TestDocsThatCannotBeReadTheWayAnsibleDocReadsThemAreRefused(t *testing.T) {
	cases := map[string]struct {
		files map[string]string
		want  string
	}{
		"documented twice": {map[string]string{
			"plugins/modules/demo.py":        stub,
			"plugins/doc_fragments/conn.py":  fragment,
			"plugins/doc_fragments/again.py": fragment,
		}, "option timeout is documented twice"},
		"misspelt key": {map[string]string{
			"plugins/modules/demo.py": "DOCUMENTATION = r\"\"\"\noptions:\n  x:\n    type: str\n    requird: true\n\"\"\"\nRETURN = r\"\"\"\n\"\"\"\n",
		}, "field requird not found"},
		"YAML 1.1 boolean": {map[string]string{
			"plugins/modules/demo.py": "DOCUMENTATION = r\"\"\"\noptions:\n  x:\n    type: bool\n    default: yes\n\"\"\"\nRETURN = r\"\"\"\n\"\"\"\n",
		}, `"yes" is a boolean to Ansible's YAML 1.1`},
		"no RETURN": {map[string]string{
			"plugins/modules/demo.py": "DOCUMENTATION = r\"\"\"\noptions: {}\n\"\"\"\n",
		}, `no RETURN = r"""..."""`},
		"a fragment of another collection": {map[string]string{
			"plugins/modules/demo.py": "DOCUMENTATION = r\"\"\"\nextends_documentation_fragment: [community.docker.docker]\n\"\"\"\nRETURN = r\"\"\"\n\"\"\"\n",
		}, "community.docker.docker is not one of the collection's fragments"},
	}
	// Both fragments named for the duplicate case.
	cases["documented twice"].files["plugins/modules/demo.py"] = strings.Replace(stub,
		"  - jenkins_ha.buildkit.conn\n", "  - jenkins_ha.buildkit.conn\n  - jenkins_ha.buildkit.again\n", 1)
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadDocs(writeCollection(t, c.files), "demo")
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

type conn struct {
	Host    string `json:"host"`
	Timeout int    `json:"timeout"`
}

type demoOptions struct {
	conn
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Level    []string `json:"level"`
	Delay    float64  `json:"delay"`
	Build    *struct {
		Path string `json:"path"`
	} `json:"build"`
}

func TestAStructThatDecodesTheSpecPasses(t *testing.T) {
	spec := demoSpec()
	assert.Empty(t, CompareStruct(spec.Options, demoOptions{}))
}

func TestEveryStructDriftIsNamed(t *testing.T) {
	type bad struct {
		conn
		Name     int    `json:"name"`
		Password string `json:"passwd"`
		Level    string `json:"level"`
		Delay    float64
		Extra    string         `json:"extra"`
		Host     string         `json:"host"`
		Build    map[string]any `json:"build"`
		ignored  string         //nolint:unused // unexported: not decoded
		Skipped  string         `json:"-"`
	}
	_ = bad{}.ignored
	assert.Equal(t, []string{
		`field speccheck.bad.Delay: no json tag naming its option`,
		`field speccheck.bad.Extra (json "extra"): not an option of the spec`,
		`field speccheck.bad.Password (json "passwd"): not an option of the spec`,
		`fields speccheck.conn.Host and speccheck.bad.Host: both have the json tag "host"`,
		`option build (dict): field speccheck.bad.Build is map[string]interface {}: a dict with sub-options needs a struct`,
		`option delay: no field of speccheck.bad has the json tag "delay", so Decode drops it`,
		`option level (list): field speccheck.bad.Level is string: a list does not decode into it`,
		`option name (str): field speccheck.bad.Name is int: a str does not decode into it`,
		`option password: no field of speccheck.bad has the json tag "password", so Decode drops it`,
	}, CompareStruct(demoSpec().Options, bad{}))

	type sub struct {
		Path int `json:"path"`
	}
	type nested struct {
		conn
		Name     string  `json:"name"`
		Password string  `json:"password"`
		Level    []int   `json:"level"`
		Delay    float64 `json:"delay"`
		Build    []sub   `json:"build"`
	}
	assert.Equal(t, []string{
		`option build (dict): field speccheck.nested.Build is []speccheck.sub: a dict with sub-options needs a struct`,
		`option level (list): field speccheck.nested.Level is []int: a str does not decode into it`,
	}, CompareStruct(demoSpec().Options, nested{}))

	// A list of dicts with sub-options: a slice of structs, checked field by field.
	spec := demoSpec()
	spec.Options["build"].Type, spec.Options["build"].Elements = module.TypeList, module.TypeDict
	spec.Options["level"].Elements = module.TypeInt
	spec.Options["level"].Choices, spec.Options["level"].Default = nil, nil
	assert.Equal(t, []string{
		`option build.path (path): field speccheck.sub.Path is int: a path does not decode into it`,
	}, CompareStruct(spec.Options, nested{}))
}
