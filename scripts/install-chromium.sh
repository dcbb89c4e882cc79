#!/usr/bin/env bash
# Idempotent: Debian's chromium for the console's browser tests (test/console), driven by playwright-core
# through executablePath (playwright-core downloads no browser). Quiet when /usr/bin/chromium exists.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-chromium: /usr/bin/chromium missing and not root; apt-get install -y chromium" >&2
  exit 1
fi
echo "install-chromium: installing chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
[ -x /usr/bin/chromium ] || { echo "install-chromium: /usr/bin/chromium still missing" >&2; exit 1; }
