#!/usr/bin/env bash
# Provisions the two Temporal executables the tests and the worker need, offline-friendly
# (only package registries are used: the Go module proxy and Maven Central):
#
#   TEMPORAL_CLI          `temporal` CLI (dev server: `temporal server start-dev ...`)
#                         $TEMPORAL_CLI, else `temporal` on PATH, else .tools/bin/temporal,
#                         else built: go install github.com/temporalio/cli/cmd/temporal@v1.5.1
#                         (about 4 min on 2 cores the first time, modules included).
#   TEMPORAL_TEST_SERVER  Java time-skipping test server, started by the TypeScript SDK as
#                         `<executable> <port>` (it must accept a TCP connection within 5 s).
#                         $TEMPORAL_TEST_SERVER, else the wrapper
#                         .tools/temporal-test-server/bin/temporal-test-server, else built:
#                         Maven class path from scripts/test-server/pom.xml + an AppCDS archive
#                         + the wrapper (about 20 s).
#
# usage: scripts/provision-temporal.sh [--print-paths]
#   (no option)     provision; silent when everything is cached. For each thing it builds it
#                   prints one line with the time taken, on stderr. Build output goes to
#                   .tools/logs/*.log (its tail is shown on failure).
#   --print-paths   also print `TEMPORAL_CLI=<path>` and `TEMPORAL_TEST_SERVER=<path>` on
#                   stdout (absolute paths), e.g. eval "$(scripts/provision-temporal.sh --print-paths)"
#
# Idempotent and safe to run concurrently (builds are serialised with flock). A cache entry
# is rebuilt when it no longer matches: the CLI binary's module version (checked with
# `go version -m`), the pom's hash, or the JVM the CDS archive was made with. To force a
# rebuild, delete .tools/bin/temporal or .tools/temporal-test-server.
# Extra JVM options for the test server at run time: $TEMPORAL_TEST_SERVER_JAVA_OPTS.
set -euo pipefail

CLI_MODULE="github.com/temporalio/cli"
CLI_VERSION="v1.5.1" # newest tag `go install` accepts (v1.6.0+ has a replace directive)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/.tools"
logs="$tools/logs"
pom="$repo/scripts/test-server/pom.xml"
ts_dir="$tools/temporal-test-server"
ts_wrapper="$ts_dir/bin/temporal-test-server"
ts_lib="$ts_dir/lib"
ts_cds="$ts_dir/cds/test-server.jsa"
# Chosen by measurement, see scripts/bench/RESULTS.md. The CDS archive is the big win
# (~3x); -Xshare:auto makes a missing/stale archive a silent (stale: one warning on
# stderr) fallback, never a failure. Unified-logging warnings go to stderr, not stdout.
ts_jvm_flags=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -Xmx1g
  -Xlog:disable -Xlog:all=warning:stderr)

print_paths=0
case "${1:-}" in
  "") ;;
  --print-paths) print_paths=1 ;;
  -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--print-paths]" >&2; exit 2 ;;
esac

die() { echo "provision-temporal: $*" >&2; exit 1; }
note() { echo "provision-temporal: $*" >&2; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%d s' $((d / 1000)) $(( (d % 1000) / 100 )); }
fail_with_log() { # message logfile
  echo "provision-temporal: $1 (log: $2)" >&2
  tail -n 30 "$2" >&2 || true
  exit 1
}
sh_quote() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }

lock_fd_open=0
take_lock() {
  if ((lock_fd_open)); then return; fi
  mkdir -p "$tools" "$logs"
  exec 9>"$tools/.provision-temporal.lock"
  flock 9
  lock_fd_open=1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 20000))
    if ! port_open "$p"; then echo "$p"; return 0; fi
  done
  die "no free port found"
}
# wait_listen PID PORT TIMEOUT_MS -> prints ms until the port accepted a connection
wait_listen() {
  local pid=$1 port=$2 limit=$3 t0
  t0=$(now_ms)
  while ! port_open "$port"; do
    kill -0 "$pid" 2>/dev/null || return 1
    (( $(now_ms) - t0 < limit )) || return 1
    sleep 0.02
  done
  echo $(( $(now_ms) - t0 ))
}

# ---------------------------------------------------------------------------------------
# 1. Temporal CLI
# ---------------------------------------------------------------------------------------
cli_bin="$tools/bin/temporal"

cli_cached_ok() { # the .tools binary exists and (if go can tell) is the pinned version
  [[ -x "$cli_bin" ]] || return 1
  if command -v go >/dev/null 2>&1; then
    local mod
    mod="$(go version -m "$cli_bin" 2>/dev/null | awk '$1 == "mod" { print $2, $3 }')" || true
    [[ -z "$mod" || "$mod" == "$CLI_MODULE $CLI_VERSION" ]] || return 1
  fi
}

wait_for_foreign_go_install() {
  local pids
  pids="$(pgrep -f "go install .*${CLI_MODULE}/cmd/temporal" || true)"
  [[ -n "$pids" ]] || return 0
  note "waiting for a running 'go install' of the CLI (pid ${pids//$'\n'/ })"
  while pgrep -f "go install .*${CLI_MODULE}/cmd/temporal" >/dev/null; do sleep 2; done
}

