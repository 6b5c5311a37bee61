"""The node agent's streaming server: container logs, exec, attach and port-forward.

These are the kubelet's streaming endpoints, which the API server proxies pods' `log`,
`exec`, `attach` and `portforward` subresources to:

    GET       /containerLogs/{ns}/{pod}/{container}?follow=&tailLines=&sinceSeconds=&sinceTime=
                                                    &timestamps=&previous=&limitBytes=
    GET|POST  /exec/{ns}/{pod}/{container}?command=..&command=..&stdin=&stdout=&stderr=&tty=
    GET|POST  /attach/{ns}/{pod}/{container}?stdin=&stdout=&stderr=&tty=
    GET|POST  /portForward/{ns}/{pod}[?ports=8080,..]

exec/attach are WebSockets (GET) with Kubernetes' channel protocol (`v5.channel.k8s.io`,
`v4.channel.k8s.io`, `channel.k8s.io`): every binary message starts with a channel byte,
0 stdin, 1 stdout, 2 stderr, 3 status (server to client, once), 4 terminal resize, and in v5
255 "close channel" (`\\xff\\x00`: the client's stdin reached EOF). The status is a Status
JSON (v4/v5; plain text in the older protocol), a non-zero exit code travelling as reason
NonZeroExitCode with an ExitCode cause, which kubectl turns into its own exit code.

portForward speaks SPDY/3.1 inside WebSocket binary messages (`SPDY/3.1+portforward.k8s.io`,
what kubectl 1.32 sends) or the kubelet's channel protocol (`v4.channel.k8s.io`, what the
Python client sends: channel 2i carries port i's data, 2i+1 its errors).

All three also accept the SPDY/3.1 upgrade (POST, `Upgrade: SPDY/3.1`, protocol chosen from
`X-Stream-Protocol-Version`): kubectl's fallback when the WebSocket is refused, and what
older client-go tools use. exec/attach over SPDY use one client-opened stream per channel
(header `streamtype`: error, stdin, stdout, stderr, resize). A request that is neither kind
of upgrade is answered with the container check's error, or 400 "Upgrade request required".
Every refusal before an upgrade is a Kubernetes Status, which kubectl prints.

The container side lives behind `StreamingRuntime`, so this module runs the same against
real pods and against the host-process fakes in the tests. `spawn()` and `format_log_entry()`
are building blocks a runtime can use.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import struct
import termios
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, Awaitable, Callable, Protocol, runtime_checkable

from aiohttp import WSMsgType, web

from kubeloop.api.errors import APIError, BadRequest, InternalError

from . import spdy

log = logging.getLogger(__name__)

# WebSocket sub-protocols, and X-Stream-Protocol-Version values for SPDY.
V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V1 = "channel.k8s.io"
SPDY_V2 = "v2.channel.k8s.io"
EXEC_PROTOCOLS = (V5, V4, V1)
SPDY_EXEC_PROTOCOLS = (V5, V4, "v3.channel.k8s.io", SPDY_V2, V1)  # X-Stream-Protocol-Version
PORTFORWARD_SPDY = "portforward.k8s.io"
SPDY_PORTFORWARD = "SPDY/3.1+portforward.k8s.io"
PORTFORWARD_PROTOCOLS = (SPDY_PORTFORWARD, V4, V1)

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255

READ_CHUNK = 32 * 1024
LOG_POLL_INTERVAL = 0.2  # seconds between looks at a followed log that did not grow
TTY_SIZE_WAIT = 1.0  # how long a TTY session waits for the client's terminal size before starting
DRAIN_IDLE = 0.5  # after exit, stop waiting for output once it has been quiet this long
STREAM_CREATION_TIMEOUT = 30.0  # the kubelet's limit for a SPDY client to open its streams
MAX_WS_MESSAGE = 16 * 1024 * 1024


# -- the runtime contract ------------------------------------------------------------------

class StdinWriter(Protocol):
    """Where a process's stdin goes (asyncio.StreamWriter fits)."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ExecProcess(Protocol):
    """A process started by exec (or the main process attached to).

    stdin is None unless stdin was asked for. With a TTY, stdout reads the terminal and
    stderr is None. Reading stdout/stderr to EOF, then `wait()`, is how a session ends.
    """

    stdin: StdinWriter | None
    stdout: asyncio.StreamReader | None
    stderr: asyncio.StreamReader | None

    def resize(self, width: int, height: int) -> None:
        """Set the terminal size (ignored without a TTY)."""

    async def wait(self) -> int:
        """The exit code (0-255; negative means killed by that signal)."""

    def kill(self) -> None:
        """End the session early (client gone): exec kills the process, attach detaches."""


