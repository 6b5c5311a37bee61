"""The pod sandbox: a pod's network namespace, veth, per-pod files and its pause process.

``PodSandbox.create`` makes ``{prefix}-pod-<uid>``: a network namespace whose ``eth0`` is a
veth to the node's ``cni0`` (node end ``veth<8 hex>``, hairpin on), the pod IP with the
node's /24, a default route via ``cni0``; it writes the per-pod files under ``state_dir``
and starts ``kubeloop.node.pause`` there, which holds the pod's UTS, IPC, mount and PID
namespaces (own hostname, /etc/hosts, /etc/resolv.conf, writable /tmp, /var and /run,
read-only host filesystem). Container processes (``start_process``) and ``kubectl exec``
sessions (``exec``) enter all of those namespaces with ``nsenter``; ``destroy`` kills the
pause process (PID 1: the kernel kills the whole PID namespace), removes the veth and the
namespace and deletes ``state_dir``.

It owns one pod's kernel objects and files only: it knows nothing of the API, images or
probes (the runtime decides what to run), and nothing of other pods. Everything runs as
asyncio subprocesses; blocking file work goes to threads.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import sys
import termios
import time
from pathlib import Path
from typing import Any

import kubeloop
from kubeloop.node.network import NETNS_DIR, POD_BRIDGE, NodeNet, delete_netns, ip_batch, list_netns, run

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
POD_IF = "eth0"
READY_TIMEOUT = 10.0

_SRC_ROOT = str(Path(kubeloop.__file__).resolve().parent.parent)


def _tool(name: str) -> str:
    found = shutil.which(name, path=DEFAULT_PATH) or shutil.which(name)
    if not found:
        raise SandboxError(f"{name} is not installed (util-linux)")
    return found


class SandboxError(RuntimeError):
    """A pod sandbox could not be created or used."""


def _uid_hex(pod_uid: str) -> str:
    compact = pod_uid.replace("-", "").lower()
    if re.fullmatch(r"[0-9a-f]{12,}", compact):
        return compact[:12]
    return hashlib.sha256(pod_uid.encode()).hexdigest()[:12]


def pod_netns_name(prefix: str, pod_uid: str) -> str:
    return f"{prefix}-pod-{_uid_hex(pod_uid)}"


def _exit_code(rc: int) -> int:
    return 128 - rc if rc < 0 else rc


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _scan_children(ppid: int) -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _parent_of(int(entry)) == ppid:
            return int(entry)
    return None


async def _find_child(proc: asyncio.subprocess.Process, timeout: float = 5.0) -> int | None:
    """The host pid of nsenter's only child (the process that runs in the pod).

    nsenter forks once after joining the namespaces; the child usually gets the next pid, so
    that is checked first, then /proc is scanned (in a thread). None if nsenter has already
    exited (the command finished) or nothing appeared within timeout."""
    ppid = proc.pid
    deadline = time.monotonic() + timeout
    delay = 0.0002
    attempt = 0
    while proc.returncode is None and time.monotonic() < deadline:
        for cand in range(ppid + 1, ppid + 4):
            if _parent_of(cand) == ppid:
                return cand
        attempt += 1
        if attempt >= 3:
            found = await asyncio.to_thread(_scan_children, ppid)
            if found is not None:
                return found
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.02)
    return None


class PodProcess:
    """A container process running inside a pod's namespaces.

    ``pid`` is the host pid of the real process (nsenter's child), so signals reach it, not
    nsenter; nsenter stays as its parent and passes its exit status (or signal) through."""

    def __init__(self, proc: asyncio.subprocess.Process, pid: int | None) -> None:
        self._proc = proc
        self.pid: int = pid if pid is not None else proc.pid
        self._has_child = pid is not None

    @property
    def returncode(self) -> int | None:
        rc = self._proc.returncode
        return None if rc is None else _exit_code(rc)

    async def wait(self) -> int:
        """Exit code; 128+signal when killed by a signal."""
        return _exit_code(await self._proc.wait())

    def signal(self, sig: int) -> None:
        if self._proc.returncode is not None or not self._has_child:
            return
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the process and whatever else stayed in its process group."""
        if self._proc.returncode is not None:
            return
        self.signal(signal.SIGKILL)
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)  # nsenter leads its own session
        except ProcessLookupError:
            pass

    async def stop(self, grace: float) -> int:
        """SIGTERM, then SIGKILL after grace seconds; returns the exit code."""
        if self._proc.returncode is None:
            self.signal(signal.SIGTERM)
            try:
                return await asyncio.wait_for(self.wait(), timeout=max(grace, 0.0))
            except asyncio.TimeoutError:
                self.kill()
        return await self.wait()


