#!/usr/bin/env bash
# Records the event histories of every run the time-skipping suites drive into
# test/replay/histories/<label>/ (label: the first argument, default today's date). The replay test
# (test/replay) replays every recorded history against the current workflow code, so a change to a
# released workflow's command sequence that lacks patched() fails `npm test`.
# Record once per release of changed workflow code; keep older folders while runs of that version may
# still be open anywhere (a crash-resumed run replays its old history).
set -euo pipefail
cd "$(dirname "$0")/.."
label=${1:-$(date -u +%Y-%m-%d)}
[[ "$label" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "record-histories: label must match [A-Za-z0-9._-]+" >&2; exit 2; }
out="test/replay/histories/$label"
bash scripts/bootstrap.sh
rm -rf "$out"
export MEDIC_RECORD_HISTORIES="$PWD/$out"
node --test --test-concurrency=1 --test-timeout=300000 dist/test/workflows/*.test.js dist/test/operator/operator.test.js
echo "record-histories: $(find "$out" -name '*.binpb.gz' | wc -l) histories, $(du -sh "$out" | cut -f1), in $out" >&2
