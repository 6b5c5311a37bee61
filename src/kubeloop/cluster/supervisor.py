"""Cluster: starts kubeloop's components in dependency order and stops them cleanly.

The node network, PKI, API server, controllers, the host's service proxy, DNS, ingress, the
control socket, the nodes and the kubeconfig. Start-up order and failure policy live in this
one place (the design of k3s' executor): each component registers its undo on an
AsyncExitStack as it starts, so a component that fails to start stops everything started
before it, and `stop()` undoes start-up in reverse -- every step, even when an earlier one
fails, so that nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from kubeloop.api import errors
from kubeloop.api.registry import by_plural
from kubeloop.apiserver.nodeproxy import make_node_proxy
from kubeloop.node import network

from kubeloop.apiserver.server import APIServer, APIServerConfig
from kubeloop.client.rest import Client
from kubeloop.controllers.loadbalancer import default_pool
from kubeloop.controllers.manager import ControllerManager, default_controllers

from . import kubeconfig, pki
from .control import ControlServer
from .nodes import NodeSet

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
    nodes: int = 2
    cluster_cidr: str = "172.30.0.0/24"  # the nodes' network (a bridge in the host namespace)
    pod_cidr: str = "10.244.0.0/16"
    cluster_domain: str = "cluster.local"
    dns_ip: str = "10.96.0.10"
    network_prefix: str = "kl"
    dns_upstreams: list[str] = field(default_factory=list)  # empty: the host's /etc/resolv.conf
    node_monitor_grace: float = 40.0  # seconds without a heartbeat before a node is NotReady


class Cluster:
    def __init__(self, config: ClusterConfig, *, say: Callable[[str], None] = lambda s: None) -> None:
        self.config = config
        self.say = say
        self.apiserver: APIServer | None = None
        self.controllers: ControllerManager | None = None
        self.client: Client | None = None
        self.kubeconfig_path = config.data_dir / "kubeconfig"
        self.merged_into: Path | None = None
        self.netcfg = network.NetworkConfig(cluster_cidr=config.cluster_cidr, pod_cidr=config.pod_cidr,
                                            bridge=f"{config.network_prefix}0", prefix=config.network_prefix)
        self.nodes: NodeSet | None = None
        self.control: ControlServer | None = None
        self.host_proxy: Any = None
        self.dns: Any = None
        self.ingress: Any = None
        self._network_up = False
        self._stack = contextlib.AsyncExitStack()

    async def start(self) -> None:
        """Start everything; on any failure, undo what was started and re-raise."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if cfg.nodes and os.geteuid() != 0:
            raise PermissionError("kubeloop needs root to create nodes and pods (Linux namespaces); "
                                  "run it as root, or with --nodes 0 for the control plane alone")
        stack = self._stack
        if cfg.nodes:
            # Whatever a crashed run left behind goes first.
            await network.cleanup_leftovers(self.netcfg)
            stack.push_async_callback(self._stop_network)
            await network.ensure_bridge(self.netcfg)
            self._network_up = True
            await network.guard_routes(self.netcfg, [cfg.service_cidr])
            self.say(f"cluster network {cfg.cluster_cidr} on bridge {self.netcfg.bridge}")
        self.say(f"certificates in {cfg.data_dir / 'pki'}")
        bridge_ip = [self.netcfg.host_address] if cfg.nodes else []
        keys = pki.ensure_pki(
            cfg.data_dir,
            server_ips=["127.0.0.1", _first_service_ip(cfg.service_cidr), *bridge_ip]
            + ([cfg.host] if cfg.host != "127.0.0.1" else []),
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
            extra_hosts=bridge_ip,
            advertise_address=bridge_ip[0] if bridge_ip else "",
        )
        node_ctx = pki.client_ssl_context(keys, keys.admin_cert, keys.admin_key)
        self.apiserver = APIServer(api_cfg, node_proxy=make_node_proxy(self._resolve_node(node_ctx)))
        stack.push_async_callback(self._release, "apiserver")
        await self.apiserver.start()
        self.say(f"API server listening on {self.apiserver.url}")
        self.client = Client(self.apiserver.url, pki.client_ssl_context(keys, keys.admin_cert, keys.admin_key))
        stack.push_async_callback(self._release, "client", "close")
        self.controllers = ControllerManager(self.client, default_controllers(
            cfg.node_monitor_grace, default_pool(cfg.cluster_cidr)))
        stack.push_async_callback(self._release, "controllers")
        await self.controllers.start()
        self.say("controllers running: " + ", ".join(c.name for c in self.controllers.controllers))
        if cfg.nodes:
            # The host namespace gets the same service rules, so the user's shell reaches cluster
            # IPs, node ports and load-balancer addresses (the latter only through live nodes).
            from kubeloop.proxy.proxier import Proxier

            self.host_proxy = Proxier(self.client, host=True, cluster_cidr_for_masquerade=cfg.pod_cidr,
                                      informers={"services": self.controllers.informers.get("services"),
                                                 "endpointslices": self.controllers.informers.get("endpointslices"),
                                                 "nodes": self.controllers.informers.get("nodes")})
            stack.push_async_callback(self._release, "host_proxy")
            await self.host_proxy.start()
            self.say("service proxy programming the host's nftables table 'kubeloop'")
            await self._start_dns()
            await self._start_ingress()
        self.control = ControlServer(cfg.data_dir / "control.sock", self._control)
        stack.push_async_callback(self._release, "control")
        await self.control.start()
        if cfg.nodes:
            self.nodes = NodeSet(netcfg=self.netcfg, keys=keys, data_dir=cfg.data_dir, api_port=self.apiserver.port,
                                 cluster_domain=cfg.cluster_domain, dns_ip=cfg.dns_ip,
                                 heartbeat=min(10.0, cfg.node_monitor_grace / 4), say=self.say)
            stack.push_async_callback(self._release, "nodes", "stop_all")
            await asyncio.gather(*(self.nodes.add(f"node-{i + 1}") for i in range(cfg.nodes)))
        config = kubeconfig.render(self.apiserver.url, keys.ca_pem(), *keys.admin_pem(), name=CONTEXT)
        kubeconfig.write_standalone(self.kubeconfig_path, config)
        if cfg.merge_kubeconfig:
            self.merged_into = kubeconfig.merge_into_user_config(config)
            stack.callback(self._unmerge_kubeconfig)
            self.say(f"kubeconfig context {CONTEXT!r} merged into {self.merged_into} and made current")

    def _resolve_node(self, ctx: ssl.SSLContext) -> Callable[[str], Awaitable[tuple[str, ssl.SSLContext | None]]]:
        async def resolve(node_name: str) -> tuple[str, ssl.SSLContext | None]:
            assert self.apiserver is not None and self.apiserver.store is not None
            node = await self.apiserver.store.get(by_plural("nodes"), "", node_name)
            address = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
            port = node["status"].get("daemonEndpoints", {}).get("kubeletEndpoint", {}).get("Port", 10250)
            return f"https://{address}:{port}", ctx

        return resolve

    async def _start_dns(self) -> None:
        """The cluster DNS server on the host bridge, behind `kube-system/kube-dns` (10.96.0.10)."""
        from kubeloop.dns.service import ClusterDNS

        cfg = self.config
        address = self.netcfg.host_address
        self.dns = ClusterDNS(self.client, listen=[(address, 53)], cluster_domain=cfg.cluster_domain,
                              upstreams=cfg.dns_upstreams or None)
        self._stack.push_async_callback(self._release, "dns")
        await self.dns.start()
        assert self.client is not None
        services, endpoints = by_plural("services"), by_plural("endpoints")
        ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
        svc = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "kube-dns", "namespace": "kube-system",
                            "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
               "spec": {"clusterIP": cfg.dns_ip, "ports": [dict(p, targetPort=53) for p in ports]}}
        ep = {"apiVersion": "v1", "kind": "Endpoints",
              "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
              "subsets": [{"addresses": [{"ip": address}], "ports": ports}]}
        # Look before creating: after a restart kube-dns exists, and creating it again fails
        # on its cluster IP ("already allocated"), as in Kubernetes, before any AlreadyExists.
        for resource, body in ((services, svc), (endpoints, ep)):
            try:
                live = await self.client.get(resource, "kube-system", "kube-dns")
            except errors.NotFound:
                await self.client.create(resource, "kube-system", body)
                continue
            if resource is endpoints and live.get("subsets") != ep["subsets"]:
                live["subsets"] = ep["subsets"]
                await self.client.update(resource, live)
        await self.dns.wait_ready(10)
        self.say(f"cluster DNS at {cfg.dns_ip} (served on {address}:53)")

    async def _start_ingress(self) -> None:
        """The ingress controller and its nginx on the host bridge (:80/:443), published as the
        LoadBalancer Service kube-system/ingress-nginx-controller. No nginx: run without ingress."""
        from kubeloop.ingress import IngressController
        from kubeloop.ingress.nginx import NginxError

        address = self.netcfg.host_address
        controller = IngressController(self.client, state_dir=self.config.data_dir / "ingress", listen_host=address,
                                       http_port=80, https_port=443, advertise_address=address)
        try:
            await controller.start()
        except NginxError as e:
            self.say(f"running without ingress: {e}")
            return
        self.ingress = controller
        self._stack.push_async_callback(self._release, "ingress")
        self.say(f"ingress controller (nginx) serving {address}:80 and :443, class 'kubeloop' (default)")

    async def _control(self, request: dict[str, object]) -> dict[str, object]:
        op, name = request.get("op"), str(request.get("name", ""))
        if op in ("node-stop", "node-start"):
            if self.nodes is None or name not in self.nodes.nodes:
                known = ", ".join(self.nodes.names()) if self.nodes else "none"
                return {"ok": False, "error": f'no node "{name}" (nodes: {known})'}
            if op == "node-stop":
                await self.nodes.stop_node(name)
                self.say(f"node {name} stopped")
            else:
                await self.nodes.start_node(name)
            return {"ok": True}
        if op == "status":
            nodes = {}
            if self.nodes is not None:
                for n, node in self.nodes.nodes.items():
                    running = node.process is not None and node.process.returncode is None
                    nodes[n] = {"address": node.net.address if node.net else "", "running": running,
                                "podCIDR": node.net.pod_cidr if node.net else ""}
            return {"ok": True, "api": self.apiserver.url if self.apiserver else "", "nodes": nodes,
                    "network": self.config.cluster_cidr if self._network_up else "", "dns": self.config.dns_ip,
                    "serviceCIDR": self.config.service_cidr, "podCIDR": self.config.pod_cidr}
        return {"ok": False, "error": f"unknown operation {op!r}"}

    async def stop(self) -> None:
        """Undo start-up in reverse; every step runs even if one before it fails (the last
        failure is raised at the end, earlier ones chained to it)."""
        stack, self._stack = self._stack, contextlib.AsyncExitStack()
        await stack.aclose()

    async def _release(self, attr: str, method: str = "stop") -> None:
        """Stop (or close) a component and forget it, so `status` and the control socket see
        only what is left."""
        component = getattr(self, attr)
        if component is not None:
            await getattr(component, method)()
            setattr(self, attr, None)

    def _unmerge_kubeconfig(self) -> None:
        if self.merged_into is not None:
            kubeconfig.remove_from_user_config(CONTEXT, self.merged_into)
            self.merged_into = None

    async def _stop_network(self) -> None:
        await network.remove_guard_routes(self.netcfg, [self.config.service_cidr])
        # Kills whatever is still inside kubeloop's namespaces, then removes them all.
        await network.cleanup_leftovers(self.netcfg)
        self._network_up = False


def _first_service_ip(cidr: str) -> str:
    import ipaddress

    return str(next(ipaddress.ip_network(cidr).hosts()))
