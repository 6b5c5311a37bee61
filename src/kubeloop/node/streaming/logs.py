"""containerLogs: the query options, CRI log line parsing, tail, and following a growing log.

`format_log_entry()` writes the CRI format a runtime's log files are read back in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

from aiohttp import web

from kubeloop.api.errors import APIError, BadRequest

from .contract import StreamingRuntime
from .wire import flag, json_status

LOG_POLL_INTERVAL = 0.2  # seconds between looks at a followed log that did not grow


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
        follow=flag(request, "follow"),
        tail_lines=_int_param(request, "tailLines", 0),
        since=since,
        timestamps=flag(request, "timestamps"),
        previous=flag(request, "previous"),
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


async def serve_logs(request: web.Request, runtime: StreamingRuntime) -> web.StreamResponse:
    m = request.match_info
    ns, pod, container = m["namespace"], m["pod"], m["container"]
    try:
        opts = _parse_log_options(request)
        path = runtime.log_path(ns, pod, container, opts.previous)
    except APIError as e:
        return json_status(e)
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


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
