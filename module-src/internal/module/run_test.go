package module

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runResult is one Run: the decoded object, the raw stdout and stderr, and
// the exit code.
type runResult struct {
	out    map[string]any
	stdout string
	stderr string
	code   int
}

// writeArgs writes an args file and returns its path.
func writeArgs(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "args")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func runArgs(t testing.TB, args []string, vars map[string]string, spec Spec, run RunFunc) runResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runWith(context.Background(), args, nil, &stdout, &stderr, env(vars), spec, run)
	out := decodeOne(t, stdout.Bytes())
	return runResult{out: out, stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// runJSON runs the module with an args file holding the JSON of args.
func runJSON(t testing.TB, args map[string]any, spec Spec, run RunFunc) runResult {
	t.Helper()
	b, err := json.Marshal(args)
	require.NoError(t, err)
	return runArgs(t, []string{"/tmp/AnsiballZ_bk_test", writeArgs(t, string(b))}, nil, spec, run)
}

// decodeOne checks that data is exactly one JSON object and decodes it.
func decodeOne(t testing.TB, data []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	// Numbers echoed back in invocation are kept verbatim, and JSON allows
	// numbers beyond float64 (Python reads 1e700 as inf): decode them as
	// json.Number and turn the ones that fit into float64.
	dec.UseNumber()
	var raw map[string]any
	require.NoError(t, dec.Decode(&raw), "stdout: %s", data)
	require.NotNil(t, raw, "stdout: %s", data)
	out := floatNumbers(raw).(map[string]any)
	_, err := dec.Token()
	require.ErrorIs(t, err, io.EOF, "more than one JSON value on stdout: %s", data)
	checkProtocol(t, out)
	return out
}

// floatNumbers replaces each json.Number in v that fits a finite float64 by
// that float64, as encoding/json would have decoded it.
func floatNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil && !math.IsInf(f, 0) {
			return f
		}
		return x
	case []any:
		for i := range x {
			x[i] = floatNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = floatNumbers(x[k])
		}
	}
	return v
}

// checkProtocol checks the shape rules Ansible relies on.
func checkProtocol(t testing.TB, out map[string]any) {
	t.Helper()
	require.IsType(t, false, out["changed"])
	if f, ok := out["failed"]; ok {
		require.Equal(t, true, f, "failed is only emitted when true")
		require.NotEmpty(t, out["msg"])
	}
	require.NotContains(t, out, "results")
	for k := range out {
		require.False(t, strings.HasPrefix(k, "_ansible_"), "key %s", k)
	}
	if w, ok := out["warnings"]; ok {
		for _, s := range w.([]any) {
			require.IsType(t, "", s)
		}
	}
	if d, ok := out["deprecations"]; ok {
		for _, e := range d.([]any) {
			for k := range e.(map[string]any) {
				require.Contains(t, []string{"msg", "version", "date", "collection_name"}, k)
			}
		}
	}
	inv, ok := out["invocation"].(map[string]any)
	require.True(t, ok, "invocation is always present")
	require.IsType(t, map[string]any{}, inv["module_args"])
}

func okRun(res Result) RunFunc {
	return func(context.Context, *Module) (Result, error) { return res, nil }
}

