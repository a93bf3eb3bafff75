package module

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A module called in-process answers as it would as a task of its own, and
// what it must hide stays hidden in its caller's output too.
func TestCallRunsAModuleAsATaskOfItsOwn(t *testing.T) {
	inner := Spec{Options: map[string]*Option{
		"name":  {Type: TypeStr, Required: true},
		"count": {Type: TypeInt, Default: 2},
		"token": {Type: TypeStr, NoLog: true},
		"args":  {Type: TypeDict},
	}}
	innerRun := func(_ context.Context, m *Module) (Result, error) {
		if m.Params["name"] == "bad" {
			return Result{Data: map[string]any{"seen": m.Params["token"]}}, errors.New("bad name, token " + m.Params["token"].(string))
		}
		var o struct {
			Args StringMap `json:"args"`
		}
		if err := m.Decode(&o); err != nil {
			return Result{}, err
		}
		m.AddNoLogValue("found-at-run-time")
		m.Warn("inner warning")
		return Result{Changed: m.CheckMode, Data: map[string]any{"count": m.Params["count"], "echo": "found-at-run-time", "args": o.Args}}, nil
	}
	outer := Spec{Options: map[string]*Option{"name": {Type: TypeStr}}}
	var calls []map[string]any
	var failed []bool
	outerRun := func(ctx context.Context, m *Module) (Result, error) {
		for _, args := range []map[string]any{
			{"name": "ok", "count": "3", "token": "s3cret", "args": map[string]any{"f": 1.0, "b": true, "n": nil}},
			{"name": "bad", "token": "s3cret"},
			{"count": "x"},
		} {
			r, f := m.Call(ctx, "inner", inner, innerRun, args)
			calls, failed = append(calls, r), append(failed, f)
		}
		return Result{Data: map[string]any{"all": calls}}, nil
	}
	res := runJSON(t, map[string]any{"name": "n", "_ansible_check_mode": true}, outer, outerRun)
	require.Len(t, calls, 3)

	assert.Equal(t, []bool{false, true, true}, failed)
	assert.Equal(t, 3, calls[0]["count"], "coerced by the inner spec")
	assert.Equal(t, map[string]any{"f": "1.0", "b": "True", "n": "None"}, calls[0]["args"], "values reach it as from an args file (Python's str())")
	assert.Equal(t, true, calls[0]["changed"], "check mode is inherited")
	assert.Equal(t, []any{"inner warning"}, calls[0]["warnings"])
	assert.Equal(t, "********", calls[0]["echo"], "a no_log value found at run time is masked")
	assert.Equal(t, "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER", calls[0]["invocation"].(map[string]any)["module_args"].(map[string]any)["token"])
	assert.Equal(t, "bad name, token ********", calls[1]["msg"])
	assert.Contains(t, calls[2]["msg"], "count")
	assert.Contains(t, calls[2]["msg"], "name")
	assert.NotContains(t, res.stdout, "s3cret")
	assert.NotContains(t, res.stdout, "found-at-run-time", "the caller's output masks what the called module learnt")
	assert.Nil(t, res.out["warnings"], "the inner module's warnings stay in its result")
}
