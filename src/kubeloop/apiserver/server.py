"""APIServer: storage + admission + HTTP application, started and stopped as one unit.

It opens the backend, rebuilds the Service allocator from stored Services, seeds the
objects every cluster has (system namespaces, the `default/kubernetes` Service), serves
HTTPS (or plain HTTP for unit tests) and compacts history periodically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from kubeloop.api.registry import by_plural, storage_key, storage_prefix
from kubeloop.storage.base import Backend
from kubeloop.storage.log import memory_backend
from kubeloop.storage.sqlite import sqlite_backend

from .admission import Admission
from .app import build_app
from .handlers import NodeProxy
from .objects import SYSTEM_NAMESPACES, ObjectStore

log = logging.getLogger(__name__)

COMPACT_INTERVAL = 300.0


@dataclass
class APIServerConfig:
    host: str = "127.0.0.1"
    port: int = 6443
    data_dir: Path | None = None  # None: in-memory storage
    service_cidr: str = "10.96.0.0/12"
    node_port_range: tuple[int, int] = (30000, 32767)
    ssl_context: ssl.SSLContext | None = None
    authenticate: bool = True
    advertise_address: str = ""  # the address pods reach the API at (the `kubernetes` Service's endpoint)
    watch_history: int = 20_000
    extra_hosts: list[str] = field(default_factory=list)  # more addresses to listen on (the node bridge)


class APIServer:
    def __init__(self, config: APIServerConfig, *, node_proxy: NodeProxy | None = None) -> None:
        self.config = config
        self.node_proxy = node_proxy
        self.backend: Backend | None = None
        self.store: ObjectStore | None = None
        self._runner: web.AppRunner | None = None
        self._compactor: asyncio.Task[None] | None = None
        self.port = config.port

    @property
    def url(self) -> str:
        scheme = "https" if self.config.ssl_context else "http"
        return f"{scheme}://{self.config.host}:{self.port}"

    async def start(self) -> None:
        cfg = self.config
        if cfg.data_dir is not None:
            self.backend = sqlite_backend(Path(cfg.data_dir) / "state.db", history=cfg.watch_history)
        else:
            self.backend = memory_backend(history=cfg.watch_history)
        admission = Admission(service_cidr=cfg.service_cidr, node_port_range=cfg.node_port_range)
        services, _ = await self.backend.list(storage_prefix(by_plural("services")))
        admission.restore(services)
        self.store = ObjectStore(self.backend, admission)
        await self._seed()
        address = f"{cfg.host}:{self.port if cfg.port == 0 else cfg.port}"
        app = build_app(self.store, server_address=address, authenticate=cfg.authenticate,
                        node_proxy=self.node_proxy)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.host, cfg.port, ssl_context=cfg.ssl_context, reuse_address=True)
        await site.start()
        server = site._server  # the bound port, when 0 was asked for
        if server is not None and server.sockets:  # type: ignore[union-attr]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        for host in cfg.extra_hosts:
            extra = web.TCPSite(self._runner, host, self.port, ssl_context=cfg.ssl_context, reuse_address=True)
            await extra.start()
        if cfg.advertise_address:
            await self._seed_kubernetes_endpoints(cfg.advertise_address)
        self._compactor = asyncio.get_running_loop().create_task(self._compact_loop())

    async def _seed(self) -> None:
        assert self.store is not None
        namespaces = by_plural("namespaces")
        for name in SYSTEM_NAMESPACES:
            await self.store.ensure(namespaces, "", {"metadata": {"name": name}})
        await self.store.ensure(by_plural("services"), "default", {
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        })

    async def _seed_kubernetes_endpoints(self, address: str) -> None:
        """`default/kubernetes` points at the API server, as the real apiserver maintains it."""
        assert self.store is not None
        endpoints, slices = by_plural("endpoints"), by_plural("endpointslices")
        body = {"metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                "subsets": [{"addresses": [{"ip": address}],
                             "ports": [{"name": "https", "port": self.port, "protocol": "TCP"}]}]}
        slice_body = {"metadata": {"name": "kubernetes", "labels": {
                          "kubernetes.io/service-name": "kubernetes",
                          "endpointslice.kubernetes.io/managed-by": "kubeloop-apiserver"}},
                      "addressType": "IPv4",
                      "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
                      "ports": [{"name": "https", "port": self.port, "protocol": "TCP"}]}
        for resource, obj in ((endpoints, body), (slices, slice_body)):
            current = await self.backend.get(storage_key(resource, "default", "kubernetes"))  # type: ignore[union-attr]
            if current is None:
                await self.store.create(resource, "default", obj)
            else:
                merged = dict(current)
                merged.update({k: v for k, v in obj.items() if k != "metadata"})
                await self.store.update(resource, "default", "kubernetes", merged)

    async def _compact_loop(self) -> None:
        assert self.backend is not None
        while True:
            await asyncio.sleep(COMPACT_INTERVAL)
            target = self.backend.revision - self.config.watch_history
            if target > self.backend.compact_revision:
                await self.backend.compact(target)

    async def stop(self) -> None:
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        if self.backend is not None:
            # Closing the watchers ends every watch stream, so the HTTP shutdown is quick.
            self.backend.close_watchers()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.store is not None:
            await self.store.close()
        if self.backend is not None:
            await self.backend.close()
