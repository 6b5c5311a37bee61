"""portForward: relaying TCP connections to a pod's ports.

It speaks SPDY/3.1 inside WebSocket binary messages (`SPDY/3.1+portforward.k8s.io`, what
kubectl 1.32 sends), SPDY/3.1 over the upgraded connection itself, or the kubelet's channel
protocol (`v4.channel.k8s.io`, what the Python client sends: channel 2i carries port i's data,
2i+1 its errors).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import Awaitable, Callable

from aiohttp import WSMsgType, web

from kubeloop.api.errors import APIError, BadRequest

from .. import spdy
from .contract import StreamingRuntime
from .wire import (MAX_WS_MESSAGE, READ_CHUNK, V1, V4, choose_protocol, is_websocket, json_status, negotiate_spdy,
                   offered_protocols)

log = logging.getLogger(__name__)

PORTFORWARD_SPDY = "portforward.k8s.io"
SPDY_PORTFORWARD = "SPDY/3.1+portforward.k8s.io"
PORTFORWARD_PROTOCOLS = (SPDY_PORTFORWARD, V4, V1)


def _forward_error(namespace: str, pod: str, port: int, err: BaseException) -> str:
    text = err.message if isinstance(err, APIError) else (getattr(err, "strerror", None) or str(err))
    return f"error forwarding port {port} to pod {namespace}/{pod}: {text}"


async def _pipe_tcp(read_remote: Callable[[], Awaitable[bytes]], write_remote: Callable[[bytes], Awaitable[None]],
                    close_remote: Callable[[], Awaitable[None]], reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
    """Copy both ways between a client stream and a pod connection; returns once the pod side
    has finished sending (what kubectl waits for), having half-closed the client stream."""

    async def to_pod() -> None:
        while chunk := await read_remote():
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()

    async def from_pod() -> None:
        while chunk := await reader.read(READ_CHUNK):
            await write_remote(chunk)
        await close_remote()

    up = asyncio.ensure_future(to_pod())
    down = asyncio.ensure_future(from_pod())
    try:
        await down
    finally:
        up.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


class _SpdyPortForward:
    """Pairs kubectl's error/data streams per request id and forwards each pair to the pod."""

    def __init__(self, runtime: StreamingRuntime, namespace: str, pod: str) -> None:
        self.runtime = runtime
        self.namespace = namespace
        self.pod = pod
        self.session: spdy.SpdySession | None = None
        self._pairs: dict[str, dict[str, spdy.SpdyStream]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def on_stream(self, stream: spdy.SpdyStream) -> None:
        kind = stream.headers.get("streamtype", "")
        request_id = stream.headers.get("requestid", "")
        if not request_id:  # old clients: the data stream follows its error stream
            request_id = str(stream.id if kind == "error" else stream.id - 2)
        if kind not in ("error", "data"):
            self._spawn(stream.reset(spdy.PROTOCOL_ERROR))
            return
        pair = self._pairs.setdefault(request_id, {})
        if kind in pair:
            self._spawn(stream.reset(spdy.PROTOCOL_ERROR))
            return
        pair[kind] = stream
        if len(pair) == 2:
            del self._pairs[request_id]
            self._spawn(self._forward(pair["data"], pair["error"]))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, ConnectionError):
                log.error("port-forward stream failed", exc_info=exc)

    async def _forward(self, data: spdy.SpdyStream, error: spdy.SpdyStream) -> None:
        session = data.session
        try:
            raw_port = data.headers.get("port", "")
            try:
                port = int(raw_port)
                if not 0 < port < 65536:
                    raise ValueError
            except ValueError:
                await error.write(f"invalid port {raw_port!r}".encode())
                return
            try:
                reader, writer = await self.runtime.port_forward_connect(self.namespace, self.pod, port)
            except (OSError, APIError) as e:
                await error.write(_forward_error(self.namespace, self.pod, port, e).encode())
                return
            await _pipe_tcp(data.read, data.write, data.close, reader, writer)
        finally:
            with contextlib.suppress(ConnectionError):
                await data.close()
                await error.close()
            session.forget(data)
            session.forget(error)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _serve_spdy_portforward(runtime: StreamingRuntime, namespace: str, pod: str,
                                  read: Callable[[], Awaitable[bytes]], write: Callable[[bytes], Awaitable[None]]
                                  ) -> None:
    """Port-forward over a SPDY byte stream (WebSocket-tunnelled or a raw upgraded socket)."""
    forwarder = _SpdyPortForward(runtime, namespace, pod)
    session = spdy.SpdySession(write, forwarder.on_stream)
    try:
        await spdy.run_session(session, read)
    finally:
        await forwarder.shutdown()


