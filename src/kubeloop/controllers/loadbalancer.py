"""LoadBalancer: external addresses for `type: LoadBalancer` Services (MetalLB's job).

Each LoadBalancer Service gets one address from a pool on the cluster network (by default
the top of 172.30.0.0/24), written to `status.loadBalancer.ingress[0].ip` so EXTERNAL-IP is
never stuck at `<pending>`. `spec.loadBalancerIP` is honoured when it is free and in the
pool. The address is released when the Service is deleted or changes type. Allocations are
rebuilt from the Services' status at start-up. The data plane (kubeloop.proxy) sends the
address's traffic to live nodes.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kubeloop.api import errors
from kubeloop.api.registry import by_plural
from kubeloop.client.events import EventRecorder

from .base import Controller

Obj = dict[str, Any]


def default_pool(cluster_cidr: str) -> list[str]:
    """The top quarter of the cluster network (nodes take addresses from the bottom)."""
    net = ipaddress.ip_network(cluster_cidr)
    hosts = list(net.hosts())
    return [str(h) for h in hosts[len(hosts) * 3 // 4:]]


def _ingress_ip(svc: Obj) -> str | None:
    for ing in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        if ing.get("ip"):
            return str(ing["ip"])
    return None


class LoadBalancerController(Controller):
    name = "loadbalancer"
    workers = 1  # one allocator: decisions must see each other

    def __init__(self, client: Any, informers: Any, pool: list[str]) -> None:
        super().__init__(client, informers)
        self.pool = pool
        self.services = informers.get("services")
        self.owners: dict[str, str] = {}  # ip -> service key
        self.recorder = EventRecorder(client, "service-controller")

    def setup(self) -> None:
        self.services.add_handler(self._on_service)

    def _on_service(self, key: str, old: Obj | None, new: Obj | None) -> None:
        if new is not None and (new.get("spec") or {}).get("type") == "LoadBalancer":
            ip = _ingress_ip(new)
            if ip and ip in self.pool and self.owners.get(ip, key) == key:
                self.owners[ip] = key  # restore (start-up) or confirm
        self.queue.add(key)

    async def sync(self, key: str) -> None:
        svc = self.services.get(key)
        if svc is None or (svc.get("spec") or {}).get("type") != "LoadBalancer":
            released = False
            for ip, owner in list(self.owners.items()):
                if owner == key:
                    del self.owners[ip]
                    released = True
            if released:  # services still waiting for an address may get this one now
                for other in self.services.list():
                    if (other.get("spec") or {}).get("type") == "LoadBalancer" and not _ingress_ip(other):
                        self.queue.add(f"{other['metadata']['namespace']}/{other['metadata']['name']}")
            if svc is not None and _ingress_ip(svc):
                await self._write(svc, None)
            return
        current = _ingress_ip(svc)
        if current and self.owners.get(current) == key:
            return
        wanted = (svc.get("spec") or {}).get("loadBalancerIP")
        ip: str | None = None
        if wanted:
            if wanted not in self.pool:
                self.recorder.record(svc, "Warning", "AllocationFailed",
                                     f"Failed to allocate IP for \"{key}\": {wanted} is not in the load-balancer pool "
                                     f"{self.pool[0]}-{self.pool[-1]}")
                return
            if self.owners.get(wanted, key) != key:
                self.recorder.record(svc, "Warning", "AllocationFailed",
                                     f"Failed to allocate IP for \"{key}\": {wanted} is already used by "
                                     f"{self.owners[wanted]}")
                return
            ip = wanted
        else:
            ip = next((a for a in self.pool if a not in self.owners), None)
            if ip is None:
                self.recorder.record(svc, "Warning", "AllocationFailed",
                                     f"Failed to allocate IP for \"{key}\": no available IPs in the pool")
                return
        self.owners[ip] = key
        await self._write(svc, ip)
        self.recorder.record(svc, "Normal", "IPAllocated", f"Assigned IP [\"{ip}\"]")

    async def _write(self, svc: Obj, ip: str | None) -> None:
        status = dict(svc.get("status") or {})
        status["loadBalancer"] = {"ingress": [{"ip": ip, "ipMode": "VIP"}]} if ip else {}
        try:
            await self.client.update(by_plural("services"), dict(svc, status=status), subresource="status")
        except errors.Conflict:
            self.queue.add(f"{svc['metadata']['namespace']}/{svc['metadata']['name']}")
