"""Watch streaming: newline-delimited JSON events over a chunked response.

`resourceVersion` absent or "0": one synthetic ADDED per existing object first (kubectl's
single-object `get -w` and the Python client's watch rely on it), then live events. Any
other value: only events after it (410 Gone if compacted). Selectors are applied to each
event with Kubernetes' transitions: an object that stops matching is sent as DELETED, one
that starts matching as ADDED. The stream ends at `timeoutSeconds`, when the client goes,
or when the watcher fell behind (the client relists).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timezone
from typing import Any

import orjson
from aiohttp import web

from kubeloop.api import printers
from kubeloop.api.selectors import FieldSelector, LabelSelector, parse_field_selector, parse_label_selector
from kubeloop.storage.base import ADDED, DELETED, MODIFIED

from . import media
from .objects import ObjectStore
from .paths import ResourcePath

Obj = dict[str, Any]
BOOKMARK_INTERVAL = 60.0


def _matches(obj: Obj | None, labels: LabelSelector, fields: FieldSelector) -> bool:
    if obj is None:
        return False
    return labels.matches(obj["metadata"].get("labels")) and fields.matches(obj)


async def serve_watch(request: web.Request, store: ObjectStore, rp: ResourcePath) -> web.StreamResponse:
    q = request.query
    labels = parse_label_selector(q.get("labelSelector"))
    fields = parse_field_selector(q.get("fieldSelector"))
    rv_text = q.get("resourceVersion", "")
    bookmarks = q.get("allowWatchBookmarks") == "true"
    timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else 1800.0
    table = media.wants_table(request)
    resource = rp.resource

    initial: list[Obj] = []
    if rv_text in ("", "0"):
        initial, after = await store.list(resource, rp.namespace, labels, fields)
    else:
        try:
            after = int(rv_text)
        except ValueError:
            from kubeloop.api.errors import BadRequest

            raise BadRequest(f"invalid resource version: {rv_text}") from None
    watch = store.watch(resource, rp.namespace, after)  # raises Gone before any byte is sent

    response = web.StreamResponse(status=200, headers={"Content-Type": media.JSON})
    response.enable_chunked_encoding()
    await response.prepare(request)
    first_table = True

    def encode(type_: str, obj: Obj) -> bytes:
        nonlocal first_table
        if table and type_ != "BOOKMARK":
            t = printers.table(resource, [obj], resource_version=obj["metadata"].get("resourceVersion", ""),
                               include_object=q.get("includeObject", "Metadata"), now=datetime.now(timezone.utc))
            if not first_table:
                t["columnDefinitions"] = []
            first_table = False
            obj = t
        return orjson.dumps({"type": type_, "object": obj}) + b"\n"

    last_rv = after
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        for obj in initial:
            await response.write(encode(ADDED, obj))
        iterator = watch.__aiter__()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                event = await asyncio.wait_for(iterator.__anext__(), min(remaining, BOOKMARK_INTERVAL))
            except asyncio.TimeoutError:
                if bookmarks and loop.time() < deadline:
                    mark = {"kind": resource.kind, "apiVersion": resource.api_version,
                            "metadata": {"resourceVersion": str(last_rv)}}
                    await response.write(orjson.dumps({"type": "BOOKMARK", "object": mark}) + b"\n")
                continue
            except StopAsyncIteration:
                break
            last_rv = event.revision
            now_match = event.type != DELETED and _matches(event.object, labels, fields)
            was_match = _matches(event.prev, labels, fields) if event.prev is not None else None
            if event.type == DELETED:
                if _matches(event.object, labels, fields):
                    await response.write(encode(DELETED, event.object))
            elif now_match:
                type_ = ADDED if event.type == ADDED or was_match is False else MODIFIED
                await response.write(encode(type_, event.object))
            elif was_match:
                await response.write(encode(DELETED, event.object))
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away
    finally:
        watch.close()
    return response
