// Command buildkit_scan is the Ansible binary module jenkins_ha.buildkit.buildkit_scan.
package main

import (
	"os"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitscan"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

func main() { os.Exit(module.Main(buildkitscan.Spec(), buildkitscan.Run)) }
