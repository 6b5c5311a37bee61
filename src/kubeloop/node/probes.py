"""Probes: readiness, liveness and startup, with the kubelet's semantics.

One ProbeWorker per (container, probe kind). Readiness starts as failure and liveness as
success; a startup probe holds the other two back until it succeeds. Results flip only
after `successThreshold` / `failureThreshold` identical outcomes in a row; the first probe
waits `initialDelaySeconds`, then one runs every `periodSeconds`, each bounded by
`timeoutSeconds`. Handlers: exec (a command in the container's namespaces), httpGet
(2xx/3xx is success) and tcpSocket (a connection is success).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import aiohttp

from kubeloop.client.tasks import cancel_and_wait

Obj = dict[str, Any]
ExecRunner = Callable[[list[str], float], Awaitable[tuple[int, str]]]  # argv, timeout -> (exit code, output)
ResultCallback = Callable[[str, bool, str], None]  # (kind, healthy, message on failure)

log = logging.getLogger(__name__)


@dataclass
class ProbeTarget:
    pod_ip: str
    named_ports: dict[str, int]
    exec_runner: ExecRunner


def _port(value: Any, target: ProbeTarget) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if value in target.named_ports:
        return target.named_ports[value]
    raise ValueError(f"port {value!r} is not a number or a named port of the container")


async def run_probe(probe: Obj, target: ProbeTarget) -> tuple[bool, str]:
    """One probe attempt: (success, message)."""
    timeout = float(probe.get("timeoutSeconds", 1))
    if "exec" in probe:
        argv = list((probe["exec"] or {}).get("command") or [])
        try:
            code, output = await target.exec_runner(argv, timeout)
        except asyncio.TimeoutError:
            return False, f"command {argv!r} timed out"
        if code == 0:
            return True, ""
        return False, output.strip() or f"command {argv!r} exited with {code}"
    if "httpGet" in probe:
        get = probe["httpGet"]
        scheme = (get.get("scheme") or "HTTP").lower()
        host = get.get("host") or target.pod_ip
        port = _port(get.get("port"), target)
        path = get.get("path") or "/"
        headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
        headers.setdefault("User-Agent", "kube-probe/1.32")
        url = f"{scheme}://{host}:{port}{path}"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
                async with session.get(url, headers=headers, ssl=False, allow_redirects=False) as resp:
                    if 200 <= resp.status < 400:
                        return True, ""
                    return False, f"HTTP probe failed with statuscode: {resp.status}"
        except asyncio.TimeoutError:
            return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
        except aiohttp.ClientError as e:
            return False, f'Get "{url}": {e}'
    if "tcpSocket" in probe:
        sock = probe["tcpSocket"]
        host = sock.get("host") or target.pod_ip
        port = _port(sock.get("port"), target)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.close()
            return True, ""
        except asyncio.TimeoutError:
            return False, f"dial tcp {host}:{port}: i/o timeout"
        except OSError as e:
            return False, f"dial tcp {host}:{port}: connect: {e.strerror or e}"
    return False, "probe has no handler"


class ProbeWorker:
    """Runs one probe on its schedule and reports when its thresholded result changes."""

    def __init__(self, kind: str, probe: Obj, target: ProbeTarget, on_result: ResultCallback,
                 gate: asyncio.Event | None = None) -> None:
        self.kind = kind
        self.probe = probe
        self.target = target
        self.on_result = on_result
        self.gate = gate  # set once the startup probe has succeeded
        self.healthy = kind == "liveness"  # readiness and startup start as failure
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"probe-{self.kind}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        p = self.probe
        period = max(float(p.get("periodSeconds", 10)), 0.1)
        success_threshold = int(p.get("successThreshold", 1))
        failure_threshold = int(p.get("failureThreshold", 3))
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(float(p.get("initialDelaySeconds", 0)))
        streak_ok = streak_fail = 0
        while True:
            try:
                ok, message = await run_probe(p, self.target)
            except Exception as e:  # a probe *error* is not a failure (kubelet discards it)
                log.debug("%s probe error: %s", self.kind, e)
                await asyncio.sleep(period)
                continue
            if ok:
                streak_ok, streak_fail = streak_ok + 1, 0
                if not self.healthy and streak_ok >= success_threshold:
                    self.healthy = True
                    self.on_result(self.kind, True, "")
            else:
                streak_ok, streak_fail = 0, streak_fail + 1
                if streak_fail >= failure_threshold and (self.healthy or self.kind == "startup"):
                    self.healthy = False
                    self.on_result(self.kind, False, message)
                elif self.kind == "readiness" and not self.healthy and streak_fail == 1:
                    # Each failed readiness probe is an event in Kubernetes ("Readiness probe failed: ...").
                    self.on_result(self.kind, False, message)
            if self.kind == "startup" and self.healthy:
                return  # startup probes stop once they succeed
            await asyncio.sleep(period)
