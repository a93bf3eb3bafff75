// Command buildkit_image is the Ansible binary module jenkins_ha.buildkit.buildkit_image.
package main

import (
	"os"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitimage"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

func main() { os.Exit(module.Main(buildkitimage.Spec(), buildkitimage.Run)) }
