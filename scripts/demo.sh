#!/usr/bin/env bash
# The main job: demonstrate the flow on loopback. (Grows into the full `bcm demo`.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-peers.sh
echo "demo: not wired yet" >&2
exit 1
