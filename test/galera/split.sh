#!/usr/bin/env bash
# Two network namespaces joined by a veth pair, for the real 2+2 split of test/galera (case 7).
# Usage: split.sh up|cut|heal|down TAG
#   up:   namespaces TAG-a and TAG-b, veth TAGa <-> TAGb (192.168.77.1/24 in a, .2/24 in b), and the node
#         addresses 192.168.77.11, .12 on lo of a and .13, .14 on lo of b (on lo they stay reachable inside
#         their namespace while the veth is down; the /24 route via the veth reaches the other namespace).
#   cut:  both ends of the veth down (each namespace keeps its two nodes, loses the other two).
#   heal: both ends up again (the /24 prefix routes come back with the links).
#   down: kill -9 whatever still runs inside the two namespaces (only the test's own nodes and their state
#         transfer helpers live there), then delete them (the veth goes with them); never fails.
# TAG: short (the veth names are TAGa / TAGb, at most 15 characters).
set -euo pipefail
op=$1 tag=$2
A="$tag-a" B="$tag-b" VA="${tag}a" VB="${tag}b"
case "$op" in
  up)
    ip netns add "$A"
    ip netns add "$B"
    ip link add "$VA" type veth peer name "$VB"
    ip link set "$VA" netns "$A"
    ip link set "$VB" netns "$B"
    ip -n "$A" link set lo up
    ip -n "$B" link set lo up
    ip -n "$A" addr add 192.168.77.1/24 dev "$VA"
    ip -n "$B" addr add 192.168.77.2/24 dev "$VB"
    ip -n "$A" addr add 192.168.77.11/32 dev lo
    ip -n "$A" addr add 192.168.77.12/32 dev lo
    ip -n "$B" addr add 192.168.77.13/32 dev lo
    ip -n "$B" addr add 192.168.77.14/32 dev lo
    ip -n "$A" link set "$VA" up
    ip -n "$B" link set "$VB" up
    ;;
  cut)
    ip -n "$A" link set "$VA" down
    ip -n "$B" link set "$VB" down
    ;;
  heal)
    ip -n "$A" link set "$VA" up
    ip -n "$B" link set "$VB" up
    ;;
  down)
    for ns in "$A" "$B"; do
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      # shellcheck disable=SC2086 # one pid a word
      if [ -n "$pids" ]; then kill -9 $pids 2>/dev/null || true; fi
    done
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    ;;
  *) echo "split.sh: unknown operation $op" >&2; exit 2 ;;
esac
