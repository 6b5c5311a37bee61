"""NginxProcess: one nginx master supervised by kubeloop (the ingress data plane).

Owns the process and its configuration file, not what is in it (nginx_conf renders that):
- `apply(text)`: write the candidate atomically, `nginx -t` it, and only then make it the
  configuration and load it (start, or SIGHUP: a graceful reload, in-flight requests finish
  on the old workers). A rejected candidate is never loaded; the last good one stays.
  `apply` returns once the new workers run, so a change is live when it returns.
- start `nginx -c <conf> -p <dir> -e stderr -g 'daemon off;'` as a child (with a parent-death
  signal where `setpriv` exists, so a crashed kubeloop leaves no nginx behind), restart it
  with the last good configuration if it dies, and stop it with SIGQUIT (graceful), then
  SIGTERM, then SIGKILL.
Everything that waits (nginx -t, process exit, reload) is awaited, never blocking the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections import deque
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_BINARY = "/usr/sbin/nginx"


class NginxError(RuntimeError):
    pass


def find_nginx(binary: str | None = None) -> str | None:
    """The nginx executable to use, or None when there is none."""
    for candidate in (binary, DEFAULT_BINARY, shutil.which("nginx")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _children(pid: int) -> set[int]:
    """Processes whose parent is pid (from /proc/*/stat; /proc/<pid>/task/*/children is often absent)."""
    found: set[int] = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.add(int(entry))
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class NginxProcess:
    def __init__(self, conf: Path, pid_file: Path, *, prefix: Path | None = None, binary: str | None = None,
                 error_log: Path | None = None, stop_grace: float = 10.0) -> None:
        found = find_nginx(binary)
        if found is None:
            raise NginxError(f"nginx not found (looked for {binary or DEFAULT_BINARY} and nginx on PATH)")
        self.binary = found
        self.conf = conf
        self.candidate = conf.with_name(conf.name + ".candidate")
        self.pid_file = pid_file
        self.prefix = prefix or conf.parent
        self.error_log = error_log  # where the configuration sends errors after start-up
        self.stop_grace = stop_grace
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._workers: set[int] = set()
        self._stderr: deque[str] = deque(maxlen=50)
        self._lock = asyncio.Lock()
        self._stopping = False
        self._watcher: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None

    # -- state ---------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def workers(self) -> set[int]:
        pid = self.pid
        return _children(pid) if pid else set()

    # -- configuration -------------------------------------------------------------------

    def _argv(self, conf: Path, *extra: str) -> list[str]:
        return [self.binary, "-c", str(conf), "-p", str(self.prefix).rstrip("/") + "/", "-e", "stderr",
                "-g", "daemon off;", *extra]

    async def test(self, text: str) -> tuple[bool, str]:
        """`nginx -t` on text (written as the candidate file); (ok, nginx's complaint)."""
        await asyncio.to_thread(_write_atomic, self.candidate, text)
        proc = await asyncio.create_subprocess_exec(
            *self._argv(self.candidate, "-t", "-q"), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 60)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return False, "nginx -t did not finish within 60s"
        message = out.decode(errors="replace").strip()
        return proc.returncode == 0, message

    async def apply(self, text: str) -> tuple[bool, str]:
        """Test text and, when nginx accepts it, make it the configuration and load it.

        Returns (True, "") once nginx runs it, or (False, why) with the previous
        configuration still loaded.
        """
        async with self._lock:
            ok, message = await self.test(text)
            if not ok:
                with contextlib.suppress(OSError):
                    self.candidate.unlink()
                return False, message or "nginx -t failed"
            previous = await asyncio.to_thread(self._read_conf)
            os.replace(self.candidate, self.conf)
            if self.running:
                ok, message = await self._reload()
                if not ok and previous is not None:
                    # The master kept its old configuration: so does the file, for restarts.
                    await asyncio.to_thread(_write_atomic, self.conf, previous)
                return ok, message
            await self._start()
            return True, ""

    def _read_conf(self) -> str | None:
        try:
            return self.conf.read_text()
        except OSError:
            return None

    # -- process -------------------------------------------------------------------------

    async def _kill_stale(self) -> None:
        """An nginx left by a crashed kubeloop with this pid file: end it, so its ports free up."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        cmd = _cmdline(pid)
        if pid <= 1 or "nginx" not in cmd or str(self.conf) not in cmd:
            return
        log.warning("stopping stale nginx %d left from an earlier run", pid)
        stale = {pid, *await asyncio.to_thread(_children, pid)}
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid_ in stale:
                with contextlib.suppress(OSError):
                    os.kill(pid_, sig)
            for _ in range(100):
                if not any(_alive(p) and _cmdline(p) for p in stale):
                    return
                await asyncio.sleep(0.05)

    async def _start(self) -> None:
        self._stopping = False
        await self._kill_stale()
        argv = self._argv(self.conf)
        setpriv = shutil.which("setpriv")
        if setpriv:
            argv = [setpriv, "--pdeathsig", "QUIT", "--", *argv]
        self._stderr.clear()
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
        self._proc = proc
        self._stderr_task = asyncio.get_running_loop().create_task(self._read_stderr(proc))
        # nginx writes its pid file after it has bound its listening sockets.
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            if proc.returncode is not None:
                break
            try:
                if int(self.pid_file.read_text().strip()) == proc.pid:
                    break
            except (OSError, ValueError):
                pass
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.01)
        if proc.returncode is not None or not self._has_pidfile(proc.pid):
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            if self._stderr_task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._stderr_task, 2)
            self._proc = None
            raise NginxError(f"nginx did not start: {self.last_error() or (list(self._stderr) or [''])[-1] or f'exit code {proc.returncode}'}")
        await self._wait_for_workers(set())
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def _has_pidfile(self, pid: int) -> bool:
        try:
            return int(self.pid_file.read_text().strip()) == pid
        except (OSError, ValueError):
            return False

    async def _wait_for_workers(self, old: set[int], timeout: float = 10.0) -> bool:
        """Until the master runs a worker not in old (the new configuration's) and every old
        worker still there has begun its graceful exit (it then accepts no new connection)."""
        pid = self.pid
        deadline = asyncio.get_running_loop().time() + timeout
        while pid is not None:
            current = await asyncio.to_thread(_children, pid)
            if current - old and all("shutting down" in _cmdline(p) for p in current & old if _alive(p)):
                self._workers = current
                if old:
                    # nginx retitles an old worker just before it closes its listening sockets.
                    await asyncio.sleep(0.02)
                return True
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.01)
            pid = self.pid
        return False

    async def _reload(self) -> tuple[bool, str]:
        pid = self.pid
        assert pid is not None
        old = await asyncio.to_thread(_children, pid)
        os.kill(pid, signal.SIGHUP)
        if await self._wait_for_workers(old):
            return True, ""
        return False, f"nginx did not load the new configuration: {self.last_error() or 'no new workers'}"

    def last_error(self) -> str:
        """nginx's last serious complaint, from its stderr and its error log."""
        lines = list(self._stderr)
        if self.error_log is not None:
            with contextlib.suppress(OSError):
                with open(self.error_log, "rb") as f:
                    f.seek(max(0, os.fstat(f.fileno()).st_size - 8192))
                    lines += f.read().decode(errors="replace").splitlines()
        serious = [line for line in lines if "[emerg]" in line or "[alert]" in line or "[crit]" in line]
        if len(serious) > 1 and "still could not bind" in serious[-1]:
            return serious[-2]  # the reason (e.g. "Address already in use") is in the attempt before
        return (serious or [""])[-1]

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while True:
            line = await proc.stderr.readline()
            if not line:
                return
            text = line.decode(errors="replace").rstrip()
            self._stderr.append(text)
            log.warning("nginx: %s", text)

    async def _watch(self) -> None:
        """Restart nginx with the last good configuration when it dies."""
        backoff = 0.2
        while True:
            proc = self._proc
            if proc is None:
                return
            code = await proc.wait()
            if self._stopping:
                return
            log.error("nginx exited unexpectedly (code %s); restarting in %.1fs", code, backoff)
            self._reap_orphans()
            await asyncio.sleep(backoff)
            if self._stopping:
                return
            async with self._lock:
                if self._stopping:
                    return
                if self.running:  # apply() started it meanwhile
                    continue
                try:
                    await self._start()
                    self.restarts += 1
                    backoff = 0.2
                except NginxError as e:
                    log.error("%s", e)
                    backoff = min(backoff * 2, 10.0)

    def _reap_orphans(self) -> None:
        """Workers outlive a killed master and keep its sockets: end them."""
        for pid in self._workers:
            if _alive(pid) and _cmdline(pid).startswith("nginx: "):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        self._workers = set()

    async def stop(self) -> None:
        """SIGQUIT (finish in-flight requests), then SIGTERM, then SIGKILL."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(Exception):
                self._workers = await asyncio.to_thread(_children, proc.pid)
            for sig, wait in ((signal.SIGQUIT, self.stop_grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
                try:
                    await asyncio.wait_for(proc.wait(), wait)
                    break
                except asyncio.TimeoutError:
                    continue
        if proc is not None:
            self._reap_orphans()
        for task in (self._watcher, self._stderr_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._watcher = self._stderr_task = None
        self._proc = None
        with contextlib.suppress(OSError):
            self.candidate.unlink()
