#!/usr/bin/env bash
# bcm target CHAP hook dispatcher: one hook per storage system.
#
# bcm runs ONE `[targets] chap_hook` command; with several storage systems (say two tgtd
# instances, each with its own management socket) that command must pick the system that
# serves the target. Configure:
#
#   [targets]
#   chap_hook = ["/usr/share/bcm/chap-hook-dispatch.sh", "/etc/bcm/chap-hooks.map"]
#
# The map has one rule per line, `SELECTOR COMMAND [ARG...]` (whitespace-separated; `#` starts
# a comment line). SELECTOR is one of
#   iqn.2026-12.com.example:array1.      a target-name prefix (longest matching prefix wins)
#   portal=10.0.0.5:3260                 a portal in BCM_TARGET_PORTALS (host and port)
#   portal=10.0.0.5  portal=[fd00::5]    any port on that host
#   *                                    the fallback
# Portal rules win over name prefixes, which win over `*`. The chosen COMMAND runs with bcm's
# environment and stdin unchanged (the secret stays on stdin): see docs/PEERS.md, "Target CHAP
# hook", for the contract. Example for two tgtd instances:
#
#   portal=127.0.0.1:3260  env TGT_IPC_SOCKET=/run/tgt/array1.sock /usr/share/bcm/tgt-chap.sh
#   portal=[::1]:3260      env TGT_IPC_SOCKET=/run/tgt/array2.sock /usr/share/bcm/tgt-chap.sh
#
# Exit status: the chosen hook's; 1 (with a message on stderr) when no rule matches.
set -euo pipefail
map="${1:?usage: chap-hook-dispatch.sh MAP-FILE}"
: "${BCM_TARGET:?BCM_TARGET is not set (run by bcm)}"
portals=",${BCM_TARGET_PORTALS:-},"

best_rank=0 best_len=-1 best_line=""
while IFS= read -r line || [ -n "$line" ]; do
    line="${line#"${line%%[![:space:]]*}"}"
    case "$line" in '' | '#'*) continue ;; esac
    sel="${line%%[[:space:]]*}"
    rank=0 len=0
    case "$sel" in
    portal=*)
        p="${sel#portal=}"
        # A host alone matches any port: "h:" starts the portal; "[v6]" likewise.
        if [[ "$portals" == *",$p,"* ]] || [[ "$portals" == *",$p:"* ]]; then
            rank=3 len=${#p}
        fi
        ;;
    '*') rank=1 ;;
    *)
        if [[ "$BCM_TARGET" == "$sel"* ]]; then rank=2 len=${#sel}; fi
        ;;
    esac
    if [ "$rank" -gt "$best_rank" ] || { [ "$rank" -eq "$best_rank" ] && [ "$rank" -gt 0 ] && [ "$len" -gt "$best_len" ]; }; then
        best_rank=$rank best_len=$len best_line="$line"
    fi
done < "$map"

if [ "$best_rank" -eq 0 ]; then
    echo "chap-hook-dispatch: no rule in $map serves $BCM_TARGET (portals ${BCM_TARGET_PORTALS:-unknown})" >&2
    exit 1
fi
read -r -a cmd <<< "${best_line#*[[:space:]]}"
exec "${cmd[@]}"
