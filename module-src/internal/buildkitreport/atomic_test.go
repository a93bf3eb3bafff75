package buildkitreport

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteAtomicLeavesTheOldFileOrTheNewOneAndNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "build-report-latest.html")
	require.NoError(t, writeAtomic(path, []byte("one")))
	require.NoError(t, writeAtomic(path, []byte("two")))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two", string(b))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	// A run killed between writing and renaming left its temp file; the next
	// write removes it once its process is gone, and only then.
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	orphan := filepath.Join(dir, fmt.Sprintf(".build-report-latest.html.%d.tmp", dead.Process.Pid))
	live := filepath.Join(dir, fmt.Sprintf(".build-report-latest.html.%d.tmp", os.Getppid()))
	other := filepath.Join(dir, fmt.Sprintf(".other.html.%d.tmp", dead.Process.Pid))
	for _, p := range []string{orphan, live, other} {
		require.NoError(t, os.WriteFile(p, []byte("half"), 0o644))
	}
	require.NoError(t, writeAtomic(path, []byte("three")))
	assert.NoFileExists(t, orphan, "a dead writer's temp file is removed")
	assert.FileExists(t, live, "a live writer's is not")
	assert.FileExists(t, other, "nor another file's")

	// A write that fails leaves the old file whole and no temp file.
	blocked := filepath.Join(dir, "blocked")
	require.NoError(t, os.MkdirAll(filepath.Join(blocked, "x"), 0o755))
	assert.Error(t, writeAtomic(blocked, []byte("new")))
	entries, err := filepath.Glob(filepath.Join(dir, ".blocked.*"))
	require.NoError(t, err)
	assert.Empty(t, entries)
}
