"""Informer: a local cache of one resource kept current by list-then-watch.

It lists, remembers the list's resourceVersion, watches from it, and applies each event to
an in-memory store before telling the handlers. When the watch ends it re-watches from the
last revision seen; on 410 Gone it relists and tells handlers what changed in between
(client-go's reflector). Errors back off exponentially (0.2 s to 30 s). Handlers must be
quick: the usual handler only enqueues a key in a WorkQueue.

Objects in the cache are shared: never change them in place.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from kubeloop.api import errors
from kubeloop.api.registry import ResourceType

from .rest import Client
from .tasks import cancel_and_wait

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Handler = Callable[[str, Obj | None, Obj | None], None]  # (key, old, new); new None on delete


def key_of(obj: Obj) -> str:
    meta = obj["metadata"]
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else meta["name"]


class Informer:
    def __init__(self, client: Client, resource: ResourceType, *, namespace: str | None = None,
                 label_selector: str = "", field_selector: str = "") -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self._cache: dict[str, Obj] = {}
        self._handlers: list[Handler] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rv = ""

    # -- reading the cache ---------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        return self._cache.get(key)

    def list(self, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            return list(self._cache.values())
        return [o for o in self._cache.values() if o["metadata"].get("namespace") == namespace]

    def keys(self) -> list[str]:
        return list(self._cache)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)
        for key, obj in self._cache.items():
            handler(key, None, obj)

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"informer-{self.resource.plural}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def _notify(self, key: str, old: Obj | None, new: Obj | None) -> None:
        for handler in self._handlers:
            try:
                handler(key, old, new)
            except Exception:
                log.exception("informer handler for %s failed", self.resource.plural)

    async def _relist(self) -> None:
        items, rv = await self.client.list(self.resource, self.namespace, label_selector=self.label_selector,
                                           field_selector=self.field_selector)
        fresh = {key_of(o): o for o in items}
        old_cache, self._cache = self._cache, fresh
        for key, obj in fresh.items():
            old = old_cache.get(key)
            if old is None or old["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._notify(key, old, obj)
        for key, old in old_cache.items():
            if key not in fresh:
                self._notify(key, old, None)
        self._rv = rv
        self._synced.set()

    async def _run(self) -> None:
        backoff = 0.2
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                async for type_, obj in self.client.watch(
                    self.resource, self.namespace, resource_version=self._rv,
                    label_selector=self.label_selector, field_selector=self.field_selector,
                ):
                    backoff = 0.2
                    self._rv = obj["metadata"].get("resourceVersion", self._rv)
                    if type_ == "BOOKMARK":
                        continue
                    key = key_of(obj)
                    old = self._cache.get(key)
                    if type_ == "DELETED":
                        self._cache.pop(key, None)
                        self._notify(key, old, None)
                    else:
                        self._cache[key] = obj
                        self._notify(key, old, obj)
            except asyncio.CancelledError:
                raise
            except errors.Gone:
                need_list = True
            except Exception as e:  # network trouble, server restart: back off and retry
                log.debug("informer %s: %s; retrying in %.1fs", self.resource.plural, e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                need_list = not self._rv