build_cli() {
  command -v go >/dev/null 2>&1 || die "Go is not installed: install it (or set TEMPORAL_CLI) to get the temporal CLI"
  local stage log t0
  stage="$(mktemp -d "$tools/bin/.build.XXXXXX")"
  log="$logs/cli-go-install.log"
  t0=$(now_ms)
  # Stage in .tools/bin (same file system) and rename, so no half-written binary is
  # ever visible at the final path.
  if ! GOBIN="$stage" go install "${CLI_MODULE}/cmd/temporal@${CLI_VERSION}" >"$log" 2>&1; then
    rm -rf "$stage"
    fail_with_log "go install ${CLI_MODULE}/cmd/temporal@${CLI_VERSION} failed" "$log"
  fi
  mv -f "$stage/temporal" "$cli_bin"
  rm -rf "$stage"
  "$cli_bin" --version >/dev/null 2>&1 || die "built $cli_bin does not run"
  note "built temporal CLI ${CLI_VERSION} ($cli_bin) in $(secs_since "$t0")"
}

resolve_cli() {
  if [[ -n "${TEMPORAL_CLI:-}" ]]; then
    [[ -x "$TEMPORAL_CLI" && ! -d "$TEMPORAL_CLI" ]] || die "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable file"
    cli_path="$TEMPORAL_CLI"; return
  fi
  if cli_path="$(command -v temporal 2>/dev/null)" && [[ -n "$cli_path" ]]; then return; fi
  cli_path="$cli_bin"
  cli_cached_ok && return
  mkdir -p "$tools/bin" "$logs"
  take_lock
  wait_for_foreign_go_install
  cli_cached_ok && return
  build_cli
}

# ---------------------------------------------------------------------------------------
# 2. Time-skipping test server
# ---------------------------------------------------------------------------------------
java_bin="" java_id=""
# Sets java_bin (absolute java) and java_id (java + the identity of its libjvm: a JDK
# upgrade invalidates the CDS archive, and package files keep old mtimes, so size+mtime).
find_java() {
  local j jvm_home libjvm
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then j="$JAVA_HOME/bin/java"
  else j="$(command -v java 2>/dev/null)" || die "Java (17+) is not installed: needed for the test server"
  fi
  java_bin="$(readlink -f "$j")"
  jvm_home="$(dirname "$(dirname "$java_bin")")"
  libjvm="$jvm_home/lib/server/libjvm.so"
  java_id="$java_bin"
  if [[ -f "$libjvm" ]]; then java_id+=" $(stat -c '%s %Y' "$libjvm")"; fi
}

pom_hash() { sha256sum "$pom" | cut -d' ' -f1; }

lib_ok() {
  [[ -f "$ts_dir/lib.stamp" && "$(cat "$ts_dir/lib.stamp")" == "$(pom_hash)" && -s "$ts_dir/classpath.txt" ]] || return 1
  local jar
  while IFS= read -r jar; do [[ -f "$ts_lib/$jar" ]] || return 1; done <"$ts_dir/classpath.txt"
}
cds_ok() { [[ -s "$ts_cds" && -f "$ts_dir/cds.stamp" && "$(cat "$ts_dir/cds.stamp")" == "$1" ]]; }
wrapper_ok() { [[ -x "$ts_wrapper" && -f "$ts_dir/wrapper.stamp" && "$(cat "$ts_dir/wrapper.stamp")" == "$1" ]]; }

build_lib() {
  command -v mvn >/dev/null 2>&1 || die "Maven is not installed: needed to resolve the test server's class path"
  local log="$logs/test-server-mvn.log" t0 stage
  t0=$(now_ms)
  mkdir -p "$ts_dir"
  stage="$(mktemp -d "$ts_dir/.lib.XXXXXX")"
  chmod 755 "$stage"
  if ! mvn -B -q -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
      -DoutputDirectory="$stage" >"$log" 2>&1; then
    rm -rf "$stage"
    fail_with_log "mvn dependency:copy-dependencies failed" "$log"
  fi
  if ! compgen -G "$stage/temporal-test-server-*.jar" >/dev/null; then
    rm -rf "$stage"; die "no temporal-test-server jar resolved"
  fi
  rm -rf "$ts_lib" "$ts_cds" "$ts_dir/cds.stamp" "$ts_dir/wrapper.stamp"
  mv "$stage" "$ts_lib"
  (cd "$ts_lib" && ls -1 -- *.jar) >"$ts_dir/classpath.txt"
  pom_hash >"$ts_dir/lib.stamp"
  note "built test server class path ($(wc -l <"$ts_dir/classpath.txt") jars, $ts_lib) in $(secs_since "$t0")"
}

