#!/usr/bin/env bash
# Builds a pinned tool from the Go module proxy inside this tools module and
# caches it by version, so a second CI run does not rebuild it.
#   .ci/tools/build.sh buildx   -> prints the path of docker-buildx
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${TOOLS_CACHE:-$HOME/.cache/jenkins_ha.buildkit/tools}
tool=$1
# npm tools: installed from their lock file (here/<dir>/package-lock.json) with `npm ci`, cached by version.
case "$tool" in
  npm-groovy-lint)
    dir="$here/groovy-lint"
    version=$(node -p "require('$dir/package-lock.json').packages['node_modules/$tool'].version")
    dest="$cache/$tool-$version"
    if [ ! -x "$dest/node_modules/.bin/$tool" ]; then
      rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
      cp "$dir/package.json" "$dir/package-lock.json" "$dest.tmp/"
      (cd "$dest.tmp" && npm ci --no-audit --no-fund --loglevel=error) >&2
      rm -rf "$dest" && mv "$dest.tmp" "$dest"
    fi
    echo "$dest/node_modules/.bin/$tool"
    exit 0 ;;
esac
tags=""   # build tags
ldx=""    # extra -ldflags; @VERSION@ is replaced by the module version (v1.2.3), @SEMVER@ by 1.2.3
# Each tool has its own module (here/<dir>/go.mod) so their dependencies never meet.
case "$tool" in
  buildx) dir=buildx; pkg=github.com/docker/buildx/cmd/buildx; mod=github.com/docker/buildx; out=docker-buildx; env=(CGO_ENABLED=0) ;;
  buildkitd) dir=buildkit; pkg=github.com/moby/buildkit/cmd/buildkitd; mod=github.com/moby/buildkit; out=buildkitd; env=(CGO_ENABLED=0) ;;
  buildctl)  dir=buildkit; pkg=github.com/moby/buildkit/cmd/buildctl; mod=github.com/moby/buildkit; out=buildctl; env=(CGO_ENABLED=0) ;;
  trivy)  dir=trivy;  pkg=github.com/aquasecurity/trivy/cmd/trivy; mod=github.com/aquasecurity/trivy; out=trivy; env=(CGO_ENABLED=0 GOEXPERIMENT=jsonv2) ;;
  # cosign (v3 and v2), for buildkit_sign's interoperability tests: each verifies what the module signs and signs what it verifies.
  cosign)  dir=cosign;  pkg=github.com/sigstore/cosign/v3/cmd/cosign; mod=github.com/sigstore/cosign/v3; out=cosign; env=(CGO_ENABLED=0)
    ldx='-X sigs.k8s.io/release-utils/version.gitVersion=@VERSION@' ;;
  cosign2) dir=cosign2; pkg=github.com/sigstore/cosign/v2/cmd/cosign; mod=github.com/sigstore/cosign/v2; out=cosign; env=(CGO_ENABLED=0)
    ldx='-X sigs.k8s.io/release-utils/version.gitVersion=@VERSION@' ;;
  # The current Docker Engine (tests/scripts/engine-current.sh): dockerd, docker-proxy, and the
  # containerd, shim and runc it runs, each pinned in its own module.
  dockerd) dir=moby; pkg=github.com/moby/moby/v2/cmd/dockerd; mod=github.com/moby/moby/v2; out=dockerd; env=(CGO_ENABLED=0)
    tags="exclude_graphdriver_btrfs exclude_graphdriver_devicemapper no_btrfs"
    ldx='-X github.com/moby/moby/v2/dockerversion.Version=@VERSION@ -X github.com/moby/moby/v2/dockerversion.GitCommit=@VERSION@' ;;
  docker-proxy) dir=moby; pkg=github.com/moby/moby/v2/cmd/docker-proxy; mod=github.com/moby/moby/v2; out=docker-proxy; env=(CGO_ENABLED=0) ;;
  containerd|containerd-shim-runc-v2) dir=containerd; pkg=github.com/containerd/containerd/v2/cmd/$tool; mod=github.com/containerd/containerd/v2; out=$tool; env=(CGO_ENABLED=0)
    ldx='-X github.com/containerd/containerd/v2/version.Version=@VERSION@' ;;
  runc) dir=runc; pkg=github.com/opencontainers/runc; mod=github.com/opencontainers/runc; out=runc; env=(CGO_ENABLED=1)
    tags=seccomp  # needs libseccomp-dev and pkg-config (Debian packages)
    ldx='-X main.version=@SEMVER@' ;;
  # promtool checks and unit-tests the role's Prometheus alerting rules (files/prometheus-alerts.yml).
  # Prometheus' Go module is v0.<3xx>.<patch> for Prometheus 3.xx.patch.
  promtool) dir=prometheus; pkg=github.com/prometheus/prometheus/cmd/promtool; mod=github.com/prometheus/prometheus; out=promtool; env=(CGO_ENABLED=0)
    ldx='-X github.com/prometheus/common/version.Version=@VERSION@' ;;
  # templ's generator turns buildkit_report's page (module-src/internal/buildkitreport/page.templ) into Go
  # (`make generate`); the runtime it generates for is pinned in the root go.mod at the same version
  # (tests/scripts/generated.sh checks both).
  templ) dir=templ; pkg=github.com/a-h/templ/cmd/templ; mod=github.com/a-h/templ; out=templ; env=(CGO_ENABLED=0) ;;
  *) echo "unknown tool $tool" >&2; exit 2 ;;
esac
version=$(cd "$here/$dir" && go list -m -f '{{.Version}}' "$mod")
dest="$cache/$out-$version"
if [ ! -x "$dest" ]; then
  mkdir -p "$cache"
  ldx=${ldx//@VERSION@/$version}; ldx=${ldx//@SEMVER@/${version#v}}
  (cd "$here/$dir" && env "${env[@]}" go build -trimpath -tags "$tags" -ldflags="-s -w $ldx" -o "$dest.tmp" "$pkg") >&2
  mv "$dest.tmp" "$dest"
fi
echo "$dest"
