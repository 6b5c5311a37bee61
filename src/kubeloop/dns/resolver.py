"""The slow path of a query: everything that is not a prepared cluster answer.

Owns: the order CoreDNS's plugins answer in, for the server block that holds the name
(longest zone match): `hosts` first, then `kubernetes` (records, NODATA/NXDOMAIN, CNAME chase
for ExternalName services, fallthrough), then `forward` through the block's `cache`; REFUSED
for names no block holds, SERVFAIL when no plugin answers or no upstream does. Results that
only depend on the zone and the Corefile are marked cacheable (the server keeps them until
the next change); forwarded ones are not (their TTLs count down).

Must not: touch sockets (forwarders do), the API, or the wire format beyond building entries.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from .corefile import Corefile, ServerBlock
from .forward import Forwarder, ResponseCache, UpstreamError, answer_from_message
from .records import (A, AAAA, ANY, NOERROR, NXDOMAIN, PTR, RR, SERVFAIL, Answer, ZoneRecords,
                      absolute)

log = logging.getLogger("kubeloop.dns")
REFUSED = 5
MAX_CHASE = 8


@dataclass
class Result:
    answer: Answer
    aa: bool
    cacheable: bool


def _fail(rcode: int) -> Result:
    return Result(Answer(rcode), False, False)


class Resolver:
    def __init__(self, corefile: Corefile, zone: ZoneRecords, *, forward_timeout: float = 2.0,
                 forwarders: dict[tuple, Forwarder] | None = None) -> None:
        self.corefile = corefile
        self.zone = zone
        self.forward_timeout = forward_timeout
        self._forwarders: dict[tuple, Forwarder] = forwarders if forwarders is not None else {}
        self._caches: dict[int, ResponseCache] = {}
        self._inflight: dict[tuple[int, str, int], asyncio.Future[Result]] = {}
        self._hosts_reverse: dict[int, dict[str, list[str]]] = {}
        self.pending = 0
        for b in corefile.blocks:
            if b.cache is not None:
                self._caches[id(b)] = ResponseCache(b.cache)
            if b.hosts is not None:
                self._hosts_reverse[id(b)] = b.hosts.reverse()

    # -- plumbing -------------------------------------------------------------------------------

    def forwarder(self, block: ServerBlock) -> Forwarder:
        f = block.forward
        assert f is not None
        key = (tuple(f.to), f.force_tcp, self.forward_timeout)
        fw = self._forwarders.get(key)
        if fw is None:
            fw = self._forwarders[key] = Forwarder(f.to, timeout=min(self.forward_timeout, 2.0),
                                                   total_timeout=self.forward_timeout * 2,
                                                   force_tcp=f.force_tcp)
        return fw

    def forwarder_keys(self) -> set[tuple]:
        return {(tuple(b.forward.to), b.forward.force_tcp, self.forward_timeout)
                for b in self.corefile.blocks if b.forward is not None}

    def max_concurrent(self) -> int:
        return max([b.forward.max_concurrent for b in self.corefile.blocks if b.forward] or [1000]) or 1000

    def cache_of(self, block: ServerBlock, name: str) -> ResponseCache | None:
        if block.cache is not None and block.cache.handles(name):
            return self._caches.get(id(block))
        return None

    def logs_queries(self) -> bool:
        return any(b.log for b in self.corefile.blocks)

    # -- hosts ----------------------------------------------------------------------------------

    def _hosts(self, block: ServerBlock, name: str, qtype: int) -> Result | None:
        h = block.hosts
        assert h is not None
        rev = self._hosts_reverse.get(id(block), {})
        if not h.handles(name) and not (qtype == PTR and name in rev):
            return None
        answers: list[RR] = []
        if qtype in (PTR, ANY):
            answers += [RR(name, PTR, h.ttl, n) for n in rev.get(name, ())]
        if qtype in (A, AAAA, ANY):
            for ip in h.entries.get(name, ()):
                t = AAAA if ":" in ip else A
                if qtype in (t, ANY):
                    answers.append(RR(name, t, h.ttl, ip))
        if not answers and name not in h.entries and name not in rev:
            if h.falls_through(name):
                return None
            return _fail(SERVFAIL)  # CoreDNS's hosts: no SOA to deny with, so SERVFAIL
        return Result(Answer(NOERROR, answers), True, True)

    # -- the plugin chain -------------------------------------------------------------------------

    def resolve_sync(self, name: str, qtype: int, depth: int = 0) -> Result | None:
        """The answer if it needs no upstream; None when it does (call `resolve`)."""
        block = self.corefile.block_for(name)
        if block is None:
            return _fail(REFUSED)
        if block.hosts is not None:
            r = self._hosts(block, name, qtype)
            if r is not None:
                return r
        k = block.kubernetes
        if k is not None and self.zone.zone_of(name) is not None:
            ans = self.zone.lookup(name, qtype)
            if ans is not None and not ans.fallthrough:
                if ans.chase is None:
                    return Result(ans, True, True)
                if depth >= MAX_CHASE:
                    return Result(Answer(NOERROR, ans.answer), True, False)
                target = self.resolve_sync(absolute(ans.chase), qtype, depth + 1)
                if target is None:
                    return None
                return self._chased(ans, target)
        if block.forward is not None and block.forward.handles(name):
            cache = self.cache_of(block, name)
            if cache is not None:
                hit = cache.get(name, qtype)
                if hit is not None:
                    return Result(hit, False, False)
            return None
        return _fail(SERVFAIL)

    @staticmethod
    def _chased(cname: Answer, target: Result) -> Result:
        t = target.answer
        rcode = t.rcode if t.rcode in (NOERROR, NXDOMAIN) else NOERROR
        return Result(Answer(rcode, cname.answer + t.answer, [], []), True, False)

    async def resolve(self, name: str, qtype: int, depth: int = 0) -> Result:
        r = self.resolve_sync(name, qtype, depth)
        if r is not None:
            return r
        block = self.corefile.block_for(name)
        assert block is not None
        k = block.kubernetes
        if k is not None and self.zone.zone_of(name) is not None:
            ans = self.zone.lookup(name, qtype)
            if ans is not None and not ans.fallthrough and ans.chase is not None:
                return self._chased(ans, await self.resolve(absolute(ans.chase), qtype, depth + 1))
        return await self._forward(block, name, qtype)

    async def _forward(self, block: ServerBlock, name: str, qtype: int) -> Result:
        key = (id(block), name, qtype)
        fut = self._inflight.get(key)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            try:
                msg = await self.forwarder(block).query(name, qtype)
                ans = answer_from_message(msg)
                cache = self.cache_of(block, name)
                if cache is not None:
                    cache.put(name, qtype, ans)
                result = Result(ans, False, False)
            except UpstreamError as e:
                (log.warning if block.errors else log.debug)("forwarding %s %s failed: %s", name, qtype, e)
                result = _fail(SERVFAIL)
            fut.set_result(result)
            return result
        except BaseException as e:
            if not fut.done():
                fut.set_exception(e)
                fut.exception()  # retrieved: waiters get it through shield
            raise
        finally:
            self._inflight.pop(key, None)
