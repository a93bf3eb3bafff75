package module

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Return declares one key of a module's result: its type and, for a dict
// (or a list of dicts), the keys it holds. It is the Go half of the module's
// RETURN documentation; the prose (description, returned, sample) lives in
// the module's docs stub, plugins/modules/<name>.py, which a test compares
// with this declaration.
type Return struct {
	// Type is the value's type, as in RETURN: str, int, float, bool, list,
	// dict, path or raw (anything). The empty Type means TypeStr.
	Type Type
	// Elements is the type of a list's elements.
	Elements Type
	// Contains are the keys of a dict, or of each dict of a list whose
	// Elements is TypeDict. A value holding a key not in Contains breaks the
	// declaration. Without Contains the dict's keys are not declared.
	Contains map[string]*Return
	// Open says that a dict with Contains also holds keys documented elsewhere
	// (the engine's image inspect object): only the keys in Contains are checked.
	Open bool
}

// StrictReturnsEnv, set to a non-empty value in a module's environment,
// makes a result that breaks its Spec.Returns a failure (see CheckReturns).
// The integration tests set it, so that every result they see proves the
// declaration complete. Without it nothing is checked: a user's task never
// fails because a result key was not declared.
const StrictReturnsEnv = "JENKINS_HA_BUILDKIT_STRICT_RETURNS"

// UndeclaredReturns starts the message of a result that broke its Spec.Returns
// under StrictReturnsEnv.
const UndeclaredReturns = "internal error in module: the result breaks the module's Spec.Returns"

// CheckReturns compares a result's data with its declaration and returns
// what differs, one line per key ("image.push_status: not declared",
// "passed: declared bool, got str"), sorted. data is a JSON-able map (as
// Result.Data). A null value is accepted for every type.
func CheckReturns(returns map[string]*Return, data map[string]any) []string {
	generic, err := toGeneric(data)
	if err != nil {
		return []string{fmt.Sprintf("the result cannot be encoded: %v", err)}
	}
	obj, _ := generic.(map[string]any)
	var problems []string
	checkKeys(returns, false, obj, "", &problems)
	sort.Strings(problems)
	return slices.Compact(problems)
}

// checkKeys checks the keys of one dict against their declarations.
func checkKeys(decl map[string]*Return, open bool, obj map[string]any, path string, problems *[]string) {
	for k, v := range obj {
		r, ok := decl[k]
		if !ok {
			if !open {
				*problems = append(*problems, joinPath(path, k)+": not declared")
			}
			continue
		}
		checkValue(r, v, joinPath(path, k), problems)
	}
}

// checkValue checks one value against its declaration: its type, and the
// keys of a dict (or of a list's dicts) with Contains.
func checkValue(r *Return, v any, path string, problems *[]string) {
	if r == nil {
		r = &Return{}
	}
	if v == nil {
		return
	}
	t := r.Type
	if t == "" {
		t = TypeStr
	}
	if !returnTypeOK(t, v) {
		*problems = append(*problems, fmt.Sprintf("%s: declared %s, got %s", path, t, typeName(normalize(v))))
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if len(r.Contains) > 0 {
			checkKeys(r.Contains, r.Open, x, path, problems)
		}
	case []any:
		for _, e := range x {
			if e == nil {
				continue
			}
			if r.Elements != "" && !returnTypeOK(r.Elements, e) {
				*problems = append(*problems, fmt.Sprintf("%s[]: declared elements %s, got %s", path, r.Elements, typeName(normalize(e))))
				continue
			}
			if d, ok := e.(map[string]any); ok && len(r.Contains) > 0 {
				checkKeys(r.Contains, r.Open, d, path+"[]", problems)
			}
		}
	}
}

// returnTypeOK says whether a generic JSON value (see toGeneric) is of a
// RETURN type. An int is a float too (encoding/json writes 2.0 as 2).
func returnTypeOK(t Type, v any) bool {
	switch t {
	case TypeStr, TypePath:
		_, ok := v.(string)
		return ok
	case TypeBool:
		_, ok := v.(bool)
		return ok
	case TypeInt:
		n, ok := v.(json.Number)
		return ok && isIntLiteral(string(n))
	case TypeFloat:
		_, ok := v.(json.Number)
		return ok
	case TypeList:
		_, ok := v.([]any)
		return ok
	case TypeDict:
		_, ok := v.(map[string]any)
		return ok
	case TypeRaw:
		return true
	}
	return false
}

// undeclaredMessage is the failure of a result that broke its declaration.
func undeclaredMessage(problems []string, msg string) string {
	s := UndeclaredReturns + " (declare each key, with its type, beside the module's Spec, and document it in RETURN): " +
		strings.Join(problems, "; ")
	if msg != "" {
		s += ". The module's own message: " + msg
	}
	return s
}
