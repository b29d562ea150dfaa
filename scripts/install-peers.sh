#!/usr/bin/env bash
# Install every third-party peer the tests and the demo talk to (idempotent).
#
# Debian packages:
#   open-isns-server open-isns-utils  isnsd + isnsadm (iSNS server and client)
#   libisns-dev                        open-isns' C library (side-by-side decoder bench)
#   tgt                                tgtd + tgtadm (user-space iSCSI target)
#   libiscsi-bin                       iscsi-inq / iscsi-readcapacity16 (reference initiator)
#   openipmi ipmitool freeipmi-tools   ipmi_sim, ipmitool, ipmi-raw / ipmi-chassis
#   tshark                             independent protocol dissectors
#   qemu-system-x86 ipxe-qemu nasm     the real iSCSI boot of a VM
#   iproute2 procps                    ss / ps for the peer scripts; ip netns / tuntap
#   dnsmasq-base                       DHCP for the network-boot test in a network namespace
#   postgresql                         the shared store of several `bcm serve` instances (issue 20)
#   chromium chromium-driver           headless browser + WebDriver for the dashboard tests
# PyPI (into $PYTHON, default python3): pyghmi (BMC simulator), pyslp (SLP peer),
#   DMTF redfish-service-validator (rf_service_validator), redfish-protocol-validator
#   (rf_protocol_validator), redfish-utilities (rf_raw_request.py, rf_power_reset.py,
#   rf_boot_override.py): independent Redfish checks of imm-sim.
#
# Needs root for apt-get. PEERS_QUIET=1 silences progress lines.
set -euo pipefail

PY="${PYTHON:-python3}"
DEBS=(open-isns-server open-isns-utils libisns-dev tgt libiscsi-bin openipmi ipmitool
      freeipmi-tools tshark qemu-system-x86 ipxe-qemu nasm iproute2 procps dnsmasq-base
      postgresql chromium chromium-driver)
PIPS=(pyghmi==1.6.19 pyslp==0.1.7)
RF_PIPS=(redfish-service-validator==3.1.8 redfish-protocol-validator==1.3.2
         redfish-utilities==3.5.2 sushy-tools==2.2.0)

say() { [ "${PEERS_QUIET:-0}" = 1 ] || echo "install-peers: $*" >&2; }

missing=()
for p in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Package maintainer scripts must not start system-wide isnsd/tgtd/ipmi
    # services on 0.0.0.0:3205/3260: a temporary policy-rc.d forbids it.
    added_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    trap 'if [ "$added_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
    # open-isns-server's postinst runs `isnsd --init`, which fails when the
    # host name does not resolve and leaves dpkg half-configured. It skips
    # that step when a key file exists; our isnsd runs with Security = 0.
    if [ ! -e /etc/isns/auth_key ] && ! getent hosts "$(hostname)" >/dev/null 2>&1; then
        mkdir -p /etc/isns && : > /etc/isns/auth_key
    fi
    apt-get update -qq >/dev/null
    echo "wireshark-common wireshark-common/install-setuid boolean false" \
        | debconf-set-selections
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    say "Debian packages already installed"
fi

if ! "$PY" -c 'import pyghmi.ipmi.bmc, pyslp.creator' 2>/dev/null; then
    say "$PY -m pip install ${PIPS[*]}"
    "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore "${PIPS[@]}"
else
    say "pyghmi and pyslp already importable"
fi
if ! command -v rf_service_validator >/dev/null || ! command -v rf_protocol_validator >/dev/null \
    || ! command -v rf_raw_request.py >/dev/null || ! command -v sushy-emulator >/dev/null; then
    say "$PY -m pip install ${RF_PIPS[*]}"
    "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore "${RF_PIPS[@]}"
else
    say "DMTF redfish tools already installed"
fi
say "done"
