"""Controller: the level-triggered reconcile loop every kubeloop controller is built on.

Informer handlers only enqueue keys (`namespace/name`); workers take a key, read the
current state from the informer caches and reconcile (`sync(key)`). A failing sync is
retried with backoff; NotFound during a sync means the object is gone, which is success.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubeloop.api import errors
from kubeloop.client.factory import InformerFactory
from kubeloop.client.rest import Client
from kubeloop.client.tasks import cancel_and_wait
from kubeloop.client.workqueue import WorkQueue, run_workers

Obj = dict[str, Any]


class Controller:
    name = "controller"
    workers = 2

    def __init__(self, client: Client, informers: InformerFactory) -> None:
        self.client = client
        self.informers = informers
        self.queue = WorkQueue()
        self.log = logging.getLogger(f"kubeloop.controllers.{self.name}")
        self._task: asyncio.Task[None] | None = None

    def setup(self) -> None:
        """Register informer handlers (called before the informers start)."""

    async def sync(self, key: str) -> None:
        raise NotImplementedError

    async def _sync_guarded(self, key: str) -> None:
        try:
            await self.sync(key)
        except errors.NotFound:
            pass

    def _on_error(self, key: str, err: BaseException) -> None:
        if isinstance(err, errors.Conflict):
            self.log.debug("sync %s: conflict, retrying", key)
        else:
            self.log.warning("sync %s failed: %s", key, err)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            run_workers(self.queue, self._sync_guarded, self.workers, self._on_error), name=f"controller-{self.name}"
        )

    async def stop(self) -> None:
        self.queue.shutdown()
        await cancel_and_wait(self._task)


def split_key(key: str) -> tuple[str, str]:
    ns, _, name = key.rpartition("/")
    return ns, name


def owner_ref(obj: Obj) -> Obj:
    """A controller ownerReference pointing at obj."""
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: Obj) -> Obj | None:
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None
