#!/usr/bin/env bash
# Makes sure this machine has what `npm test` needs beyond node_modules, installing what is missing:
# Debian's chromium (browser tests of the web pages; never a downloaded browser), python3-grpcio,
# protobuf-compiler and protobuf-compiler-grpc (the examples/python test), openssl (the TLS test makes a
# private CA), galera-4 and rsync (test/galera starts a three-node cluster with scripts/galera-local.sh),
# and a MariaDB answering at 127.0.0.1:3306 as root with an empty password (the store tests).
# Idempotent and quick when all is there. Used by `npm test` (pretest) and so by .ci/run.
# What cannot be installed is one line on stderr and exit 1.
set -uo pipefail

fail() { printf 'test prerequisites: %s\n' "$*" >&2; exit 1; }

have_chromium() { [ -x /usr/bin/chromium ]; }
have_python_grpc() { /usr/bin/python3 -c 'import grpc' >/dev/null 2>&1; }
have_protoc() { command -v protoc >/dev/null 2>&1; }
have_grpc_plugin() { command -v grpc_python_plugin >/dev/null 2>&1; }
have_openssl() { command -v openssl >/dev/null 2>&1; }
have_mariadbd() { [ -x /usr/sbin/mariadbd ]; }
have_galera() { [ -f /usr/lib/galera/libgalera_smm.so ]; }
have_rsync() { command -v rsync >/dev/null 2>&1; }
mariadb_up() { command -v mysql >/dev/null 2>&1 && mysql --protocol=tcp -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; }

missing_packages() {
  have_chromium || echo chromium
  have_python_grpc || echo python3-grpcio
  have_protoc || echo protobuf-compiler
  have_grpc_plugin || echo protobuf-compiler-grpc
  have_openssl || echo openssl
  mariadb_up || have_mariadbd || echo mariadb-server
  have_galera || echo galera-4
  have_rsync || echo rsync
}

ensure() {
  local missing
  missing=$(missing_packages | tr '\n' ' ')
  if [ -n "${missing// /}" ]; then
    command -v apt-get >/dev/null 2>&1 || fail "missing ${missing% } and there is no apt-get to install them with"
    echo "test prerequisites: installing ${missing% } (apt-get)" >&2
    apt-get update -qq >/dev/null 2>&1 || fail "apt-get update failed; install by hand: apt-get install -y ${missing% }"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null 2>&1 \
      || fail "apt-get install failed; install by hand: apt-get install -y ${missing% }"
    missing=$(missing_packages | tr '\n' ' ')
    [ -z "${missing// /}" ] || fail "still missing after apt-get install: ${missing% }"
  fi

  if ! mariadb_up; then
    install -d -o mysql -g mysql /run/mysqld
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql >/dev/null 2>&1
    for _ in $(seq 1 60); do
      mariadb_up && break
      # root over the socket works where root over TCP is refused: allow both, with the empty password.
      mysql -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket" >/dev/null 2>&1 || true
      sleep 1
    done
    mariadb_up || fail "MariaDB was started but does not answer at 127.0.0.1:3306 as root with an empty password"
  fi
}

all_there() { [ -z "$(missing_packages)" ] && mariadb_up; }
all_there && exit 0

if [ "$(id -u)" -ne 0 ]; then
  missing=$(missing_packages | tr '\n' ' ')
  [ -n "${missing// /}" ] && fail "missing ${missing% }; as root: scripts/test-prereqs.sh, or apt-get install -y ${missing% }"
  fail "MariaDB does not answer at 127.0.0.1:3306 as root with an empty password; as root, scripts/test-prereqs.sh starts it"
fi

# Two runs at once (two terminals, CI jobs on one machine) would fight over apt's lock or start MariaDB twice.
lock=${TMPDIR:-/tmp}/edge-test-prereqs.lock
exec 9>>"$lock" || fail "cannot open the lock file $lock"
flock 9 || fail "cannot take the lock $lock"
ensure