class StreamingRuntime(Protocol):
    """What the streaming server needs from the container runtime.

    Methods raise kubeloop.api.errors.APIError subclasses (NotFound, BadRequest, ...) for
    anything the client should see as a Kubernetes Status.
    """

    async def check_running(self, namespace: str, pod: str, container: str | None) -> None:
        """Raise unless the pod (and the container, when named) is running here.

        Called before every exec/attach/port-forward upgrade, so that errors reach the client
        as an HTTP Status instead of a dead stream.
        """

    async def exec(self, namespace: str, pod: str, container: str, argv: list[str], *,
                   tty: bool, stdin: bool, size: tuple[int, int] | None) -> ExecProcess:
        """Start argv inside the container (its namespaces, environment and filesystem).

        size: the client's terminal (width, height) when it sent one before the start, so a
        TTY process sees the right size from its first instruction (`spawn(size=...)`).
        Raise OSError when argv cannot be started (the client sees "failed to exec in container").
        """

    async def attach(self, namespace: str, pod: str, container: str, *,
                     tty: bool, stdin: bool, size: tuple[int, int] | None) -> ExecProcess:
        """Stream the container's main process; may raise BadRequest when unsupported."""

    def log_path(self, namespace: str, pod: str, container: str, previous: bool) -> Path:
        """The container's log file (CRI log format, see `format_log_entry`).

        previous=True: the log of the previous (terminated) instance; raise BadRequest when
        there is none. A path that does not exist yet reads as an empty log.
        """

    def log_active(self, path: Path) -> bool:
        """True while a running container still appends to this log file.

        A followed log ends once this is False and the file has been read to its end: the
        runtime signals "the log is closed" simply by answering False (container exited,
        restarted into a new file, or the pod is gone).
        """

    async def port_forward_connect(self, namespace: str, pod: str,
                                   port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to the pod's port (its IP, or localhost inside its network namespace).

        Raise OSError (or APIError) when that fails; the message reaches kubectl.
        """


# -- a runtime building block: host processes with pipes or a pseudo-terminal ----------------

class _PtyWriter:
    """stdin of a TTY process: the pseudo-terminal's master side."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._eof_sent = False

    def write(self, data: bytes) -> None:
        if not self._eof_sent and not self._writer.is_closing():
            self._writer.write(data)

    async def drain(self) -> None:
        await self._writer.drain()

    def close(self) -> None:
        # A terminal has no end of input of its own: the line discipline's EOF character is it.
        if not self._eof_sent and not self._writer.is_closing():
            self._writer.write(b"\x04")
        self._eof_sent = True


class HostProcess:
    """An ExecProcess backed by an asyncio subprocess, optionally on a pseudo-terminal."""

    def __init__(self, proc: asyncio.subprocess.Process, master_fd: int | None = None,
                 pty_transports: list[asyncio.BaseTransport] | None = None) -> None:
        self._proc = proc
        self._master = master_fd
        self._pty_transports = pty_transports or []
        self.stdin: StdinWriter | None = proc.stdin
        self.stdout: asyncio.StreamReader | None = proc.stdout
        self.stderr: asyncio.StreamReader | None = proc.stderr

    @property
    def pid(self) -> int:
        return self._proc.pid

    def resize(self, width: int, height: int) -> None:
        if self._master is None or width <= 0 or height <= 0:
            return
        with contextlib.suppress(OSError):
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        code = await self._proc.wait()
        if self._master is not None:
            # The reading side ends by itself (EIO) once no process holds the terminal;
            # the writing side and our control descriptor are done now.
            for transport in self._pty_transports:
                if isinstance(transport, asyncio.WriteTransport):
                    transport.close()
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = None
        return code

    def kill(self) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)  # spawn() made it a session leader
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        for transport in self._pty_transports:
            transport.close()


