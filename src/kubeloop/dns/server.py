"""The DNS server: UDP and TCP listeners answering from prepared wire-format answers.

Owns: sockets, the per-query fast path, and the prepared-answer tables. A query is answered
by reading its header and question without a parser (`bytes` operations only), looking the
lower-cased question up in `table` (every (name, type) with records in the cluster zone,
rebuilt by `AnswerTable` when objects change) or `dyn` (answers computed once by the slow
path: NXDOMAIN/NODATA, pod names, hosts entries; dropped whenever anything changes), and
copying the ID, RD/CD bits and question into the prepared bytes; over UDP, the finished
response is also memoized by the query's bytes after the ID (`memo`, emptied on every change),
so a repeated question costs one dict lookup. Everything else goes to the
slow path: dnspython parses the packet (FORMERR for what does not parse, nothing at all for
packets that are not queries), and the `Resolver` answers, forwarding when it must.

EDNS0: the OPT record is echoed (this server's size: 1232), the client's UDP size honoured;
bigger answers go out truncated (TC, as many whole answer records as fit) and in full over
TCP. Until `ready` is set (caches synced), every query gets SERVFAIL, never a wrong NXDOMAIN.

Must not: know Kubernetes objects (records.py does) or the API (service.py does).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from typing import Any, Coroutine, Iterable

import dns.exception
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from .records import ZoneRecords
from .resolver import Resolver, Result
from .wire import (FORMERR, MAX_UDP, NOTIMP, OPT_RR, QD1, REFUSED, SERVFAIL, BADVERS, Entry, build_entry,
                   error_response, flags_for, name_to_wire, truncate, wire_to_text)

log = logging.getLogger("kubeloop.dns")
qlog = logging.getLogger("kubeloop.dns.query")

_TYPECLASS = struct.Struct("!HH")
DYN_MAX = 50_000
MEMO_MAX = 20_000


class AnswerTable:
    """Prepared answers (`Entry`) for every (name, type) that has records in a ZoneRecords."""

    def __init__(self, zone: ZoneRecords, shadow: Iterable[str] = ()) -> None:
        self.zone = zone
        self.shadow = set(shadow)  # names a `hosts` entry answers instead
        self.entries: dict[bytes, Entry] = {}

    def refresh(self, keys: Iterable[tuple[str, int]]) -> None:
        zone = self.zone
        entries = self.entries
        for name, rtype in keys:
            k = name_to_wire(name) + _TYPECLASS.pack(rtype, 1)
            rrs = zone.records(name, rtype) if name not in self.shadow and zone.zone_of(name) else None
            if rrs:
                entries[k] = build_entry(k[:-4], 0, rrs, (), zone.additional_for(rrs))
            else:
                entries.pop(k, None)

    def build_all(self) -> None:
        self.refresh(self.zone.keys())


def _render(e: Entry, ident: bytes, fidx: int, question: bytes, edns: bool, limit: int) -> bytes:
    if edns:
        resp = b"".join((ident, e.flags[fidx], e.counts_edns, question, e.body, OPT_RR))
    else:
        resp = b"".join((ident, e.flags[fidx], e.counts, question, e.body))
    if len(resp) > limit:
        fake = ident + bytes(((fidx & 1), (fidx & 2) << 3)) + b"\x00" * 8 + question
        return truncate(e, fake, 12 + len(question), edns, limit)
    return resp


def _valid_name(wire: bytes) -> bool:
    i, n = 0, len(wire)
    while i < n:
        ln = wire[i]
        if ln == 0:
            return i == n - 1
        if ln > 63:
            return False
        i += ln + 1
    return False


class DNSServer:
    def __init__(self, listen: list[tuple[str, int]], *, max_udp: int = MAX_UDP, tcp_idle_timeout: float = 10.0,
                 max_tcp_connections: int = 512, max_pending: int = 1000) -> None:
        self.listen = list(listen)
        self.max_udp = max_udp
        self.tcp_idle_timeout = tcp_idle_timeout
        self.max_tcp_connections = max_tcp_connections
        self.max_pending = max_pending
        self.table: dict[bytes, Entry] = {}
        self.dyn: dict[bytes, Entry] = {}
        # Whole responses (minus the ID) by query (minus the ID), for UDP queries answered from
        # `table` or `dyn`: a repeated query costs one dict lookup. Emptied with `dyn`.
        self.memo: dict[bytes, bytes] = {}
        self.stable = False  # did the last `handle` answer from `table`/`dyn` (memo-able)?
        self.resolver: Resolver | None = None
        self.ready = False
        self.log_queries = False
        self.bound_addresses: list[tuple[str, int]] = []
        self._socks: list[socket.socket] = []
        self._tcp: list[asyncio.base_events.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tcp_conns = 0
        self.pending = 0
        self.stats = {"slow": 0, "formerr": 0, "dropped": 0, "servfail": 0, "refused": 0}

    # -- state ----------------------------------------------------------------------------------

    def install(self, table: dict[bytes, Entry] | None = None, resolver: Resolver | None = None) -> None:
        """Swap in new prepared answers and/or a new resolver; answers computed before are dropped."""
        if table is not None:
            self.table = table
        if resolver is not None:
            self.resolver = resolver
            self.log_queries = resolver.logs_queries()
            self.max_pending = resolver.max_concurrent()
        self.dyn = {}
        self.memo = {}

    def invalidate(self) -> None:
        """Something changed (call it after every `AnswerTable.refresh`): answers computed by the
        slow path and memoized responses may be stale."""
        if self.dyn:
            self.dyn = {}
        if self.memo:
            self.memo = {}

    # -- the query path -------------------------------------------------------------------------

    def handle(self, data: bytes, udp: bool = True, addr: Any = None) -> "bytes | None | Coroutine[Any, Any, bytes | None]":
        """The response to one DNS message: bytes, None (drop), or a coroutine producing either."""
        self.stable = False
        if self.log_queries:
            return self._logged(data, udp, addr)
        try:
            if data[4:11] == QD1 and not data[2] & 0xF8:
                i = data.index(0, 12)
                qend = i + 5
                key = data[12:i + 1].lower() + data[i + 1:qend]
                e = self.table.get(key) or self.dyn.get(key)
                if e is not None:
                    self.stable = True
                    ar = data[11]
                    if ar == 0 and qend == len(data):
                        resp = b"".join((data[:2], e.flags[(data[2] & 1) | ((data[3] & 0x10) >> 3)], e.counts,
                                         data[12:qend], e.body))
                        if udp and len(resp) > 512:
                            return truncate(e, data, qend, False, 512)
                        return resp
                    if ar == 1 and data[qend] == 0 and data[qend + 1:qend + 3] == b"\x00\x29" \
                            and data[qend + 6] == 0 and qend + 11 + (data[qend + 9] << 8 | data[qend + 10]) == len(data):
                        resp = b"".join((data[:2], e.flags[(data[2] & 1) | ((data[3] & 0x10) >> 3)], e.counts_edns,
                                         data[12:qend], e.body, OPT_RR))
                        if udp:
                            limit = data[qend + 3] << 8 | data[qend + 4]
                            limit = 512 if limit < 512 else (self.max_udp if limit > self.max_udp else limit)
                            if len(resp) > limit:
                                return truncate(e, data, qend, True, limit)
                        return resp
                elif qend <= len(data) and _valid_name(data[12:i + 1]) and data[11] <= 1:
                    return self._miss(data, udp, i, qend, key)
        except (IndexError, ValueError):
            pass
        return self._slow(data, udp)

    def _miss(self, data: bytes, udp: bool, i: int, qend: int, key: bytes) -> "bytes | None | Coroutine[Any, Any, bytes | None]":
        """A well-formed question with no prepared answer; the rest of the packet still needs a check."""
        ar = data[11]
        edns = False
        limit = 512
        if ar == 0:
            if qend != len(data):
                return self._slow(data, udp)
        else:
            if not (qend + 11 <= len(data) and data[qend] == 0 and data[qend + 1:qend + 3] == b"\x00\x29"
                    and data[qend + 6] == 0 and qend + 11 + (data[qend + 9] << 8 | data[qend + 10]) == len(data)):
                return self._slow(data, udp)
            edns = True
            size = data[qend + 3] << 8 | data[qend + 4]
            limit = max(512, min(size, self.max_udp))
        qtype, qclass = _TYPECLASS.unpack_from(data, i + 1)
        fidx = (data[2] & 1) | ((data[3] & 0x10) >> 3)
        return self._answer(data[:2], fidx, data[12:qend], key, qtype, qclass, edns, limit if udp else 65535)

    def _slow(self, data: bytes, udp: bool) -> "bytes | None | Coroutine[Any, Any, bytes | None]":
        self.stats["slow"] += 1
        if len(data) < 12 or data[2] & 0x80:
            self.stats["dropped"] += 1
            return None  # not a query (or too short to answer): never answer, never reflect
        try:
            msg = dns.message.from_wire(data)
        except dns.message.BadEDNS:
            self.stats["formerr"] += 1
            return error_response(data, FORMERR)
        except (dns.exception.DNSException, ValueError, IndexError, struct.error, UnicodeError):
            self.stats["formerr"] += 1
            return error_response(data, FORMERR)
        if msg.opcode() != dns.opcode.QUERY:
            return error_response(data, NOTIMP, edns=msg.edns >= 0)
        if len(msg.question) != 1 or msg.answer or msg.authority:
            self.stats["formerr"] += 1
            return error_response(data, FORMERR, edns=msg.edns >= 0)
        q = msg.question[0]
        question = q.name.to_wire() + _TYPECLASS.pack(q.rdtype, q.rdclass)
        fidx = (data[2] & 1) | ((data[3] & 0x10) >> 3)
        if msg.edns > 0:  # only EDNS version 0 exists
            opt = b"\x00\x00\x29" + struct.pack("!HBBHH", self.max_udp, BADVERS >> 4, 0, 0, 0)
            return b"".join((data[:2], flags_for(False, BADVERS & 0x0F)[fidx], struct.pack("!HHHH", 1, 0, 0, 1),
                             question, opt))
        edns = msg.edns >= 0
        limit = (max(512, min(msg.payload, self.max_udp)) if edns else 512) if udp else 65535
        key = question[:-4].lower() + question[-4:]
        e = self.table.get(key) or self.dyn.get(key)
        if e is not None:
            self.stable = True
            return _render(e, data[:2], fidx, question, edns, limit)
        return self._answer(data[:2], fidx, question, key, int(q.rdtype), int(q.rdclass), edns, limit)

    def _error(self, ident: bytes, fidx: int, question: bytes, rcode: int, edns: bool) -> bytes:
        counts = struct.pack("!HHHH", 1, 0, 0, 1 if edns else 0)
        return b"".join((ident, flags_for(False, rcode)[fidx], counts, question, OPT_RR if edns else b""))

    def _answer(self, ident: bytes, fidx: int, question: bytes, key: bytes, qtype: int, qclass: int,
                edns: bool, limit: int) -> "bytes | Coroutine[Any, Any, bytes | None]":
        resolver = self.resolver
        if not self.ready or resolver is None:
            self.stats["servfail"] += 1
            return self._error(ident, fidx, question, SERVFAIL, edns)
        if qclass != 1 or qtype in (251, 252):  # only IN; no zone transfers
            self.stats["refused"] += 1
            return self._error(ident, fidx, question, REFUSED, edns)
        name = wire_to_text(key[:-4])
        r = resolver.resolve_sync(name, qtype)
        if r is not None:
            e = self._entry(key, r)
            if r.cacheable:
                if len(self.dyn) >= DYN_MAX:
                    self.dyn = {}
                self.dyn[key] = e
                self.stable = True
            return _render(e, ident, fidx, question, edns, limit)
        if self.pending >= self.max_pending:
            self.stats["refused"] += 1
            return self._error(ident, fidx, question, REFUSED, edns)
        self.pending += 1  # counted now: a burst of packets is read before any of these coroutines runs
        return self._resolve_later(resolver, name, ident, fidx, question, key, qtype, edns, limit)

    @staticmethod
    def _entry(key: bytes, r: Result) -> Entry:
        a = r.answer
        return build_entry(key[:-4], a.rcode, a.answer, a.authority, a.additional, aa=r.aa)

    async def _resolve_later(self, resolver: Resolver, name: str, ident: bytes, fidx: int, question: bytes,
                             key: bytes, qtype: int, edns: bool, limit: int) -> bytes | None:
        try:
            r = await resolver.resolve(name, qtype)
            return _render(self._entry(key, r), ident, fidx, question, edns, limit)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("resolving %s type %d failed", name, qtype)
            self.stats["servfail"] += 1
            return self._error(ident, fidx, question, SERVFAIL, edns)
        finally:
            self.pending -= 1

    def _logged(self, data: bytes, udp: bool, addr: Any) -> "bytes | None | Coroutine[Any, Any, bytes | None]":
        self.log_queries = False
        try:
            r = self.handle(data, udp, addr)
        finally:
            self.log_queries = True
        start = time.monotonic()
        if isinstance(r, (bytes, type(None))):
            self._log_query(data, r, udp, addr, start)
            return r

        async def later() -> bytes | None:
            resp = await r  # type: ignore[misc]
            self._log_query(data, resp, udp, addr, start)
            return resp

        return later()

    @staticmethod
    def _log_query(data: bytes, resp: bytes | None, udp: bool, addr: Any, start: float) -> None:
        try:
            msg = dns.message.from_wire(data)
            q = msg.question[0]
            question = f"{dns.rdatatype.to_text(q.rdtype)} {dns.rdataclass.to_text(q.rdclass)} {q.name}"
            ident = msg.id
        except Exception:
            question, ident = "<malformed>", 0
        rcode = "DROPPED" if resp is None else dns.rcode.to_text(resp[3] & 0x0F)
        host, port = (addr[0], addr[1]) if isinstance(addr, tuple) else ("-", 0)
        qlog.info('%s:%s - %d "%s %s %d" %s %d %.6fs', host, port, ident, question, "udp" if udp else "tcp",
                  len(data), rcode, len(resp or b""), time.monotonic() - start)

    # -- sockets --------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for host, port in self.listen:
            for attempt in range(20):
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                us = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    us.setblocking(False)
                    for size in (8 << 20, 4 << 20, 1 << 20):
                        try:
                            us.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
                            break
                        except OSError:
                            continue
                    us.bind((host, port))
                    bound = us.getsockname()[1]
                    ts = socket.socket(family, socket.SOCK_STREAM)
                    try:
                        ts.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        ts.bind((host, bound))
                    except OSError:
                        ts.close()
                        raise
                except OSError:
                    us.close()
                    if port == 0 and attempt < 19:
                        continue  # the TCP side of a random UDP port was taken: try another
                    raise
                ts.setblocking(False)
                server = await asyncio.start_server(self._tcp_client, sock=ts, backlog=256)
                self._tcp.append(server)
                self._socks.append(us)
                loop.add_reader(us.fileno(), self._on_udp, us)
                self.bound_addresses.append((host, bound))
                break

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        for s in self._socks:
            loop.remove_reader(s.fileno())
            s.close()
        self._socks.clear()
        for server in self._tcp:
            server.close()
        for server in self._tcp:
            await server.wait_closed()
        self._tcp.clear()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.bound_addresses.clear()

    def _on_udp(self, sock: socket.socket) -> None:
        """Answer what is queued (up to a bound). A query seen before, byte for byte after its ID,
        is answered from `memo` without looking inside it; `handle` does the rest."""
        handle = self.handle
        recvfrom = sock.recvfrom
        sendto = sock.sendto
        memo = self.memo if not self.log_queries else None
        for _ in range(512):  # then let the loop run other work
            try:
                data, addr = recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # e.g. an ICMP error queued for an earlier reply
            if memo is not None:
                tail = memo.get(data[2:])
                if tail is not None:
                    try:
                        sendto(data[:2] + tail, addr)
                    except OSError:
                        pass  # send buffer full or peer gone: UDP may drop
                    continue
            try:
                r = handle(data, True, addr)
            except Exception:
                log.exception("DNS query from %s failed", addr)
                continue
            if r is None:
                continue
            if r.__class__ is bytes:
                if self.stable and not self.log_queries:
                    memo = self.memo  # `handle` may have started a new one
                    if len(memo) >= MEMO_MAX:
                        memo = self.memo = {}
                    memo[data[2:]] = r[2:]
                try:
                    sendto(r, addr)
                except OSError:
                    pass
            else:
                self._spawn(r, sock, addr)

    def _spawn(self, coro: Coroutine[Any, Any, bytes | None], sock: socket.socket, addr: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[bytes | None]) -> None:
            self._tasks.discard(t)
            if t.cancelled() or t.exception() is not None:
                return
            resp = t.result()
            if resp is not None and sock.fileno() >= 0:
                try:
                    sock.sendto(resp, addr)
                except OSError:
                    pass

        task.add_done_callback(done)

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tcp_conns >= self.max_tcp_connections:
            writer.close()
            return
        self._tcp_conns += 1
        peer = writer.get_extra_info("peername")
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), self.tcp_idle_timeout)
                n = struct.unpack("!H", head)[0]
                data = await asyncio.wait_for(reader.readexactly(n), self.tcp_idle_timeout)
                r = self.handle(data, False, peer)
                if r is not None and r.__class__ is not bytes:
                    r = await r  # type: ignore[misc]
                if r is None:
                    break  # not a query: hang up
                writer.write(struct.pack("!H", len(r)) + r)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._tcp_conns -= 1
            writer.close()
