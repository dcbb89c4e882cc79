#!/usr/bin/env bash
# `npm test`: set-up (idempotent), type check, lint, then every suite with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh          # npm packages, Temporal binaries, tsc (strict type check)
bash scripts/install-sshd.sh       # the lab's nodes are real OpenSSH servers
bash scripts/install-sudo.sh       # the sudo tests run Debian's real sudo for an unprivileged lab user
bash scripts/install-alertmanager.sh  # the webhook end-to-end tests run a real Alertmanager
bash scripts/install-galera.sh     # test/galera runs real MariaDB Galera nodes
bash scripts/install-chromium.sh   # test/console drives Debian's chromium (playwright-core, no downloaded browser)
echo "test: lint" >&2
npx --no-install eslint --max-warnings 0 .

# The reliability figures of this run (test/helpers/figures.ts); the crash matrix keeps its own.
find .data/figures -maxdepth 1 -name '*.json' ! -name 'chaos-*' -delete 2>/dev/null || true
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
# Two files at a time (2 cores); each time-skipping file has its own test server and clock.
exec node --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
