#!/usr/bin/env bash
# Measures how long `go install github.com/temporalio/cli/cmd/temporal@<version>` takes,
# building into a throw-away GOBIN, so it never touches .tools/bin.
#
# usage: scripts/bench/cli-build-time.sh [VERSION]      (default v1.5.1, as provisioned)
#
# It uses the machine's existing Go module cache (GOMODCACHE) and build cache (GOCACHE),
# so it measures the build as a developer re-running it would see it. It is NOT the
# first-ever build: that one also downloads ~400 modules from the Go module proxy and
# compiles everything from scratch (3 min 44 s on this 2-core machine; see RESULTS.md).
# To time that one, run with an empty GOMODCACHE and GOCACHE, e.g.
#   GOMODCACHE=$(mktemp -d) GOCACHE=$(mktemp -d) scripts/bench/cli-build-time.sh
# (GOMODCACHE files are read-only: remove them with `go clean -modcache` under the same env).
#
# Prints `cli build: N.N s (go install <module>@<version>)` on stdout.
set -euo pipefail

version="${1:-v1.5.1}"
module="github.com/temporalio/cli/cmd/temporal"
gobin="$(mktemp -d)"
log="$(mktemp)"
trap 'rm -rf "$gobin" "$log"' EXIT

t0=$(date +%s%N)
if ! GOBIN="$gobin" go install "$module@$version" >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
t1=$(date +%s%N)
"$gobin/temporal" --version >/dev/null
ms=$(( (t1 - t0) / 1000000 ))
printf 'cli build: %d.%d s (go install %s@%s)\n' $((ms / 1000)) $(( (ms % 1000) / 100 )) "$module" "$version"
