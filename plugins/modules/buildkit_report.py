#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Jenkins HA platform team
# Apache License 2.0 (see LICENSE)
#
# Documentation only. The module is the collection's multi-call Go binary
# (module-src/buildkit, the buildkit_report entry of module-src/internal/modules), built by
# `make` into plugins/bin and run by the jenkins_ha.buildkit.go_module action
# plugin for the target's architecture.

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: buildkit_report
short_description: HTML, JUnit and SARIF build reports and Prometheus metrics from the jenkins_images role's report
version_added: 0.1.0
author:
  - Jenkins HA platform team (@jenkins-ha)
description:
  - Takes C(jenkins_build_report) and writes one self-contained HTML page (no scripts, fonts or other files
    fetched, readable on a phone and a desktop) with the run's verdict, total time, a history strip of the last
    runs, and per image the status and the gate it failed at, build time as a bar, cache hit ratio, size and its
    change since the last run, vulnerability counts and the scan verdict, validation, the promoted and rollback tags.
  - Writes Prometheus metrics (build duration, success, cache hit ratio, image size, vulnerabilities by severity,
    scan and validation durations, last success time; labelled by image and host) in the text format for
    node_exporter's textfile collector, atomically (temp file and rename), with the Prometheus Go library.
  - Also writes the metrics the role's alert rules (roles/jenkins_images/files/prometheus-alerts.yml) read - the
    vulnerabilities and build time of the image each deploy tag holds, the builder's build cache size, the last passing
    run - and the limits they are held to (C(max_image_age_days), C(max_hours_without_success), the report's
    C(build_cache.limit)).
  - Writes JUnit XML in Jenkins' format for its C(junit) step, with a test suite per image, a test case per gate (build, scan,
    validation, metadata, signing when the report records it, promotion), failed with the reason at the gate that
    failed, skipped with why where a gate did not run.
  - Writes SARIF 2.1.0 of the scans (for Jenkins' Warnings Next Generation or code-scanning views), with a run per scanned
    image with every vulnerability in Trivy's report (C(scan.trivy_report), relative to C(reports_dir)), at level
    C(error) when its severity fails the gate (the report's C(fail_on)), else C(warning) or C(note). A scan that did not
    come to a verdict is a failed invocation, not an empty list.
  - Keeps each run's report as JSON under C(reports_dir)/history; the history strip and the size changes come from there.
    Trivy reports that no run in the history refers to any more are removed.
  - With C(host_reports) instead of C(report), it writes the host view of one run over several build hosts - one HTML
    page with a row per host (verdict, images built, unchanged and failed, build time, builders, build cache) and per
    image and host its status, the node of a multi-node builder it was built on and why it moved, and metrics
    C(jenkins_images_hosts_*) (each host reported and passed, its images by status and build time, the host and node
    that built each image), named apart from the per-host metrics so one textfile directory holds both.
  - The role calls it on the controller (C(delegate_to localhost)), and once more for the host view when the play has
    several build hosts.
requirements:
  - A Linux amd64 or arm64 build host; the module is a static binary, no Python needed there.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Nothing is written in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  report:
    description: The role's C(jenkins_build_report). One of C(report) and C(host_reports) is required.
    type: dict
  host_reports:
    description:
      - The C(jenkins_build_report) of each build host of one run, by host (as each host's own run of this module kept
        it), for the host view. Exclusive with C(report); C(junit_path) and C(sarif_path) are then refused (each host's
        run writes its own).
    type: dict
  missing_hosts:
    description: The play's hosts that did not get as far as a report (the host view lists them as failed).
    type: list
    elements: str
  reports_dir:
    description: Directory of the reports; the history is kept in its C(history) subdirectory.
    type: path
    required: true
  html_path:
    description: Where to write the HTML page.
    type: path
  metrics_path:
    description: Where to write the metrics (a C(.prom) file in node_exporter's textfile directory).
    type: path
  junit_path:
    description: Where to write the JUnit XML report.
    type: path
  sarif_path:
    description: Where to write the SARIF 2.1.0 report of the scan findings.
    type: path
  yaml_path:
    description: Where to write the report itself as YAML (after the last scans are carried over to unchanged images).
    type: path
  json_path:
    description: Where to write the report itself (or, with C(host_reports), the host view) as JSON (keys sorted, as Ansible's C(to_nice_json) writes it).
    type: path
  scans_archive:
    description:
      - A gzipped tar of Trivy reports (M(jenkins_ha.buildkit.buildkit_image_set)'s C(scans_archive), fetched to the
        controller) - each C(scans/<name>-<image ID>.trivy.json) member is put beside the reports, where the report's
        C(scan.trivy_report) points, and the archive is removed. A member of another name refuses the archive (a warning).
    type: path
  history_size:
    description: How many runs the history strip shows.
    type: int
    default: 20
  max_image_age_days:
    description: Days after which a deployed image is stale; written into the metrics for the JenkinsImageTooOld alert.
    type: int
    default: 30
  max_hours_without_success:
    description: Hours without a passing run before the JenkinsImagesNoSuccessfulRun alert fires; written into the metrics.
    type: int
    default: 26
"""

EXAMPLES = r"""
- name: Write the HTML report and the metrics
  jenkins_ha.buildkit.buildkit_report:
    report: "{{ jenkins_build_report }}"
    reports_dir: /var/lib/jenkins-images/reports/build-1
    html_path: /var/lib/jenkins-images/reports/build-1/build-report-latest.html
    metrics_path: /var/lib/node_exporter/textfile/jenkins_images_build-1.prom
    junit_path: /var/lib/jenkins-images/reports/build-1/build-report-latest.junit.xml
    sarif_path: /var/lib/jenkins-images/reports/build-1/build-report-latest.sarif
  delegate_to: localhost

- name: One page and metrics of every build host of the play
  jenkins_ha.buildkit.buildkit_report:
    host_reports: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'jenkins_build_report'))) }}"
    missing_hosts: "{{ ansible_play_hosts_all | difference(ansible_play_hosts) }}"
    reports_dir: /var/lib/jenkins-images/reports
    html_path: /var/lib/jenkins-images/reports/build-report-hosts.html
    metrics_path: /var/lib/node_exporter/textfile/jenkins_images_hosts.prom
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
verdict:
  description: C(passed) when every image passed, else C(failed).
  returned: always
  type: str
duration:
  description: Seconds since the run started.
  returned: with report
  type: float
html_path:
  description: The HTML page written.
  returned: with html_path
  type: str
metrics_path:
  description: The metrics file written.
  returned: with metrics_path
  type: str
junit_path:
  description: The JUnit XML report written.
  returned: with junit_path
  type: str
sarif_path:
  description: The SARIF report written.
  returned: with sarif_path
  type: str
yaml_path:
  description: The YAML report written.
  returned: with yaml_path
  type: str
json_path:
  description: The JSON written (the report, or with host_reports the host view).
  returned: with json_path
  type: str
hosts_report:
  description: The host view, with each host's report under C(hosts) and C(missing_hosts).
  returned: with host_reports
  type: dict
history_file:
  description: This run's report in the history.
  returned: not in check mode
  type: str
history_runs:
  description: Runs in the history strip.
  returned: not in check mode
  type: int
report:
  description:
    - This run's report as kept in the history, for the tasks after this one (the role's notifications, say) - C(report)
      with C(duration), C(verdict), C(last_success) and C(first_run) filled in, and the scans of the images this run
      did not rebuild carried over from the run that scanned them.
  returned: not in check mode
  type: dict
"""