def _controlling_tty() -> None:  # runs in the child between fork and exec (only without setsid(1))
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


async def spawn(argv: list[str], *, tty: bool, stdin: bool, size: tuple[int, int] | None = None,
                env: dict[str, str] | None = None, cwd: str | None = None) -> HostProcess:
    """Start argv as its own session, with pipes or (tty=True) a pseudo-terminal of `size`
    (width, height) as its controlling terminal.

    A node runtime enters a pod by prefixing argv (e.g. `nsenter --target PID --all --`).
    Raises OSError when argv cannot be executed.
    """
    if not tty:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env, cwd=cwd, start_new_session=True)
        return HostProcess(proc)
    master, slave = os.openpty()
    if size is not None and size[0] > 0 and size[1] > 0:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    # setsid(1) makes the child a session leader with the terminal as its controlling one; a
    # preexec_fn would do the same but is unsafe in a process with threads.
    setsid = shutil.which("setsid")
    try:
        if setsid is not None:
            proc = await asyncio.create_subprocess_exec(
                setsid, "--ctty", *argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd)
        else:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                start_new_session=True, preexec_fn=_controlling_tty)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_CHUNK * 4)
    read_transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                     os.fdopen(os.dup(master), "rb", 0))
    transports: list[asyncio.BaseTransport] = [read_transport]
    hp = HostProcess(proc, master, transports)
    hp.stdout, hp.stderr, hp.stdin = reader, None, None
    if stdin:
        write_transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()), os.fdopen(os.dup(master), "wb", 0))
        transports.append(write_transport)
        hp.stdin = _PtyWriter(asyncio.StreamWriter(write_transport, protocol, None, loop))
    return hp


# -- helpers -------------------------------------------------------------------------------

def _json_status(err: APIError) -> web.Response:
    return web.json_response(err.status(), status=err.code)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "t", "yes", "y")


def _offered_protocols(request: web.Request) -> list[str]:
    offered: list[str] = []
    for header in request.headers.getall("Sec-WebSocket-Protocol", []):
        offered += [p.strip() for p in header.split(",") if p.strip()]
    return offered


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _choose_protocol(request: web.Request, supported: tuple[str, ...]) -> str | None:
    """The first sub-protocol the client offered that we speak; None if it offered none."""
    offered = _offered_protocols(request)
    if not offered:
        return None
    for proto in offered:
        if proto in supported:
            return proto
    raise BadRequest(f"unable to upgrade: none of the requested sub-protocols {offered} are supported "
                     f"(supported: {list(supported)})")


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


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


# -- exec and attach -----------------------------------------------------------------------

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
                       _flag(request, "stdin") or _flag(request, "input"),
                       _flag(request, "stdout") or _flag(request, "output"),
                       _flag(request, "stderr") or _flag(request, "error"), _flag(request, "tty"))
    if req.tty:
        req.stderr = False  # a terminal has one output stream; kubectl already drops stderr with -t
    if not (req.stdin or req.stdout or req.stderr):
        raise BadRequest("you must specify at least 1 of stdin, stdout, stderr")
    return req


class _ExecTransport(Protocol):
    """How an exec session talks to its client: WebSocket channels or SPDY streams."""

    async def send(self, channel: int, data: bytes) -> None:
        """Output on STDOUT or STDERR."""

    async def receive(self) -> tuple[int, bytes] | None:
        """The next client event: (STDIN, data), (RESIZE, json), (CLOSE, b"\\x00") for stdin
        EOF; None once the client is gone."""

    async def finish(self, status: dict[str, Any]) -> None:
        """Deliver the final Status and end the session."""


class _WebSocketExec:
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


class _SpdyExec:
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


