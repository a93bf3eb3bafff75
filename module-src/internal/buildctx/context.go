// Package buildctx reads a build context the way the builders will see it:
// the Dockerfile, the .dockerignore rules, and a content digest of every file
// that would be sent, so that the module can tell whether a build is needed
// without sending anything to the engine.
package buildctx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/patternmatcher/ignorefile"
	"github.com/moby/sys/atomicwriter"
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
	// .dockerignore, as in BuildKit's Dockerfile frontend.
	for _, candidate := range []string{dfPath + ".dockerignore", filepath.Join(abs, ".dockerignore")} {
		f, err := os.Open(candidate)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read ignore file: %w", err)
		}
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", candidate, err)
		}
		c.Excludes, c.IgnoreFile = patterns, candidate
		break
	}
	return c, nil
}

// Sum is the content digest of a context as the builder would receive it.
type Sum struct {
	Digest string // sha256 over paths, modes, link targets and file contents
	Files  int    // entries sent (files, dirs, links)
	Bytes  int64  // bytes of regular files
	Hashed int    // files whose content had to be read (not found in the stat cache)
}

type cacheEntry struct {
	Size   int64  `json:"s"`
	MTime  int64  `json:"m"`
	CTime  int64  `json:"c"`
	Inode  uint64 `json:"i"`
	Mode   uint32 `json:"o"`
	Digest string `json:"d"`
}

type statCache struct {
	Written int64                 `json:"written"`
	Entries map[string]cacheEntry `json:"entries"`
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
		cachePath = filepath.Join(cacheDir, hex.EncodeToString(key[:16])+".json")
		if b, err := os.ReadFile(cachePath); err == nil {
			_ = json.Unmarshal(b, &old)
			if old.Entries == nil {
				old.Entries = map[string]cacheEntry{}
			}
		}
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

	h := sha256.New()
	err := fsutil.Walk(ctx, c.Dir, &fsutil.FilterOpt{ExcludePatterns: c.Excludes}, func(p string, info fs.FileInfo, err error) error {
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
		var ino uint64
		var ctime int64
		full := filepath.Join(c.Dir, p)
		if lst, err := os.Lstat(full); err == nil {
			if sys, ok := lst.Sys().(*syscall.Stat_t); ok {
				ino, ctime = sys.Ino, sys.Ctim.Nano()
			}
		}
		e, hit := old.Entries[p]
		if !hit || e.Size != st.Size || e.MTime != st.ModTime || e.CTime != ctime || e.Inode != ino || e.Mode != st.Mode ||
			racy(st.ModTime) || racy(ctime) {
			d, err := hashFile(full)
			if err != nil {
				return err
			}
			e = cacheEntry{Size: st.Size, MTime: st.ModTime, CTime: ctime, Inode: ino, Mode: st.Mode, Digest: d}
			sum.Hashed++
		}
		fresh.Entries[p] = e
		io.WriteString(h, e.Digest)
		return nil
	})
	if err != nil {
		return Sum{}, fmt.Errorf("walk context %s: %w", c.Dir, err)
	}
	sum.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if cachePath != "" && (sum.Hashed > 0 || len(fresh.Entries) != len(old.Entries)) {
		_ = writeCache(cachePath, &fresh) // the cache only saves time; a failure to write it is harmless
	}
	return sum, nil
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeCache(path string, c *statCache) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return atomicwriter.WriteFile(path, b, 0o600)
}
