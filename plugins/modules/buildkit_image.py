#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Jenkins HA platform team
# Apache License 2.0 (see LICENSE)
#
# Documentation only. The module is the collection's multi-call Go binary
# (module-src/buildkit, the buildkit_image entry of module-src/internal/modules), built by
# `make` into plugins/bin and run by the jenkins_ha.buildkit.go_module action
# plugin for the target's architecture.

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: buildkit_image
short_description: Build and manage Docker images with BuildKit (drop-in for community.docker.docker_image)
version_added: 0.1.0
author:
  - Jenkins HA platform team (@jenkins-ha)
description:
  - Builds an image from a Dockerfile with the BuildKit embedded in the Docker Engine, reached through
    the engine's C(/grpc) and C(/session) endpoints, so C(RUN --mount=type=cache), heredocs, build secrets,
    SSH agent forwarding and the other BuildKit-only Dockerfile features work. community.docker.docker_image
    cannot build with BuildKit.
  - Like community.docker.docker_image it also loads an image from an archive (C(source=load)), pulls it
    (C(source=pull)) or only checks that it exists (C(source=local)), writes it to an archive
    (C(archive_path)), tags it into another repository (C(repository)) and pushes it to a registry (C(push)).
  - Takes community.docker.docker_image's option names and meanings, returns its keys (C(image),
    C(actions), C(stdout)) and fails with its messages, so a playbook can switch by changing the module
    name. Where the behaviour deliberately differs, the notes below say so.
  - B(Idempotent without building, never stale.) Before building, the module digests everything that feeds
    the build - the context as C(.dockerignore) filters it, the Dockerfile, build args, target, platform,
    labels, network settings, the IDs of the secrets and SSH agents, and every source the build reads, each
    pinned to its content. The Dockerfile is read with BuildKit's own converter (its ARG expansion, automatic
    platform ARGs such as C(TARGETARCH), stages the target does not reach left out), so the sources are
    every stage's base, C(COPY --from) and C(RUN --mount ... from=) images, the C(syntax) directive's frontend image and
    C(ADD) URLs. An image is pinned by its ID in the engine's store when the builder reads it from there
    (the engine's builders without C(build.pull)), else by the digest the registry gives its tag (with
    C(build.pull), with C(docker-container) and C(remote) builders, and for images the engine does not have),
    asked with the credentials and retries of a push. An C(ADD) URL is pinned by its C(--checksum), else by
    the server's ETag or Last-Modified.
  - The build is skipped (C(changed=false), nothing sent to the engine) only when the digest equals the
    C(io.jenkins-ha.buildkit.inputs) label of the image under the name B(and) this host recorded building that
    image ID from those inputs; the label alone is no proof, since an image made from this one (C(docker
    commit), C(FROM)) inherits it. A source that cannot be pinned before the build (a git source, a URL
    without validators, a registry that does not answer) makes the build run; BuildKit's cache then makes an
    unchanged result the same image, reported C(changed=false). C(build_reason) says which case applied.
  - Falls back to the engine's classic builder when the engine has no BuildKit, or when
    C(build_method=legacy) is asked. A Dockerfile that needs BuildKit then fails with a message naming
    the Dockerfile line; so do C(build.secrets), C(build.ssh) and C(build.cache_to).
  - Transient errors (a restarting daemon, a dropped connection, a registry answering 5xx or throttling)
    are retried with exponential backoff, see C(retries); a failing build step and an authentication
    error are never retried. C(build_timeout) cancels a build that runs too long and leaves the image
    under the name as it was.
  - Runs on Linux targets (amd64 and arm64); the binary for the target's architecture is picked
    automatically. Python is not needed on the target.
