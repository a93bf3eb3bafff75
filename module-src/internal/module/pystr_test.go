package module

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStringMapGivesWhatPythonStrGives(t *testing.T) {
	// The args file as Ansible writes it; the values as docker_image's
	// to_native(value) turns them into build args.
	raw := `{"build": {"args": {"f": 1.0, "g": 2.50, "e": 1e16, "small": 0.0001, "tiny": 1e-05, "big": 12345678901234567890,
		"i": 7, "t": true, "n": null, "s": "it's", "l": [1, "a", 2.5, null, false], "d": {"b": "x\ny", "a": 1}, "q": ["it's"]}}}`
	m, err := parseForTest(raw)
	require.NoError(t, err)
	var o struct {
		Build struct {
			Args StringMap `json:"args"`
		} `json:"build"`
	}
	require.NoError(t, m.Decode(&o))
	assert.Equal(t, map[string]string{
		"f": "1.0", "g": "2.5", "e": "1e+16", "small": "0.0001", "tiny": "1e-05", "big": "12345678901234567890",
		"i": "7", "t": "True", "n": "None", "s": "it's", "l": "[1, 'a', 2.5, None, False]", "d": `{'a': 1, 'b': 'x\ny'}`,
		"q": `["it's"]`,
	}, o.Build.Args.Strings())
}

func TestPyQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "'plain'", "it's": `"it's"`, `both ' and "`: `'both \' and "'`, "tab\there": `'tab\there'`,
		"back\\slash": `'back\\slash'`, "\x01": `'\x01'`, "é": "'é'", "\u00a0": `'\xa0'`, "\u2028": `'\u2028'`,
	} {
		assert.Equal(t, want, pyQuote(in), "repr(%q)", in)
	}
}

// parseForTest runs the args through the runtime's reading and validation.
func parseForTest(raw string) (*Module, error) {
	path := filepath.Join(os.TempDir(), "pystr-args.json")
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(path)
	v, err := readArgs([]string{"x", path}, nil)
	if err != nil {
		return nil, err
	}
	spec := Spec{Options: map[string]*Option{"build": {Type: TypeDict, Options: map[string]*Option{"args": {Type: TypeDict}}}}}
	return ParseArgs(v, spec, func(string) string { return "" })
}
