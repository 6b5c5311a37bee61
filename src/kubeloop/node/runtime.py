"""The node agent's runtime seam: what it needs from a pod sandbox and its processes.

`NamespaceRuntime` (kubeloop.node.nsruntime) implements it with Linux namespaces; tests of
the pod lifecycle can implement it with plain host processes. Also: the per-node pod IP
allocator (host-local IPAM over the node's podCIDR).
"""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import Protocol


class Process(Protocol):
    pid: int

    async def wait(self) -> int:
        """The exit code (128 + signal number when killed by a signal)."""

    def signal(self, sig: int) -> None: ...

    async def stop(self, grace: float) -> int:
        """SIGTERM, then SIGKILL after `grace` seconds; the exit code."""


class Sandbox(Protocol):
    ip: str

    async def start_process(self, argv: list[str], env: dict[str, str], cwd: str | None,
                            output: Path | tuple[int, int, int], tty: bool = False) -> Process: ...

    async def exec(self, argv: list[str], env: dict[str, str], tty: bool) -> asyncio.subprocess.Process: ...

    async def destroy(self) -> None: ...


class Runtime(Protocol):
    async def create_sandbox(self, *, pod_uid: str, hostname: str, ip: str, hosts: str, resolv: str,
                             state_dir: Path) -> Sandbox: ...


class IPAllocator:
    """Pod addresses from the node's podCIDR; .1 is the node's own bridge address."""

    def __init__(self, pod_cidr: str) -> None:
        net = ipaddress.ip_network(pod_cidr)
        hosts = list(net.hosts())
        self.gateway = str(hosts[0])
        self._free = [str(h) for h in hosts[1:]]
        self._used: dict[str, str] = {}  # pod uid -> ip

    def allocate(self, uid: str) -> str:
        if uid in self._used:
            return self._used[uid]
        if not self._free:
            raise RuntimeError("no pod addresses left on this node")
        ip = self._free.pop(0)
        self._used[uid] = ip
        return ip

    def release(self, uid: str) -> None:
        ip = self._used.pop(uid, None)
        if ip is not None:
            self._free.append(ip)  # reuse last: fresh addresses first avoids stale conntrack entries
