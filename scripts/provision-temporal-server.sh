#!/usr/bin/env bash
# Provisions the Temporal server that a real cluster runs (deploy/cluster, `npm run cluster`,
# `npm run test:cluster`), of the same version the dev server embeds (the CLI v1.5.1 embeds server v1.29.1):
#
#   TEMPORAL_SERVER     the server: $TEMPORAL_SERVER, else `temporal-server` on PATH, else
#                       .tools/bin/temporal-server, else built:
#                       go install go.temporal.io/server/cmd/server@v1.29.1 (renamed temporal-server)
#   TEMPORAL_SQL_TOOL   the schema tool: $TEMPORAL_SQL_TOOL, else `temporal-sql-tool` on PATH, else
#                       .tools/bin/temporal-sql-tool, else built:
#                       go install go.temporal.io/server/cmd/tools/sql@v1.29.1 (renamed temporal-sql-tool)
#   TEMPORAL_SCHEMA_DIR the PostgreSQL schema files (…/postgresql/v12/{temporal,visibility}): $TEMPORAL_SCHEMA_DIR,
#                       else .tools/temporal-schema/<version>, copied from the server module in the Go module cache.
#
# usage: scripts/provision-temporal-server.sh [--print-paths]
#   Silent when everything is cached; one line per thing built, with the time taken, on stderr (build
#   output in .tools/logs/). --print-paths also prints KEY=<absolute path> for the three on stdout.
# Idempotent and safe to run concurrently (flock). A cached binary of another module version is rebuilt.
set -euo pipefail

SERVER_MODULE="go.temporal.io/server"
SERVER_VERSION="v1.29.1"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/.tools"
logs="$tools/logs"

print_paths=0
case "${1:-}" in
  "") ;;
  --print-paths) print_paths=1 ;;
  -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--print-paths]" >&2; exit 2 ;;
esac

die() { echo "provision-temporal-server: $*" >&2; exit 1; }
note() { echo "provision-temporal-server: $*" >&2; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%d s' $((d / 1000)) $(( (d % 1000) / 100 )); }

locked=0
take_lock() {
  ((locked)) && return
  mkdir -p "$tools/bin" "$logs"
  exec 9>"$tools/.provision-temporal-server.lock"
  flock 9
  locked=1
}

# cached_ok BIN: the binary exists and is of the pinned server module version.
cached_ok() {
  [[ -x "$1" ]] || return 1
  local mod
  mod="$(go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $2, $3 }')" || true
  [[ "$mod" == "$SERVER_MODULE $SERVER_VERSION" ]]
}

# build PACKAGE NAME: go install into a stage on the same file system, then rename into place.
build() {
  local pkg=$1 name=$2 stage log t0
  command -v go >/dev/null 2>&1 || die "Go is not installed: install it (or set the path variables) to get $name"
  stage="$(mktemp -d "$tools/bin/.build.XXXXXX")"
  log="$logs/$name-go-install.log"
  t0=$(now_ms)
  if ! GOBIN="$stage" GOFLAGS=-trimpath go install "$SERVER_MODULE/$pkg@$SERVER_VERSION" >"$log" 2>&1; then
    rm -rf "$stage"
    echo "provision-temporal-server: go install $SERVER_MODULE/$pkg@$SERVER_VERSION failed (log: $log)" >&2
    tail -n 30 "$log" >&2 || true
    exit 1
  fi
  mv -f "$stage/$(basename "$pkg")" "$tools/bin/$name"
  rm -rf "$stage"
  note "built $name $SERVER_VERSION ($tools/bin/$name) in $(secs_since "$t0")"
}

# resolve VAR NAME PACKAGE -> prints the path
resolve() {
  local var=$1 name=$2 pkg=$3 p
  p="${!var:-}"
  if [[ -n "$p" ]]; then
    [[ -x "$p" && ! -d "$p" ]] || die "$var=$p is not an executable file"
    echo "$p"; return
  fi
  if p="$(command -v "$name" 2>/dev/null)" && [[ -n "$p" ]]; then echo "$p"; return; fi
  p="$tools/bin/$name"
  if ! cached_ok "$p"; then
    take_lock
    cached_ok "$p" || build "$pkg" "$name"
  fi
  echo "$p"
}

resolve_schema() {
  if [[ -n "${TEMPORAL_SCHEMA_DIR:-}" ]]; then
    [[ -d "$TEMPORAL_SCHEMA_DIR/temporal/versioned" && -d "$TEMPORAL_SCHEMA_DIR/visibility/versioned" ]] ||
      die "TEMPORAL_SCHEMA_DIR=$TEMPORAL_SCHEMA_DIR has no temporal/versioned and visibility/versioned"
    echo "$TEMPORAL_SCHEMA_DIR"; return
  fi
  local dest="$tools/temporal-schema/$SERVER_VERSION" src
  if [[ ! -f "$dest/.complete" ]]; then
    take_lock
    if [[ ! -f "$dest/.complete" ]]; then
      command -v go >/dev/null 2>&1 || die "Go is not installed: needed to fetch the schema of $SERVER_MODULE"
      src="$(cd "$tools" && GOFLAGS=-mod=mod go mod download -json "$SERVER_MODULE@$SERVER_VERSION" 2>>"$logs/schema.log" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
      [[ -n "$src" && -d "$src/schema/postgresql/v12" ]] || die "no schema/postgresql/v12 in the $SERVER_MODULE@$SERVER_VERSION module (log: $logs/schema.log)"
      rm -rf "$dest"
      mkdir -p "$dest"
      cp -r "$src/schema/postgresql/v12/." "$dest/"
      chmod -R u+w "$dest"
      touch "$dest/.complete"
    fi
  fi
  echo "$dest"
}

server="$(resolve TEMPORAL_SERVER temporal-server cmd/server)"
sql_tool="$(resolve TEMPORAL_SQL_TOOL temporal-sql-tool cmd/tools/sql)"
schema="$(resolve_schema)"

if ((print_paths)); then
  echo "TEMPORAL_SERVER=$server"
  echo "TEMPORAL_SQL_TOOL=$sql_tool"
  echo "TEMPORAL_SCHEMA_DIR=$schema"
fi
