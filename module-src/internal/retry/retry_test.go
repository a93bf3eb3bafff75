package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var errTransient = errors.New("transient")

func isTransient(err error) bool { return errors.Is(err, errTransient) }

func TestDoRetriesTransientThenSucceeds(t *testing.T) {
	calls := 0
	n, err := Do(context.Background(), Policy{Attempts: 5, Base: time.Millisecond}, isTransient, func(context.Context) error {
		calls++
		if calls < 3 {
			return errTransient
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 3, calls)
	require.Equal(t, 2, n)
}

func TestDoNeverRetriesPermanentErrors(t *testing.T) {
	calls := 0
	perm := errors.New("RUN failed")
	n, err := Do(context.Background(), Policy{Attempts: 5, Base: time.Millisecond}, isTransient, func(context.Context) error {
		calls++
		return perm
	})
	require.ErrorIs(t, err, perm)
	require.Equal(t, 1, calls)
	require.Zero(t, n)
}

func TestDoGivesUpAfterAttempts(t *testing.T) {
	calls := 0
	n, err := Do(context.Background(), Policy{Attempts: 3, Base: time.Millisecond}, isTransient, func(context.Context) error {
		calls++
		return errTransient
	})
	require.ErrorIs(t, err, errTransient)
	require.Equal(t, 3, calls)
	require.Equal(t, 2, n)
}

func TestDoStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := Do(ctx, Policy{Attempts: 10, Base: time.Hour}, isTransient, func(context.Context) error {
		calls++
		cancel()
		return errTransient
	})
	require.ErrorIs(t, err, errTransient)
	require.Equal(t, 1, calls)
}
