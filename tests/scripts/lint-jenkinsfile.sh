#!/usr/bin/env bash
# Lints the collection's Jenkinsfile (examples/Jenkinsfile) with npm-groovy-lint (CodeNarc, its
# recommended-jenkinsfile rules: examples/.groovylintrc.json) on Debian's JDK, offline: in a network
# namespace of its own where the machine allows one. Any finding, down to info, fails. A Jenkinsfile
# that does not parse must fail too, or the linter is not really running.
set -euo pipefail
cd "$(dirname "$0")/../.."
lint=$(.ci/tools/build.sh npm-groovy-lint)
command -v java >/dev/null || { echo "java is not installed (Debian package default-jre-headless)"; exit 1; }
offline=()
if unshare --net true 2>/dev/null; then offline=(unshare --net --); fi
run() { "${offline[@]}" "$lint" --noserver --failon info --config "$PWD/examples" "$@"; }

echo "-- examples/Jenkinsfile (${offline:+offline, }$("$lint" --version 2>/dev/null | grep -m1 -i 'npm-groovy-lint' || echo npm-groovy-lint))"
run examples/Jenkinsfile

broken=$(mktemp -d)
trap 'rm -rf "$broken"' EXIT
head -n -3 examples/Jenkinsfile > "$broken/Jenkinsfile"  # cut off the closing braces
if run "$broken/Jenkinsfile" >"$broken/out" 2>&1; then
  cat "$broken/out"; echo "npm-groovy-lint passed a Jenkinsfile that does not parse"; exit 1
fi
echo "-- a Jenkinsfile that does not parse is refused, as it should be"
