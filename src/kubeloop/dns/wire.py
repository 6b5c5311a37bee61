"""DNS wire format for prepared answers: names, records, and the per-query fast path helpers.

Owns: encoding records (the RR values of kubeloop.dns.records) into the bytes of a response
*after* its question section, with name compression against the question, and the `Entry`
tuple that the server serves from: everything of a response except the 2-byte ID, the two
flag bytes that copy RD/CD from the query, and the question (copied from the query, so the
client's letter case comes back as sent). Also the few header facts the server reads without
a full parse.

Must not: parse queries in full (the server falls back to dnspython for odd packets), hold
state, or do I/O.

Layout of a prepared response, as served:

    ID(query) | FLAGS[idx] | counts | question(query) | body [| OPT]

Compression pointers in `body` only point at offset 12 onwards (question and earlier
records), and the question has the same length whatever its letter case, so the body is
valid for every query with that name and type.
"""

from __future__ import annotations

import socket
import struct
from typing import Iterable, NamedTuple

from .records import (A, AAAA, CNAME, NS, OPT, PTR, RR, SOA, SRV, TXT)

IN = 1
MAX_UDP = 1232  # what this server advertises and sends at most over UDP (DNS flag day 2020)
OPT_RR = b"\x00\x00\x29" + struct.pack("!H", MAX_UDP) + b"\x00\x00\x00\x00\x00\x00"
QD1 = b"\x00\x01\x00\x00\x00\x00\x00"  # qdcount=1, ancount=0, nscount=0, high byte of arcount

# RCODEs
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
BADVERS = 16

_HDR = struct.Struct("!HHHH")
_RR_FIXED = struct.Struct("!HHIH")


def flags4(aa: bool, rcode: int, tc: bool = False) -> tuple[bytes, bytes, bytes, bytes]:
    """The two flag bytes of a response, indexed by (RD of the query) | (CD of the query) << 1.

    QR is set, RA is set (names outside the cluster are forwarded), AA for authoritative answers."""
    b2 = 0x80 | (0x04 if aa else 0) | (0x02 if tc else 0)
    b3 = 0x80 | (rcode & 0x0F)
    return tuple(bytes((b2 | (i & 1), b3 | ((i & 2) << 3))) for i in range(4))  # type: ignore[return-value]


_FLAGS: dict[tuple[bool, int, bool], tuple[bytes, bytes, bytes, bytes]] = {}


def flags_for(aa: bool, rcode: int, tc: bool = False) -> tuple[bytes, bytes, bytes, bytes]:
    key = (aa, rcode, tc)
    f = _FLAGS.get(key)
    if f is None:
        f = _FLAGS[key] = flags4(aa, rcode, tc)
    return f


def flag_index(data: bytes) -> int:
    return (data[2] & 1) | ((data[3] & 0x10) >> 3)


class Entry(NamedTuple):
    """A prepared response for one (name, type) question."""
    flags: tuple[bytes, bytes, bytes, bytes]  # indexed by flag_index(query)
    counts: bytes          # qd, an, ns, ar without EDNS
    counts_edns: bytes     # the same with one more additional record (the OPT)
    body: bytes            # answer, authority and additional sections (no OPT)
    ends: tuple[int, ...]  # end offset in body of each answer record (for truncation)
    rcode: int
    aa: bool


# -- names -------------------------------------------------------------------------------

_NAME_CACHE: dict[str, bytes] = {}


def name_to_wire(name: str) -> bytes:
    """'a.b.' -> b'\\x01a\\x01b\\x00' (ASCII labels, case kept; '.' is the root)."""
    w = _NAME_CACHE.get(name)
    if w is not None:
        return w
    out = bytearray()
    if name not in (".", ""):
        for label in name.rstrip(".").split("."):
            b = label.encode("ascii")
            if not 0 < len(b) < 64:
                raise ValueError(f"bad label in {name!r}")
            out.append(len(b))
            out += b
    out.append(0)
    if len(out) > 255:
        raise ValueError(f"name too long: {name!r}")
    w = bytes(out)
    if len(_NAME_CACHE) > 200_000:
        _NAME_CACHE.clear()
    _NAME_CACHE[name] = w
    return w


def wire_to_text(wire: bytes) -> str:
    """Uncompressed wire name -> 'a.b.' (bytes outside printable ASCII escaped as \\DDD)."""
    labels = []
    i = 0
    while True:
        n = wire[i]
        if n == 0:
            break
        raw = wire[i + 1:i + 1 + n]
        labels.append("".join(chr(c) if 0x21 <= c <= 0x7E and c not in (0x2E, 0x5C) else f"\\{c:03d}" for c in raw))
        i += n + 1
    return ".".join(labels) + "." if labels else "."


def _label_starts(wire: bytes) -> list[int]:
    starts = []
    i = 0
    while wire[i]:
        starts.append(i)
        i += wire[i] + 1
    return starts


