"""Scheduler: binds pending pods to Ready nodes, spreading them by pod count.

A pod with `spec.nodeName` set is already placed; others are bound (pods/binding) to the
schedulable, Ready node whose NoSchedule/NoExecute taints the pod tolerates, that matches
`nodeSelector` and runs the fewest pods (ties broken by
name, so placement is predictable). With no fit, the pod stays Pending with
PodScheduled=False, reason Unschedulable and a message like Kubernetes' ("0/2 nodes are
available: ..."), and is retried when nodes change.
"""

from __future__ import annotations

from typing import Any

from kubeloop.api import times
from kubeloop.api import errors, taints
from kubeloop.api.pods import condition, is_terminal, set_condition
from kubeloop.api.registry import by_plural
from kubeloop.client.events import EventRecorder

from .base import Controller, split_key

Obj = dict[str, Any]


def node_ready(node: Obj) -> bool:
    c = condition(node, "Ready")
    return c is not None and c.get("status") == "True"


class Scheduler(Controller):
    name = "scheduler"
    workers = 1  # one binder: placement decisions see each other's results

    def __init__(self, client: Any, informers: Any) -> None:
        super().__init__(client, informers)
        self.pods = informers.get("pods")
        self.nodes = informers.get("nodes")
        self._assumed: dict[str, str] = {}  # pod key -> node, until the cache shows the binding
        self.recorder = EventRecorder(client, "default-scheduler")

    def setup(self) -> None:
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(self._on_node)

    def _on_pod(self, key: str, old: Obj | None, new: Obj | None) -> None:
        if new is None:
            self._assumed.pop(key, None)
            return
        if (new.get("spec") or {}).get("nodeName"):
            self._assumed.pop(key, None)
        elif self._wants_scheduling(new):
            self.queue.add(key)

    def _on_node(self, key: str, old: Obj | None, new: Obj | None) -> None:
        for pod in self.pods.list():
            if self._wants_scheduling(pod):
                meta = pod["metadata"]
                self.queue.add(f"{meta['namespace']}/{meta['name']}")

    @staticmethod
    def _wants_scheduling(pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (not spec.get("nodeName") and not pod["metadata"].get("deletionTimestamp") and not is_terminal(pod)
                and spec.get("schedulerName", "default-scheduler") == "default-scheduler")

    async def sync(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None or not self._wants_scheduling(pod) or key in self._assumed:
            return
        ns, name = split_key(key)
        selector = (pod.get("spec") or {}).get("nodeSelector") or {}
        nodes = sorted(self.nodes.list(), key=lambda n: n["metadata"]["name"])
        counts: dict[str, int] = {n["metadata"]["name"]: 0 for n in nodes}
        for p in self.pods.list():
            node = (p.get("spec") or {}).get("nodeName")
            if node in counts and not is_terminal(p):
                counts[node] += 1
        for node in self._assumed.values():
            if node in counts:
                counts[node] += 1
        tolerations = (pod.get("spec") or {}).get("tolerations") or []
        reasons: dict[str, int] = {}
        fits = []
        for n in nodes:
            labels = n["metadata"].get("labels") or {}
            blocking = taints.untolerated((n.get("spec") or {}).get("taints") or [], tolerations,
                                          ("NoSchedule", "NoExecute"))
            if not node_ready(n):
                reason = "1 node(s) were not ready"
            elif (n.get("spec") or {}).get("unschedulable"):
                reason = "node(s) were unschedulable"
            elif blocking:
                reason = f"node(s) had untolerated taint {taints.describe(blocking[0])}"
            elif any(labels.get(k) != v for k, v in selector.items()):
                reason = "node(s) didn't match Pod's node affinity/selector"
            else:
                fits.append(n)
                continue
            reasons[reason] = reasons.get(reason, 0) + 1
        if not fits:
            detail = ", ".join(f"{count} {text.split(' ', 1)[1] if text.startswith('1 ') else text}"
                               for text, count in sorted(reasons.items()))
            message = f"0/{len(nodes)} nodes are available" + (f": {detail}." if detail else ".")
            await self._mark_unschedulable(pod, message)
            self.queue.add_after(key, 5.0)
            return
        best = min(fits, key=lambda n: (counts[n["metadata"]["name"]], n["metadata"]["name"]))
        target = best["metadata"]["name"]
        try:
            await self.client.request(
                "POST", self.client.path(by_plural("pods"), ns, name, "binding"),
                body={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": ns},
                      "target": {"apiVersion": "v1", "kind": "Node", "name": target}},
            )
        except errors.Conflict:
            return  # bound meanwhile, or being deleted
        self._assumed[key] = target
        self.recorder.record(pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {target}")

    async def _mark_unschedulable(self, pod: Obj, message: str) -> None:
        c = condition(pod, "PodScheduled")
        if c is not None and c.get("status") == "False" and c.get("message") == message:
            return
        self.recorder.record(pod, "Warning", "FailedScheduling", message)
        now = times.now()
        status = dict(pod.get("status") or {})
        status["conditions"] = set_condition(status.get("conditions") or [], "PodScheduled", "False", now,
                                             "Unschedulable", message)
        body = dict(pod)
        body["status"] = status
        try:
            await self.client.update(by_plural("pods"), body, subresource="status")
        except errors.Conflict:
            pass
