"""SPDY/3.1 framing, as kubectl's port-forward (and its exec fallback) speaks it: the server
side of moby/spdystream.

kubectl 1.32 carries port-forward's SPDY/3.1 either inside WebSocket binary messages
(sub-protocol `SPDY/3.1+portforward.k8s.io`, message boundaries meaningless) or over a raw
upgraded socket (POST + `Upgrade: SPDY/3.1`, also used by exec when WebSockets are refused).
Either way this module sees a byte stream: `SpdySession.feed(data)` parses frames, and every
frame it produces goes out through the `write` coroutine it was given.

`accept_upgrade()` turns an aiohttp request into such a raw byte stream (the POST +
`Upgrade: SPDY/3.1` path), which aiohttp itself only does for WebSockets.

Only what a server needs is implemented: the client opens every stream (SYN_STREAM) and we
answer each with an empty SYN_REPLY; DATA in both directions with FIN half-closes; RST_STREAM;
PING echoed; GOAWAY ends the session; SETTINGS and WINDOW_UPDATE are ignored (spdystream does
no flow control). Header blocks are zlib-compressed with the SPDY/3 dictionary, one inflate
context for the peer's blocks and one deflate context for ours, per connection.

Frame layout (8-byte header):
    control: 1 | version(15) = 3 | type(16) | flags(8) | length(24) | payload
    data:    0 | stream id(31)              | flags(8) | length(24) | payload
"""

from __future__ import annotations

import asyncio
import logging
import struct
import zlib
from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping

from aiohttp import web

log = logging.getLogger(__name__)

VERSION = 3

SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

FLAG_FIN = 0x01

# RST_STREAM status codes (SPDY/3 section 2.4.2).
PROTOCOL_ERROR = 1
INVALID_STREAM = 2
REFUSED_STREAM = 3
CANCEL = 5
INTERNAL_ERROR = 6

MAX_DATA = 32 * 1024  # bytes per DATA frame we send


def _spdy3_dictionary() -> bytes:
    """The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00 section 2.6.10.1).

    It is a list of length-prefixed header names and values followed by a block of common
    status lines, dates and media types; both sides must use it byte for byte.
    """
    words = (
        "options head post put delete trace accept accept-charset accept-encoding accept-language "
        "accept-ranges age allow authorization cache-control connection content-base content-encoding "
        "content-language content-length content-location content-md5 content-range content-type date "
        "etag expect expires from host if-match if-modified-since if-none-match if-range "
        "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
        "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
        "user-agent vary via warning www-authenticate method get status 200\0OK version HTTP/1.1 url "
        "public set-cookie keep-alive origin"
    ).split()
    head = b"".join(struct.pack(">I", len(w)) + w.replace("\0", " ").encode() for w in words)
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
        "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
        "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
        "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
        "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
        "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    ).encode()
    return head + tail


DICTIONARY = _spdy3_dictionary()
assert len(DICTIONARY) == 1423, len(DICTIONARY)


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3.1; the session cannot continue."""


@dataclass(frozen=True)
class Frame:
    control: bool
    type: int  # control frame type; 0 for data frames
    flags: int
    stream_id: int  # data frames only
    payload: bytes


class FrameReader:
    """Splits a byte stream into frames; partial frames wait for more bytes."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        buf += data
        frames: list[Frame] = []
        while len(buf) >= 8:
            length = int.from_bytes(buf[5:8], "big")
            if len(buf) < 8 + length:
                break
            head = bytes(buf[:8])
            payload = bytes(buf[8:8 + length])
            del buf[:8 + length]
            flags = head[4]
            if head[0] & 0x80:
                version = int.from_bytes(head[0:2], "big") & 0x7FFF
                if version != VERSION:
                    raise ProtocolError(f"unsupported SPDY version {version}")
                frames.append(Frame(True, int.from_bytes(head[2:4], "big"), flags, 0, payload))
            else:
                frames.append(Frame(False, 0, flags, int.from_bytes(head[0:4], "big") & 0x7FFFFFFF, payload))
        return frames


def control_frame(type_: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, type_, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(payload)) + payload


