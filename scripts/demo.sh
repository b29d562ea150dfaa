#!/usr/bin/env bash
# The main job: the whole iSCSI boot configuration flow on loopback, against real peers.
#
# Installs the peers (isnsd, tgtd, pyslp, ipmitool, QEMU/iPXE, ...), builds `bcm` and
# `imm-sim`, then runs `bcm demo`: SLP finds the iSNS server, the inventory walks iSNS and
# probes the targets, two servers with different size requests are provisioned (DD,
# initiator, CHAP; server-a's BMC over RMCP+, server-b's over Redfish/HTTPS), a QEMU VM per server boots from its LUN through the
# iPXE script its emulated BMC rendered, a third, unprovisioned server is refused by the
# target, a fourth server whose standard BMC (pyghmi bmc-sim) only gets force PXE and a
# power cycle boots through the iPXE script bcm's boot listener serves (boot confirmed from
# tgtd's session list), and one server is released. Every step is checked; the peers are stopped at the
# end. Extra arguments go to `bcm demo` (e.g. --keep, --no-vm, --report FILE).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-peers.sh
cargo build --quiet --release --locked -p bcm -p imm-sim --bins
exec ./target/release/bcm --log "${BCM_LOG:-error}" demo --repo "$PWD" "$@"
