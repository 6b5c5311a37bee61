"""Test doubles for the DNS seam: a tiny upstream resolver on loopback, and `dig`/query helpers.

Owns: `StaticUpstream`, an authoritative toy server (UDP and TCP on one 127.0.0.1 port) that
answers from a dict, counts what it was asked, can stay silent (to test timeouts) and sets TC
over UDP for answers that do not fit; `query` (one question over UDP or TCP, parsed with
dnspython) and `dig` (the real dig against a loopback port).

Must not: listen anywhere but loopback, or reach the machine's own resolver.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class StaticUpstream:
    """records: {("name.", "A"): [(ttl, "1.2.3.4"), ...]}; names not listed get NXDOMAIN with a SOA."""

    def __init__(self, records: dict[tuple[str, str], list[tuple[int, str]]] | None = None, *,
                 silent: bool = False, host: str = "127.0.0.1") -> None:
        assert host.startswith("127.") or host == "::1", "test upstreams live on loopback only"
        self.records = {(n.lower().rstrip(".") + ".", t.upper()): v for n, t, v in
                        ((k[0], k[1], v) for k, v in (records or {}).items())}
        self.silent = silent
        self.host = host
        self.queries: list[tuple[str, str, str]] = []  # (name, type, "udp"|"tcp")
        self.source_ports: set[int] = set()
        self._udp: Any = None
        self._tcp: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def answer(self, data: bytes, transport: str) -> bytes | None:
        try:
            q = dns.message.from_wire(data)
        except Exception:
            return None
        question = q.question[0]
        name = question.name.to_text().lower()
        rtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rtype, transport))
        if self.silent:
            return None
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        items = self.records.get((name, rtype))
        if items:
            for ttl, text in items:
                r.answer.append(dns.rrset.from_text(question.name, ttl, "IN", rtype, text))
        else:
            if not any(n == name for n, _ in self.records):
                r.set_rcode(dns.rcode.NXDOMAIN)
            r.authority.append(dns.rrset.from_text(".", 60, "IN", "SOA",
                                                   "a.root. hostmaster.root. 1 1800 900 604800 30"))
        wire = r.to_wire(max_size=65535)
        limit = max(q.payload, 512) if q.edns >= 0 else 512
        if transport == "udp" and len(wire) > limit:
            r.answer.clear()
            r.authority.clear()
            r.flags |= dns.flags.TC
            wire = r.to_wire(max_size=65535)
        return wire

    async def start(self) -> "StaticUpstream":
        loop = asyncio.get_running_loop()
        outer = self

        class UDP(asyncio.DatagramProtocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                outer.source_ports.add(addr[1])
                resp = outer.answer(data, "udp")
                if resp is not None:
                    self.transport.sendto(resp, addr)

        for _ in range(20):
            transport, _ = await loop.create_datagram_endpoint(UDP, local_addr=(self.host, 0))
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._tcp_client, self.host, port)
            except OSError:
                transport.close()
                continue
            self._udp, self.port = transport, port
            return self
        raise OSError("no free port pair for the test upstream")

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
                resp = self.answer(await reader.readexactly(n), "tcp")
                if resp is None:
                    continue
                writer.write(struct.pack("!H", len(resp)) + resp)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()


def query(addr: tuple[str, int], name: str, rtype: str = "A", *, tcp: bool = False, edns: int | None = 0,
          payload: int = 1232, timeout: float = 2.0, want_dnssec: bool = False) -> dns.message.Message:
    """One question, answered or raising; blocking (call through asyncio.to_thread in async tests)."""
    q = dns.message.make_query(name, rtype, use_edns=edns if edns is not None else False, payload=payload,
                               want_dnssec=want_dnssec)
    wire = q.to_wire()
    if tcp:
        with socket.create_connection(addr, timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(wire)) + wire)
            n = struct.unpack("!H", _recv_exactly(s, 2))[0]
            return dns.message.from_wire(_recv_exactly(s, n))
    with socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, addr)
        while True:
            data, _ = s.recvfrom(65535)
            if data[:2] == wire[:2]:
                return dns.message.from_wire(data)


def _recv_exactly(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def dig(port: int, *args: str, host: str = "127.0.0.1", timeout: float = 10.0) -> str:
    """The real dig against a loopback server: `dig @host -p port +tries=1 +time=2 args...`."""
    assert host.startswith("127.") or host == "::1"
    out = subprocess.run(["dig", f"@{host}", "-p", str(port), "+tries=1", "+time=2", *args],
                         capture_output=True, text=True, timeout=timeout)
    return out.stdout
