package module

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestCoercion(t *testing.T) {
	getenv := env(map[string]string{"HOME": "/home/ans", "DIR": "/srv", "EMPTY": ""})
	cases := []coercionCase{
		// bool: every spelling of convert_bool, any case, surrounding spaces.
		{"bool true", TypeBool, "", true, true, ""},
		{"bool false", TypeBool, "", false, false, ""},
		{"bool y", TypeBool, "", "y", true, ""},
		{"bool yes", TypeBool, "", "yes", true, ""},
		{"bool on", TypeBool, "", "on", true, ""},
		{"bool 1 str", TypeBool, "", "1", true, ""},
		{"bool true str", TypeBool, "", "true", true, ""},
		{"bool t", TypeBool, "", "t", true, ""},
		{"bool n", TypeBool, "", "n", false, ""},
		{"bool no", TypeBool, "", "no", false, ""},
		{"bool off", TypeBool, "", "off", false, ""},
		{"bool 0 str", TypeBool, "", "0", false, ""},
		{"bool false str", TypeBool, "", "false", false, ""},
		{"bool f", TypeBool, "", "f", false, ""},
		{"bool YES upper", TypeBool, "", "YES", true, ""},
		{"bool True mixed", TypeBool, "", "True", true, ""},
		{"bool Off mixed", TypeBool, "", "Off", false, ""},
		{"bool spaces", TypeBool, "", " yes ", true, ""},
		{"bool int 1", TypeBool, "", 1, true, ""},
		{"bool int 0", TypeBool, "", 0, false, ""},
		{"bool float 1.0", TypeBool, "", 1.0, true, ""},
		{"bool float 0.0", TypeBool, "", 0.0, false, ""},
		{"bool json 1", TypeBool, "", json.Number("1"), true, ""},
		{"bool maybe", TypeBool, "", "maybe", nil, "not a valid boolean"},
		{"bool int 2", TypeBool, "", 2, nil, "not a valid boolean"},
		{"bool float 0.5", TypeBool, "", 0.5, nil, "not a valid boolean"},
		{"bool list", TypeBool, "", []any{true}, nil, "list cannot be converted to a bool"},
		{"bool empty", TypeBool, "", "", nil, "not a valid boolean"},

		// int
		{"int int", TypeInt, "", 3, 3, ""},
		{"int json", TypeInt, "", json.Number("42"), 42, ""},
		{"int negative", TypeInt, "", -7, -7, ""},
		{"int float integral", TypeInt, "", 3.0, 3, ""},
		{"int json float integral", TypeInt, "", json.Number("1e2"), 100, ""},
		{"int string", TypeInt, "", "3", 3, ""},
		{"int string spaces", TypeInt, "", " 12 ", 12, ""},
		{"int string plus", TypeInt, "", "+5", 5, ""},
		{"int string minus", TypeInt, "", "-5", -5, ""},
		{"int string underscore", TypeInt, "", "1_000", 1000, ""},
		{"int string leading zero", TypeInt, "", "007", 7, ""},
		{"int string fraction", TypeInt, "", "3.5", nil, "'3.5' is not an integer"},
		{"int string float integral", TypeInt, "", "3.0", nil, "is not an integer"},
		{"int string word", TypeInt, "", "abc", nil, "is not an integer"},
		{"int empty", TypeInt, "", "", nil, "is not an integer"},
		{"int float fraction", TypeInt, "", 3.5, nil, "fractional part"},
		{"int bool", TypeInt, "", true, nil, "bool cannot be converted to an int"},
		{"int huge json", TypeInt, "", json.Number("123456789012345678901234567890"), nil, "out of range"},
		{"int huge string", TypeInt, "", "99999999999999999999", nil, "out of range"},
		{"int list", TypeInt, "", []any{1}, nil, "list cannot be converted"},

		// float
		{"float float", TypeFloat, "", 1.5, 1.5, ""},
		{"float int", TypeFloat, "", 2, 2.0, ""},
		{"float json", TypeFloat, "", json.Number("2.25"), 2.25, ""},
		{"float string", TypeFloat, "", "3.5", 3.5, ""},
		{"float string exp", TypeFloat, "", " 1e3 ", 1000.0, ""},
		{"float string int", TypeFloat, "", "-4", -4.0, ""},
		{"float string word", TypeFloat, "", "fast", nil, "is not a number"},
		{"float string inf", TypeFloat, "", "inf", nil, "not a finite number"},
		{"float string hex", TypeFloat, "", "0x1p-2", nil, "is not a number"},
		{"float bool", TypeFloat, "", false, nil, "bool cannot be converted to a float"},
		{"float dict", TypeFloat, "", map[string]any{}, nil, "dict cannot be converted"},

		// str
		{"str str", TypeStr, "", "hello", "hello", ""},
		{"str empty", TypeStr, "", "", "", ""},
		{"str int", TypeStr, "", 3, "3", ""},
		{"str json int", TypeStr, "", json.Number("3"), "3", ""},
		{"str json big int", TypeStr, "", json.Number("123456789012345678901234567890"), "123456789012345678901234567890", ""},
		{"str float", TypeStr, "", 1.0, "1.0", ""},
		{"str json float", TypeStr, "", json.Number("1.50"), "1.5", ""},
		{"str float exp", TypeStr, "", 1e16, "1e+16", ""},
		{"str float small", TypeStr, "", 0.00001, "1e-05", ""},
		{"str bool true", TypeStr, "", true, "True", ""},
		{"str bool false", TypeStr, "", false, "False", ""},
		{"str list", TypeStr, "", []any{"a"}, nil, "list cannot be converted to a string"},
		{"str dict", TypeStr, "", map[string]any{"a": 1}, nil, "dict cannot be converted to a string"},
		{"str default type", "", "", 7, "7", ""},

		// list
		{"list list", TypeList, "", []any{"a", 1}, []any{"a", 1}, ""},
		{"list string commas", TypeList, "", "a,b,c", []any{"a", "b", "c"}, ""},
		{"list string commas keeps spaces", TypeList, "", "a, b", []any{"a", " b"}, ""},
		{"list single string", TypeList, "", "a", []any{"a"}, ""},
		{"list int", TypeList, "", 5, []any{"5"}, ""},
		{"list float", TypeList, "", 2.5, []any{"2.5"}, ""},
		{"list bool", TypeList, "", true, nil, "bool cannot be converted to a list"},
		{"list dict", TypeList, "", map[string]any{"a": 1}, nil, "dict cannot be converted to a list"},
		{"list elements int", TypeList, TypeInt, "1,2,3", []any{1, 2, 3}, ""},
		{"list elements str", TypeList, TypeStr, []any{1, "b", true}, []any{"1", "b", "True"}, ""},
		{"list elements bool", TypeList, TypeBool, []any{"yes", "off", 1}, []any{true, false, true}, ""},
		{"list elements dict", TypeList, TypeDict, []any{"a=1", map[string]any{"b": 2}}, []any{map[string]any{"a": "1"}, map[string]any{"b": 2}}, ""},
		{"list elements bad int", TypeList, TypeInt, []any{1, 2, "x"}, nil, "argument 'x[2]' is of type str"},
		{"list elements go strings", TypeList, TypeStr, []string{"p", "q"}, []any{"p", "q"}, ""},

		// dict
		{"dict dict", TypeDict, "", map[string]any{"a": "b"}, map[string]any{"a": "b"}, ""},
		{"dict kv", TypeDict, "", "a=1, b=2", map[string]any{"a": "1", "b": "2"}, ""},
		{"dict kv spaces", TypeDict, "", "a=1 b=2", map[string]any{"a": "1", "b": "2"}, ""},
		{"dict kv quoted", TypeDict, "", `a="x y" b='p,q' c=\,`, map[string]any{"a": "x y", "b": "p,q", "c": ","}, ""},
		{"dict kv value with equals", TypeDict, "", "a=b=c", map[string]any{"a": "b=c"}, ""},
		{"dict json", TypeDict, "", `{"a": [1, "x"], "b": {"c": 1.5}}`, map[string]any{"a": []any{1, "x"}, "b": map[string]any{"c": 1.5}}, ""},
		{"dict bad json", TypeDict, "", `{"a": `, nil, "unable to evaluate string as a JSON dictionary"},
		{"dict kv missing equals", TypeDict, "", "a=1, b", nil, `"key=value" format`},
		{"dict plain string", TypeDict, "", "abc", nil, "could not parse JSON or key=value"},
		{"dict int", TypeDict, "", 1, nil, "int cannot be converted to a dict"},
		{"dict list", TypeDict, "", []any{}, nil, "list cannot be converted to a dict"},

		// path
		{"path plain", TypePath, "", "/etc/x", "/etc/x", ""},
		{"path tilde", TypePath, "", "~/src", "/home/ans/src", ""},
		{"path tilde alone", TypePath, "", "~", "/home/ans", ""},
		{"path tilde user", TypePath, "", "~bob/src", "~bob/src", ""},
		{"path var", TypePath, "", "$DIR/app", "/srv/app", ""},
		{"path braced var", TypePath, "", "${DIR}x/app", "/srvx/app", ""},
		{"path unknown var", TypePath, "", "$NOPE/app", "$NOPE/app", ""},
		{"path empty var", TypePath, "", "$EMPTY/app", "$EMPTY/app", ""},
		{"path var then tilde", TypePath, "", "~/$DIR", "/home/ans//srv", ""},
		{"path int", TypePath, "", 12, "12", ""},
		{"path list", TypePath, "", []any{"a"}, nil, "list cannot be converted to a path"},

		// raw
		{"raw string", TypeRaw, "", "x", "x", ""},
		{"raw int", TypeRaw, "", json.Number("5"), 5, ""},
		{"raw nested", TypeRaw, "", map[string]any{"a": []any{json.Number("1.5")}}, map[string]any{"a": []any{1.5}}, ""},

		{"unknown type", Type("strr"), "", "x", nil, `unknown type "strr"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := Spec{Options: map[string]*Option{"x": {Type: tc.typ, Elements: tc.elements}}}
			m, err := ParseArgs(map[string]any{"x": tc.in}, spec, getenv)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				assert.Contains(t, err.Error(), "argument 'x")
				if tc.typ != "" {
					assert.Contains(t, err.Error(), "to "+string(tc.target()))
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, m.Params["x"])
		})
	}
}

type coercionCase struct {
	name     string
	typ      Type
	elements Type
	in       any
	want     any
	err      string // substring of the error when not ""
}

// target is the type named by a type error: the elements' for lists.
func (tc coercionCase) target() Type {
	if tc.typ == TypeList && tc.elements != "" {
		return tc.elements
	}
	return tc.typ
}

func TestPyFloat(t *testing.T) {
	cases := map[float64]string{
		0: "0.0", 1: "1.0", -2.5: "-2.5", 0.1: "0.1", 1e15: "1000000000000000.0", 1e16: "1e+16",
		1.5e16: "1.5e+16", 0.0001: "0.0001", 0.00001: "1e-05", 123456.789: "123456.789",
		math.Inf(1): "inf", 1e-300: "1e-300",
	}
	for in, want := range cases {
		assert.Equal(t, want, pyFloat(in), "pyFloat(%v)", in)
	}
	assert.Equal(t, "-0.0", pyFloat(math.Copysign(0, -1)))
}

func TestNormalize(t *testing.T) {
	type point struct {
		X int `json:"x"`
	}
	assert.Equal(t, 3, normalize(int64(3)))
	assert.Equal(t, 0.1, normalize(float32(0.1)))
	assert.Equal(t, []any{1, 2}, normalize([]int{1, 2}))
	assert.Equal(t, map[string]any{"a": true}, normalize(map[string]bool{"a": true}))
	assert.Equal(t, map[string]any{"x": 4}, normalize(point{X: 4}))
	assert.Equal(t, map[string]any{"x": 4}, normalize(&point{X: 4}))
	assert.Nil(t, normalize((*point)(nil)))
	assert.Equal(t, json.Number("18446744073709551615"), normalize(uint64(math.MaxUint64)))
}