class HeaderCodec:
    """The two zlib contexts of one connection (they carry state from block to block)."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8,
                                         zlib.Z_DEFAULT_STRATEGY, DICTIONARY)

    def decode(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as e:
            raise ProtocolError(f"bad header block: {e}") from None
        headers: dict[str, str] = {}
        try:
            (count,) = struct.unpack_from(">I", raw, 0)
            pos = 4
            for _ in range(count):
                (n,) = struct.unpack_from(">I", raw, pos)
                name = raw[pos + 4:pos + 4 + n].decode("latin-1").lower()
                pos += 4 + n
                (n,) = struct.unpack_from(">I", raw, pos)
                value = raw[pos + 4:pos + 4 + n].decode("latin-1")
                pos += 4 + n
                # Multiple values travel NUL-separated; the first is enough for kubectl's headers.
                headers[name] = value.split("\0", 1)[0]
        except struct.error:
            raise ProtocolError("truncated header block") from None
        return headers

    def encode(self, headers: dict[str, str]) -> bytes:
        raw = bytearray(struct.pack(">I", len(headers)))
        for name, value in headers.items():
            for part in (name.lower().encode("latin-1"), value.encode("latin-1")):
                raw += struct.pack(">I", len(part)) + part
        return self._deflate.compress(bytes(raw)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)


class SpdyStream:
    """One client-opened stream: read what the peer sends, write back, half-close with FIN."""

    def __init__(self, session: "SpdySession", stream_id: int, headers: dict[str, str]) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self._incoming: asyncio.Queue[bytes] = asyncio.Queue()  # b"" marks the peer's FIN or a reset
        self._remote_closed = False
        self._local_closed = False
        self.reset_received = False

    # -- fed by the session -----------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        if data and not self._remote_closed:
            self._incoming.put_nowait(data)

    def _on_fin(self) -> None:
        if not self._remote_closed:
            self._remote_closed = True
            self._incoming.put_nowait(b"")

    def _on_reset(self) -> None:
        self.reset_received = True
        self._local_closed = True
        self._on_fin()

    # -- used by stream handlers ----------------------------------------------------------

    async def read(self) -> bytes:
        """The next chunk the peer sent; b"" once it half-closed the stream (or reset it)."""
        if self._remote_closed and self._incoming.empty():
            return b""
        return await self._incoming.get()

    async def read_all(self) -> bytes:
        chunks = []
        while chunk := await self.read():
            chunks.append(chunk)
        return b"".join(chunks)

    async def write(self, data: bytes) -> None:
        if self._local_closed:
            raise ConnectionResetError(f"SPDY stream {self.id} is closed")
        for i in range(0, len(data), MAX_DATA):
            await self.session.send(data_frame(self.id, 0, data[i:i + MAX_DATA]))

    async def close(self) -> None:
        """Half-close: an empty DATA frame with FIN. Idempotent."""
        if self._local_closed or self.session.closed:
            return
        self._local_closed = True
        await self.session.send(data_frame(self.id, FLAG_FIN, b""))

    async def reset(self, status: int = CANCEL) -> None:
        if self.session.closed or self.reset_received:
            return
        self._local_closed = True
        self._on_fin()
        await self.session.send(control_frame(RST_STREAM, 0, struct.pack(">II", self.id, status)))


StreamHandler = Callable[[SpdyStream], None]


class SpdySession:
    """Server side of one SPDY/3.1 connection.

    `write` sends bytes to the peer (a WebSocket's send_bytes, or a socket writer);
    `on_stream` is called, after the SYN_REPLY went out, for every stream the peer opens;
    it must not block (start a task for the stream's work).
    """

    def __init__(self, write: Callable[[bytes], Awaitable[None]], on_stream: StreamHandler) -> None:
        self._write = write
        self._on_stream = on_stream
        self._reader = FrameReader()
        self._codec = HeaderCodec()
        self._send_lock = asyncio.Lock()
        self.streams: dict[int, SpdyStream] = {}
        self.closed = False
        self.goaway_received = False

    async def send(self, frame: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("SPDY session is closed")
        async with self._send_lock:
            await self._write(frame)

    async def _send_headers(self, type_: int, stream_id: int, headers: dict[str, str]) -> None:
        # Compressing and sending under one lock keeps our deflate context in wire order.
        if self.closed:
            raise ConnectionResetError("SPDY session is closed")
        async with self._send_lock:
            block = self._codec.encode(headers)
            await self._write(control_frame(type_, 0, struct.pack(">I", stream_id) + block))

    async def feed(self, data: bytes) -> None:
        """Process bytes from the peer. Raises ProtocolError on garbage."""
        for frame in self._reader.feed(data):
            if frame.control:
                await self._control(frame)
            else:
                self._data(frame)

    def _data(self, frame: Frame) -> None:
        stream = self.streams.get(frame.stream_id)
        if stream is None:
            log.debug("SPDY data for unknown stream %d dropped", frame.stream_id)
            return
        stream._on_data(frame.payload)
        if frame.flags & FLAG_FIN:
            stream._on_fin()

    async def _control(self, frame: Frame) -> None:
        p = frame.payload
        if frame.type == SYN_STREAM:
            if len(p) < 10:
                raise ProtocolError("short SYN_STREAM")
            stream_id = int.from_bytes(p[0:4], "big") & 0x7FFFFFFF
            headers = self._codec.decode(p[10:])
            if stream_id in self.streams:
                await self.send(control_frame(RST_STREAM, 0, struct.pack(">II", stream_id, PROTOCOL_ERROR)))
                return
            stream = SpdyStream(self, stream_id, headers)
            self.streams[stream_id] = stream
            if frame.flags & FLAG_FIN:
                stream._on_fin()
            await self._send_headers(SYN_REPLY, stream_id, {})
            self._on_stream(stream)
        elif frame.type == HEADERS:
            if len(p) >= 4:
                self._codec.decode(p[4:])  # keeps the inflate context in step; nothing to do with them
        elif frame.type == SYN_REPLY:
            if len(p) >= 4:
                self._codec.decode(p[4:])
        elif frame.type == RST_STREAM:
            if len(p) >= 4:
                stream = self.streams.get(int.from_bytes(p[0:4], "big") & 0x7FFFFFFF)
                if stream is not None:
                    stream._on_reset()
        elif frame.type == PING:
            await self.send(control_frame(PING, 0, p[:4]))
        elif frame.type == GOAWAY:
            self.goaway_received = True
        # SETTINGS, WINDOW_UPDATE and anything unknown: ignored, as spdystream does.

    def forget(self, stream: SpdyStream) -> None:
        self.streams.pop(stream.id, None)

    def close(self) -> None:
        """The transport is gone: wake every reader and refuse further writes."""
        self.closed = True
        for stream in list(self.streams.values()):
            stream._local_closed = True
            stream._on_fin()
        self.streams.clear()


# -- SPDY over a raw HTTP/1.1 upgrade (server side, aiohttp) -------------------------------

UPGRADE_BUFFER = 64  # chunks queued from the peer before we stop reading the socket


class _UpgradeResponse(web.StreamResponse):
    """A 101 answer after which the connection belongs to the handler (no body, no EOF marker)."""

    async def write_eof(self, data: bytes = b"") -> None:
        return None


class UpgradedConnection:
    """The bytes of an HTTP/1.1 connection after 101 Switching Protocols.

    It stands in for aiohttp's payload parser (`feed_data`/`feed_eof`), so every byte after
    the request head arrives here; writes go through the response's payload writer, which
    applies the transport's back-pressure.
    """

    def __init__(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        self.response = response
        self._transport = request.transport
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._paused = False
        self._eof = False
        self._writer: object | None = None

    # aiohttp's RequestHandler calls these once set_parser() installed us.
    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self._queue.put_nowait(bytes(data))
            if self._queue.qsize() >= UPGRADE_BUFFER and self._transport is not None and not self._paused:
                self._paused = True
                self._transport.pause_reading()
        return False, b""

    def feed_eof(self) -> None:
        if not self._eof:
            self._eof = True
            self._queue.put_nowait(b"")

    async def read(self) -> bytes:
        """The next bytes from the peer; b"" once it closed the connection."""
        if self._eof and self._queue.empty():
            return b""
        data = await self._queue.get()
        if self._paused and self._queue.qsize() < UPGRADE_BUFFER // 2 and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return data

    async def write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionResetError("the upgraded connection is closed")
        await self.response.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self.feed_eof()


def wants_spdy_upgrade(request: web.BaseRequest) -> bool:
    return request.headers.get("Upgrade", "").lower().startswith("spdy/3")


async def accept_upgrade(request: web.BaseRequest, headers: Mapping[str, str]) -> UpgradedConnection:
    """Answer 101 with `headers` (Connection/Upgrade/X-Stream-Protocol-Version) and take over
    the connection. The handler must return `conn.response` when it is done."""
    response = _UpgradeResponse(status=101, headers={"Connection": "Upgrade", **headers})
    response.force_close()
    conn = UpgradedConnection(request, response)
    request.protocol.set_parser(conn)  # type: ignore[arg-type]  # duck-typed like WebSocketReader
    request.protocol.keep_alive(False)
    writer = await response.prepare(request)
    assert writer is not None
    await writer.drain()  # the status line goes out now, not with the first data
    return conn


async def run_session(session: SpdySession, read: Callable[[], Awaitable[bytes]]) -> None:
    """Feed the session from `read` until the peer closes, says GOAWAY or breaks the protocol."""
    try:
        while not session.goaway_received:
            data = await read()
            if not data:
                return
            await session.feed(data)
    except ProtocolError as e:
        log.warning("SPDY session ended: %s", e)
    finally:
        session.close()
