#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Jenkins HA platform team
# Apache License 2.0 (see LICENSE)
#
# Documentation only. The module is the collection's multi-call Go binary
# (module-src/buildkit, the buildkit_scan entry of module-src/internal/modules), built by
# `make` into plugins/bin and run by the jenkins_ha.buildkit.go_module action
# plugin for the target's architecture.

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: buildkit_scan
short_description: Vulnerability gate for an image with Trivy, offline if need be, and an SBOM
version_added: 0.1.0
author:
  - Jenkins HA platform team (@jenkins-ha)
description:
  - Scans an image in the Docker Engine (or a saved image tarball) with the Trivy CLI, once, with every
    severity, keeps the full JSON report on the host, and decides in Go whether the image passes the
    gate. The task fails when a finding has a severity listed in C(fail_on), with a message naming the
    worst findings.
  - Trivy is told to read the image from the engine only (C(--image-src docker)), so it never pulls the
    image from a registry. With C(offline=true) it also makes no network request at all (no DB download,
    no version check, no telemetry) and the vulnerability DB must already be in C(cache_dir).
  - Scanner errors (Trivy missing, DB missing or older than C(max_db_age), timeout, an unhealthy server)
    fail the task, or with C(fail_on_scanner_error=false) give C(scan_status=error) and a warning.
  - Can write an SBOM (CycloneDX or SPDX JSON) from the same scan, without a second scan.
  - Never changes anything, so C(changed) is always false. Scanning only reads the image, so the module
    also scans in check mode.
requirements:
  - A Linux amd64 or arm64 build host; the module is a static binary, no Python needed there.
  - The Trivy CLI on the build host (C(scanner_path)), and a Docker Engine holding the image unless C(input) is given.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The scan runs in check mode too; it only reads the image and writes the report.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  image:
    description: Image in the engine to scan, by name (C(repo:tag)) or ID. One of C(image) and C(input) is required.
    type: str
  input:
    description: A saved image (C(docker save) tarball or OCI layout tarball) to scan instead of an engine image.
    type: path
    aliases: [archive_path]
  scanner_path:
    description: The Trivy executable, a path or a name looked up in C(PATH).
    type: str
    default: trivy
  fail_on:
    description: Severities that fail the gate.
    type: list
    elements: str
    choices: [CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN]
    default: [CRITICAL]
  ignore_unfixed:
    description: Findings that have no fixed version yet do not count (neither in the gate nor in C(counts)).
    type: bool
    default: false
  ignore_file:
    description:
      - A Trivy ignore file (C(.trivyignore) with one ID per line, or C(.trivyignore.yaml)). It must exist.
      - Without it, no ignore file is read (not even a C(.trivyignore) in the current directory).
    type: path
  vuln_types:
    description: Which packages to look at, OS packages and/or language libraries.
    type: list
    elements: str
    choices: [os, library]
    default: [os, library]
  timeout:
    description: Seconds the scan may take before it is stopped and the task fails (a scanner error).
    type: int
    default: 300
  skip_db_update:
    description: Use the vulnerability DB in C(cache_dir) as it is, without downloading a newer one.
    type: bool
    default: false
  offline:
    description:
      - Make no network request. Implies C(skip_db_update), and turns off Trivy's version check and telemetry.
      - The DB (C(db/trivy.db) and C(db/metadata.json)) must be in C(cache_dir).
    type: bool
    default: false
  cache_dir:
    description: Trivy's cache directory, which holds the DB. Defaults to Trivy's own, C(~/.cache/trivy).
    type: path
  db_repository:
    description: OCI repository to download the DB from when it needs an update (a mirror).
    type: str
  max_db_age:
    description:
      - With C(offline) or C(skip_db_update), fail (a scanner error) when the DB was last updated more than this
        many hours ago. C(0) accepts any age.
    type: int
    default: 0
  server:
    description:
      - URL of a Trivy server (client/server mode). Its C(/healthz) is checked first, with retries and backoff.
    type: str
  server_token:
    description: Token for the Trivy server. Never shown in results or logs.
    type: str
  report_path:
    description:
      - Where the full JSON report is kept. Defaults to C(~/.cache/jenkins_ha.buildkit/scans/<image>.json).
    type: path
  sbom_format:
    description: Also write an SBOM of the image in this format, from the same scan.
    type: str
    choices: [cyclonedx, spdx-json]
  sbom_path:
    description: Where to write the SBOM. Required with C(sbom_format).
    type: path
  fail_on_scanner_error:
    description:
      - When the scanner cannot give a verdict, fail the task (C(true)), or return C(scan_status=error),
        C(passed=false) and a warning (C(false)).
    type: bool
    default: true
  max_findings:
    description: At most this many failing findings are listed in C(findings) (all are counted).
    type: int
    default: 20
  docker_host:
    description: The engine that holds C(image). Falls back to C(DOCKER_HOST), then Trivy's default.
    type: str
    aliases: [docker_url]
