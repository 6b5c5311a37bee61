"""The proxy's view of Services and EndpointSlices: small frozen records, built from API objects.

``service_ports(service)`` turns one Service into one ``ServicePortInfo`` per port (nothing
for headless and ExternalName services: they get no proxy rules); ``endpoints_for(port,
slices)`` picks that port's endpoints out of the Service's EndpointSlices. The target port is
the number the slice carries for the port's name (the EndpointSlice controller resolved named
target ports per pod), so the proxy never looks at pods.

``select_endpoints`` applies Kubernetes' endpoint choice (ready endpoints; when none is ready,
the serving-and-terminating ones; local ones for the ``Local`` traffic policies).

Pure data and pure functions: no I/O, no asyncio, nothing about nftables.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Iterable

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
PROTOCOLS = ("TCP", "UDP", "SCTP")
DEFAULT_AFFINITY_TIMEOUT = 10800  # seconds, Kubernetes' default for sessionAffinity ClientIP


@dataclass(frozen=True)
class ServicePortInfo:
    """One port of one Service, as the data plane needs it."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # TCP | UDP | SCTP
    cluster_ip: str  # "" when the service has no cluster IP the proxy can use
    port: int
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    load_balancer_ips: tuple[str, ...] = ()
    affinity_timeout: int = 0  # seconds; 0 = no session affinity
    external_policy_local: bool = False  # externalTrafficPolicy: Local
    internal_policy_local: bool = False  # internalTrafficPolicy: Local
    type: str = "ClusterIP"
    health_check_node_port: int = 0  # the service's, for LoadBalancer with externalTrafficPolicy Local

    @property
    def service_key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def key(self) -> str:
        """Unique per service port: namespace/name:portname/protocol (Kubernetes' ServicePortName)."""
        return f"{self.namespace}/{self.name}:{self.port_name}/{self.protocol}"

    @property
    def display(self) -> str:
        """What comments show: namespace/name:portname (portname omitted when empty)."""
        return f"{self.namespace}/{self.name}" + (f":{self.port_name}" if self.port_name else "")

    @property
    def has_external(self) -> bool:
        return bool(self.node_port or self.external_ips or self.load_balancer_ips)


@dataclass(frozen=True)
class EndpointInfo:
    """One backend address of one service port."""

    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str = ""

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


