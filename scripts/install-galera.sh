#!/usr/bin/env bash
# Idempotent: Debian's mariadb-server + galera-4 + rsync for the real-Galera tests (test/galera).
# Never starts or enables the system's service (the tests run their own nodes on loopback ports).
set -euo pipefail
have() { command -v mariadbd >/dev/null 2>&1 && command -v rsync >/dev/null 2>&1 && [ -e /usr/lib/galera/libgalera_smm.so ]; }
have && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-galera: mariadb-server/galera-4/rsync missing and not root; apt-get install -y mariadb-server galera-4 rsync" >&2
  exit 1
fi
echo "install-galera: installing mariadb-server galera-4 rsync" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep the packages' post-install scripts from starting the system's mariadb.
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created=1; fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client galera-4 rsync >/dev/null
[ "$created" = 1 ] && rm -f "$policy"
have || { echo "install-galera: still missing" >&2; exit 1; }
