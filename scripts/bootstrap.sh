#!/usr/bin/env bash
# Everything `npm start` and `npm test` need, idempotently, from the registries this machine reaches:
# npm packages (npm ci when the lock file changed), the Temporal binaries, and the compiled sources.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=node_modules/.medic-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "bootstrap: installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json "$stamp"
fi

bash scripts/provision-temporal.sh

# tsc is the build and the type check (strict).
npx --no-install tsc -p .
