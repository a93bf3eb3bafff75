package buildkitimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockImage takes a host-level lock on the image name (an flock on a file in
// the user's cache directory), so that two runs building the same name at once
// do not race: the second waits, then finds the first's result and builds
// nothing. The lock goes with the process, however it ends.
func (r *runner) lockImage(ctx context.Context) (release func(), err error) {
	return r.lock(ctx, r.ref, r.ref)
}

// lock takes the host-level lock named by key; what says what it guards in
// errors.
func (r *runner) lock(ctx context.Context, key, what string) (release func(), err error) {
	dir := r.stateDir("locks")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("jenkins_ha.buildkit-locks-%d", os.Getuid()))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock directory: %w", err)
	}
	sum := sha256.Sum256([]byte(key))
	path := filepath.Join(dir, hex.EncodeToString(sum[:12])+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", what, err)
	}
	deadline := time.Now().Add(time.Duration(r.o.LockTimeout) * time.Second)
	wait := 50 * time.Millisecond
	waited := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", what, err)
		}
		waited = true
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock_timeout: another run has held the lock on %s for more than %ds", what, r.o.LockTimeout)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		if wait < time.Second {
			wait *= 2
		}
	}
	if waited {
		r.res.Data["waited_for_lock"] = true
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
