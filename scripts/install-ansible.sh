#!/usr/bin/env bash
# Idempotent: Debian's ansible-core (ansible-playbook) for the peer benchmarks (test/bench/peers.ts).
# Quiet when ansible-playbook is already present. Installs no collections and configures nothing.
set -euo pipefail

command -v ansible-playbook >/dev/null 2>&1 && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-ansible: ansible-playbook missing and not root; install it (apt-get install -y ansible-core)" >&2
  exit 1
fi
echo "install-ansible: installing ansible-core" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends ansible-core >/dev/null
command -v ansible-playbook >/dev/null 2>&1 || { echo "install-ansible: ansible-playbook still missing" >&2; exit 1; }
