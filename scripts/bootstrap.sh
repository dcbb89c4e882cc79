#!/usr/bin/env bash
# Everything `npm start` and `npm test` need, idempotently, from the registries this machine reaches:
# npm packages (npm ci when the lock file changed), the Temporal binaries, and the compiled sources.
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

# tsc is the build and the type check (strict); then the workflow bundle (dist/workflow-bundle.js), so
# that no worker runs webpack at start.
npx --no-install tsc -p .
node dist/scripts/bundle-workflows.js
