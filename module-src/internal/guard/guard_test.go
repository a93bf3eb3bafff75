package guard

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFuncTurnsAPanicInAGoroutineIntoAnError(t *testing.T) {
	var wg sync.WaitGroup
	var err error
	wg.Add(1)
	go func() {
		defer wg.Done()
		err = Func(func() error {
			var m map[string]int
			m["x"] = 1 // assignment to a nil map
			return nil
		})()
	}()
	wg.Wait()
	var pe *PanicError
	require.True(t, errors.As(err, &pe))
	assert.Contains(t, err.Error(), "internal error (panic): assignment to entry in nil map")
	assert.Contains(t, string(pe.Stack), "guard_test.go")
}

func TestFuncPassesResultsThrough(t *testing.T) {
	want := errors.New("boom")
	assert.Equal(t, want, Func(func() error { return want })())
	assert.NoError(t, Func(func() error { return nil })())
}
