"""ObjectStore: the API server's generic registry over a storage Backend.

It owns what Kubernetes' generic registry store owns: object bookkeeping (uid,
creationTimestamp, generateName, generation, resourceVersion preconditions), the create /
update / status / delete strategies (status reset on create, status-only updates, graceful
deletion, finalizers, namespace lifecycle) and translating storage errors into API errors.
It calls Admission for defaults, validation and allocation. It does no HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

import orjson

from kubeloop.api.pods import set_condition
from kubeloop.api.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
)
from kubeloop.api.registry import RESOURCES, ResourceType, by_plural, storage_key, storage_prefix
from kubeloop.api.selectors import FieldSelector, LabelSelector
from kubeloop.storage.base import Backend, Compacted, KeyExists, KeyNotFound, RevisionMismatch, Watch

from .admission import Admission

log = logging.getLogger(__name__)

Obj = dict[str, Any]

# Kinds whose metadata.generation tracks spec changes.
_GENERATION_KINDS = {"ReplicationController", "ReplicaSet", "Deployment", "Ingress", "Pod"}
# Kinds whose status is reset on create (clients cannot write status through create).
_RESET_STATUS_ON_CREATE = {"ReplicationController", "ReplicaSet", "Deployment", "Service", "Ingress"}
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def clone(obj: Obj) -> Obj:
    """A deep copy (objects from storage are shared and must not be changed in place)."""
    return orjson.loads(orjson.dumps(obj))


def now_rfc3339(clock: Callable[[], datetime]) -> str:
    return clock().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rv(obj: Obj) -> int:
    return int(obj["metadata"]["resourceVersion"])


class ObjectStore:
    def __init__(
        self,
        backend: Backend,
        admission: Admission,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.backend = backend
        self.admission = admission
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    # -- reads ---------------------------------------------------------------------------

    async def get(self, resource: ResourceType, namespace: str, name: str) -> Obj:
        obj = await self.backend.get(storage_key(resource, namespace, name))
        if obj is None:
            raise NotFound.of(resource.plural, name, resource.group)
        return obj

    async def list(
        self,
        resource: ResourceType,
        namespace: str | None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> tuple[list[Obj], int]:
        name = fields.exact("metadata.name") if fields else None
        if name is not None and namespace is not None or (name is not None and not resource.namespaced):
            one = await self.backend.get(storage_key(resource, namespace or "", name))
            items, rev = ([one] if one else []), self.backend.revision
        else:
            items, rev = await self.backend.list(storage_prefix(resource, namespace))
        if labels is not None and not labels.empty:
            items = [o for o in items if labels.matches(o["metadata"].get("labels"))]
        if fields is not None and fields.requirements:
            items = [o for o in items if fields.matches(o)]
        return items, rev

    def watch(self, resource: ResourceType, namespace: str | None, after: int) -> Watch:
        try:
            return self.backend.watch(storage_prefix(resource, namespace), after)
        except Compacted as e:
            raise Gone.too_old(e.requested, e.oldest) from None

    # -- create --------------------------------------------------------------------------

    async def create(self, resource: ResourceType, namespace: str, body: Obj, *, dry_run: bool = False) -> Obj:
        obj = clone(body)
        meta = obj.setdefault("metadata", {}) or {}
        obj["metadata"] = meta
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        if resource.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise BadRequest("the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = namespace
            await self._check_namespace_open(namespace)
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
        for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339(self.clock)
        if resource.kind in _GENERATION_KINDS:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if resource.kind in _RESET_STATUS_ON_CREATE:
            obj.pop("status", None)
        if resource.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
        if resource.kind == "Pod":
            status = obj.get("status") or {}
            obj["status"] = {"phase": status.get("phase") or "Pending", **{k: v for k, v in status.items() if k != "phase"}}
        if resource.kind == "Ingress":
            self._default_ingress_class(obj)
        if not meta.get("name"):
            # Validation reports the missing name with Kubernetes' wording.
            self.admission.admit_create(resource, obj, dry_run=True)
        self.admission.admit_create(resource, obj, dry_run=dry_run)
        if dry_run:
            return obj
        try:
            return await self.backend.create(storage_key(resource, namespace, meta["name"]), obj)
        except KeyExists:
            self.admission.release(resource, obj)
            raise AlreadyExists.of(resource.plural, meta["name"], resource.group) from None
        except BaseException:
            self.admission.release(resource, obj)
            raise

    def _default_ingress_class(self, obj: Obj) -> None:
        """The DefaultIngressClass admission plugin: an Ingress created without a class gets the
        IngressClass marked `ingressclass.kubernetes.io/is-default-class: "true"` (if exactly one)."""
        spec = obj.setdefault("spec", {})
        annotations = obj["metadata"].get("annotations") or {}
        if spec.get("ingressClassName") or "kubernetes.io/ingress.class" in annotations:
            return
        defaults = [c["metadata"]["name"] for c in self.backend.list_now(storage_prefix(by_plural("ingressclasses")))
                    if (c["metadata"].get("annotations") or {}).get("ingressclass.kubernetes.io/is-default-class")
                    == "true"]
        if len(defaults) == 1:
            spec["ingressClassName"] = defaults[0]

    async def _check_namespace_open(self, namespace: str) -> None:
        ns = await self.backend.get(storage_key(by_plural("namespaces"), "", namespace))
        if ns is None:
            raise NotFound.of("namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise Forbidden(
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )

    # -- update --------------------------------------------------------------------------

    async def update(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> Obj:
        key = storage_key(resource, namespace, name)
        old = await self.backend.get(key)
        if old is None:
            raise NotFound.of(resource.plural, name, resource.group)
        obj = clone(body)
        meta = obj.get("metadata") or {}
        obj["metadata"] = meta
        if meta.get("name") and meta["name"] != name:
            raise BadRequest(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        if resource.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise BadRequest("the namespace of the provided object does not match the namespace sent on the request")
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv and str(wanted_rv) != old["metadata"]["resourceVersion"]:
            raise Conflict.modified(resource.plural, name, resource.group)
        if meta.get("uid") and meta["uid"] != old["metadata"]["uid"]:
            raise Conflict(
                f'Precondition failed: UID in precondition: {meta["uid"]}, UID in object meta: {old["metadata"]["uid"]}'
            )
        new = self._prepare_update(resource, obj, old, subresource)
        undo = None
        if subresource != "status":
            undo = self.admission.admit_update(resource, new, old, dry_run=dry_run)
        if dry_run:
            return new
        try:
            return await self._write_update(resource, key, new, old, name)
        except BaseException:
            if undo is not None:
                undo()
            raise

    def _prepare_update(self, resource: ResourceType, obj: Obj, old: Obj, subresource: str) -> Obj:
        old_meta = old["metadata"]
        if subresource == "status":
            new = clone(old)
            new["status"] = obj.get("status", {})
            return new
        new = obj
        meta = new["metadata"]
        new["apiVersion"], new["kind"] = resource.api_version, resource.kind
        for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta.pop("generateName", None) if "generateName" not in old_meta else meta.__setitem__(
            "generateName", old_meta["generateName"]
        )
        if resource.has_subresource("status"):
            # The main resource never writes status; the /status subresource does.
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if resource.kind in _GENERATION_KINDS:
            generation = old_meta.get("generation", 1)
            if new.get("spec") != old.get("spec"):
                generation += 1
            meta["generation"] = generation
        return new

    async def _write_update(self, resource: ResourceType, key: str, new: Obj, old: Obj, name: str) -> Obj:
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not self._graceful_pending(resource, new):
            try:
                deleted = await self.backend.delete(key, expected_revision=_rv(old))
            except RevisionMismatch:
                raise Conflict.modified(resource.plural, name, resource.group) from None
            self._after_delete(resource, deleted)
            return deleted
        try:
            return await self.backend.update(key, new, expected_revision=_rv(old))
        except RevisionMismatch:
            raise Conflict.modified(resource.plural, name, resource.group) from None
        except KeyNotFound:
            raise NotFound.of(resource.plural, name, resource.group) from None

    @staticmethod
    def _graceful_pending(resource: ResourceType, obj: Obj) -> bool:
        """A pod being deleted gracefully waits for its node agent to finish it."""
        return resource.kind == "Pod" and bool(obj["metadata"].get("deletionGracePeriodSeconds"))

    async def bind(self, namespace: str, name: str, binding: Obj) -> Obj:
        """pods/binding: assign a pending pod to a node (the scheduler's only write)."""
        pods = by_plural("pods")
        target = (binding.get("target") or {}).get("name")
        if not target:
            raise BadRequest("a binding must name its target node in target.name")
        key = storage_key(pods, namespace, name)
        for _ in range(10):
            cur = await self.backend.get(key)
            if cur is None:
                raise NotFound.of("pods", name)
            if cur["metadata"].get("deletionTimestamp"):
                raise Conflict(f"pod {name} is being deleted, cannot be assigned to a host")
            spec = cur.get("spec") or {}
            if spec.get("nodeName"):
                raise Conflict(f'pod {name} is already assigned to node "{spec["nodeName"]}"')
            new = clone(cur)
            new["spec"]["nodeName"] = target
            status = new.setdefault("status", {})
            status["conditions"] = set_condition(status.get("conditions") or [], "PodScheduled", "True",
                                                 now_rfc3339(self.clock))
            try:
                return await self.backend.update(key, new, expected_revision=_rv(cur))
            except RevisionMismatch:
                continue
        raise Conflict.modified("pods", name)

    # -- delete --------------------------------------------------------------------------

    async def delete(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        options: Obj | None = None,
        *,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Delete (or start deleting) an object. Returns (object, whether it is gone now)."""
        options = options or {}
        key = storage_key(resource, namespace, name)
        for attempt in range(10):
            old = await self.backend.get(key)
            if old is None:
                raise NotFound.of(resource.plural, name, resource.group)
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise Conflict(
                    f'Precondition failed: UID in precondition: {pre["uid"]}, UID in object meta: {old["metadata"]["uid"]}'
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise Conflict.modified(resource.plural, name, resource.group)
            if dry_run:
                return old, True
            try:
                return await self._delete_once(resource, key, old, options)
            except RevisionMismatch:
                continue
        raise Conflict.modified(resource.plural, name, resource.group)

    async def _delete_once(self, resource: ResourceType, key: str, old: Obj, options: Obj) -> tuple[Obj, bool]:
        meta = old["metadata"]
        policy = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else "Background")
        finalizers = list(meta.get("finalizers") or [])
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        grace = self._grace_period(resource, old, options)
        if resource.kind == "Namespace":
            finalizers = finalizers or []
        if finalizers or grace or resource.kind == "Namespace":
            if meta.get("deletionTimestamp") and finalizers == list(meta.get("finalizers") or []) and not (
                grace is not None and grace < (meta.get("deletionGracePeriodSeconds") or 0)
            ):
                if resource.kind == "Namespace":
                    self._spawn(self._finalize_namespace(meta["name"]))
                return old, False
            new = clone(old)
            new["metadata"]["deletionTimestamp"] = meta.get("deletionTimestamp") or now_rfc3339(self.clock)
            new["metadata"]["finalizers"] = finalizers
            if not finalizers:
                new["metadata"].pop("finalizers")
            if grace:
                new["metadata"]["deletionGracePeriodSeconds"] = grace
            if resource.kind == "Namespace":
                new.setdefault("status", {})["phase"] = "Terminating"
            updated = await self.backend.update(key, new, expected_revision=_rv(old))
            if resource.kind == "Namespace":
                self._spawn(self._finalize_namespace(meta["name"]))
            elif "foregroundDeletion" in finalizers or "orphan" in finalizers:
                self._spawn(self._finalize_owner(resource, key))
            return updated, False
        deleted = await self.backend.delete(key, expected_revision=_rv(old))
        self._after_delete(resource, deleted)
        return deleted, True

    @staticmethod
    def _grace_period(resource: ResourceType, obj: Obj, options: Obj) -> int | None:
        """Pods on a node are deleted gracefully (the node agent finishes them); all else at once."""
        if resource.kind != "Pod" or not (obj.get("spec") or {}).get("nodeName"):
            return None
        if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return None
        grace = options.get("gracePeriodSeconds")
        if grace is None:
            grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        return int(grace) or None

    def _after_delete(self, resource: ResourceType, obj: Obj) -> None:
        self.admission.release(resource, obj)
        self._spawn(self._collect_dependents(obj["metadata"]["uid"]))

    # -- garbage collection and namespace lifecycle (in-process) ---------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background deletion failed", exc_info=task.exception())

    def _dependents(self, owner_uid: str) -> list[tuple[ResourceType, Obj]]:
        found = []
        for resource in RESOURCES:
            if not resource.namespaced:
                continue
            for obj in self.backend.list_now(storage_prefix(resource)):
                for ref in obj["metadata"].get("ownerReferences") or ():
                    if ref.get("uid") == owner_uid:
                        found.append((resource, obj))
                        break
        return found

    async def _collect_dependents(self, owner_uid: str) -> None:
        """Background propagation: delete what the deleted owner owned (recursively)."""
        for resource, obj in self._dependents(owner_uid):
            meta = obj["metadata"]
            try:
                await self.delete(resource, meta.get("namespace", ""), meta["name"], {"propagationPolicy": "Background"})
            except NotFound:
                pass

    async def _finalize_owner(self, resource: ResourceType, key: str) -> None:
        """Foreground and Orphan propagation, then drop the matching finalizer."""
        owner = await self.backend.get(key)
        if owner is None:
            return
        uid = owner["metadata"]["uid"]
        finalizers = owner["metadata"].get("finalizers") or []
        dependents = self._dependents(uid)
        if "orphan" in finalizers:
            for dep_resource, dep in dependents:
                await self._remove_owner_ref(dep_resource, dep, uid)
            drop = "orphan"
        else:
            for dep_resource, dep in dependents:
                meta = dep["metadata"]
                try:
                    await self.delete(dep_resource, meta.get("namespace", ""), meta["name"], {"propagationPolicy": "Foreground"})
                except NotFound:
                    pass
            deadline = asyncio.get_running_loop().time() + 120
            while self._dependents(uid) and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.1)
            drop = "foregroundDeletion"
        await self._drop_finalizer(resource, key, drop)

    async def _remove_owner_ref(self, resource: ResourceType, obj: Obj, uid: str) -> None:
        key = storage_key(resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        for _ in range(10):
            cur = await self.backend.get(key)
            if cur is None:
                return
            new = clone(cur)
            refs = [r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            if refs:
                new["metadata"]["ownerReferences"] = refs
            else:
                new["metadata"].pop("ownerReferences", None)
            try:
                await self.backend.update(key, new, expected_revision=_rv(cur))
                return
            except RevisionMismatch:
                continue

    async def _drop_finalizer(self, resource: ResourceType, key: str, finalizer: str) -> None:
        for _ in range(10):
            cur = await self.backend.get(key)
            if cur is None:
                return
            new = clone(cur)
            new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or [] if f != finalizer]
            try:
                await self._write_update(resource, key, new, cur, cur["metadata"]["name"])
                return
            except Conflict:
                continue

    async def _finalize_namespace(self, namespace: str) -> None:
        """Delete everything in a terminating namespace, then the namespace itself."""
        deadline = asyncio.get_running_loop().time() + 120
        while asyncio.get_running_loop().time() < deadline:
            remaining = 0
            for resource in RESOURCES:
                if not resource.namespaced:
                    continue
                for obj in self.backend.list_now(storage_prefix(resource, namespace)):
                    remaining += 1
                    if not obj["metadata"].get("deletionTimestamp"):
                        try:
                            await self.delete(resource, namespace, obj["metadata"]["name"], {"gracePeriodSeconds": 0})
                        except NotFound:
                            pass
            if remaining == 0:
                break
            await asyncio.sleep(0.1)
        key = storage_key(by_plural("namespaces"), "", namespace)
        cur = await self.backend.get(key)
        if cur is not None and cur["metadata"].get("deletionTimestamp"):
            try:
                await self.backend.delete(key, expected_revision=_rv(cur))
            except (RevisionMismatch, KeyNotFound):
                pass

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- bootstrap -----------------------------------------------------------------------

    async def ensure(self, resource: ResourceType, namespace: str, obj: Obj) -> Obj:
        """Create an object unless it exists (used to seed system objects)."""
        name = obj["metadata"]["name"]
        existing = await self.backend.get(storage_key(resource, namespace, name))
        if existing is not None:
            return existing
        return await self.create(resource, namespace, obj)
