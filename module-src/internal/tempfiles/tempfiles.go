// Package tempfiles names the temporary files and directories the modules
// make after the process that makes them, so that what a killed run left
// (SIGKILL runs no deferred removal) is removed by the next run once that
// process is gone, and never while it runs.
//
// A temp file of path is <dir>/.<name>.<pid>.<suffix>; a temp directory is
// $TMPDIR/<prefix>-<pid>-<random>. A PID is "gone" when no process has it on
// this host: these names are for files only this host writes.
package tempfiles

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// File is the temp file to write path through, removing first the temp
// files of path (same suffix) whose process is gone.
func File(path, suffix string) string {
	dir, base := filepath.Dir(path), filepath.Base(path)
	RemoveOrphans(dir, "."+base+".", "."+suffix)
	return filepath.Join(dir, fmt.Sprintf(".%s.%d.%s", base, os.Getpid(), suffix))
}

// Dir makes a temp directory under os.TempDir() named after this process,
// removing first the directories of prefix whose process is gone.
func Dir(prefix string) (string, error) {
	RemoveOrphans(os.TempDir(), prefix+"-", "")
	return os.MkdirTemp("", fmt.Sprintf("%s-%d-", prefix, os.Getpid()))
}

// RemoveOrphans removes the entries of dir named <before><pid><after…> whose
// process is gone (after is the suffix of a file; "" for a directory, whose
// name goes on with -<random>).
func RemoveOrphans(dir, before, after string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), before)
		if !ok {
			continue
		}
		var pidText string
		if after != "" {
			if pidText, ok = strings.CutSuffix(rest, after); !ok {
				continue
			}
		} else {
			pidText, _, _ = strings.Cut(rest, "-")
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() || !Gone(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// Gone says whether no process on this host has the PID.
func Gone(pid int) bool {
	return syscall.Kill(pid, 0) == syscall.ESRCH
}
