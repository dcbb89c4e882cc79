#!/usr/bin/env bash
# Real MariaDB Galera nodes on loopback for test/galera: one folder per node under $GALERA_ROOT.
# Usage: nodes.sh init N | the wrappers below, called with NODE=<n1..nN> (the test's local transport).
# Optional for init (test/galera/split.sh): GALERA_HOSTS="<addr of n1> <addr of n2> ..." (default 127.0.0.1 each;
# when set, wsrep_node_incoming_address is set too) and GALERA_NETNS="<netns of n1> ..." (the node's mariadbd
# runs under `ip netns exec <netns>`; the name is kept in <node>/netns). The mysql client uses the Unix socket.
set -uo pipefail
ROOT=${GALERA_ROOT:?}
cmd=$(basename "$0")
[ "$cmd" = nodes.sh ] && { cmd=$1; shift; }
map() { case "$1" in /galera/*) echo "$ROOT/$NODE/${1#/galera/}";; *) echo "$1";; esac; }
pidof_node() { [ -f "$ROOT/$NODE/data/mysqld.pid" ] && cat "$ROOT/$NODE/data/mysqld.pid"; }
netns() { [ -s "$ROOT/$NODE/netns" ] && echo ip netns exec "$(cat "$ROOT/$NODE/netns")"; }
alive() { local p; p=$(pidof_node) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null && ! grep -q '^State:.*T' /proc/"$p"/status; }
start() { # start [--wsrep-new-cluster]: returns when the node accepts connections (as systemd Type=notify)
  alive && return 0
  rm -f "$ROOT/$NODE/data/mysqld.pid"
  # shellcheck disable=SC2046 # netns prints nothing or "ip netns exec <name>"; both exec, so $! stays mariadbd
  $(netns) setsid /usr/sbin/mariadbd --defaults-file="$ROOT/$NODE/my.cnf" "$@" </dev/null >>"$ROOT/$NODE/stdout.log" 2>&1 &
  local p=$!
  for _ in $(seq 1 600); do
    kill -0 $p 2>/dev/null || { echo "Job for mariadb.service failed because the control process exited with error code." >&2; tail -5 "$ROOT/$NODE/error.log" >&2; return 1; }
    mysqladmin --socket="$ROOT/$NODE/mysqld.sock" -uroot ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "start timed out" >&2; return 1
}
case "$cmd" in
  init)
    n=$1
    read -r -a hosts <<<"${GALERA_HOSTS:-}"
    read -r -a spaces <<<"${GALERA_NETNS:-}"
    host() { echo "${hosts[$(($1 - 1))]:-127.0.0.1}"; }
    for i in $(seq 1 "$n"); do
      d="$ROOT/n$i"; mkdir -p "$d/data" "$d/tmp"
      h=$(host "$i")
      addr=""; for j in $(seq 1 "$n"); do addr="$addr${addr:+,}$(host "$j"):$((GALERA_BASE + 10*j + 1))"; done
      incoming=""; [ -n "${GALERA_HOSTS:-}" ] && incoming="wsrep_node_incoming_address=$h:$((GALERA_BASE + 10*i))"
      if [ -n "${spaces[$((i - 1))]:-}" ]; then echo "${spaces[$((i - 1))]}" >"$d/netns"; fi
      cat >"$d/my.cnf" <<CNF
[mysqld]
user=mysql
datadir=$d/data
socket=$d/mysqld.sock
pid-file=$d/data/mysqld.pid
port=$((GALERA_BASE + 10*i))
bind-address=$h
log-error=$d/error.log
tmpdir=$d/tmp
skip-name-resolve
innodb_buffer_pool_size=16M
innodb_log_file_size=8M
performance_schema=OFF
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
wsrep_on=ON
wsrep_provider=/usr/lib/galera/libgalera_smm.so
wsrep_cluster_name=medic_test
wsrep_cluster_address=gcomm://$addr
wsrep_node_name=n$i
wsrep_node_address=$h:$((GALERA_BASE + 10*i + 1))
wsrep_sst_receive_address=$h:$((GALERA_BASE + 10*i + 2))
wsrep_provider_options="base_port=$((GALERA_BASE + 10*i + 1));ist.recv_addr=$h:$((GALERA_BASE + 10*i + 3));gcache.size=32M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT5S;evs.inactive_check_period=PT1S;evs.keepalive_period=PT0.5S;pc.wait_prim_timeout=PT5S"
wsrep_sst_method=rsync
$incoming
CNF
      chmod 755 "$ROOT"; chown -R mysql:mysql "$d"
      # One retry, logs shown. (Seen once before tmpdir was per node: "Could not remove temporary table /tmp/#sql-...".)
      for try in 1 2; do
        mariadb-install-db --defaults-file="$d/my.cnf" --user=mysql --auth-root-authentication-method=socket >"$d/install.log" 2>&1 && break
        echo "nodes.sh: mariadb-install-db failed for n$i (try $try):" >&2; cat "$d/install.log" >&2; tail -20 "$d/error.log" >&2 2>/dev/null
        [ "$try" = 2 ] && exit 1
        rm -rf "$d/data"; mkdir -p "$d/data" "$d/tmp"; chown -R mysql:mysql "$d"
      done
    done
    chown -R mysql:mysql "$ROOT"/n*
    ;;
  systemctl)
    case "$1" in
      is-active) if alive; then echo active; else echo inactive; exit 3; fi ;;
      start) start ;;
      *) echo "unsupported" >&2; exit 2 ;;
    esac ;;
  galera_new_cluster) start --wsrep-new-cluster ;;
  cat) exec cat "$(map "$1")" ;;
  tee) exec tee "$(map "$1")" ;;
  mysql) exec mysql --socket="$ROOT/$NODE/mysqld.sock" -uroot ;;
  mariadbd)
    args=(); for a in "$@"; do case "$a" in --log-error=*) f=$(map "${a#--log-error=}"); : >"$f"; chown mysql:mysql "$f"; args+=("--log-error=$f");; *) args+=("$a");; esac; done
    exec /usr/sbin/mariadbd --defaults-file="$ROOT/$NODE/my.cnf" "${args[@]}" ;;
  *) echo "nodes.sh: unknown command $cmd" >&2; exit 2 ;;
esac
