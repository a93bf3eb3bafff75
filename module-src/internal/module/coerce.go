package module

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Values inside the package are "normalized": nil, bool, string, int,
// float64, []any, map[string]any, and json.Number for numbers that do not fit
// an int or a finite float64. normalize turns any Go value into that form.

// normalize returns a deep copy of v in normalized form.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, bool, string, int:
		return x
	case json.Number:
		return normalizeNumber(x)
	case float64:
		return x
	case float32:
		// Go through the shortest decimal form so that float32(0.1) is 0.1.
		f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		return f
	case int8:
		return int(x)
	case int16:
		return int(x)
	case int32:
		return int(x)
	case int64:
		return normalizeNumber(json.Number(strconv.FormatInt(x, 10)))
	case uint8:
		return int(x)
	case uint16:
		return int(x)
	case uint32:
		return normalizeNumber(json.Number(strconv.FormatUint(uint64(x), 10)))
	case uint:
		return normalizeNumber(json.Number(strconv.FormatUint(uint64(x), 10)))
	case uint64:
		return normalizeNumber(json.Number(strconv.FormatUint(x, 10)))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		return normalize(rv.Elem().Interface())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil
		}
		if rv.Type().Elem().Kind() != reflect.Uint8 { // []byte is a JSON string
			out := make([]any, rv.Len())
			for i := range out {
				out[i] = normalize(rv.Index(i).Interface())
			}
			return out
		}
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			if rv.IsNil() {
				return nil
			}
			out := make(map[string]any, rv.Len())
			iter := rv.MapRange()
			for iter.Next() {
				out[iter.Key().String()] = normalize(iter.Value().Interface())
			}
			return out
		}
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	}
	// Anything else (structs, named types with MarshalJSON, ...) goes through
	// its JSON form.
	g, err := toGeneric(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return normalize(g)
}

// normalizeNumber converts a JSON number to int or float64 when it fits.
func normalizeNumber(n json.Number) any {
	s := string(n)
	if isIntLiteral(s) {
		if i, err := strconv.ParseInt(s, 10, 0); err == nil {
			return int(i)
		}
		return n
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return n
	}
	return f
}

func isIntLiteral(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".eE")
}

// toGeneric converts v to a tree of map[string]any, []any, string, bool,
// json.Number and nil through its JSON encoding.
func toGeneric(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// typeName names the type of a normalized value, with Python's names since
// they are what Ansible users know.
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case string:
		return "str"
	case int:
		return "int"
	case float64:
		return "float"
	case json.Number:
		if isIntLiteral(string(x)) {
			return "int"
		}
		return "float"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// pyStr formats a normalized value the way Python's str() does (True, 3,
// 1.0, 1e+16, ['a', 1]).
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case float64:
		return pyFloat(x)
	case json.Number:
		s := string(x)
		if isIntLiteral(s) {
			if b, ok := new(big.Int).SetString(s, 10); ok {
				return b.String()
			}
			return s
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil || errors.Is(err, strconv.ErrRange) {
			return pyFloat(f)
		}
		return s
	case []any, map[string]any:
		return pyRepr(x)
	}
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

// pyFloat formats f like Python's repr(float): the shortest representation
// that round-trips, in positional notation with at least one decimal (1.0)
// unless the decimal exponent is < -4 or >= 16 (1e-05, 1e+16).
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(sci[strings.IndexByte(sci, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return sci
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// quote shows a value in an error message, strings in single quotes.
func quote(v any) string {
	if s, ok := v.(string); ok {
		return "'" + s + "'"
	}
	return pyStr(v)
}

// Boolean spellings accepted by Ansible (module_utils/parsing/convert_bool.py).
var (
	boolTrue  = []string{"y", "yes", "on", "1", "true", "t"}
	boolFalse = []string{"n", "no", "off", "0", "false", "f"}
)

// toBool converts like check_type_bool.
func toBool(v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		s := strings.ToLower(strings.TrimSpace(x))
		if slices.Contains(boolTrue, s) {
			return true, nil
		}
		if slices.Contains(boolFalse, s) {
			return false, nil
		}
		return nil, fmt.Errorf("the value %s is not a valid boolean. Valid booleans include: %s",
			quote(x), strings.Join(append(slices.Clone(boolTrue), boolFalse...), ", "))
	case int:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
		return nil, fmt.Errorf("the value %d is not a valid boolean (only 1 and 0 are)", x)
	case float64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
		return nil, fmt.Errorf("the value %s is not a valid boolean (only 1.0 and 0.0 are)", pyFloat(x))
	case json.Number:
		return nil, fmt.Errorf("the value %s is not a valid boolean", pyStr(x))
	}
	return nil, fmt.Errorf("type %s cannot be converted to a bool", typeName(v))
}

var intLiteral = regexp.MustCompile(`^[+-]?[0-9]+(_[0-9]+)*$`)

// toInt converts like check_type_int: integers, floats without a fractional
// part and strings holding an integer. Booleans are refused.
func toInt(v any) (any, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) || x != math.Trunc(x) {
			return nil, fmt.Errorf("the float %s has a fractional part", pyFloat(x))
		}
		if x < math.MinInt || x >= math.MaxInt {
			return nil, fmt.Errorf("the value %s is out of range", pyFloat(x))
		}
		return int(x), nil
	case json.Number:
		return nil, fmt.Errorf("the value %s is out of range", pyStr(x))
	case string:
		s := strings.TrimSpace(x)
		if !intLiteral.MatchString(s) {
			return nil, fmt.Errorf("%s is not an integer", quote(x))
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 0)
		if err != nil {
			return nil, fmt.Errorf("the value %s is out of range", quote(x))
		}
		return int(i), nil
	}
	return nil, fmt.Errorf("type %s cannot be converted to an int", typeName(v))
}

// toFloat converts like check_type_float: numbers and numeric strings. The
// result must be finite, since JSON cannot carry inf or nan.
func toFloat(v any) (any, error) {
	var f float64
	switch x := v.(type) {
	case int:
		f = float64(x)
	case float64:
		f = x
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(string(x), 64); err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("%s is not a number", pyStr(x))
		}
	case string:
		s := strings.TrimSpace(x)
		var err error
		f, err = strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) || strings.ContainsAny(s, "xX") {
			return nil, fmt.Errorf("%s is not a number", quote(x))
		}
	default:
		return nil, fmt.Errorf("type %s cannot be converted to a float", typeName(v))
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("the value %s is not a finite number", quote(v))
	}
	return f, nil
}