func TestRunEndToEnd(t *testing.T) {
	content := `{"name": "app", "timeout": "30", "_ansible_check_mode": true, "_ansible_diff": true,
		"_ansible_verbosity": 0, "_ansible_version": "2.19.0", "_ansible_module_name": "buildkit_image",
		"_ansible_tmpdir": null, "_ansible_remote_tmp": "~/.ansible/tmp", "_ansible_ignore_unknown_opts": false,
		"_ansible_target_log_info": null, "_ansible_brand_new_key": [1, 2]}`
	var got *Module
	run := func(ctx context.Context, m *Module) (Result, error) {
		got = m
		return Result{
			Changed: true, Msg: "built <app> & tagged",
			Diff: &Diff{Before: map[string]any{"id": nil}, After: map[string]any{"id": "sha256:1"}, AfterHeader: "app (after)"},
			Data: map[string]any{"image": map[string]any{"Id": "sha256:1", "Size": 1234}, "actions": []string{"Built app"}},
		}, nil
	}
	r := runArgs(t, []string{"bk", writeArgs(t, content)}, map[string]string{"HOME": "/home/ans"}, imageSpec(), run)
	require.Equal(t, 0, r.code, r.stdout)
	assert.True(t, got.CheckMode)
	assert.True(t, got.DiffMode)
	assert.Equal(t, "/home/ans/.ansible/tmp", got.TmpDir)
	assert.Equal(t, 30, got.Params["timeout"])
	assert.Equal(t, "buildkit_image", got.name)

	assert.Equal(t, true, r.out["changed"])
	assert.NotContains(t, r.out, "failed")
	assert.Equal(t, "built <app> & tagged", r.out["msg"])
	assert.Contains(t, r.stdout, "built <app> & tagged", "HTML characters are not escaped")
	assert.Equal(t, map[string]any{"before": map[string]any{"id": nil}, "after": map[string]any{"id": "sha256:1"}, "after_header": "app (after)"}, r.out["diff"])
	assert.Equal(t, map[string]any{"Id": "sha256:1", "Size": float64(1234)}, r.out["image"])
	assert.Equal(t, []any{"Built app"}, r.out["actions"])
	assert.NotContains(t, r.out, "warnings")
	assert.NotContains(t, r.out, "deprecations")
	args := r.out["invocation"].(map[string]any)["module_args"].(map[string]any)
	assert.Equal(t, "app", args["name"])
	assert.Equal(t, float64(30), args["timeout"])
	assert.Contains(t, args, "build")
	assert.Nil(t, args["build"])
	assert.NotContains(t, args, "_ansible_check_mode")
	assert.Equal(t, 1, strings.Count(r.stdout, "\n"), "one line of JSON")
}

func TestRunDiffOnlyInDiffMode(t *testing.T) {
	res := Result{Changed: true, Diff: &Diff{Before: "a\n", After: "b\n"}}
	r := runJSON(t, map[string]any{"name": "x"}, imageSpec(), okRun(res))
	assert.NotContains(t, r.out, "diff")
	r = runJSON(t, map[string]any{"name": "x", "_ansible_diff": true}, imageSpec(), okRun(res))
	assert.Equal(t, map[string]any{"before": "a\n", "after": "b\n"}, r.out["diff"])
	r = runJSON(t, map[string]any{"name": "x", "_ansible_diff": true}, imageSpec(), okRun(Result{}))
	assert.NotContains(t, r.out, "diff")
	assert.Equal(t, false, r.out["changed"])
}

func TestRunFailure(t *testing.T) {
	run := func(context.Context, *Module) (Result, error) {
		return Result{Changed: true, Msg: "ignored", Data: map[string]any{"stdout": "build log"}}, errors.New("build failed: exit 1")
	}
	r := runJSON(t, map[string]any{"name": "x"}, imageSpec(), run)
	assert.Equal(t, 1, r.code)
	assert.Equal(t, true, r.out["failed"])
	assert.Equal(t, true, r.out["changed"])
	assert.Equal(t, "build failed: exit 1", r.out["msg"])
	assert.Equal(t, "build log", r.out["stdout"])

	r = runJSON(t, map[string]any{"name": "x"}, imageSpec(), func(context.Context, *Module) (Result, error) {
		return Result{}, errors.New("")
	})
	assert.Equal(t, "module failed", r.out["msg"])
}

func TestRunValidationFailure(t *testing.T) {
	called := false
	run := func(context.Context, *Module) (Result, error) { called = true; return Result{}, nil }
	r := runJSON(t, map[string]any{"image": "x", "state": "gone", "token": "hunter2", "_ansible_module_name": "buildkit_image"}, imageSpec(), run)
	assert.False(t, called)
	assert.Equal(t, 1, r.code)
	assert.Equal(t, true, r.out["failed"])
	assert.Equal(t, false, r.out["changed"])
	assert.Equal(t, "value of state must be one of: present, absent, built, got: gone", r.out["msg"])
	// The invocation shows what was given, with the secret hidden.
	assert.Equal(t, map[string]any{"image": "x", "state": "gone", "token": noLogPlaceholder},
		r.out["invocation"].(map[string]any)["module_args"])
	assert.NotContains(t, r.stdout, "hunter2")

	r = runJSON(t, map[string]any{"name": "x", "nope": 1}, imageSpec(), run)
	assert.Contains(t, r.out["msg"], "Unsupported parameters for (bk_test) module: nope.", "name from argv[0] without AnsiballZ_")
}

