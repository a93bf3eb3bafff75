package module

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
)

// ValidationError lists everything wrong with a module's arguments. Its
// Error joins the messages with ". ".
type ValidationError struct {
	Messages []string
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Messages))
	for i, msg := range e.Messages {
		if i < len(e.Messages)-1 {
			msg = strings.TrimSuffix(msg, ".")
		}
		parts[i] = msg
	}
	return strings.Join(parts, ". ")
}

// ParseArgs validates a raw args object (the content of the args file)
// against a spec and returns the Module a RunFunc receives. `_ansible_*` keys
// set the Module's fields; unknown ones are ignored. All problems are
// reported in one *ValidationError. getenv (os.Getenv when nil) serves env
// fallbacks, "~" and "$VAR" expansion in paths.
func ParseArgs(raw map[string]any, spec Spec, getenv func(string) string) (mod *Module, err error) {
	m := newModule("", os.Stderr)
	defer func() {
		if r := recover(); r != nil {
			mod, err = nil, fmt.Errorf("internal error in module: %v", r)
		}
	}()
	if err := m.parse(raw, spec, getenv); err != nil {
		return nil, err
	}
	return m, nil
}

// parse fills m from raw. It may leave m partly filled when it fails, but
// the no_log values seen so far are always registered, so that the failure
// can be reported without leaking them.
func (m *Module) parse(raw map[string]any, spec Spec, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	in, _ := normalize(raw).(map[string]any)
	v := &validator{m: m, getenv: getenv, conversion: "warn"}
	v.internalKeys(in)
	top := level{
		options:           spec.Options,
		mutuallyExclusive: spec.MutuallyExclusive,
		requiredTogether:  spec.RequiredTogether,
		requiredOneOf:     spec.RequiredOneOf,
		requiredIf:        spec.RequiredIf,
	}
	m.Params = v.validate(top, in, "", true)
	if len(v.errs) > 0 {
		return &ValidationError{Messages: v.errs}
	}
	return nil
}

// validator checks one args object. Errors are collected, not returned.
type validator struct {
	m          *Module
	getenv     func(string) string
	conversion string // _ansible_string_conversion_action: warn, error or ignore
	errs       []string
}

func (v *validator) errorf(format string, args ...any) {
	v.errs = append(v.errs, fmt.Sprintf(format, args...))
}

// internalKeys reads the `_ansible_*` keys that the runtime uses.
func (v *validator) internalKeys(in map[string]any) {
	m := v.m
	str := func(key string) string {
		if s, ok := in[key].(string); ok {
			return s
		}
		s, _ := scalarToStr(in[key])
		return s
	}
	flag := func(key string, dst *bool) {
		if val, ok := in[key]; ok && val != nil {
			b, err := toBool(val)
			if err != nil {
				v.errorf("internal argument %s: %v", key, err)
				return
			}
			*dst = b.(bool)
		}
	}
	if name := str("_ansible_module_name"); name != "" {
		m.name = name
	}
	if m.name == "" {
		m.name = "module"
	}
	flag("_ansible_check_mode", &m.CheckMode)
	flag("_ansible_diff", &m.DiffMode)
	flag("_ansible_no_log", &m.NoLog)
	if val, ok := in["_ansible_verbosity"]; ok && val != nil {
		n, err := toInt(val)
		if err != nil {
			v.errorf("internal argument _ansible_verbosity: %v", err)
		} else {
			m.Verbosity = n.(int)
		}
	}
	switch action := str("_ansible_string_conversion_action"); action {
	case "error", "ignore", "warn":
		v.conversion = action
	}
	if dir := str("_ansible_tmpdir"); dir != "" {
		m.TmpDir = dir
	} else if dir := str("_ansible_remote_tmp"); dir != "" {
		m.TmpDir = expandPath(dir, v.getenv)
	}
}

// level is one level of options: the module's or a dict option's.
type level struct {
	options           map[string]*Option
	mutuallyExclusive [][]string
	requiredTogether  [][]string
	requiredOneOf     [][]string
	requiredIf        []RequiredIf
}

