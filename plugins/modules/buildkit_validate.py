#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Jenkins HA platform team
# Apache License 2.0 (see LICENSE)
#
# Documentation only. The module is the collection's multi-call Go binary
# (module-src/buildkit, the buildkit_validate entry of module-src/internal/modules), built by
# `make` into plugins/bin and run by the jenkins_ha.buildkit.go_module action
# plugin for the target's architecture.

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: buildkit_validate
short_description: Functional check of a candidate image in a throwaway container
version_added: 0.1.0
author:
  - Jenkins HA platform team (@jenkins-ha)
description:
  - Starts a container from C(image) and probes it within C(budget) seconds, polling with backoff (no fixed
    sleeps). With C(http), it publishes the port on 127.0.0.1 and waits for C(GET path) to answer
    C(expect_status), with the C(expect_header) header when given (a Jenkins controller answers C(/login)
    with C(X-Jenkins)). With C(command), it runs the command and checks its exit code, and its output
    against C(expect_output).
  - The container is always removed afterwards, pass or fail; the task fails when the image does not pass,
    with the container's last log lines in C(logs).
  - A run that is killed (SIGKILL, an aborted CI job) cannot remove its container. Each container is labelled with the
    process that started it (this host's boot ID, the PID and its start time), and every run first removes the validation
    containers whose process on this host is gone (C(removed_orphans)). Containers of a live run, or started from another
    host that shares the engine, are left alone.
  - Leaves nothing behind, so C(changed) is always false. In check mode no container is started.
requirements:
  - A Linux amd64 or arm64 build host; the module is a static binary, no Python needed there.
  - A Docker Engine on the build host to run the candidate in.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Nothing is started in check mode; C(passed) is null.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  image:
    description: The image to check.
    type: str
    required: true
  http:
    description: Probe an HTTP endpoint of the running container.
    type: dict
    suboptions:
      port:
        description: Container port to probe.
        type: int
        default: 8080
      path:
        description: Path to GET.
        type: str
        default: /login
      expect_status:
        description: Status that means ready.
        type: int
        default: 200
      expect_header:
        description: A header the answer must carry.
        type: str
  command:
    description: Run this command in the container instead, and expect exit code 0.
    type: list
    elements: str
  expect_output:
    description: A regular expression the command's output (stdout and stderr) must match.
    type: str
  entrypoint:
    description: Override the image's entrypoint; an empty list clears it (to run C(command) directly).
    type: list
    elements: str
  env:
    description: Environment variables for the container.
    type: dict
  user:
    description: User to run as.
    type: str
  budget:
    description: Seconds the image has to pass.
    type: int
    default: 300
  memory:
    description: Memory limit of the container (C(4g)).
    type: str
  cpus:
    description: CPU limit of the container.
    type: float
  network:
    description:
      - The container's network (its C(--network)) - C(none) starts faster, for a command that needs no network; by default
        the engine's default network. An C(http) probe needs a network its port can be published from.
    type: str
extends_documentation_fragment:
  - jenkins_ha.buildkit.engine
seealso:
  - module: jenkins_ha.buildkit.buildkit_image
"""

EXAMPLES = r"""
- name: The controller answers /login with an X-Jenkins header within 5 minutes
  jenkins_ha.buildkit.buildkit_validate:
    image: jenkins/jenkins-master:candidate
    http:
      port: 8080
      path: /login
      expect_header: X-Jenkins
    budget: 300
    memory: 2g

- name: The maven agent runs Maven
  jenkins_ha.buildkit.buildkit_validate:
    image: jenkins/jenkins-agent-maven:candidate
    network: none
    entrypoint: []
    command: [mvn, -v]
    expect_output: Apache Maven
"""

RETURN = r"""
image:
  description: The image checked.
  returned: when a container ran
  type: str
passed:
  description: Whether the image passed (null in check mode).
  returned: always
  type: bool
skipped_reason:
  description: Why no container was started (C(check mode)).
  returned: in check mode
  type: str
  sample: check mode
duration:
  description: Seconds from container start to the verdict.
  returned: when a container ran
  type: float
attempts:
  description: HTTP probes made.
  returned: with http
  type: int
status:
  description: The last HTTP status seen.
  returned: with http, when the endpoint answered
  type: int
header:
  description: The value of C(expect_header) in the last answer.
  returned: with http and expect_header
  type: str
rc:
  description: The command's exit code.
  returned: with command
  type: int
output:
  description: The command's output (last 50 lines).
  returned: with command
  type: str
logs:
  description: The container's last 50 log lines.
  returned: on failure
  type: str
removed_orphans:
  description: Validation containers a killed run left behind (its process on this host is gone), removed before this run's.
  returned: when there were any
  type: list
  elements: str
  sample: ["bk-validate-3f2a1b9c0d (registry.example.com/jenkins/jenkins-master:candidate)"]
"""
