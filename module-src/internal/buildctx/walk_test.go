package buildctx

import (
	"context"
	"fmt"
	gofs "io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// walkWith lists what a filtered walk of dir hands on: path, mode, size,
// link target, owner: everything fsutil's sender puts in a stat packet
// that the context digest reads.
func walkWith(t *testing.T, fs fsutil.FS, excludes []string) []string {
	t.Helper()
	filtered, err := fsutil.NewFilterFS(fs, &fsutil.FilterOpt{ExcludePatterns: excludes})
	require.NoError(t, err)
	var out []string
	require.NoError(t, filtered.Walk(context.Background(), "/", func(p string, e gofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*fstypes.Stat)
		out = append(out, fmt.Sprintf("%s %o %d %d:%d %q %d", p, st.Mode, st.Size, st.Uid, st.Gid, st.Linkname, st.ModTime))
		return nil
	}))
	return out
}

// TestLstatFSWalksWhatFsutilSends compares the context walk with fsutil's
// own file system (the one BuildKit's client sends from) over random trees:
// nested directories, symlinks in and out, hardlinks, a socket, and
// .dockerignore patterns with exceptions that reach into excluded directories.
func TestLstatFSWalksWhatFsutilSends(t *testing.T) {
	patterns := [][]string{
		nil,
		{"*.log"},
		{"d1"},
		{"d1", "!d1/keep*"},
		{"**/*.tmp", "!**/important.tmp"},
		{"d?/f2*", "d2/**"},
		{"*", "!d1/d2/*"},
		{"d1/", "!d1/f1"},
	}
	for seed := uint64(1); seed <= 12; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		dir := t.TempDir()
		var files []string
		for i := 0; i < 60; i++ {
			depth := rng.IntN(3)
			p := ""
			for j := 0; j < depth; j++ {
				p = filepath.Join(p, fmt.Sprintf("d%d", rng.IntN(3)))
			}
			names := []string{"f1", "f2.log", "keep.txt", "x.tmp", "important.tmp", "f3"}
			p = filepath.Join(p, names[rng.IntN(len(names))]+fmt.Sprint(rng.IntN(2)))
			full := filepath.Join(dir, p)
			require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
			if _, err := os.Lstat(full); err == nil {
				continue
			}
			switch rng.IntN(8) {
			case 0:
				require.NoError(t, os.Symlink("../"+filepath.Base(p), full))
			case 1:
				require.NoError(t, os.Symlink("/etc/passwd", full))
			case 2:
				if len(files) > 0 {
					require.NoError(t, os.Link(filepath.Join(dir, files[rng.IntN(len(files))]), full))
					continue
				}
				fallthrough
			default:
				require.NoError(t, os.WriteFile(full, []byte(p), os.FileMode(0o600|rng.IntN(0o177))))
				files = append(files, p)
			}
		}
		ln, err := net.Listen("unix", filepath.Join(dir, "s.sock"))
		require.NoError(t, err)
		for _, ex := range patterns {
			theirs, err := fsutil.NewFS(dir)
			require.NoError(t, err)
			assert.Equal(t, walkWith(t, theirs, ex), walkWith(t, &lstatFS{root: dir}, ex), "seed %d, excludes %q", seed, ex)
		}
		ln.Close()
	}
}
