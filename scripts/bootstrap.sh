#!/usr/bin/env bash
# Everything `npm start` and `npm test` need, idempotently, from the registries this machine reaches:
# npm packages (npm install when the lock file changed), the Temporal binaries, and the build (when a
# source changed). Silent when nothing is to be done.
set -euo pipefail
cd "$(dirname "$0")/.."

# `npm install`, not `npm ci`: with this machine's npmrc (omit-lockfile-registry-resolved) npm 11
# leaves other platforms' optional packages (@swc/core-*) out of the lock, and `npm ci` then refuses
# the lock as out of sync. `npm install` installs the locked versions all the same.
stamp=node_modules/.medic-lock-stamp
if [ ! -f "$stamp" ] || ! cat package.json package-lock.json | cmp -s - "$stamp"; then
  echo "bootstrap: installing npm packages" >&2
  npm install --no-audit --no-fund --loglevel=error >&2
  cat package.json package-lock.json > "$stamp"
fi

bash scripts/provision-temporal.sh

# The build: tsc (the compiled sources and the strict type check), then the workflow bundle
# (dist/workflow-bundle.js, so that no worker runs webpack at start). Done again only when an input
# changed since the last build that succeeded: dist/.build-stamp holds the hash of every .ts and .json
# file of the sources (node_modules, dist, .tools, .data, .lab and .git left out; package-lock.json
# included) and of this script. The stamp goes before a build and is written after it succeeded, so a
# failed type check fails every run until it is fixed. One build at a time (flock), and the hash is taken
# before the build: a file saved during it makes the next run build again.
build_inputs_hash() {
  {
    find . \( -name node_modules -o -name dist -o -name .tools -o -name .data -o -name .lab -o -name .git \) -prune \
      -o -type f \( -name '*.ts' -o -name '*.json' \) -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    sha256sum scripts/bootstrap.sh
  } | sha256sum | cut -d' ' -f1
}
mkdir -p dist
exec 8>dist/.build-lock
flock 8
inputs="$(build_inputs_hash)"
if [[ "$(cat dist/.build-stamp 2>/dev/null)" != "$inputs" || ! -f dist/worker/main.js || ! -f dist/workflow-bundle.js ]]; then
  if [[ -f dist/.build-stamp ]]; then why="sources changed since the last build"
  elif [[ -f dist/worker/main.js ]]; then why="the last build failed or was interrupted"
  else why="no build yet"; fi
  echo "bootstrap: building ($why): tsc, the workflow bundle" >&2
  rm -f dist/.build-stamp
  npx --no-install tsc -p .
  node dist/scripts/bundle-workflows.js
  echo "$inputs" >dist/.build-stamp
fi
exec 8>&-