def _ws_reader(ws: web.WebSocketResponse) -> Callable[[], Awaitable[bytes]]:
    """WebSocket binary messages as a byte stream (b"" once the socket closes)."""

    async def read() -> bytes:
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.BINARY:
                if msg.data:
                    return bytes(msg.data)
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return b""

    return read


def _parse_ports(request: web.Request) -> list[int]:
    ports: list[int] = []
    for raw in request.query.getall("ports", []) + request.query.getall("port", []):
        for part in raw.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                port = int(part)
            except ValueError:
                raise BadRequest(f"invalid port {part!r}") from None
            if not 0 < port < 65536:
                raise BadRequest(f"port {port} must be > 0 and < 65536")
            ports.append(port)
    return ports


async def _serve_channel_portforward(ws: web.WebSocketResponse, runtime: StreamingRuntime, namespace: str,
                                     pod: str, ports: list[int]) -> None:
    """The kubelet's WebSocket port-forward: data on channel 2i, errors on 2i+1, each channel
    first announcing its port as two little-endian bytes."""
    queues: dict[int, asyncio.Queue[bytes]] = {i: asyncio.Queue() for i in range(len(ports))}

    async def send(channel: int, data: bytes) -> None:
        await ws.send_bytes(bytes((channel,)) + data)

    async def forward(i: int, port: int) -> None:
        try:
            reader, writer = await runtime.port_forward_connect(namespace, pod, port)
        except (OSError, APIError) as e:
            await send(2 * i + 1, _forward_error(namespace, pod, port, e).encode())
            return

        async def noop() -> None:
            return None

        await _pipe_tcp(queues[i].get, lambda d: send(2 * i, d), noop, reader, writer)

    for i, port in enumerate(ports):
        announce = struct.pack("<H", port)
        await send(2 * i, announce)
        await send(2 * i + 1, announce)
    tasks = [asyncio.ensure_future(forward(i, p)) for i, p in enumerate(ports)]

    async def inbound() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, payload = msg.data[0], msg.data[1:]
            if channel % 2 == 0 and channel // 2 in queues and payload:
                queues[channel // 2].put_nowait(payload)
        for q in queues.values():
            q.put_nowait(b"")

    reading = asyncio.ensure_future(inbound())
    try:
        await asyncio.wait([reading, asyncio.gather(*tasks, return_exceptions=True)],
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (*tasks, reading):
            task.cancel()
        await asyncio.gather(*tasks, reading, return_exceptions=True)


async def serve_portforward(request: web.Request, runtime: StreamingRuntime) -> web.StreamResponse:
    ns, pod = request.match_info["namespace"], request.match_info["pod"]
    try:
        await runtime.check_running(ns, pod, None)
        raw = spdy.wants_spdy_upgrade(request) and not is_websocket(request)
        if raw:
            protocol = negotiate_spdy(request, (PORTFORWARD_SPDY,))
        elif is_websocket(request):
            protocol = choose_protocol(request, PORTFORWARD_PROTOCOLS) or V1
        else:
            raise BadRequest("Upgrade request required")
        ports = _parse_ports(request) if protocol not in (SPDY_PORTFORWARD, PORTFORWARD_SPDY) else []
        if protocol not in (SPDY_PORTFORWARD, PORTFORWARD_SPDY) and not ports:
            raise BadRequest("query parameter \"port\" is required")
    except APIError as e:
        return json_status(e)
    if raw:
        conn = await spdy.accept_upgrade(request, {"Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": protocol})
        try:
            await _serve_spdy_portforward(runtime, ns, pod, conn.read, conn.write)
        finally:
            conn.close()
        return conn.response
    offered = bool(offered_protocols(request))
    ws = web.WebSocketResponse(protocols=(protocol,) if offered else (), autoping=True,
                               max_msg_size=MAX_WS_MESSAGE, compress=False)
    await ws.prepare(request)
    try:
        if protocol == SPDY_PORTFORWARD:
            await _serve_spdy_portforward(runtime, ns, pod, _ws_reader(ws), ws.send_bytes)
        else:
            await _serve_channel_portforward(ws, runtime, ns, pod, ports)
    except ConnectionError:
        pass
    finally:
        await ws.close()
    return ws
