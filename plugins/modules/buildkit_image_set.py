#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Jenkins HA platform team
# Apache License 2.0 (see LICENSE)
#
# Documentation only. The module is the collection's multi-call Go binary
# (module-src/buildkit, the buildkit_image_set entry of module-src/internal/modules), built by
# `make` into plugins/bin and run by the jenkins_ha.buildkit.go_module action
# plugin for the target's architecture.

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: buildkit_image_set
short_description: Build a set of images together, gate each candidate, promote what passed, and report
version_added: 0.2.0
author:
  - Jenkins HA platform team (@jenkins-ha)
description:
  - Builds every image of C(images) at once under C(candidate_tag), as C(docker buildx bake) builds a set of targets.
    Each build is M(jenkins_ha.buildkit.buildkit_image)'s own, run in the same process with the image's C(build) options
    and the set's C(builder), C(build_method), C(build_timeout), C(retries), C(force_source) and engine options - the same
    decision from the inputs digest and this host's records (an unchanged image is not built), the same builder choice,
    the same results.
  - On the engine's own BuildKit (Docker 20.10 and later) the builds share one BuildKit session, as bake's targets do - one
    connection serves every context, and a stage that several images share is solved once. A build with build secrets,
    SSH agents or file outputs keeps a session of its own (a secret of one image is never readable by another's build).
  - Then each candidate that is not already the image under C(deploy_tag) (or every one, with C(force_source)) goes
    through the gates that are on, concurrently with the other images' steps - the vulnerability C(scan)
    (M(jenkins_ha.buildkit.buildkit_scan)), the C(validation) probes (M(jenkins_ha.buildkit.buildkit_validate)), the
    C(metadata) rules - and, with C(sign), is pushed, signed by digest with its SBOM and the gate verdict as attestations,
    and verified with C(sign.public_key) (M(jenkins_ha.buildkit.buildkit_sign)).
  - A candidate that passed every gate is promoted on its own, as soon as its gates are done - the image under
    C(deploy_tag) is tagged C(rollback_tag) first, then C(deploy_tag) moves to the candidate (and is pushed with C(push)).
    A candidate that failed a gate leaves both tags where they were. A failed gate does not fail the task; C(summary.failed)
    and C(report) say which image failed which gate and why.
  - C(report) is the run's report in the form M(jenkins_ha.buildkit.buildkit_report) reads (the jenkins_images role's
    C(jenkins_build_report)).