func TestRunBadArgsFile(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no argv", nil, "no arguments file"},
		{"no argv[1]", []string{"bk"}, "no arguments file"},
		{"missing file", []string{"bk", filepath.Join(dir, "nope")}, "cannot read the arguments file"},
		{"directory", []string{"bk", dir}, "cannot read the arguments file"},
		{"empty file", []string{"bk", writeArgs(t, "")}, "is not valid JSON"},
		{"invalid JSON", []string{"bk", writeArgs(t, `{"name": `)}, "is not valid JSON"},
		{"trailing data", []string{"bk", writeArgs(t, `{"name": "a"} {"x": 1}`)}, "unexpected data after"},
		{"array", []string{"bk", writeArgs(t, `["name"]`)}, "must hold a JSON object, not a list"},
		{"string", []string{"bk", writeArgs(t, `"name"`)}, "must hold a JSON object, not a str"},
		{"null", []string{"bk", writeArgs(t, `null`)}, "must hold a JSON object, not a null"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			r := runArgs(t, tc.args, nil, imageSpec(), func(context.Context, *Module) (Result, error) {
				called = true
				return Result{}, nil
			})
			assert.False(t, called)
			assert.Equal(t, 1, r.code)
			assert.Equal(t, true, r.out["failed"])
			assert.Contains(t, r.out["msg"], tc.want)
		})
	}
}

func TestRunModuleArgsWrapper(t *testing.T) {
	var name any
	r := runArgs(t, []string{"bk", writeArgs(t, `{"ANSIBLE_MODULE_ARGS": {"name": "wrapped"}}`)}, nil, imageSpec(),
		func(_ context.Context, m *Module) (Result, error) { name = m.Params["name"]; return Result{}, nil })
	assert.Equal(t, 0, r.code, r.stdout)
	assert.Equal(t, "wrapped", name)
}

func TestRunPanic(t *testing.T) {
	run := func(_ context.Context, m *Module) (Result, error) {
		m.Warn("before the crash")
		var p map[string]int
		p["boom"] = 1 // assignment to entry in nil map
		return Result{}, nil
	}
	r := runJSON(t, map[string]any{"name": "x"}, imageSpec(), run)
	assert.Equal(t, 1, r.code)
	assert.Equal(t, true, r.out["failed"])
	assert.Equal(t, "internal error in module: assignment to entry in nil map", r.out["msg"])
	assert.Equal(t, []any{"before the crash"}, r.out["warnings"])
	assert.NotContains(t, r.stdout, "goroutine", "no stack trace on stdout")
	assert.Contains(t, r.stderr, "goroutine")

	// A panic value holding a secret is masked too.
	r = runJSON(t, map[string]any{"name": "x", "token": "tok-9"}, imageSpec(), func(_ context.Context, m *Module) (Result, error) {
		panic("bad token " + m.Params["token"].(string))
	})
	assert.Equal(t, "internal error in module: bad token ********", r.out["msg"])

	// A panic while validating (a Default that panics when encoded).
	spec := Spec{Options: map[string]*Option{"x": {Type: TypeRaw, Default: panicky{}}}}
	r = runJSON(t, map[string]any{}, spec, okRun(Result{}))
	assert.Equal(t, true, r.out["failed"])
	assert.Contains(t, r.out["msg"], "internal error in module")

	m, err := ParseArgs(map[string]any{}, spec, nil)
	assert.Nil(t, m)
	assert.ErrorContains(t, err, "internal error in module")
}

type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("cannot marshal") }

func TestRunUnencodableData(t *testing.T) {
	r := runJSON(t, map[string]any{"name": "x"}, imageSpec(), okRun(Result{Changed: true, Data: map[string]any{"ch": make(chan int)}}))
	assert.Equal(t, 1, r.code)
	assert.Equal(t, true, r.out["failed"])
	assert.Contains(t, r.out["msg"], "cannot encode the result")

	r = runJSON(t, map[string]any{"name": "x"}, imageSpec(), okRun(Result{Data: map[string]any{"p": panicky{}}}))
	assert.Equal(t, true, r.out["failed"])
	assert.Contains(t, r.out["msg"], "cannot encode the result")
}

func TestRunReservedDataKeys(t *testing.T) {
	data := map[string]any{
		"changed": false, "failed": true, "msg": "x", "invocation": 1, "warnings": 2, "deprecations": 3,
		"diff": 4, "results": []any{1}, "_ansible_no_log": true, "_ansible_verbose_always": true, "image": "kept", "skipped": true,
	}
	r := runJSON(t, map[string]any{"name": "x"}, imageSpec(), okRun(Result{Changed: true, Msg: "ok", Data: data}))
	assert.Equal(t, 0, r.code)
	assert.Equal(t, true, r.out["changed"])
	assert.NotContains(t, r.out, "failed")
	assert.Equal(t, "ok", r.out["msg"])
	assert.Equal(t, "kept", r.out["image"])
	assert.Equal(t, true, r.out["skipped"])
	warnings := r.out["warnings"].([]any)
	assert.Len(t, warnings, 10)
	assert.Contains(t, warnings, `The module returned the reserved key "results" in its data; it was dropped.`)
}

