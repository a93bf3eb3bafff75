package module

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
)

// Call runs another module of the binary in this process, as if it were a
// task of its own: args are validated against spec with AnsibleModule's
// semantics, run is called, and the result comes back as the JSON object the
// module would print for Ansible (masked, with invocation), decoded. failed
// says whether it failed.
//
// The module called inherits m's check mode, diff mode, no_log, verbosity and
// temp directory; the no_log values it learns (its no_log options, secrets it
// found at run time) mask m's own output too. Its warnings and deprecations
// stay in its result: the caller decides which to pass on.
//
// This is how a module made of other modules (buildkit_image_set) reuses them
// exactly: the same option checks, the same code, the same results.
func (m *Module) Call(ctx context.Context, name string, spec Spec, run RunFunc, args map[string]any) (result map[string]any, failed bool) {
	child := newModule(name, m.stderr)
	m.mu.Lock()
	child.CheckMode, child.DiffMode, child.NoLog, child.Verbosity, child.TmpDir = m.CheckMode, m.DiffMode, m.NoLog, m.Verbosity, m.TmpDir
	m.mu.Unlock()
	payload, failed := child.execute(ctx, spec, run, args)
	m.mu.Lock()
	child.mu.Lock()
	for v := range child.noLog {
		m.noLog[v] = struct{}{}
	}
	child.mu.Unlock()
	m.mu.Unlock()
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return map[string]any{"failed": true, "msg": fmt.Sprintf("internal error: %s's result is not JSON: %v", name, err)}, true
	}
	res, _ := normalize(raw).(map[string]any)
	return res, failed
}

// execute validates args (a JSON round trip first, floats in Python's form,
// so that they reach the validator as an args file would bring them: 1.0
// stays 1.0) and runs the module.
func (m *Module) execute(ctx context.Context, spec Spec, run RunFunc, args map[string]any) ([]byte, bool) {
	b, err := json.Marshal(pythonFloats(args))
	if err != nil {
		return m.render(spec, nil, Result{}, fmt.Errorf("arguments: %w", err))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return m.render(spec, nil, Result{}, fmt.Errorf("arguments: %w", err))
	}
	if err := m.parseInherited(raw, spec); err != nil {
		return m.render(spec, userArgs(raw), Result{}, err)
	}
	res, err := m.call(ctx, run)
	return m.render(spec, m.Params, res, err)
}

// parseInherited is parseSafe keeping the settings the caller set (args
// carry no `_ansible_*` keys).
func (m *Module) parseInherited(raw map[string]any, spec Spec) error {
	check, diff, noLog, verbosity, tmp := m.CheckMode, m.DiffMode, m.NoLog, m.Verbosity, m.TmpDir
	for k := range raw {
		if len(k) > 9 && k[:9] == "_ansible_" {
			delete(raw, k)
		}
	}
	err := m.parseSafe(raw, spec, os.Getenv)
	m.CheckMode, m.DiffMode, m.NoLog, m.Verbosity, m.TmpDir = check, diff, noLog, verbosity, tmp
	return err
}
