"""TaintEviction: deletes pods from nodes whose NoExecute taints they do not tolerate.

Kubernetes' taint eviction controller: a pod bound to a node with a NoExecute taint it does
not tolerate is deleted at once; one it tolerates for ``tolerationSeconds`` is deleted that
long after the taint was added (every pod tolerates ``unreachable`` and ``not-ready`` for
300 s by default, see ``kubeloop.api.taints.default_tolerations``); a toleration without
seconds keeps the pod forever. Before deleting, the pod gets the ``DisruptionTarget``
condition and an Event says why, so ``kubectl describe pod`` shows it.

A pod on an unreachable node has nobody to finish its graceful deletion, so it stays
Terminating until the node comes back (its agent then stops and removes it) -- as in
Kubernetes. Its controller does not wait: a pod being deleted no longer counts as a replica,
so a replacement is created and scheduled on a live node.
"""

from __future__ import annotations

import time
from typing import Any

from kubeloop.api import times
from kubeloop.api import errors, taints
from kubeloop.api.pods import is_terminal, set_condition
from kubeloop.api.registry import by_plural
from kubeloop.client.events import EventRecorder

from .base import Controller

Obj = dict[str, Any]


class TaintEviction(Controller):
    name = "taint-eviction"
    workers = 2

    def __init__(self, client: Any, informers: Any) -> None:
        super().__init__(client, informers)
        self.pods = informers.get("pods")
        self.nodes = informers.get("nodes")
        self.recorder = EventRecorder(client, "taint-eviction-controller")

    def setup(self) -> None:
        self.pods.add_handler(lambda key, old, new: self.queue.add(key))
        self.nodes.add_handler(self._on_node)

    def _on_node(self, key: str, old: Obj | None, new: Obj | None) -> None:
        if new is None or ((old or {}).get("spec") or {}).get("taints") == (new.get("spec") or {}).get("taints"):
            return
        for pod in self.pods.list():
            if (pod.get("spec") or {}).get("nodeName") == key:
                meta = pod["metadata"]
                self.queue.add(f"{meta['namespace']}/{meta['name']}")

    async def sync(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None or pod["metadata"].get("deletionTimestamp") or is_terminal(pod):
            return
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is None:
            return
        node_taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]
        tolerations = (pod.get("spec") or {}).get("tolerations") or []
        delay = taints.eviction_delay(node_taints, tolerations)
        if delay is None:
            return
        if delay > 0:
            # Counted from when the newest matching taint was added (taints keep timeAdded).
            added = [taints.taint_added(t) for t in node_taints]
            since = max((a for a in added if a is not None), default=time.time())
            remaining = since + delay - time.time()
            if remaining > 0:
                self.queue.add_after(key, remaining + 0.05)
                return
        await self._evict(pod)

    async def _evict(self, pod: Obj) -> None:
        meta = pod["metadata"]
        now = times.now()
        status = dict(pod.get("status") or {})
        status["conditions"] = set_condition(status.get("conditions") or [], "DisruptionTarget", "True", now,
                                             "DeletionByTaintManager", "Taint manager: deleting due to NoExecute taint")
        pods = by_plural("pods")
        try:
            await self.client.update(pods, dict(pod, status=status), subresource="status")
        except errors.Conflict:
            self.queue.add(f"{meta['namespace']}/{meta['name']}")  # look again at the newer pod
            return
        self.recorder.record(pod, "Normal", "TaintManagerEviction",
                             f"Marking for deletion Pod {meta['namespace']}/{meta['name']}")
        try:
            await self.client.delete(pods, meta["namespace"], meta["name"], preconditions={"uid": meta["uid"]})
        except (errors.NotFound, errors.Conflict):
            pass
