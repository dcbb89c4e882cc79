#!/usr/bin/env bash
# Idempotent: PostgreSQL's server from Debian's packages (postgresql-15) for the project's own Temporal cluster
# (deploy/cluster), and the system user `medic-pg` its instances run as (initdb and postgres refuse to run as
# root). Quiet when both are present. Never starts, enables or touches the system's own PostgreSQL cluster.
set -euo pipefail

have_server() { compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }

if ! have_server; then
  [ "$(id -u)" -eq 0 ] || { echo "install-postgres: PostgreSQL's server is missing and this is not root; install it (apt-get install -y postgresql-15)" >&2; exit 1; }
  echo "install-postgres: installing postgresql-15" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The package's post-install creates and starts a system cluster where systemd/policy-rc.d allow; the project
  # never uses it (its instances have their own data directories and ports).
  apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
  have_server || { echo "install-postgres: /usr/lib/postgresql/*/bin/postgres still missing" >&2; exit 1; }
fi

if [ "$(id -u)" -eq 0 ] && ! id medic-pg >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin medic-pg
fi
