# -*- coding: utf-8 -*-
# Copyright: Jenkins HA platform team
# Apache License 2.0 (see galaxy.yml)

from __future__ import annotations


class ModuleDocFragment(object):
    """The `builder` option the modules share; module-src/internal/builder/spec.go is its spec."""

    DOCUMENTATION = r"""
options:
  builder:
    description:
      - Which BuildKit. By default the engine's embedded BuildKit (C(driver=docker)).
      - With C(driver=remote), a standalone BuildKit daemon at C(endpoint), through BuildKit's own API. C(tcp://)
        needs mutual TLS (C(ca), C(cert), C(key)) unless C(insecure=true).
    type: dict
    suboptions:
      name:
        description: A name for the builder in results.
        type: str
      driver:
        description: C(docker) for the engine's BuildKit, C(remote) for a BuildKit daemon.
        type: str
        choices: [docker, remote]
        default: docker
      endpoint:
        description: The daemon's address, C(unix:///run/buildkit/buildkitd.sock) or C(tcp://host:1234). Required with C(driver=remote).
        type: str
      ca:
        description: CA certificate of the daemon (mutual TLS over tcp://).
        type: path
      cert:
        description: Client certificate for mutual TLS.
        type: path
      key:
        description: Client key for mutual TLS.
        type: path
      server_name:
        description: Name expected in the daemon's certificate (default the endpoint's host).
        type: str
      insecure:
        description: Allow C(tcp://) without TLS. Refused otherwise.
        type: bool
        default: false
"""
