// Command buildkit is every module of the jenkins_ha.buildkit collection in one
// static binary (jenkins_ha_buildkit_linux_<arch>), busybox-style: the module is
// chosen by the name it runs under or by its first argument, from the table in
// module-src/internal/modules.
//
//	jenkins_ha_buildkit_linux_amd64 buildkit_image -           # the action plugin's host-side cache (arguments on stdin)
//	AnsiballZ_jenkins_ha_buildkit_image_linux_amd64 ARGS_FILE   # Ansible's own (async) path
//	jenkins-buildkit-cache prune --keep-storage 10GB            # the scheduled cleanup command
//	jenkins_ha_buildkit_linux_amd64 --list                     # the modules
package main

import (
	"os"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/modules"
)

func main() { os.Exit(modules.Main()) }
