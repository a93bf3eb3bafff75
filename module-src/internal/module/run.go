package module

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
)

// Diff is a result's before/after view, shown by `ansible-playbook --diff`.
// Before and After are strings or JSON-able structures.
type Diff struct {
	Before, After             any
	BeforeHeader, AfterHeader string // omitted when empty
}

// Result is what a RunFunc returns.
type Result struct {
	Changed bool
	Msg     string
	// Diff is returned only in diff mode.
	Diff *Diff
	// Data holds extra top-level keys of the result (e.g. "image"). Keys the
	// runtime owns (changed, failed, msg, invocation, warnings,
	// deprecations, diff), `_ansible_*` keys and "results" are dropped with a
	// warning.
	Data map[string]any
}

// RunFunc does the module's work. Returning a non-nil error makes the task
// fail with msg err.Error(), with the Data (and Changed and Diff) of the
// Result returned alongside it.
type RunFunc func(ctx context.Context, m *Module) (Result, error)

// Main runs a module as Ansible starts it, with os.Args, os.Stdout and the
// process environment, and returns the exit code:
//
//	func main() { os.Exit(module.Main(spec, run)) }
//
// The context passed to run is cancelled on SIGINT or SIGTERM. While the
// module runs, os.Stdout points to stderr, so that stray prints from the
// module or its libraries cannot corrupt the JSON result.
func Main(spec Spec, run RunFunc) int {
	return MainArgs(os.Args, os.Stdout, spec, run)
}

// MainArgs is Main with the process arguments (args[1] is the path of the
// args file) and the writer of the JSON result given: a multi-call binary
// passes the module's own.
func MainArgs(args []string, out io.Writer, spec Spec, run RunFunc) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stdout := os.Stdout
	os.Stdout = os.Stderr
	defer func() { os.Stdout = stdout }()
	return Run(ctx, args, out, os.Getenv, spec, run)
}

// Run is the testable core of Main. args are the process arguments (args[1]
// is the path of the args file), out receives the single JSON result object
// and getenv serves environment lookups. It returns 0 on success and 1 when
// the result has failed set. It never panics: a panic in run (or anywhere
// else) becomes a failed result.
func Run(ctx context.Context, args []string, out io.Writer, getenv func(string) string, spec Spec, run RunFunc) int {
	return runWith(ctx, args, os.Stdin, out, os.Stderr, getenv, spec, run)
}

func runWith(ctx context.Context, args []string, stdin io.Reader, out, stderr io.Writer, getenv func(string) string, spec Spec, run RunFunc) int {
	if ctx == nil {
		ctx = context.Background()
	}
	if out == nil {
		out = os.Stdout
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	payload, failed := execute(ctx, args, stdin, stderr, getenv, spec, run)
	if _, err := out.Write(payload); err != nil {
		fmt.Fprintf(stderr, "cannot write the module result: %v\n", err)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

// maxArgsSize bounds the arguments read from stdin (a file is as big as it is).
const maxArgsSize = 256 << 20

// execute does everything but writing, and returns the one JSON object.
func execute(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer, getenv func(string) string, spec Spec, run RunFunc) ([]byte, bool) {
	m := newModule(nameFromArgv(args), stderr) // _ansible_module_name overrides the name
	m.strictReturns = getenv(StrictReturnsEnv) != ""
	raw, err := readArgs(args, stdin)
	if err != nil {
		return m.render(spec, nil, Result{}, err)
	}
	if err := m.parseSafe(raw, spec, getenv); err != nil {
		return m.render(spec, userArgs(raw), Result{}, err)
	}
	res, err := m.call(ctx, run)
	return m.render(spec, m.Params, res, err)
}

// readArgs reads the args file named by args[1], or stdin when it is "-"
// (the action plugin sends the arguments that way, so that no file holding
// them is left on the host when the run is killed). A file holding
// {"ANSIBLE_MODULE_ARGS": {...}} (the format of Python modules' args
// files, handy for trying a module by hand) is unwrapped.
func readArgs(args []string, stdin io.Reader) (map[string]any, error) {
	if len(args) < 2 || args[1] == "" {
		return nil, errors.New("no arguments file: a binary Ansible module expects the path of a JSON arguments file as its first argument")
	}
	var data []byte
	var err error
	if args[1] == "-" && stdin != nil {
		data, err = io.ReadAll(io.LimitReader(stdin, maxArgsSize+1))
		if err == nil && len(data) > maxArgsSize {
			err = fmt.Errorf("more than %d bytes on stdin", maxArgsSize)
		}
	} else {
		data, err = os.ReadFile(args[1])
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the arguments file: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the arguments file %s is not valid JSON: %v", args[1], err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("the arguments file %s is not valid JSON: unexpected data after the top-level object", args[1])
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the arguments file %s must hold a JSON object, not a %s", args[1], typeName(normalize(v)))
	}
	if inner, ok := obj["ANSIBLE_MODULE_ARGS"].(map[string]any); ok && len(obj) == 1 {
		obj = inner
	}
	return obj, nil
}

// nameFromArgv is the module name when the args lack _ansible_module_name:
// the binary's base name without Ansible's "AnsiballZ_" prefix.
func nameFromArgv(args []string) string {
	if len(args) == 0 || args[0] == "" {
		return "module"
	}
	return strings.TrimPrefix(filepath.Base(args[0]), "AnsiballZ_")
}

// userArgs returns the args without the `_ansible_*` keys.
func userArgs(raw map[string]any) map[string]any {
	out := make(map[string]any, len(raw))
	for k, v := range raw {
		if !strings.HasPrefix(k, "_ansible_") {
			out[k] = v
		}
	}
	return out
}

// parseSafe is parse with panics turned into errors.
func (m *Module) parseSafe(raw map[string]any, spec Spec, getenv func(string) string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(m.stderr, "panic while validating the arguments: %v\n%s", r, debug.Stack())
			err = fmt.Errorf("internal error in module: %v", r)
		}
	}()
	return m.parse(raw, spec, getenv)
}

// call runs the RunFunc with panics turned into errors.
func (m *Module) call(ctx context.Context, run RunFunc) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(m.stderr, "panic in module: %v\n%s", r, debug.Stack())
			res, err = Result{}, fmt.Errorf("internal error in module: %v", r)
		}
	}()
	if run == nil {
		return Result{}, errors.New("internal error in module: no run function")
	}
	return run(ctx, m)
}

