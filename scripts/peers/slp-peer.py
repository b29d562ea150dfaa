#!/usr/bin/env python3
"""Our SLPv2 peer built on pyslp 0.1.7 (an independent implementation) for interop tests.

  slp-peer.py serve --port P [--bind A] [--scope S] [--register 'url|type|attrs|lifetime']...
                    [--multicast-group G --multicast-if I]
      pyslp's own request handler (SLPDServer.datagram_received) answers SrvRqst, AttrRqst,
      SrvReg and SrvDeReg on a unicast UDP socket (and, optionally, on a multicast group).
      The --register entries are fed to that handler as SrvReg messages built by pyslp's
      encoder. Every datagram in and out is logged as hex ("IN <addr> <hex>", "OUT ...").
  slp-peer.py query --port P [--host A] --type T [--scope S] [--timeout SEC]
      pyslp as a user agent: a SrvRqst built by pyslp's encoder, then one AttrRqst per URL;
      prints "URL <lifetime> <url>" and "ATTRS <url> <attr-list>" lines, and the hex of each
      message on stderr ("SENT <hex>", "RECV <hex>").

pyslp 0.1.7 does not import on Python >= 3.11 ("asyncio has no attribute coroutine");
the decorator is restored from types.coroutine before importing it. Its own network code
(multicast-only client, 0.0.0.0 server) is not used; sockets here are our own.
"""
import argparse
import asyncio
import select
import socket
import struct
import sys
import traceback
import types

if not hasattr(asyncio, "coroutine"):
    asyncio.coroutine = types.coroutine

from pyslp import creator, parse  # noqa: E402
from pyslp.slpd import SLPDServer  # noqa: E402


def log(*a):
    print(*a, flush=True)


class Reply:
    """The transport pyslp's handler answers through."""

    def __init__(self, sock):
        self.sock = sock

    def sendto(self, data, addr):
        log("OUT", "%s:%d" % addr, data.hex())
        self.sock.sendto(data, addr)


class Discard:
    def sendto(self, data, addr):
        log("OUT-LOCAL", data.hex())


def serve(args):
    iface = args.bind
    srv = SLPDServer(scope=args.scope)
    srv.services[iface] = {}
    srv.url_entries[iface] = {}
    srv.lifetime[iface] = {}
    for spec in args.register:
        url, stype, attrs, lifetime = (spec.split("|") + ["", "", "65535"])[:4]
        msg = creator.create_registration(
            service_type=stype, scope_list=args.scope, attr_list=attrs,
            lifetime=int(lifetime), url=url)
        log("REGISTER", msg.hex())
        srv.datagram_received(msg, ("127.0.0.1", 0), iface, Discard())

    uni = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    socks = [uni]
    if args.multicast_group:
        uni.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        mc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        mc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        mc.bind((args.multicast_group, args.port))
        mreq = struct.pack("4s4s", socket.inet_aton(args.multicast_group),
                           socket.inet_aton(args.multicast_if))
        mc.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        socks.append(mc)
    uni.bind((args.bind, args.port))
    reply = Reply(uni)
    log("READY", "%s:%d" % uni.getsockname())
    while True:
        ready, _, _ = select.select(socks, [], [])
        for s in ready:
            data, addr = s.recvfrom(65535)
            log("IN", "%s:%d" % addr, data.hex())
            try:
                srv.datagram_received(data, addr, iface, reply)
            except Exception:  # a malformed datagram must not kill the peer
                log("HANDLER-ERROR", traceback.format_exc().replace("\n", " | "))


def exchange(sock, data, addr, timeout):
    print("SENT", data.hex(), file=sys.stderr, flush=True)
    sock.sendto(data, addr)
    sock.settimeout(timeout)
    reply, _ = sock.recvfrom(65535)
    print("RECV", reply.hex(), file=sys.stderr, flush=True)
    return reply


def query(args):
    addr = (args.host, args.port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.host, 0))
    rqst = creator.create_request(service_type=args.type, scope_list=args.scope)
    _, error, entries = parse.parse_reply(exchange(sock, rqst, addr, args.timeout))
    print("ERROR", error)
    for e in entries:
        print("URL", e["lifetime"], e["url"])
    for e in entries:
        ar = creator.create_attr_request(url=e["url"], scope_list=args.scope)
        _, aerr, attrs = parse.parse_attr_reply(exchange(sock, ar, addr, args.timeout))
        print("ATTRS", e["url"], attrs)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--bind", default="127.0.0.1")
    s.add_argument("--scope", default="DEFAULT")
    s.add_argument("--register", action="append", default=[])
    s.add_argument("--multicast-group", default="")
    s.add_argument("--multicast-if", default="127.0.0.1")
    q = sub.add_parser("query")
    q.add_argument("--port", type=int, required=True)
    q.add_argument("--host", default="127.0.0.1")
    q.add_argument("--type", required=True)
    q.add_argument("--scope", default="DEFAULT")
    q.add_argument("--timeout", type=float, default=2.0)
    args = p.parse_args()
    serve(args) if args.cmd == "serve" else query(args)


if __name__ == "__main__":
    main()
