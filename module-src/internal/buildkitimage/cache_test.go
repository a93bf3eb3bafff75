package buildkitimage

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCacheExportAttributes(t *testing.T) {
	c, err := cacheExport(0, CacheEntry{Type: "registry", Ref: "r.example/app:buildcache", Mode: "max",
		Attrs: map[string]any{"compression": "zstd", "compression-level": 3, "oci-mediatypes": true}})
	require.NoError(t, err)
	assert.Equal(t, "registry", c.Type)
	assert.Equal(t, map[string]string{"ref": "r.example/app:buildcache", "mode": "max", "compression": "zstd",
		"compression-level": "3", "oci-mediatypes": "true"}, c.Attrs)

	c, err = cacheExport(1, CacheEntry{Type: "local", Dest: "/var/cache/bk", Attrs: map[string]any{"compression": "gzip"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"dest": "/var/cache/bk", "compression": "gzip"}, c.Attrs)

	for _, tc := range []struct {
		entry CacheEntry
		msg   string
	}{
		{CacheEntry{Type: "registry"}, "build.cache_to[2]: type=registry needs ref"},
		{CacheEntry{Type: "local"}, "build.cache_to[2]: type=local needs dest"},
		{CacheEntry{Type: "registry", Ref: "r/a:c", Attrs: map[string]any{"ref": "other"}}, "build.cache_to[2].attrs.ref: give ref as the entry's own option"},
		{CacheEntry{Type: "registry", Ref: "r/a:c", Attrs: map[string]any{"compression": []any{"zstd"}}}, "build.cache_to[2].attrs.compression: expected a string"},
		{CacheEntry{Type: "s3", Ref: "r/a:c"}, "build.cache_to[2]: type=s3 takes its settings in attrs"},
	} {
		_, err := cacheExport(2, tc.entry)
		require.Error(t, err, "%+v", tc.entry)
		assert.Contains(t, err.Error(), tc.msg)
	}
}