class _ExecSession:
    """Pumps between one client (either transport) and one process."""

    def __init__(self, transport: _ExecTransport, req: _ExecRequest) -> None:
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


def _stream_protocols(request: web.Request) -> list[str]:
    offered: list[str] = []
    for header in request.headers.getall("X-Stream-Protocol-Version", []):
        offered += [p.strip() for p in header.split(",") if p.strip()]
    return offered


def _negotiate_spdy(request: web.Request, supported: tuple[str, ...]) -> str:
    offered = _stream_protocols(request)
    for proto in offered:
        if proto in supported:
            return proto
    raise BadRequest(f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                     f"server supports {list(supported)}")


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


async def _serve_channel_session(request: web.Request, runtime: StreamingRuntime, attach: bool) -> web.StreamResponse:
    try:
        req = _parse_exec(request, with_command=not attach)
        await runtime.check_running(req.namespace, req.pod, req.container)
        if _is_websocket(request):
            protocol = _choose_protocol(request, EXEC_PROTOCOLS)
        elif spdy.wants_spdy_upgrade(request):
            protocol = _negotiate_spdy(request, SPDY_EXEC_PROTOCOLS)
        else:
            raise BadRequest("Upgrade request required")
    except APIError as e:
        return _json_status(e)

    async def start(size: tuple[int, int] | None) -> ExecProcess:
        if attach:
            return await runtime.attach(req.namespace, req.pod, req.container, tty=req.tty, stdin=req.stdin,
                                        size=size)
        return await runtime.exec(req.namespace, req.pod, req.container, req.argv, tty=req.tty,
                                  stdin=req.stdin, size=size)

    if _is_websocket(request):
        ws = web.WebSocketResponse(protocols=(protocol,) if protocol else (), autoping=True,
                                   max_msg_size=MAX_WS_MESSAGE, compress=False)
        await ws.prepare(request)
        try:
            await _ExecSession(_WebSocketExec(ws, protocol or V1), req).run(start)
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
        transport = _SpdyExec(session, streams, protocol)
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


# -- logs ----------------------------------------------------------------------------------

def format_log_entry(stream: str, data: bytes, *, partial: bool = False, when: datetime | None = None) -> bytes:
    """One CRI log line: `<RFC3339Nano UTC> <stdout|stderr> <F|P> <data>\\n`.

    `data` is one line of output without its newline; partial=True marks a fragment of a
    longer line (its continuation follows in the next entry), as containerd writes it.
    """
    when = when or datetime.now(timezone.utc)
    return b"%s %s %s %s\n" % (_rfc3339_nano(when).encode(), stream.encode(), b"P" if partial else b"F", data)


def _rfc3339_nano(when: datetime) -> str:
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}000Z"


def _parse_time(text: str) -> datetime | None:
    """RFC 3339 with any number of fraction digits (Go writes up to nine)."""
    try:
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        main, sep, rest = text.partition(".")
        if sep:
            digits = len(rest) - len(rest.lstrip("0123456789"))
            frac, tz = rest[:digits], rest[digits:]
            text = f"{main}.{(frac + '000000')[:6]}{tz}"
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when


@dataclass
class _LogEntry:
    timestamp: str  # "" for a line that is not in CRI format
    when: datetime | None
    content: bytes  # including its newline, unless it is a partial fragment


def _parse_log_line(line: bytes) -> _LogEntry:
    """A CRI entry; any other line is taken verbatim (a runtime may log raw output)."""
    body = line[:-1] if line.endswith(b"\n") else line
    parts = body.split(b" ", 3)
    if len(parts) >= 3 and parts[1] in (b"stdout", b"stderr") and parts[2] in (b"F", b"P"):
        ts = parts[0].decode("ascii", "replace")
        when = _parse_time(ts)
        if when is not None:
            content = parts[3] if len(parts) == 4 else b""
            if parts[2] == b"F":
                content += b"\n"
            return _LogEntry(ts, when, content)
    return _LogEntry("", None, body + b"\n")


