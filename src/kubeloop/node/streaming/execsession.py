"""exec and attach: the request, the session that pumps between a client and a process, and
the endpoint that upgrades to either transport (see exectransport).

The session ends with a Status on channel 3: a non-zero exit code travels as reason
NonZeroExitCode with an ExitCode cause, which kubectl turns into its own exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web

from kubeloop.api.errors import APIError, BadRequest

from .. import spdy
from .contract import ExecProcess, StreamingRuntime
from .exectransport import CLOSE, RESIZE, STDERR, STDIN, STDOUT, ExecTransport, SpdyExec, WebSocketExec
from .wire import (MAX_WS_MESSAGE, READ_CHUNK, SPDY_V2, V1, V4, V5, choose_protocol, flag, is_websocket,
                   json_status, negotiate_spdy)

log = logging.getLogger(__name__)

EXEC_PROTOCOLS = (V5, V4, V1)
SPDY_EXEC_PROTOCOLS = (V5, V4, "v3.channel.k8s.io", SPDY_V2, V1)  # X-Stream-Protocol-Version
TTY_SIZE_WAIT = 1.0  # how long a TTY session waits for the client's terminal size before starting
DRAIN_IDLE = 0.5  # after exit, stop waiting for output once it has been quiet this long
STREAM_CREATION_TIMEOUT = 30.0  # the kubelet's limit for a SPDY client to open its streams


def exit_status(code: int, argv: list[str] | None = None) -> dict[str, Any]:
    """The channel-3 Status for an exit code, as the kubelet writes it (v4/v5)."""
    if code < 0:  # killed by a signal: report it as a shell would
        code = 128 - code
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    what = f"error executing command {_go_list(argv)}, exit code {code}" if argv else f"exit code {code}"
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: {what}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def _go_list(argv: list[str]) -> str:
    return "[" + " ".join(argv) + "]"


def failure_status(message: str) -> dict[str, Any]:
    """A channel-3 Status for a session that failed for another reason (kubectl: `error: <message>`)."""
    return {"metadata": {}, "status": "Failure", "message": message}


@dataclass
class _ExecRequest:
    namespace: str
    pod: str
    container: str
    argv: list[str]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def _parse_exec(request: web.Request, with_command: bool) -> _ExecRequest:
    m = request.match_info
    argv = request.query.getall("command", []) if with_command else []
    if with_command and not argv:
        raise BadRequest("you must specify at least one command for the container")
    # The API server's names (stdin, ...) and the kubelet's (input, ...) are both accepted.
    req = _ExecRequest(m["namespace"], m["pod"], m["container"], list(argv),
                       flag(request, "stdin") or flag(request, "input"),
                       flag(request, "stdout") or flag(request, "output"),
                       flag(request, "stderr") or flag(request, "error"), flag(request, "tty"))
    if req.tty:
        req.stderr = False  # a terminal has one output stream; kubectl already drops stderr with -t
    if not (req.stdin or req.stdout or req.stderr):
        raise BadRequest("you must specify at least 1 of stdin, stdout, stderr")
    return req


class _ExecSession:
    """Pumps between one client (either transport) and one process."""

    def __init__(self, transport: ExecTransport, req: _ExecRequest) -> None:
        self.transport = transport
        self.req = req
        self._bytes_out = 0

    async def pump_out(self, reader: asyncio.StreamReader, channel: int, enabled: bool) -> None:
        while True:
            try:
                chunk = await reader.read(READ_CHUNK)
            except OSError:  # a pseudo-terminal's master reads EIO once the last slave closed
                return
            if not chunk:
                return
            self._bytes_out += len(chunk)
            if enabled:
                with contextlib.suppress(ConnectionError):
                    await self.transport.send(channel, chunk)

    async def pump_in(self, proc: ExecProcess, early: list[tuple[int, bytes]]) -> None:
        """Client events: stdin, resize, close-stdin. Returns when the client goes away."""
        stdin = proc.stdin

        async def handle(channel: int, payload: bytes) -> None:
            nonlocal stdin
            if channel == STDIN:
                if stdin is not None and payload:
                    try:
                        stdin.write(payload)
                        await stdin.drain()
                    except (ConnectionError, BrokenPipeError):
                        stdin = None
            elif channel == RESIZE:
                size = _parse_resize(payload)
                if size is not None:
                    proc.resize(*size)
            elif channel == CLOSE and payload[:1] == bytes((STDIN,)) and stdin is not None:
                with contextlib.suppress(OSError):
                    stdin.close()
                stdin = None

        for event in early:
            await handle(*event)
        while (event := await self.transport.receive()) is not None:
            await handle(*event)

    async def initial_size(self) -> tuple[tuple[int, int] | None, list[tuple[int, bytes]], bool]:
        """With a TTY, kubectl's first message is the terminal size: wait briefly for it, so the
        process starts with the right size. Returns (size, other early events, client still there)."""
        if not self.req.tty:
            return None, [], True
        try:
            event = await asyncio.wait_for(self.transport.receive(), TTY_SIZE_WAIT)
        except asyncio.TimeoutError:
            return None, [], True
        if event is None:
            return None, [], False
        if event[0] == RESIZE:
            return _parse_resize(event[1]), [], True
        return None, [event], True

    async def run(self, start: Callable[[tuple[int, int] | None], Awaitable[ExecProcess]]) -> None:
        size, early, connected = await self.initial_size()
        if not connected:
            return
        try:
            proc = await start(size)
        except APIError as e:
            await self.transport.finish(failure_status(e.message))
            return
        except OSError as e:
            name = self.req.argv[0] if self.req.argv else "process"
            await self.transport.finish(failure_status(
                f"failed to exec in container: exec: {json.dumps(name)}: {e.strerror or e}"))
            return
        pumps = []
        if proc.stdout is not None:
            pumps.append(asyncio.ensure_future(self.pump_out(proc.stdout, STDOUT, self.req.stdout)))
        if proc.stderr is not None:
            pumps.append(asyncio.ensure_future(self.pump_out(proc.stderr, STDERR, self.req.stderr)))
        inbound = asyncio.ensure_future(self.pump_in(proc, early))
        waiter = asyncio.ensure_future(proc.wait())
        try:
            done, _ = await asyncio.wait({inbound, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if waiter not in done:  # the client went away first
                proc.kill()
                return
            await self._drain(pumps)
            await self.transport.finish(exit_status(waiter.result(), self.req.argv))
        finally:
            for task in (*pumps, inbound, waiter):
                task.cancel()
            await asyncio.gather(*pumps, inbound, waiter, return_exceptions=True)
            if waiter.cancelled() or not waiter.done():
                proc.kill()

    async def _drain(self, pumps: list[asyncio.Future[None]]) -> None:
        """The process exited: send what is left of its output.

        Stops waiting once output has been quiet for DRAIN_IDLE (a background child that
        inherited stdout would otherwise hold the session open forever).
        """
        pending = {p for p in pumps if not p.done()}
        while pending:
            before = self._bytes_out
            _, pending = await asyncio.wait(pending, timeout=DRAIN_IDLE)
            if pending and self._bytes_out == before:
                return


def _parse_resize(payload: bytes) -> tuple[int, int] | None:
    """(width, height) from a resize message (one JSON object, newline-terminated by kubectl)."""
    try:
        size = json.loads(payload.decode() or "{}")
        width, height = int(size.get("Width", 0)), int(size.get("Height", 0))
    except (ValueError, AttributeError, TypeError):
        return None
    return (width, height) if width > 0 and height > 0 else None


async def _spdy_exec_streams(conn: spdy.UpgradedConnection, req: _ExecRequest, protocol: str
                             ) -> tuple[spdy.SpdySession, dict[str, spdy.SpdyStream], asyncio.Future[None]] | None:
    """Run the SPDY session and wait until the client has opened every stream it will use."""
    expected = {"error"} | {k for k, on in (("stdin", req.stdin), ("stdout", req.stdout),
                                             ("stderr", req.stderr)) if on}
    if req.tty and protocol not in (V1, SPDY_V2):
        expected.add("resize")
    streams: dict[str, spdy.SpdyStream] = {}
    complete = asyncio.Event()

    def on_stream(stream: spdy.SpdyStream) -> None:
        streams[stream.headers.get("streamtype", "")] = stream
        if expected <= streams.keys():
            complete.set()

    session = spdy.SpdySession(conn.write, on_stream)
    feeding = asyncio.ensure_future(spdy.run_session(session, conn.read))
    waiting = asyncio.ensure_future(complete.wait())
    await asyncio.wait({feeding, waiting}, timeout=STREAM_CREATION_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    if not complete.is_set():
        waiting.cancel()
        feeding.cancel()
        log.warning("exec %s/%s: the client opened streams %s, not %s", req.namespace, req.pod,
                    sorted(streams), sorted(expected))
        return None
    return session, streams, feeding


async def serve_channel_session(request: web.Request, runtime: StreamingRuntime, attach: bool) -> web.StreamResponse:
    try:
        req = _parse_exec(request, with_command=not attach)
        await runtime.check_running(req.namespace, req.pod, req.container)
        if is_websocket(request):
            protocol = choose_protocol(request, EXEC_PROTOCOLS)
        elif spdy.wants_spdy_upgrade(request):
            protocol = negotiate_spdy(request, SPDY_EXEC_PROTOCOLS)
        else:
            raise BadRequest("Upgrade request required")
    except APIError as e:
        return json_status(e)

    async def start(size: tuple[int, int] | None) -> ExecProcess:
        if attach:
            return await runtime.attach(req.namespace, req.pod, req.container, tty=req.tty, stdin=req.stdin,
                                        size=size)
        return await runtime.exec(req.namespace, req.pod, req.container, req.argv, tty=req.tty,
                                  stdin=req.stdin, size=size)

    if is_websocket(request):
        ws = web.WebSocketResponse(protocols=(protocol,) if protocol else (), autoping=True,
                                   max_msg_size=MAX_WS_MESSAGE, compress=False)
        await ws.prepare(request)
        try:
            await _ExecSession(WebSocketExec(ws, protocol or V1), req).run(start)
        except ConnectionError:
            pass
        finally:
            await ws.close()
        return ws

    assert protocol is not None
    conn = await spdy.accept_upgrade(request, {"Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": protocol})
    try:
        opened = await _spdy_exec_streams(conn, req, protocol)
        if opened is None:
            return conn.response
        session, streams, feeding = opened
        transport = SpdyExec(session, streams, protocol)
        feeding.add_done_callback(lambda _: transport.connection_lost())
        try:
            await _ExecSession(transport, req).run(start)
        except ConnectionError:
            pass
        finally:
            feeding.cancel()
            await asyncio.gather(feeding, return_exceptions=True)
    finally:
        conn.close()
    return conn.response
