# -*- coding: utf-8 -*-
# Copyright: Jenkins HA platform team
# Apache License 2.0 (see galaxy.yml)
#
# Documentation only. The module is a Go binary (module-src/buildkit_image),
# built by `make` into plugins/bin and run by the jenkins_ha.buildkit.go_module
# action plugin for the target's architecture.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: buildkit_image
short_description: Build and manage Docker images with BuildKit (drop-in for community.docker.docker_image)
version_added: 0.1.0
author:
  - Jenkins HA platform team (@jenkins-ha)
description:
  - Builds an image from a Dockerfile with the BuildKit embedded in the Docker Engine, reached through
    the engine's C(/grpc) and C(/session) endpoints, so C(RUN --mount=type=cache), heredocs and the other
    BuildKit-only Dockerfile features work. community.docker.docker_image cannot build with BuildKit.
  - Takes community.docker.docker_image's option names and meanings, and returns its keys (C(image),
    C(actions), C(stdout)), so a playbook can switch by changing the module name.
  - B(Idempotent without building.) Before building, the module digests everything that feeds the build
    (the context as C(.dockerignore) filters it, the Dockerfile, build args, target, platform, labels,
    network settings and the IDs of the base images in the engine) and compares the digest with the
    C(io.jenkins-ha.buildkit.inputs) label of the existing image. When they match, nothing is sent to
    the engine and the task reports C(changed=false). Any change rebuilds. The label travels with the
    image, so the decision holds across runs and hosts.
  - Falls back to the engine's classic builder when the engine has no BuildKit, or when
    C(build_method=legacy) is asked. A Dockerfile that needs BuildKit then fails with a message naming
    the Dockerfile line.
  - Transient engine errors (a restarting daemon, a dropped connection) are retried with exponential
    backoff; a failing build step is never retried. C(build_timeout) cancels a build that runs too long
    and leaves the image under the name as it was.
  - Runs on Linux targets (amd64 and arm64); the binary for the target's architecture is picked
    automatically. Python is not needed on the target.
