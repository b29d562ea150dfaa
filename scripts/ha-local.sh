#!/usr/bin/env bash
# Three `bcm serve` instances on a throwaway PostgreSQL and isnsd, all on 127.0.0.1 (issue 20).
#
# Usage: scripts/ha-local.sh [DIR]     (Ctrl-C stops everything; DIR keeps logs and configs)
# Env:   BCM (target/debug/bcm, built when missing)  BCM_HA_FIRST_PORT (8461: APIs on 8461-8463)
#        BCM_BMC_PASSWORD (admin: the BMCs' password written into the configs)
# Needs the peers of scripts/install-peers.sh (postgresql, open-isns). Add storage (tgtd) and
# [[server]] entries to DIR/bcm-*.toml to provision; each instance prints its role in its log.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
DIR="${1:-$(mktemp -d "${TMPDIR:-/tmp}/bcm-ha.XXXXXX")}"
mkdir -p "$DIR"
BCM="${BCM:-$ROOT/target/debug/bcm}"
[ -x "$BCM" ] || (cd "$ROOT" && cargo build --quiet -p bcm --bin bcm)
FIRST="${BCM_HA_FIRST_PORT:-8461}"

pids=()
stop() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    bash "$HERE/peers/stop.sh" "$DIR/peers"
}
trap stop EXIT INT TERM

eval "$(bash "$HERE/peers/start-postgres.sh" "$DIR/peers")"
ISNSD_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
eval "$(ISNSD_PORT=$ISNSD_PORT ISNSD_DEBUG= bash "$HERE/peers/start-isnsd.sh" "$DIR/peers")"

for n in 0 1 2; do
    cat > "$DIR/bcm-$n.toml" <<CONF
[manager]
store = "$DIR/unused-$n.sqlite"

[store]
url = "$PG_URL"
lease = "6s"

[isns]
server = "127.0.0.1:$ISNSD_PORT"
control_node = "iqn.2026-01.com.example:bcm-$n"

[bmc]
password = { value = "${BCM_BMC_PASSWORD:-admin}" }

[api]
listen = "127.0.0.1:$((FIRST + n))"
CONF
    "$BCM" --log bcm=info -c "$DIR/bcm-$n.toml" serve >"$DIR/serve-$n.log" 2>&1 &
    pids+=("$!")
done
echo "PostgreSQL $PG_URL, isnsd 127.0.0.1:$ISNSD_PORT, logs and configs in $DIR"
echo "APIs: http://127.0.0.1:$FIRST http://127.0.0.1:$((FIRST + 1)) http://127.0.0.1:$((FIRST + 2))"
echo "leader: psql $PG_URL -c 'SELECT holder, api, token, expires_at FROM leader_lease'"
wait