class _Writer:
    """Appends records after a question, compressing names against what is already written."""

    def __init__(self, qname_wire: bytes) -> None:
        self.buf = bytearray()
        self.base = 12 + len(qname_wire) + 4  # absolute offset of body[0]
        self.ptrs: dict[bytes, int] = {}
        self._remember(qname_wire.lower(), 12)

    def _remember(self, wire_lower: bytes, offset: int) -> None:
        for start in _label_starts(wire_lower):
            if offset + start < 0x4000:
                self.ptrs.setdefault(wire_lower[start:], offset + start)

    def name(self, name: str | bytes, compress: bool = True) -> None:
        wire = name if isinstance(name, bytes) else name_to_wire(name)
        lower = wire.lower()
        here = self.base + len(self.buf)
        if compress:
            starts = _label_starts(lower)
            for start in starts:
                ptr = self.ptrs.get(lower[start:])
                if ptr is not None:
                    self.buf += wire[:start]
                    self.buf += struct.pack("!H", 0xC000 | ptr)
                    for s in starts:  # the suffixes that now begin inside the written prefix
                        if s >= start:
                            break
                        if here + s < 0x4000:
                            self.ptrs.setdefault(lower[s:], here + s)
                    return
        self.buf += wire
        self._remember(lower, here)

    def rr(self, rr: RR) -> None:
        self.name(rr.name)
        rtype = rr.rtype
        start = len(self.buf)
        self.buf += _RR_FIXED.pack(rtype, IN, max(0, min(rr.ttl, 0x7FFFFFFF)), 0)
        rd_start = len(self.buf)
        data = rr.data
        if isinstance(data, (bytes, bytearray)):
            self.buf += data
        elif rtype == A:
            self.buf += socket.inet_pton(socket.AF_INET, data)
        elif rtype == AAAA:
            self.buf += socket.inet_pton(socket.AF_INET6, data)
        elif rtype in (CNAME, PTR, NS):
            self.name(data)
        elif rtype == SRV:
            prio, weight, port, target = data
            self.buf += struct.pack("!HHH", prio, weight, port)
            self.name(target, compress=False)  # RFC 2782: no compression of the target
        elif rtype == TXT:
            for s in data:
                b = s.encode() if isinstance(s, str) else s
                for i in range(0, max(len(b), 1), 255):
                    chunk = b[i:i + 255]
                    self.buf.append(len(chunk))
                    self.buf += chunk
        elif rtype == SOA:
            mname, rname, *nums = data
            self.name(mname)
            self.name(rname)
            self.buf += struct.pack("!IIIII", *nums)
        else:
            raise ValueError(f"cannot encode record type {rtype} from {data!r}")
        struct.pack_into("!H", self.buf, start + 8, len(self.buf) - rd_start)


def build_entry(qname_wire: bytes, rcode: int, answer: Iterable[RR] = (), authority: Iterable[RR] = (),
                additional: Iterable[RR] = (), aa: bool = True) -> Entry:
    w = _Writer(qname_wire)
    ends = []
    an = ns = ar = 0
    for rr in answer:
        w.rr(rr)
        ends.append(len(w.buf))
        an += 1
    for rr in authority:
        w.rr(rr)
        ns += 1
    for rr in additional:
        if rr.rtype == OPT:
            continue
        w.rr(rr)
        ar += 1
    return Entry(flags_for(aa, rcode), _HDR.pack(1, an, ns, ar), _HDR.pack(1, an, ns, ar + 1), bytes(w.buf),
                 tuple(ends), rcode, aa)


def render(entry: Entry, query: bytes, qend: int, edns: bool, limit: int) -> bytes:
    """The response to `query` (question ending at `qend`) from a prepared entry, at most `limit` bytes."""
    e = entry
    if edns:
        resp = b"".join((query[:2], e.flags[flag_index(query)], e.counts_edns, query[12:qend], e.body, OPT_RR))
    else:
        resp = b"".join((query[:2], e.flags[flag_index(query)], e.counts, query[12:qend], e.body))
    if len(resp) > limit:
        return truncate(e, query, qend, edns, limit)
    return resp


def truncate(e: Entry, query: bytes, qend: int, edns: bool, limit: int) -> bytes:
    """TC set, as many whole answer records as fit, no authority/additional (the client retries over TCP)."""
    room = limit - qend - (len(OPT_RR) if edns else 0)
    k = 0
    while k < len(e.ends) and e.ends[k] <= room:
        k += 1
    body = e.body[:e.ends[k - 1]] if k else b""
    flags = flags_for(e.aa, e.rcode, tc=True)[flag_index(query)]
    counts = _HDR.pack(1, k, 0, 1 if edns else 0)
    return b"".join((query[:2], flags, counts, query[12:qend], body, OPT_RR if edns else b""))


def error_response(query: bytes, rcode: int, qend: int = 0, edns: bool = False) -> bytes:
    """A bare response with `rcode`; echoes the question when `qend` says where it ends."""
    idx = flag_index(query) if len(query) >= 4 else 0
    ext = rcode >> 4
    flags = flags_for(False, rcode & 0x0F)[idx]
    ident = query[:2].ljust(2, b"\x00")
    if qend:
        head = ident + flags + _HDR.pack(1, 0, 0, 1 if edns else 0) + query[12:qend]
    else:
        head = ident + flags + _HDR.pack(0, 0, 0, 1 if edns else 0)
    if edns:
        head += b"\x00\x00\x29" + struct.pack("!HBBHH", MAX_UDP, ext, 0, 0, 0)
    return head