requirements:
  - A Linux amd64 or arm64 build host; the module is a static binary, no Python needed there.
  - A Docker Engine on the build host; the Trivy CLI there for C(scan).
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Builds are predicted (each from a scratch copy of its context with C(files) written over it), no gate runs, and
        promotion is predicted for candidates that exist; nothing is built, tagged, pushed, signed or written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  images:
    description: The images of the set.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The image's name in the report and in the files the module keeps for it (letters, digits, C(.), C(_), C(-)).
        type: str
        required: true
      repository:
        description: The image's repository, without a tag (C(registry.example.com/jenkins/jenkins-master)).
        type: str
        required: true
      kind:
        description: C(controller) puts the image under C(jenkins_master) in the report, C(agent) under C(jenkins_agents).
        type: str
        choices: [controller, agent]
        default: agent
      files:
        description:
          - Files to write into the build context (C(build.path)) before the build, as relative path to content (the
            jenkins_images role renders its templates into these). A missing directory is made (0755); a file is written
            (0644, through a temporary file and a rename) only when its content differs, so an unchanged file keeps its
            mtime. In check mode nothing is written; the build is predicted from a scratch copy.
        type: dict
      build:
        description:
          - M(jenkins_ha.buildkit.buildkit_image)'s C(build) option, with the same sub-options (C(path), C(dockerfile),
            C(args), C(labels), C(cache_from), C(cache_to), C(secrets), ...) and meaning.
        type: dict
        required: true
      probes:
        description:
          - The probes of the validation gate, each a M(jenkins_ha.buildkit.buildkit_validate) run on the candidate (its
            options but C(image), C(budget), C(memory), C(cpus), which come from C(validation)), plus a C(name). They run
            concurrently.
        type: list
        elements: dict
      metadata:
        description: The image's own metadata rules, beside the set's C(metadata).
        type: dict
        suboptions:
          expose:
            description: Ports the image must expose (C(8080/tcp)).
            type: list
            elements: str
            default: []
          healthcheck:
            description: The image must have a HEALTHCHECK.
            type: bool
            default: false
  candidate_tag:
    description: The tag the images are built under.
    type: str
    default: candidate
  deploy_tag:
    description: The tag that moves to a candidate that passed every gate. Without it nothing is promoted.
    type: str
  rollback_tag:
    description: The tag the image under C(deploy_tag) is kept under before C(deploy_tag) moves.
    type: str
  push:
    description: Push C(deploy_tag) when it moves (and, with C(sign), the candidate before it is signed).
    type: bool
    default: false
  force_source:
    description: Build every image even when its inputs are unchanged, and gate every candidate again.
    type: bool
    default: false
  build_method:
    description: As M(jenkins_ha.buildkit.buildkit_image)'s.
    type: str
    choices: [auto, buildkit, legacy]
    default: auto
  build_timeout:
    description: Seconds each build may take, as M(jenkins_ha.buildkit.buildkit_image)'s.
    type: int
    default: 1800
  retries:
    description: Retries of transient engine, builder and registry errors, as M(jenkins_ha.buildkit.buildkit_image)'s.
    type: int
    default: 3
  retry_delay:
    description: First delay between retries, in seconds.
    type: float
    default: 1.0
  lock_timeout:
    description: Seconds to wait for another run building the same image on this host.
    type: int
    default: 1800
  context_cache_dir:
    description: Where the build contexts' stat caches are kept, as M(jenkins_ha.buildkit.buildkit_image)'s.
    type: path
  scan:
    description: The vulnerability gate (M(jenkins_ha.buildkit.buildkit_scan) of each candidate).
    type: dict
    suboptions:
      enabled:
        description: Scan the candidates.
        type: bool
        default: true
      scanner_path:
        description: The Trivy CLI.
        type: str
        default: trivy
      fail_on:
        description: Severities that fail the gate. An empty list scans and reports, but never fails the gate.
        type: list
        elements: str
        choices: [CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN]
        default: [CRITICAL]
      timeout:
        description: Seconds each scan may take.
        type: int
        default: 300
      offline:
        description: Scan with the DB in C(cache_dir) only, no network.
        type: bool
        default: false
      cache_dir:
        description: Trivy's cache directory.
        type: path
      fail_on_scanner_error:
        description: A scan that comes to no verdict fails the gate.
        type: bool
        default: true
      report_dir:
        description: Where each scan's Trivy report (C(<name>-trivy.json)) and SBOM (C(<name>.cdx.json)) are written.
        type: path
      sbom:
        description: Write a CycloneDX SBOM of each candidate from its scan (needs C(report_dir)).
        type: bool
        default: false
  validation:
    description: The validation gate's settings for every probe of C(images[].probes).
    type: dict
    suboptions:
      enabled:
        description: Run the probes.
        type: bool
        default: true
      budget:
        description: Seconds each probe has to pass.
        type: int
        default: 300
      memory:
        description: Memory limit of the probe containers.
        type: str
      cpus:
        description: CPU limit of the probe containers.
        type: float
  metadata:
    description: The metadata gate, read from the candidate's image config.
    type: dict
    suboptions:
      enabled:
        description: Check the candidates' metadata.
        type: bool
        default: true
      labels:
        description: Labels every candidate must carry.
        type: list
        elements: str
        default: []
      non_root:
        description: A candidate must not run as root.
        type: bool
        default: true
  sign:
    description:
      - Sign each candidate that passed the gates in its registry, and verify it, before its deploy tag moves; a candidate
        not signed and verified is not promoted. Needs C(push) and C(deploy_tag).
    type: dict
    suboptions:
      enabled:
        description: Sign the candidates.
        type: bool
        default: true
      key:
        description: The cosign private key.
        type: path
      key_password:
        description: Its password (else C(key_password_file), else C(COSIGN_PASSWORD) on the build host).
        type: str
      key_password_file:
        description: A file holding its password.
        type: path
      public_key:
        description: The public key that verifies each signed candidate.
        type: path
      invocation:
        description: Who ran the gates, recorded in the gate attestation.
        type: str
        default: jenkins_ha.buildkit.buildkit_image_set
  preflight:
    description:
      - Before any build, check that the engine answers and that its data root has C(min_free_disk) free
        (M(jenkins_ha.buildkit.buildkit_cache)'s own checks); the task fails naming what is wrong otherwise.
    type: dict
    suboptions:
      min_free_disk:
        description: Free space the engine's data root must have.
        type: str
        default: 5GB
  report:
    description: What the run's report says beside the images; with it, the builder's build cache is measured after the builds.
    type: dict
    suboptions:
      host:
        description: The build host's name in the report.
        type: str
      started:
        description: When the run started (RFC 3339); the module's start by default.
        type: str
      configuration:
        description: The run's settings, as the report shows them (C(build_configuration)).
        type: dict
      cache_limit:
        description: The build cache's size limit, carried in the report for the cache alert; a warning when the cache is over it.
        type: str
      cache_max_age:
        description:
          - Measuring the build cache walks every cache record (a second or more on a large cache). A run that built nothing
            takes this host's last measurement of the same builder when it is younger than this many seconds (the report's
            C(build_cache.measured) says when it was taken); a run that built measures afresh. C(0) measures every run.
        type: int
        default: 300
      switches:
        description: What the report calls the settings that turn the C(validation) and C(metadata) gates off.
        type: dict