@dataclass
class _LogOptions:
    follow: bool
    tail_lines: int | None
    since: datetime | None
    timestamps: bool
    previous: bool
    limit_bytes: int | None


def _int_param(request: web.Request, name: str, minimum: int) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}: Invalid value: {json.dumps(raw)}: must be an integer") from None
    if value < minimum:
        raise BadRequest(f"{name}: Invalid value: {value}: must be greater than or equal to {minimum}")
    return value


def _parse_log_options(request: web.Request) -> _LogOptions:
    since_seconds = _int_param(request, "sinceSeconds", 1)
    since_time = request.query.get("sinceTime")
    if since_seconds is not None and since_time:
        raise BadRequest("at most one of `sinceTime` or `sinceSeconds` may be specified")
    since: datetime | None = None
    if since_seconds is not None:
        since = datetime.now(timezone.utc) - timedelta(seconds=since_seconds)
    elif since_time:
        since = _parse_time(since_time)
        if since is None:
            raise BadRequest(f"sinceTime: Invalid value: {json.dumps(since_time)}: must be RFC 3339")
    return _LogOptions(
        follow=_flag(request, "follow"),
        tail_lines=_int_param(request, "tailLines", 0),
        since=since,
        timestamps=_flag(request, "timestamps"),
        previous=_flag(request, "previous"),
        limit_bytes=_int_param(request, "limitBytes", 1),
    )


def _tail_offset(fh: IO[bytes], lines: int) -> int:
    """Offset where the last `lines` lines start (blocking: run it in a thread).

    A last line without its newline yet counts as a line.
    """
    end = fh.seek(0, os.SEEK_END)
    if lines == 0 or end == 0:
        return end
    pos = end
    fh.seek(end - 1)
    if fh.read(1) == b"\n":
        pos = end - 1  # the last line's own terminator does not start a line
    found = 0
    while pos > 0:
        start = max(pos - 64 * 1024, 0)
        fh.seek(start)
        chunk = fh.read(pos - start)
        i = len(chunk)
        while (i := chunk.rfind(b"\n", 0, i)) >= 0:
            found += 1
            if found == lines:
                return start + i + 1
        pos = start
    return 0


