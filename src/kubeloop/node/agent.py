"""NodeAgent: the kubelet of one kubeloop node.

It registers its Node (addresses, podCIDR, capacity, conditions, nodeInfo), renews its Lease
in `kube-node-lease` and its Ready condition every few seconds, watches the pods bound to it
and runs each through a PodWorker, and serves the kubelet's streaming endpoints (logs, exec,
port-forward) on its node address, port 10250. It talks to the cluster only through the
API. Run one per node, inside the node's network namespace:

    python -m kubeloop.node.agent CONFIG.json
"""

from __future__ import annotations

import asyncio
import json
import logging
import platform
import signal
import ssl
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aiohttp import web

from kubeloop.api import times
from kubeloop.api import errors
from kubeloop.api.pods import is_terminal
from kubeloop.api.registry import by_plural
from kubeloop.client.events import EventRecorder
from kubeloop.client.informer import Informer
from kubeloop.client.rest import Client
from kubeloop.client.workqueue import WorkQueue, run_workers

from .podworker import PodWorker
from .runtime import IPAllocator, Runtime

log = logging.getLogger(__name__)
Obj = dict[str, Any]

KUBELET_PORT = 10250


now = times.now


def now_micro() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class AgentConfig:
    name: str
    node_ip: str
    pod_cidr: str
    server: str
    ca_pem: str
    cert_pem: str
    key_pem: str
    serving_cert_pem: str
    serving_key_pem: str
    state_dir: str
    cluster_domain: str = "cluster.local"
    dns_ip: str = "10.96.0.10"
    netns_prefix: str = "kl"
    node_netns: str = ""
    heartbeat_seconds: float = 10.0  # Lease renewal and node status period
    cluster_pod_cidr: str = "10.244.0.0/16"  # traffic from outside it is masqueraded by the proxy

    @classmethod
    def load(cls, path: Path) -> "AgentConfig":
        return cls(**json.loads(path.read_text()))


