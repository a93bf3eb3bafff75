# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Jenkins HA platform team
# Apache License 2.0 (see LICENSE)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):
    """The Docker Engine connection options every module shares (community.docker's names,
    aliases and DOCKER_* fallbacks); module-src/internal/engine/spec.go is their spec."""

    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The engine's API address, C(unix:///path/to/docker.sock) or C(tcp://HOST:PORT). Falls back to C(DOCKER_HOST).
      - As in community.docker, C(http://HOST:PORT) and a bare C(HOST:PORT) are TCP and C(https://HOST:PORT) is TCP with
        TLS. Any other scheme (C(ssh://), C(npipe://), a typo) fails before any work, naming this option.
    type: str
    default: unix:///var/run/docker.sock
    aliases: [docker_url]
  tls_hostname:
    description: Expected host name of the engine's TLS certificate. Falls back to C(DOCKER_TLS_HOSTNAME).
    type: str
  api_version:
    description:
      - Engine API version to use (C(MAJOR.MINOR), e.g. C(1.41)), or C(auto) to negotiate. Falls back to C(DOCKER_API_VERSION).
      - Anything else fails before any work, naming this option.
    type: str
    default: auto
    aliases: [docker_api_version]
  timeout:
    description:
      - Seconds an engine API call may take (builds have their own limit), a positive number. Falls back to C(DOCKER_TIMEOUT).
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
"""
