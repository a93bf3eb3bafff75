// Command buildkit_cache is the Ansible binary module
// jenkins_ha.buildkit.buildkit_cache, and the same code as a command for
// scheduled cleanups: buildkit_cache prune --keep-storage 10GB --older-than 72h.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitcache"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

func main() {
	if len(os.Args) > 1 {
		if _, ok := buildkitcache.Commands[os.Args[1]]; ok {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			code := buildkitcache.Command(ctx, os.Args[1:], os.Stdout, os.Stderr)
			stop()
			os.Exit(code)
		}
	}
	os.Exit(module.Main(buildkitcache.Spec(), buildkitcache.Run))
}
