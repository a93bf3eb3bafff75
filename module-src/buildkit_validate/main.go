// Command buildkit_validate is the Ansible binary module jenkins_ha.buildkit.buildkit_validate.
package main

import (
	"os"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitvalidate"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

func main() { os.Exit(module.Main(buildkitvalidate.Spec(), buildkitvalidate.Run)) }
