#!/usr/bin/env bash
# Idempotent: make sure Debian's sudo (and visudo) exist for the lab's unprivileged user with sudo
# (test/integration/sudo.test.ts). Quiet when already present. Installs the package only: the lab user
# and its sudoers drop-in are made by the test itself (lab/sudo.ts) and removed after it.
set -euo pipefail

need=()
{ command -v sudo >/dev/null 2>&1 && [ -x /usr/sbin/visudo ]; } || need+=(sudo)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-sudo: missing sudo and not root; install it (apt-get install -y sudo)" >&2
  exit 1
fi
echo "install-sudo: installing sudo" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq sudo >/dev/null
command -v sudo >/dev/null 2>&1 || { echo "install-sudo: sudo still missing" >&2; exit 1; }
[ -x /usr/sbin/visudo ] || { echo "install-sudo: /usr/sbin/visudo still missing" >&2; exit 1; }
