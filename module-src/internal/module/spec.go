// Package module is the runtime for Ansible binary modules written in Go.
//
// Ansible (ansible-core 2.14 to 2.19) runs a binary module as
// `<binary> <path-of-args-file>`. The args file is a flat JSON object that
// holds the task's arguments together with `_ansible_*` control keys. The
// binary prints exactly one JSON object on stdout. This package implements
// that protocol and validates the arguments against a [Spec], in the way
// Python's AnsibleModule (module_utils/common/parameters.py and
// validation.py) does: type coercion, defaults, aliases, choices, env
// fallbacks, required/mutually exclusive/required_if rules, sub-options and
// no_log masking.
//
// A module's main function is just:
//
//	func main() { os.Exit(module.Main(spec, run)) }
//
// where run is a [RunFunc]. [Run] is the same thing with its inputs and outputs
// injected, for tests. The package has no global mutable state.
package module

// Type is the type of an option, as in an Ansible argument spec.
type Type string

// The option types that the package supports. They have the same meaning as
// in an AnsibleModule argument spec.
const (
	TypeStr   Type = "str"
	TypeInt   Type = "int"
	TypeFloat Type = "float"
	TypeBool  Type = "bool"
	TypeList  Type = "list"
	TypeDict  Type = "dict"
	TypePath  Type = "path"
	TypeRaw   Type = "raw"
)

// Option describes one module option (or sub-option).
type Option struct {
	// Type is the option's type. The empty Type means TypeStr.
	Type Type
	// Required makes the option mandatory (after aliases, env fallbacks and
	// defaults are applied).
	Required bool
	// Default is used when the option is absent or null. It is coerced like
	// a value given by the user.
	Default any
	// Choices are the allowed values, compared after coercion. For a list,
	// every element must be one of the choices.
	Choices []any
	// Aliases are other names for the option. They resolve to the canonical
	// name in Module.Params.
	Aliases []string
	// NoLog marks the option's value as secret: every string in it is masked
	// in the module's output.
	NoLog bool
	// Elements is the type of the elements of a list option ("" means the
	// elements are not converted).
	Elements Type
	// Options are the sub-options of a dict option, or of every element of a
	// list option whose Elements is TypeDict. They are validated recursively.
	Options map[string]*Option
	// EnvFallback lists environment variables that are consulted in order
	// when the option is absent (like Ansible's env_fallback). An empty
	// variable counts as unset.
	EnvFallback []string

	// The following rules apply to the sub-options in Options.

	MutuallyExclusive [][]string
	RequiredTogether  [][]string
	RequiredOneOf     [][]string
	RequiredIf        []RequiredIf

	// Check, when set, is run on the option's value after its type and
	// choices are checked (not on an unset option). Its error is reported
	// under the option's full name ("timeout: must be …"), with the other
	// argument errors, before the module runs.
	Check func(value any) error
}

// RequiredIf makes options conditionally required: when the option Key has
// the value Value (after coercion), Requirements must be present.
type RequiredIf struct {
	Key          string
	Value        any
	Requirements []string
	// AnyOf true means at least one of Requirements must be present; false
	// means all of them must be.
	AnyOf bool
}

// Spec is a module's interface: its argument spec and the keys of its
// result. Its documentation (plugins/modules/<name>.py: DOCUMENTATION, its
// doc fragments and RETURN) says what each option and key means; a test
// (module-src/internal/modules) fails when the two differ.
type Spec struct {
	Options           map[string]*Option
	MutuallyExclusive [][]string
	RequiredTogether  [][]string
	RequiredOneOf     [][]string
	RequiredIf        []RequiredIf
	// Returns declares the keys the module may put in Result.Data. The
	// runtime checks a result against it when StrictReturnsEnv is set.
	Returns map[string]*Return
}

// CollectionName is the collection reported in deprecation warnings.
const CollectionName = "jenkins_ha.buildkit"
