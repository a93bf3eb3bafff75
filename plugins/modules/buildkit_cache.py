#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Jenkins HA platform team
# Apache License 2.0 (see LICENSE)
#
# Documentation only. The module is the collection's multi-call Go binary
# (module-src/buildkit, the buildkit_cache entry of module-src/internal/modules), built by
# `make` into plugins/bin and run by the jenkins_ha.buildkit.go_module action
# plugin for the target's architecture.

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: buildkit_cache
short_description: See, prune and reset the BuildKit build cache, and diagnose a build host
version_added: 0.1.0
author:
  - Jenkins HA platform team (@jenkins-ha)
description:
  - C(state=info) reports the engine's build cache. Total and reclaimable size, records by type, the oldest
    and newest use.
  - C(state=pruned) applies a cache policy (C(keep_storage), C(older_than), C(filters), C(all)) through the
    engine's build cache prune. It reports C(changed) only when something was deleted, and the bytes reclaimed.
  - C(state=reset) clears the engine's build cache entirely (records a build still holds in use are kept and
    a warning counts them). For a C(builder.driver=docker-container) builder it removes the builder's container
    and state volume and creates them again from the same image, network and limits.
  - With C(builder), the same for a C(docker-container) builder or a C(remote) BuildKit daemon.
  - C(state=diagnose) runs read-only checks (engine, BuildKit, free disk at the engine's data root, cache size
    against C(cache_limit), binfmt emulators, registry reachability with retries, Trivy and its DB age), each
    with C(ok), C(warn) or C(fail) and a remediation. A failing check does not fail the task.
  - B(Only build state is ever deleted.) Images, containers and volumes that are not a builder's own are never touched, unlike
    C(docker system prune -a --volumes).
  - The same binary is a command for scheduled cleanups (cron or a systemd timer), with the same code
    path. For example C(buildkit_cache prune --keep-storage 10GB --older-than 72h), or
    C(buildkit_cache diagnose) and C(buildkit_cache info) with C(--json).
notes:
  - With a remote builder, C(state=reset) clears that daemon's cache; the daemon itself is not restarted.
requirements:
  - A Linux amd64 or arm64 build host; the module is a static binary, no Python needed there.
  - A Docker Engine 19.03 or later on the build host (its build cache), or a BuildKit daemon (C(builder)).
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: C(state=pruned) and C(state=reset) estimate from the cache records what would be reclaimed, and delete nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  state:
    description: What to do.
    type: str
    choices: [info, pruned, reset, diagnose]
    default: info
  keep_storage:
    description: With C(state=pruned), prune until the cache is at most this size (C(10GB); units as C(docker builder prune)).
    type: str
  older_than:
    description: With C(state=pruned), prune records not used for longer than this Go duration (C(72h)).
    type: str
  filters:
    description:
      - Engine build cache filters (C(type), C(description), C(id), C(parent), C(inuse), C(shared), C(private)).
      - Use C(older_than) for age.
    type: dict
  all:
    description: Also prune records shared with images (C(docker builder prune --all)).
    type: bool
    default: false
  cache_limit:
    description: With C(state=diagnose), warn when the build cache is bigger than this.
    type: str
    default: 10GB
  min_free_disk:
    description: With C(state=diagnose), fail when the engine's data root has less free space than this (warn under twice).
    type: str
    default: 5GB
  registries:
    description: With C(state=diagnose), registries to check (C(host[:port]) or a URL), each with retries.
    type: list
    elements: str
  scanner_path:
    description: With C(state=diagnose), the Trivy executable to look for.
    type: str
    default: trivy
  trivy_cache_dir:
    description: With C(state=diagnose), Trivy's cache directory holding the DB (default C(~/.cache/trivy)).
    type: path
extends_documentation_fragment:
  - jenkins_ha.buildkit.builder
  - jenkins_ha.buildkit.engine
seealso:
  - module: jenkins_ha.buildkit.buildkit_image
"""

EXAMPLES = r"""
- name: Apply the cache policy (10 GB, 72 h)
  jenkins_ha.buildkit.buildkit_cache:
    state: pruned
    keep_storage: 10GB
    older_than: 72h
  register: prune

- name: How big is the build cache?
  jenkins_ha.buildkit.buildkit_cache:
    state: info
  register: cache

- name: Diagnose the build host
  jenkins_ha.buildkit.buildkit_cache:
    state: diagnose
    registries: [registry.example.com]
  register: diag

