#!/usr/bin/env bash
# bcm's target CHAP hook for tgtd (see examples/src/target_chap.rs for the contract).
#
# Env from bcm: BCM_CHAP_ACTION (set|remove) BCM_TARGET BCM_CHAP_USER [BCM_MUTUAL_USER]
# stdin (set): the initiator's secret, then the mutual (outgoing) secret if any.
# Env of the operator: TGT_IPC_SOCKET (the tgtd management socket, as for tgtadm).
# Idempotent: setting an account that exists updates nothing and binds it; removing an
# absent account succeeds. tgtadm takes the password as an argument (its only interface),
# so the secret is visible in this host's process list for the instant tgtadm runs.
set -euo pipefail
: "${BCM_CHAP_ACTION:?}" "${BCM_TARGET:?}" "${BCM_CHAP_USER:?}"

tid="$(tgtadm --lld iscsi --op show --mode target \
    | sed -n "s/^Target \([0-9]*\): $(printf '%s' "$BCM_TARGET" | sed 's/[.[\*^$/]/\\&/g')\$/\1/p")"
if [ -z "$tid" ]; then
    echo "tgt-chap: target $BCM_TARGET is not served by this tgtd" >&2
    exit 1
fi
accounts() { tgtadm --lld iscsi --op show --mode account | sed -n 's/^ *//p'; }
has_account() { accounts | grep -qxF "$1"; }

case "$BCM_CHAP_ACTION" in
set)
    IFS= read -r secret || true
    [ -n "$secret" ] || { echo "tgt-chap: no secret on stdin" >&2; exit 1; }
    has_account "$BCM_CHAP_USER" \
        || tgtadm --lld iscsi --op new --mode account --user "$BCM_CHAP_USER" --password "$secret"
    # Binding twice is refused by tgtadm ("already exists"): only bind when unbound.
    if ! tgtadm --lld iscsi --op show --mode target \
        | awk -v t="Target $tid:" '$0 ~ "^"t {on=1; next} /^Target / {on=0} on' \
        | grep -qxF "        $BCM_CHAP_USER"; then
        tgtadm --lld iscsi --op bind --mode account --tid "$tid" --user "$BCM_CHAP_USER"
    fi
    if [ -n "${BCM_MUTUAL_USER:-}" ]; then
        IFS= read -r mutual || true
        [ -n "$mutual" ] || { echo "tgt-chap: no mutual secret on stdin" >&2; exit 1; }
        has_account "$BCM_MUTUAL_USER" \
            || tgtadm --lld iscsi --op new --mode account --user "$BCM_MUTUAL_USER" --password "$mutual"
        tgtadm --lld iscsi --op bind --mode account --tid "$tid" --user "$BCM_MUTUAL_USER" --outgoing 2>/dev/null || true
    fi
    ;;
remove)
    if has_account "$BCM_CHAP_USER"; then
        tgtadm --lld iscsi --op unbind --mode account --tid "$tid" --user "$BCM_CHAP_USER" 2>/dev/null || true
        tgtadm --lld iscsi --op delete --mode account --user "$BCM_CHAP_USER"
    fi
    ;;
*)
    echo "tgt-chap: unknown action $BCM_CHAP_ACTION" >&2
    exit 1
    ;;
esac
