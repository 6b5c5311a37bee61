"""ReplicationManager: keeps `spec.replicas` pods of a ReplicationController or ReplicaSet.

Pods are created from the template with `generateName: <owner>-` and a controller
ownerReference; surplus pods are deleted in Kubernetes' order (unscheduled, pending,
not ready, newest first). Orphans matching the selector are adopted. Expectations (the
pods this controller just created or deleted but its cache has not seen yet) stop a second
sync from acting twice on the same shortfall. Status counts replicas, fully labeled, ready
and available pods and the observed generation.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kubeloop.api import errors
from kubeloop.api.pods import is_active, is_ready
from kubeloop.api.registry import ResourceType, by_plural
from kubeloop.api.selectors import LabelSelector, selector_from_map, selector_from_object

from .base import Controller, controller_of, owner_ref, split_key

Obj = dict[str, Any]
EXPECTATION_TIMEOUT = 30.0
BURST = 100


class _Expectations:
    """What a sync started and the informer has not reported yet: a count of pod creations
    (raised before creating, since the watch may report a pod before the create returns)
    and the names of pods being deleted."""

    def __init__(self) -> None:
        self._adds: dict[str, int] = {}
        self._dels: dict[str, set[str]] = {}
        self._since: dict[str, float] = {}

    def expect_adds(self, key: str, count: int) -> None:
        self._adds[key] = self._adds.get(key, 0) + count
        self._since[key] = time.monotonic()

    def expect_deletes(self, key: str, names: set[str]) -> None:
        self._dels.setdefault(key, set()).update(names)
        self._since[key] = time.monotonic()

    def added(self, key: str, count: int = 1) -> None:
        if key in self._adds:
            self._adds[key] -= count
            if self._adds[key] <= 0:
                del self._adds[key]

    def deleted(self, key: str, name: str) -> None:
        names = self._dels.get(key)
        if names is not None:
            names.discard(name)
            if not names:
                del self._dels[key]

    def satisfied(self, key: str) -> bool:
        if key not in self._adds and key not in self._dels:
            return True
        if time.monotonic() - self._since.get(key, 0.0) > EXPECTATION_TIMEOUT:
            self.forget(key)
            return True
        return False

    def forget(self, key: str) -> None:
        self._adds.pop(key, None)
        self._dels.pop(key, None)
        self._since.pop(key, None)


def _deletion_rank(pod: Obj) -> tuple[int, int, int]:
    """Lower ranks are deleted first (Kubernetes' ActivePods ordering)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    scheduled = 1 if spec.get("nodeName") else 0
    phase = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", "Pending"), 0)
    ready = 1 if is_ready(pod) else 0
    return (scheduled, phase, ready)


class ReplicationManager(Controller):
    workers = 2

    def __init__(self, client: Any, informers: Any, kind: str) -> None:
        self.kind = kind
        self.name = "replicaset" if kind == "ReplicaSet" else "replicationcontroller"
        super().__init__(client, informers)
        self.resource: ResourceType = by_plural("replicasets" if kind == "ReplicaSet" else "replicationcontrollers")
        self.owners = informers.get(self.resource.plural)
        self.pods = informers.get("pods")
        self.expectations = _Expectations()

    def setup(self) -> None:
        self.owners.add_handler(lambda key, old, new: self.queue.add(key))
        self.pods.add_handler(self._on_pod)

    def _selector(self, owner: Obj) -> LabelSelector:
        spec = owner.get("spec") or {}
        if self.kind == "ReplicaSet":
            return selector_from_object(spec.get("selector"))
        return selector_from_map(spec.get("selector"))

    def _on_pod(self, key: str, old: Obj | None, new: Obj | None) -> None:
        pod = new or old
        assert pod is not None
        ns = pod["metadata"].get("namespace", "")
        ref = controller_of(pod)
        if ref is not None:
            if ref.get("kind") == self.kind:
                owner_key = f"{ns}/{ref['name']}"
                if old is None:
                    self.expectations.added(owner_key)
                elif new is None or (new["metadata"].get("deletionTimestamp")
                                     and not old["metadata"].get("deletionTimestamp")):
                    self.expectations.deleted(owner_key, pod["metadata"]["name"])
                self.queue.add(owner_key)
            return
        # An orphan: wake every owner whose selector matches, so it can be adopted.
        labels = pod["metadata"].get("labels") or {}
        for owner in self.owners.list(ns):
            sel = self._selector(owner)
            if not sel.empty and sel.matches(labels):
                self.queue.add(f"{ns}/{owner['metadata']['name']}")

    async def sync(self, key: str) -> None:
        owner = self.owners.get(key)
        if owner is None:
            self.expectations.forget(key)
            return
        ns, name = split_key(key)
        meta = owner["metadata"]
        selector = self._selector(owner)
        uid = meta["uid"]
        owned: list[Obj] = []
        for pod in self.pods.list(ns):
            ref = controller_of(pod)
            if ref is not None:
                if ref.get("uid") == uid:
                    owned.append(pod)
            elif not meta.get("deletionTimestamp") and not selector.empty and is_active(pod) \
                    and selector.matches(pod["metadata"].get("labels")):
                adopted = await self._adopt(owner, pod)
                if adopted is not None:
                    owned.append(adopted)
        active = [p for p in owned if is_active(p)]
        if self.expectations.satisfied(key) and not meta.get("deletionTimestamp"):
            await self._manage(owner, active)
        await self._update_status(owner, active, selector)

    async def _adopt(self, owner: Obj, pod: Obj) -> Obj | None:
        refs = list(pod["metadata"].get("ownerReferences") or []) + [owner_ref(owner)]
        try:
            return await self.client.patch(
                by_plural("pods"), pod["metadata"]["namespace"], pod["metadata"]["name"],
                {"metadata": {"ownerReferences": refs, "resourceVersion": pod["metadata"]["resourceVersion"]}},
            )
        except (errors.NotFound, errors.Conflict):
            return None

    async def _manage(self, owner: Obj, active: list[Obj]) -> None:
        key = f"{owner['metadata']['namespace']}/{owner['metadata']['name']}"
        want = int((owner.get("spec") or {}).get("replicas", 1))
        diff = want - len(active)
        if diff > 0:
            template = (owner.get("spec") or {}).get("template") or {}
            count = min(diff, BURST)
            bodies = [self._pod_from_template(owner, template) for _ in range(count)]
            self.expectations.expect_adds(key, count)
            results = await asyncio.gather(*(self.client.create(by_plural("pods"), owner["metadata"]["namespace"], b)
                                             for b in bodies), return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                self.expectations.added(key, len(failures))  # those will never be observed
                raise failures[0]
        elif diff < 0:
            # Within the same rank, the newest pods go first.
            ordered = sorted(active, key=lambda p: (_deletion_rank(p), _neg(p["metadata"].get("creationTimestamp", ""))))
            doomed = ordered[: -diff]
            self.expectations.expect_deletes(key, {p["metadata"]["name"] for p in doomed})
            results = await asyncio.gather(*(self.client.delete(by_plural("pods"), p["metadata"]["namespace"],
                                                                p["metadata"]["name"]) for p in doomed),
                                           return_exceptions=True)
            for pod, r in zip(doomed, results):
                if isinstance(r, BaseException):
                    self.expectations.deleted(key, pod["metadata"]["name"])
                    if not isinstance(r, errors.NotFound):
                        raise r

    def _pod_from_template(self, owner: Obj, template: Obj) -> Obj:
        tmeta = template.get("metadata") or {}
        meta: Obj = {"generateName": owner["metadata"]["name"] + "-", "ownerReferences": [owner_ref(owner)]}
        if tmeta.get("labels"):
            meta["labels"] = dict(tmeta["labels"])
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}}

    async def _update_status(self, owner: Obj, active: list[Obj], selector: LabelSelector) -> None:
        template_labels = ((owner.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
        ready = sum(1 for p in active if is_ready(p))
        labeled = sum(1 for p in active if all((p["metadata"].get("labels") or {}).get(k) == v
                                               for k, v in template_labels.items()))
        status: Obj = {
            "replicas": len(active),
            "fullyLabeledReplicas": labeled,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": owner["metadata"].get("generation", 1),
        }
        # Kubernetes omits zero counts (omitempty), which is what `kubectl get` shows as 0.
        status = {k: v for k, v in status.items() if v or k == "replicas"}
        old = owner.get("status") or {}
        if all(old.get(k) == v for k, v in status.items()) and set(old) <= set(status) | {"conditions"}:
            return
        body = dict(owner)
        body["status"] = {**{k: v for k, v in old.items() if k == "conditions"}, **status}
        await self.client.update(self.resource, body, subresource="status")


def _neg(ts: str) -> str:
    """Sort key that orders RFC 3339 timestamps newest first."""
    return "".join(chr(0x7F - ord(c)) for c in ts)