extends_documentation_fragment:
  - jenkins_ha.buildkit.engine
  - jenkins_ha.buildkit.builder
seealso:
  - module: jenkins_ha.buildkit.buildkit_image
  - module: jenkins_ha.buildkit.buildkit_report
"""

EXAMPLES = r"""
- name: Build the controller and an agent together, gate them, promote what passed
  jenkins_ha.buildkit.buildkit_image_set:
    images:
      - name: master
        kind: controller
        repository: registry.example.com/jenkins/jenkins-master
        build: {path: /srv/build/master}
        probes:
          - {name: http, http: {port: 8080, path: /login, expect_header: X-Jenkins}}
        metadata: {expose: [8080/tcp], healthcheck: true}
      - name: maven
        repository: registry.example.com/jenkins/jenkins-agent-maven
        build: {path: /srv/build/maven}
        probes:
          - {name: java, network: none, entrypoint: [], command: [java, -version], expect_output: version}
          - {name: tool, network: none, entrypoint: [], command: [mvn, -v], expect_output: Apache Maven}
    deploy_tag: latest
    rollback_tag: previous
    scan: {offline: true, cache_dir: /var/cache/trivy, report_dir: /srv/build/reports, sbom: true}
    validation: {budget: 300, memory: 2g}
    metadata: {labels: [org.opencontainers.image.version, org.opencontainers.image.source]}
  register: images

- name: Fail when an image failed a gate
  ansible.builtin.fail:
    msg: "{{ images.summary.failed }}"
  when: images.summary.failed | length > 0
"""

RETURN = r"""
images:
  description: Per image, what each step said - C(build), C(deployed), C(scan), C(validation), C(metadata), C(signing),
    C(rollback), C(promote) (each the result of the module that ran it, without its invocation), C(gate), C(reason),
    C(files_written).
  returned: always
  type: list
  elements: dict
lines:
  description: One line per image of what its build did (and, in check mode, what a real run would promote).
  returned: always
  type: list
  elements: str
summary:
  description: C(built), C(unchanged), C(promoted) (image names) and C(failed) (one line per image that failed a gate, naming it and why).
  returned: always
  type: dict
report:
  description: The run's report, in the form M(jenkins_ha.buildkit.buildkit_report) reads.
  returned: always
  type: dict
scans:
  description: The Trivy reports to keep beside the reports - C(src) on the build host, C(dest) relative to the reports.
  returned: always
  type: list
  elements: dict
preflight:
  description: The preflight's checks (C(name), C(status), C(detail), C(remediation)).
  returned: with preflight
  type: dict
sessions:
  description: BuildKit sessions the builds shared (one per engine when they ran in one; 0 when none could).
  returned: always
  type: int
"""
