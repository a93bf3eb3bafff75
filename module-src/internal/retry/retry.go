// Package retry runs an operation again, with exponential backoff and jitter,
// when it fails with an error the caller classifies as transient.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy says how often and how patiently to retry.
type Policy struct {
	Attempts int           // total tries, at least 1
	Base     time.Duration // wait before the second try
	Max      time.Duration // cap on a single wait
}

// Default is the policy for engine calls: 4 tries over about 7 seconds.
var Default = Policy{Attempts: 4, Base: 500 * time.Millisecond, Max: 4 * time.Second}

// Do calls fn until it succeeds, fails with an error transient rejects, runs
// out of attempts, or ctx ends. It returns how many retries were made (0 when
// the first try settled it) and the last error.
func Do(ctx context.Context, p Policy, transient func(error) bool, fn func(context.Context) error) (int, error) {
	if p.Attempts < 1 {
		p.Attempts = 1
	}
	wait := p.Base
	var err error
	for try := 0; try < p.Attempts; try++ {
		if err = fn(ctx); err == nil || !transient(err) || try == p.Attempts-1 {
			return try, err
		}
		// Full jitter in [wait/2, wait] keeps parallel runs from retrying in step.
		d := wait/2 + time.Duration(rand.Int64N(int64(wait/2)+1))
		select {
		case <-ctx.Done():
			return try, err
		case <-time.After(d):
		}
		wait *= 2
		if p.Max > 0 && wait > p.Max {
			wait = p.Max
		}
	}
	return p.Attempts - 1, err
}
