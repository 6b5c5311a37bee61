"""REST verbs on resources: get, list, create, update, patch, delete, deletecollection,
and the status and scale subresources.

Each handler parses the request (query parameters, body), calls the ObjectStore and shapes
the answer (object, List or Table). Watch streaming lives in watch.py; node-facing
subresources (log, exec, portforward) are dispatched to `node_proxy` when one is set.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

import orjson
from aiohttp import web

from kubeloop.api import patch as patches
from kubeloop.api import printers, schemas
from kubeloop.api.errors import APIError, BadRequest, Conflict, Gone, MethodNotSupported, NotFound
from kubeloop.api.registry import ResourceType, storage_key
from kubeloop.api.selectors import parse_field_selector, parse_label_selector

from . import media
from .objects import ObjectStore, clone
from .paths import ResourcePath

Obj = dict[str, Any]
NodeProxy = Callable[[web.Request, ResourcePath], Awaitable[web.StreamResponse]]


def _dry_run(request: web.Request) -> bool:
    return "All" in request.query.getall("dryRun", [])


def _check_fields(request: web.Request, resource: ResourceType, body: Obj) -> dict[str, str]:
    """Server-side field validation: Strict refuses unknown fields, Warn reports them."""
    mode = request.query.get("fieldValidation", "Warn")
    if mode == "Ignore":
        return {}
    unknown = schemas.unknown_fields(resource.api_version, resource.kind, body)
    if not unknown:
        return {}
    if mode == "Strict":
        raise BadRequest(schemas.strict_decoding_message(resource.api_version, resource.kind, unknown))
    return {"Warning": ", ".join(f'299 - "unknown field \\"{f}\\""' for f in unknown)}


def _check_kind(resource: ResourceType, body: Obj) -> None:
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind and kind != resource.kind:
        raise BadRequest(f"the object provided is unrecognized (must be of type {resource.kind}): "
                         f"couldn't find type {kind} for {api_version}")
    if api_version and api_version != resource.api_version:
        raise BadRequest(f"the API version in the data ({api_version}) does not match the expected API version "
                         f"({resource.api_version})")


def _one(request: web.Request, resource: ResourceType, obj: Obj, status: int = 200,
         headers: dict[str, str] | None = None) -> web.Response:
    if media.wants_table(request):
        table = printers.table(resource, [obj], resource_version=obj["metadata"].get("resourceVersion", ""),
                               include_object=request.query.get("includeObject", "Metadata"),
                               now=datetime.now(timezone.utc))
        return media.json_response(table, status, headers)
    return media.json_response(obj, status, headers)


class ResourceHandlers:
    def __init__(self, store: ObjectStore, node_proxy: NodeProxy | None = None) -> None:
        self.store = store
        self.node_proxy = node_proxy

    # -- collection ----------------------------------------------------------------------

    async def list(self, request: web.Request, rp: ResourcePath) -> web.StreamResponse:
        q = request.query
        labels = parse_label_selector(q.get("labelSelector"))
        fields = parse_field_selector(q.get("fieldSelector"))
        items, rev = await self.store.list(rp.resource, rp.namespace, labels, fields)
        meta: Obj = {"resourceVersion": str(rev)}
        limit = int(q.get("limit") or 0)
        cont = q.get("continue")
        if cont:
            start_key, rev = _decode_continue(cont, self.store.backend.compact_revision)
            meta["resourceVersion"] = str(rev)
            items = [o for o in items if _key_of(rp.resource, o) > start_key]
        if limit and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            meta["continue"] = _encode_continue(_key_of(rp.resource, items[-1]), rev)
            meta["remainingItemCount"] = remaining
        if media.wants_table(request):
            table = printers.table(rp.resource, items, resource_version=meta["resourceVersion"],
                                   include_object=q.get("includeObject", "Metadata"), now=datetime.now(timezone.utc))
            table["metadata"] = {**table["metadata"], **{k: v for k, v in meta.items() if k != "resourceVersion"}}
            return media.json_response(table)
        body = {"kind": rp.resource.list_kind, "apiVersion": rp.resource.api_version, "metadata": meta, "items": items}
        return web.Response(body=orjson.dumps(body), content_type=media.JSON)

    async def create(self, request: web.Request, rp: ResourcePath) -> web.StreamResponse:
        body = await media.read_object(request)
        _check_kind(rp.resource, body)
        headers = _check_fields(request, rp.resource, body)
        obj = await self.store.create(rp.resource, rp.namespace or "", body, dry_run=_dry_run(request))
        return _one(request, rp.resource, obj, 201, headers)

    async def delete_collection(self, request: web.Request, rp: ResourcePath) -> web.StreamResponse:
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"))
        options = await _delete_options(request)
        items, rev = await self.store.list(rp.resource, rp.namespace, labels, fields)
        deleted = []
        for obj in items:
            meta = obj["metadata"]
            try:
                gone, _ = await self.store.delete(rp.resource, meta.get("namespace", ""), meta["name"], options,
                                                  dry_run=_dry_run(request))
                deleted.append(gone)
            except NotFound:
                pass
        body = {"kind": rp.resource.list_kind, "apiVersion": rp.resource.api_version,
                "metadata": {"resourceVersion": str(self.store.backend.revision)}, "items": deleted}
        return media.json_response(body)

    # -- item ----------------------------------------------------------------------------

    async def get(self, request: web.Request, rp: ResourcePath) -> web.StreamResponse:
        obj = await self.store.get(rp.resource, rp.namespace or "", rp.name or "")
        return _one(request, rp.resource, obj)

    async def update(self, request: web.Request, rp: ResourcePath) -> web.StreamResponse:
        body = await media.read_object(request)
        _check_kind(rp.resource, body)
        headers = _check_fields(request, rp.resource, body)
        obj = await self.store.update(rp.resource, rp.namespace or "", rp.name or "", body,
                                      subresource=rp.subresource, dry_run=_dry_run(request))
        return _one(request, rp.resource, obj, 200, headers)

    async def patch(self, request: web.Request, rp: ResourcePath) -> web.StreamResponse:
        ctype = media.content_type(request)
        if ctype not in media.PATCH_TYPES:
            from kubeloop.api.errors import UnsupportedMediaType

            raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types "
                                       f"include: {', '.join(media.PATCH_TYPES)}")
        raw = await request.read()
        body = media.parse_bytes(raw, ctype)
        resource, ns, name = rp.resource, rp.namespace or "", rp.name or ""
        headers: dict[str, str] = {}
        if ctype == media.APPLY_PATCH:
            if not isinstance(body, dict):
                raise BadRequest("the body of an apply patch must be an object")
            _check_kind(resource, body)
            headers = _check_fields(request, resource, body)
        for _ in range(10):
            try:
                live = await self.store.get(resource, ns, name)
            except NotFound:
                if ctype == media.APPLY_PATCH and not rp.subresource:
                    obj = await self.store.create(resource, ns, body, dry_run=_dry_run(request))
                    return _one(request, resource, obj, 201, headers)
                raise
            patched = _apply_patch(ctype, clone(live), body, resource)
            if ctype != media.APPLY_PATCH and ctype != media.JSON_PATCH:
                headers = _check_fields(request, resource, patched)
            wanted = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
            if not wanted:
                patched.setdefault("metadata", {})["resourceVersion"] = live["metadata"]["resourceVersion"]
            try:
                obj = await self.store.update(resource, ns, name, patched, subresource=rp.subresource,
                                              dry_run=_dry_run(request))
                return _one(request, resource, obj, 200, headers)
            except Conflict:
                if wanted:
                    raise
                continue  # the object changed under us: re-read and re-apply the patch
        raise Conflict.modified(resource.plural, name, resource.group)

    async def delete(self, request: web.Request, rp: ResourcePath) -> web.StreamResponse:
        options = await _delete_options(request)
        obj, gone = await self.store.delete(rp.resource, rp.namespace or "", rp.name or "", options,
                                            dry_run=_dry_run(request))
        # The deleted object, as Kubernetes returns it (clients typed for V1Status accept it too);
        # 202 when deletion waits on finalizers, as for a Foreground or Orphan cascade.
        pending = not gone and rp.resource.kind != "Pod"
        return media.json_response(obj, 202 if pending else 200)

    # -- scale subresource ---------------------------------------------------------------

    async def scale(self, request: web.Request, rp: ResourcePath) -> web.StreamResponse:
        resource, ns, name = rp.resource, rp.namespace or "", rp.name or ""
        for _ in range(10):
            live = await self.store.get(resource, ns, name)
            current = _scale_of(live)
            if request.method == "GET":
                return media.json_response(current)
            if request.method == "PUT":
                wanted = await media.read_object(request)
            elif request.method == "PATCH":
                ctype = media.content_type(request)
                wanted = _apply_patch(ctype, clone(current), media.parse_bytes(await request.read(), ctype), resource)
            else:
                raise MethodNotSupported(f"{request.method} is not supported on {resource.plural}/scale")
            rv = (wanted.get("metadata") or {}).get("resourceVersion")
            replicas = (wanted.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or replicas < 0:
                from kubeloop.api.errors import Invalid, invalid

                raise Invalid("Scale", name, [invalid("spec.replicas", replicas,
                                                      "must be greater than or equal to 0")], "autoscaling")
            updated = clone(live)
            updated.setdefault("spec", {})["replicas"] = replicas
            updated["metadata"]["resourceVersion"] = rv or live["metadata"]["resourceVersion"]
            try:
                obj = await self.store.update(resource, ns, name, updated, dry_run=_dry_run(request))
                return media.json_response(_scale_of(obj))
            except Conflict:
                if rv:
                    raise
        raise Conflict.modified(resource.plural, name, resource.group)

    # -- dispatch ------------------------------------------------------------------------

    async def dispatch(self, request: web.Request, rp: ResourcePath) -> web.StreamResponse:
        m = request.method
        if rp.is_collection:
            if m == "GET":
                if request.query.get("watch") in ("true", "1"):
                    from .watch import serve_watch

                    return await serve_watch(request, self.store, rp)
                return await self.list(request, rp)
            if m == "POST":
                return await self.create(request, rp)
            if m == "DELETE":
                return await self.delete_collection(request, rp)
            raise MethodNotSupported(f"{m} is not supported on a collection of {rp.resource.plural}")
        sub = rp.subresource
        if sub == "scale" and rp.resource.has_subresource("scale"):
            return await self.scale(request, rp)
        if sub == "binding" and rp.resource.kind == "Pod" and m == "POST":
            body = await media.read_object(request)
            await self.store.bind(rp.namespace or "", rp.name or "", body)
            return media.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                        "code": 201}, 201)
        if sub in ("log", "exec", "attach", "portforward") and rp.resource.kind == "Pod":
            if self.node_proxy is None:
                await self.store.get(rp.resource, rp.namespace or "", rp.name or "")  # NotFound first
                raise APIError(f"pods/{sub} is not available: no node agents run in this cluster")
            return await self.node_proxy(request, rp)  # it reads the pod (NotFound too) and its node
        if sub and not (sub == "status" and rp.resource.has_subresource("status")):
            if not (sub == "finalize" and rp.resource.kind == "Namespace"):
                raise NotFound("the server could not find the requested resource")
        if m == "GET":
            return await self.get(request, rp)
        if m == "PUT":
            return await self.update(request, rp)
        if m == "PATCH":
            return await self.patch(request, rp)
        if m == "DELETE" and not sub:
            return await self.delete(request, rp)
        raise MethodNotSupported(f"{m} is not supported on {rp.resource.plural}{'/' + sub if sub else ''}")


def _apply_patch(ctype: str, target: Obj, body: Any, resource: ResourceType) -> Obj:
    if ctype == media.JSON_PATCH:
        if not isinstance(body, list):
            raise BadRequest("json patch must be a list of operations")
        return patches.json_patch(target, body)
    if not isinstance(body, dict):
        raise BadRequest("the patch must be a JSON object")
    if ctype == media.MERGE_PATCH:
        return patches.merge_patch(target, body)
    if ctype == media.STRATEGIC_PATCH:
        return patches.strategic_merge_patch(target, body, resource.api_version, resource.kind)
    return patches.apply_patch(target, body, resource.api_version, resource.kind)


def _scale_of(obj: Obj) -> Obj:
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector") or {}
    if "matchLabels" in selector or "matchExpressions" in selector:
        from kubeloop.api.selectors import selector_from_object

        text = str(selector_from_object(selector))
    else:
        text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": status.get("replicas", 0), "selector": text},
    }


async def _delete_options(request: web.Request) -> Obj:
    options: Obj = {}
    raw = await request.read()
    if raw.strip():
        body = media.parse_bytes(raw, media.content_type(request))
        if isinstance(body, dict):
            options.update(body)
    q = request.query
    if "gracePeriodSeconds" in q:
        options["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
    if "propagationPolicy" in q:
        options["propagationPolicy"] = q["propagationPolicy"]
    if q.get("orphanDependents") in ("true", "false"):
        options["orphanDependents"] = q["orphanDependents"] == "true"
    return options


def _key_of(resource: ResourceType, obj: Obj) -> str:
    return storage_key(resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def _encode_continue(key: str, rev: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"v": "meta.k8s.io/v1", "rv": rev, "start": key})).decode()


def _decode_continue(token: str, compacted: int) -> tuple[str, int]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        key, rev = str(data["start"]), int(data["rv"])
    except Exception:
        raise BadRequest("continue key is not valid: incorrect encoded start resourceVersion") from None
    if rev < compacted:
        raise Gone("The provided continue parameter is too old to display a consistent list result. "
                   "You can start a new list without the continue parameter.")
    return key, rev
