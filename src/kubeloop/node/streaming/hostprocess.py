"""A runtime building block: host processes with pipes or a pseudo-terminal.

`spawn()` starts a process as its own session and returns a `HostProcess`, an ExecProcess a
StreamingRuntime can hand to exec/attach sessions (a node runtime prefixes argv to enter a pod).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import struct
import termios

from .contract import StdinWriter
from .wire import READ_CHUNK


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
