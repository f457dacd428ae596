#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests (Debian's `postgresql` package):
#
#   scripts/throwaway-postgres.sh start DIR   # prints the URL: postgresql+psycopg://...
#   scripts/throwaway-postgres.sh stop DIR    # stops it and removes DIR
#
# DIR must be a new empty folder (mktemp -d). The cluster is made there with initdb, listens
# on 127.0.0.1 on a free port and on a unix socket in DIR, trusts local connections (it
# holds only test data and lives for one run), and is run by an unprivileged user when
# started as root (initdb refuses root): `postgres` (made by the package) or `nobody`.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

bindir=""
for candidate in /usr/lib/postgresql/*/bin; do
  if [ -x "$candidate/initdb" ]; then bindir=$candidate; fi  # the newest version wins
done
if [ -z "$bindir" ]; then
  echo "PostgreSQL is not installed: install the Debian package postgresql (scripts/setup-system.sh does, as root)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    local user=postgres
    id -u postgres >/dev/null 2>&1 || user=nobody
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
      user=postgres
      id -u postgres >/dev/null 2>&1 || user=nobody
      chown "$user" "$dir"
    fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bindir/initdb" -D "$dir/data" -U signflow -A trust -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { tail -n 20 "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" \
      start >/dev/null || { tail -n 20 "$dir/server.log" >&2; exit 1; }
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U signflow signflow_test
    echo "$port" > "$dir/port"
    echo "postgresql+psycopg://signflow@127.0.0.1:$port/signflow_test"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
