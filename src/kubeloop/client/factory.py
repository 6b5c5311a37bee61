"""InformerFactory: one shared informer per resource for all the controllers of a process.

Controllers ask the factory for the resources they read; the factory starts each informer
once, so a process that runs five controllers still lists and watches pods only once.
"""

from __future__ import annotations

import asyncio

from kubeloop.api.registry import ResourceType, by_plural

from .informer import Informer
from .rest import Client


class InformerFactory:
    def __init__(self, client: Client) -> None:
        self.client = client
        self._informers: dict[str, Informer] = {}

    def get(self, plural: str) -> Informer:
        inf = self._informers.get(plural)
        if inf is None:
            resource: ResourceType = by_plural(plural)
            inf = Informer(self.client, resource)
            self._informers[plural] = inf
        return inf

    def start(self) -> None:
        for inf in self._informers.values():
            inf.start()

    async def wait_synced(self) -> None:
        await asyncio.gather(*(inf.wait_synced() for inf in self._informers.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(inf.stop() for inf in self._informers.values()))
