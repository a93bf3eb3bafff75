package buildctx

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sessionKey(t *testing.T, dir, records, builder string) *Sync {
	t.Helper()
	c, err := Open(dir, "")
	require.NoError(t, err)
	sum, err := c.Fingerprint(context.Background(), "")
	require.NoError(t, err)
	return c.SessionKey(records, builder, sum)
}

func rewriteKeepingStat(t *testing.T, path, content string) {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	require.NoError(t, os.Chtimes(path, st.ModTime(), st.ModTime()))
}

func TestSessionKeyIsPerBuilderAndContext(t *testing.T) {
	files := map[string]string{"Dockerfile": "FROM a\n", "data": "AAAA"}
	a, b := writeTree(t, files), writeTree(t, files)
	records := t.TempDir()
	first := sessionKey(t, a, records, "engine")
	assert.True(t, first.Fresh, "no record: a fresh copy")
	require.NoError(t, first.Done(true))
	again := sessionKey(t, a, records, "engine")
	assert.False(t, again.Fresh)
	assert.Equal(t, first.Key, again.Key, "the same context on the same builder keeps its copy")
	assert.NotEqual(t, first.Key, sessionKey(t, b, records, "engine").Key, "another context with the same files never shares it")
	assert.NotEqual(t, first.Key, sessionKey(t, a, records, "other builder").Key)
}

func TestSessionKeyChangesWhenAFileKeepsItsStatButNotItsContent(t *testing.T) {
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM a\n", "data": "AAAA"})
	records := t.TempDir()
	s := sessionKey(t, dir, records, "engine")
	require.NoError(t, s.Done(true))

	// An ordinary edit (new mtime) goes over the same copy.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data"), []byte("BBBB"), 0o644))
	later := time.Now().Add(-30 * time.Minute)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "data"), later, later))
	edited := sessionKey(t, dir, records, "engine")
	assert.False(t, edited.Fresh)
	assert.Equal(t, s.Key, edited.Key)
	require.NoError(t, edited.Done(true))

	// Other content under a stat the copy was sent with: the copy would keep
	// the old bytes, so the builder starts a fresh one.
	rewriteKeepingStat(t, filepath.Join(dir, "data"), "CCCC")
	stale := sessionKey(t, dir, records, "engine")
	assert.True(t, stale.Fresh, "same size and mtime, other content: a fresh copy")
	assert.NotEqual(t, edited.Key, stale.Key)

	rewriteKeepingStat(t, filepath.Join(dir, "Dockerfile"), "FROM b\n")
	require.NoError(t, stale.Done(true))
	assert.True(t, sessionKey(t, dir, records, "engine").Fresh, "the Dockerfile is watched the same way")
}

func TestSessionKeyAfterAFailedBuildOrWithoutARecord(t *testing.T) {
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM a\n", "data": "AAAA"})
	records := t.TempDir()
	s := sessionKey(t, dir, records, "engine")
	require.NoError(t, s.Done(true))
	failed := sessionKey(t, dir, records, "engine")
	require.NoError(t, failed.Done(false))
	after := sessionKey(t, dir, records, "engine")
	assert.True(t, after.Fresh, "after a failed build the host cannot know what the builder holds")
	assert.NotEqual(t, s.Key, after.Key)
	none1, none2 := sessionKey(t, dir, "", "engine"), sessionKey(t, dir, "", "engine")
	assert.True(t, none1.Fresh)
	assert.NotEqual(t, none1.Key, none2.Key, "no records kept: every build a fresh copy")
}

func TestSessionKeyBoundsTheVersionsItKeeps(t *testing.T) {
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM a\n", "data": "0"})
	records := t.TempDir()
	var fresh int
	for i := 0; i < 2*maxVersions; i++ {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "data"), []byte{byte('a' + i)}, 0o644))
		when := time.Now().Add(-time.Duration(100-i) * time.Minute)
		require.NoError(t, os.Chtimes(filepath.Join(dir, "data"), when, when))
		s := sessionKey(t, dir, records, "engine")
		if s.Fresh {
			fresh++
		}
		require.NoError(t, s.Done(true))
	}
	assert.Equal(t, 2, fresh, "the first build, and once when the record filled up")
}
