#!/usr/bin/env bash
# Make a sparse disk image whose boot sector reports its label and the iBFT over COM1.
# Usage: make-bootdisk.sh OUT.img LABEL [SIZE]   (SIZE default 32M; iPXE needs a few MiB
# at least to guess a usable geometry for an unpartitioned disk)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:?usage: make-bootdisk.sh OUT LABEL [SIZE]}"
LABEL="${2:?label}"
SIZE="${3:-32M}"
[ "${#LABEL}" -le 45 ] || { echo "make-bootdisk: label longer than 45 bytes" >&2; exit 1; }
nasm -f bin -o "$OUT" "$HERE/bootdisk.asm"
printf '%s' "$LABEL" | dd of="$OUT" bs=1 seek=400 conv=notrunc status=none
truncate -s "$SIZE" "$OUT"
