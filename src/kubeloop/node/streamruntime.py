"""The node agent's StreamingRuntime: exec, attach, logs and port-forward over its PodWorkers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubeloop.api.errors import BadRequest, NotFound

from .containerio import Attachment

if TYPE_CHECKING:
    from .agent import NodeAgent
    from .podworker import PodWorker


class _Exec:
    """Adapts a sandbox ExecProcess to the streaming server's ExecProcess protocol."""

    def __init__(self, proc: Any) -> None:
        self._proc = proc
        self.stdin = proc.stdin
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def resize(self, width: int, height: int) -> None:
        if width > 0 and height > 0:
            self._proc.resize(height, width)

    async def wait(self) -> int:
        return int(await self._proc.wait())

    def kill(self) -> None:
        self._proc.kill()


class AgentStreamingRuntime:
    def __init__(self, agent: "NodeAgent") -> None:
        self.agent = agent

    def _worker(self, namespace: str, pod: str) -> "PodWorker":
        return self.agent.worker_for(namespace, pod)

    async def check_running(self, namespace: str, pod: str, container: str | None) -> None:
        worker = self._worker(namespace, pod)
        if worker.sandbox is None:
            raise BadRequest(f"pod {pod} is not running yet")
        if container is not None:
            state = worker.container(container)
            if state is None:
                raise BadRequest(f"container {container} is not valid for pod {pod}")
            if state.process is None:
                raise BadRequest(f"container {container} is not running")

    async def exec(self, namespace: str, pod: str, container: str, argv: list[str], *,
                   tty: bool, stdin: bool, size: tuple[int, int] | None = None) -> _Exec:
        await self.check_running(namespace, pod, container)
        proc = _Exec(await self._worker(namespace, pod).exec(container, argv, tty))
        if size is not None:
            proc.resize(*size)
        if not stdin and not tty and proc.stdin is not None:
            proc.stdin.close()
        return proc

    async def attach(self, namespace: str, pod: str, container: str, *, tty: bool, stdin: bool,
                     size: tuple[int, int] | None = None) -> Attachment:
        """The container's streams; a TTY and stdin only where its spec asked for them (kubectl
        warns the user itself when it wants a TTY the container does not have)."""
        await self.check_running(namespace, pod, container)
        attachment = self._worker(namespace, pod).attach(container, stdin)
        if size is not None and tty:
            attachment.resize(*size)
        return attachment

    def log_path(self, namespace: str, pod: str, container: str, previous: bool) -> Path:
        worker = self._worker(namespace, pod)
        path = worker.log_path(container, previous)
        if path is None:
            if previous:
                raise BadRequest(f'previous terminated container "{container}" in pod "{pod}" not found')
            raise BadRequest(f"container {container} is not valid for pod {pod}")
        return path

    def log_active(self, path: Path) -> bool:
        for worker in self.agent.workers.values():
            for c in worker.containers + worker.init_containers:
                if c.process is not None and worker.log_path(c.name) == path:
                    return True
        return False

    async def port_forward_connect(self, namespace: str, pod: str,
                                   port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        worker = self._worker(namespace, pod)
        if worker.sandbox is None:
            raise NotFound.of("pods", pod)
        return await asyncio.open_connection(worker.pod_ip, port)