seealso:
  - module: jenkins_ha.buildkit.buildkit_image
"""

EXAMPLES = r"""
- name: Fail the play on CRITICAL findings (the default gate)
  jenkins_ha.buildkit.buildkit_scan:
    image: jenkins/controller:2.479.1

- name: Offline build host, HIGH and CRITICAL fail, unfixed findings do not count, with an SBOM
  jenkins_ha.buildkit.buildkit_scan:
    image: jenkins/agent-maven:latest
    offline: true
    cache_dir: /var/lib/trivy
    max_db_age: 168
    fail_on: [CRITICAL, HIGH]
    ignore_unfixed: true
    ignore_file: /etc/jenkins/.trivyignore
    sbom_format: cyclonedx
    sbom_path: /var/lib/jenkins-images/sbom/agent-maven.cdx.json
  register: scan

- name: Report and go on when the scanner cannot run (as the seed's role does)
  jenkins_ha.buildkit.buildkit_scan:
    image: jenkins/agent-python:latest
    fail_on_scanner_error: false
    timeout: 300
  register: scan

- name: Use a Trivy server
  jenkins_ha.buildkit.buildkit_scan:
    image: jenkins/agent-nodejs:latest
    server: http://trivy.internal:4954
"""

RETURN = r"""
image:
  description: What was scanned, C(image) or C(input).
  returned: always
  type: str
  sample: registry.example.com/jenkins/controller:2.479.1
passed:
  description: Whether the image passed the gate (false as well when the scanner gave no verdict).
  returned: always
  type: bool
scan_status:
  description: C(passed), C(failed), or C(error) when the scanner gave no verdict.
  returned: always
  type: str
counts:
  description: Findings by severity (those that count, after the ignore file and C(ignore_unfixed)).
  returned: when the scan ran
  type: dict
  contains:
    critical:
      description: CRITICAL findings.
      type: int
    high:
      description: HIGH findings.
      type: int
    medium:
      description: MEDIUM findings.
      type: int
    low:
      description: LOW findings.
      type: int
    unknown:
      description: Findings of unknown severity.
      type: int
findings:
  description: The findings that failed the gate, worst first, at most C(max_findings).
  returned: when the scan ran
  type: list
  elements: dict
  contains:
    id:
      description: Vulnerability ID.
      type: str
    package:
      description: Package name.
      type: str
    installed:
      description: Installed version.
      type: str
    fixed:
      description: First fixed version, empty if none.
      type: str
    severity:
      description: Severity.
      type: str
    status:
      description: Trivy's status (fixed, affected, ...).
      type: str
    target:
      description: Where Trivy found the package.
      type: str
findings_total:
  description: How many findings failed the gate in all.
  returned: when the scan ran
  type: int
packages:
  description: How many packages Trivy found in the image.
  returned: when the scan ran
  type: int
report_path:
  description: Where the full Trivy JSON report is kept.
  returned: always
  type: str
scan_duration:
  description: Seconds the scan took.
  returned: when the scan ran
  type: float
db_updated_at:
  description: When the vulnerability DB was last updated.
  returned: when the DB's metadata could be read
  type: str
db_age_hours:
  description: Hours since the DB was last updated.
  returned: when the DB's metadata could be read
  type: int
sbom_path:
  description: Where the SBOM was written.
  returned: with C(sbom_format)
  type: str
scanner_error:
  description:
    - What kept the scanner from a verdict, C(scanner missing), C(vulnerability DB) (missing, or older than C(max_db_age)),
      C(timeout), C(server) or C(scanner failed); the task's C(msg) says more.
  returned: when C(scan_status=error)
  type: str
  sample: vulnerability DB
scanner:
  description: The Trivy executable that ran.
  returned: when the scan ran
  type: str
  sample: /usr/local/bin/trivy
java_db:
  description:
    - C(missing) when Trivy's Java DB is not in C(cache_dir) and could not be downloaded (C(offline) or
      C(skip_db_update)), so JAR, WAR and EAR files were not scanned for library vulnerabilities (a warning says so).
  returned: when the Java DB is missing
  type: str
  sample: missing
sbom_error:
  description:
    - Why no SBOM was written, when the task went on without it (the gate failed, or C(fail_on_scanner_error=false));
      a warning says so too.
  returned: with C(sbom_format), when the SBOM could not be written
  type: str
os:
  description: The image's OS as Trivy detected it.
  returned: when Trivy detected one
  type: dict
  contains:
    family:
      description: The OS family, such as C(debian) or C(alpine).
      type: str
    name:
      description: Its version, such as C(12.8).
      type: str
    eosl:
      description: Whether it is past its end of support (a warning says so).
      type: bool
"""
