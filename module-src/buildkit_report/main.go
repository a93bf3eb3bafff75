// Command buildkit_report is the Ansible binary module jenkins_ha.buildkit.buildkit_report.
package main

import (
	"os"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitreport"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

func main() { os.Exit(module.Main(buildkitreport.Spec(), buildkitreport.Run)) }
