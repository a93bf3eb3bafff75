// Command buildkit_sign is the Ansible binary module jenkins_ha.buildkit.buildkit_sign.
package main

import (
	"os"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitsign"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

func main() { os.Exit(module.Main(buildkitsign.Spec(), buildkitsign.Run)) }
