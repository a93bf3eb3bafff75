#!/usr/bin/env bash
# Builds a pinned tool from the Go module proxy inside this tools module and
# caches it by version, so a second CI run does not rebuild it.
#   .ci/tools/build.sh buildx   -> prints the path of docker-buildx
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${TOOLS_CACHE:-$HOME/.cache/jenkins_ha.buildkit/tools}
tool=$1
# Each tool has its own module (here/<dir>/go.mod) so their dependencies never meet.
case "$tool" in
  buildx) dir=buildx; pkg=github.com/docker/buildx/cmd/buildx; mod=github.com/docker/buildx; out=docker-buildx; env=(CGO_ENABLED=0) ;;
  buildkitd) dir=buildkit; pkg=github.com/moby/buildkit/cmd/buildkitd; mod=github.com/moby/buildkit; out=buildkitd; env=(CGO_ENABLED=0) ;;
  buildctl)  dir=buildkit; pkg=github.com/moby/buildkit/cmd/buildctl; mod=github.com/moby/buildkit; out=buildctl; env=(CGO_ENABLED=0) ;;
  trivy)  dir=trivy;  pkg=github.com/aquasecurity/trivy/cmd/trivy; mod=github.com/aquasecurity/trivy; out=trivy; env=(CGO_ENABLED=0 GOEXPERIMENT=jsonv2) ;;
  *) echo "unknown tool $tool" >&2; exit 2 ;;
esac
version=$(cd "$here/$dir" && go list -m -f '{{.Version}}' "$mod")
dest="$cache/$out-$version"
if [ ! -x "$dest" ]; then
  mkdir -p "$cache"
  (cd "$here/$dir" && env "${env[@]}" go build -trimpath -ldflags='-s -w' -o "$dest.tmp" "$pkg") >&2
  mv "$dest.tmp" "$dest"
fi
echo "$dest"
