#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Jenkins HA platform team
# Apache License 2.0 (see LICENSE)
#
# Documentation only. The module is the collection's multi-call Go binary
# (module-src/buildkit, the buildkit_sign entry of module-src/internal/modules), built by
# `make` into plugins/bin and run by the jenkins_ha.buildkit.go_module action
# plugin for the target's architecture.

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: buildkit_sign
short_description: Sign an image in its registry and attach signed attestations, or verify them (cosign-compatible)
version_added: 0.2.0
author:
  - Jenkins HA platform team (@jenkins-ha)
description:
  - With C(state=signed), signs the image that C(image) names in its registry with a cosign key pair, and
    signs each of C(attestations) (an SBOM, a scan result, any JSON predicate) as an in-toto attestation
    about it. They are stored where cosign stores them, so C(cosign verify --key) and
    C(cosign verify-attestation --key) accept them - a simple-signing signature under the tag
    C(sha256-<digest>.sig) and DSSE envelopes under C(sha256-<digest>.att) in the image's repository - and,
    where the registry serves the OCI 1.1 referrers API (C(referrers)), also as Sigstore bundles attached as
    referrers, the form cosign v3 writes. A signature or attestation already there, made by the same key
    for the same content, is not added again, so a second run reports C(changed=false).
  - With C(state=verified), checks that the image is signed by one of C(public_key), and carries each of
    C(attestations) signed by one of them (with C(match), saying what is required), reading every form
    cosign writes (cosign v2's tags, cosign v3's bundle referrers on registries with or without the
    referrers API). The task fails naming the image, its digest, the keys and what is wrong - no signature,
    no signature that verifies with these keys, a signature made for another digest (the tag was moved or
    a signature copied), a missing or failing attestation. Usable on its own, in a deploy playbook.
  - No transparency log (Rekor) or certificate authority (Fulcio) is used - none is reachable offline.
    Signatures are made as C(cosign sign --tlog-upload=false) makes them and verified as
    C(cosign verify --insecure-ignore-tlog) verifies them, against the keys given. Keyless signing is not
    supported yet; it would come as options beside C(key).
  - The registry is reached directly over HTTPS (plain HTTP for loopback registries, or with
    C(insecure_registry)), with C(registry_username)/C(registry_password) or the credentials of the docker
    config and its credential helpers. No Docker Engine is needed.
