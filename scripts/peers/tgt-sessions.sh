#!/usr/bin/env bash
# bcm's boot-confirmation sessions command for tgtd (see examples/src/boot/sessions.rs):
# prints one "TARGET-IQN INITIATOR-IQN" line per I_T nexus (logged-in session).
# Env of the operator: TGT_IPC_SOCKET (the tgtd management socket, as for tgtadm).
set -euo pipefail
tgtadm --lld iscsi --op show --mode target | awk '
    /^Target [0-9]+: / { target = $3; next }
    /^[ \t]+Initiator: / && target != "" { print target, $2 }'
