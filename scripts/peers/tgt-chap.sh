#!/usr/bin/env bash
# bcm's target CHAP hook for tgtd (see examples/src/target_chap.rs for the contract).
#
# Env from bcm: BCM_CHAP_ACTION (set|remove|check) BCM_TARGET BCM_CHAP_USER [BCM_MUTUAL_USER]
# stdin (set): the initiator's secret, then the mutual (outgoing) secret if any.
# Env of the operator: TGT_IPC_SOCKET (the tgtd management socket, as for tgtadm);
#   TGT_CHAP_STATE_DIR (where the lock and the journal live; default: the socket's
#   directory when writable, else $TMPDIR or /tmp).
# Exit status: 0 done (set, remove) or in place (check); 1 the target is not served by this
#   tgtd; 3 (check only) the account is missing or not bound to the target; other: failure.
# Idempotent: setting an account that exists updates nothing and binds it; removing an
# absent account succeeds. tgtadm takes the password as an argument (its only interface),
# so the secret is visible in this host's process list for the instant tgtadm runs.
#
# tgt 1.0.85 (up to 1.0.97, usr/target.c) keeps a target's incoming accounts in a slot array
# `in_aids` and a count `nr_inaccount`. Binding fills the lowest empty slot; unbinding zeroes
# the account's slot and decrements the count; but CHAP lookup at login and `--op show`
# read only the first `nr_inaccount` slots. Unbinding any account but the last one thus
# leaves a hole inside that range: the last account falls out of it (its logins fail with
# "Authentication failure") and `show` dereferences the account of ID 0 (NULL): tgtd
# segfaults. `--op delete --mode account` unbinds from every target the same way.
# So this hook only ever unbinds the LAST bound account of a target: to remove one in the
# middle it unbinds the accounts after it (last first), unbinds it, and binds the others
# again, which fills the slots in order. Removing the first of several needs one moment
# with slot 0 empty; a guard account with a random secret nobody knows stays bound over
# that moment so the target never accepts a login without CHAP. An account is deleted only
# when no target has it bound any more. Each removal ends by reading the target back: it
# fails unless tgtd answers and every other account is still bound, in its order.
#
# The reordering is a sequence of tgtadm calls; they are written to a journal first and
# each step is marked before it runs, so a run killed half-way (the hook timeout) is
# finished by the next run before it reads anything (a `show` in between could crash
# tgtd). A lock serializes runs against one tgtd.
set -euo pipefail
: "${BCM_CHAP_ACTION:?}" "${BCM_TARGET:?}" "${BCM_CHAP_USER:?}"

GUARD=bcm-tgt-chap-guard
socket="${TGT_IPC_SOCKET:-/var/run/tgtd/socket}"
state_dir="${TGT_CHAP_STATE_DIR:-}"
if [ -z "$state_dir" ]; then
    state_dir="$(dirname "$socket")"
    [ -w "$state_dir" ] || state_dir="${TMPDIR:-/tmp}"
fi
base="$state_dir/$(basename "$socket").bcm-chap"
journal="$base.journal"
progress="$base.progress"

adm() { tgtadm --lld iscsi "$@" </dev/null; }

# Runs tgtadm, treating a refusal whose message contains $1 as success (already so).
adm_tolerating() {
    local tolerated="$1" err
    shift
    if err="$(adm "$@" 2>&1 >/dev/null)"; then return 0; fi
    case "$err" in *"$tolerated"*) return 0 ;; esac
    echo "tgt-chap: tgtadm $*: $err" >&2
    return 1
}

# Runs the journal's steps from number $1 on, marking each before it runs; every step is
# idempotent (done again when the mark is written but the step was not), so resuming at
# the last mark reaches the planned end state.
run_journal() {
    local from="$1" n=0 op a b
    while IFS=' ' read -r op a b <&3; do
        n=$((n + 1))
        [ "$n" -ge "$from" ] || continue
        echo "$n" >>"$progress"
        case "$op" in
        guard)
            adm_tolerating "already exists" --op new --mode account --user "$a" \
                --password "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
            ;;
        # An account gone in between (tgtd restarted) has nothing left to bind.
        bind) adm_tolerating "already exists" --op bind --mode account --tid "$a" --user "$b" \
            || adm_tolerating "can't find the account" --op bind --mode account --tid "$a" --user "$b" ;;
        unbind) adm_tolerating "can't find the account" --op unbind --mode account --tid "$a" --user "$b" ;;
        delete) adm_tolerating "can't find the account" --op delete --mode account --user "$a" ;;
        *)
            echo "tgt-chap: journal $journal: unknown step '$op'" >&2
            return 1
            ;;
        esac
    done 3<"$journal"
    rm -f "$progress" "$journal"
}

exec 9>>"$base.lock"
flock -w 30 9 || { echo "tgt-chap: $base.lock is held by another run" >&2; exit 1; }
if [ -f "$journal" ]; then
    last="$(tail -n 1 "$progress" 2>/dev/null || true)"
    run_journal "${last:-1}"
fi

show="$(adm --op show --mode target)"
tid="$(printf '%s\n' "$show" \
    | sed -n "s/^Target \([0-9]*\): $(printf '%s' "$BCM_TARGET" | sed 's/[.[\*^$/]/\\&/g')\$/\1/p")"