requirements:
  - A Linux amd64 or arm64 host that reaches the registry; the module is a static binary, no Python or Docker needed there.
  - A cosign key pair (C(cosign generate-key-pair)) to sign; its public key to verify.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: C(state=signed) reports whether it would sign and writes nothing; C(state=verified) verifies as usual.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  image:
    description:
      - The image in its registry, by tag (C(registry.example.com/jenkins/controller:latest)) or by digest
        (C(...@sha256:...)). What is signed or verified is the manifest digest the registry gives for it.
    type: str
    required: true
  state:
    description: C(signed) signs; C(verified) checks.
    type: str
    choices: [signed, verified]
    default: signed
  digest:
    description:
      - The manifest digest (C(sha256:...)) C(image) must point to. A tag that points elsewhere (it was moved
        since, say, the image passed its gates) fails the task before anything is signed or trusted.
    type: str
  key:
    description:
      - The cosign private key that signs (C(state=signed)), as C(cosign generate-key-pair) writes it
        (C(ENCRYPTED SIGSTORE PRIVATE KEY)); ECDSA P-256 by default.
    type: path
  key_password:
    description:
      - The private key's password. Never shown in results or logs. Falls back to C(COSIGN_PASSWORD) (the
        environment variable cosign reads).
    type: str
  key_password_file:
    description: A file holding the private key's password (trailing newlines are ignored).
    type: path
  public_key:
    description:
      - The public keys (C(cosign.pub)) one of which must have signed (C(state=verified)).
    type: list
    elements: path
    aliases: [public_keys]
  annotations:
    description:
      - C(state=signed) - annotations signed into the signature (C(cosign sign -a key=value)).
      - C(state=verified) - annotations a signature must carry (C(cosign verify -a key=value)).
    type: dict
  attestations:
    description:
      - C(state=signed) - predicates to sign as in-toto attestations about the image.
      - C(state=verified) - attestations the image must carry, each signed by one of C(public_key).
    type: list
    elements: dict
    suboptions:
      type:
        description:
          - The predicate type - one of cosign's names (C(cyclonedx), C(spdxjson), C(spdx), C(vuln),
            C(slsaprovenance), C(slsaprovenance1), C(link), C(openvex), C(custom)) or a URI.
        type: str
        required: true
      predicate:
        description: A JSON file holding the predicate (an SBOM from buildkit_scan, say); an SPDX tag-value file with C(type=spdx).
        type: path
      predicate_data:
        description: The predicate itself (a dict).
        type: raw
      match:
        description:
          - "C(state=verified) - dotted paths into the predicate and the values they must have
            (C({\"scanner.result.passed\": true}))."
        type: dict
  referrers:
    description:
      - When signatures and attestations are also attached as OCI 1.1 referrers (Sigstore bundles, as cosign v3
        writes them), beside cosign's tags. C(auto) where the registry serves the referrers API; C(always)
        also where it does not (through the OCI 1.1 fallback tag C(sha256-<digest>), an index, as cosign v3
        does); C(never) cosign's tags only.
      - Verification always reads every form.
    type: str
    choices: [auto, always, never]
    default: auto
  registry_username:
    description: Username for the registry (else the docker config's credentials are used).
    type: str
  registry_password:
    description: Password for the registry. Never shown in results or logs.
    type: str
  insecure_registry:
    description: Allow plain HTTP to a registry that is not on a loopback address.
    type: bool
    default: false
  timeout:
    description: Seconds the whole task may take.
    type: int
    default: 120
notes:
  - Make a key pair with C(cosign generate-key-pair) (C(COSIGN_PASSWORD) sets its password). Keep the
    private key and its password in a vault; give deploy hosts only C(cosign.pub).
  - cosign's own commands for what this module makes, offline -
    C(cosign verify --key cosign.pub --insecure-ignore-tlog IMAGE) and
    C(cosign verify-attestation --key cosign.pub --insecure-ignore-tlog --type cyclonedx IMAGE).
  - cosign v2 (2.5 and later) verifies a Sigstore bundle referrer - ours with C(referrers), or what cosign v3 signs -
    only with a trusted root, even with C(--key). Offline, give it one that lists no services - a JSON file whose only
    key is C(mediaType), set to C(application/vnd.dev.sigstore.trustedroot+json;version=0.1) - with
    C(cosign verify --key cosign.pub --insecure-ignore-tlog --trusted-root root.json IMAGE). cosign v3 needs nothing
    more, and C(referrers=never) keeps to cosign's tags, which both read as they are.
  - Two runs signing the same digest at the same moment can each add a signature; both stay valid.
seealso:
  - module: jenkins_ha.buildkit.buildkit_scan
  - module: jenkins_ha.buildkit.buildkit_image
"""

EXAMPLES = r"""
- name: Sign the promoted controller image and attach its SBOM and scan verdict
  jenkins_ha.buildkit.buildkit_sign:
    image: registry.example.com/jenkins/jenkins-master:latest
    digest: "{{ pushed_digest }}"
    key: /etc/jenkins-images/cosign.key
    key_password_file: /etc/jenkins-images/cosign.password
    attestations:
      - type: cyclonedx
        predicate: /var/lib/jenkins-images/build/reports/master.cdx.json
      - type: vuln
        predicate_data:
          scanner: {uri: pkg:github/aquasecurity/trivy, version: 0.74.0, result: {passed: true}}

- name: Before deploying, verify the image is signed and passed the gate
  jenkins_ha.buildkit.buildkit_sign:
    image: registry.example.com/jenkins/jenkins-master:latest
    state: verified
    public_key: [/etc/jenkins-images/cosign.pub]
    attestations:
      - type: vuln
        match: {scanner.result.passed: true}
"""

RETURN = r"""
image:
  description: The image as given.
  returned: always
  type: str
state:
  description: The state asked for, C(signed) or C(verified).
  returned: always
  type: str
digest:
  description: The manifest digest that was signed or verified.
  returned: when the image was found
  type: str
  sample: sha256:5d41402abc4b2a76b9719d911017c592a1b2c3d4e5f60718293a4b5c6d7e8f90
signature:
  description: C(state=signed) - the signature.
  returned: state=signed
  type: dict
  contains:
    kind:
      description: C(signature).
      type: str
    predicate_type:
      description: Not set for a signature.
      type: str
    tag:
      description: Cosign's tag that holds it (C(sha256-<hex>.sig)).
      type: str
    referrer:
      description: The digest of its Sigstore bundle referrer, if one is attached.
      type: str
    changed:
      description: Whether this run wrote it (or would, in check mode).
      type: bool
attestations:
  description:
    - C(state=signed) - one entry per attestation, as C(signature) with C(kind=attestation), C(predicate_type)
      and cosign's C(.att) tag.
    - C(state=verified) - the attestations that verified, as C(signatures) with C(predicate_type).
  returned: when the image was signed, or its verification ran
  type: list
  elements: dict
  contains:
    kind:
      description: C(attestation).
      type: str
    predicate_type:
      description: The in-toto predicate type URI.
      type: str
    tag:
      description: C(state=signed) - cosign's tag that holds it (C(sha256-<hex>.att)).
      type: str
    referrer:
      description: C(state=signed) - the digest of its Sigstore bundle referrer, if one is attached.
      type: str
    changed:
      description: C(state=signed) - whether this run wrote it (or would, in check mode).
      type: bool
    key:
      description: C(state=verified) - the public key that verified it.
      type: str
    format:
      description: C(state=verified) - where it was found, C(tag) or C(referrer).
      type: str
    where:
      description: C(state=verified) - what it was read from, the cosign tag and layer or C(referrer <digest>).
      type: str
    annotations:
      description: C(state=verified) - its annotations.
      type: dict
signatures:
  description: The signatures that verified.
  returned: state=verified
  type: list
  elements: dict
  contains:
    kind:
      description: C(signature).
      type: str
    predicate_type:
      description: Not set for a signature.
      type: str
    key:
      description: The public key that verified it.
      type: str
    format:
      description: Where it was found, C(tag) or C(referrer).
      type: str
    where:
      description: What it was read from, the cosign tag and layer or C(referrer <digest>).
      type: str
    annotations:
      description: The annotations signed into it.
      type: dict
verified:
  description: Whether the image verified.
  returned: state=verified
  type: bool
"""
