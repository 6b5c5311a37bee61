"""Forwarding names outside the cluster zone to upstream resolvers, and caching their answers.

Owns: `Forwarder` (one connected UDP socket per upstream, random query IDs, answers matched
by ID and question; TCP when the answer is truncated or `force_tcp`; a short timeout per
upstream, the next upstream on failure, `UpstreamError` when none answers) and
`ResponseCache` (answers kept for their TTL, bounded by the Corefile's `cache` directive,
served with TTLs counted down).

Must not: decide which names are forwarded (the resolver does) or answer cluster names.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from dataclasses import dataclass, replace

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype

from .corefile import CachePlugin
from .records import NOERROR, NXDOMAIN, OPT, RR, SOA, Answer

log = logging.getLogger(__name__)
ROTATE = 64  # queries per upstream socket


class UpstreamError(Exception):
    pass


class _UDPUpstream(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[asyncio.Future[dns.message.Message], dns.name.Name, int]] = {}
        self.used = 0
        self.retired = False

    def retire(self) -> None:
        """No new queries; closed once the answers in flight are in (or timed out)."""
        self.retired = True
        if not self.pending and self.transport is not None:
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: object) -> None:
        if len(data) < 12:
            return
        ident = struct.unpack_from("!H", data)[0]
        waiter = self.pending.get(ident)
        if waiter is None:
            return
        fut, qname, qtype = waiter
        try:
            msg = dns.message.from_wire(data, ignore_trailing=True)
        except Exception:
            return
        if not msg.flags & dns.flags.QR or len(msg.question) != 1:
            return
        q = msg.question[0]
        if q.name != qname or q.rdtype != qtype:  # dnspython compares names case-insensitively
            return
        self.pending.pop(ident, None)
        if not fut.done():
            fut.set_result(msg)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        for fut, _, _ in list(self.pending.values()):
            if not fut.done():
                fut.set_exception(UpstreamError(str(exc)))
        self.pending.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.error_received(exc or ConnectionError("closed"))


class Forwarder:
    def __init__(self, upstreams: list[tuple[str, int]], *, timeout: float = 2.0, total_timeout: float = 4.0,
                 force_tcp: bool = False) -> None:
        self.upstreams = list(upstreams)
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.force_tcp = force_tcp
        self._udp: dict[tuple[str, int], _UDPUpstream] = {}
        self._connecting: dict[tuple[str, int], asyncio.Future[_UDPUpstream]] = {}
        self._closed = False

    async def _endpoint(self, upstream: tuple[str, int]) -> _UDPUpstream:
        """The socket for the next query to `upstream`. A socket serves ROTATE queries and is then
        replaced, so the source port changes as well as the ID (spoofed answers need both)."""
        proto = self._udp.get(upstream)
        if proto is not None and proto.transport is not None and not proto.transport.is_closing() \
                and proto.used < ROTATE:
            proto.used += 1
            return proto
        if proto is not None:
            proto.retire()
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(_UDPUpstream, remote_addr=upstream)
        proto.used = 1
        self._udp[upstream] = proto
        return proto

    @staticmethod
    def _query(name: str, qtype: int, qclass: int) -> tuple[dns.message.QueryMessage, dns.name.Name]:
        qname = dns.name.from_text(name)
        q = dns.message.make_query(qname, qtype, qclass, use_edns=0, payload=1232)
        q.flags |= dns.flags.RD
        return q, qname

    async def _udp_query(self, upstream: tuple[str, int], name: str, qtype: int, qclass: int,
                         timeout: float) -> dns.message.Message:
        proto = await self._endpoint(upstream)
        q, qname = self._query(name, qtype, qclass)
        ident = random.getrandbits(16)
        while ident in proto.pending:
            ident = random.getrandbits(16)
        q.id = ident
        fut: asyncio.Future[dns.message.Message] = asyncio.get_running_loop().create_future()
        proto.pending[ident] = (fut, qname, qtype)
        try:
            assert proto.transport is not None
            proto.transport.sendto(q.to_wire())
            return await asyncio.wait_for(fut, timeout)
        finally:
            if proto.pending.get(ident, (None,))[0] is fut:
                proto.pending.pop(ident, None)
            if proto.retired and not proto.pending and proto.transport is not None:
                proto.transport.close()

    async def _tcp_query(self, upstream: tuple[str, int], name: str, qtype: int, qclass: int,
                         timeout: float) -> dns.message.Message:
        q, qname = self._query(name, qtype, qclass)
        q.id = random.getrandbits(16)

        async def go() -> dns.message.Message:
            reader, writer = await asyncio.open_connection(*upstream)
            try:
                wire = q.to_wire()
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
                while True:
                    n = struct.unpack("!H", await reader.readexactly(2))[0]
                    msg = dns.message.from_wire(await reader.readexactly(n), ignore_trailing=True)
                    if msg.id == q.id and len(msg.question) == 1 and msg.question[0].name == qname:
                        return msg
            finally:
                writer.close()

        return await asyncio.wait_for(go(), timeout)

    async def query(self, name: str, qtype: int, qclass: int = 1) -> dns.message.Message:
        """The first upstream's answer (any rcode); UpstreamError when none answered in time."""
        if not self.upstreams:
            raise UpstreamError("no upstream resolver configured")
        deadline = time.monotonic() + self.total_timeout
        errors = []
        for upstream in self.upstreams:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            t = min(self.timeout, left)
            try:
                if self.force_tcp:
                    return await self._tcp_query(upstream, name, qtype, qclass, t)
                msg = await self._udp_query(upstream, name, qtype, qclass, t)
                if msg.flags & dns.flags.TC:
                    left = deadline - time.monotonic()
                    if left > 0:
                        return await self._tcp_query(upstream, name, qtype, qclass, min(self.timeout, left))
                return msg
            except (asyncio.TimeoutError, OSError, EOFError, asyncio.IncompleteReadError, UpstreamError,
                    dns.exception.DNSException) as e:
                errors.append(f"{upstream[0]}:{upstream[1]}: {type(e).__name__} {e}".strip())
        raise UpstreamError("; ".join(errors) or "timed out")

    def close(self) -> None:
        self._closed = True
        for proto in self._udp.values():
            if proto.transport is not None:
                proto.transport.close()
        self._udp.clear()


