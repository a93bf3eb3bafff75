// Package speccheck keeps the three descriptions of a module's interface in
// step: the Go spec (module.Spec: options and return keys), the struct the
// module decodes its options into (module.Module.Decode), and the Ansible
// documentation of the module (the DOCUMENTATION and RETURN YAML of its docs
// stub plugins/modules/<name>.py, with the doc fragments it extends). The Go
// spec is the definition; the others are compared with it, by the tests in
// module-src/internal/modules, for every module of the collection.
//
// It is used by tests only and is not linked into the modules' binary.
package speccheck

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Docs is a module's documentation as ansible-doc assembles it: its options
// (with those of its doc fragments) and its return keys.
type Docs struct {
	Options map[string]*DocOption
	Returns map[string]*DocReturn
}

// DocOption is one option (or sub-option) of DOCUMENTATION.
type DocOption struct {
	Description  any                   `yaml:"description"` // a string or a list of strings
	Type         string                `yaml:"type"`
	Required     bool                  `yaml:"required"`
	Default      any                   `yaml:"default"`
	Choices      []any                 `yaml:"choices"`
	Aliases      []string              `yaml:"aliases"`
	Elements     string                `yaml:"elements"`
	Suboptions   map[string]*DocOption `yaml:"suboptions"`
	VersionAdded string                `yaml:"version_added"`
}

// DocReturn is one key (or contained key) of RETURN.
type DocReturn struct {
	Description  any                   `yaml:"description"`
	Returned     string                `yaml:"returned"`
	Type         string                `yaml:"type"`
	Elements     string                `yaml:"elements"`
	Sample       any                   `yaml:"sample"`
	Contains     map[string]*DocReturn `yaml:"contains"`
	VersionAdded string                `yaml:"version_added"`
}

// Text is the description as one string.
func (o *DocOption) Text() string { return descriptionText(o.Description) }

func descriptionText(d any) string {
	switch x := d.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, p := range x {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// ReadDocs reads the documentation of module name from the collection at
// root: plugins/modules/<name>.py, and plugins/doc_fragments/<f>.py for each
// jenkins_ha.buildkit.<f> in its extends_documentation_fragment. An option
// documented twice (in the module and a fragment, or in two fragments) is an
// error: each is written once.
func ReadDocs(root, name string) (*Docs, error) {
	path := filepath.Join(root, "plugins", "modules", name+".py")
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	docText, err := pythonString(src, "DOCUMENTATION")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var doc struct {
		Options   yaml.Node `yaml:"options"`
		Fragments any       `yaml:"extends_documentation_fragment"`
	}
	if err := decodeYAML(docText, &doc, false); err != nil {
		return nil, fmt.Errorf("%s: DOCUMENTATION: %w", path, err)
	}
	d := &Docs{Options: map[string]*DocOption{}, Returns: map[string]*DocReturn{}}
	if err := decodeNode(&doc.Options, &d.Options); err != nil {
		return nil, fmt.Errorf("%s: DOCUMENTATION options: %w", path, err)
	}
	if d.Options == nil {
		d.Options = map[string]*DocOption{}
	}
	fragments, err := fragmentNames(doc.Fragments)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, f := range fragments {
		opts, err := readFragment(root, f)
		if err != nil {
			return nil, err
		}
		for k, o := range opts {
			if _, dup := d.Options[k]; dup {
				return nil, fmt.Errorf("%s: option %s is documented twice (in the module or another fragment, and in %s)", path, k, f)
			}
			d.Options[k] = o
		}
	}

	retText, err := pythonString(src, "RETURN")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := decodeYAML(retText, &d.Returns, true); err != nil {
		return nil, fmt.Errorf("%s: RETURN: %w", path, err)
	}
	if d.Returns == nil {
		d.Returns = map[string]*DocReturn{}
	}
	return d, nil
}

// fragmentPrefix is how the collection's own doc fragments are named.
const fragmentPrefix = "jenkins_ha.buildkit."

func fragmentNames(v any) ([]string, error) {
	var names []string
	switch x := v.(type) {
	case nil:
	case string:
		names = []string{x}
	case []any:
		for _, n := range x {
			s, ok := n.(string)
			if !ok {
				return nil, fmt.Errorf("extends_documentation_fragment: %v is not a fragment name", n)
			}
			names = append(names, s)
		}
	default:
		return nil, fmt.Errorf("extends_documentation_fragment: a name or a list of names, not %T", v)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, fragmentPrefix) || strings.Count(n, ".") != 2 {
			return nil, fmt.Errorf("extends_documentation_fragment: %s is not one of the collection's fragments (%s<name>)", n, fragmentPrefix)
		}
	}
	return names, nil
}

// readFragment reads the options of a doc fragment of the collection.
func readFragment(root, fqcn string) (map[string]*DocOption, error) {
	path := filepath.Join(root, "plugins", "doc_fragments", strings.TrimPrefix(fqcn, fragmentPrefix)+".py")
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("doc fragment %s: %w", fqcn, err)
	}
	text, err := pythonString(src, "DOCUMENTATION")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var frag struct {
		Options yaml.Node `yaml:"options"`
	}
	if err := decodeYAML(text, &frag, false); err != nil {
		return nil, fmt.Errorf("%s: DOCUMENTATION: %w", path, err)
	}
	var opts map[string]*DocOption
	if err := decodeNode(&frag.Options, &opts); err != nil {
		return nil, fmt.Errorf("%s: options: %w", path, err)
	}
	return opts, nil
}

// pythonString finds `NAME = r"""..."""` (at any indentation) in a Python file.
func pythonString(src []byte, name string) (string, error) {
	re := regexp.MustCompile(`(?ms)^[ \t]*` + name + `[ \t]*=[ \t]*[rR]?"""(.*?)"""`)
	m := re.FindSubmatch(src)
	if m == nil {
		return "", fmt.Errorf(`no %s = r"""...""" string`, name)
	}
	return string(m[1]), nil
}

// decodeYAML decodes YAML text, refusing unknown keys in strict mode and, in
// any mode, the plain scalars that YAML 1.1 (Ansible's PyYAML) and YAML 1.2
// (this parser) read differently, so that this test reads what ansible-doc does.
func decodeYAML(text string, v any, strict bool) error {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		return err
	}
	if err := ambiguousScalars(&root); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	dec.KnownFields(strict)
	return dec.Decode(v)
}

// decodeNode decodes a node strictly: an unknown key (a misspelt `required`,
// say) is an error, not a silently ignored line.
func decodeNode(n *yaml.Node, v any) error {
	if n.Kind == 0 {
		return nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

var yaml11Only = map[string]bool{"yes": true, "no": true, "on": true, "off": true, "y": true, "n": true}

func ambiguousScalars(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Style == 0 && n.Tag == "!!str" && yaml11Only[strings.ToLower(n.Value)] {
		return fmt.Errorf("line %d: %q is a boolean to Ansible's YAML 1.1 and a string to YAML 1.2: write true/false, or quote it", n.Line, n.Value)
	}
	for _, c := range n.Content {
		if err := ambiguousScalars(c); err != nil {
			return err
		}
	}
	return nil
}