// scalarToStr converts a bool or number to its Python string. ok is false for
// other types.
func scalarToStr(v any) (s string, ok bool) {
	switch v.(type) {
	case bool, int, float64, json.Number:
		return pyStr(v), true
	}
	return "", false
}

// toList converts like check_type_list: a list is copied, a string is split
// on commas (without trimming, as Python does) and a number becomes a
// one-element list of its string.
func toList(v any) (any, error) {
	switch x := v.(type) {
	case []any:
		return slices.Clone(x), nil
	case string:
		parts := strings.Split(x, ",")
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	case int, float64, json.Number:
		return []any{pyStr(x)}, nil
	}
	return nil, fmt.Errorf("type %s cannot be converted to a list", typeName(v))
}

// toDict converts like check_type_dict: a dict is copied, a string starting
// with "{" is parsed as JSON, a string with "=" as "k1=v1, k2=v2".
func toDict(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = e
		}
		return out, nil
	case string:
		if strings.HasPrefix(x, "{") {
			dec := json.NewDecoder(strings.NewReader(x))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil || dec.More() || m == nil {
				return nil, errors.New("unable to evaluate string as a JSON dictionary")
			}
			return normalize(m), nil
		}
		if strings.Contains(x, "=") {
			return parseKeyValue(x)
		}
		return nil, errors.New("dictionary requested, could not parse JSON or key=value")
	}
	return nil, fmt.Errorf("type %s cannot be converted to a dict", typeName(v))
}

// parseKeyValue parses "k1=v1, k2='v 2'" like check_type_dict: fields are
// separated by commas or spaces outside quotes, quotes are removed and a
// backslash escapes the next character. The error deliberately does not
// quote the input, which may hold secrets that are only partly masked.
func parseKeyValue(s string) (map[string]any, error) {
	var (
		fields []string
		buf    strings.Builder
		inQ    rune
		escape bool
	)
	flush := func() {
		if buf.Len() > 0 {
			fields = append(fields, buf.String())
			buf.Reset()
		}
	}
	for _, c := range strings.TrimSpace(s) {
		switch {
		case escape:
			buf.WriteRune(c)
			escape = false
		case c == '\\':
			escape = true
		case inQ == 0 && (c == '\'' || c == '"'):
			inQ = c
		case inQ != 0 && c == inQ:
			inQ = 0
		case inQ == 0 && (c == ',' || c == ' '):
			flush()
		default:
			buf.WriteRune(c)
		}
	}
	flush()
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			return nil, errors.New(`unable to evaluate string in the "key=value" format`)
		}
		out[k] = val
	}
	return out, nil
}

// expandPath expands environment variables and then a leading "~" like
// Python's os.path.expanduser(os.path.expandvars(p)). Unset (or empty)
// variables and "~user" are left as they are.
func expandPath(p string, getenv func(string) string) string {
	p = expandVars(p, getenv)
	if !strings.HasPrefix(p, "~") {
		return p
	}
	i := strings.IndexByte(p, '/')
	if i < 0 {
		i = len(p)
	}
	if i != 1 {
		return p // ~user
	}
	home := getenv("HOME")
	if home == "" {
		return p
	}
	home = strings.TrimRight(home, "/")
	if home+p[1:] == "" {
		return "/"
	}
	return home + p[1:]
}

// expandVars replaces $NAME and ${NAME} like posixpath.expandvars, where NAME
// is made of ASCII letters, digits and underscores (${...} may hold anything
// but "/" and "}").
func expandVars(s string, getenv func(string) string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		var name string
		end := i + 1
		if s[i+1] == '{' {
			j := strings.IndexAny(s[i+2:], "}/")
			if j >= 0 && s[i+2+j] == '}' {
				name = s[i+2 : i+2+j]
				end = i + 3 + j
			}
		} else {
			for end < len(s) && isWordByte(s[end]) {
				end++
			}
			name = s[i+1 : end]
		}
		if val := getenv(name); name != "" && val != "" {
			b.WriteString(val)
			i = end
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// numberValue returns v as a float64 when it is a number.
func numberValue(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case float64:
		return x, true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil || errors.Is(err, strconv.ErrRange)
	}
	return 0, false
}

// equalValues compares two normalized values; numbers compare by value so
// that 1 equals 1.0.
func equalValues(a, b any) bool {
	af, aNum := numberValue(a)
	bf, bNum := numberValue(b)
	if aNum || bNum {
		return aNum && bNum && af == bf
	}
	return reflect.DeepEqual(a, b)
}
