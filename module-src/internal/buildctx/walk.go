package buildctx

import (
	"context"
	"io"
	gofs "io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/tonistiigi/fsutil"
	"github.com/tonistiigi/fsutil/types"
)

// lstatFS is the context directory as fsutil's file sender sees it (the same
// paths, modes, symlink targets and hardlinks), for fsutil's own filter to
// walk: so the files digested are the files BuildKit is sent. It differs from
// fsutil.NewFS in what it reads: one lstat per entry the filter keeps, and no
// extended attributes (which are not part of the digest), so a no-op run over
// a large context makes a third of the system calls. It also keeps the
// inode and ctime of the entry stat'ed last, which the stat cache needs.
type lstatFS struct {
	root string
	last struct {
		path   string
		ino    uint64
		ctime  int64
		socket bool
	}
}

// Walk implements fsutil.FS the way fsutil's own does: a lexical walk from
// root, paths relative to it, entries stat'ed when asked.
func (f *lstatFS) Walk(ctx context.Context, target string, fn gofs.WalkDirFunc) error {
	seen := map[uint64]string{} // inode -> first path, for hardlinks
	return filepath.WalkDir(filepath.Join(f.root, target), func(full string, d gofs.DirEntry, walkErr error) (retErr error) {
		defer func() {
			if retErr != nil && os.IsNotExist(retErr) {
				retErr = filepath.SkipDir // gone while walking, as fsutil treats it
			}
		}()
		rel, err := filepath.Rel(f.root, full)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var entry gofs.DirEntry
		if d != nil {
			entry = &lstatEntry{DirEntry: d, fs: f, rel: rel, full: full, seen: seen}
		}
		return fn(rel, entry, walkErr)
	})
}

// Open implements fsutil.FS.
func (f *lstatFS) Open(p string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(f.root, p))
}

type lstatEntry struct {
	gofs.DirEntry
	fs        *lstatFS
	rel, full string
	seen      map[uint64]string
	stat      *types.Stat
}

// Info is the entry's stat as fsutil's sender builds it (mkstat): mode with
// the socket bit cleared, uid/gid, size and symlink target for non-dirs, a
// later hardlink to a file as a link to the first path of it (its size kept).
func (e *lstatEntry) Info() (gofs.FileInfo, error) {
	if e.stat == nil {
		fi, err := os.Lstat(e.full)
		if err != nil {
			return nil, err
		}
		st := &types.Stat{Path: e.rel, Mode: uint32(fi.Mode()), ModTime: fi.ModTime().UnixNano()}
		sys, _ := fi.Sys().(*syscall.Stat_t)
		if sys != nil {
			st.Uid, st.Gid = sys.Uid, sys.Gid
		}
		if !fi.IsDir() {
			st.Size = fi.Size()
			if sys != nil {
				if sys.Mode&syscall.S_IFBLK != 0 || sys.Mode&syscall.S_IFCHR != 0 {
					st.Devmajor, st.Devminor = int64((sys.Rdev>>8)&0xfff), int64((sys.Rdev&0xff)|((sys.Rdev>>12)&0xfff00))
				}
				if first, ok := e.seen[sys.Ino]; ok && sys.Nlink > 1 {
					st.Linkname = first
				} else {
					e.seen[sys.Ino] = filepath.ToSlash(e.rel)
				}
				e.fs.last.path, e.fs.last.ino, e.fs.last.ctime = e.rel, sys.Ino, sys.Ctim.Nano()
				e.fs.last.socket = fi.Mode()&os.ModeSocket != 0
			}
			if fi.Mode()&os.ModeSymlink != 0 {
				link, err := os.Readlink(e.full)
				if err != nil {
					return nil, err
				}
				st.Linkname = link
			}
		}
		st.Mode &^= uint32(os.ModeSocket)
		e.stat = st
	}
	return &fsutil.StatInfo{Stat: e.stat.Clone()}, nil
}

// fileStat is what the stat cache needs of a regular file beyond fsutil's
// stat: its inode and ctime (which catch a rewrite that restores size and
// mtime), and whether it is a unix socket (which fsutil sends as an empty
// file).
type fileStat struct {
	ino    uint64
	ctime  int64
	socket bool
}

// fileStat is rel's, from the walk's own lstat when rel was the entry
// stat'ed last (always, for a regular file the filter hands on), else from
// a new one.
func (f *lstatFS) fileStat(rel string) fileStat {
	if f.last.path == rel {
		return fileStat{ino: f.last.ino, ctime: f.last.ctime, socket: f.last.socket}
	}
	fi, err := os.Lstat(filepath.Join(f.root, rel))
	if err != nil {
		return fileStat{}
	}
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStat{}
	}
	return fileStat{ino: sys.Ino, ctime: sys.Ctim.Nano(), socket: fi.Mode()&os.ModeSocket != 0}
}
