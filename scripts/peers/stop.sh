#!/usr/bin/env bash
# Stop every peer recorded in DIR: run DIR/*.stop hooks (10 s each), SIGTERM each
# PID in DIR/*.pid, wait STOP_GRACE seconds (3), SIGKILL what is left. Only the
# recorded PIDs are ever signalled. Logs stay for inspection.
set -uo pipefail
DIR="${1:?usage: stop.sh DIR}"
[ -d "$DIR" ] || exit 0
shopt -s nullglob

alive() { local st; st="$(ps -o stat= -p "$1" 2>/dev/null)" && [ -n "$st" ] && [ "${st:0:1}" != Z ]; }

for hook in "$DIR"/*.stop; do
    pid="$(tr -dc '0-9' < "${hook%.stop}.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && alive "$pid"; then timeout 10 sh "$hook" >/dev/null 2>&1 || true; fi
done
pids=()
for f in "$DIR"/*.pid; do
    pid="$(tr -dc '0-9' < "$f")"
    if [ -n "$pid" ] && alive "$pid"; then kill -TERM "$pid" 2>/dev/null; pids+=("$pid"); fi
    rm -f "$f"
done
left=("${pids[@]}")
for ((i = 0; i < ${STOP_GRACE:-3} * 10 && ${#left[@]} > 0; i++)); do
    sleep 0.1
    next=()
    for pid in "${left[@]}"; do alive "$pid" && next+=("$pid"); done
    left=("${next[@]}")
done
for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null; done
exit 0
