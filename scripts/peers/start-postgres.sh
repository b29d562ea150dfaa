#!/usr/bin/env bash
# Start a throwaway PostgreSQL (Debian's `postgresql`) on 127.0.0.1, as an unprivileged user.
#
# Usage: start-postgres.sh DIR
# Env:   PG_PORT (a free port when unset)  PG_USER (nobody when run as root; else the caller)
# Prints PG_PID PG_PORT PG_URL PG_DATA PG_LOG.
# The cluster lives in DIR/postgres/data (initdb on first start, trust auth on loopback only);
# reusing DIR restarts the same cluster (the partition tests stop and restart it). The server
# refuses to run as root, so root starts it through setpriv as PG_USER.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

DIR="$(peer_dir "${1:-}")"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -n "$BIN" ] || BIN="$(dirname "$(command -v initdb || echo /nonexistent/initdb)")"
if [ ! -x "$BIN/initdb" ] || [ ! -x "$BIN/postgres" ]; then
    echo "start-postgres: initdb/postgres not found (apt-get install postgresql)" >&2
    exit 1
fi
PORT="${PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
if tcp_listening "$PORT"; then echo "start-postgres: TCP port $PORT is taken" >&2; exit 1; fi
W="$DIR/postgres"
mkdir -p "$W"
AS=()
if [ "$(id -u)" = 0 ]; then
    U="${PG_USER:-nobody}"
    G="$(id -gn "$U")"
    AS=(setpriv "--reuid=$U" "--regid=$G" --clear-groups --)
    # The server's user must reach its directory.
    chmod o+x "$DIR"
    chown "$U:$G" "$W"
else
    U="$(id -un)"
fi
if [ ! -f "$W/data/PG_VERSION" ]; then
    "${AS[@]}" "$BIN/initdb" -D "$W/data" -U postgres -A trust --no-sync -E UTF8 \
        >"$DIR/postgres-initdb.log" 2>&1 || { tail -n 30 "$DIR/postgres-initdb.log" >&2; exit 1; }
fi
# fsync stays on: the failover tests kill the server and expect committed rows to survive.
setsid "${AS[@]}" "$BIN/postgres" -D "$W/data" -h 127.0.0.1 -p "$PORT" -k "$W" \
    -c max_connections=60 -c shared_buffers=16MB -c logging_collector=off \
    </dev/null >>"$DIR/postgres.log" 2>&1 &
PID=$!
echo "$PID" > "$DIR/postgres.pid"
# SIGTERM (stop.sh) is a "smart" shutdown that waits for every client: stop fast instead.
echo "${AS[*]} $BIN/pg_ctl -D $W/data stop -m fast -w -t 8" > "$DIR/postgres.stop"
pg_ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres; }
await "$PID" 20 "$DIR/postgres.log" pg_ready
cat <<OUT
PG_PID=$PID
PG_PORT=$PORT
PG_URL=postgres://postgres@127.0.0.1:$PORT/postgres
PG_DATA=$W/data
PG_LOG=$DIR/postgres.log
OUT
