"""PodWorker: one pod's life on a node, as the kubelet lives it.

Creates the sandbox (address, hostname, /etc/hosts, /etc/resolv.conf), runs init containers
in order, then the containers; restarts them per `restartPolicy` with the CrashLoopBackOff
delay (10 s doubling to 5 min, reset after 10 min of running); runs their probes (readiness
decides `ready`, liveness and startup failures restart); reports status (phase, conditions,
containerStatuses) to the API whenever it changes, and Events for what a user would want to
see in `kubectl describe pod`. On deletion it runs preStop hooks, stops the containers
within the grace period, destroys the sandbox and finishes the deletion.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from kubeloop.api import times
from kubeloop.api import errors
from kubeloop.api.pods import set_condition
from kubeloop.api.registry import by_plural
from kubeloop.client.events import EventRecorder
from kubeloop.client.rest import Client

from . import images
from .containerio import Attachment, ContainerIO
from .env import EnvError, container_env, expand
from .probes import ProbeTarget, ProbeWorker
from .runtime import Process, Runtime, Sandbox

log = logging.getLogger(__name__)
Obj = dict[str, Any]

BACKOFF_START = 10.0
BACKOFF_MAX = 300.0
BACKOFF_RESET_AFTER = 600.0
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}


now = times.now


@dataclass
class ContainerState:
    spec: Obj
    restart_count: int = 0
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Obj = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    process: Process | None = None
    io: ContainerIO | None = None  # the running process's streams (log, attach, stdin)
    probes: list[ProbeWorker] = field(default_factory=list)
    backoff: float = BACKOFF_START
    started_at: float = 0.0
    task: asyncio.Task[None] | None = None
    log_index: int = 0
    env: dict[str, str] = field(default_factory=dict)  # what the container started with (exec gets it too)
    restart_requested: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return str(self.spec["name"])


class PodWorker:
    def __init__(self, *, pod: Obj, client: Client, runtime: Runtime, recorder: EventRecorder, node_name: str,
                 node_ip: str, pod_ip: str, state_dir: Path, cluster_domain: str, dns_ip: str,
                 services: Callable[[], list[Obj]], lookup: Callable[[str, str, str], Awaitable[Obj | None]]) -> None:
        self.pod = pod
        self.client = client
        self.runtime = runtime
        self.recorder = recorder
        self.node_name = node_name
        self.node_ip = node_ip
        self.pod_ip = pod_ip
        self.state_dir = state_dir
        self.cluster_domain = cluster_domain
        self.dns_ip = dns_ip
        self.services = services
        self.lookup = lookup
        self.sandbox: Sandbox | None = None
        spec = pod.get("spec") or {}
        self.containers = [ContainerState(c) for c in spec.get("containers") or []]
        self.init_containers = [ContainerState(c) for c in spec.get("initContainers") or []]
        self.initialized = not self.init_containers
        self.start_time = now()
        self._status_dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()  # e.g. logs of exited containers draining
        self._stopping = False
        self._last_status: Obj | None = None

    # -- identity --------------------------------------------------------------------------

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"]["uid"])

    @property
    def key(self) -> str:
        return f"{self.pod['metadata']['namespace']}/{self.pod['metadata']['name']}"

    def update_pod(self, pod: Obj) -> None:
        self.pod = pod
        # Someone else changed our status (the node controller marking us not ready while the
        # node was unreachable): write ours again, as the kubelet's status manager does.
        if self._last_status is not None and _without_times(pod.get("status") or {}) != self._last_status:
            self._last_status = None
            self._mark_dirty()

    def container(self, name: str) -> ContainerState | None:
        """A container or init container of this pod, by name."""
        return next((c for c in self.containers + self.init_containers if c.name == name), None)

    def log_path(self, container: str, previous: bool = False) -> Path | None:
        c = self.container(container)
        if c is None:
            return None
        index = c.log_index - 1 if previous else c.log_index
        return self.state_dir / "logs" / container / f"{index}.log" if index >= 0 else None

    # -- start -----------------------------------------------------------------------------

    def _hostname(self) -> tuple[str, str]:
        spec, meta = self.pod.get("spec") or {}, self.pod["metadata"]
        hostname = spec.get("hostname") or meta["name"]
        hostname = hostname[:63]
        if spec.get("subdomain"):
            fqdn = f"{hostname}.{spec['subdomain']}.{meta['namespace']}.svc.{self.cluster_domain}"
        else:
            fqdn = hostname
        return hostname, fqdn

    def _hosts_file(self) -> str:
        hostname, fqdn = self._hostname()
        names = f"{fqdn}\t{hostname}" if fqdn != hostname else hostname
        lines = ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                 "fe00::0\tip6-localnet", "fe00::0\tip6-mcastprefix", "fe00::1\tip6-allnodes",
                 "fe00::2\tip6-allrouters", f"{self.pod_ip}\t{names}"]
        for alias in (self.pod.get("spec") or {}).get("hostAliases") or []:
            lines.append(f"# Entries added by HostAliases.\n{alias['ip']}\t" + "\t".join(alias.get("hostnames") or []))
        return "\n".join(lines) + "\n"

    def _resolv_conf(self) -> str:
        spec = self.pod.get("spec") or {}
        policy = spec.get("dnsPolicy", "ClusterFirst")
        ns = self.pod["metadata"]["namespace"]
        nameservers: list[str] = []
        searches: list[str] = []
        options: list[str] = []
        if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
            nameservers = [self.dns_ip]
            searches = [f"{ns}.svc.{self.cluster_domain}", f"svc.{self.cluster_domain}", self.cluster_domain]
            options = ["ndots:5"]
        elif policy == "Default":
            try:
                return Path("/etc/resolv.conf").read_text()
            except OSError:
                return ""
        config = spec.get("dnsConfig") or {}
        nameservers += config.get("nameservers") or []
        searches += config.get("searches") or []
        for opt in config.get("options") or []:
            options = [o for o in options if o.split(":")[0] != opt["name"]]
            options.append(f"{opt['name']}:{opt['value']}" if opt.get("value") else opt["name"])
        lines = [f"search {' '.join(searches)}"] if searches else []
        lines += [f"nameserver {n}" for n in nameservers[:3]]
        if options:
            lines.append(f"options {' '.join(options)}")
        return "\n".join(lines) + "\n"

    async def run(self) -> None:
        """Bring the pod up and keep its containers running (until `terminate`)."""
        hostname, _ = self._hostname()
        try:
            self.sandbox = await self.runtime.create_sandbox(
                pod_uid=self.uid, hostname=hostname, ip=self.pod_ip, hosts=self._hosts_file(),
                resolv=self._resolv_conf(), state_dir=self.state_dir)
        except Exception as e:
            log.exception("sandbox for %s failed", self.key)
            self.recorder.record(self.pod, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e}")
            for c in self.containers:
                c.state = {"waiting": {"reason": "ContainerCreating", "message": str(e)}}
            self._mark_dirty()
            return
        self._mark_dirty()
        for c in self.init_containers:
            ok = await self._run_init(c)
            if not ok:
                return
        self.initialized = True
        self._mark_dirty()
        for c in self.containers:
            c.task = asyncio.get_running_loop().create_task(self._keep_running(c), name=f"{self.key}/{c.name}")
            self._tasks.append(c.task)

    async def _run_init(self, c: ContainerState) -> bool:
        while not self._stopping:
            code = await self._start_and_wait(c)
            if code == 0:
                return True
            if (self.pod.get("spec") or {}).get("restartPolicy", "Always") == "Never":
                self._mark_dirty()
                return False
            await self._backoff(c)
        return False

    async def _start(self, c: ContainerState) -> Process | None:
        assert self.sandbox is not None
        spec = c.spec
        image = spec.get("image", "")
        try:
            argv = images.resolve(image, spec.get("command"), spec.get("args"))
        except images.ImageNotFound as e:
            reason = "ErrImagePull" if c.state.get("waiting", {}).get("reason") != "ErrImagePull" else "ImagePullBackOff"
            c.state = {"waiting": {"reason": reason, "message": str(e)}}
            self.recorder.record(self.pod, "Warning", "Failed", f'Failed to pull image "{image}": {e}',
                                 f"spec.containers{{{c.name}}}")
            self._mark_dirty()
            return None
        try:
            env = await container_env(self.pod, spec, self.services(), self.lookup,
                                      base={**BASE_ENV, "HOSTNAME": self._hostname()[0]})
        except EnvError as e:
            c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(e)}}
            self.recorder.record(self.pod, "Warning", "Failed", f"Error: {e}", f"spec.containers{{{c.name}}}")
            self._mark_dirty()
            return None
        argv = [expand(a, env) for a in argv]
        c.env = env
        if c.restart_count == 0 and not c.last_state:
            self.recorder.record(self.pod, "Normal", "Pulled", f'Container image "{image}" already present on machine',
                                 f"spec.containers{{{c.name}}}")
        if not images.executable_exists(argv[0]) and not Path(argv[0]).is_absolute():
            message = (f'failed to create containerd task: exec: "{argv[0]}": executable file not found in $PATH')
            c.state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": message,
                                      "startedAt": "1970-01-01T00:00:00Z", "finishedAt": now()}}
            self.recorder.record(self.pod, "Warning", "Failed", f"Error: {message}", f"spec.containers{{{c.name}}}")
            self._mark_dirty()
            return None
        io = ContainerIO(self.state_dir / "logs" / c.name / f"{c.log_index}.log", tty=bool(spec.get("tty")),
                         stdin=bool(spec.get("stdin")), stdin_once=bool(spec.get("stdinOnce")))
        try:
            proc = await self.sandbox.start_process(argv, env, spec.get("workingDir"), io.child_stdio, tty=io.tty)
        except Exception as e:
            io.close()
            c.state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": str(e),
                                      "startedAt": "1970-01-01T00:00:00Z", "finishedAt": now()}}
            self.recorder.record(self.pod, "Warning", "Failed", f"Error: {e}", f"spec.containers{{{c.name}}}")
            self._mark_dirty()
            return None
        io.started()
        c.process, c.io = proc, io
        c.started_at = time.monotonic()
        c.state = {"running": {"startedAt": now()}}
        self.recorder.record(self.pod, "Normal", "Created", f"Created container {c.name}", f"spec.containers{{{c.name}}}")
        self.recorder.record(self.pod, "Normal", "Started", f"Started container {c.name}", f"spec.containers{{{c.name}}}")
        self._mark_dirty()
        return proc

    async def _start_and_wait(self, c: ContainerState) -> int:
        proc = await self._start(c)
        if proc is None:
            return -1
        code = await proc.wait()
        self._record_exit(c, code)
        return code

    def _record_exit(self, c: ContainerState, code: int) -> None:
        running = c.state.get("running") or {}
        reason = "Completed" if code == 0 else "Error"
        c.state = {"terminated": {"exitCode": code, "reason": reason, "startedAt": running.get("startedAt", now()),
                                  "finishedAt": now()}}
        c.process = None
        if c.io is not None:  # the rest of its output still goes to this log
            self._spawn(c.io.finish())
            c.io = None
        c.ready = False
        c.started = False
        c.log_index += 1
        self._mark_dirty()

    async def _backoff(self, c: ContainerState) -> None:
        if c.started_at and time.monotonic() - c.started_at > BACKOFF_RESET_AFTER:
            c.backoff = BACKOFF_START
        delay = c.backoff
        c.backoff = min(c.backoff * 2, BACKOFF_MAX)
        c.last_state = c.state if "terminated" in c.state else c.last_state
        waiting_reason = c.state.get("waiting", {}).get("reason")
        if waiting_reason in ("ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError"):
            if waiting_reason == "ErrImagePull":
                c.state = {"waiting": {"reason": "ImagePullBackOff",
                                       "message": c.state["waiting"].get("message", "")}}
        else:
            c.state = {"waiting": {"reason": "CrashLoopBackOff",
                                   "message": f"back-off {int(delay)}s restarting failed container={c.name} "
                                              f"pod={self.pod['metadata']['name']}_{self.pod['metadata']['namespace']}"
                                              f"({self.uid})"}}
            self.recorder.record(self.pod, "Warning", "BackOff", "Back-off restarting failed container "
                                 f"{c.name} in pod {self.pod['metadata']['name']}", f"spec.containers{{{c.name}}}")
        self._mark_dirty()
        await asyncio.sleep(delay)

    async def _keep_running(self, c: ContainerState) -> None:
        policy = (self.pod.get("spec") or {}).get("restartPolicy", "Always")
        while not self._stopping:
            proc = await self._start(c)
            if proc is None:
                if "terminated" in c.state:
                    c.last_state = c.state
                    if policy == "Never":
                        return
                    c.restart_count += 1
                await self._backoff(c)
                continue
            await self._post_start(c)
            self._start_probes(c)
            restart = asyncio.ensure_future(c.restart_requested.wait())
            exited = asyncio.ensure_future(proc.wait())
            done, _ = await asyncio.wait({restart, exited}, return_when=asyncio.FIRST_COMPLETED)
            if restart in done and not exited.done():
                grace = float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
                await proc.stop(min(grace, 30.0))
            restart.cancel()
            code = await exited
            c.restart_requested.clear()
            await self._stop_probes(c)
            if self._stopping:
                self._record_exit(c, code)
                return
            self._record_exit(c, code)
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                return
            c.last_state = c.state
            c.restart_count += 1
            if code == 0 and restart not in done:
                c.backoff = BACKOFF_START
            await self._backoff(c)

    async def _post_start(self, c: ContainerState) -> None:
        """A postStart exec hook runs right after the start; if it fails the container is killed
        (and restarted per restartPolicy), as the kubelet does."""
        hook = ((c.spec.get("lifecycle") or {}).get("postStart") or {}).get("exec")
        if not hook:
            return
        try:
            code, output = await self._exec_runner(list(hook.get("command") or []), 30.0)
        except asyncio.TimeoutError:
            code, output = -1, "timed out"
        if code != 0:
            field_path = f"spec.containers{{{c.name}}}"
            self.recorder.record(self.pod, "Warning", "FailedPostStartHook",
                                 f"PostStartHook failed: exited with {code}: {output.strip()}", field_path)
            c.restart_requested.set()

    # -- probes ----------------------------------------------------------------------------

    def _start_probes(self, c: ContainerState) -> None:
        spec = c.spec
        named = {p["name"]: p["containerPort"] for p in spec.get("ports") or [] if p.get("name")}
        target = ProbeTarget(self.pod_ip, named, self._exec_runner)
        gate: asyncio.Event | None = None
        c.started = "startupProbe" not in spec
        if "startupProbe" in spec:
            gate = asyncio.Event()
            c.probes.append(ProbeWorker("startup", spec["startupProbe"], target,
                                        lambda kind, ok, msg, c=c, gate=gate: self._on_probe(c, kind, ok, msg, gate)))
        if "readinessProbe" in spec:
            c.probes.append(ProbeWorker("readiness", spec["readinessProbe"], target,
                                        lambda kind, ok, msg, c=c: self._on_probe(c, kind, ok, msg), gate))
        else:
            c.ready = c.started
        if "livenessProbe" in spec:
            c.probes.append(ProbeWorker("liveness", spec["livenessProbe"], target,
                                        lambda kind, ok, msg, c=c: self._on_probe(c, kind, ok, msg), gate))
        for p in c.probes:
            p.start()
        self._mark_dirty()

    async def _stop_probes(self, c: ContainerState) -> None:
        probes, c.probes = c.probes, []
        for p in probes:
            await p.stop()

    def _on_probe(self, c: ContainerState, kind: str, ok: bool, message: str,
                  gate: asyncio.Event | None = None) -> None:
        field_path = f"spec.containers{{{c.name}}}"
        if kind == "startup":
            if ok:
                c.started = True
                if gate is not None:
                    gate.set()
                if "readinessProbe" not in c.spec:
                    c.ready = True
            else:
                self.recorder.record(self.pod, "Warning", "Unhealthy", f"Startup probe failed: {message}", field_path)
                self.recorder.record(self.pod, "Normal", "Killing",
                                     f"Container {c.name} failed startup probe, will be restarted", field_path)
                c.restart_requested.set()
        elif kind == "readiness":
            c.ready = ok
            if not ok:
                self.recorder.record(self.pod, "Warning", "Unhealthy", f"Readiness probe failed: {message}", field_path)
        elif kind == "liveness" and not ok:
            self.recorder.record(self.pod, "Warning", "Unhealthy", f"Liveness probe failed: {message}", field_path)
            self.recorder.record(self.pod, "Normal", "Killing",
                                 f"Container {c.name} failed liveness probe, will be restarted", field_path)
            c.restart_requested.set()
        self._mark_dirty()

    async def _exec_runner(self, argv: list[str], timeout: float) -> tuple[int, str]:
        """Run a probe or hook command in the pod; (exit code, combined output)."""
        assert self.sandbox is not None
        proc = await self.sandbox.exec(argv, dict(BASE_ENV), False)
        if proc.stdin is not None:
            proc.stdin.close()

        async def collect() -> tuple[int, bytes]:
            out, err = await asyncio.gather(proc.stdout.read() if proc.stdout else _empty(),
                                            proc.stderr.read() if proc.stderr else _empty())
            return await proc.wait(), out + err

        try:
            code, output = await asyncio.wait_for(collect(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        return code, output.decode("utf-8", "replace")

    def attach(self, container: str, stdin: bool) -> Attachment:
        """`kubectl attach`: the running container's output from now on, and its stdin."""
        state = self.container(container)
        if state is None or state.io is None:
            raise errors.BadRequest(f"container {container} is not running")
        return state.io.attach(stdin)

    async def exec(self, container: str, argv: list[str], tty: bool) -> asyncio.subprocess.Process:
        """`kubectl exec`: a command in the pod's namespaces with the container's environment."""
        if self.sandbox is None:
            raise errors.BadRequest(f"pod {self.pod['metadata']['name']} has no running sandbox yet")
        state = self.container(container)
        env = dict(state.env) if state is not None and state.env else dict(BASE_ENV, HOSTNAME=self._hostname()[0])
        cwd = state.spec.get("workingDir") if state is not None else None
        return await self.sandbox.exec(argv, env, tty, cwd)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- status ----------------------------------------------------------------------------

    def _mark_dirty(self) -> None:
        self._status_dirty.set()

    def _container_status(self, c: ContainerState) -> Obj:
        status: Obj = {
            "name": c.name, "state": c.state, "lastState": c.last_state, "ready": c.ready,
            "restartCount": c.restart_count, "image": c.spec.get("image", ""),
            "imageID": f"kubeloop://{images.normalise(c.spec.get('image', ''))}",
            "started": "running" in c.state and c.started,
        }
        if c.process is not None or "terminated" in c.state:
            status["containerID"] = f"kubeloop://{self.uid[:8]}-{c.name}-{c.log_index}"
        return status

    def status(self) -> Obj:
        spec = self.pod.get("spec") or {}
        old = self.pod.get("status") or {}
        statuses = [self._container_status(c) for c in self.containers]
        policy = spec.get("restartPolicy", "Always")
        running = any("running" in c.state for c in self.containers)
        terminated = [c.state["terminated"] for c in self.containers if "terminated" in c.state]
        phase = "Pending"
        if self.containers and len(terminated) == len(self.containers) and policy != "Always":
            finished = all(t.get("exitCode") == 0 for t in terminated)
            if policy == "Never" or finished:
                phase = "Succeeded" if finished else "Failed"
            else:
                phase = "Running"
        elif running or any(c.restart_count for c in self.containers):
            phase = "Running"
        t = now()
        conds = list(old.get("conditions") or [])
        all_ready = bool(self.containers) and all(c.ready for c in self.containers)
        not_ready = [c.name for c in self.containers if not c.ready]
        msg = f"containers with unready status: [{' '.join(not_ready)}]" if not_ready else ""
        conds = set_condition(conds, "PodReadyToStartContainers", "True" if self.sandbox else "False", t)
        conds = set_condition(conds, "Initialized", "True" if self.initialized else "False", t,
                              "" if self.initialized else "ContainersNotInitialized")
        gates_ok = all(
            any(cc.get("type") == g["conditionType"] and cc.get("status") == "True" for cc in conds)
            for g in spec.get("readinessGates") or []
        )
        conds = set_condition(conds, "ContainersReady", "True" if all_ready else "False", t,
                              "" if all_ready else "ContainersNotReady", msg)
        ready = all_ready and gates_ok and phase == "Running"
        conds = set_condition(conds, "Ready", "True" if ready else "False", t,
                              "" if ready else ("PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"),
                              "" if ready else msg)
        order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
        conds.sort(key=lambda c: order.index(c["type"]) if c["type"] in order else len(order))
        status: Obj = {
            "phase": phase, "conditions": conds, "hostIP": self.node_ip, "hostIPs": [{"ip": self.node_ip}],
            "podIP": self.pod_ip, "podIPs": [{"ip": self.pod_ip}], "startTime": old.get("startTime") or self.start_time,
            "containerStatuses": statuses, "qosClass": old.get("qosClass", "BestEffort"),
        }
        if self.init_containers:
            status["initContainerStatuses"] = [self._container_status(c) for c in self.init_containers]
        return status

    async def status_loop(self) -> None:
        """Write status whenever something changed (coalesced, at most ~20 writes/s)."""
        while True:
            await self._status_dirty.wait()
            self._status_dirty.clear()
            await self.write_status()
            await asyncio.sleep(0.05)

    async def write_status(self) -> None:
        status = self.status()
        comparable = _without_times(status)
        if self._last_status is not None and comparable == self._last_status:
            return
        for _ in range(5):
            body = dict(self.pod)
            body["status"] = status
            try:
                self.pod = await self.client.update(by_plural("pods"), body, subresource="status")
                self._last_status = comparable
                return
            except errors.Conflict:
                try:
                    self.pod = await self.client.get(by_plural("pods"), self.pod["metadata"]["namespace"],
                                                     self.pod["metadata"]["name"])
                except errors.NotFound:
                    return
                status = self.status()
            except errors.NotFound:
                return

    # -- stop ------------------------------------------------------------------------------

    async def terminate(self, grace: float) -> None:
        """Stop containers (preStop first, SIGTERM, SIGKILL after grace) and destroy the sandbox."""
        self._stopping = True
        deadline = time.monotonic() + grace
        for c in self.containers:
            hook = ((c.spec.get("lifecycle") or {}).get("preStop") or {}).get("exec")
            if hook and c.process is not None and self.sandbox is not None:
                try:
                    await asyncio.wait_for(self._exec_runner(list(hook.get("command") or []), grace),
                                           max(deadline - time.monotonic(), 0.1))
                except Exception:
                    pass
            if c.process is not None:
                self.recorder.record(self.pod, "Normal", "Killing", f"Stopping container {c.name}",
                                     f"spec.containers{{{c.name}}}")
        stops = [c.process.stop(max(deadline - time.monotonic(), 0.0)) for c in self.containers if c.process]
        await asyncio.gather(*stops, return_exceptions=True)
        await asyncio.gather(*(c.io.finish() for c in self.containers + self.init_containers if c.io),
                             *self._background, return_exceptions=True)  # all output in the logs
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for c in self.containers:
            await self._stop_probes(c)
        if self.sandbox is not None:
            await self.sandbox.destroy()
            self.sandbox = None


async def _empty() -> bytes:
    return b""


def _without_times(status: Obj) -> Obj:
    """Status without the timestamps that change on every computation (to detect real changes)."""
    out = dict(status)
    out["conditions"] = [{k: v for k, v in c.items() if k not in ("lastTransitionTime", "lastProbeTime")}
                         for c in status.get("conditions") or []]
    return out


def signal_name(sig: int) -> str:
    return signal.Signals(sig).name
