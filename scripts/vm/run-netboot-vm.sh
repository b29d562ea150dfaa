#!/usr/bin/env bash
# Boot a QEMU VM (software emulation) from the network the way a real server with a
# force-PXE boot flag does: its virtio NIC's iPXE ROM gets DHCP from QEMU's user-mode
# network, whose boot file is an HTTP URL (bcm serve's entry script); inside the VM the
# host's loopback is 10.0.2.2. The SMBIOS system UUID (iPXE's ${uuid}) is UUID.
# With NETBOOT_TAP=IFNAME the NIC is on that tap device instead (a DHCP server there, such
# as dnsmasq, names the boot file, and URL is unused).
# Usage: run-netboot-vm.sh URL UUID SERIAL_LOG [TIMEOUT_S]   (TIMEOUT_S 0: no bound of its
# own; QEMU replaces the shell, so the caller's process is QEMU itself)
# No isa-debug-exit device: the boot sector's exit write is ignored and it halts, so the
# iSCSI session stays up (as under a running OS) until the caller ends QEMU. A failed boot
# ends QEMU at once (reboot-timeout=0 with -no-reboot). Exit status: QEMU's, 124 on timeout.
set -uo pipefail
URL="${1:?usage: run-netboot-vm.sh URL UUID SERIAL_LOG [TIMEOUT_S]}"
UUID="${2:?uuid}"
SERIAL="${3:?serial log}"
T="${4:-120}"
NETDEV="user,id=n0,bootfile=$URL"
[ -n "${NETBOOT_TAP:-}" ] && NETDEV="tap,id=n0,ifname=$NETBOOT_TAP,script=no,downscript=no"
BOUND=(timeout "$T")
[ "$T" = 0 ] && BOUND=()
# KVM here faults inside iPXE: always TCG.
exec "${BOUND[@]}" qemu-system-x86_64 -accel tcg -machine pc -m 64 -smp 1 -uuid "$UUID" \
    -nographic -display none -monitor none -serial "file:$SERIAL" \
    -boot order=n,reboot-timeout=0 -no-reboot \
    -netdev "$NETDEV" \
    -device virtio-net-pci,netdev=n0 </dev/null