// reservedKeys are result keys that Data cannot set.
var reservedKeys = map[string]bool{
	"changed": true, "failed": true, "msg": true, "invocation": true,
	"warnings": true, "deprecations": true, "diff": true, "results": true,
}

// render builds the result object. runErr non-nil makes it a failure. If
// the result cannot be encoded, a minimal failure is returned instead.
func (m *Module) render(spec Spec, moduleArgs map[string]any, res Result, runErr error) (payload []byte, failed bool) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(m.stderr, "panic while encoding the result: %v\n%s", r, debug.Stack())
			payload, failed = m.fallback(fmt.Sprintf("internal error in module: cannot encode the result: %v", r)), true
		}
	}()
	payload, failed, err := m.renderFull(spec, moduleArgs, res, runErr)
	if err != nil {
		return m.fallback(fmt.Sprintf("internal error in module: cannot encode the result: %v", err)), true
	}
	return payload, failed
}

func (m *Module) renderFull(spec Spec, moduleArgs map[string]any, res Result, runErr error) ([]byte, bool, error) {
	out := make(map[string]any, len(res.Data)+8)
	var dropped []string
	for k, v := range res.Data {
		if reservedKeys[k] || strings.HasPrefix(k, "_ansible_") {
			dropped = append(dropped, k)
			continue
		}
		out[k] = v
	}
	sort.Strings(dropped)
	for _, k := range dropped {
		m.Warn(fmt.Sprintf("The module returned the reserved key %q in its data; it was dropped.", k))
	}
	var undeclared []string
	if m.strictReturns {
		undeclared = CheckReturns(spec.Returns, out)
	}

	out["changed"] = res.Changed
	msg := res.Msg
	failed := runErr != nil
	if runErr != nil {
		if msg = runErr.Error(); msg == "" {
			msg = "module failed"
		}
	}
	if len(undeclared) > 0 {
		failed, msg = true, undeclaredMessage(undeclared, msg)
	}
	if failed {
		out["failed"] = true
	}
	if msg != "" {
		out["msg"] = msg
	}
	if m.DiffMode && res.Diff != nil {
		diff := map[string]any{"before": res.Diff.Before, "after": res.Diff.After}
		if res.Diff.BeforeHeader != "" {
			diff["before_header"] = res.Diff.BeforeHeader
		}
		if res.Diff.AfterHeader != "" {
			diff["after_header"] = res.Diff.AfterHeader
		}
		out["diff"] = diff
	}
	warnings, deprecations := m.messages()
	if len(warnings) > 0 {
		out["warnings"] = warnings
	}
	if len(deprecations) > 0 {
		out["deprecations"] = deprecations
	}

	generic, err := toGeneric(out)
	if err != nil {
		return nil, false, err
	}
	args, err := toGeneric(moduleArgs)
	if err != nil {
		return nil, false, fmt.Errorf("module arguments: %w", err)
	}
	if args == nil {
		args = map[string]any{}
	}
	mask := m.masker()
	result := make(map[string]any, len(out)+1)
	for k, v := range generic.(map[string]any) {
		if !reservedKeys[k] {
			k = mask.str(k) // a key of Data
		}
		result[k] = mask.value(v)
	}
	result["invocation"] = map[string]any{"module_args": mask.invocation(args, spec.Options)}
	payload, err := encode(result)
	return payload, failed, err
}

// fallback is a minimal failed result that cannot fail to encode.
func (m *Module) fallback(msg string) []byte {
	b, err := encode(map[string]any{
		"changed":    false,
		"failed":     true,
		"msg":        m.masker().str(msg),
		"invocation": map[string]any{"module_args": map[string]any{}},
	})
	if err != nil {
		return []byte(`{"changed": false, "failed": true, "msg": "internal error in module"}` + "\n")
	}
	return b
}

func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
