package speccheck

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// NoLogPhrase is how the docs say that an option is no_log (the Ansible
// documentation schema has no key for it): the description of every no_log
// option, and of no other, contains it.
const NoLogPhrase = "Never shown in results or logs."

// SameSubOptionsPhrase in an option's description says its sub-options are
// another module's option reused as it is ("... with the same sub-options as
// M(jenkins_ha.buildkit.buildkit_image)'s C(build)"): the docs refer to them
// instead of repeating them.
const SameSubOptionsPhrase = "with the same sub-options as M(jenkins_ha.buildkit."

// fallsBack is how the docs name an option's environment fallbacks:
// "Falls back to C(DOCKER_HOST)".
var fallsBack = regexp.MustCompile(`Falls back to C\(([A-Z0-9_]+)\)`)

// CompareOptions compares the options of a Go spec with their documentation,
// recursively through sub-options, and returns what differs, one line each,
// naming the option's path ("build.secrets.value: ..."), sorted.
func CompareOptions(spec map[string]*module.Option, docs map[string]*DocOption) []string {
	var out []string
	compareOptions(spec, docs, "", &out)
	sort.Strings(out)
	return out
}

func compareOptions(spec map[string]*module.Option, docs map[string]*DocOption, path string, out *[]string) {
	add := func(name, format string, args ...any) {
		*out = append(*out, "option "+join(path, name)+": "+fmt.Sprintf(format, args...))
	}
	for _, name := range union(spec, docs) {
		g, gok := spec[name]
		d, dok := docs[name]
		switch {
		case !dok:
			add(name, "in the Go spec, not documented")
			continue
		case !gok:
			add(name, "documented, not in the Go spec")
			continue
		}
		if g == nil {
			g = &module.Option{}
		}
		if d == nil {
			d = &DocOption{}
		}
		gt, dt := typeOr(g.Type), typeOr(module.Type(d.Type))
		if gt != dt {
			add(name, "type %s in Go, %s in the docs", gt, dt)
		}
		if g.Required != d.Required {
			add(name, "required %t in Go, %t in the docs", g.Required, d.Required)
		}
		if g.Elements != module.Type(d.Elements) {
			add(name, "elements %q in Go, %q in the docs", g.Elements, d.Elements)
		}
		if gd, dd := normalize(g.Default, gt, g.Elements), normalize(d.Default, gt, g.Elements); !reflect.DeepEqual(gd, dd) {
			add(name, "default %s in Go, %s in the docs", show(gd), show(dd))
		}
		scalar := gt
		if gt == module.TypeList {
			scalar = g.Elements
		}
		if gc, dc := normalizeSet(g.Choices, scalar), normalizeSet(d.Choices, scalar); !reflect.DeepEqual(gc, dc) {
			add(name, "choices %s in Go, %s in the docs", show(gc), show(dc))
		}
		if ga, da := sortedCopy(g.Aliases), sortedCopy(d.Aliases); !slices.Equal(ga, da) {
			add(name, "aliases %v in Go, %v in the docs", ga, da)
		}
		text := d.Text()
		if says := strings.Contains(text, NoLogPhrase); g.NoLog != says {
			if g.NoLog {
				add(name, "no_log in Go, but its description does not say %q", NoLogPhrase)
			} else {
				add(name, "its description says %q, but it is not no_log in Go", NoLogPhrase)
			}
		}
		var named []string
		for _, m := range fallsBack.FindAllStringSubmatch(text, -1) {
			named = append(named, m[1])
		}
		if ge, de := sortedCopy(g.EnvFallback), sortedCopy(named); !slices.Equal(ge, de) {
			add(name, "environment fallbacks %v in Go, %v in the docs (\"Falls back to C(VAR)\")", ge, de)
		}
		if strings.Contains(text, SameSubOptionsPhrase) && len(d.Suboptions) == 0 {
			// Another module's option reused as it is (its own docs are checked
			// against it there): documented by reference, not repeated.
			continue
		}
		if len(g.Options) > 0 || len(d.Suboptions) > 0 {
			compareOptions(g.Options, d.Suboptions, join(path, name), out)
		}
	}
}

// CompareReturns compares a Go spec's return declarations with RETURN,
// recursively through contains, and checks each documented sample against
// the declaration. It returns what differs, one line each, sorted.
func CompareReturns(spec map[string]*module.Return, docs map[string]*DocReturn) []string {
	var out []string
	compareReturns(spec, docs, "", &out)
	for _, name := range sortedKeys(docs) {
		d := docs[name]
		if d == nil || d.Sample == nil || spec[name] == nil {
			continue
		}
		for _, p := range module.CheckReturns(map[string]*module.Return{name: spec[name]}, map[string]any{name: d.Sample}) {
			out = append(out, "return "+name+": its sample does not fit the declaration: "+p)
		}
	}
	sort.Strings(out)
	return out
}

func compareReturns(spec map[string]*module.Return, docs map[string]*DocReturn, path string, out *[]string) {
	add := func(name, format string, args ...any) {
		*out = append(*out, "return "+join(path, name)+": "+fmt.Sprintf(format, args...))
	}
	for _, name := range union(spec, docs) {
		g, gok := spec[name]
		d, dok := docs[name]
		switch {
		case !dok:
			add(name, "declared in Go, not documented in RETURN")
			continue
		case !gok:
			add(name, "documented in RETURN, not declared in Go")
			continue
		}
		if g == nil {
			g = &module.Return{}
		}
		if d == nil {
			d = &DocReturn{}
		}
		if gt, dt := typeOr(g.Type), typeOr(module.Type(d.Type)); gt != dt {
			add(name, "type %s in Go, %s in RETURN", gt, dt)
		}
		if g.Elements != module.Type(d.Elements) {
			add(name, "elements %q in Go, %q in RETURN", g.Elements, d.Elements)
		}
		if len(g.Contains) > 0 || len(d.Contains) > 0 {
			compareReturns(g.Contains, d.Contains, join(path, name), out)
		}
	}
}

func typeOr(t module.Type) module.Type {
	if t == "" {
		return module.TypeStr
	}
	return t
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func union[A, B any](a map[string]A, b map[string]B) []string {
	set := map[string]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	return sortedKeys(set)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// normalize makes a default comparable whichever side it comes from (Go
// literals, YAML): integers as int64, floats as float64 (an integer default
// of a float option as its float), lists as []any, maps as map[string]any.
func normalize(v any, t, elements module.Type) any {
	switch x := v.(type) {
	case nil:
		return nil
	case int:
		return numberOf(int64(x), t)
	case int64:
		return numberOf(x, t)
	case int32:
		return numberOf(int64(x), t)
	case uint64:
		return numberOf(int64(x), t)
	case float32:
		return float64(x)
	case float64:
		return x
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e, elements, "")
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e, "", "")
		}
		return out
	}
	return v
}

func numberOf(n int64, t module.Type) any {
	if t == module.TypeFloat {
		return float64(n)
	}
	return n
}

// normalizeSet is a list of choices, normalized and sorted (their order is
// only how they are shown).
func normalizeSet(choices []any, t module.Type) []any {
	out := make([]any, 0, len(choices))
	for _, c := range choices {
		out = append(out, normalize(c, t, ""))
	}
	sort.Slice(out, func(i, j int) bool { return show(out[i]) < show(out[j]) })
	return out
}

func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "none"
	case string:
		return fmt.Sprintf("%q", x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = show(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprintf("%v (%T)", v, v)
}
