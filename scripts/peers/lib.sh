# Shared helpers for the peer start scripts. Source it, do not run it.
#
# Contract of every start-<peer>.sh in this directory:
#   $1      scratch directory for the peer (created if missing);
#   stdout  KEY=VALUE lines only (eval-able, parsed by harness.rs);
#   DIR/<name>.pid  PID of every process started (stop.sh signals exactly these);
#   DIR/<name>.log  the daemon's output; DIR/<name>.stop an optional graceful-stop hook.
# Daemons are detached (setsid, stdio redirected) so `$(start-x.sh)` returns at once.
set -euo pipefail

peer_dir() {
    local d="${1:-}"
    [ -n "$d" ] || d="$(mktemp -d "${TMPDIR:-/tmp}/peer.XXXXXX")"
    mkdir -p "$d"
    (cd "$d" && pwd)
}

# tcp_listening PORT -> success when something listens on TCP PORT.
tcp_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
# udp_bound PORT -> success when a UDP socket is bound to PORT.
udp_bound() { ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }

# await PID SECONDS LOG CHECK... -> polls CHECK every 50 ms while PID lives.
await() {
    local pid="$1" secs="$2" log="$3" i
    shift 3
    for ((i = 0; i < secs * 20; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "peer pid $pid exited during start-up; its log:" >&2
            tail -n 40 "$log" >&2 || true
            return 1
        fi
        if "$@"; then return 0; fi
        sleep 0.05
    done
    echo "peer pid $pid not ready after ${secs}s ($*); its log:" >&2
    tail -n 40 "$log" >&2 || true
    return 1
}

now_ms() { date +%s%3N; }
