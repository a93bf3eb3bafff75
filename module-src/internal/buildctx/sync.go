package buildctx

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/moby/sys/atomicwriter"
)

// A BuildKit builder keeps a copy of each local source (the context, the
// Dockerfile's directory) per session shared key, and brings it up to date
// by stat metadata: a file whose size, mtime, mode and owner match its copy
// is not sent again. Two things follow, and SessionKey handles both:
//
//   - The key must be per builder, context and Dockerfile directory. Without
//     one, every build on a builder shares one copy, and a file of another
//     project with the same path, size and mtime is taken for this one's.
//   - A file edited keeping its size and mtime (touch -r, an archive
//     unpacked again, a build tool that pins mtimes) is not sent. So a record
//     on this host keeps, per path, every (stat, content) the copy under the
//     current key may hold: the builder syncs only the paths a Dockerfile
//     copies and keeps what it does not sync, so the copy of a file can be
//     from any earlier build. When a file has a recorded stat but other
//     content, the key takes a new nonce and the builder starts a fresh copy.
//     No record (a first build, a cleared cache, a failed build) means a
//     fresh nonce too: the host cannot know what the builder holds.

// syncEntry is what the builder's copy of a file was sent with.
type syncEntry struct {
	Size   int64  `json:"s"`
	MTime  int64  `json:"m"`
	Mode   uint32 `json:"o"`
	Digest string `json:"d"`
}

type syncRecord struct {
	Nonce string                 `json:"nonce"`
	Files map[string][]syncEntry `json:"files"`
}

// maxVersions bounds the versions a record keeps of one file; past it the
// builder starts a fresh copy (and the record starts again).
const maxVersions = 8

// dockerfileEntry names the Dockerfile in a sync record (it travels in its
// own local source, beside the context's files).
const dockerfileEntry = "\x00dockerfile"

// Sync is a build's session shared key and the record behind it.
type Sync struct {
	Key   string // BuildKit session shared key for this build
	Fresh bool   // the builder starts a fresh copy (new nonce)
	path  string
	rec   syncRecord // after a successful build
}

// SessionKey returns the shared key to build this context under on builder
// (anything that names the builder and where it runs), with the record kept
// in dir ("" keeps none: every build starts a fresh copy). sum is the
// context's Fingerprint from this run. Call Done with the build's outcome.
func (c *Context) SessionKey(dir, builder string, sum Sum) *Sync {
	files := make(map[string]syncEntry, len(sum.entries)+1)
	for p, e := range sum.entries {
		files[p] = syncEntry{Size: e.Size, MTime: e.MTime, Mode: e.Mode, Digest: hex.EncodeToString(e.Digest[:])}
	}
	if st, err := os.Stat(c.DockerfilePath); err == nil {
		dfSum := sha256.Sum256(c.Dockerfile)
		files[dockerfileEntry] = syncEntry{Size: st.Size(), MTime: st.ModTime().UnixNano(), Mode: uint32(st.Mode()), Digest: hex.EncodeToString(dfSum[:])}
	} else {
		dir = "" // the Dockerfile cannot be pinned: no record, a fresh copy
	}

	id := sha256.Sum256([]byte(builder + "\x00" + c.Dir + "\x00" + filepath.Dir(c.DockerfilePath)))
	s := &Sync{}
	var old syncRecord
	if dir != "" {
		s.path = filepath.Join(dir, hex.EncodeToString(id[:16])+".json")
		if b, err := os.ReadFile(s.path); err == nil {
			_ = json.Unmarshal(b, &old)
		}
	}
	s.rec = syncRecord{Nonce: old.Nonce, Files: old.Files}
	if old.Nonce == "" || old.Files == nil || staleCopy(old.Files, files) {
		s.rec = syncRecord{Nonce: nonce(), Files: map[string][]syncEntry{}}
		s.Fresh = true
	}
	for p, e := range files {
		if !slices.Contains(s.rec.Files[p], e) {
			s.rec.Files[p] = append(s.rec.Files[p], e)
		}
	}
	key := sha256.Sum256([]byte("jenkins_ha.buildkit\x00" + hex.EncodeToString(id[:]) + "\x00" + s.rec.Nonce))
	s.Key = hex.EncodeToString(key[:])
	return s
}

// staleCopy says whether a file now has a stat it was sent with before but
// other content (the builder would keep its old copy of it), or the record
// has grown past maxVersions of one file.
func staleCopy(sent map[string][]syncEntry, now map[string]syncEntry) bool {
	for p, e := range now {
		versions := sent[p]
		if len(versions) >= maxVersions {
			return true
		}
		for _, o := range versions {
			if o.Size == e.Size && o.MTime == e.MTime && o.Mode == e.Mode && o.Digest != e.Digest {
				return true
			}
		}
	}
	return false
}

// Done records what the builder's copy holds after a successful build. After
// a failed one the record is dropped: the build may have stopped before or
// while the context was sent, so the next build starts a fresh copy.
func (s *Sync) Done(ok bool) error {
	if s == nil || s.path == "" {
		return nil
	}
	if !ok {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(s.rec)
	if err != nil {
		return err
	}
	return atomicwriter.WriteFile(s.path, b, 0o600)
}

func nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (Go 1.24+)
	return hex.EncodeToString(b)
}
