package builder

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	amd64Node = NodeStatus{Node: "a", Platforms: []string{"linux/amd64", "linux/amd64/v2", "linux/386", "linux/arm64"},
		Native: nativeOf(nil, []string{"linux/amd64", "linux/amd64/v2", "linux/386", "linux/arm64"})}
	arm64Node = NodeStatus{Node: "b", Platforms: []string{"linux/arm64"}, Native: nativeOf(nil, []string{"linux/arm64"})}
)

func fixed(order ...string) func(string) []string { return func(string) []string { return order } }

func TestNativeIsTheFirstWorkerPlatformsArchitectureUnlessDeclared(t *testing.T) {
	assert.Equal(t, []string{"linux/amd64", "linux/amd64/v2"}, amd64Node.Native)
	assert.Equal(t, []string{"linux/arm64"}, arm64Node.Native)
	assert.Equal(t, []string{"linux/arm64"}, nativeOf([]string{"linux/arm64"}, []string{"linux/amd64", "linux/arm64"}), "declared wins")
}

func TestEachPlatformGoesToANodeThatRunsItNatively(t *testing.T) {
	plan, err := Place([]NodeStatus{amd64Node, arm64Node}, fixed("a", "b"), []string{"linux/amd64", "linux/arm64"}, true)
	require.NoError(t, err)
	assert.Equal(t, []Assignment{{Node: "a", Platforms: []string{"linux/amd64"}}, {Node: "b", Platforms: []string{"linux/arm64"}}}, plan)

	// Even when the emulating node ranks first.
	plan, err = Place([]NodeStatus{amd64Node, arm64Node}, fixed("a", "b"), []string{"linux/arm64"}, true)
	require.NoError(t, err)
	assert.Equal(t, []Assignment{{Node: "b", Platforms: []string{"linux/arm64"}}}, plan)
}

func TestEmulationOnlyWhenNoNodeThatAnswersRunsItNatively(t *testing.T) {
	down := arm64Node
	down.Err = errors.New("connection refused")
	plan, err := Place([]NodeStatus{amd64Node, down}, fixed("b", "a"), []string{"linux/amd64", "linux/arm64"}, true)
	require.NoError(t, err)
	assert.Equal(t, []Assignment{{Node: "a", Platforms: []string{"linux/amd64", "linux/arm64"}, Emulated: []string{"linux/arm64"}}}, plan)
	assert.Equal(t, "a (linux/amd64, linux/arm64 emulated)", plan[0].String())

	_, err = Place([]NodeStatus{amd64Node, arm64Node}, fixed("a", "b"), []string{"linux/amd64", "linux/mips64le"}, true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "build.platform[1]: no node that answers runs RUN steps for linux/mips64le")
	assert.Contains(t, err.Error(), "qemu-user-static")
}

func TestOrderRanksTheNodesAndDownNodesAreSkipped(t *testing.T) {
	a2 := amd64Node
	a2.Node = "c"
	plan, err := Place([]NodeStatus{amd64Node, a2}, fixed("c", "a"), []string{"linux/amd64"}, true)
	require.NoError(t, err)
	assert.Equal(t, "c", plan[0].Node)
	a2.Err = errors.New("gone")
	plan, err = Place([]NodeStatus{amd64Node, a2}, fixed("c", "a"), []string{"linux/amd64"}, true)
	require.NoError(t, err)
	assert.Equal(t, "a", plan[0].Node)
	amd := amd64Node
	amd.Err = errors.New("gone too")
	_, err = Place([]NodeStatus{amd, a2}, fixed("c", "a"), []string{"linux/amd64"}, true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no node answers")
	assert.Contains(t, err.Error(), "gone too")
}

func TestWithoutRunStepsOneNodeBuildsEveryPlatform(t *testing.T) {
	plan, err := Place([]NodeStatus{amd64Node, arm64Node}, fixed("b", "a"), []string{"linux/amd64", "linux/arm64", "linux/s390x"}, false)
	require.NoError(t, err)
	assert.Equal(t, []Assignment{{Node: "b", Platforms: []string{"linux/amd64", "linux/arm64", "linux/s390x"}}}, plan)
}
