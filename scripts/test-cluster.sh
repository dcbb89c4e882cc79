#!/usr/bin/env bash
# `npm run test:cluster`: the service on the project's own two-node Temporal cluster on PostgreSQL
# (deploy/cluster): scale-out over three `medic worker` processes, worker and node failures, mTLS and
# autoflip on SQL visibility. Each file brings up its own cluster, lab and processes and tears them down.
# Figures: .data/figures/cluster-*.json.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
bash scripts/install-sshd.sh
bash scripts/install-postgres.sh
bash scripts/provision-temporal-server.sh   # builds the server and its schema tool once (cached in .tools)
rm -f .data/figures/cluster-*.json
mapfile -t files < <(find dist/test/cluster -name '*.cluster.js' | sort)
# One file at a time: each runs two Temporal servers, PostgreSQL, a lab and up to five service processes
# on this 2-core machine, and they all use the nodes' addresses 127.0.0.2 and 127.0.0.3.
exec node --test --test-concurrency=1 --test-timeout=900000 "${files[@]}"