notes:
  - With a remote builder the result is streamed into the engine's image load, so the image is in the engine
    as with the default builder; such a daemon resolves base images from registries, not from the engine.
  - Unlike community.docker.docker_image, check mode is accurate. It builds, loads, pulls, tags, archives
    and pushes nothing, and reports C(changed) only when a real run would change something. A build in
    check mode is decided by the inputs digest, as a real run is, so it predicts C(changed) without
    building. A push in check mode asks the registry for the tag's manifest digest instead of always
    reporting C(changed). A pull in check mode with the image present (C(force_source)) asks the registry for
    the tag's digest and reports no change when the engine already has that image; a load in check mode reads
    the archive's manifest and reports no change when it holds the image the name already has.
    community.docker.docker_image reports C(changed) in both cases.
  - Unlike community.docker.docker_image, a push first asks the registry which image the tag points at.
    When it already points at this image, nothing is pushed, the task reports C(changed=false) and
    C(image.push_status) is C(Image is up to date). Conversely, pushing an image the registry already holds
    under another tag reports C(changed) (the tag moved), where community.docker.docker_image reports no
    change because no layer was uploaded.
  - Unlike community.docker.docker_image, which builds only when the image name is missing (or with
    C(force_source)), a build is decided by the inputs digest. An image whose Dockerfile, context, args or
    sources changed is rebuilt; one whose inputs are unchanged is not, even after the image was
    retagged. An image brought from another host is built once here (BuildKit's cache and the registry
    cache make that cheap), since this host has no record of building it.
  - B(Secrets.) The values of C(build.secrets) (including the contents of a C(type=file) secret and the
    value of a C(type=env) one), C(registry_password) and the credentials read from the docker config
    never reach the results, the build log in C(stdout), warnings, the image's history or its layers;
    they are handed to BuildKit over the session only. Secret values are not part of the inputs digest
    either, only the secrets' IDs are. Rotating a secret therefore does not rebuild the image; use
    C(force_source=true) with C(build.nocache=true) for that (BuildKit's own cache does not look at
    secret values, so C(force_source) alone reuses the cached step).
  - C(build.container_limits) applies to the classic builder only. With BuildKit it is ignored, with a
    warning.
  - C(registry_username) and C(registry_password) are not options of community.docker.docker_image,
    which takes its credentials from C(docker login) only (community.docker.docker_login). Without them
    this module does the same and reads the docker CLI config.
  - A push refused for missing credentials fails with community.docker.docker_image's
    C(Try logging into <registry> first.) message, also when the engine reports
    C(no basic auth credentials).
  - Diff mode shows the image ID before and after.
  - The context stat cache (like git's index) lets a no-op run skip reading unchanged files; only file
    sizes, inode numbers and modification times are stored there, never contents.
  - B(The context BuildKit builds from is exactly this one.) BuildKit keeps a copy of a build's context per
    session key and updates it by file metadata. Each build gets a key of its own builder, context directory
    and Dockerfile directory, so two projects never share a copy; and a record on the host of what each copy
    was sent makes a file edited keeping its size and modification time (C(touch -r), an archive unpacked
    again) start a fresh copy (C(context.fresh_copy)), where BuildKit alone would keep the old bytes.
  - The platform ARGs (C(TARGETARCH), C(BUILDPLATFORM), ...) are read for the builder's platform when the
    sources are pinned; with C(builder.driver=remote) and no C(build.platform) that means asking the builder
    on every run (one connection), so give C(build.platform) where it is known.
requirements:
  - A Linux amd64 or arm64 build host; the module is a static binary, no Python needed there.
  - A Docker Engine 19.03 or later on the build host. BuildKit builds use its embedded BuildKit (its C(/grpc) endpoint);
    engines without it get the classic builder.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
options:
  name:
    description:
      - Image name, as C(repository) or C(repository:tag), with a registry host when the image is pushed to
        or pulled from a registry other than Docker Hub (C(registry.example.com:5000/jenkins/controller)).
        A tag in C(name) wins over C(tag).
      - An image ID is accepted with C(state=absent), C(source=local) and C(source=load). It cannot be built
        or pulled (the task fails with C(Image name must not be an image ID for source=...)), and is pushed
        only by tagging it into C(repository).
      - A name with a digest (C(repository@sha256:...)) is accepted except with C(source=build).
    type: str
    required: true
  tag:
    description:
      - Tag for the image when C(name) has none. Also the tag in C(repository) when that has none.
    type: str
    default: latest
  state:
    description:
      - C(present) gets the image from C(source) if it is missing (for C(source=build), also when its inputs
        changed), or always with C(force_source). Then it writes C(archive_path), tags the image into
        C(repository) and pushes it, as asked.
      - C(absent) removes the image name; the image itself goes when no other name refers to it.
    type: str
    choices: [present, absent]
    default: present
  source:
    description:
      - Where the image comes from. Required with C(state=present).
      - C(build) builds it from C(build) (see the description for when).
      - C(load) loads it from the archive C(load_path) when it is missing.
      - C(pull) pulls it from its registry when it is missing; see C(pull).
      - C(local) only asserts that it exists in the engine, and fails with
        C(Cannot find the image <name> locally.) otherwise.
    type: str
    choices: [build, load, pull, local]
  load_path:
    description:
      - An image archive, as C(docker save) or C(archive_path) writes it, to load with C(source=load).
        Required with C(source=load).
      - The archive is loaded when the image is missing, or with C(force_source). The task fails with
        community.docker.docker_image's message (C(The archive did not contain image 'foo:bar'. Instead,
        found '...'.)) when the archive holds no image under C(name).
    type: path
  archive_path:
    description:
      - Write the image to this file as C(docker save) does, with C(state=present) (after building,
        loading or pulling it).
      - The file is left alone when it already holds this image ID under this name (C(name:tag), or the ID
        when C(name) is one); otherwise it is replaced. It is written beside the target and renamed into
        place, so an interrupted save never leaves a truncated archive.
    type: path
  force_source:
    description:
      - Build, load or pull even when the image exists (for a build, even when its inputs are unchanged).
        The task reports C(changed) only if the image ID differs afterwards (a build served from the cache,
        or a pull or load of the same image, gives the same ID).
      - To re-run every build step, add C(build.nocache=true).
    type: bool
    default: false
  force_tag:
    description:
      - With C(repository) (and the names of C(build.outputs)), tag the image even when that name already
        exists, moving it to this image. A name that already points at the image is left alone and is not
        a change.
    type: bool
    default: false
  force_absent:
    description: With C(state=absent), remove the image even if containers use it or it has other tags.
    type: bool
    default: false
  push:
    description:
      - Push the image to its registry, given as part of C(name), or of C(repository) when that is set
        (then the C(repository) name is pushed).
      - The registry is first asked which image the tag points at; when that is this image nothing is
        pushed and the task reports C(changed=false). See the notes.
      - Credentials come from C(registry_username) and C(registry_password), else from the docker CLI config.
      - A push by image ID fails with C(Cannot push an image by ID); set C(repository).
    type: bool
    default: false
  repository:
    description:
      - Tag the image into this repository, as C(repository) or C(repository:tag); without a tag, C(tag) is
        used. With C(push=true) the repository name is pushed.
      - The tag is made when the name is missing there, or with C(force_tag); the task reports C(changed)
        only if the name then points at a different image than before.
      - Must not be an image ID (the task fails with C(`repository` must not be an image ID)).
    type: str
  rollback_tag:
    description:
      - With C(repository) and C(force_tag), a promotion that keeps the image C(repository) names now for a rollback.
        When C(repository) moves to another image, the image it named is first tagged C(<repository name>:<rollback_tag>).
      - No engine moves two tags at once, so the two moves are written to a journal on the host (beside the context
        cache, C(promotions/)) before the first one. A run killed between them leaves the rollback tag on the deployed
        image; the next C(buildkit_image) task that reads or moves C(repository) (any C(name) or C(repository) equal to it)
        first puts the rollback tag back where it was, or removes it if there was none, and reports it
        (C(promotion_settled)). The deploy tag always names the image it named before or the new one.
      - Transient engine errors while a tag moves (an engine restarting) are retried (C(retries), C(retry_delay)).
    type: str
  pull:
    description: Options for C(source=pull).
    type: dict
    suboptions:
      platform:
        description:
          - Platform to pull, such as C(linux/arm64), for a multi-platform image. An unknown operating system
            or architecture fails before any work.
          - An image already present under C(name) is not pulled again (its platform is not compared); use
            C(force_source=true).
        type: str
  registry_username:
    description:
      - User name for the registry of a push or a pull. Requires C(registry_password).
      - Without it, the credentials for the registry come from the docker CLI config of the user the module
        runs as (C(~/.docker/config.json), or C(DOCKER_CONFIG)), credential helpers included, as after
        C(docker login).
      - A build's base images and registry caches are always fetched with the docker CLI config's credentials.
    type: str
  registry_password:
    description:
      - Password or token for C(registry_username). Never shown in results or logs.
    type: str
  retries:
    description:
      - How many times a push, a pull or a build is tried again after a transient error (a registry answering
        5xx or 429, a dropped connection, a restarting engine). Authentication, authorization and manifest
        errors, and a failing build step, fail at once.
      - C(0) tries once. C(push_retries), C(pull_retries) and C(build_retries) say how many retries were made.
    type: int
    default: 3
  retry_delay:
    description:
      - Seconds to wait before the first retry (with jitter, between half of it and all of it). Each further
        wait doubles, up to 30 seconds.
    type: float
    default: 1.0
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
  lock_timeout:
    description:
      - Seconds to wait for another run that holds this image name (the same name and tag) on this host.
        Runs building the same name take turns (a host-level lock per user); the second then finds the first's
        image up to date and builds nothing. C(0) fails at once when the name is busy.
    type: int
    default: 1800
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
        description:
          - Build arguments (C(ARG)). Values become the text Python's C(str()) gives them, as
            community.docker.docker_image sends them (C(1.0) stays C(1.0), C(true) is C(True), a list is its
            Python repr).
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
        description:
          - Read the images the build uses from their registries instead of the engine's store. They are
            then pinned by the registry's digest, so a tag that moved rebuilds.
        type: bool
        default: false
      network:
        description:
          - Network for C(RUN) steps. With BuildKit C(default), C(host) or C(none); the classic builder also
            takes a network name.
          - With a network name and C(build_method=auto), the image is built with the classic builder, as
            community.docker.docker_image does (the action says so); a build that needs BuildKit then fails
            naming what needs it. C(build_method=buildkit) and a C(docker-container) or C(remote) builder refuse a
            network name.
        type: str
      etc_hosts:
        description: Extra C(/etc/hosts) entries for C(RUN) steps, host name to IP address.
        type: dict
      platform:
        description:
          - Platforms to build for, such as C(linux/amd64), as a list or a comma-separated string.
          - Several platforms make a manifest list. The engine's classic image store (Docker 20.10) keeps
            one platform per image, so several platforms need C(builder.driver=docker-container) or
            C(remote) with C(push=true) (the builder pushes the list itself), or an engine on the
            containerd image store; otherwise the task fails before any work.
          - A platform the builder cannot run C(RUN) steps for (no QEMU emulator in binfmt_misc) fails
            before the build, saying how to register one.
          - An operating system or architecture BuildKit's platform parser does not know (C(linux/amd46))
            fails before any work, naming the entry.
        type: list
        elements: str
      provenance:
        description:
          - Attach a SLSA provenance attestation, C(min) or C(max) detail.
          - Produced on a C(docker-container) or C(remote) builder (pushed with the image, C(push=true)
            needed) or on an engine with the containerd image store. On the engine's builder with the
            classic store the image is built and a warning says that no attestation was produced.
        type: str
        choices: [min, max]
      sbom:
        description: Attach an SBOM attestation, made by BuildKit's SBOM generator image (see C(sbom_generator)). Same builders as C(provenance).
        type: bool
        default: false
      sbom_generator:
        description:
          - The SBOM generator image BuildKit runs (default BuildKit's, C(docker/buildkit-syft-scanner),
            which must be pullable by the builder; name a mirror or a local registry copy on offline hosts).
        type: str
      cache_from:
        description:
          - Cache sources. An entry is an image name (as in community.docker.docker_image, a registry cache
            import of that image) or a dict with C(type) and its attributes.
          - C(type=registry) or C(type=inline) with C(ref), an image in a registry (or, on Docker 20.10, an
            image in the engine) built with a cache export. C(type=local) with C(src), a directory
            written by C(build.cache_to) C(type=local). C(type=gha), C(s3) or C(azblob) with C(attrs), handed
            to BuildKit as they are.
          - Other keys fail the task.
        type: list
        elements: raw
      cache_to:
        description:
          - Cache exports, written when the image is built.
          - The engine's embedded BuildKit on the classic image store (Docker 20.10, and later engines
            without the containerd image store) exports C(type=inline) only; other types then fail the task
            with a message saying so.
        type: list
        elements: dict
        suboptions:
          type:
            description:
              - C(inline) embeds the cache metadata in the image, for C(cache_from) of a later build.
                C(registry) pushes the cache to C(ref). C(local) writes it to the directory C(dest).
              - C(gha), C(s3) and C(azblob) are handed to BuildKit as they are, with their settings in C(attrs),
                for builders that have them (a C(docker-container) or C(remote) builder, or a current engine).
            type: str
            required: true
            choices: [inline, registry, local, gha, s3, azblob]
          attrs:
            description:
              - Settings of a C(gha), C(s3) or C(azblob) cache (for example C(bucket), C(region), C(endpoint_url)), strings passed to BuildKit as they are.
              - For C(registry) and C(local) exports, the exporter's further settings, as C(docker buildx build --cache-to) takes them,
                such as C(compression) (C(gzip), C(zstd), C(uncompressed)), C(compression-level), C(oci-mediatypes), C(image-manifest), C(ignore-error).
                C(ref), C(dest) and C(mode) are the entry's own options and are refused here.
            type: dict
          ref:
            description: The cache image for C(type=registry), such as C(registry.example.com/jenkins/agent:buildcache).
            type: str
          mode:
            description: C(min) exports the layers of the final image only; C(max) those of every stage too.
            type: str
            choices: [min, max]
          dest:
            description: Directory for C(type=local).
            type: path
          src:
            description: Accepted for symmetry with C(cache_from); not used by exports.
            type: path
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
        description:
          - Pass the proxies of the docker CLI config (C(proxies.default), or the engine host's entry) as build
            args (C(HTTP_PROXY), C(NO_PROXY) and the others) that C(build.args) does not set, as
            community.docker.docker_image does.
        type: bool
      container_limits:
        description:
          - Resource limits for C(RUN) steps. Classic builder only; BuildKit ignores them, with a warning.
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
      secrets:
        description:
          - Build secrets, as in community.docker.docker_image_build, for C(RUN --mount=type=secret,id=...)
            (mounted at C(/run/secrets/<id>) unless the Dockerfile says otherwise). Needs BuildKit.
          - The values are read on the target by the module, held in memory, handed to BuildKit over the
            session only and masked in everything the module returns. Only the IDs are part of the inputs
            digest, so a new value alone does not rebuild (see the notes).
        type: list
        elements: dict
        suboptions:
          id:
            description: The ID the Dockerfile refers to. Each ID may be given once.
            type: str
            required: true
          type:
            description:
              - Where the value comes from. C(file) reads the file C(src), C(env) the environment variable
                C(env) of the module (set it with the task's C(environment) keyword), C(value) takes C(value).
            type: str
            required: true
            choices: [file, env, value]
          src:
            description: The file holding the secret, for C(type=file).
            type: path
          env:
            description: The environment variable holding the secret, for C(type=env).
            type: str
          value:
            description: The secret itself, for C(type=value). Never shown in results or logs.
            type: str
      ssh:
        description:
          - SSH agents or keys to forward, for C(RUN --mount=type=ssh) (such as a C(git clone) of a private
            repository). Needs BuildKit. Only the IDs are part of the inputs digest.
        type: list
        elements: dict
        suboptions:
          id:
            description: The ID the Dockerfile refers to (C(RUN --mount=type=ssh,id=...)).
            type: str
            default: default
          paths:
            description:
              - Agent sockets or private key files on the target. Defaults to the module's C(SSH_AUTH_SOCK);
                the task fails when that is not set either.
            type: list
            elements: path
      created_label:
        description:
          - Label the image C(org.opencontainers.image.created) with the time of the build. The label is set only when
            a build runs and is not part of the inputs digest, so unchanged inputs still mean no build.
        type: bool
        default: false
      outputs:
        description:
          - More outputs of the build, as in community.docker.docker_image_build. The image always goes to
            the engine under C(name) as well.
          - File outputs are written by a second solve that comes entirely from the build cache. A file
            output is written when the image was built by this run, or when C(dest) does not exist;
            otherwise it is left alone.
        type: list
        elements: dict
        suboptions:
          type:
            description:
              - C(docker) and C(image) name the image in the engine (C(name)) and push those names (C(push)).
                C(docker) with C(dest) writes the image, under its name, as a C(docker load) tarball to C(dest)
                instead (as C(docker buildx build --output type=docker,dest=...) does).
              - C(local) writes the image's file system to the directory C(dest). C(tar) writes it as a tarball
                to C(dest) (not a C(docker save) archive; use C(archive_path) for that). C(oci) writes an OCI
                image layout tarball to C(dest).
            type: str
            required: true
            choices: [docker, image, local, tar, oci]
          dest:
            description: Where C(local), C(tar), C(oci) and C(docker) tarball outputs go. Not allowed with C(image).
            type: path
          name:
            description:
              - More names for the image in the engine (C(docker) and C(image) only), each as with C(repository)
                (without a tag, C(tag) is used; C(force_tag) applies).
            type: list
            elements: str
          push:
            description:
              - Push every name of this output (or the image's C(name) when there is none) as C(push) does,
                asking the registry first. C(docker) and C(image) only.
            type: bool
            default: false
extends_documentation_fragment:
  - jenkins_ha.buildkit.builder
  - jenkins_ha.buildkit.engine
seealso:
  - module: community.docker.docker_image
  - module: community.docker.docker_image_build
  - module: community.docker.docker_login
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

- name: Build with secrets from a file, the environment and the vault
  # The Dockerfile uses them with, for example,
  #   RUN --mount=type=secret,id=maven_settings,target=/root/.m2/settings.xml mvn -B package
  #   RUN --mount=type=secret,id=npm_token NPM_TOKEN=$(cat /run/secrets/npm_token) npm ci
  # They never reach the image, its history, the task result or the log.
  jenkins_ha.buildkit.buildkit_image:
    name: jenkins/agent-maven:latest
    source: build
    build:
      path: /srv/build/agent-maven
      secrets:
        - id: maven_settings
          type: file
          src: /etc/jenkins/maven-settings.xml
        - id: npm_token
          type: env
          env: NPM_TOKEN
        - id: nexus_password
          type: value
          value: "{{ vault_nexus_password }}"
  environment:
    NPM_TOKEN: "{{ vault_npm_token }}"

- name: Rebuild after rotating a secret (secret values are not part of the inputs digest)
  jenkins_ha.buildkit.buildkit_image:
    name: jenkins/agent-maven:latest
    source: build
    force_source: true
    build:
      path: /srv/build/agent-maven
      nocache: true
      secrets:
        - id: nexus_password
          type: value
          value: "{{ vault_nexus_password }}"

- name: Clone private repositories during the build (RUN --mount=type=ssh git clone ...)
  jenkins_ha.buildkit.buildkit_image:
    name: jenkins/controller:plugins
    source: build
    build:
      path: /srv/build/controller
      ssh:
        # The agent of the module's SSH_AUTH_SOCK, as RUN --mount=type=ssh uses by default
        - id: default
        # A deploy key for RUN --mount=type=ssh,id=deploy
        - id: deploy
          paths:
            - /home/jenkins/.ssh/deploy_ed25519

- name: Build and push to a private registry with credentials
  jenkins_ha.buildkit.buildkit_image:
    name: registry.example.com/jenkins/controller
    tag: "2.479.1"
    source: build
    build:
      path: /srv/build/controller
    push: true
    registry_username: ci-pusher
    registry_password: "{{ vault_registry_password }}"
    retries: 5
    retry_delay: 2

- name: Tag a local image into the registry and push it (nothing is pushed if the tag is up to date)
  jenkins_ha.buildkit.buildkit_image:
    name: jenkins/controller:2.479.1
    source: local
    # Pushed as registry.example.com/jenkins/controller:2.479.1
    repository: registry.example.com/jenkins/controller
    push: true
    registry_username: ci-pusher
    registry_password: "{{ vault_registry_password }}"

- name: Pull the arm64 variant of an agent image
  jenkins_ha.buildkit.buildkit_image:
    name: registry.example.com/jenkins/agent:2.479.1
    source: pull
    pull:
      platform: linux/arm64
    registry_username: ci-reader
    registry_password: "{{ vault_registry_password }}"

- name: Archive the controller image for an air-gapped host
  jenkins_ha.buildkit.buildkit_image:
    name: jenkins/controller:2.479.1
    source: local
    archive_path: /srv/images/controller-2.479.1.tar

- name: Load it there (nothing happens when the image is already present)
  jenkins_ha.buildkit.buildkit_image:
    name: jenkins/controller:2.479.1
    source: load
    load_path: /srv/images/controller-2.479.1.tar

- name: Build once, name and push the image twice, and export its file system
  jenkins_ha.buildkit.buildkit_image:
    name: jenkins/agent-maven:latest
    source: build
    build:
      path: /srv/build/agent-maven
      outputs:
        - type: image
          name:
            - registry.example.com/jenkins/agent-maven:latest
            - registry.example.com/jenkins/agent-maven:2024-11
          push: true
        - type: local
          dest: /srv/export/agent-maven-rootfs
        - type: oci
          dest: /srv/export/agent-maven.oci.tar

- name: Build with a registry cache and embed inline cache metadata for the next build
  jenkins_ha.buildkit.buildkit_image:
    name: registry.example.com/jenkins/agent-maven:latest
    source: build
    build:
      path: /srv/build/agent-maven
      cache_from:
        - registry.example.com/jenkins/agent-maven:latest
        - type: registry
          ref: registry.example.com/jenkins/agent-maven:main
      cache_to:
        - type: inline
    push: true

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
    - After a push it is the pushed name's image, with C(push_status).
  returned: success
  type: dict
  sample: {"Id": "sha256:5f0c...", "RepoTags": ["jenkins/controller:2.479.1"], "Config": {"Labels": {"io.jenkins-ha.buildkit.inputs": "sha256:9d1e..."}}}
  contains:
    push_status:
      description:
        - The engine's last status line of the push, or C(Image is up to date) when the registry's tag
          already pointed at the image and nothing was pushed.
      returned: when a push ran, or found the registry's tag up to date (also in check mode)
      type: str
      sample: "latest: digest: sha256:bc33... size: 735"
    state:
      description: C(Deleted), for the image C(state=absent) removed (or would remove, in check mode).
      returned: with C(state=absent), when the image was there
      type: str
      sample: Deleted
actions:
  description: What was done, in community.docker.docker_image's words.
  returned: always
  type: list
  elements: str
  sample:
    - Built image registry.example.com/jenkins/controller:2.479.1 from /srv/build/controller
    - Pushed image registry.example.com/jenkins/controller to registry.example.com/jenkins/controller:2.479.1
stdout:
  description: The build log (plain progress), the last 256 KiB of it; or the engine's output of an image load.
  returned: when a build or a load ran
  type: str
builder:
  description: Which builder ran the build.
  returned: when a build ran
  type: str
  sample: buildkit (docker engine)
builder_driver:
  description:
    - The kind of builder that ran the build, for playbooks to test (C(builder) is for people).
    - C(docker) (the engine's embedded BuildKit), C(docker-container), C(remote) or C(legacy) (the engine's classic builder).
  returned: when a build ran
  type: str
  sample: docker
base_images_pulled:
  description:
    - The images a build with the classic builder reads that the engine lacked (or all of them with C(build.pull)),
      pulled into the engine before the build, with the credentials and retries of C(source=pull), so that the
      recorded inputs name the images the build used.
  returned: when a classic build pulled images
  type: list
  elements: str
  sample: [registry.example.com/jenkins/base:bookworm]
waited_for_lock:
  description: C(true) when another run on this host held the image name and this run waited for it (see C(lock_timeout)).
  returned: when this run waited
  type: bool
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
push_retries:
  description: How many times the last push was retried after a transient registry error (also when it failed).
  returned: when a push ran
  type: int
  sample: 0
pull_retries:
  description: How many times the pull was retried after a transient registry error (also when it failed).
  returned: when a pull ran
  type: int
  sample: 0
total_steps:
  description: Dockerfile steps in the build, run or from cache.
  returned: when a build ran
  type: int
cached_steps:
  description: Steps served from the build cache.
  returned: when a build ran
  type: int
cache_hit_ratio:
  description: C(cached_steps / total_steps) of the build, 0 to 1.
  returned: when a build ran with at least one step
  type: float
  sample: 0.75
builder_nodes:
  description: The nodes of a builder of several (C(builder.nodes)) that built the image.
  returned: when a build ran on a builder of several nodes
  type: list
  elements: str
  sample: [bk-amd64, bk-arm64]
placement:
  description: Where each share of a build on a builder of several nodes ran, and why.
  returned: when a build ran on a builder of several nodes
  type: list
  elements: dict
  contains:
    node:
      description: The node.
      type: str
    endpoint:
      description: The node's daemon address, or its container.
      type: str
    platforms:
      description: The target platforms it built.
      type: list
      elements: str
    emulated:
      description: Those of C(platforms) it ran through an emulator (no node that answered runs them natively).
      type: list
      elements: str
    reason:
      description: Why this node (cache affinity, the least busy; native or emulated).
      type: str
    moved_from:
      description: Nodes the share moved away from, each with why (did not answer; died during the build).
      type: list
      elements: dict
      contains:
        node:
          description: The node it moved away from.
          type: str
        reason:
          description: Why.
          type: str
    fresh_copy:
      description: Whether the node started a fresh copy of the context.
      type: bool
    build_retries:
      description: Retries on this node after transient errors.
      type: int
nodes_down:
  description: Nodes of the builder left out of the build, each with why (did not answer, or died during it).
  returned: when a build ran on a builder of several nodes
  type: list
  elements: dict
  contains:
    node:
      description: The node.
      type: str
    reason:
      description: Why it was left out.
      type: str
builder_container:
  description: The container of a C(docker-container) builder.
  returned: with C(builder.driver=docker-container) when a build ran
  type: str
  sample: buildx_buildkit_jenkins-builder0
manifest:
  description:
    - What a C(docker-container) or C(remote) builder pushed itself (several platforms, attestations).
      The engine then holds no image; C(image) carries C(Id) (the pushed digest), C(RepoTags),
      C(RepoDigests) and C(push_status).
    - A later run is a no-op when the inputs are unchanged and the registry's tag still has the digest
      this host pushed (recorded under the context cache directory).
  returned: when the builder pushed
  type: dict
  contains:
    digest:
      description: Digest of the manifest list or image index.
      type: str
    platforms:
      description: The platforms built.
      type: list
      elements: str
    attestations:
      description: Attestation kinds attached, C(provenance) and/or C(sbom).
      type: list
      elements: str
attestations:
  description: Why no attestation was produced, when C(provenance) or C(sbom) was asked of a builder that cannot make them.
  returned: then
  type: str
rollback:
  description: What C(rollback_tag) kept when C(repository) moved.
  returned: when C(repository) moved with C(rollback_tag) to another image
  type: dict
  contains:
    tag:
      description: The rollback tag.
      type: str
    image:
      description: The image ID C(repository) named before, now under the rollback tag.
      type: str
promotion_settled:
  description:
    - A promotion (C(rollback_tag)) an interrupted run left half done on the tag this task reads or moves, and how it was
      settled before the task did anything else; C(outcome) is C(done) (both tags had moved), C(undone) (the rollback tag was
      put back; the deploy tag had not moved) or C(left) (something else moved the tags since; they are left as they are, with a warning).
  returned: when there was one
  type: dict
  sample: {"deploy": "jenkins/jenkins-master:latest", "rollback": "jenkins/jenkins-master:previous", "from": "sha256:1a2b...",
           "to": "sha256:3c4d...", "outcome": "undone"}
promotion_interrupted:
  description: In check mode, that an interrupted promotion of the tag would be settled by a real run.
  returned: in check mode, when there is one
  type: bool
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
    fresh_copy:
      description:
        - Whether BuildKit was sent a fresh copy of the context (its first build of this context, a file whose
          content changed under the same size and modification time, or after a failed build) rather than
          updating the copy it keeps.
      returned: when BuildKit built
      type: bool
"""