def _ipv4(value: Any) -> str:
    """The address if it is a usable IPv4 unicast address, else ""."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return ""
    if addr.version != 4 or addr.is_unspecified or addr.is_multicast:
        return ""
    return str(addr)


def _ipv4_list(values: Iterable[Any]) -> tuple[str, ...]:
    seen: list[str] = []
    for v in values:
        ip = _ipv4(v)
        if ip and ip not in seen:
            seen.append(ip)
    return tuple(seen)


def service_ports(service: Obj) -> list[ServicePortInfo]:
    """One ServicePortInfo per port of a Service that the proxy programs (IPv4 only)."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    status = service.get("status") or {}
    svc_type = spec.get("type") or "ClusterIP"
    if svc_type == "ExternalName":
        return []
    cluster_ip = _ipv4(spec.get("clusterIP"))
    if not cluster_ip:  # headless ("None"), not yet allocated, or IPv6: DNS only
        return []
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        affinity = int(cfg.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    external_ips = _ipv4_list(spec.get("externalIPs") or [])
    lb_ips: tuple[str, ...] = ()
    if svc_type == "LoadBalancer":
        lb_ips = _ipv4_list(i.get("ip") for i in ((status.get("loadBalancer") or {}).get("ingress") or [])
                            if isinstance(i, dict))
    ext_local = (spec.get("externalTrafficPolicy") == "Local"
                 and svc_type in ("NodePort", "LoadBalancer"))
    int_local = spec.get("internalTrafficPolicy") == "Local"
    hcnp = spec.get("healthCheckNodePort") if svc_type == "LoadBalancer" and ext_local else 0
    hcnp = hcnp if isinstance(hcnp, int) and 0 < hcnp < 65536 else 0
    out = []
    for p in spec.get("ports") or []:
        protocol = (p.get("protocol") or "TCP").upper()
        port = p.get("port")
        if protocol not in PROTOCOLS or not isinstance(port, int) or not 0 < port < 65536:
            continue
        node_port = p.get("nodePort") if svc_type in ("NodePort", "LoadBalancer") else 0
        out.append(ServicePortInfo(
            namespace=meta.get("namespace") or "default", name=meta.get("name", ""),
            port_name=p.get("name") or "", protocol=protocol, cluster_ip=cluster_ip, port=port,
            node_port=node_port if isinstance(node_port, int) and 0 < node_port < 65536 else 0,
            external_ips=external_ips, load_balancer_ips=lb_ips, affinity_timeout=affinity,
            external_policy_local=ext_local, internal_policy_local=int_local, type=svc_type,
            health_check_node_port=hcnp,
        ))
    return out


def slice_service_key(slice_: Obj) -> str:
    """``namespace/service`` an EndpointSlice belongs to, "" when it carries no service label."""
    meta = slice_.get("metadata") or {}
    svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return f"{meta.get('namespace') or 'default'}/{svc}" if svc else ""


def _condition(conds: Obj, name: str, default: bool) -> bool:
    value = conds.get(name)
    return default if value is None else bool(value)


def endpoints_for(port: ServicePortInfo, slices: Iterable[Obj]) -> tuple[EndpointInfo, ...]:
    """The endpoints of one service port across all the Service's slices, deduplicated by
    ip:port and sorted (stable chain contents). Only IPv4 slices count."""
    found: dict[tuple[str, int], EndpointInfo] = {}
    for sl in slices:
        if (sl.get("addressType") or "IPv4") != "IPv4":
            continue
        number = 0
        for sp in sl.get("ports") or []:
            if (sp.get("name") or "") == port.port_name and (sp.get("protocol") or "TCP").upper() == port.protocol:
                n = sp.get("port")
                number = n if isinstance(n, int) and 0 < n < 65536 else 0
                break
        if not number:
            continue
        for ep in sl.get("endpoints") or []:
            addrs = ep.get("addresses") or []
            ip = _ipv4(addrs[0]) if addrs else ""
            if not ip:
                continue
            conds = ep.get("conditions") or {}
            ready = _condition(conds, "ready", True)
            info = EndpointInfo(
                ip=ip, port=number, ready=ready, serving=_condition(conds, "serving", ready),
                terminating=_condition(conds, "terminating", False), node_name=ep.get("nodeName") or "",
            )
            prev = found.get((ip, number))
            # The same endpoint in two slices (during a controller's move): the readier copy wins.
            if prev is None or (info.ready, info.serving) > (prev.ready, prev.serving):
                found[(ip, number)] = info
    return tuple(found[k] for k in sorted(found, key=lambda k: (ipaddress.IPv4Address(k[0]), k[1])))


def select_endpoints(endpoints: Iterable[EndpointInfo]) -> tuple[EndpointInfo, ...]:
    """Kubernetes' choice: the ready endpoints; when none is ready, those still serving while
    terminating (so a rolling update's last pods keep answering)."""
    eps = tuple(endpoints)
    ready = tuple(e for e in eps if e.ready)
    if ready:
        return ready
    return tuple(e for e in eps if e.serving and e.terminating)


def local_endpoints(endpoints: Iterable[EndpointInfo], node_name: str) -> tuple[EndpointInfo, ...]:
    """The usable endpoints on node ``node_name`` (same fallback rule, applied to local ones)."""
    if not node_name:
        return ()
    return select_endpoints(e for e in endpoints if e.node_name == node_name)


def trigger_time(slice_: Obj) -> str:
    """The slice's last-change-trigger-time annotation (RFC 3339), "" when absent."""
    return ((slice_.get("metadata") or {}).get("annotations") or {}).get(TRIGGER_TIME_ANNOTATION, "")