func subLevel(opt *Option) level {
	return level{
		options:           opt.Options,
		mutuallyExclusive: opt.MutuallyExclusive,
		requiredTogether:  opt.RequiredTogether,
		requiredOneOf:     opt.RequiredOneOf,
		requiredIf:        opt.RequiredIf,
	}
}

// joinPath names an option below path: "name", "build.path", "targets[1].x".
func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// validate checks the options of one level in the order AnsibleModule does
// (no_log values, unsupported keys, aliases, env fallbacks, mutually
// exclusive, defaults, required, types and choices, required together/one
// of/if, then sub-options) and
// returns the validated parameters. in is not modified. path is "" at the
// top level, else the dotted name of the dict holding these options.
func (v *validator) validate(lv level, in map[string]any, path string, top bool) map[string]any {
	opts := make(map[string]*Option, len(lv.options))
	canonical := map[string]string{}
	for name, opt := range lv.options {
		if opt == nil {
			opt = &Option{}
		}
		opts[name] = opt
		canonical[name] = name
	}
	names := sortedKeys(opts)
	for _, name := range names {
		for _, alias := range opts[name].Aliases {
			if _, taken := canonical[alias]; !taken {
				canonical[alias] = name
			}
		}
	}
	ctx := ""
	if path != "" {
		ctx = " found in " + path
	}

	// Secrets first, before anything can quote them in an error.
	for _, name := range names {
		opt := opts[name]
		if !hasNoLog(opt) {
			continue
		}
		for _, key := range append([]string{name}, opt.Aliases...) {
			val, ok := in[key]
			switch {
			case !ok:
			case opt.NoLog:
				v.m.addNoLogValue(val)
			default:
				// Only sub-options are no_log. Dicts are handled when the
				// sub-options are validated, but a "k=v" string may never
				// parse, so it is masked whole.
				v.m.addNoLogValue(stringsOnly(val))
			}
		}
	}

	v.checkUnsupported(in, canonical, opts, path, top)

	p := make(map[string]any, len(opts))
	for _, name := range names {
		if val, ok := in[name]; ok && val != nil {
			p[name] = val
		}
		for _, alias := range opts[name].Aliases {
			val, ok := in[alias]
			if !ok || val == nil || canonical[alias] != name {
				continue
			}
			if _, set := p[name]; set {
				v.m.Warn(fmt.Sprintf("Both option %s and its alias %s are set.", joinPath(path, name), joinPath(path, alias)))
				continue
			}
			p[name] = val
		}
	}
	isSet := func(name string) bool {
		val, ok := p[canonicalName(canonical, name)]
		return ok && val != nil
	}

	for _, name := range names {
		if opt := opts[name]; !isSet(name) {
			for _, env := range opt.EnvFallback {
				if val := v.getenv(env); val != "" {
					p[name] = val
					if opt.NoLog {
						v.m.addNoLogValue(val)
					}
					break
				}
			}
		}
	}

	for _, group := range lv.mutuallyExclusive {
		if countSet(group, isSet) > 1 {
			v.errorf("parameters are mutually exclusive: %s%s", strings.Join(group, "|"), ctx)
		}
	}

	for _, name := range names {
		if opt := opts[name]; !isSet(name) && opt.Default != nil {
			p[name] = normalize(opt.Default)
			if opt.NoLog {
				v.m.addNoLogValue(p[name])
			}
		}
	}

	var missing []string
	for _, name := range names {
		if opts[name].Required && !isSet(name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		v.errorf("missing required arguments: %s%s", strings.Join(missing, ", "), ctx)
	}

	invalid := map[string]bool{}
	for _, name := range names {
		if !isSet(name) {
			continue
		}
		opt := opts[name]
		val, ok := v.coerceOption(opt, p[name], joinPath(path, name))
		if !ok {
			invalid[name] = true
			continue
		}
		if len(opt.Choices) > 0 {
			if val, ok = v.checkChoices(name, val, opt.Choices, ctx); !ok {
				invalid[name] = true
			}
		}
		if opt.Check != nil && !invalid[name] {
			if err := opt.Check(val); err != nil {
				v.errorf("%s: %v", joinPath(path, name), err)
				invalid[name] = true
			}
		}
		p[name] = val
		if opt.NoLog {
			v.m.addNoLogValue(val)
		}
	}

	for _, group := range lv.requiredTogether {
		if n := countSet(group, isSet); n > 0 && n < len(group) {
			v.errorf("parameters are required together: %s%s", strings.Join(group, ", "), ctx)
		}
	}
	for _, group := range lv.requiredOneOf {
		if len(group) > 0 && countSet(group, isSet) == 0 {
			v.errorf("one of the following is required: %s%s", strings.Join(group, ", "), ctx)
		}
	}
	for _, rule := range lv.requiredIf {
		key := canonicalName(canonical, rule.Key)
		if !isSet(key) || invalid[key] || !equalValues(p[key], normalize(rule.Value)) {
			continue
		}
		var absent []string
		for _, req := range rule.Requirements {
			if !isSet(req) {
				absent = append(absent, req)
			}
		}
		if rule.AnyOf && len(absent) > 0 && len(absent) == len(rule.Requirements) {
			v.errorf("%s is %s but any of the following are missing: %s%s", rule.Key, pyStr(p[key]), strings.Join(absent, ", "), ctx)
		} else if !rule.AnyOf && len(absent) > 0 {
			v.errorf("%s is %s but all of the following are missing: %s%s", rule.Key, pyStr(p[key]), strings.Join(absent, ", "), ctx)
		}
	}

	for _, name := range names {
		opt := opts[name]
		if !isSet(name) || invalid[name] || len(opt.Options) == 0 {
			continue
		}
		full := joinPath(path, name)
		switch {
		case opt.Type == TypeDict:
			if d, ok := p[name].(map[string]any); ok {
				p[name] = v.validate(subLevel(opt), d, full, false)
			}
		case opt.Type == TypeList && opt.Elements == TypeDict:
			if list, ok := p[name].([]any); ok {
				for i, e := range list {
					if d, ok := e.(map[string]any); ok {
						list[i] = v.validate(subLevel(opt), d, fmt.Sprintf("%s[%d]", full, i), false)
					}
				}
			}
		}
	}

	for _, name := range names {
		if !isSet(name) {
			p[name] = nil
		}
	}
	return p
}

// checkUnsupported reports keys that are neither options nor aliases
// (`_ansible_*` keys are ignored at the top level).
func (v *validator) checkUnsupported(in map[string]any, canonical map[string]string, opts map[string]*Option, path string, top bool) {
	var unknown []string
	for key := range in {
		if top && strings.HasPrefix(key, "_ansible_") {
			continue
		}
		if _, ok := canonical[key]; !ok {
			unknown = append(unknown, joinPath(path, key))
		}
	}
	if len(unknown) == 0 {
		return
	}
	sort.Strings(unknown)
	supported := make([]string, 0, len(opts))
	for _, name := range sortedKeys(opts) {
		if aliases := opts[name].Aliases; len(aliases) > 0 {
			aliases = slices.Sorted(slices.Values(aliases))
			name += " (" + strings.Join(aliases, ", ") + ")"
		}
		supported = append(supported, name)
	}
	v.errorf("Unsupported parameters for (%s) module: %s. Supported parameters include: %s.",
		v.m.name, strings.Join(unknown, ", "), strings.Join(supported, ", "))
}

// coerceOption converts a value to the option's type, and the elements of a
// list to its Elements type. Errors are recorded under the full name.
func (v *validator) coerceOption(opt *Option, val any, name string) (any, bool) {
	t := opt.Type
	if t == "" {
		t = TypeStr
	}
	out, err := v.coerce(t, val, name)
	if err != nil {
		v.typeError(name, val, t, err)
		return nil, false
	}
	list, isList := out.([]any)
	if t != TypeList || opt.Elements == "" || !isList {
		return out, true
	}
	ok := true
	for i, e := range list {
		elemName := fmt.Sprintf("%s[%d]", name, i)
		ce, err := v.coerce(opt.Elements, e, elemName)
		if err != nil {
			v.typeError(elemName, e, opt.Elements, err)
			ok = false
			continue
		}
		list[i] = ce
	}
	return list, ok
}

func (v *validator) typeError(name string, val any, t Type, err error) {
	v.errorf("argument '%s' is of type %s and we were unable to convert to %s: %v", name, typeName(val), t, err)
}

// coerce converts one normalized value to a type.
func (v *validator) coerce(t Type, val any, name string) (any, error) {
	switch t {
	case TypeStr:
		return v.toStr(val, name)
	case TypeInt:
		return toInt(val)
	case TypeFloat:
		return toFloat(val)
	case TypeBool:
		return toBool(val)
	case TypeList:
		return toList(val)
	case TypeDict:
		return toDict(val)
	case TypePath:
		s, ok := val.(string)
		if !ok {
			if s, ok = scalarToStr(val); !ok {
				return nil, fmt.Errorf("type %s cannot be converted to a path", typeName(val))
			}
		}
		return expandPath(s, v.getenv), nil
	case TypeRaw:
		return val, nil
	}
	return nil, fmt.Errorf("the module's argument spec has the unknown type %q", string(t))
}

// toStr converts like check_type_str with _ansible_string_conversion_action:
// numbers and booleans become their Python string with a warning ("warn",
// the default), silently ("ignore") or not at all ("error").
func (v *validator) toStr(val any, name string) (any, error) {
	if s, ok := val.(string); ok {
		return s, nil
	}
	s, ok := scalarToStr(val)
	if !ok {
		return nil, fmt.Errorf("type %s cannot be converted to a string", typeName(val))
	}
	switch v.conversion {
	case "error":
		return nil, fmt.Errorf("the value %s (type %s) is not a string; quote it to use it as a string", s, typeName(val))
	case "warn":
		v.m.Warn(fmt.Sprintf("The value %s (type %s) in a string field was converted to '%s' (type string) for option '%s'. "+
			"If this does not look like what you expect, quote the entire value to ensure it does not change.",
			s, typeName(val), s, name))
	}
	return s, nil
}

// checkChoices checks a coerced value against choices. Like AnsibleModule,
// a "True"/"False" string (from a YAML boolean in a string option) is mapped
// back when exactly one boolean spelling is among the choices.
func (v *validator) checkChoices(name string, val any, choices []any, ctx string) (any, bool) {
	norm := make([]any, len(choices))
	shown := make([]string, len(choices))
	for i, c := range choices {
		norm[i] = normalize(c)
		shown[i] = pyStr(norm[i])
	}
	in := func(x any) bool {
		return slices.ContainsFunc(norm, func(c any) bool { return equalValues(x, c) })
	}
	if list, ok := val.([]any); ok {
		var bad []string
		for _, e := range list {
			if !in(e) {
				bad = append(bad, pyStr(e))
			}
		}
		if len(bad) > 0 {
			v.errorf("value of %s must be one or more of: %s. Got no match for: %s%s",
				name, strings.Join(shown, ", "), strings.Join(bad, ", "), ctx)
			return val, false
		}
		return val, true
	}
	if in(val) {
		return val, true
	}
	if s, ok := val.(string); ok && (s == "True" || s == "False") {
		spellings := boolTrue
		if s == "False" {
			spellings = boolFalse
		}
		var overlap []any
		for _, c := range norm {
			if cs, ok := c.(string); ok && slices.Contains(spellings, cs) || c == (s == "True") {
				overlap = append(overlap, c)
			}
		}
		if len(overlap) == 1 {
			return overlap[0], true
		}
	}
	v.errorf("value of %s must be one of: %s, got: %s%s", name, strings.Join(shown, ", "), pyStr(val), ctx)
	return val, false
}

func canonicalName(canonical map[string]string, name string) string {
	if c, ok := canonical[name]; ok {
		return c
	}
	return name
}

func countSet(group []string, isSet func(string) bool) int {
	n := 0
	for _, name := range group {
		if isSet(name) {
			n++
		}
	}
	return n
}

// stringsOnly returns v if it is a string, the strings among its elements
// if it is a list, and nil otherwise.
func stringsOnly(v any) any {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var out []any
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
