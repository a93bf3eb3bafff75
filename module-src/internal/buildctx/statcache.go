package buildctx

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/moby/sys/atomicwriter"
)

// The stat cache (like git's index) holds, per regular file of a context, the
// stat it had when its content was last hashed, and that hash. It is read and
// written on every run, so its format is a compact binary one: a 50,000-file
// context's cache is ~4 MB and decodes in a few milliseconds.
//
//	"bkstat2\n" written(varint)
//	per file: path(uvarint length + bytes) size mtime ctime (varint) inode mode (uvarint) digest(32 bytes)

type cacheEntry struct {
	Size   int64
	MTime  int64
	CTime  int64
	Inode  uint64
	Mode   uint32
	Digest [32]byte
}

type statCache struct {
	Written int64 // unix ns when the walk that made it started
	Entries map[string]cacheEntry
}

const statCacheMagic = "bkstat2\n"

func readStatCache(path string) statCache {
	c := statCache{Entries: map[string]cacheEntry{}}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte(statCacheMagic)) {
		return c
	}
	r := bytes.NewReader(b[len(statCacheMagic):])
	written, err := binary.ReadVarint(r)
	if err != nil {
		return c
	}
	entries := map[string]cacheEntry{}
	for r.Len() > 0 {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(r.Len()) {
			return c // a damaged cache is no cache
		}
		p := make([]byte, n)
		_, _ = io.ReadFull(r, p)
		var e cacheEntry
		var mode uint64
		if e.Size, err = binary.ReadVarint(r); err != nil {
			return c
		}
		if e.MTime, err = binary.ReadVarint(r); err != nil {
			return c
		}
		if e.CTime, err = binary.ReadVarint(r); err != nil {
			return c
		}
		if e.Inode, err = binary.ReadUvarint(r); err != nil {
			return c
		}
		if mode, err = binary.ReadUvarint(r); err != nil {
			return c
		}
		e.Mode = uint32(mode)
		if _, err := io.ReadFull(r, e.Digest[:]); err != nil {
			return c
		}
		entries[string(p)] = e
	}
	return statCache{Written: written, Entries: entries}
}

func writeStatCache(path string, c *statCache) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	_, _ = w.WriteString(statCacheMagic)
	var tmp [binary.MaxVarintLen64]byte
	varint := func(v int64) { _, _ = w.Write(tmp[:binary.PutVarint(tmp[:], v)]) }
	uvarint := func(v uint64) { _, _ = w.Write(tmp[:binary.PutUvarint(tmp[:], v)]) }
	varint(c.Written)
	for p, e := range c.Entries {
		uvarint(uint64(len(p)))
		_, _ = w.WriteString(p)
		varint(e.Size)
		varint(e.MTime)
		varint(e.CTime)
		uvarint(e.Inode)
		uvarint(uint64(e.Mode))
		_, _ = w.Write(e.Digest[:])
	}
	if err := w.Flush(); err != nil {
		return errors.New("encode the stat cache")
	}
	return atomicwriter.WriteFile(path, buf.Bytes(), 0o600)
}