notes:
  - Unlike community.docker.docker_image, check mode is accurate. It reports C(changed) only when a real
    run would build (or remove) something, and builds nothing.
  - Diff mode shows the image ID before and after.
  - B(build.pull) is not part of the inputs digest. An image whose inputs are unchanged is not rebuilt to
    look for a newer base image in a registry; use C(force_source=true) for that.
  - The context stat cache (like git's index) lets a no-op run skip reading unchanged files; only file
    sizes, inode numbers and modification times are stored there, never contents.
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  name:
    description:
      - Image name, as C(repository) or C(repository:tag). A tag in C(name) wins over C(tag).
      - An image ID is accepted only with C(state=absent) or C(source=local).
    type: str
    required: true
  tag:
    description: Tag for the image when C(name) has none.
    type: str
    default: latest
  state:
    description:
      - C(present) builds the image (C(source=build)) or checks that it exists (C(source=local)).
      - C(absent) removes the image name; the image itself goes when no other name refers to it.
    type: str
    choices: [present, absent]
    default: present
  source:
    description:
      - Where the image comes from. Required with C(state=present).
      - C(build) builds it from C(build). C(local) only asserts that it exists in the engine.
    type: str
    choices: [build, local]
  force_source:
    description:
      - Build even if the image's inputs are unchanged. The task reports C(changed) only if the image ID
        differs afterwards (a build served from the cache gives the same ID).
    type: bool
    default: false
  force_absent:
    description: With C(state=absent), remove the image even if containers use it or it has other tags.
    type: bool
    default: false
  build_method:
    description:
      - C(auto) builds with the engine's BuildKit and falls back to the classic builder (with a warning)
        when the engine has none. C(buildkit) fails instead of falling back. C(legacy) uses the classic
        builder, as community.docker.docker_image does.
    type: str
    choices: [auto, buildkit, legacy]
    default: auto
  build_timeout:
    description: Seconds a build may take, retries included, before it is cancelled and the task fails.
    type: int
    default: 1800
  context_cache_dir:
    description:
      - Directory for the context stat cache that makes no-op runs fast.
      - Defaults to C(~/.cache/jenkins_ha.buildkit/context) of the user the module runs as.
    type: path
  build:
    description: What to build. Required with C(source=build).
    type: dict
    suboptions:
      path:
        description: The build context directory on the target.
        type: path
        required: true
      dockerfile:
        description: The Dockerfile, relative to C(build.path) (or absolute). Defaults to C(Dockerfile).
        type: str
      args:
        description: Build arguments (C(ARG)); values are converted to strings.
        type: dict
      target:
        description: The stage to build in a multi-stage Dockerfile.
        type: str
      labels:
        description: Labels added to the image.
        type: dict
      nocache:
        description: Do not use the build cache.
        type: bool
        default: false
      pull:
        description: Look for newer base images in the registry instead of using local ones.
        type: bool
        default: false
      network:
        description:
          - Network for C(RUN) steps. With BuildKit C(default), C(host) or C(none); the classic builder also
            takes a network name.
        type: str
      etc_hosts:
        description: Extra C(/etc/hosts) entries for C(RUN) steps, host name to IP address.
        type: dict
      platform:
        description: Platform to build for, such as C(linux/amd64).
        type: str
      cache_from:
        description:
          - Images to use as cache sources. With BuildKit they are registry cache imports (on Docker 20.10
            an image in the engine built with inline cache also works).
        type: list
        elements: str
      rm:
        description: Remove intermediate containers (classic builder; BuildKit never leaves any).
        type: bool
        default: true
      shm_size:
        description: Size of C(/dev/shm) for C(RUN) steps, such as C(64m).
        type: str
      http_timeout:
        description: Accepted for compatibility with community.docker.docker_image; use C(build_timeout).
        type: int
      use_config_proxy:
        description: Accepted for compatibility with community.docker.docker_image; proxies come from the engine.
        type: bool
      container_limits:
        description: Resource limits for C(RUN) steps (classic builder only).
        type: dict
        suboptions:
          memory:
            description: Memory limit, bytes or with units (C(512m)). An int is accepted as in community.docker 3.x.
            type: raw
          memswap:
            description: Memory plus swap, bytes or with units; C(-1) or C(unlimited) for no limit.
            type: raw
          cpushares:
            description: CPU shares (relative weight).
            type: int
          cpusetcpus:
            description: CPUs to run on, such as C(0-3) or C(0,1).
            type: str
  docker_host:
    description:
      - The engine's API address, C(unix://) or C(tcp://). Falls back to C(DOCKER_HOST).
    type: str
    default: unix:///var/run/docker.sock
    aliases: [docker_url]
  tls_hostname:
    description: Expected host name of the engine's TLS certificate. Falls back to C(DOCKER_TLS_HOSTNAME).
    type: str
  api_version:
    description: Engine API version to use, or C(auto) to negotiate. Falls back to C(DOCKER_API_VERSION).
    type: str
    default: auto
    aliases: [docker_api_version]
  timeout:
    description: Seconds an engine API call may take (builds have C(build_timeout)). Falls back to C(DOCKER_TIMEOUT).
    type: int
    default: 60
  ca_path:
    description: CA certificate to verify the engine with.
    type: path
    aliases: [ca_cert, tls_ca_cert, cacert_path]
  client_cert:
    description: Client certificate for the engine's TLS.
    type: path
    aliases: [tls_client_cert, cert_path]
  client_key:
    description: Client key for the engine's TLS.
    type: path
    aliases: [tls_client_key, key_path]
  tls:
    description: Use TLS without verifying the engine's certificate. Falls back to C(DOCKER_TLS).
    type: bool
    default: false
  use_ssh_client:
    description: Not supported; C(ssh://) hosts fail with a clear message.
    type: bool
    default: false
  validate_certs:
    description: Use TLS and verify the engine's certificate. Falls back to C(DOCKER_TLS_VERIFY).
    type: bool
    default: false
    aliases: [tls_verify]
  debug:
    description: Accepted for compatibility with community.docker.
    type: bool
    default: false
seealso:
  - module: community.docker.docker_image
"""

EXAMPLES = r"""
- name: Build the Jenkins controller image with BuildKit
  jenkins_ha.buildkit.buildkit_image:
    name: jenkins/controller
    tag: "2.479.1"
    source: build
    build:
      path: /srv/build/controller
      args:
        JENKINS_VERSION: "2.479.1"
      labels:
        org.opencontainers.image.source: https://git.example.com/jenkins-ha
  register: controller

- name: A Dockerfile with a cache mount (fails with community.docker.docker_image)
  jenkins_ha.buildkit.buildkit_image:
    name: jenkins/agent-maven:latest
    source: build
    build:
      path: /srv/build/agent-maven
      dockerfile: Dockerfile.agent
      target: runtime
      platform: linux/amd64

- name: Rebuild even though nothing changed (reports changed only if the image ID differs)
  jenkins_ha.buildkit.buildkit_image:
    name: jenkins/controller:2.479.1
    source: build
    force_source: true
    build:
      path: /srv/build/controller

- name: Build with the classic builder, as community.docker.docker_image does
  jenkins_ha.buildkit.buildkit_image:
    name: legacy/app
    source: build
    build_method: legacy
    build:
      path: /srv/build/app
      container_limits:
        memory: 1g

- name: Remove an image name
  jenkins_ha.buildkit.buildkit_image:
    name: jenkins/controller:old
    state: absent
"""

RETURN = r"""
image:
  description:
    - The image's inspect result from the engine (as C(docker image inspect) shows it), or C({}) when there is none.
    - With C(state=absent) it is the removed image with C(state=Deleted).
  returned: success
  type: dict
  sample: {"Id": "sha256:5f0c...", "RepoTags": ["jenkins/controller:2.479.1"], "Config": {"Labels": {"io.jenkins-ha.buildkit.inputs": "sha256:9d1e..."}}}
actions:
  description: What was done, in community.docker.docker_image's words.
  returned: always
  type: list
  elements: str
  sample: ["Built image jenkins/controller:2.479.1 from /srv/build/controller"]
stdout:
  description: The build log (plain progress), the last 256 KiB of it.
  returned: when a build ran
  type: str
builder:
  description: Which builder ran the build.
  returned: when a build ran
  type: str
  sample: buildkit (docker engine)
build_reason:
  description: Why the module built, or C(none) and why it did not.
  returned: with C(source=build)
  type: str
  sample: inputs changed
build_duration:
  description: Seconds the build took.
  returned: when a build ran
  type: float
build_retries:
  description: How many times the build was retried after a transient engine error.
  returned: when a build ran
  type: int
total_steps:
  description: Dockerfile steps in the build, run or from cache.
  returned: when a build ran
  type: int
cached_steps:
  description: Steps served from the build cache.
  returned: when a build ran
  type: int
inputs_digest:
  description: The digest of the build's inputs, stored on the image as label C(io.jenkins-ha.buildkit.inputs).
  returned: with C(source=build)
  type: str
context:
  description: What the build context holds after C(.dockerignore) filtering.
  returned: with C(source=build)
  type: dict
  contains:
    files:
      description: Entries in the context (files, directories, links).
      type: int
    bytes:
      description: Bytes of regular files in the context.
      type: int
    hashed:
      description: Files whose content was read this run (the rest came from the stat cache).
      type: int
    ignore_file:
      description: The ignore file in force, if any.
      type: str
"""
