package modules

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/speccheck"
)

// collectionRoot is the checkout, from this package's directory.
var collectionRoot = filepath.Join("..", "..", "..")

// Each module's interface is defined once, by its Go Spec (options and
// result keys); the docs ansible-doc shows (plugins/modules/<name>.py with
// its doc fragments) must say the same. A new option or result key cannot
// ship undocumented, nor a documented one be missing from the code.
func TestTheDocsDescribeEachModulesSpec(t *testing.T) {
	for _, e := range All() {
		t.Run(e.Name, func(t *testing.T) {
			docs, err := speccheck.ReadDocs(collectionRoot, e.Name)
			require.NoError(t, err)
			spec := e.Spec()
			where := "plugins/modules/" + e.Name + ".py (and its doc fragments) against " + e.Name + "'s Go Spec"
			if diff := speccheck.CompareOptions(spec.Options, docs.Options); len(diff) > 0 {
				t.Errorf("%s: the options differ:\n  %s", where, strings.Join(diff, "\n  "))
			}
			if diff := speccheck.CompareReturns(spec.Returns, docs.Returns); len(diff) > 0 {
				t.Errorf("%s: the return keys differ (RETURN against Spec.Returns):\n  %s", where, strings.Join(diff, "\n  "))
			}
		})
	}
}

// Each module decodes its options into a struct (module.Module.Decode): its
// json tags must be the spec's options, so that no option is dropped on the way.
func TestEachModulesOptionsStructMatchesItsSpec(t *testing.T) {
	for _, e := range All() {
		t.Run(e.Name, func(t *testing.T) {
			require.NotNil(t, e.Options, "modules.All(): %s has no Options (the struct its Run decodes the arguments into)", e.Name)
			if diff := speccheck.CompareStruct(e.Spec().Options, e.Options); len(diff) > 0 {
				t.Errorf("%s: %T against its Go Spec:\n  %s", e.Name, e.Options, strings.Join(diff, "\n  "))
			}
		})
	}
}
