#!/usr/bin/env bash
# Idempotent: make sure OpenSSH's server (/usr/sbin/sshd) and ssh-keygen exist for the test lab.
# Quiet when both are already present. Never starts or enables the system's ssh service.
set -euo pipefail

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-sshd: missing ${need[*]} and not root; install them (apt-get install -y ${need[*]})" >&2
  exit 1
fi
echo "install-sshd: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d / missing systemd may make the post-install script warn that it cannot start the service; fine.
apt-get install -y -qq "${need[@]}" >/dev/null
mkdir -p /run/sshd
[ -x /usr/sbin/sshd ] || { echo "install-sshd: /usr/sbin/sshd still missing" >&2; exit 1; }
command -v ssh-keygen >/dev/null 2>&1 || { echo "install-sshd: ssh-keygen still missing" >&2; exit 1; }
