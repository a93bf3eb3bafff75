# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Jenkins HA platform team
# Apache License 2.0 (see LICENSE)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):
    """The `builder` option the modules share; module-src/internal/builder/spec.go is its spec."""

    DOCUMENTATION = r"""
options:
  builder:
    description:
      - Which BuildKit. By default the engine's embedded BuildKit (C(driver=docker)).
      - With C(driver=docker-container), a BuildKit daemon in a container on the engine, run the way
        C(docker buildx create --driver docker-container) runs one. It is created when missing (from C(image)),
        started when stopped, given new C(memory)/C(cpus) limits live, and recreated (its state volume kept) when
        its C(image), C(network) or buildkitd config changes. It is recorded in buildx's builder store
        (C($BUILDX_CONFIG), else C($DOCKER_CONFIG/buildx), else C(~/.docker/buildx)), so C(docker buildx ls) lists
        it, and a builder made by C(docker buildx create) is used by its name with the options it was made with.
        Where the engine cannot run privileged containers (it runs without every capability), the builder runs
        with CAP_SYS_ADMIN, unconfined seccomp and AppArmor, and its build steps in its own cgroup, and an action
        says so.
      - With C(driver=remote), a standalone BuildKit daemon at C(endpoint), through BuildKit's own API. C(tcp://)
        needs mutual TLS (C(ca), C(cert), C(key)) unless C(insecure=true).
      - A C(docker-container) or C(remote) builder loads a single-platform result into the engine (the image
        then behaves as one built by the engine) and pushes several platforms or attestations itself.
      - With C(nodes), the builder is several BuildKit daemons (C(remote)) or BuildKit containers on the engine
        (C(docker-container)), kept in buildx's builder store as one builder with a node each, as
        C(docker buildx create --append) makes it (C(docker buildx ls) lists the nodes); a builder of several nodes
        already in the store is used by its C(name). Each target platform builds on a node that runs it natively
        (C(nodes[].platforms), else the node's BuildKit's own platform); an emulator only when no node that answers
        runs it. Of the nodes that can, a build goes to the one that built the same image last (its cache and its
        copy of the context are warm), else to the one running the fewest of this host's builds. A node that does
        not answer is left out; one that dies during a build hands its share to another node; C(placement) says
        where each share ran and why it moved. Platforms built on several nodes are pushed by digest and merged into
        one index, pushed under the tag last (the tag never points at part of a build); that needs C(push=true).
    type: dict
    suboptions:
      name:
        description:
          - The builder's name. For C(docker-container), buildx's builder name (default C(jenkins-builder)); its
            container is C(buildx_buildkit_<name>0) and its state volume C(buildx_buildkit_<name>0_state).
        type: str
      driver:
        description: C(docker) for the engine's BuildKit, C(docker-container) for one in a container, C(remote) for a BuildKit daemon.
        type: str
        choices: [docker, docker-container, remote]
        default: docker
      endpoint:
        description: The daemon's address, C(unix:///run/buildkit/buildkitd.sock) or C(tcp://host:1234). Required with C(driver=remote).
        type: str
      ca:
        description: CA certificate of the daemon (mutual TLS over tcp://). A daemon certificate from another CA is refused.
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
      image:
        description:
          - The BuildKit image a C(docker-container) builder runs (for example C(moby/buildkit:buildx-stable-1)).
            Taken from the engine when present, else pulled. Needed only to create the builder.
        type: str
      memory:
        description: Memory limit of a C(docker-container) builder, such as C(4g). Its build steps run inside it.
        type: str
      cpus:
        description: CPU limit of a C(docker-container) builder, such as C(2) or C(1.5) (a CFS quota).
        type: str
      network:
        description: Network mode of a C(docker-container) builder's container, such as C(host) (needed to reach a registry on the host's loopback).
        type: str
      config:
        description: A buildkitd.toml for a C(docker-container) builder. Exclusive with C(insecure_registries) and C(registry_mirrors).
        type: path
      insecure_registries:
        description: Registries a C(docker-container) builder reaches over plain HTTP (written into its buildkitd.toml).
        type: list
        elements: str
      registry_mirrors:
        description: Mirrors of Docker Hub for a C(docker-container) builder (written into its buildkitd.toml).
        type: list
        elements: str
      nodes:
        description:
          - The nodes of a builder of several (C(driver=remote) or C(docker-container)); needs C(name). Exclusive with C(endpoint).
          - A remote node's C(ca), C(cert), C(key) and C(server_name) default to the builder's own (one CA for every node);
            plain C(tcp://) needs the builder's C(insecure). A docker-container node is a container
            C(buildx_buildkit_<name>) on the engine with the builder's C(image), C(memory), C(cpus), C(network) and config.
        type: list
        elements: dict
        suboptions:
          name:
            description: The node's name (buildx's node name).
            type: str
            required: true
          endpoint:
            description: A remote node's address, C(unix://) or C(tcp://host:port).
            type: str
          ca:
            description: CA certificate of a remote node's daemon.
            type: path
          cert:
            description: Client certificate for a remote node.
            type: path
          key:
            description: Client key for a remote node.
            type: path
          server_name:
            description: Name expected in a remote node's certificate.
            type: str
          platforms:
            description:
              - The platforms the node runs natively, as C(docker buildx create --platform) declares them (for example
                C([linux/arm64])). Without it, those of its BuildKit's own platform's architecture.
            type: list
            elements: str
      fallback:
        description:
          - When the C(docker-container) or C(remote) builder cannot be used, build on the engine's BuildKit
            instead (and, when the engine has none, with its classic builder), each step recorded in C(actions)
            with the reason and a warning. Off, such a builder failure fails the task.
        type: bool
        default: false
"""