func TestRunWarningsAndDeprecations(t *testing.T) {
	run := func(_ context.Context, m *Module) (Result, error) {
		m.Warn("first")
		m.Deprecate("option foo is deprecated", "2.0.0")
		m.Deprecate("no version", "")
		return Result{}, nil
	}
	r := runJSON(t, map[string]any{"name": "x", "image": "y"}, imageSpec(), run)
	assert.Equal(t, []any{"Both option name and its alias image are set.", "first"}, r.out["warnings"])
	assert.Equal(t, []any{
		map[string]any{"msg": "option foo is deprecated", "version": "2.0.0", "collection_name": "jenkins_ha.buildkit"},
		map[string]any{"msg": "no version", "collection_name": "jenkins_ha.buildkit"},
	}, r.out["deprecations"])
}

func TestRunMasking(t *testing.T) {
	args := map[string]any{
		"name": "app", "username": "bob", "password": "hunter2",
		"build":         map[string]any{"path": "/src", "secret": "buildsecret", "args": map[string]any{"TOKEN": "hunter2"}},
		"registries":    []any{map[string]any{"host": "r1", "user": "u", "password": "regpass"}},
		"extra":         map[string]any{"note": "uses hunter2"},
		"_ansible_diff": true,
	}
	run := func(_ context.Context, m *Module) (Result, error) {
		m.AddNoLogValue("runtime-tok")
		m.AddNoLogValue("")
		m.Warn("password hunter2 looks weak")
		m.Deprecate("buildsecret is deprecated", "2.0.0")
		return Result{
			Changed: true,
			Msg:     "logged in with hunter2 and runtime-tok",
			Diff:    &Diff{Before: "secret=regpass", After: map[string]any{"v": []any{"runtime-tok"}}, BeforeHeader: "hunter2"},
			Data: map[string]any{
				"nested":       map[string]any{"list": []any{"a", "xx-hunter2-yy", map[string]any{"deep": "runtime-tok"}}},
				"hunter2":      "key is masked too",
				"pass_as_int":  7,
				"unrelated_no": "bob",
			},
		}, nil
	}
	r := runJSON(t, args, imageSpec(), run)
	require.Equal(t, 0, r.code, r.stdout)
	for _, secret := range []string{"hunter2", "buildsecret", "regpass", "runtime-tok"} {
		assert.NotContains(t, r.stdout, secret)
	}
	assert.Equal(t, "logged in with ******** and ********", r.out["msg"])
	assert.Equal(t, []any{"password ******** looks weak"}, r.out["warnings"])
	assert.Equal(t, "******** is deprecated", r.out["deprecations"].([]any)[0].(map[string]any)["msg"])
	assert.Equal(t, map[string]any{
		"before": "secret=********", "after": map[string]any{"v": []any{"********"}}, "before_header": "********",
	}, r.out["diff"])
	assert.Equal(t, map[string]any{"list": []any{"a", "xx-********-yy", map[string]any{"deep": "********"}}}, r.out["nested"])
	assert.Equal(t, "key is masked too", r.out["********"])
	assert.Equal(t, "bob", r.out["unrelated_no"])

	inv := r.out["invocation"].(map[string]any)["module_args"].(map[string]any)
	assert.Equal(t, noLogPlaceholder, inv["password"])
	assert.Equal(t, "bob", inv["username"])
	assert.Nil(t, inv["token"], "absent no_log options stay null")
	build := inv["build"].(map[string]any)
	assert.Equal(t, noLogPlaceholder, build["secret"])
	assert.Equal(t, "/src", build["path"])
	assert.Equal(t, map[string]any{"TOKEN": "********"}, build["args"])
	reg := inv["registries"].([]any)[0].(map[string]any)
	assert.Equal(t, noLogPlaceholder, reg["password"])
	assert.Equal(t, "u", reg["user"])
	assert.Equal(t, map[string]any{"note": "uses ********"}, inv["extra"])
}