# Dynamic AppCDS archive: run the server once with -XX:ArchiveClassesAtExit, wait until it
# listens, SIGTERM it (the JVM writes the archive on its way out), check the archive maps
# with -Xshare:on (a truncated archive would crash the JVM), then rename it into place.
build_cds() {
  local identity=$1 log="$logs/test-server-cds.log" t0 tmp port pid ms
  t0=$(now_ms)
  mkdir -p "$(dirname "$ts_cds")"
  rm -f "$ts_cds" "$ts_dir/cds.stamp"
  tmp="$ts_cds.tmp.$$"
  rm -f "$tmp"
  port="$(free_port)"
  "$java_bin" "${ts_jvm_flags[@]}" -XX:ArchiveClassesAtExit="$tmp" -cp "$ts_lib/*" \
    io.temporal.testserver.TestServer "$port" >"$log" 2>&1 &
  pid=$!
  if ! ms="$(wait_listen "$pid" "$port" 60000)"; then
    kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$tmp"
    fail_with_log "test server did not listen while creating the CDS archive" "$log"
  fi
  sleep 0.5 # let the post-bind start-up finish so its classes land in the archive too
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  if [[ ! -s "$tmp" ]] || ! "$java_bin" -Xshare:on -XX:SharedArchiveFile="$tmp" "${ts_jvm_flags[@]}" \
      -cp "$ts_lib/*" -version >>"$log" 2>&1; then
    rm -f "$tmp"
    note "WARNING: could not create a usable CDS archive (log: $log); the test server will start without it (slower)"
    return 0
  fi
  mv -f "$tmp" "$ts_cds"
  echo "$identity" >"$ts_dir/cds.stamp"
  note "built test server CDS archive ($ts_cds) in $(secs_since "$t0")"
}

write_wrapper() {
  local tmp
  mkdir -p "$(dirname "$ts_wrapper")"
  tmp="$ts_wrapper.tmp.$$"
  {
    echo '#!/bin/sh'
    echo '# Generated by scripts/provision-temporal.sh -- do not edit, rerun that script.'
    echo "# Temporal time-skipping test server ($(sed -n 's/^\(temporal-test-server-.*\)\.jar$/\1/p' "$ts_dir/classpath.txt"))."
    echo '# usage: temporal-test-server <port>   (as the TypeScript SDK starts it)'
    echo '# exec: the SDK stops only its direct child, so the JVM must replace this shell.'
    echo '# No --enable-time-skipping: the SDK locks/unlocks time skipping itself.'
    echo '# -Xshare:auto: a missing or stale CDS archive only makes the start slower.'
    # shellcheck disable=SC2016 # literal $ wanted: expanded by the wrapper, not here
    echo '# $TEMPORAL_TEST_SERVER_JAVA_OPTS: extra JVM options (word-split).'
    printf 'exec %s' "$(sh_quote "$java_bin")"
    printf ' %s' "${ts_jvm_flags[@]}"
    printf ' \\\n  -Xshare:auto -XX:SharedArchiveFile=%s' "$(sh_quote "$ts_cds")"
    # shellcheck disable=SC2016
    printf ' \\\n  $TEMPORAL_TEST_SERVER_JAVA_OPTS'
    printf ' \\\n  -cp %s io.temporal.testserver.TestServer "$@"\n' "$(sh_quote "$ts_lib/*")"
  } >"$tmp"
  chmod 755 "$tmp"
  mv -f "$tmp" "$ts_wrapper"
}

# Starts the wrapper once and reports how long until it listens (and fails the build if it
# cannot be reached within the SDK's 5 s).
check_wrapper() {
  local t0=$1 port pid ms log="$logs/test-server-check.log"
  port="$(free_port)"
  "$ts_wrapper" "$port" >"$log" 2>&1 &
  pid=$!
  if ! ms="$(wait_listen "$pid" "$port" 5000)"; then
    kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    fail_with_log "$ts_wrapper did not accept a connection within 5 s" "$log"
  fi
  sleep 0.3 # a SIGTERM right at bind time makes main() log "Shutdown in progress"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  note "built test server wrapper ($ts_wrapper) in $(secs_since "$t0"); it listens ${ms} ms after exec"
}

resolve_test_server() {
  if [[ -n "${TEMPORAL_TEST_SERVER:-}" ]]; then
    [[ -x "$TEMPORAL_TEST_SERVER" && ! -d "$TEMPORAL_TEST_SERVER" ]] || die "TEMPORAL_TEST_SERVER=$TEMPORAL_TEST_SERVER is not an executable file"
    ts_path="$TEMPORAL_TEST_SERVER"; return
  fi
  ts_path="$ts_wrapper"
  local identity
  find_java
  identity="$java_id|$(pom_hash)"
  if lib_ok && cds_ok "$identity" && wrapper_ok "$identity"; then return; fi
  take_lock
  # (plain `if`s, not `a || b`: bash ignores `set -e` inside a function called from `||`)
  if ! lib_ok; then build_lib; fi
  if ! cds_ok "$identity"; then build_cds "$identity"; fi
  if ! wrapper_ok "$identity"; then
    local t0; t0=$(now_ms)
    write_wrapper
    check_wrapper "$t0"
    echo "$identity" >"$ts_dir/wrapper.stamp"
  fi
}

cli_path="" ts_path=""
resolve_cli
resolve_test_server

if ((print_paths)); then
  echo "TEMPORAL_CLI=$cli_path"
  echo "TEMPORAL_TEST_SERVER=$ts_path"
fi
