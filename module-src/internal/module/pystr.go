package module

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Python modules turn option values into text with Python's str() (Ansible's
// to_native): 1.0 stays "1.0", True is "True", None is "None", a list is its
// repr. A Go module that stands in for one must give the same text, so the
// runtime keeps a float's Python form through Decode (pythonFloats) and
// StringMap converts a dict's values the way str() does (pyStr).

// StringMap is a dict option whose values are turned into strings as Python's
// str() does (docker_image's build.args, for example).
type StringMap map[string]string

// UnmarshalJSON implements json.Unmarshaler.
func (s *StringMap) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	if m == nil {
		*s = nil
		return nil
	}
	out := make(StringMap, len(m))
	for k, v := range m {
		out[k] = PyStr(v)
	}
	*s = out
	return nil
}

// Strings is the map as a plain map[string]string.
func (s StringMap) Strings() map[string]string {
	if s == nil {
		return nil
	}
	return map[string]string(s)
}

// PyStr is Python's str() of a JSON value: strings as they are, everything
// else as its repr.
func PyStr(v any) string { return pyStr(v) }

// pyRepr is Python's repr() of a list or dict (of normalized values).
func pyRepr(v any) string {
	switch x := v.(type) {
	case string:
		return pyQuote(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // JSON objects reach Go without their order
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyQuote(k) + ": " + pyRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return pyStr(v)
}

// pyQuote is Python's repr() of a str.
func pyQuote(s string) string {
	q := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteByte(q)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x80 || unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// pythonFloats returns v with every float64 replaced by a json.Number in
// Python's form, so that a JSON round trip keeps 1.0 apart from 1.
func pythonFloats(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return x
		}
		return json.Number(pyFloat(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pythonFloats(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = pythonFloats(e)
		}
		return out
	}
	return v
}
