// Package buildctx reads a build context the way the builders will see it:
// the Dockerfile, the .dockerignore rules, and a content digest of every file
// that would be sent, so that the module can tell whether a build is needed
// without sending anything to the engine.
package buildctx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	continuityfs "github.com/containerd/continuity/fs"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// Context is a build context directory and the Dockerfile that goes with it.
type Context struct {
	Dir            string   // absolute context directory
	DockerfilePath string   // absolute path of the Dockerfile
	Dockerfile     []byte   // its content
	Excludes       []string // .dockerignore patterns in force
	IgnoreFile     string   // the ignore file they came from, "" if none
}

// Open checks the context directory and the Dockerfile and reads the ignore
// rules. dockerfile may be empty (Dockerfile in dir), relative to dir, or absolute.
func Open(dir, dockerfile string) (*Context, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("context directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("context %s is not a directory", abs)
	}
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	dfPath := dockerfile
	if !filepath.IsAbs(dfPath) {
		dfPath = filepath.Join(abs, dockerfile)
	}
	dfSt, err := os.Stat(dfPath)
	if err != nil {
		return nil, fmt.Errorf("Dockerfile: %w", err)
	}
	if !dfSt.Mode().IsRegular() {
		return nil, fmt.Errorf("Dockerfile %s is not a regular file", dfPath)
	}
	content, err := os.ReadFile(dfPath)
	if err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	c := &Context{Dir: abs, DockerfilePath: dfPath, Dockerfile: content}
	// A <Dockerfile>.dockerignore beside the Dockerfile wins over the context's
	// .dockerignore, as in BuildKit's Dockerfile frontend. Each is read the way
	// the frontend reads it: a symlink is resolved inside its own root (the
	// Dockerfile's directory, the context), never out of it.
	for _, candidate := range [][2]string{
		{filepath.Dir(dfPath), filepath.Base(dfPath) + ".dockerignore"},
		{abs, ".dockerignore"},
	} {
		patterns, found, err := readIgnoreFile(candidate[0], candidate[1])
		if err != nil {
			return nil, err
		}
		if found {
			c.Excludes, c.IgnoreFile = patterns, filepath.Join(candidate[0], candidate[1])
			break
		}
	}
	return c, nil
}

// readIgnoreFile reads the ignore rules in root/name, resolving symlinks as
// if root were "/" (BuildKit's frontend reads it from its own copy of root:
// a link out of it finds nothing there).
func readIgnoreFile(root, name string) ([]string, bool, error) {
	p, err := continuityfs.RootPath(root, name)
	if err != nil {
		return nil, false, fmt.Errorf("read ignore file %s: %w", filepath.Join(root, name), err)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read ignore file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, false, nil
	}
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, false, fmt.Errorf("parse %s: %w", filepath.Join(root, name), err)
	}
	return patterns, true, nil
}

// Sum is the content digest of a context as the builder would receive it.
type Sum struct {
	Digest string // sha256 over paths, modes, link targets and file contents
	Files  int    // entries sent (files, dirs, links)
	Bytes  int64  // bytes of regular files
	Hashed int    // files whose content had to be read (not found in the stat cache)

	// entries are the regular files as walked: stat and content digest by
	// path (what a builder's synced copy of the context is compared with).
	entries map[string]cacheEntry
}

// Fingerprint walks the context with the same filter BuildKit uses to send it
// and digests what would be sent. File contents are hashed only when the file's
// size, mtime, ctime or inode differ from the stat cache kept in cacheDir (like git's
// index); cacheDir "" disables the cache. mtime is never part of the digest, so
// the same content gives the same digest on any host.
func (c *Context) Fingerprint(ctx context.Context, cacheDir string) (Sum, error) {
	var sum Sum
	cachePath := ""
	old := statCache{Entries: map[string]cacheEntry{}}
	if cacheDir != "" {
		key := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%q", c.Dir, c.Excludes)))
		cachePath = filepath.Join(cacheDir, hex.EncodeToString(key[:16])+".stat")
		old = readStatCache(cachePath)
	}
	// A file changed in the same timestamp tick as the previous walk looked at
	// it could still show the stat recorded then: such entries are re-read.
	// Written is when that walk started, so every stat it made came later.
	racy := func(ts int64) bool {
		window := int64(20 * time.Millisecond) // coarse kernel clocks tick every 4-10 ms
		if ts%int64(time.Second) == 0 {
			window = int64(2 * time.Second) // a file system with whole-second times
		}
		return ts >= old.Written-window
	}
	fresh := statCache{Written: time.Now().UnixNano(), Entries: make(map[string]cacheEntry, len(old.Entries))}

	// fsutil resolves a symlinked context directory before it walks it.
	root, err := filepath.EvalSymlinks(c.Dir)
	if err != nil {
		return Sum{}, fmt.Errorf("walk context %s: %w", c.Dir, err)
	}
	walker := &lstatFS{root: root}
	filtered, err := fsutil.NewFilterFS(walker, &fsutil.FilterOpt{ExcludePatterns: c.Excludes})
	if err != nil {
		return Sum{}, fmt.Errorf("walk context %s: %w", c.Dir, err)
	}
	h := sha256.New()
	err = filtered.Walk(ctx, "/", func(p string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := entry.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*fstypes.Stat)
		if !ok {
			return fmt.Errorf("%s: no stat", p)
		}
		sum.Files++
		fmt.Fprintf(h, "%s\x00%o\x00%s\x00", filepath.ToSlash(p), st.Mode, st.Linkname)
		if !info.Mode().IsRegular() {
			return nil
		}
		sum.Bytes += st.Size
		// ctime and inode catch rewrites that restore size and mtime.
		fst := walker.fileStat(p)
		e, hit := old.Entries[p]
		if !hit || e.Size != st.Size || e.MTime != st.ModTime || e.CTime != fst.ctime || e.Inode != fst.ino || e.Mode != st.Mode ||
			racy(st.ModTime) || racy(fst.ctime) {
			// fsutil clears the socket bit, so BuildKit sends a unix socket
			// as an empty regular file (the classic builder leaves it out).
			d := sha256.Sum256(nil)
			if !fst.socket {
				var err error
				if d, err = hashFile(filepath.Join(root, p)); err != nil {
					return err
				}
			}
			e = cacheEntry{Size: st.Size, MTime: st.ModTime, CTime: fst.ctime, Inode: fst.ino, Mode: st.Mode, Digest: d}
			sum.Hashed++
		}
		fresh.Entries[p] = e
		h.Write(e.Digest[:])
		return nil
	})
	if err != nil {
		return Sum{}, fmt.Errorf("walk context %s: %w", c.Dir, err)
	}
	sum.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	sum.entries = fresh.Entries
	if cachePath != "" && (sum.Hashed > 0 || len(fresh.Entries) != len(old.Entries)) {
		_ = writeStatCache(cachePath, &fresh) // the cache only saves time; a failure to write it is harmless
	}
	return sum, nil
}

func hashFile(p string) ([32]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, fmt.Errorf("read %s: %w", p, err)
	}
	return [32]byte(h.Sum(nil)), nil
}
