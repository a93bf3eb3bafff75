package speccheck

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// CompareStruct compares the options of a Go spec with the struct the module
// decodes them into (module.Module.Decode: a JSON round trip), recursively
// through the structs of sub-options. Each option needs a field with its name
// as json tag, of a type its values decode into; each json-tagged field needs
// an option. Embedded structs without a tag count as their fields, as in
// encoding/json. It returns what differs, one line each, sorted.
func CompareStruct(spec map[string]*module.Option, v any) []string {
	t := reflect.TypeOf(v)
	if t == nil {
		return []string{"no options struct"}
	}
	var out []string
	compareStruct(spec, deref(t), "", &out)
	sort.Strings(out)
	return out
}

// field is one JSON field of a struct, with where it is declared.
type field struct {
	typ  reflect.Type
	decl string // Type.Field, for messages
}

func compareStruct(spec map[string]*module.Option, t reflect.Type, path string, out *[]string) {
	if t.Kind() != reflect.Struct {
		*out = append(*out, fmt.Sprintf("option %s: sub-options need a struct, got %s", orTop(path), t))
		return
	}
	fields := map[string]field{}
	collectFields(t, fields, out)
	for _, name := range union(spec, fields) {
		opt, ook := spec[name]
		f, fok := fields[name]
		switch {
		case !fok:
			*out = append(*out, fmt.Sprintf("option %s: no field of %s has the json tag %q, so Decode drops it", join(path, name), t, name))
			continue
		case !ook:
			*out = append(*out, fmt.Sprintf("field %s (json %q): not an option of the spec", f.decl, name))
			continue
		}
		if opt == nil {
			opt = &module.Option{}
		}
		if msg := fitsOption(opt, f.typ); msg != "" {
			*out = append(*out, fmt.Sprintf("option %s (%s): field %s is %s: %s", join(path, name), typeOr(opt.Type), f.decl, f.typ, msg))
			continue
		}
		if len(opt.Options) > 0 {
			st := deref(f.typ)
			if typeOr(opt.Type) == module.TypeList {
				st = deref(st.Elem())
			}
			compareStruct(opt.Options, st, join(path, name), out)
		}
	}
}

func orTop(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

// collectFields gathers a struct's JSON fields by name, promoting the fields
// of untagged embedded structs. An exported field without a json tag, or two
// fields with one name, is an error: encoding/json would match the first by
// its Go name and silently drop both of the second.
func collectFields(t reflect.Type, fields map[string]field, out *[]string) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, hasTag := sf.Tag.Lookup("json")
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" && deref(sf.Type).Kind() == reflect.Struct {
			collectFields(deref(sf.Type), fields, out)
			continue
		}
		if !sf.IsExported() || name == "-" {
			continue
		}
		decl := t.String() + "." + sf.Name
		if !hasTag || name == "" {
			*out = append(*out, fmt.Sprintf("field %s: no json tag naming its option", decl))
			continue
		}
		if prev, dup := fields[name]; dup {
			*out = append(*out, fmt.Sprintf("fields %s and %s: both have the json tag %q", prev.decl, decl, name))
			continue
		}
		fields[name] = field{typ: sf.Type, decl: decl}
	}
}

// fitsOption says why values of an option cannot decode into a Go type, or "".
func fitsOption(opt *module.Option, t reflect.Type) string {
	typ := typeOr(opt.Type)
	if msg := fits(typ, len(opt.Options) > 0 && typ == module.TypeDict, t); msg != "" {
		return msg
	}
	if typ != module.TypeList {
		return ""
	}
	et := deref(t)
	if et.Kind() == reflect.Interface {
		if len(opt.Options) > 0 {
			return "a list with sub-options needs a slice of structs"
		}
		return ""
	}
	if opt.Elements == "" {
		return ""
	}
	return fits(opt.Elements, len(opt.Options) > 0 && opt.Elements == module.TypeDict, et.Elem())
}

// fits says why values of type typ cannot decode into t, or "". withOptions
// asks for a struct, whose fields are then checked against the sub-options.
func fits(typ module.Type, withOptions bool, t reflect.Type) string {
	t = deref(t)
	k := t.Kind()
	if k == reflect.Interface {
		if withOptions {
			return "a dict with sub-options needs a struct"
		}
		return ""
	}
	ok := false
	switch typ {
	case module.TypeStr, module.TypePath:
		ok = k == reflect.String
	case module.TypeInt:
		ok = k >= reflect.Int && k <= reflect.Uint64
	case module.TypeFloat:
		ok = k == reflect.Float32 || k == reflect.Float64
	case module.TypeBool:
		ok = k == reflect.Bool
	case module.TypeList:
		ok = k == reflect.Slice
	case module.TypeDict:
		if withOptions {
			if k != reflect.Struct {
				return "a dict with sub-options needs a struct"
			}
			return ""
		}
		ok = k == reflect.Map && t.Key().Kind() == reflect.String
	case module.TypeRaw:
		return "a raw option needs an interface type (any)"
	default:
		return fmt.Sprintf("unknown option type %q", typ)
	}
	if !ok {
		return fmt.Sprintf("a %s does not decode into it", typ)
	}
	return ""
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