class _LogWriter:
    """Formats entries into the response, honouring sinceX, timestamps and limitBytes."""

    def __init__(self, resp: web.StreamResponse, opts: _LogOptions) -> None:
        self.resp = resp
        self.opts = opts
        self.remaining = opts.limit_bytes
        self._at_line_start = True

    @property
    def full(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    async def lines(self, lines: list[bytes]) -> None:
        out = bytearray()
        for line in lines:
            entry = _parse_log_line(line)
            if self.opts.since is not None and entry.when is not None and entry.when < self.opts.since:
                continue
            if self.opts.timestamps and self._at_line_start and entry.timestamp:
                out += entry.timestamp.encode() + b" "
            out += entry.content
            self._at_line_start = entry.content.endswith(b"\n")
        if not out:
            return
        if self.remaining is not None:
            out = out[: self.remaining]
            self.remaining -= len(out)
        await self.resp.write(bytes(out))


async def _serve_logs(request: web.Request, runtime: StreamingRuntime) -> web.StreamResponse:
    m = request.match_info
    ns, pod, container = m["namespace"], m["pod"], m["container"]
    try:
        opts = _parse_log_options(request)
        path = runtime.log_path(ns, pod, container, opts.previous)
    except APIError as e:
        return _json_status(e)
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    writer = _LogWriter(resp, opts)
    try:
        await _copy_log(request, runtime, path, opts, writer)
    except ConnectionError:
        return resp
    with contextlib.suppress(ConnectionError):
        await resp.write_eof()
    return resp


async def _copy_log(request: web.Request, runtime: StreamingRuntime, path: Path, opts: _LogOptions,
                    writer: _LogWriter) -> None:
    def active() -> bool:
        return opts.follow and not opts.previous and runtime.log_active(path)

    fh: IO[bytes] | None = None
    try:
        # Wait for the file to appear while the container may still create it.
        while fh is None:
            try:
                fh = await asyncio.to_thread(open, path, "rb")
            except FileNotFoundError:
                if not active() or _client_gone(request):
                    return
                await asyncio.sleep(LOG_POLL_INTERVAL)
        if opts.tail_lines is not None:
            start = await asyncio.to_thread(_tail_offset, fh, opts.tail_lines)
            fh.seek(start)
        pending = b""  # a line the writer has not finished yet
        while not writer.full:
            data = await asyncio.to_thread(fh.read, 256 * 1024)
            if data:
                pending += data
                cut = pending.rfind(b"\n") + 1
                if cut:
                    await writer.lines(_split_lines(pending[:cut]))
                    pending = pending[cut:]
                continue
            # At the end of what is written so far.
            if not opts.follow or opts.previous or not runtime.log_active(path):
                # One last read: the writer may have appended between our read and the check.
                pending += await asyncio.to_thread(fh.read)
                if pending:
                    await writer.lines(_split_lines(pending))
                return
            if _client_gone(request):
                return
            size = await asyncio.to_thread(_size, path)
            if size is not None and size < fh.tell():  # truncated or replaced: start over
                fh.close()
                fh = await asyncio.to_thread(open, path, "rb")
                pending = b""
                continue
            await asyncio.sleep(LOG_POLL_INTERVAL)
    finally:
        if fh is not None:
            fh.close()


def _split_lines(data: bytes) -> list[bytes]:
    """Split on newlines only (bytes.splitlines would also cut at carriage returns)."""
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


# -- port-forward --------------------------------------------------------------------------

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


async def _serve_portforward(request: web.Request, runtime: StreamingRuntime) -> web.StreamResponse:
    ns, pod = request.match_info["namespace"], request.match_info["pod"]
    try:
        await runtime.check_running(ns, pod, None)
        raw = spdy.wants_spdy_upgrade(request) and not _is_websocket(request)
        if raw:
            protocol = _negotiate_spdy(request, (PORTFORWARD_SPDY,))
        elif _is_websocket(request):
            protocol = _choose_protocol(request, PORTFORWARD_PROTOCOLS) or V1
        else:
            raise BadRequest("Upgrade request required")
        ports = _parse_ports(request) if protocol not in (SPDY_PORTFORWARD, PORTFORWARD_SPDY) else []
        if protocol not in (SPDY_PORTFORWARD, PORTFORWARD_SPDY) and not ports:
            raise BadRequest("query parameter \"port\" is required")
    except APIError as e:
        return _json_status(e)
    if raw:
        conn = await spdy.accept_upgrade(request, {"Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": protocol})
        try:
            await _serve_spdy_portforward(runtime, ns, pod, conn.read, conn.write)
        finally:
            conn.close()
        return conn.response
    offered = bool(_offered_protocols(request))
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


# -- routes --------------------------------------------------------------------------------

def add_streaming_routes(app: web.Application, runtime: StreamingRuntime) -> None:
    """Mount the kubelet-style streaming endpoints on a node agent's application."""

    def guarded(handler: Callable[[web.Request, StreamingRuntime], Awaitable[web.StreamResponse]]
                ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request, runtime)
            except APIError as e:
                return _json_status(e)
            except Exception as e:
                log.exception("streaming request %s %s failed", request.method, request.path)
                return _json_status(InternalError(f"an internal error occurred: {type(e).__name__}: {e}"))
        return serve

    async def exec_(request: web.Request, rt: StreamingRuntime) -> web.StreamResponse:
        return await _serve_channel_session(request, rt, attach=False)

    async def attach(request: web.Request, rt: StreamingRuntime) -> web.StreamResponse:
        return await _serve_channel_session(request, rt, attach=True)

    for method in ("GET", "POST"):
        app.router.add_route(method, "/exec/{namespace}/{pod}/{container}", guarded(exec_))
        app.router.add_route(method, "/attach/{namespace}/{pod}/{container}", guarded(attach))
        app.router.add_route(method, "/portForward/{namespace}/{pod}", guarded(_serve_portforward))
    app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", guarded(_serve_logs))
