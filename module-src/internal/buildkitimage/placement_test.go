package buildkitimage

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
)

func TestRankNodesAffinityThenLeastBusyThenRendezvous(t *testing.T) {
	nodes := []string{"n1", "n2", "n3"}
	empty := placementRecord{Images: map[string]string{}}
	first, _ := rankNodes(empty, "img:1", "", nodes)
	again, _ := rankNodes(empty, "img:1", "", []string{"n3", "n1", "n2"})
	assert.Equal(t, first, again, "rendezvous hashing: the same order whatever the list order")

	// Five images placed one after another spread 2/2/1.
	rec := placementRecord{Images: map[string]string{}}
	count := map[string]int{}
	for i := 0; i < 5; i++ {
		o, _ := rankNodes(rec, fmt.Sprintf("img-%d:1", i), "", nodes)
		rec.Leases = append(rec.Leases, placementLease{PID: os.Getpid(), Node: o[0]})
		count[o[0]]++
	}
	assert.Len(t, count, 3)
	for _, n := range count {
		assert.LessOrEqual(t, n, 2)
	}

	// The node that built it last comes first, however busy.
	rec.Images[affinityKey("img-0:1", "linux/amd64")] = "n2"
	o, why := rankNodes(rec, "img-0:1", "linux/amd64", nodes)
	assert.Equal(t, "n2", o[0])
	assert.Contains(t, why["n2"], "cache affinity")
	assert.Contains(t, why[o[1]], "least busy")
	_, why = rankNodes(rec, "img-0:1", "linux/arm64", nodes)
	assert.NotContains(t, why["n2"], "cache affinity", "affinity is per platform")
}

func TestPlatformCachesGiveEachShareItsOwnExport(t *testing.T) {
	in := []builder.Cache{{Type: "registry", Attrs: map[string]string{"ref": "reg:5000/cache/app:buildcache", "mode": "max"}}, {Type: "inline"}}
	out := platformCaches(in, []string{"linux/arm64"}, false)
	assert.Equal(t, "reg:5000/cache/app:buildcache-linux-arm64", out[0].Attrs["ref"])
	assert.Equal(t, "max", out[0].Attrs["mode"])
	assert.Equal(t, "inline", out[1].Type)
	imp := platformCaches(in[:1], []string{"linux/arm64"}, true)
	assert.Len(t, imp, 2, "imports read the build's cache and the share's")
	assert.Equal(t, "reg:5000/cache/app:buildcache", imp[0].Attrs["ref"])
	assert.Equal(t, "reg:5000/cache/app:buildcache-linux-arm64", imp[1].Attrs["ref"])
}
