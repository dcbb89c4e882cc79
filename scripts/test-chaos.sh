#!/usr/bin/env bash
# `npm run test:chaos`: the crash matrix (test/chaos): every runbook, SIGKILL of the worker and of the
# whole service tree at every crash point, against the lab over real sshd. Figures: .data/figures/chaos-*.json
# (scripts/reliability-report.ts writes them into RELIABILITY.md).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
bash scripts/install-sshd.sh
rm -f .data/figures/chaos-*.json
mapfile -t files < <(find dist/test/chaos -name '*.chaos.js' | sort)
# Two files at a time (2 cores); each has its own lab, Temporal server and service processes.
exec node --test --test-concurrency=2 --test-timeout=2700000 "${files[@]}"