class _PtyReaderProtocol(asyncio.StreamReaderProtocol):
    """Reads a pty master: EIO after the last slave closes is end of file, not an error."""

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, OSError) and exc.errno == errno.EIO:
            exc = None
        super().connection_lost(exc)


class PtyWriter:
    """The writing side of a pty master (or of any pipe), StreamWriter-like (write, drain,
    close); it owns the descriptor.

    Not a write-pipe transport: uvloop's polls a write pipe for readability and would eat
    the terminal's output from the same master."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self._closed = False
        self._loop = asyncio.get_running_loop()
        self._waiters: list[asyncio.Future[None]] = []
        self._error: OSError | None = None
        os.set_blocking(fd, False)

    @property
    def fd(self) -> int:
        return self._fd

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ConnectionResetError("pty closed")
        if self._error is not None:
            raise self._error
        was_empty = not self._buffer
        self._buffer += data
        if was_empty:
            self._flush()
            if self._buffer:
                self._loop.add_writer(self._fd, self._flush)

    def _flush(self) -> None:
        try:
            while self._buffer:
                n = os.write(self._fd, self._buffer)
                del self._buffer[:n]
        except BlockingIOError:
            return
        except OSError as e:  # the other side is gone
            self._error = e
            self._buffer.clear()
        self._loop.remove_writer(self._fd)
        for w in self._waiters:
            if not w.done():
                w.set_result(None)
        self._waiters.clear()

    async def drain(self) -> None:
        if self._buffer:
            fut: asyncio.Future[None] = self._loop.create_future()
            self._waiters.append(fut)
            await fut
        if self._error is not None:
            raise ConnectionResetError(str(self._error))

    def write_eof(self) -> None:
        """End of input on a terminal: Ctrl-D at the start of a line."""
        self.write(b"\x04")

    def can_write_eof(self) -> bool:
        return True

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._loop.remove_writer(self._fd)
            for w in self._waiters:
                if not w.done():
                    w.set_result(None)
            os.close(self._fd)

    async def wait_closed(self) -> None:
        return None


class ExecProcess:
    """A ``kubectl exec`` session inside a pod: asyncio.subprocess.Process-like.

    Without tty: ``stdin``/``stdout``/``stderr`` are the pipes. With tty: ``stdin`` (a
    PtyWriter) writes to and ``stdout`` reads from the pty master (``stderr`` is None, output
    is merged as on a terminal); ``resize`` sets the window size."""

    def __init__(self, proc: asyncio.subprocess.Process, tty: bool,
                 stdin: asyncio.StreamWriter | PtyWriter | None, stdout: asyncio.StreamReader | None,
                 stderr: asyncio.StreamReader | None) -> None:
        self.process = proc
        self.tty = tty
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        rc = self.process.returncode
        return None if rc is None else _exit_code(rc)

    async def wait(self) -> int:
        rc = await self.process.wait()
        if self.tty:
            self.close()  # the reader has its own descriptor for what is still buffered
        return _exit_code(rc)

    async def signal(self, sig: int) -> None:
        child = await _find_child(self.process, timeout=1.0)
        if child is not None:
            try:
                os.kill(child, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        if self.process.returncode is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def resize(self, rows: int, cols: int) -> None:
        """Set the terminal's window size (tty only; ignored once the session ended)."""
        if isinstance(self.stdin, PtyWriter) and not self.stdin.is_closing():
            fcntl.ioctl(self.stdin.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def close(self) -> None:
        if self.stdin is not None and not self.stdin.is_closing():
            self.stdin.close()


def _prepare_state(state_dir: Path, hostname: str, hosts: str, resolv: str) -> dict[str, Any]:
    """Write the per-pod files and directories; return the pause configuration."""
    state_dir.mkdir(parents=True, exist_ok=True)
    etc = state_dir / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "hosts").write_text(hosts)
    (etc / "resolv.conf").write_text(resolv)
    (etc / "hostname").write_text(hostname + "\n")
    for d in ("tmp", "run", "var-upper", "var-work"):
        (state_dir / d).mkdir(exist_ok=True)
    os.chmod(state_dir / "tmp", 0o1777)
    os.chmod(state_dir / "run", 0o755)
    var_tmp = state_dir / "var-upper" / "tmp"
    var_tmp.mkdir(exist_ok=True)
    os.chmod(var_tmp, 0o1777)
    try:  # the pod's /var/tmp must not show the host's
        os.setxattr(var_tmp, "trusted.overlay.opaque", b"y")
    except OSError:
        pass
    return {
        "hostname": hostname,
        "binds": {"/tmp": str(state_dir / "tmp"), "/run": str(state_dir / "run")},
        "overlays": {"/var": {"upper": str(state_dir / "var-upper"), "work": str(state_dir / "var-work")}},
        "files": {
            "/etc/hosts": str(etc / "hosts"),
            "/etc/resolv.conf": str(etc / "resolv.conf"),
            "/etc/hostname": str(etc / "hostname"),
        },
        "shm_size": "64m",
        "expose": _hidden_host_paths(),
    }


