"""NodeLifecycle: notices nodes that stopped reporting, as kube-controller-manager does.

A node whose Lease in `kube-node-lease` has not been renewed for the grace period (40 s by
default, `--node-monitor-grace-period`) gets every condition set to Unknown ("Kubelet
stopped posting node status."), the `node.kubernetes.io/unreachable` taints (NoSchedule and
NoExecute), and its pods' Ready condition set to False, so that endpoints drop them. When the
lease is renewed again the node agent reports Ready itself and the taints are removed. A node
that reports Ready=False gets the `not-ready` taints instead, a cordoned one
`node.kubernetes.io/unschedulable:NoSchedule`. What the NoExecute taints do to pods is
TaintEviction's job (taintevict.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kubeloop.api import times
from kubeloop.api import errors
from kubeloop.api import taints as taints_api
from kubeloop.api.pods import condition, set_condition
from kubeloop.api.registry import by_plural
from kubeloop.client.events import EventRecorder

from .base import Controller

Obj = dict[str, Any]


def _taints_for(node: Obj, stale: bool) -> list[Obj]:
    """The node's taints with the condition taints set from its state, as Kubernetes'
    TaintNodesByCondition and taint-based eviction do: unreachable (no heartbeat) or
    not-ready (the agent says NotReady) as NoSchedule and NoExecute, unschedulable
    (cordoned) as NoSchedule. Other taints, and the time existing ones were added, are kept."""
    taints = (node.get("spec") or {}).get("taints") or []
    ready = condition(node, "Ready")
    status = (ready or {}).get("status")
    want: list[tuple[str, str]] = []
    if stale or status == "Unknown":
        want += [(taints_api.UNREACHABLE, "NoSchedule"), (taints_api.UNREACHABLE, "NoExecute")]
    elif status == "False":
        want += [(taints_api.NOT_READY, "NoSchedule"), (taints_api.NOT_READY, "NoExecute")]
    if (node.get("spec") or {}).get("unschedulable"):
        want.append((taints_api.UNSCHEDULABLE, "NoSchedule"))
    managed = (taints_api.UNREACHABLE, taints_api.NOT_READY, taints_api.UNSCHEDULABLE)
    out = [t for t in taints if t.get("key") not in managed or (t.get("key"), t.get("effect")) in want]
    have = {(t.get("key"), t.get("effect")) for t in out}
    now = times.now()
    for key, effect in want:
        if (key, effect) not in have:
            out.append({"key": key, "effect": effect, **({"timeAdded": now} if effect == "NoExecute" else {})})
    return out


class NodeLifecycle(Controller):
    name = "nodelifecycle"
    workers = 1

    def __init__(self, client: Any, informers: Any, grace: float = 40.0) -> None:
        super().__init__(client, informers)
        self.grace = grace
        self.nodes = informers.get("nodes")
        self.leases = informers.get("leases")
        self.pods = informers.get("pods")
        self.recorder = EventRecorder(client, "node-controller")
        self._ticker: asyncio.Task[None] | None = None

    def setup(self) -> None:
        self.nodes.add_handler(lambda key, old, new: self.queue.add(key))
        self.leases.add_handler(lambda key, old, new: self.queue.add(key.rpartition("/")[2]))

    def start(self) -> None:
        super().start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await super().stop()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(max(self.grace / 8, 0.5))
            for key in self.nodes.keys():
                self.queue.add(key)

    async def sync(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None:
            return
        lease = self.leases.get(f"kube-node-lease/{key}")
        renewed = times.parse((lease or {}).get("spec", {}).get("renewTime")) or 0.0
        ready = condition(node, "Ready")
        heartbeat = max(renewed, times.parse((ready or {}).get("lastHeartbeatTime")) or 0.0)
        stale = time.time() - heartbeat > self.grace
        if stale and (ready is None or ready.get("status") != "Unknown"):
            await self._mark_unknown(node)
            self.recorder.record(node, "Normal", "NodeNotReady", f"Node {key} status is now: NodeNotReady")
            return  # the update comes back through the informer; taints follow from it
        taints = (node.get("spec") or {}).get("taints") or []
        wanted = _taints_for(node, stale)
        if wanted != taints:
            await self._taint(node, wanted)
        if stale:
            await self._mark_pods_not_ready(key)

    async def _mark_unknown(self, node: Obj) -> None:
        now = times.now()
        status = dict(node.get("status") or {})
        conds = []
        for c in status.get("conditions") or []:
            changed = c.get("status") != "Unknown"
            c = dict(c, status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.")
            if changed:
                c["lastTransitionTime"] = now
            conds.append(c)
        status["conditions"] = conds
        body = dict(node, status=status)
        try:
            await self.client.update(by_plural("nodes"), body, subresource="status")
        except errors.Conflict:
            self.queue.add(node["metadata"]["name"])

    async def _taint(self, node: Obj, taints: list[Obj]) -> None:
        spec = dict(node.get("spec") or {})
        if taints:
            spec["taints"] = taints
        else:
            spec.pop("taints", None)
        try:
            await self.client.update(by_plural("nodes"), dict(node, spec=spec))
        except errors.Conflict:
            self.queue.add(node["metadata"]["name"])

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        now = times.now()
        for pod in self.pods.list():
            if (pod.get("spec") or {}).get("nodeName") != node_name:
                continue
            ready = condition(pod, "Ready")
            if ready is not None and ready.get("status") == "False":
                continue
            status = dict(pod.get("status") or {})
            status["conditions"] = set_condition(status.get("conditions") or [], "Ready", "False", now,
                                                 "NodeNotReady", "")
            try:
                await self.client.update(by_plural("pods"), dict(pod, status=status), subresource="status")
            except (errors.Conflict, errors.NotFound):
                pass
