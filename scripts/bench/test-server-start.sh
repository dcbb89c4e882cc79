#!/usr/bin/env bash
# Measures how long the time-skipping test server takes from exec until its port
# accepts a TCP connection -- the thing the TypeScript SDK waits for (it gives up
# after 5 s: 50 polls, 100 ms apart).
#
# usage: scripts/bench/test-server-start.sh [-n RUNS] [--load] [--cold] [--port P] [-- CMD [ARGS...]]
#   -n RUNS   number of starts (default 5)
#   --load    keep both cores busy (`yes > /dev/null` x nproc) while measuring
#   --cold    drop the page cache before every start (needs root; slows the whole
#             machine for a moment)
#   --port P  port handed to the server (default: a free one picked per run)
#   -- CMD    command to start instead of the provisioned wrapper; the port is
#             appended as its last argument, as the SDK does
#             e.g. -- java -XX:TieredStopAtLevel=1 -cp '.tools/temporal-test-server/lib/*' io.temporal.testserver.TestServer
#
# Prints one line per run and then `min=… median=… max=… ms (n=…)`.
# Every server is stopped with SIGTERM after it accepted a connection.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs=5 load=0 cold=0 fixed_port=""
cmd=()
while (($#)); do
  case "$1" in
    -n) runs="$2"; shift 2 ;;
    --load) load=1; shift ;;
    --cold) cold=1; shift ;;
    --port) fixed_port="$2"; shift 2 ;;
    --) shift; cmd=("$@"); break ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

if ((${#cmd[@]} == 0)); then
  exe="$(bash "$repo/scripts/provision-temporal.sh" --print-paths | sed -n 's/^TEMPORAL_TEST_SERVER=//p')"
  cmd=("$exe")
fi

burners=()
out="$(mktemp)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  for p in "${burners[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -f "$out"
}
trap cleanup EXIT

free_port() {
  # a random high port on which nothing answers
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}

if ((load)); then
  for _ in $(seq "$(nproc)"); do yes >/dev/null & burners+=($!); done
fi

times=()
for i in $(seq "$runs"); do
  port="${fixed_port:-$(free_port)}"
  if ((cold)); then sync; echo 3 >/proc/sys/vm/drop_caches; fi
  t0=$(date +%s%N)
  "${cmd[@]}" "$port" >"$out" 2>&1 &
  server_pid=$!
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "run $i: server exited before listening:" >&2; cat "$out" >&2; exit 1
    fi
    t=$(date +%s%N)
    if (( (t - t0) > 60000000000 )); then echo "run $i: not listening after 60 s" >&2; exit 1; fi
    sleep 0.01
  done
  t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  times+=("$ms")
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  echo "run $i: ${ms} ms"
done

mapfile -t sorted < <(printf '%s\n' "${times[@]}" | sort -n)
n=${#sorted[@]}
if ((n % 2)); then median=${sorted[n/2]}; else median=$(( (sorted[n/2-1] + sorted[n/2]) / 2 )); fi
echo "min=${sorted[0]} median=${median} max=${sorted[n-1]} ms (n=${n}$( ((load)) && echo ", under load")$( ((cold)) && echo ", cold page cache"))"
