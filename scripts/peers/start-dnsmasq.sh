#!/usr/bin/env bash
# Start dnsmasq as the DHCP server of one interface, handing iPXE (user class "iPXE") the
# URL of bcm's entry script and plain PXE firmware undionly.kpxe (docs/NETBOOT.md). Meant to
# run inside a network namespace the caller made (the interface is a tap device there):
# dnsmasq serves whatever interface it is given, so never point it at a real network.
#
# Usage: start-dnsmasq.sh DIR
# Env:   DNSMASQ_IFACE (required)  DNSMASQ_RANGE (required, "FIRST,LAST")
#        DNSMASQ_BOOT_URL (required, http://.../boot.ipxe)
# Prints DNSMASQ_PID DNSMASQ_LOG DNSMASQ_LEASES DNSMASQ_START_MS.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

DIR="$(peer_dir "${1:-}")"
IFACE="${DNSMASQ_IFACE:?DNSMASQ_IFACE}"
RANGE="${DNSMASQ_RANGE:?DNSMASQ_RANGE}"
URL="${DNSMASQ_BOOT_URL:?DNSMASQ_BOOT_URL}"
W="$DIR/dnsmasq"
mkdir -p "$W"
if udp_bound 67; then echo "start-dnsmasq: UDP port 67 is taken (not in a namespace?)" >&2; exit 1; fi

cat > "$W/dnsmasq.conf" <<CONF
interface=$IFACE
bind-interfaces
port=0
user=root
dhcp-range=$RANGE,255.255.255.0,1h
dhcp-leasefile=$W/leases
dhcp-userclass=set:ipxe,iPXE
dhcp-boot=tag:!ipxe,undionly.kpxe
dhcp-boot=tag:ipxe,$URL
log-dhcp
log-facility=$DIR/dnsmasq.log
CONF

T0="$(now_ms)"
setsid dnsmasq --keep-in-foreground --conf-file="$W/dnsmasq.conf" \
    </dev/null >>"$DIR/dnsmasq.log" 2>&1 &
PID=$!
echo "$PID" > "$DIR/dnsmasq.pid"
await "$PID" 10 "$DIR/dnsmasq.log" udp_bound 67
cat <<OUT
DNSMASQ_PID=$PID
DNSMASQ_LOG=$DIR/dnsmasq.log
DNSMASQ_LEASES=$W/leases
DNSMASQ_START_MS=$(( $(now_ms) - T0 ))
OUT