class NodeAgent:
    def __init__(self, config: AgentConfig, client: Client, runtime: Runtime) -> None:
        self.config = config
        self.client = client
        self.runtime = runtime
        self.recorder = EventRecorder(client, "kubelet", config.name)
        self.ipam = IPAllocator(config.pod_cidr)
        self.pods = Informer(client, by_plural("pods"), field_selector=f"spec.nodeName={config.name}")
        self.services = Informer(client, by_plural("services"))
        self.queue = WorkQueue()
        self.workers: dict[str, PodWorker] = {}  # by pod key
        self._worker_tasks: dict[str, list[asyncio.Task[None]]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._runner: web.AppRunner | None = None
        self.proxier: Any = None
        self._stopping = False

    # -- node object -------------------------------------------------------------------------

    def _node_status(self, ready: bool = True) -> Obj:
        t = now()
        conds = [
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
             "message": "kubelet has sufficient memory available"},
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
             "message": "kubelet has no disk pressure"},
            {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID",
             "message": "kubelet has sufficient PID available"},
            {"type": "Ready", "status": "True" if ready else "False",
             "reason": "KubeletReady" if ready else "KubeletNotReady",
             "message": "kubelet is posting ready status" if ready else "kubelet is stopping"},
        ]
        for c in conds:
            c["lastHeartbeatTime"] = t
            c["lastTransitionTime"] = t
        uname = platform.uname()
        capacity = {"cpu": "2", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"}
        return {
            "addresses": [{"type": "InternalIP", "address": self.config.node_ip},
                          {"type": "Hostname", "address": self.config.name}],
            "capacity": capacity, "allocatable": capacity, "conditions": conds,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
            "nodeInfo": {"machineID": self.config.name, "systemUUID": self.config.name, "bootID": self.config.name,
                         "kernelVersion": uname.release, "osImage": "kubeloop (Linux namespaces)",
                         "containerRuntimeVersion": "kubeloop://0.1.0", "kubeletVersion": "v1.32.0",
                         "kubeProxyVersion": "v1.32.0", "operatingSystem": "linux", "architecture": "amd64"},
        }

    async def register(self) -> None:
        nodes = by_plural("nodes")
        body = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.config.name, "labels": {
                "kubernetes.io/hostname": self.config.name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}},
            "spec": {"podCIDR": self.config.pod_cidr, "podCIDRs": [self.config.pod_cidr]},
            "status": self._node_status(),
        }
        try:
            await self.client.create(nodes, None, body)
        except errors.AlreadyExists:
            live = await self.client.get(nodes, None, self.config.name)
            live["spec"] = {**(live.get("spec") or {}), **body["spec"]}
            live["metadata"]["labels"] = {**(live["metadata"].get("labels") or {}), **body["metadata"]["labels"]}
            live = await self.client.update(nodes, live)
            live["status"] = body["status"]
            await self.client.update(nodes, live, subresource="status")

    async def heartbeat(self) -> None:
        leases, nodes = by_plural("leases"), by_plural("nodes")
        while True:
            try:
                await self._renew_lease(leases)
                live = await self.client.get(nodes, None, self.config.name)
                status = self._node_status()
                old = {c["type"]: c for c in (live.get("status") or {}).get("conditions") or []}
                for c in status["conditions"]:
                    prev = old.get(c["type"])
                    if prev is not None and prev.get("status") == c["status"]:
                        c["lastTransitionTime"] = prev.get("lastTransitionTime", c["lastTransitionTime"])
                live["status"] = status
                await self.client.update(nodes, live, subresource="status")
            except Exception as e:
                log.warning("heartbeat failed: %s", e)
            await asyncio.sleep(self.config.heartbeat_seconds)

    async def _renew_lease(self, leases: Any) -> None:
        name = self.config.name
        try:
            lease = await self.client.get(leases, "kube-node-lease", name)
            lease["spec"]["renewTime"] = now_micro()
            await self.client.update(leases, lease)
        except errors.NotFound:
            await self.client.create(leases, "kube-node-lease", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now_micro()},
            })

    # -- pods --------------------------------------------------------------------------------

    def _on_pod(self, key: str, old: Obj | None, new: Obj | None) -> None:
        self.queue.add(key)

    async def _lookup(self, plural: str, namespace: str, name: str) -> Obj | None:
        try:
            return await self.client.get(by_plural(plural), namespace, name)
        except errors.NotFound:
            return None

    async def sync_pod(self, key: str) -> None:
        pod = self.pods.get(key)
        worker = self.workers.get(key)
        if worker is not None and pod is not None and pod["metadata"]["uid"] != worker.uid:
            await self._stop_worker(key, 0)  # a new pod with the same name replaced the old one
            worker = None
        if pod is None:
            if worker is not None:
                await self._stop_worker(key, 0)
            return
        meta = pod["metadata"]
        if self._stopping:
            return  # the node is going down: start nothing new
        if meta.get("deletionTimestamp"):
            if worker is not None:
                await self._stop_worker(key, float(meta.get("deletionGracePeriodSeconds") or 0))
            try:
                await self.client.delete(by_plural("pods"), meta["namespace"], meta["name"], gracePeriodSeconds=0,
                                         preconditions={"uid": meta["uid"]})
            except (errors.NotFound, errors.Conflict):
                pass
            return
        if worker is not None:
            worker.update_pod(pod)
            return
        if is_terminal(pod):
            return
        ip = self.ipam.allocate(meta["uid"])
        state_dir = Path(self.config.state_dir) / "pods" / meta["uid"]
        worker = PodWorker(
            pod=pod, client=self.client, runtime=self.runtime, recorder=self.recorder, node_name=self.config.name,
            node_ip=self.config.node_ip, pod_ip=ip, state_dir=state_dir, cluster_domain=self.config.cluster_domain,
            dns_ip=self.config.dns_ip, services=self.services.list, lookup=self._lookup,
        )
        self.workers[key] = worker
        loop = asyncio.get_running_loop()
        self._worker_tasks[key] = [loop.create_task(worker.run(), name=f"pod-{key}"),
                                   loop.create_task(worker.status_loop(), name=f"status-{key}")]

    async def _stop_worker(self, key: str, grace: float) -> None:
        worker = self.workers.pop(key, None)
        if worker is None:
            return
        tasks = self._worker_tasks.pop(key, [])
        try:
            await worker.terminate(grace)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.ipam.release(worker.uid)

    def worker_for(self, namespace: str, name: str) -> PodWorker:
        worker = self.workers.get(f"{namespace}/{name}")
        if worker is None:
            raise errors.NotFound.of("pods", name)
        return worker

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        await self.register()
        self.pods.add_handler(self._on_pod)
        self.pods.start()
        self.services.start()
        await asyncio.gather(self.pods.wait_synced(), self.services.wait_synced())
        # The node's service proxy (kube-proxy's job), in this process and network namespace.
        from kubeloop.proxy.proxier import Proxier

        self.proxier = Proxier(self.client, node_name=self.config.name, node_ips=[self.config.node_ip],
                               cluster_cidr_for_masquerade=self.config.cluster_pod_cidr,
                               informers={"services": self.services}, health_server=True)
        await self.proxier.start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self.heartbeat(), name="heartbeat"))
        self._tasks.append(loop.create_task(run_workers(self.queue, self.sync_pod, 4,
                                                        lambda k, e: log.warning("pod %s: %s", k, e)),
                                            name="pod-sync"))
        await self._serve(ssl_context)

    async def _serve(self, ssl_context: ssl.SSLContext | None) -> None:
        app = web.Application()
        try:
            from .streaming import add_streaming_routes
            from .streamruntime import AgentStreamingRuntime

            add_streaming_routes(app, AgentStreamingRuntime(self))
        except ImportError:
            log.warning("streaming endpoints unavailable")
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.node_ip, KUBELET_PORT, ssl_context=ssl_context,
                           reuse_address=True)
        await site.start()

    async def stop(self) -> None:
        """Stop every pod (their processes die with the node) and the agent itself."""
        self._stopping = True
        self.queue.shutdown()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(self._stop_worker(k, 0) for k in list(self.workers)), return_exceptions=True)
        if self.proxier is not None:
            await self.proxier.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.pods.stop()
        await self.services.stop()
        try:  # events are diagnostics: never let them hold up a shutdown
            await asyncio.wait_for(self.recorder.flush(), 2.0)
        except asyncio.TimeoutError:
            log.warning("gave up flushing events at shutdown")
        await self.client.close()


async def main_async(config_path: Path) -> int:
    import tempfile

    from .nsruntime import NamespaceRuntime

    cfg = AgentConfig.load(config_path)
    client_ctx = ssl.create_default_context(cadata=cfg.ca_pem)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "c", Path(tmp) / "k"
        cert.write_text(cfg.cert_pem)
        key.write_text(cfg.key_pem)
        key.chmod(0o600)
        client_ctx.load_cert_chain(cert, key)
        cert.write_text(cfg.serving_cert_pem)
        key.write_text(cfg.serving_key_pem)
        # Only the API server (a client certificate from the cluster CA) may talk to the kubelet.
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=cfg.ca_pem)
        server_ctx.load_cert_chain(cert, key)
        server_ctx.verify_mode = ssl.CERT_REQUIRED
    client = Client(cfg.server, client_ctx)
    runtime = NamespaceRuntime(cfg)
    agent = NodeAgent(cfg, client, runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await agent.start(server_ctx)
    print("ready", flush=True)
    await stop.wait()
    await agent.stop()
    return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s node %(name)s: %(message)s")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(main_async(Path(sys.argv[1])))


if __name__ == "__main__":
    sys.exit(main())
