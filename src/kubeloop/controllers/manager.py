"""ControllerManager: runs kubeloop's controllers over one API client and shared informers."""

from __future__ import annotations

import asyncio
from typing import Callable

from kubeloop.client.factory import InformerFactory
from kubeloop.client.rest import Client

from .base import Controller

ControllerFactory = Callable[[Client, InformerFactory], Controller]


def default_controllers(node_grace: float = 40.0, lb_pool: list[str] | None = None) -> list[ControllerFactory]:
    from .deployment import DeploymentController
    from .endpoints import EndpointsController
    from .loadbalancer import LoadBalancerController, default_pool
    from .nodelifecycle import NodeLifecycle
    from .replication import ReplicationManager
    from .scheduler import Scheduler
    from .taintevict import TaintEviction

    return [
        Scheduler,
        EndpointsController,
        lambda c, i: LoadBalancerController(c, i, lb_pool or default_pool("172.30.0.0/24")),
        lambda c, i: NodeLifecycle(c, i, node_grace),
        TaintEviction,
        lambda c, i: ReplicationManager(c, i, "ReplicationController"),
        lambda c, i: ReplicationManager(c, i, "ReplicaSet"),
        DeploymentController,
    ]


class ControllerManager:
    def __init__(self, client: Client, factories: list[ControllerFactory] | None = None) -> None:
        self.client = client
        self.informers = InformerFactory(client)
        self.controllers = [f(client, self.informers) for f in (factories or default_controllers())]

    async def start(self, *, wait: bool = True) -> None:
        for c in self.controllers:
            c.setup()
        self.informers.start()
        if wait:
            await asyncio.wait_for(self.informers.wait_synced(), 30)
        for c in self.controllers:
            c.start()

    async def stop(self) -> None:
        for c in self.controllers:
            await c.stop()
        await self.informers.stop()
