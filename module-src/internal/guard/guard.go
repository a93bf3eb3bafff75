// Package guard keeps a panic in a goroutine from crashing a module: the
// module runtime turns a panic on the main goroutine into a JSON failure, but
// a panic on any other goroutine would end the process with no reply.
package guard

import (
	"fmt"
	"runtime/debug"
)

// Func wraps f so that a panic in it is returned as an error (with the stack,
// which the module runtime shows at higher verbosity only).
func Func(f func() error) func() error {
	return func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = &PanicError{Value: r, Stack: debug.Stack()}
			}
		}()
		return f()
	}
}

// PanicError is a recovered panic.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("internal error (panic): %v", e.Value) }