func TestMaskingNumbersAndOverlaps(t *testing.T) {
	spec := Spec{Options: map[string]*Option{"pin": {Type: TypeInt, NoLog: true}, "key": {NoLog: true}, "short": {NoLog: true}}}
	run := okRun(Result{Msg: "pin 4321, key abcdef", Data: map[string]any{"pin": 4321, "other": 12, "f": true}})
	r := runJSON(t, map[string]any{"pin": "4321", "key": "abcdef", "short": "abc"}, spec, run)
	assert.Equal(t, "pin ********, key ********", r.out["msg"], "the longest value is masked first")
	assert.Equal(t, "********", r.out["pin"])
	assert.Equal(t, float64(12), r.out["other"])
	assert.Equal(t, true, r.out["f"])
}

func TestDebugf(t *testing.T) {
	var stderr bytes.Buffer
	m := newModule("x", &stderr)
	m.Verbosity = 2
	m.AddNoLogValue("s3cret")
	m.Debugf(3, "hidden %d", 1)
	m.Debugf(2, "token=%s", "s3cret")
	m.Debugf(1, "done\n")
	assert.Equal(t, "token=********\ndone\n", stderr.String())
}

func TestRunContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout bytes.Buffer
	code := runWith(ctx, []string{"bk", writeArgs(t, `{"name": "x"}`)}, nil, &stdout, io.Discard, env(nil), imageSpec(),
		func(ctx context.Context, _ *Module) (Result, error) { return Result{}, ctx.Err() })
	assert.Equal(t, 1, code)
	assert.Equal(t, "context canceled", decodeOne(t, stdout.Bytes())["msg"])
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestRunWriteError(t *testing.T) {
	code := runWith(context.Background(), []string{"bk", writeArgs(t, `{"name": "x"}`)}, nil, failingWriter{}, io.Discard, env(nil), imageSpec(), okRun(Result{}))
	assert.Equal(t, 1, code)
}

func TestRunExported(t *testing.T) {
	var stdout bytes.Buffer
	code := Run(context.Background(), []string{"bk", writeArgs(t, `{"name": "x", "_ansible_check_mode": "yes"}`)}, &stdout, env(nil), imageSpec(),
		func(_ context.Context, m *Module) (Result, error) {
			return Result{Changed: m.CheckMode, Msg: "would build"}, nil
		})
	assert.Equal(t, 0, code)
	out := decodeOne(t, stdout.Bytes())
	assert.Equal(t, true, out["changed"])
}

// TestMainHelper is not a test: TestMainProcess re-executes the test binary with
// MODULE_TEST_ARGS set to run Main in a real process.
func TestMainHelper(t *testing.T) {
	path := os.Getenv("MODULE_TEST_ARGS")
	if path == "" {
		t.Skip("helper process only")
	}
	os.Args = []string{"AnsiballZ_helper", path}
	os.Exit(Main(imageSpec(), func(_ context.Context, m *Module) (Result, error) {
		fmt.Println("stray print from a library")
		return Result{Changed: true, Msg: "hello " + m.Params["name"].(string)}, nil
	}))
}

func TestMainProcess(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainHelper$")
	cmd.Env = append(os.Environ(), "MODULE_TEST_ARGS="+writeArgs(t, `{"name": "proc", "_ansible_module_name": "buildkit_image"}`))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	out := decodeOne(t, stdout.Bytes())
	assert.Equal(t, "hello proc", out["msg"])
	assert.Contains(t, stderr.String(), "stray print from a library")
}

// TestArgsOnStdin: "-" reads the arguments from stdin (the action plugin's
// way: no file holding them is left on the host if the run is killed).
func TestArgsOnStdin(t *testing.T) {
	var stdout bytes.Buffer
	var got any
	code := runWith(context.Background(), []string{"bk", "-"}, strings.NewReader(`{"name": "from-stdin", "token": "s3cret"}`), &stdout, io.Discard, env(nil), imageSpec(),
		func(_ context.Context, m *Module) (Result, error) { got = m.Params["name"]; return Result{}, nil })
	assert.Equal(t, 0, code, stdout.String())
	assert.Equal(t, "from-stdin", got)
	assert.NotContains(t, stdout.String(), "s3cret")

	stdout.Reset()
	code = runWith(context.Background(), []string{"bk", "-"}, strings.NewReader(`name=x`), &stdout, io.Discard, env(nil), imageSpec(), okRun(Result{}))
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout.String(), "is not valid JSON")
}
