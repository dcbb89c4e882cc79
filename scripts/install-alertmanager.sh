#!/usr/bin/env bash
# Idempotent: Debian's prometheus-alertmanager for the webhook end-to-end tests. Never starts or
# enables the system's service (the tests run their own instance on a loopback port).
set -euo pipefail
command -v prometheus-alertmanager >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-alertmanager: prometheus-alertmanager missing and not root; apt-get install -y prometheus-alertmanager" >&2
  exit 1
fi
echo "install-alertmanager: installing prometheus-alertmanager" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep the package's post-install script from starting a system instance.
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created=1; fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
[ "$created" = 1 ] && rm -f "$policy"
command -v prometheus-alertmanager >/dev/null 2>&1 || { echo "install-alertmanager: still missing" >&2; exit 1; }
