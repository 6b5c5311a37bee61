"""EventRecorder: Kubernetes Events (what `kubectl describe` shows under "Events:").

Repeated identical events (same object, reason and message) are folded into one Event
whose `count` and `lastTimestamp` grow, as client-go's event correlator does. Recording is
fire-and-forget from the caller's view but every task is tracked, and a failure to record
is logged, never raised: events are diagnostics, not state.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from kubeloop.api import times
from kubeloop.api import errors
from kubeloop.api.registry import by_plural

from .rest import Client

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class EventRecorder:
    def __init__(self, client: Client, component: str, host: str = "") -> None:
        self.client = client
        self.source = {"component": component, **({"host": host} if host else {})}
        self._seen: dict[tuple[str, str, str, str], Obj] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: asyncio.Task[None] | None = None

    def record(self, obj: Obj, type_: str, reason: str, message: str, field_path: str = "") -> None:
        """Queue an event; events are written one after another, in the order recorded."""
        previous = self._last
        task = asyncio.get_running_loop().create_task(self._after(previous, obj, type_, reason, message, field_path))
        self._last = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after(self, previous: "asyncio.Task[None] | None", *args: Any) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        await self._record(*args)

    async def _record(self, obj: Obj, type_: str, reason: str, message: str, field_path: str) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        involved = {"kind": obj.get("kind", ""), "namespace": meta.get("namespace", ""), "name": meta["name"],
                    "uid": meta.get("uid", ""), "apiVersion": obj.get("apiVersion", ""),
                    "resourceVersion": meta.get("resourceVersion", "")}
        if field_path:
            involved["fieldPath"] = field_path
        key = (involved["uid"], reason, message, field_path)
        events = by_plural("events")
        now = times.now()
        try:
            previous = self._seen.get(key)
            if previous is not None:
                body = dict(previous, count=previous.get("count", 1) + 1, lastTimestamp=now)
                try:
                    self._seen[key] = await self.client.update(events, body)
                    return
                except (errors.NotFound, errors.Conflict):
                    pass
            body = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": ns},
                "involvedObject": involved, "reason": reason, "message": message, "type": type_,
                "source": self.source, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                "reportingComponent": self.source["component"], "reportingInstance": self.source.get("host", ""),
            }
            self._seen[key] = await self.client.create(events, ns, body)
            if len(self._seen) > 4096:
                self._seen.pop(next(iter(self._seen)))
        except Exception as e:
            log.debug("could not record event %s for %s: %s", reason, meta.get("name"), e)

    async def flush(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
