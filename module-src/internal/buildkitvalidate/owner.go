package buildkitvalidate

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
)

// The container is removed by the run that started it, whatever the probe
// says; but a run that is killed (SIGKILL, the host's OOM killer, a CI job
// aborted) cannot remove it. So each container carries its owner: this
// host's boot ID, the module's PID and that process's start time. A later
// run removes the validation containers whose owner on this host is gone;
// containers of a live run, or of another host sharing the engine, are left
// alone.

// ownerLabel names the process that started a validation container.
const ownerLabel = probeLabel + ".owner"

// owner identifies a process on this host across PID reuse and reboots.
func owner(pid int) string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	start := processStart(pid)
	if start == "" {
		return ""
	}
	return strings.TrimSpace(string(boot)) + "/" + strconv.Itoa(pid) + "/" + start
}

func ownerOfThisProcess() string { return owner(os.Getpid()) }

// processStart is field 22 of /proc/PID/stat, the process's start time in
// clock ticks since boot, "" when there is no such process.
func processStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command (field 2) is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}

// ownerGone says whether the process that owner names is no longer running
// on this host. An owner on another host (another boot ID) is never gone as
// far as this host can tell.
func ownerGone(o string) bool {
	parts := strings.Split(o, "/")
	if len(parts) != 3 {
		return false
	}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil || strings.TrimSpace(string(boot)) != parts[0] {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil {
		return false
	}
	return processStart(pid) != parts[2]
}

// reapOrphans removes the validation containers whose owner is gone and
// returns their names. It never fails the run: what it cannot remove now, a
// later run will.
func reapOrphans(ctx context.Context, e *engine.Engine) []string {
	cctx, cancel := e.Call(ctx)
	defer cancel()
	list, err := e.API.ContainerList(cctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", ownerLabel))})
	if err != nil {
		return nil
	}
	var removed []string
	for _, c := range list {
		if !ownerGone(c.Labels[ownerLabel]) {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := e.API.ContainerRemove(rctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		cancel()
		if err == nil {
			removed = append(removed, fmt.Sprintf("%s (%s)", strings.TrimPrefix(firstName(c.Names), "/"), c.Image))
		}
	}
	return removed
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}
