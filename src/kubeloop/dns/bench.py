"""Measuring the DNS server on loopback: a load generator and the comparison servers.

Owns: `bench_qps` (a bounded UDP load generator: a window of queries in flight, for a fixed
time, reporting queries/s and latency percentiles), `serve_prepared` (kubeloop's server with
N synthetic services, the way the cluster runs it) and `serve_parsed` (the baseline that
parses every query with dnspython and builds every answer), both runnable as processes:

    python -m kubeloop.dns.bench serve    --port 5300 --services 10000 [--parsed]
    python -m kubeloop.dns.bench qps      --port 5300 --name kubia.default.svc.cluster.local --seconds 5

Must not: send anywhere but the address it is given (tests give loopback), or run unbounded.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import struct
import sys
import time
from typing import Any

import dns.message
import dns.rdatatype
import dns.rrset

from .records import Port, ServiceView, ZoneRecords


def bench_qps(addr: tuple[str, int], name: str, seconds: float = 2.0, *, qtype: str = "A", window: int = 32,
              edns: bool = False, max_queries: int = 5_000_000) -> dict[str, float]:
    """Queries/s answered by the server at `addr` for one name, with `window` queries in flight.

    Blocking (run it in a thread or another process); stops after `seconds` or `max_queries`."""
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.connect(addr)
    sock.settimeout(0.5)
    base = dns.message.make_query(name, qtype, use_edns=0 if edns else False).to_wire()
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    next_id = random.randrange(65536)
    sent = received = lost = 0
    start = time.perf_counter()
    deadline = start + seconds

    def send() -> None:
        nonlocal next_id, sent
        next_id = (next_id + 1) & 0xFFFF
        sent_at[next_id] = time.perf_counter()
        sock.send(struct.pack("!H", next_id) + base[2:])
        sent += 1

    for _ in range(window):
        send()
    while True:
        now = time.perf_counter()
        if now >= deadline or sent >= max_queries:
            break
        try:
            data = sock.recv(65535)
        except socket.timeout:
            lost += len(sent_at)  # the window was lost (server overloaded or gone): start a new one
            sent_at.clear()
            for _ in range(window):
                send()
            continue
        t = sent_at.pop(struct.unpack_from("!H", data)[0], None)
        if t is None:
            continue
        received += 1
        if len(latencies) < 200_000:
            latencies.append(time.perf_counter() - t)
        send()
    elapsed = time.perf_counter() - start
    sock.close()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e3 if latencies else float("nan")

    return {"qps": received / elapsed, "sent": sent, "received": received, "lost": lost,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "seconds": elapsed}


def synthetic_zone(services: int, zone: str = "cluster.local") -> ZoneRecords:
    """`kubia` plus `svc-<i>` ClusterIP services in `default`, two named ports each."""
    z = ZoneRecords(zone, ttl=30)
    z.set_namespace("default", True)
    ports = (Port("http", 80), Port("https", 443))
    z.set_service("default/kubia", ServiceView("default", "kubia", "ClusterIP", ("10.96.0.20",), ports=ports))
    for i in range(services):
        ip = f"10.{96 + (i >> 16)}.{(i >> 8) & 0xFF}.{i & 0xFF}"
        z.set_service(f"default/svc-{i}", ServiceView("default", f"svc-{i}", "ClusterIP", (ip,), ports=ports))
    return z


async def serve_prepared(host: str, port: int, services: int) -> tuple[Any, float]:
    from .corefile import parse_corefile
    from .resolver import Resolver
    from .server import AnswerTable, DNSServer

    t0 = time.perf_counter()
    zone = synthetic_zone(services)
    table = AnswerTable(zone)
    table.build_all()
    built = time.perf_counter() - t0
    server = DNSServer([(host, port)])
    server.install(table.entries, Resolver(parse_corefile(".:53 {\n kubernetes cluster.local in-addr.arpa ip6.arpa\n}\n"),
                                           zone))
    server.ready = True
    await server.start()
    return server, built


class _Parsed(asyncio.DatagramProtocol):
    """The baseline: dnspython parses every query and renders every answer."""

    def __init__(self, zone: ZoneRecords) -> None:
        self.zone = zone
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            q = dns.message.from_wire(data)
        except Exception:
            return
        r = dns.message.make_response(q)
        question = q.question[0]
        for rr in self.zone.records(question.name.to_text().lower(), question.rdtype):
            r.answer.append(dns.rrset.from_text(question.name, rr.ttl, "IN", dns.rdatatype.to_text(rr.rtype), str(rr.data)))
        self.transport.sendto(r.to_wire(), addr)


async def serve_parsed(host: str, port: int, services: int) -> Any:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Parsed(synthetic_zone(services)),
                                                       local_addr=(host, port))
    return transport


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m kubeloop.dns.bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=5300)
    s.add_argument("--services", type=int, default=10_000)
    s.add_argument("--parsed", action="store_true", help="the dnspython-parses-every-query baseline")
    s.add_argument("--seconds", type=float, default=600.0, help="exit after this long")
    q = sub.add_parser("qps")
    q.add_argument("--host", default="127.0.0.1")
    q.add_argument("--port", type=int, default=5300)
    q.add_argument("--name", default="kubia.default.svc.cluster.local")
    q.add_argument("--seconds", type=float, default=5.0)
    q.add_argument("--window", type=int, default=32)
    args = p.parse_args(argv)
    if args.cmd == "qps":
        print(bench_qps((args.host, args.port), args.name, args.seconds, window=args.window))
        return

    async def run() -> None:
        if args.parsed:
            await serve_parsed(args.host, args.port, args.services)
            print(f"parsed baseline on {args.host}:{args.port}", flush=True)
        else:
            _, built = await serve_prepared(args.host, args.port, args.services)
            print(f"prepared answers for {args.services} services in {built:.2f}s on {args.host}:{args.port}", flush=True)
        await asyncio.sleep(args.seconds)

    try:
        import uvloop
        uvloop.run(run())
    except ImportError:  # pragma: no cover
        asyncio.run(run())


if __name__ == "__main__":
    main(sys.argv[1:])
