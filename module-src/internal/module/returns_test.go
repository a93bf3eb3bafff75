package module

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testReturns = map[string]*Return{
	"image": {Type: TypeDict, Open: true, Contains: map[string]*Return{"push_status": {Type: TypeStr}}},
	"context": {Type: TypeDict, Contains: map[string]*Return{
		"files": {Type: TypeInt},
		"fresh": {Type: TypeBool},
	}},
	"findings": {Type: TypeList, Elements: TypeDict, Contains: map[string]*Return{"id": {}}},
	"actions":  {Type: TypeList, Elements: TypeStr},
	"duration": {Type: TypeFloat},
	"passed":   {Type: TypeBool},
	"report":   {Type: TypeDict},
	"anything": {Type: TypeRaw},
}

func TestCheckReturnsAcceptsWhatIsDeclared(t *testing.T) {
	type finding struct {
		ID string `json:"id"`
	}
	data := map[string]any{
		"image":    map[string]any{"Id": "sha256:1", "RepoTags": []string{"a:b"}, "push_status": "pushed"},
		"context":  map[string]any{"files": 3, "fresh": true},
		"findings": []finding{{ID: "CVE-1"}},
		"actions":  []string{"Built image x"},
		"duration": 2.0, // encoded as 2: an int is a float too
		"passed":   nil, // null is any type
		"report":   map[string]any{"free": map[string]any{"form": 1}},
		"anything": []any{1, "x"},
	}
	assert.Empty(t, CheckReturns(testReturns, data))
	assert.Empty(t, CheckReturns(testReturns, map[string]any{"duration": 0.25, "context": map[string]any{}}))
}

func TestCheckReturnsNamesEveryKeyThatBreaksTheDeclaration(t *testing.T) {
	data := map[string]any{
		"new_key":  1,
		"context":  map[string]any{"files": 1.5, "fresh_copy": true},
		"findings": []map[string]any{{"id": "a"}, {"id": "b", "severity": "HIGH"}, {"severity": "LOW"}},
		"actions":  []any{"ok", 3},
		"passed":   "yes",
		"image":    "sha256:1",
	}
	assert.Equal(t, []string{
		"actions[]: declared elements str, got int",
		"context.files: declared int, got float",
		"context.fresh_copy: not declared",
		"findings[].severity: not declared",
		"image: declared dict, got str",
		"new_key: not declared",
		"passed: declared bool, got str",
	}, CheckReturns(testReturns, data))
	assert.Equal(t, []string{"x: not declared"}, CheckReturns(nil, map[string]any{"x": true}))
}

func TestAnUndeclaredResultKeyFailsOnlyInStrictMode(t *testing.T) {
	spec := Spec{Options: map[string]*Option{"name": {}}, Returns: map[string]*Return{"image": {Type: TypeDict}}}
	run := func(ctx context.Context, m *Module) (Result, error) {
		return Result{Changed: true, Msg: "done", Data: map[string]any{"image": map[string]any{}, "secret_key": "s3cret"}}, nil
	}
	args := []string{"/tmp/AnsiballZ_bk_test", writeArgs(t, `{"name": "s3cret", "_ansible_no_log": false}`)}

	lax := runArgs(t, args, nil, spec, run)
	assert.Equal(t, 0, lax.code, "a user's task never fails for it")
	assert.Nil(t, lax.out["failed"])
	assert.Equal(t, "done", lax.out["msg"])

	strict := runArgs(t, args, map[string]string{StrictReturnsEnv: "1"}, spec, run)
	assert.Equal(t, 1, strict.code)
	assert.Equal(t, true, strict.out["failed"])
	assert.Contains(t, strict.out["msg"], UndeclaredReturns)
	assert.Contains(t, strict.out["msg"], "secret_key: not declared")
	assert.Contains(t, strict.out["msg"], "The module's own message: done")
	assert.Equal(t, "s3cret", strict.out["secret_key"], "the data is still returned")

	// A failure's data is checked as well, and its message kept.
	failing := func(ctx context.Context, m *Module) (Result, error) {
		return Result{Data: map[string]any{"image": "not a dict"}}, errors.New("the build failed")
	}
	res := runArgs(t, args, map[string]string{StrictReturnsEnv: "1"}, spec, failing)
	assert.Contains(t, res.out["msg"], "image: declared dict, got str")
	assert.Contains(t, res.out["msg"], "the build failed")
}

func TestStrictModeMasksNoLogValuesInItsMessage(t *testing.T) {
	spec := Spec{Options: map[string]*Option{"token": {NoLog: true}}}
	run := func(ctx context.Context, m *Module) (Result, error) {
		return Result{Data: map[string]any{"leak-hunter-tok3n": 1}}, nil
	}
	args := []string{"/tmp/AnsiballZ_bk_test", writeArgs(t, `{"token": "hunter-tok3n"}`)}
	res := runArgs(t, args, map[string]string{StrictReturnsEnv: "1"}, spec, run)
	b, err := json.Marshal(res.out)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "hunter-tok3n")
	assert.Contains(t, res.out["msg"], "leak-********: not declared")
}

// The integration tests' harness turns the check on and looks for its
// message: it copies both (it cannot import this package).
func TestTheIntegrationHarnessUsesTheStrictReturnsCheck(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "tests", "integration", "harness_test.go"))
	require.NoError(t, err)
	assert.Contains(t, string(src), strconv.Quote(StrictReturnsEnv))
	assert.Contains(t, string(src), strconv.Quote(UndeclaredReturns))
}
