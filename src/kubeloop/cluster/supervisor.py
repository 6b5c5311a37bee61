"""Cluster: starts kubeloop's components in dependency order and stops them cleanly.

Today that is the PKI, the API server and the kubeconfig; node agents, the service proxy,
DNS and ingress join here as they land. Start-up order and failure policy live in this one
place (the design of k3s' executor): a component that fails to start stops everything
started before it, and `stop()` undoes start-up in reverse.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kubeloop.apiserver.server import APIServer, APIServerConfig
from kubeloop.client.rest import Client
from kubeloop.controllers.manager import ControllerManager

from . import kubeconfig, pki

log = logging.getLogger(__name__)

CONTEXT = "kubeloop"


def default_data_dir() -> Path:
    return Path(os.environ.get("KUBELOOP_HOME") or Path.home() / ".kubeloop")


@dataclass
class ClusterConfig:
    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 6443
    service_cidr: str = "10.96.0.0/12"
    node_port_range: tuple[int, int] = (30000, 32767)
    merge_kubeconfig: bool = True
    memory: bool = False  # in-memory storage (nothing survives a restart)
    watch_history: int = 20_000


class Cluster:
    def __init__(self, config: ClusterConfig, *, say: Callable[[str], None] = lambda s: None) -> None:
        self.config = config
        self.say = say
        self.apiserver: APIServer | None = None
        self.controllers: ControllerManager | None = None
        self.client: Client | None = None
        self.kubeconfig_path = config.data_dir / "kubeconfig"
        self.merged_into: Path | None = None

    async def start(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.say(f"certificates in {cfg.data_dir / 'pki'}")
        keys = pki.ensure_pki(
            cfg.data_dir,
            server_ips=["127.0.0.1", _first_service_ip(cfg.service_cidr)] + ([cfg.host] if cfg.host != "127.0.0.1" else []),
            server_names=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                          "kubernetes.default.svc.cluster.local"],
        )
        api_cfg = APIServerConfig(
            host=cfg.host,
            port=cfg.port,
            data_dir=None if cfg.memory else cfg.data_dir,
            service_cidr=cfg.service_cidr,
            node_port_range=cfg.node_port_range,
            ssl_context=pki.server_ssl_context(keys),
            watch_history=cfg.watch_history,
        )
        self.apiserver = APIServer(api_cfg)
        try:
            await self.apiserver.start()
        except BaseException:
            await self.stop()
            raise
        self.say(f"API server listening on {self.apiserver.url}")
        self.client = Client(self.apiserver.url, pki.client_ssl_context(keys, keys.admin_cert, keys.admin_key))
        self.controllers = ControllerManager(self.client)
        try:
            await self.controllers.start()
        except BaseException:
            await self.stop()
            raise
        self.say("controllers running: " + ", ".join(c.name for c in self.controllers.controllers))
        config = kubeconfig.render(self.apiserver.url, keys.ca_pem(), *keys.admin_pem(), name=CONTEXT)
        kubeconfig.write_standalone(self.kubeconfig_path, config)
        if cfg.merge_kubeconfig:
            self.merged_into = kubeconfig.merge_into_user_config(config)
            self.say(f"kubeconfig context {CONTEXT!r} merged into {self.merged_into} and made current")

    async def stop(self) -> None:
        if self.controllers is not None:
            await self.controllers.stop()
            self.controllers = None
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self.merged_into is not None:
            kubeconfig.remove_from_user_config(CONTEXT, self.merged_into)
            self.merged_into = None
        if self.apiserver is not None:
            await self.apiserver.stop()
            self.apiserver = None


def _first_service_ip(cidr: str) -> str:
    import ipaddress

    return str(next(ipaddress.ip_network(cidr).hosts()))
