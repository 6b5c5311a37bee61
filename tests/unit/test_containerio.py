"""ContainerIO (kubeloop.node.containerio) with plain host processes: CRI log lines with
timestamps and stream tags, long lines split as containerd does, attach sessions that see
output from their start, stdin with stdinOnce, and a pseudo-terminal for tty containers."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from kubeloop.node.containerio import MAX_LINE, ContainerIO

ENTRY = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([FP]) (.*)$")


async def start(io: ContainerIO, *argv: str) -> asyncio.subprocess.Process:
    stdin, stdout, stderr = io.child_stdio
    proc = await asyncio.create_subprocess_exec(*argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                                start_new_session=io.tty)
    io.started()
    return proc


def entries(path: Path) -> list[tuple[bytes, bytes, bytes]]:
    out = []
    for line in path.read_bytes().splitlines():
        m = ENTRY.match(line)
        assert m, line
        out.append((m[1], m[2], m[3]))
    return out


def test_output_becomes_cri_entries(tmp_path: Path) -> None:
    async def run() -> None:
        io = ContainerIO(tmp_path / "0.log")
        long = "x" * (MAX_LINE + 10)
        proc = await start(io, "sh", "-c", f"echo one; echo err >&2; echo {long}; printf tail")
        assert await proc.wait() == 0
        await io.finish()
    asyncio.run(run())
    got = entries(tmp_path / "0.log")
    assert (b"stdout", b"F", b"one") in got and (b"stderr", b"F", b"err") in got
    out = [e for e in got if e[0] == b"stdout"]
    assert out[1:] == [(b"stdout", b"P", b"x" * MAX_LINE), (b"stdout", b"F", b"x" * 10), (b"stdout", b"F", b"tail")]


def test_attach_sees_output_from_then_on_and_writes_stdin_once(tmp_path: Path) -> None:
    async def run() -> None:
        io = ContainerIO(tmp_path / "0.log", stdin=True, stdin_once=True)
        # Echoes each input line; ends when stdin closes.
        proc = await start(io, "sh", "-c", "echo before; while read l; do echo got:$l; echo e:$l >&2; done; echo bye")
        await asyncio.sleep(0.2)
        a = io.attach(stdin=True)
        assert a.stdin is not None and a.stdout is not None and a.stderr is not None
        a.stdin.write(b"hi\n")
        await a.stdin.drain()
        assert await asyncio.wait_for(a.stdout.readline(), 5) == b"got:hi\n"
        assert await asyncio.wait_for(a.stderr.readline(), 5) == b"e:hi\n"
        a.kill()  # detaching the stdin session closes the container's stdin (stdinOnce)
        assert await asyncio.wait_for(proc.wait(), 5) == 0
        await io.finish()
        assert await a.wait() == 0
    asyncio.run(run())
    text = [e[2] for e in entries(tmp_path / "0.log")]
    assert text[0] == b"before" and text[-1] == b"bye" and b"got:hi" in text


def test_stdin_stays_open_without_stdin_once(tmp_path: Path) -> None:
    async def run() -> None:
        io = ContainerIO(tmp_path / "0.log", stdin=True)
        proc = await start(io, "sh", "-c", "read l; echo got:$l")
        a = io.attach(stdin=True)
        a.kill()
        with pytest.raises(asyncio.TimeoutError):  # still waiting for input
            await asyncio.wait_for(asyncio.shield(proc.wait()), 0.3)
        b = io.attach(stdin=True)
        assert b.stdin is not None and b.stdout is not None
        b.stdin.write(b"x\n")
        assert await asyncio.wait_for(b.stdout.readline(), 5) == b"got:x\n"
        assert await asyncio.wait_for(proc.wait(), 5) == 0
        await io.finish()
        assert await asyncio.wait_for(b.wait(), 1) == 0
    asyncio.run(run())


def test_no_stdin_for_a_container_without_it(tmp_path: Path) -> None:
    async def run() -> None:
        io = ContainerIO(tmp_path / "0.log")
        proc = await start(io, "sh", "-c", "cat; echo eof")  # stdin is /dev/null: EOF at once
        assert await proc.wait() == 0
        a = io.attach(stdin=True)
        assert a.stdin is None
        await io.finish()
    asyncio.run(run())
    assert entries(tmp_path / "0.log")[-1] == (b"stdout", b"F", b"eof")


def test_tty_container(tmp_path: Path) -> None:
    async def run() -> None:
        io = ContainerIO(tmp_path / "0.log", tty=True, stdin=True)
        proc = await start(io, "setsid", "-c", "sh", "-c", "stty size; read l; echo got:$l")
        a = io.attach(stdin=True)
        assert a.stderr is None and a.stdin is not None and a.stdout is not None
        a.resize(100, 30)
        a.stdin.write(b"typed\n")
        seen = b""
        while b"got:typed" not in seen:
            seen += await asyncio.wait_for(a.stdout.read(100), 5)
        assert await asyncio.wait_for(proc.wait(), 5) == 0
        await io.finish()
    asyncio.run(run())
    lines = [e for e in entries(tmp_path / "0.log")]
    assert all(stream == b"stdout" for stream, _, _ in lines)
    assert any(b"got:typed" in text for _, _, text in lines)


def test_log_rotates_as_the_kubelet_does(tmp_path: Path) -> None:
    """Past the size limit the file gets a timestamp suffix and writing starts over; only
    `log_max_files` files are kept; every kept line is whole."""
    async def run() -> None:
        io = ContainerIO(tmp_path / "0.log", log_max_bytes=600, log_max_files=3)
        proc = await start(io, "sh", "-c", "i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo line-$i; sleep 0.01; done")
        assert await proc.wait() == 0
        await io.finish()
    asyncio.run(run())
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files][0] == "0.log" and len(files) == 3, files
    assert all(f.name.startswith("0.log.") for f in files[1:])
    assert all(f.stat().st_size <= 600 for f in files)
    newest = [e[2] for e in entries(tmp_path / "0.log")]
    assert newest[-1] == b"line-40" and all(t.startswith(b"line-") for t in newest)
