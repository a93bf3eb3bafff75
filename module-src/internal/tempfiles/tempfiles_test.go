package tempfiles

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

func TestOrphansOfGoneProcessesAreRemovedAndNoOthers(t *testing.T) {
	dir := t.TempDir()
	dead, live := deadPID(t), os.Getppid()
	file := func(name string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("half"), 0o644))
		return p
	}
	orphan := file(fmt.Sprintf(".report.json.%d.partial", dead))
	running := file(fmt.Sprintf(".report.json.%d.partial", live))
	mine := file(fmt.Sprintf(".report.json.%d.partial", os.Getpid()))
	otherSuffix := file(fmt.Sprintf(".report.json.%d.tmp", dead))
	otherFile := file(fmt.Sprintf(".report.json.old.%d.partial", dead))
	notAPID := file(".report.json.x.partial")

	got := File(filepath.Join(dir, "report.json"), "partial")
	assert.Equal(t, filepath.Join(dir, fmt.Sprintf(".report.json.%d.partial", os.Getpid())), got)
	assert.NoFileExists(t, orphan)
	for _, p := range []string{running, mine, otherSuffix, otherFile, notAPID} {
		assert.FileExists(t, p)
	}

	t.Setenv("TMPDIR", dir)
	orphanDir := filepath.Join(dir, fmt.Sprintf("bk-scan-%d-123", dead))
	liveDir := filepath.Join(dir, fmt.Sprintf("bk-scan-%d-456", live))
	for _, d := range []string{orphanDir, liveDir} {
		require.NoError(t, os.MkdirAll(filepath.Join(d, "layer"), 0o755))
	}
	made, err := Dir("bk-scan")
	require.NoError(t, err)
	assert.DirExists(t, made)
	assert.Contains(t, filepath.Base(made), fmt.Sprintf("bk-scan-%d-", os.Getpid()))
	assert.NoDirExists(t, orphanDir, "a gone process's directory goes, with what it holds")
	assert.DirExists(t, liveDir)
}
