package module

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
)

const (
	// maskText replaces a no_log value inside any string of the output.
	maskText = "********"
	// noLogPlaceholder replaces the value of a no_log option in
	// invocation.module_args, as AnsibleModule does.
	noLogPlaceholder = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
)

// noLogLeaves returns the strings of a value that must be masked, like
// AnsibleModule's _return_datastructure_name: non-empty strings and the
// string form of numbers, recursively through lists and dicts. Booleans and
// nulls are not secrets.
func noLogLeaves(v any, out []string) []string {
	switch x := v.(type) {
	case nil, bool:
	case string:
		if x != "" {
			out = append(out, x)
		}
	case int, float64, json.Number:
		out = append(out, pyStr(x))
	case []any:
		for _, e := range x {
			out = noLogLeaves(e, out)
		}
	case map[string]any:
		for _, e := range x {
			out = noLogLeaves(e, out)
		}
	default:
		out = noLogLeaves(normalize(v), out)
	}
	return out
}

// masker hides a set of no_log values.
type masker struct {
	values []string            // longest first, so no part of a value leaks
	set    map[string]struct{} // for whole-value matches of numbers
}

func newMasker(values map[string]struct{}) *masker {
	m := &masker{set: values}
	for v := range values {
		m.values = append(m.values, v)
	}
	slices.SortFunc(m.values, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
	})
	return m
}

// str replaces every no_log value inside s.
func (m *masker) str(s string) string {
	for _, v := range m.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, maskText)
		}
	}
	return s
}

// value masks a generic JSON tree (see toGeneric): strings, map keys and
// numbers whose text is a no_log value.
func (m *masker) value(v any) any {
	if len(m.values) == 0 {
		return v
	}
	switch x := v.(type) {
	case string:
		return m.str(x)
	case json.Number:
		if _, ok := m.set[string(x)]; ok {
			return maskText
		}
		if _, ok := m.set[pyStr(normalize(x))]; ok {
			return maskText
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = m.value(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[m.str(k)] = m.value(e)
		}
		return out
	}
	return v
}

// invocation masks module arguments for invocation.module_args: values of
// no_log options (found by name or alias, at any depth of sub-options) become
// VALUE_SPECIFIED_IN_NO_LOG_PARAMETER and everything else is masked as by
// value. Option names are not masked.
func (m *masker) invocation(args any, opts map[string]*Option) any {
	params, ok := args.(map[string]any)
	if !ok {
		return m.value(args)
	}
	out := make(map[string]any, len(params))
	for k, v := range params {
		opt := lookupOption(opts, k)
		switch {
		case opt == nil:
			out[k] = m.value(v)
		case opt.NoLog && v != nil:
			out[k] = noLogPlaceholder
		case len(opt.Options) > 0:
			if list, ok := v.([]any); ok {
				masked := make([]any, len(list))
				for i, e := range list {
					masked[i] = m.invocation(e, opt.Options)
				}
				out[k] = masked
			} else {
				out[k] = m.invocation(v, opt.Options)
			}
		default:
			out[k] = m.value(v)
		}
	}
	return out
}

// lookupOption finds an option by its name or one of its aliases.
func lookupOption(opts map[string]*Option, name string) *Option {
	if opt, ok := opts[name]; ok {
		if opt == nil {
			return &Option{}
		}
		return opt
	}
	for _, opt := range opts {
		if opt != nil && slices.Contains(opt.Aliases, name) {
			return opt
		}
	}
	return nil
}

// hasNoLog reports whether the option or one of its sub-options is no_log.
func hasNoLog(opt *Option) bool {
	if opt == nil {
		return false
	}
	if opt.NoLog {
		return true
	}
	for _, sub := range opt.Options {
		if hasNoLog(sub) {
			return true
		}
	}
	return false
}