def answer_from_message(msg: dns.message.Message) -> Answer:
    """Sections of an upstream answer as records with raw rdata (any type passes through)."""

    def rrs(section: list) -> list[RR]:
        out = []
        for rrset in section:
            if rrset.rdtype == OPT:
                continue
            owner = rrset.name.to_wire()
            for rd in rrset:
                out.append(RR(owner, int(rrset.rdtype), int(rrset.ttl), rd.to_wire()))
        return out

    return Answer(msg.rcode(), rrs(msg.answer), rrs(msg.authority), rrs(msg.additional))


@dataclass
class _Cached:
    stored: float
    duration: int
    answer: Answer


class ResponseCache:
    """Upstream answers kept up to their TTL (bounded by the `cache` directive)."""

    def __init__(self, plugin: CachePlugin, clock=time.monotonic) -> None:
        self.plugin = plugin
        self.clock = clock
        self._items: dict[tuple[str, int], _Cached] = {}
        self.capacity = max(1, plugin.success_capacity + plugin.denial_capacity)
        self.hits = self.misses = 0

    def _duration(self, ans: Answer) -> int | None:
        p = self.plugin
        if ans.rcode == NOERROR and ans.answer:
            ttl = min(r.ttl for r in ans.answer)
            return max(min(ttl, p.success_ttl), min(p.success_min_ttl, p.success_ttl))
        if ans.rcode in (NOERROR, NXDOMAIN):
            soa = [r for r in ans.authority if r.rtype == SOA]
            if not soa:
                return None
            rdata = soa[0].data
            minimum = struct.unpack("!I", rdata[-4:])[0] if isinstance(rdata, (bytes, bytearray)) else rdata[-1]
            ttl = min(soa[0].ttl, minimum)
            return max(min(ttl, p.denial_ttl), min(p.denial_min_ttl, p.denial_ttl))
        return None

    def put(self, name: str, qtype: int, ans: Answer) -> None:
        duration = self._duration(ans)
        if not duration:
            return
        key = (name, qtype)
        self._items.pop(key, None)
        if len(self._items) >= self.capacity:
            self._items.pop(next(iter(self._items)))
        self._items[key] = _Cached(self.clock(), duration, ans)

    def get(self, name: str, qtype: int) -> Answer | None:
        key = (name, qtype)
        c = self._items.get(key)
        if c is None:
            self.misses += 1
            return None
        elapsed = int(self.clock() - c.stored)
        if elapsed >= c.duration:
            del self._items[key]
            self.misses += 1
            return None
        self.hits += 1
        left = c.duration - elapsed

        def down(rrs: list[RR]) -> list[RR]:  # as CoreDNS: every record gets the time left
            return [replace(r, ttl=left) for r in rrs]

        a = c.answer
        return Answer(a.rcode, down(a.answer), down(a.authority), down(a.additional))

    def __len__(self) -> int:
        return len(self._items)
