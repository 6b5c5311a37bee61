"""How an exec/attach session talks to its client: Kubernetes' channel protocol over a
WebSocket, or one SPDY stream per channel.

WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`, `channel.k8s.io`): every binary message
starts with a channel byte, 0 stdin, 1 stdout, 2 stderr, 3 status (server to client, once),
4 terminal resize, and in v5 255 "close channel" (`\\xff\\x00`: the client's stdin reached EOF).
The status is a Status JSON (v4/v5; plain text in the older protocol).

SPDY: the client opens one stream per channel (header `streamtype`: error, stdin, stdout,
stderr, resize); both transports deliver the same events to the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from .. import spdy
from .wire import V4, V5

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


class ExecTransport(Protocol):
    """How an exec session talks to its client: WebSocket channels or SPDY streams."""

    async def send(self, channel: int, data: bytes) -> None:
        """Output on STDOUT or STDERR."""

    async def receive(self) -> tuple[int, bytes] | None:
        """The next client event: (STDIN, data), (RESIZE, json), (CLOSE, b"\\x00") for stdin
        EOF; None once the client is gone."""

    async def finish(self, status: dict[str, Any]) -> None:
        """Deliver the final Status and end the session."""


class WebSocketExec:
    """Channel framing: one leading channel byte per binary message."""

    def __init__(self, ws: web.WebSocketResponse, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol

    async def send(self, channel: int, data: bytes) -> None:
        await self.ws.send_bytes(bytes((channel,)) + data)

    async def receive(self) -> tuple[int, bytes] | None:
        while True:
            msg = await self.ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return None
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel = msg.data[0]
            if channel == CLOSE and self.protocol != V5:
                continue  # only v5 has the close signal
            return channel, msg.data[1:]

    async def finish(self, status: dict[str, Any]) -> None:
        data = _encode_status(status, self.protocol)
        if data:
            await self.send(ERROR, data)
        await self.ws.close()


def _encode_status(status: dict[str, Any], protocol: str) -> bytes:
    """v4 and later carry a Status JSON; older protocols the error text, nothing on success."""
    if protocol in (V4, V5):
        return json.dumps(status, separators=(",", ":")).encode()
    if status.get("status") == "Success":
        return b""
    return str(status.get("message", "")).encode()


class SpdyExec:
    """SPDY framing: the client opened one stream per channel (header `streamtype`)."""

    def __init__(self, session: spdy.SpdySession, streams: dict[str, spdy.SpdyStream], protocol: str) -> None:
        self.session = session
        self.streams = streams
        self.protocol = protocol
        self._events: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._readers = [asyncio.ensure_future(self._read_stdin()), asyncio.ensure_future(self._read_resize())]

    async def _read_stdin(self) -> None:
        stream = self.streams.get("stdin")
        if stream is None:
            return
        while chunk := await stream.read():
            self._events.put_nowait((STDIN, chunk))
        if not self.session.closed:
            self._events.put_nowait((CLOSE, bytes((STDIN,))))

    async def _read_resize(self) -> None:
        stream = self.streams.get("resize")
        if stream is None:
            return
        decoder, buf = json.JSONDecoder(), ""
        while chunk := await stream.read():
            buf += chunk.decode("utf-8", "replace")
            while buf.strip():
                try:
                    obj, end = decoder.raw_decode(buf.lstrip())
                except ValueError:
                    break  # an incomplete object: wait for more
                buf = buf.lstrip()[end:]
                self._events.put_nowait((RESIZE, json.dumps(obj).encode()))

    def connection_lost(self) -> None:
        self._events.put_nowait(None)

    async def send(self, channel: int, data: bytes) -> None:
        stream = self.streams.get("stdout" if channel == STDOUT else "stderr")
        if stream is not None:
            await stream.write(data)

    async def receive(self) -> tuple[int, bytes] | None:
        return await self._events.get()

    async def finish(self, status: dict[str, Any]) -> None:
        for task in self._readers:
            task.cancel()
        with contextlib.suppress(ConnectionError):
            for kind in ("stdout", "stderr"):
                if kind in self.streams:
                    await self.streams[kind].close()
            error = self.streams.get("error")
            if error is not None:
                data = _encode_status(status, self.protocol)
                if data:
                    await error.write(data)
                await error.close()
