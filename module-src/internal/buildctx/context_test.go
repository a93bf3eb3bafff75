package buildctx

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	for p, content := range files {
		full := filepath.Join(dir, p)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(content), 0o644))
		require.NoError(t, os.Chtimes(full, old, old))
	}
	time.Sleep(50 * time.Millisecond) // out of the stat cache's racy window (ctime is now)
	return dir
}

func fingerprint(t *testing.T, dir, cache string) Sum {
	t.Helper()
	c, err := Open(dir, "")
	require.NoError(t, err)
	s, err := c.Fingerprint(context.Background(), cache)
	require.NoError(t, err)
	return s
}

func TestOpenChecksPathAndDockerfile(t *testing.T) {
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM a\n", "sub/Other.df": "FROM b\n", "file": "x"})
	_, err := Open(filepath.Join(dir, "missing"), "")
	assert.ErrorContains(t, err, "context directory")
	_, err = Open(filepath.Join(dir, "file"), "")
	assert.ErrorContains(t, err, "not a directory")
	_, err = Open(dir, "Nope")
	assert.ErrorContains(t, err, "Dockerfile")
	_, err = Open(dir, "sub")
	assert.ErrorContains(t, err, "not a regular file")
	c, err := Open(dir, "sub/Other.df")
	require.NoError(t, err)
	assert.Equal(t, "FROM b\n", string(c.Dockerfile))
}

func TestDockerfileSpecificIgnoreFileWins(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"Dockerfile": "FROM a\n", "app.Dockerfile": "FROM a\n",
		".dockerignore": "*.log\n", "app.Dockerfile.dockerignore": "*.tmp\n",
	})
	c, err := Open(dir, "app.Dockerfile")
	require.NoError(t, err)
	assert.Equal(t, []string{"*.tmp"}, c.Excludes)
	assert.Equal(t, filepath.Join(dir, "app.Dockerfile.dockerignore"), c.IgnoreFile)
	c, err = Open(dir, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"*.log"}, c.Excludes)
}

func TestFingerprintFollowsContentNotTimes(t *testing.T) {
	files := map[string]string{"Dockerfile": "FROM a\n", "src/a.go": "package a\n", ".dockerignore": "*.log\nbuild/\n", "x.log": "1", "build/out": "1"}
	a := writeTree(t, files)
	b := writeTree(t, files)
	sa, sb := fingerprint(t, a, ""), fingerprint(t, b, "")
	assert.Equal(t, sa.Digest, sb.Digest, "same content in another directory, at other times: same digest")

	// Ignored files do not count.
	require.NoError(t, os.WriteFile(filepath.Join(a, "x.log"), []byte("2"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(a, "build/out"), []byte("2"), 0o644))
	assert.Equal(t, sa.Digest, fingerprint(t, a, "").Digest)

	// Content, names and modes do.
	require.NoError(t, os.WriteFile(filepath.Join(a, "src/a.go"), []byte("package b\n"), 0o644))
	changed := fingerprint(t, a, "")
	assert.NotEqual(t, sa.Digest, changed.Digest)
	require.NoError(t, os.Chmod(filepath.Join(a, "src/a.go"), 0o755))
	assert.NotEqual(t, changed.Digest, fingerprint(t, a, "").Digest)
	require.NoError(t, os.Rename(filepath.Join(b, "src/a.go"), filepath.Join(b, "src/b.go")))
	assert.NotEqual(t, sa.Digest, fingerprint(t, b, "").Digest)
}

func TestStatCacheSkipsUnchangedFilesAndSeesChanges(t *testing.T) {
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM a\n", "a": "1", "b": "2", "c": "3"})
	cache := t.TempDir()
	first := fingerprint(t, dir, cache)
	assert.Equal(t, 4, first.Hashed)
	second := fingerprint(t, dir, cache)
	assert.Equal(t, 0, second.Hashed)
	assert.Equal(t, first.Digest, second.Digest)

	// Same size, content changed, mtime moved: found.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b"), []byte("9"), 0o644))
	third := fingerprint(t, dir, cache)
	assert.NotEqual(t, first.Digest, third.Digest)
	assert.GreaterOrEqual(t, third.Hashed, 1)

	// Same size and the very same mtime restored after the write: ctime tells.
	st, err := os.Stat(filepath.Join(dir, "c"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c"), []byte("7"), 0o644))
	require.NoError(t, os.Chtimes(filepath.Join(dir, "c"), st.ModTime(), st.ModTime()))
	time.Sleep(50 * time.Millisecond)
	assert.NotEqual(t, third.Digest, fingerprint(t, dir, cache).Digest)

	// A corrupt cache is ignored, not trusted.
	entries, _ := os.ReadDir(cache)
	require.NotEmpty(t, entries)
	require.NoError(t, os.WriteFile(filepath.Join(cache, entries[0].Name()), []byte("{garbage"), 0o600))
	assert.Equal(t, fingerprint(t, dir, "").Digest, fingerprint(t, dir, cache).Digest)
}

func TestIgnoreFilesAreReadInsideTheirRoot(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "rules")
	require.NoError(t, os.WriteFile(outside, []byte("*.log\n"), 0o644))
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM a\n", "sub/rules": "*.tmp\n"})
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, ".dockerignore")))
	c, err := Open(dir, "")
	require.NoError(t, err)
	assert.Empty(t, c.Excludes, "a link out of the context finds nothing in BuildKit's copy of it")

	require.NoError(t, os.Remove(filepath.Join(dir, ".dockerignore")))
	require.NoError(t, os.Symlink("/sub/rules", filepath.Join(dir, ".dockerignore")))
	c, err = Open(dir, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"*.tmp"}, c.Excludes, "an absolute link is read from the context as root")

	require.NoError(t, os.Remove(filepath.Join(dir, ".dockerignore")))
	require.NoError(t, os.Symlink("../../../../../sub/rules", filepath.Join(dir, ".dockerignore")))
	c, err = Open(dir, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"*.tmp"}, c.Excludes, "and .. cannot climb out of it")
}

func TestAUnixSocketIsAnEmptyFileAsBuildKitSendsIt(t *testing.T) {
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM a\n"})
	ln, err := net.Listen("unix", filepath.Join(dir, "s.sock"))
	require.NoError(t, err)
	defer ln.Close()
	withSocket := fingerprint(t, dir, "")
	assert.Equal(t, 2, withSocket.Files)
	ln.Close()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "s.sock"), nil, 0o755))
	asFile := fingerprint(t, dir, "")
	assert.Equal(t, 2, asFile.Files)
}
