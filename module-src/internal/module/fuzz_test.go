package module

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseArgs feeds arbitrary args files to ParseArgs and Run: neither may
// panic, and Run must always write exactly one JSON object that follows the
// protocol.
func FuzzParseArgs(f *testing.F) {
	seeds := []string{
		`{"name": "app"}`,
		`{"name": "app", "_ansible_check_mode": true, "_ansible_diff": true, "_ansible_verbosity": 3}`,
		`{"image": "app", "name": "b", "force_source": "yes", "overwrite": 0, "timeout": "1_000"}`,
		`{"name": "app", "state": "gone", "timeout": 1.5, "force": "maybe", "bogus": null}`,
		`{"name": "app", "password": "hunter2", "username": "bob", "token": "t"}`,
		`{"name": "app", "source": "build", "build": "path=~/src nocache=yes args='A=1,B=2'"}`,
		`{"name": "app", "build": {"path": "$HOME/x", "limits": {"memory": "1", "swap": 2e3}, "cache_from": "a,b"}}`,
		`{"name": "app", "build": "{\"path\": 1, \"secret\": [1, {\"a\": null}]}"}`,
		`{"name": "app", "registries": [{"host": "h", "password": "p"}, "host=x user=y", 3, null]}`,
		`{"name": "app", "platforms": ["linux/amd64", 1, true, null], "labels": "{\"a\": [1]}", "ratio": "1e400"}`,
		`{"name": "panic", "extra": {"deep": [[[{"x": -0.0}]]]}}`,
		`{"name": 123456789012345678901234567890, "tag": 1e16, "timeout": -9223372036854775809}`,
		`{"ANSIBLE_MODULE_ARGS": {"name": "wrapped"}}`,
		`{"name": "\u0000\ud800", "password": "\u00e9\u00e9", "_ansible_module_name": ["x"]}`,
		`{"_ansible_tmpdir": 5, "_ansible_remote_tmp": "$X", "_ansible_string_conversion_action": "error", "name": true}`,
		`[]`, `null`, `"x"`, `{`, `{"a": 1} x`, ``, "\xff\xfe",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	spec := imageSpec()
	run := func(_ context.Context, m *Module) (Result, error) {
		if m.Params["name"] == "panic" {
			panic("asked to panic")
		}
		m.Warn(fmt.Sprintf("name is %v", m.Params["name"]))
		if tok, ok := m.Params["username"].(string); ok {
			m.AddNoLogValue(tok)
		}
		m.Debugf(1, "params: %v", m.Params)
		return Result{
			Changed: m.CheckMode,
			Msg:     fmt.Sprint(m.Params["tag"]),
			Diff:    &Diff{Before: m.Params["build"], After: m.Params["registries"]},
			Data:    map[string]any{"params": m.Params, "results": 1},
		}, nil
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		var raw map[string]any
		if json.Unmarshal([]byte(content), &raw) == nil {
			m, err := ParseArgs(raw, spec, env(map[string]string{"HOME": "/h", "X": "/x"}))
			if err == nil {
				for name := range spec.Options {
					require.Contains(t, m.Params, name)
				}
			} else {
				require.NotEmpty(t, err.Error())
			}
		}

		path := filepath.Join(dir, "args")
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		var stdout bytes.Buffer
		code := runWith(context.Background(), []string{"bk", path}, nil, &stdout, io.Discard, env(map[string]string{"HOME": "/h"}), spec, run)
		out := decodeOne(t, stdout.Bytes())
		require.Equal(t, out["failed"] == true, code == 1, "exit code matches failed")
		require.NotContains(t, out, "results")
	})
}
