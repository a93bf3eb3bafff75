package buildkitvalidate

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOwnerGoneOnlyForADeadProcessOfThisHost(t *testing.T) {
	me := ownerOfThisProcess()
	require.NotEmpty(t, me)
	assert.False(t, ownerGone(me), "this process is running")

	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	child := owner(cmd.Process.Pid)
	require.NotEmpty(t, child)
	assert.False(t, ownerGone(child))
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	assert.True(t, ownerGone(child), "killed: its containers may go")

	parts := strings.Split(me, "/")
	assert.True(t, ownerGone(parts[0]+"/"+parts[1]+"/1"), "the same PID started at another time is another process")
	assert.False(t, ownerGone("another-boot/"+parts[1]+"/"+parts[2]), "a process of another host (or boot) is never taken for gone")
	for _, bad := range []string{"", "x", "a/b", "a/b/c/d", parts[0] + "/not-a-pid/1"} {
		assert.False(t, ownerGone(bad), "%q", bad)
	}
	assert.Equal(t, processStart(os.Getpid()), parts[2])
}
