#!/usr/bin/env bash
# A three-node MariaDB Galera cluster on this machine, for trying Edge Executor on a cluster and for the
# test tier test/galera: three mariadbd on 127.0.0.1 with their own data dirs and ports, the first one
# bootstrapping the cluster (--wsrep-new-cluster), the others joining it by rsync state transfer.
#
#   scripts/galera-local.sh start   # prints the database URL: mysql://root@127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/edge
#   scripts/galera-local.sh stop    # stops the nodes (by their pids) and removes the data dirs
#   scripts/galera-local.sh status  # each node's wsrep state
#
# GALERA_DIR (default /tmp/edge-galera) holds node1..node3; GALERA_PORT (default 24300) is the first of
# the ports: node i (1..3) serves SQL on GALERA_PORT+i, group communication on +10+i, incremental state
# transfer on +20+i and full state transfer on +30+i. The system MariaDB (3306/4567) is left alone.
# Needs root (the nodes run as user mysql), mariadb-server, galera-4 and rsync. Not for production:
# docs/deployment.md ("A Galera cluster") says what a production cluster needs.
set -euo pipefail

DIR=${GALERA_DIR:-/tmp/edge-galera}
BASE=${GALERA_PORT:-24300}
PROVIDER=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}
NODES=(1 2 3)

fail() { printf 'galera-local: %s\n' "$*" >&2; exit 1; }
sql_port() { echo $((BASE + $1)); }
gcomm_port() { echo $((BASE + 10 + $1)); }
client() { mariadb --protocol=tcp -h127.0.0.1 -P"$(sql_port "$1")" -uroot --connect-timeout=2 "${@:2}"; }
alive() { local pid; pid=$(cat "$DIR/node$1/mariadbd.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; }
synced() { [ "$(client "$1" -N -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | cut -f2)" = Synced ]; }

cluster_address() {
  local list=() i
  for i in "${NODES[@]}"; do list+=("127.0.0.1:$(gcomm_port "$i")"); done
  (IFS=,; echo "gcomm://${list[*]}")
}

start_node() {
  local i=$1 d="$DIR/node$1" extra=("${@:2}")
  nohup /usr/sbin/mariadbd --no-defaults \
    --datadir="$d/data" --socket="$d/mariadbd.sock" --pid-file="$d/server.pid" \
    --port="$(sql_port "$i")" --bind-address=127.0.0.1 --skip-name-resolve --user=mysql \
    --log-error="$d/error.log" --innodb-buffer-pool-size=64M --innodb-log-file-size=48M \
    --binlog-format=ROW --default-storage-engine=InnoDB --innodb-autoinc-lock-mode=2 \
    --wsrep-on=ON --wsrep-provider="$PROVIDER" --wsrep-cluster-name=edge-local \
    --wsrep-cluster-address="$(cluster_address)" --wsrep-node-name="node$i" \
    --wsrep-node-address="127.0.0.1:$(gcomm_port "$i")" \
    --wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$i");ist.recv_addr=127.0.0.1:$((BASE + 20 + i));gcache.size=64M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.install_timeout=PT6S" \
    --wsrep-sst-method=rsync --wsrep-sst-receive-address="127.0.0.1:$((BASE + 30 + i))" \
    --wsrep-slave-threads=2 \
    "${extra[@]}" >/dev/null 2>&1 &
  echo $! >"$d/mariadbd.pid"
  for _ in $(seq 1 600); do
    synced "$i" && return 0
    alive "$i" || fail "node$i exited while starting; the end of $d/error.log:
$(tail -n 15 "$d/error.log" 2>/dev/null)"
    sleep 0.1
  done
  fail "node$i did not reach Synced within 60 s; the end of $d/error.log:
$(tail -n 15 "$d/error.log" 2>/dev/null)"
}

start() {
  [ "$(id -u)" -eq 0 ] || fail "run as root: the nodes run as user mysql"
  [ -f "$PROVIDER" ] || fail "no Galera provider at $PROVIDER: apt-get install -y galera-4"
  command -v rsync >/dev/null || fail "no rsync (the state transfer method): apt-get install -y rsync"
  for i in "${NODES[@]}"; do alive "$i" && fail "node$i is already running in $DIR; scripts/galera-local.sh stop first"; done
  rm -rf "$DIR"
  install -d -m 0700 -o mysql -g mysql "$DIR"
  for i in "${NODES[@]}"; do install -d -m 0700 -o mysql -g mysql "$DIR/node$i"; done
  # Each node gets an initialised data dir so that it can start; the joiners' are replaced by state
  # transfer. One is made, the others are copies of it (mariadb-install-db takes seconds; a copy does not).
  mariadb-install-db --no-defaults --datadir="$DIR/node1/data" --user=mysql \
    --auth-root-authentication-method=normal --skip-test-db >"$DIR/node1/install.log" 2>&1 \
    || fail "mariadb-install-db failed; see $DIR/node1/install.log"
  for i in "${NODES[@]:1}"; do cp -a "$DIR/node1/data" "$DIR/node$i/data" || fail "cannot copy the data dir to node$i"; done
  start_node 1 --wsrep-new-cluster
  client 1 -e "CREATE DATABASE IF NOT EXISTS edge CHARACTER SET utf8mb4" || fail "cannot create database edge on node1"
  start_node 2
  start_node 3
  echo "mysql://root@127.0.0.1:$(sql_port 1),127.0.0.1:$(sql_port 2),127.0.0.1:$(sql_port 3)/edge"
}

stop() {
  local i pid
  for i in "${NODES[@]}"; do
    pid=$(cat "$DIR/node$i/mariadbd.pid" 2>/dev/null) || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
  for i in "${NODES[@]}"; do
    pid=$(cat "$DIR/node$i/mariadbd.pid" 2>/dev/null) || continue
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$DIR"
}

status() {
  local i
  for i in "${NODES[@]}"; do
    if alive "$i"; then
      printf 'node%s 127.0.0.1:%s %s\n' "$i" "$(sql_port "$i")" "$(client "$i" -N -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | cut -f2)"
    else
      printf 'node%s 127.0.0.1:%s down\n' "$i" "$(sql_port "$i")"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) fail "usage: scripts/galera-local.sh start|stop|status (GALERA_DIR, GALERA_PORT set the folder and the first port)" ;;
esac
