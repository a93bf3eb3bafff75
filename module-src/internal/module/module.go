package module

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"
)

// Module is what a module's RunFunc receives: the validated arguments, the
// `_ansible_*` settings, and methods to report warnings, deprecations and
// secrets. Its methods are safe for concurrent use.
type Module struct {
	// Params holds the validated arguments: coerced to their types, with
	// defaults applied and aliases resolved to the canonical names. Every
	// option of the spec has a key; absent options without a default are nil.
	// Values are string (str, path), int, float64, bool, []any (list) and
	// map[string]any (dict); raw values are as decoded from JSON, with
	// numbers as int or float64.
	Params map[string]any
	// CheckMode is _ansible_check_mode: the module must not change anything.
	CheckMode bool
	// DiffMode is _ansible_diff: Result.Diff is returned only when it is set.
	DiffMode bool
	// NoLog is _ansible_no_log (the task's no_log).
	NoLog bool
	// Verbosity is _ansible_verbosity (the number of -v).
	Verbosity int
	// TmpDir is _ansible_tmpdir, else _ansible_remote_tmp with ~ and
	// variables expanded, else os.TempDir().
	TmpDir string

	name   string    // module name, for messages
	stderr io.Writer // where Debugf writes
	// strictReturns fails a result that breaks Spec.Returns (StrictReturnsEnv).
	strictReturns bool

	mu           sync.Mutex
	warnings     []string
	deprecations []deprecation
	noLog        map[string]struct{}
}

type deprecation struct {
	Msg            string `json:"msg"`
	Version        string `json:"version,omitempty"`
	CollectionName string `json:"collection_name"`
}

func newModule(name string, stderr io.Writer) *Module {
	if stderr == nil {
		stderr = os.Stderr
	}
	return &Module{name: name, stderr: stderr, noLog: map[string]struct{}{}, TmpDir: os.TempDir()}
}

// Warn adds a warning to the result. Ansible shows it after the task.
func (m *Module) Warn(msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.warnings = append(m.warnings, msg)
}

// Deprecate adds a deprecation warning for something that is removed in the
// given version of the collection.
func (m *Module) Deprecate(msg, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deprecations = append(m.deprecations, deprecation{Msg: msg, Version: version, CollectionName: CollectionName})
}

// AddNoLogValue registers a secret found at run time (a token read from a
// file, say): it is masked everywhere in the output, like the values of
// no_log options. The empty string is ignored.
func (m *Module) AddNoLogValue(v string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addNoLogLocked(v)
}

func (m *Module) addNoLogLocked(values ...string) {
	for _, v := range values {
		if v != "" {
			m.noLog[v] = struct{}{}
			// JSON encoding turns each invalid UTF-8 byte into U+FFFD: mask
			// that form too.
			if !utf8.ValidString(v) {
				m.noLog[string([]rune(v))] = struct{}{}
			}
		}
	}
}

// addNoLogValue registers every string in a (normalized) value.
func (m *Module) addNoLogValue(v any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addNoLogLocked(noLogLeaves(v, nil)...)
}

// Decode stores Params into v, a pointer to a struct whose json tags are the
// option names, through a JSON round trip (floats in Python's form, so that a
// StringMap field gets the text Python's str() gives).
func (m *Module) Decode(v any) error {
	b, err := json.Marshal(pythonFloats(m.Params))
	if err != nil {
		return fmt.Errorf("decode module arguments: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode module arguments: %w", err)
	}
	return nil
}

// Debugf writes a line to stderr when Verbosity is at least level, with
// no_log values masked. Ansible shows stderr only when the module fails to
// produce JSON, so this is for debugging the module itself.
func (m *Module) Debugf(level int, format string, args ...any) {
	if m.Verbosity < level {
		return
	}
	msg := m.masker().str(fmt.Sprintf(format, args...))
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _ = io.WriteString(m.stderr, msg)
}

// masker returns a masker for the no_log values known so far.
func (m *Module) masker() *masker {
	m.mu.Lock()
	defer m.mu.Unlock()
	set := make(map[string]struct{}, len(m.noLog))
	for v := range m.noLog {
		set[v] = struct{}{}
	}
	return newMasker(set)
}

// messages returns copies of the warnings and deprecations.
func (m *Module) messages() ([]string, []deprecation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.warnings...), append([]deprecation(nil), m.deprecations...)
}
