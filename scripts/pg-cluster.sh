#!/usr/bin/env bash
# A private PostgreSQL cluster for the team-store tests: initdb into a temporary directory as the
# `postgres` OS user, trust authentication on loopback only, a free port.
#
#   scripts/pg-cluster.sh start DIR   # prints the superuser URL (postgres://postgres@127.0.0.1:PORT/postgres)
#   PG_CLUSTER_PASSWORD=... scripts/pg-cluster.sh start-tls DIR
#                                     # TLS only (a self-signed certificate made by openssl) and
#                                     # passwords (scram) on loopback; the superuser's password is
#                                     # taken from the environment (never an argument, never printed)
#   scripts/pg-cluster.sh stop DIR    # stops it and removes DIR
#
# The server binaries come from PATH or /usr/lib/postgresql/<version>/bin; `ensure` installs them
# with apt where they are missing (Debian or Ubuntu, as root).
set -euo pipefail

find_bin() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return
    fi
  done
  return 1
}

ensure() {
  if find_bin >/dev/null && pgcrypto_ok; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing postgresql (server and contrib for pgcrypto)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      postgresql postgresql-contrib >/dev/null
  else
    echo "no PostgreSQL server and cannot install it (not root or no apt-get)" >&2
    return 1
  fi
}

pgcrypto_ok() {
  local bin share
  bin=$(find_bin) || return 1
  share=$("$bin/pg_config" --sharedir 2>/dev/null || true)
  if [ -z "$share" ]; then
    # pg_config is not always beside initdb; the Debian layout keeps extensions here.
    share=$(ls -d /usr/share/postgresql/*/ 2>/dev/null | sort -V -r | head -n1)
  fi
  [ -n "$share" ] && [ -f "${share%/}/extension/pgcrypto.control" ]
}

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $(( 20000 + RANDOM % 20000 ))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres 2>/dev/null ||
        adduser --system --group --home /var/lib/postgresql postgres >/dev/null
    fi
    # runuser keeps no environment of ours beyond what we pass.
    runuser -u postgres -- env PATH="$PATH" "$@"
  else
    "$@"
  fi
}

start() {
  local dir=$1 tls=${2:-} bin port
  ensure
  bin=$(find_bin)
  mkdir -p "$dir"
  chmod 0700 "$dir"
  [ "$(id -u)" = 0 ] && as_postgres true && chown postgres "$dir"
  local pw=()
  if [ -n "$tls" ]; then
    # The superuser's password through a private file, never on a command line.
    printf '%s\n' "$tls" >"$dir/pw"
    chmod 0600 "$dir/pw"
    [ "$(id -u)" = 0 ] && chown postgres "$dir/pw"
    pw=(--pwfile="$dir/pw")
  fi
  as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
    --locale=C.UTF-8 "${pw[@]}" >"$dir/initdb.log" 2>&1 || {
      rm -f "$dir/pw"
      cat "$dir/initdb.log" >&2
      return 1
    }
  rm -f "$dir/pw"
  port=$(free_port)
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
max_connections = 100
shared_buffers = 128MB
CONF
  if [ -n "$tls" ]; then
    # A self-signed certificate for 127.0.0.1; TCP connections must use TLS and a password.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
      -keyout "$dir/data/server.key" -out "$dir/data/server.crt" >/dev/null 2>&1
    chmod 0600 "$dir/data/server.key"
    [ "$(id -u)" = 0 ] && chown postgres "$dir/data/server.key" "$dir/data/server.crt"
    cat >>"$dir/data/postgresql.conf" <<CONF
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
password_encryption = 'scram-sha-256'
CONF
    cat >"$dir/data/pg_hba.conf" <<HBA
local   all all trust
hostssl all all 127.0.0.1/32 scram-sha-256
HBA
  else
    # Loopback only, trust: the cluster lives as long as the test run, on a private port.
    cat >"$dir/data/pg_hba.conf" <<HBA
local all all trust
host  all all 127.0.0.1/32 trust
HBA
  fi
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || {
    cat "$dir/server.log" >&2
    return 1
  }
  echo "$port" >"$dir/port"
  echo "postgres://postgres@127.0.0.1:$port/postgres"
}

stop() {
  local dir=$1 bin
  bin=$(find_bin) || true
  if [ -n "${bin:-}" ] && [ -d "$dir/data" ]; then
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  ensure) ensure ;;
  start) start "${2:?usage: pg-cluster.sh start DIR}" ;;
  start-tls) start "${2:?usage: pg-cluster.sh start-tls DIR}" "${PG_CLUSTER_PASSWORD:?set PG_CLUSTER_PASSWORD}" ;;
  stop) stop "${2:?usage: pg-cluster.sh stop DIR}" ;;
  *) echo "usage: pg-cluster.sh ensure | start DIR | start-tls DIR | stop DIR" >&2; exit 2 ;;
esac
