"""The service proxy's HTTP health endpoints on a node, as kube-proxy serves them.

* Service health checks: every LoadBalancer Service with ``externalTrafficPolicy: Local`` has
  a ``healthCheckNodePort``; on that port of every node, any path answers 200 while the node
  has ready endpoints of the service and 503 otherwise, with kube-proxy's JSON body
  (``{"service": {"namespace", "name"}, "localEndpoints": N, "serviceProxyHealthy": true}``)
  and ``X-Load-Balancing-Endpoint-Weight``. A cloud load balancer checks it so that it sends
  traffic only to nodes with endpoints (kubeloop's own load balancer in the host knows that
  from the API, but the port answers as it would in a cloud).
* The proxy's own health, ``:10256/healthz`` (and ``/livez``): 200 while its rules are in
  sync, 503 with the last error while syncs fail. The body carries ``lastUpdated`` and
  ``currentTime`` as kube-proxy's does.
* Its metrics, ``:10249/metrics`` (Prometheus text, rendered by the proxier).

One aiohttp application serves every port; it tells them apart by the local port of the
connection. Ports open and close as Services come and go (``set_services``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from aiohttp import web

log = logging.getLogger(__name__)

PROXY_HEALTH_PORT = 10256
METRICS_PORT = 10249


@dataclass(frozen=True)
class ServiceHealth:
    namespace: str
    name: str
    local_endpoints: int


@dataclass(frozen=True)
class ProxyHealth:
    healthy: bool
    last_updated: datetime | None
    error: str = ""


def _stamp(when: datetime | None) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if when else ""


class HealthServer:
    """Serves the health endpoints on ``host`` (all addresses of this namespace by default)."""

    def __init__(self, proxy_health: Callable[[], ProxyHealth], metrics: Callable[[], str] | None = None,
                 host: str = "0.0.0.0", proxy_port: int = PROXY_HEALTH_PORT, metrics_port: int = METRICS_PORT) -> None:
        self.proxy_health = proxy_health
        self.metrics = metrics
        self.host = host
        self.proxy_port = proxy_port
        self.metrics_port = metrics_port
        self._services: dict[int, ServiceHealth] = {}
        self._sites: dict[int, web.TCPSite] = {}
        self._failed: dict[int, str] = {}  # port -> why it could not be opened
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)

    async def start(self) -> None:
        await self._runner.setup()
        await self._open(self.proxy_port)
        if self.metrics is not None:
            await self._open(self.metrics_port)

    async def stop(self) -> None:
        await self._runner.cleanup()
        self._sites.clear()

    def failures(self) -> dict[int, str]:
        """Ports that could not be opened (e.g. taken by another process), and why."""
        return dict(self._failed)

    async def set_services(self, services: dict[int, ServiceHealth]) -> None:
        """The health check ports wanted now: opens new ones, closes the ones gone."""
        self._services = dict(services)
        own = (self.proxy_port, self.metrics_port)
        for port in list(self._sites):
            if port not in own and port not in services:
                site = self._sites.pop(port)
                await site.stop()
        for port in services:
            if port not in self._sites:
                await self._open(port)
        for port in list(self._failed):
            if port not in services and port not in own:
                del self._failed[port]

    async def _open(self, port: int) -> None:
        site = web.TCPSite(self._runner, self.host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as e:
            if self._failed.get(port) != str(e):
                log.warning("health check port %d: %s", port, e)
            self._failed[port] = str(e)
            return
        self._failed.pop(port, None)
        self._sites[port] = site

    async def _handle(self, request: web.Request) -> web.Response:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        port = sockname[1] if sockname else 0
        if port == self.proxy_port:
            return self._proxy(request)
        if port == self.metrics_port and self.metrics is not None:
            if request.path != "/metrics":
                return web.Response(status=404, text="404 page not found\n")
            return web.Response(text=self.metrics(), content_type="text/plain", charset="utf-8",
                                headers={"X-Content-Type-Options": "nosniff"})
        svc = self._services.get(port)
        if svc is None:  # closing: the Service just went away
            return web.Response(status=404, text="no such service health check\n")
        body = {"service": {"namespace": svc.namespace, "name": svc.name},
                "localEndpoints": svc.local_endpoints, "serviceProxyHealthy": self.proxy_health().healthy}
        return web.Response(status=200 if svc.local_endpoints > 0 else 503, text=json.dumps(body),
                            content_type="application/json",
                            headers={"X-Content-Type-Options": "nosniff",
                                     "X-Load-Balancing-Endpoint-Weight": str(svc.local_endpoints)})

    def _proxy(self, request: web.Request) -> web.Response:
        if request.path not in ("/healthz", "/livez"):
            return web.Response(status=404, text="404 page not found\n")
        health = self.proxy_health()
        body = {"lastUpdated": _stamp(health.last_updated), "currentTime": _stamp(datetime.now(timezone.utc))}
        if health.error:
            body["error"] = health.error
        return web.Response(status=200 if health.healthy else 503, text=json.dumps(body),
                            content_type="application/json", headers={"X-Content-Type-Options": "nosniff"})

