"""The runtime contract: what the streaming server needs from the container runtime.

The container side lives behind `StreamingRuntime`, so the streaming server runs the same
against real pods and against the host-process fakes in the tests.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol, runtime_checkable


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
