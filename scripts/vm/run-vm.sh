#!/usr/bin/env bash
# Boot a QEMU VM (software emulation) whose virtio NIC's iPXE ROM fetches DIR/boot.ipxe
# from QEMU's user-mode network (DHCP + TFTP) and runs it. Inside the VM the host's
# loopback is reachable as 10.0.2.2.
# Usage: run-vm.sh DIR SERIAL_LOG [TIMEOUT_S]
# Exit status: QEMU's (33 = the boot sector reached isa-debug-exit), 124 on timeout.
set -uo pipefail
DIR="${1:?usage: run-vm.sh DIR SERIAL_LOG [TIMEOUT_S]}"
SERIAL="${2:?serial log}"
T="${3:-120}"
[ -f "$DIR/boot.ipxe" ] || { echo "run-vm: $DIR/boot.ipxe missing" >&2; exit 2; }
# KVM here faults inside iPXE: always TCG.
exec timeout "$T" qemu-system-x86_64 -accel tcg -machine pc -m 64 -smp 1 \
    -nographic -display none -monitor none -serial "file:$SERIAL" \
    -boot order=n,reboot-timeout=0 -no-reboot \
    -netdev "user,id=n0,tftp=$DIR,bootfile=boot.ipxe" \
    -device virtio-net-pci,netdev=n0 \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null