if [ -z "$tid" ]; then
    echo "tgt-chap: target $BCM_TARGET is not served by this tgtd" >&2
    exit 1
fi
# "TID USER" for each incoming binding, "TID USER (outgoing)" for outgoing ones, in slot order.
bindings() {
    printf '%s\n' "$show" | awk '
        /^Target [0-9]+: / { tid = $2; sub(/:$/, "", tid); acc = 0; next }
        /^    [^ ]/ { acc = ($0 == "    Account information:"); next }
        acc && /^        [^ ]/ { sub(/^ +/, ""); print tid " " $0 }'
}
bound_in() { bindings | awk -v t="$1" '$1 == t && !/ \(outgoing\)$/ { sub(/^[0-9]+ /, ""); print }'; }
# grep without -q reads all its input: under pipefail an early exit could fail the writer.
is_bound() { bound_in "$tid" | grep -xF -- "$1" >/dev/null; }
has_account() { adm --op show --mode account | sed -n 's/^ *//p' | grep -xF -- "$1" >/dev/null; }
# Whether a target other than ours holds $1 (incoming or outgoing).
bound_elsewhere() {
    bindings | awk -v t="$tid" -v u="$1" '
        $1 != t { sub(/^[0-9]+ /, ""); sub(/ \(outgoing\)$/, ""); if ($0 == u) f = 1 }
        END { exit !f }'
}

case "$BCM_CHAP_ACTION" in
set)
    IFS= read -r secret || true
    [ -n "$secret" ] || { echo "tgt-chap: no secret on stdin" >&2; exit 1; }
    has_account "$BCM_CHAP_USER" \
        || adm --op new --mode account --user "$BCM_CHAP_USER" --password "$secret"
    # Binding twice is refused by tgtadm ("already exists"): only bind when unbound. A new
    # binding takes the slot after the last one, so the slots stay contiguous.
    is_bound "$BCM_CHAP_USER" || adm --op bind --mode account --tid "$tid" --user "$BCM_CHAP_USER"
    if [ -n "${BCM_MUTUAL_USER:-}" ]; then
        IFS= read -r mutual || true
        [ -n "$mutual" ] || { echo "tgt-chap: no mutual secret on stdin" >&2; exit 1; }
        has_account "$BCM_MUTUAL_USER" \
            || adm --op new --mode account --user "$BCM_MUTUAL_USER" --password "$mutual"
        adm --op bind --mode account --tid "$tid" --user "$BCM_MUTUAL_USER" --outgoing 2>/dev/null || true
    fi
    ;;
check)
    has_account "$BCM_CHAP_USER" && is_bound "$BCM_CHAP_USER" || exit 3
    if [ -n "${BCM_MUTUAL_USER:-}" ]; then
        bindings | grep -xF -- "$tid $BCM_MUTUAL_USER (outgoing)" >/dev/null || exit 3
    fi
    ;;
remove)
    mapfile -t bound < <(bound_in "$tid")
    steps=()
    for ((j = 0; j < ${#bound[@]}; j++)); do
        [ "${bound[j]}" = "$BCM_CHAP_USER" ] && break
    done
    if [ "$j" -lt "${#bound[@]}" ]; then
        after=("${bound[@]:j+1}")
        for ((k = ${#bound[@]} - 1; k > j; k--)); do steps+=("unbind $tid ${bound[k]}"); done
        if [ "$j" -eq 0 ] && [ "${#after[@]}" -gt 0 ]; then
            # Slot 0 must empty while others stay bound: hold the count up with the guard.
            steps+=("guard $GUARD" "bind $tid $GUARD" "unbind $tid $BCM_CHAP_USER"
                "bind $tid ${after[0]}" "unbind $tid $GUARD" "delete $GUARD")
            after=("${after[@]:1}")
        else
            steps+=("unbind $tid $BCM_CHAP_USER")
        fi
        for a in "${after[@]}"; do steps+=("bind $tid $a"); done
    fi
    # Deleting unbinds from every target: only when no other target holds the account.
    if has_account "$BCM_CHAP_USER" && ! bound_elsewhere "$BCM_CHAP_USER"; then
        steps+=("delete $BCM_CHAP_USER")
    fi
    if [ "${#steps[@]}" -gt 0 ]; then
        printf '%s\n' "${steps[@]}" >"$journal.new"
        : >"$progress"
        mv "$journal.new" "$journal"
        run_journal 1
    fi
    # Prove the outcome: tgtd still answers `show`, and the target holds exactly the other
    # accounts it held, in their order.
    show="$(adm --op show --mode target)" \
        || { echo "tgt-chap: tgtd does not answer after removing $BCM_CHAP_USER" >&2; exit 1; }
    want="$(printf '%s\n' "${bound[@]}" | grep -vxF -- "$BCM_CHAP_USER" || true)"
    got="$(bound_in "$tid")"
    if [ "$got" != "$want" ]; then
        echo "tgt-chap: $BCM_TARGET holds [$(echo $got)], expected [$(echo $want)]" >&2
        exit 1
    fi
    ;;
*)
    echo "tgt-chap: unknown action $BCM_CHAP_ACTION" >&2
    exit 1
    ;;
esac