- name: Prune a standalone BuildKit daemon's cache over mutual TLS
  jenkins_ha.buildkit.buildkit_cache:
    state: pruned
    keep_storage: 20GB
    builder:
      driver: remote
      endpoint: tcp://buildkit.internal:1234
      ca: /etc/buildkit/certs/ca.pem
      cert: /etc/buildkit/certs/client.pem
      key: /etc/buildkit/certs/client-key.pem

- name: Clear the build cache (images, containers and volumes are kept)
  jenkins_ha.buildkit.buildkit_cache:
    state: reset
"""

RETURN = r"""
cache:
  description: With C(state=info), the build cache.
  returned: state=info
  type: dict
  sample: {"total_bytes": 307200890, "total": "293MiB", "reclaimable_bytes": 307200890, "records": 51, "in_use_records": 0,
           "by_type": {"regular": 40, "source.local": 8, "exec.cachemount": 3}, "oldest_used": "2026-11-20T10:00:00Z",
           "newest_used": "2026-11-27T21:00:00Z", "oldest_age_hours": 179, "builder": "engine"}
builders:
  description:
    - With C(state=info) and no C(builder) (the engine's cache), every docker-container builder on the engine
      (containers named C(buildx_buildkit_<name>0), as buildx names them) with its C(state) and, when it runs,
      its C(cache) (as C(cache)); C(error) when it could not be asked.
  returned: state=info without builder
  type: list
  elements: dict
  contains:
    builder:
      description: The builder's name.
      type: str
    container:
      description: Its container.
      type: str
    state:
      description: The container's state (C(running), C(exited), ...).
      type: str
    cache:
      description: Its build cache (as C(cache)), when it runs.
      type: dict
    error:
      description: Why the builder (or, in an entry of its own, the list of builders) could not be asked.
      type: str
  sample: [{"builder": "jenkins-builder", "container": "buildx_buildkit_jenkins-builder0", "state": "running",
            "cache": {"total": "1.2GiB", "records": 80, "builder": "jenkins-builder"}}]
before:
  description: The cache before pruning (as C(cache)).
  returned: state=pruned or state=reset
  type: dict
after:
  description: The cache after pruning (as C(cache)).
  returned: state=pruned or state=reset, not in check mode
  type: dict
reclaimed_bytes:
  description: Bytes freed (in check mode, the estimate).
  returned: state=pruned or state=reset
  type: int
reclaimed:
  description: C(reclaimed_bytes) for people.
  returned: state=pruned or state=reset
  type: str
deleted_records:
  description: Records deleted.
  returned: state=pruned or state=reset, not in check mode
  type: int
would_delete_records:
  description: Records a real run would delete (estimate).
  returned: state=pruned or state=reset, in check mode
  type: int
status:
  description: The worst check result, C(ok), C(warn) or C(fail).
  returned: state=diagnose
  type: str
checks:
  description: The checks.
  returned: state=diagnose
  type: list
  elements: dict
  contains:
    name:
      description: What was checked (C(engine), C(buildkit), C(disk), C(build_cache), C(builders), C(binfmt), C(trivy),
        C(builder <name>), C(registry <host>)).
      type: str
    status:
      description: C(ok), C(warn) or C(fail).
      type: str
    detail:
      description: What was found.
      type: str
    remediation:
      description: What to do about it, when there is something to do.
      type: str
summary:
  description: One line per check, for people.
  returned: state=diagnose
  type: list
  elements: str
counts:
  description: Checks by status.
  returned: state=diagnose
  type: dict
  contains:
    ok:
      description: Checks that passed.
      type: int
    warn:
      description: Checks that warned.
      type: int
    fail:
      description: Checks that failed.
      type: int
builder:
  description: With C(state=reset) and a C(docker-container) builder, the builder that was recreated.
  returned: state=reset with builder.driver=docker-container
  type: dict
  contains:
    name:
      description: The builder's name.
      type: str
    container:
      description: Its container.
      type: str
    volume:
      description: Its state volume (removed with the container).
      type: str
    status_before:
      description: The container's state before the reset, C(running), C(stopped) or C(missing).
      type: str
actions:
  description: What the reset of a C(docker-container) builder did, step by step.
  returned: state=reset with builder.driver=docker-container, not in check mode
  type: list
  elements: str
"""
