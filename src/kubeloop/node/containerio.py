"""A container's standard streams, held by the node agent as containerd's shim holds them.

``ContainerIO`` owns the parent ends of a container main process's stdin/stdout/stderr
(pipes, or one pseudo-terminal when the container has ``tty: true``) and does three jobs:

* the CRI log: every line of output is appended to the container's log file as
  ``<RFC 3339 nano UTC> <stdout|stderr> <F|P> <line>`` (``P`` for a piece of a line longer
  than 16 KiB, continued in the next entry, as containerd writes it), so that
  ``kubectl logs --timestamps`` and ``--since`` are exact; rotated at 10 MiB, 5 files, as
  the kubelet does by default;
* ``kubectl attach``: each ``attach()`` gets the output from then on, raw, on its own
  readers, and may write to the container's stdin;
* stdin: with ``stdin: true`` the process reads from a pipe the agent keeps open (no EOF
  until ``stdinOnce`` ends it after the first attach with stdin detaches).

The agent reads the output, so a container's writes need a live agent: when the agent dies
its containers get EPIPE (the node is down then anyway). A slow attach client is never
allowed to slow the container: its readers buffer (kubectl reads promptly).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import termios
from datetime import datetime, timezone
from pathlib import Path

from .sandbox import PtyWriter
from .streaming import format_log_entry

MAX_LINE = 16 * 1024  # containerd's maximum log line; longer lines become partial entries
DRAIN_AFTER_EXIT = 1.0  # how long output may trail the process (a background child can hold it)
# The kubelet's defaults (containerLogMaxSize, containerLogMaxFiles): the log file is rotated
# at 10 MiB, keeping the current file and 4 rotated ones (`kubectl logs` reads the current one).
LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_MAX_FILES = 5


class _StdinWriter:
    """An attach session's stdin: writes go to the container's stdin; closing it detaches
    (and, with stdinOnce, closes the container's stdin)."""

    def __init__(self, io: "ContainerIO", attachment: "Attachment") -> None:
        self._io = io
        self._attachment = attachment

    def write(self, data: bytes) -> None:
        self._io.write_stdin(data)

    async def drain(self) -> None:
        await self._io.drain_stdin()

    def close(self) -> None:
        self._attachment.stdin = None
        self._io.stdin_detached()

    def write_eof(self) -> None:
        self.close()


class Attachment:
    """One ``kubectl attach`` session (the streaming server's ExecProcess shape).

    ``stdout``/``stderr`` carry the container's output from the moment of attaching;
    ``wait()`` returns when the container's output ends (it exited) and reports success,
    as the kubelet's attach does: the exit code is in the pod's status. ``kill()`` detaches.
    """

    def __init__(self, io: "ContainerIO", stdin: bool) -> None:
        self._io = io
        self.stdout: asyncio.StreamReader | None = asyncio.StreamReader()
        self.stderr: asyncio.StreamReader | None = None if io.tty else asyncio.StreamReader()
        self.stdin: _StdinWriter | None = _StdinWriter(io, self) if stdin and io.has_stdin else None
        self._done = asyncio.get_running_loop().create_future()

    def feed(self, stream: str, data: bytes) -> None:
        reader = self.stderr if stream == "stderr" and self.stderr is not None else self.stdout
        if reader is not None:
            reader.feed_data(data)

    def end(self) -> None:
        for reader in (self.stdout, self.stderr):
            if reader is not None and not reader.at_eof():
                reader.feed_eof()
        if not self._done.done():
            self._done.set_result(None)

    def resize(self, width: int, height: int) -> None:
        self._io.resize(width, height)

    async def wait(self) -> int:
        await self._done
        return 0

    def kill(self) -> None:
        self._io.detach(self)


class ContainerIO:
    """One run of one container: its log file, its pipes (or pty) and its attach sessions.
    Create it, start the process with ``child_stdio``, then call ``started()``; ``finish()``
    once the process exited."""

    def __init__(self, log_path: Path, *, tty: bool = False, stdin: bool = False, stdin_once: bool = False,
                 log_max_bytes: int = LOG_MAX_BYTES, log_max_files: int = LOG_MAX_FILES) -> None:
        self.log_path = log_path
        self.log_max_bytes = log_max_bytes
        self.log_max_files = log_max_files
        self.tty = tty
        self.has_stdin = stdin
        self.stdin_once = stdin_once
        self._attachments: set[Attachment] = set()
        self._pending: dict[str, bytes] = {}
        self._readers: dict[int, str] = {}  # our read fd -> stream name
        self._child: list[int] = []  # the child's ends, closed once it started
        self._stdin: PtyWriter | None = None  # our writing end of its stdin (a dup of the pty master)
        self._stdin_attached = False
        self._closed = asyncio.get_running_loop().create_future()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab", buffering=0)  # noqa: SIM115 -- closed by close()
        self._log_size = self._log.tell()
        if tty:
            master, slave = os.openpty()
            self._child = [slave]
            self._readers[master] = "stdout"
            self.child_stdio = (slave, slave, slave)
            if stdin:
                self._stdin = PtyWriter(os.dup(master))
        else:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            self._readers = {out_r: "stdout", err_r: "stderr"}
            self._child = [out_w, err_w]
            child_in: int = asyncio.subprocess.DEVNULL
            if stdin:
                in_r, in_w = os.pipe2(os.O_CLOEXEC)
                self._stdin, child_in = PtyWriter(in_w), in_r
                self._child.append(in_r)
            self.child_stdio = (child_in, out_w, err_w)

    # -- life ------------------------------------------------------------------------------

    def started(self) -> None:
        """The child has its copies: close ours and start reading."""
        for fd in self._child:
            os.close(fd)
        self._child = []
        loop = asyncio.get_running_loop()
        for fd in self._readers:
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._on_readable, fd)

    async def finish(self) -> None:
        """The process exited: take what output is left, then close everything. Output held
        open by a leftover background child is cut off after DRAIN_AFTER_EXIT."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._closed), DRAIN_AFTER_EXIT)
        self.close()

    def close(self) -> None:
        """Stop at once (start failed, or the pod is going away)."""
        for fd in list(self._readers):
            self._eof(fd)
        for fd in self._child:
            os.close(fd)
        self._child = []
        self._close_stdin()
        for a in list(self._attachments):
            a.end()
        self._attachments.clear()
        if not self._log.closed:
            self._log.close()
        if not self._closed.done():
            self._closed.set_result(None)

    # -- output ----------------------------------------------------------------------------

    def _on_readable(self, fd: int) -> None:
        try:
            data = os.read(fd, 64 * 1024)
        except BlockingIOError:
            return
        except OSError:  # EIO: a pty's last slave closed, i.e. the end of the output
            data = b""
        if not data:
            self._eof(fd)
            if not self._readers:
                for a in list(self._attachments):
                    a.end()
                if not self._closed.done():
                    self._closed.set_result(None)
            return
        stream = self._readers[fd]
        for a in self._attachments:
            a.feed(stream, data)
        self._log_output(stream, data)

    def _log_output(self, stream: str, data: bytes) -> None:
        buf = self._pending.get(stream, b"") + data
        cut = buf.rfind(b"\n")
        lines, rest = (buf[:cut].split(b"\n"), buf[cut + 1:]) if cut >= 0 else ([], buf)
        now = datetime.now(timezone.utc)
        out = bytearray()
        if lines and max(map(len, lines)) <= MAX_LINE:
            # The usual case, in one join: a chatty container must not keep the agent busy
            # formatting line by line (5,000 lines a chunk for `yes`).
            prefix = format_log_entry(stream, b"", when=now)[:-1]
            out += prefix + (b"\n" + prefix).join(lines) + b"\n"
        else:
            for line in lines:
                while len(line) > MAX_LINE:
                    out += format_log_entry(stream, line[:MAX_LINE], partial=True, when=now)
                    line = line[MAX_LINE:]
                out += format_log_entry(stream, line, when=now)
        while len(rest) >= MAX_LINE:
            out += format_log_entry(stream, rest[:MAX_LINE], partial=True, when=now)
            rest = rest[MAX_LINE:]
        self._pending[stream] = rest
        self._write_log(bytes(out))

    def _write_log(self, entries: bytes) -> None:
        if not entries or self._log.closed:
            return
        if self._log_size and self._log_size + len(entries) > self.log_max_bytes:
            self._rotate()
        self._log.write(entries)
        self._log_size += len(entries)

    def _rotate(self) -> None:
        """As the kubelet does: the full file gets a timestamp suffix, the oldest rotated ones
        go, and writing starts over in a new file at the same path (a `kubectl logs -f`
        reading it sees the file shrink and reopens it)."""
        self._log.close()
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S.%f")
        self.log_path.rename(self.log_path.with_name(f"{self.log_path.name}.{stamp}"))
        rotated = sorted(self.log_path.parent.glob(f"{self.log_path.name}.*"))
        for old in rotated[:max(len(rotated) - (self.log_max_files - 1), 0)]:
            old.unlink(missing_ok=True)
        self._log = open(self.log_path, "ab", buffering=0)  # noqa: SIM115 -- closed by close()
        self._log_size = 0

    def _eof(self, fd: int) -> None:
        stream = self._readers.pop(fd, None)
        if stream is None:
            return
        asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)
        rest = self._pending.pop(stream, b"")
        if rest:  # a last line without its newline is still a line
            self._write_log(format_log_entry(stream, rest))

    # -- attach and stdin ------------------------------------------------------------------

    def attach(self, stdin: bool) -> Attachment:
        a = Attachment(self, stdin)
        if self._closed.done():
            a.end()
        else:
            self._attachments.add(a)
            if a.stdin is not None:
                self._stdin_attached = True
        return a

    def detach(self, a: Attachment) -> None:
        if a.stdin is not None:
            a.stdin = None
            self.stdin_detached()
        self._attachments.discard(a)
        a.end()

    def stdin_detached(self) -> None:
        if self.stdin_once and self._stdin_attached:
            self._close_stdin()

    def write_stdin(self, data: bytes) -> None:
        if self._stdin is None:
            raise BrokenPipeError("the container's stdin is closed")
        self._stdin.write(data)

    async def drain_stdin(self) -> None:
        if self._stdin is not None:
            await self._stdin.drain()

    def resize(self, width: int, height: int) -> None:
        if self.tty and width > 0 and height > 0:
            master = next(iter(self._readers), None)
            if master is not None:
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def _close_stdin(self) -> None:
        writer, self._stdin = self._stdin, None
        if writer is not None:
            writer.close()