def _hidden_host_paths() -> list[str]:
    """kubeloop's interpreter, virtualenv and code when they lie below /tmp or /run, which a pod
    replaces with its own (a clone under /tmp must still run its catalog images)."""
    paths = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)), _SRC_ROOT}
    private = ("/tmp/", "/run/")
    return sorted(p for p in {os.path.realpath(p) for p in paths} | paths if p.startswith(private))


class PodSandbox:
    """One pod's namespaces, veth and pause process. Create, run processes, destroy."""

    def __init__(self) -> None:
        self.node: NodeNet | None = None
        self.pod_uid = ""
        self.hostname = ""
        self.ip = ""
        self.netns = ""
        self.veth = ""
        self.state_dir: Path | None = None
        self.pause_pid: int | None = None  # host pid of the pod's PID 1
        self._pause_pidfd: int | None = None
        self._launcher: asyncio.subprocess.Process | None = None
        self._processes: set[asyncio.subprocess.Process] = set()

    # -- lifecycle -----------------------------------------------------------------------
    async def create(self, node: NodeNet, pod_uid: str, hostname: str, ip: str, hosts_content: str,
                     resolv_content: str, state_dir: Path) -> None:
        """Create the pod's network and namespaces; return when the pause process is ready."""
        if self.netns:
            raise SandboxError("sandbox already created")
        # As the kubelet does: at most 63 characters, no trailing "-" or ".".
        hostname = hostname[:63].rstrip("-.")
        self.node, self.pod_uid, self.hostname, self.ip = node, pod_uid, hostname, ip
        self.netns = pod_netns_name(node.prefix, pod_uid)
        self.veth = "veth" + hashlib.sha256(pod_uid.encode()).hexdigest()[:8]
        self.state_dir = Path(state_dir)
        if os.path.exists(f"{NETNS_DIR}/{self.netns}"):
            self.netns = ""
            raise SandboxError(f"network namespace {pod_netns_name(node.prefix, pod_uid)} already exists")
        try:
            config = await asyncio.to_thread(_prepare_state, self.state_dir, hostname, hosts_content,
                                             resolv_content)
            await run("ip", "netns", "add", self.netns)
            # The veth and the pause process do not depend on each other: do both at once.
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._setup_veth())
                tg.create_task(self._start_pause(config))
        except BaseException as e:
            await self.destroy()
            if isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:
                raise e.exceptions[0] from None
            raise

    async def _setup_veth(self) -> None:
        node = self.node
        assert node is not None
        prefixlen = node.pod_cidr.rsplit("/", 1)[1]
        await ip_batch([
            f"link add {self.veth} type veth peer name {POD_IF} netns {self.netns}",
            f"link set dev {self.veth} master {POD_BRIDGE}",
            f"link set dev {self.veth} type bridge_slave hairpin on",
            f"link set dev {self.veth} up",
        ], netns=node.netns)
        await ip_batch([
            "link set dev lo up",
            f"addr add {self.ip}/{prefixlen} dev {POD_IF}",
            f"link set dev {POD_IF} up",
            f"route add default via {node.gateway} dev {POD_IF}",
        ], netns=self.netns)

    async def _start_pause(self, config: dict[str, Any]) -> None:
        assert self.state_dir is not None
        log_path = self.state_dir / "pause.log"
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            self._launcher = await asyncio.create_subprocess_exec(
                _tool("nsenter"), f"--net={NETNS_DIR}/{self.netns}",
                sys.executable, "-S", "-m", "kubeloop.node.pause", json.dumps(config),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=log_fd,
                env={"PATH": DEFAULT_PATH, "PYTHONPATH": _SRC_ROOT, "PYTHONDONTWRITEBYTECODE": "1"},
                start_new_session=True,
            )
        finally:
            os.close(log_fd)
        out = self._launcher.stdout
        assert out is not None
        ready = False
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                while not (ready and self.pause_pid):
                    line = (await out.readline()).decode()
                    if not line:
                        break
                    if line.startswith("pid "):
                        self.pause_pid = int(line.split()[1])
                        self._pause_pidfd = os.pidfd_open(self.pause_pid)
                    elif line.strip() == "ready":
                        ready = True
        except TimeoutError:
            pass
        if not (ready and self.pause_pid):
            log = await asyncio.to_thread(log_path.read_text, errors="replace")
            raise SandboxError(f"pause process of pod {self.pod_uid} did not become ready: {log.strip()}")

    async def destroy(self) -> None:
        """Kill every process of the pod, remove veth and namespace, delete state_dir."""
        if self._pause_pidfd is not None:
            try:
                signal.pidfd_send_signal(self._pause_pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
        launcher = self._launcher
        if launcher is not None:
            if launcher.returncode is None:
                try:  # before PID 1 was known, or should it linger: the whole group
                    os.killpg(launcher.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            await launcher.wait()
        if self._pause_pidfd is not None:
            os.close(self._pause_pidfd)
            self._pause_pidfd = None
        pending = [p for p in self._processes if p.returncode is None]
        if pending:
            # They die with the PID namespace; nsenter then exits too.
            done, still = await asyncio.wait([asyncio.ensure_future(p.wait()) for p in pending], timeout=5)
            for p in pending:
                if p.returncode is None:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            if still:
                await asyncio.wait(still, timeout=5)
        self._processes.clear()
        if self.netns:
            if self.node is not None and os.path.exists(f"{NETNS_DIR}/{self.node.netns}"):
                await run("ip", "-n", self.node.netns, "link", "del", self.veth, check=False)
            await delete_netns(self.netns)
        if self.state_dir is not None and self.state_dir.exists():
            await asyncio.to_thread(shutil.rmtree, self.state_dir, True)
        self._launcher = None
        self.pause_pid = None

    # -- processes -----------------------------------------------------------------------
    def _nsenter(self, cwd: str | None) -> list[str]:
        if self.pause_pid is None:
            raise SandboxError("sandbox is not running")
        return [_tool("nsenter"), f"--target={self.pause_pid}", "--net", "--uts", "--ipc", "--mount",
                "--pid", f"--wd={cwd or '/'}", "--"]

    def _track(self, proc: asyncio.subprocess.Process) -> None:
        self._processes.add(proc)
        self._processes = {p for p in self._processes if p.returncode is None}

    async def start_process(self, argv: list[str], env: dict[str, str], cwd: str | None,
                            output: Path | tuple[int, int, int], tty: bool = False) -> PodProcess:
        """Run a container process in all the pod's namespaces.

        ``output`` is a file that gets stdout+stderr, or the (stdin, stdout, stderr)
        descriptors the process gets (a ContainerIO's); ``tty`` makes the process a session
        leader with its stdin as the controlling terminal (``tty: true`` containers)."""
        if not argv:
            raise SandboxError("empty command")
        full_env = {"PATH": DEFAULT_PATH, **env}
        if tty:
            full_env.setdefault("TERM", "xterm")
            argv = [_tool("setsid"), "-c", *argv]
        if isinstance(output, Path):
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            stdio: tuple[int, int, int] = (asyncio.subprocess.DEVNULL, fd, fd)
        else:
            fd, stdio = -1, output
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._nsenter(cwd), *argv, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2],
                env=full_env, start_new_session=True,
            )
        finally:
            if fd >= 0:
                os.close(fd)
        self._track(proc)
        return PodProcess(proc, await _find_child(proc))

    async def exec(self, argv: list[str], env: dict[str, str], tty: bool,
                   cwd: str | None = None) -> ExecProcess:
        """Start a ``kubectl exec`` command in the pod's namespaces, with pipes or a pty."""
        if not argv:
            raise SandboxError("empty command")
        full_env = {"PATH": DEFAULT_PATH, **env}
        if not tty:
            proc = await asyncio.create_subprocess_exec(
                *self._nsenter(cwd), *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=full_env, start_new_session=True,
            )
            self._track(proc)
            return ExecProcess(proc, False, proc.stdin, proc.stdout, proc.stderr)
        full_env.setdefault("TERM", "xterm")
        master, slave = os.openpty()
        try:
            # setsid -c: a new session with the pty as controlling terminal (job control works).
            proc = await asyncio.create_subprocess_exec(
                *self._nsenter(cwd), _tool("setsid"), "-c", *argv, stdin=slave, stdout=slave, stderr=slave,
                env=full_env, start_new_session=True,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self._track(proc)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: _PtyReaderProtocol(reader), os.fdopen(os.dup(master), "rb", 0))
        return ExecProcess(proc, True, PtyWriter(master), reader, None)


async def list_pod_netns(prefix: str) -> list[str]:
    """Pod network namespaces with this prefix (for cleanup after a crash)."""
    return await list_netns(f"{prefix}-pod-")
