"""The proxy's health endpoints (kubeloop.proxy.healthcheck) on loopback: service health
checks open and close with their Services and answer 200/503 by local endpoints; the
proxy's /healthz follows its sync state; a taken port is reported, not fatal."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest

from conftest import free_port
from kubeloop.proxy.healthcheck import HealthServer, ProxyHealth, ServiceHealth


async def get(port: int, path: str = "/") -> tuple[int, dict, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}{path}") as r:
            text = await r.text()
            return r.status, json.loads(text) if r.content_type == "application/json" else {"text": text}, dict(r.headers)


def test_service_and_proxy_health() -> None:
    async def run() -> None:
        state = ProxyHealth(True, None)
        server = HealthServer(lambda: state, lambda: "kubeproxy_sync_proxy_rules_last_timestamp_seconds 1.0\n",
                              host="127.0.0.1", proxy_port=free_port(), metrics_port=free_port())
        await server.start()
        try:
            up, down = free_port(), free_port()
            await server.set_services({up: ServiceHealth("default", "a", 2), down: ServiceHealth("default", "b", 0)})
            status, body, headers = await get(up, "/anything")
            assert status == 200 and body == {"service": {"namespace": "default", "name": "a"},
                                              "localEndpoints": 2, "serviceProxyHealthy": True}
            assert headers["X-Load-Balancing-Endpoint-Weight"] == "2"
            assert (await get(down))[0] == 503
            await server.set_services({up: ServiceHealth("default", "a", 2)})
            with pytest.raises(aiohttp.ClientConnectorError):
                await get(down)
            status, body, _ = await get(server.proxy_port, "/healthz")
            assert status == 200 and set(body) == {"lastUpdated", "currentTime"}
            state = ProxyHealth(False, None, "nft said no")
            status, body, _ = await get(server.proxy_port, "/livez")
            assert status == 503 and body["error"] == "nft said no"
            assert (await get(server.proxy_port, "/other"))[0] == 404
            status, body, _ = await get(server.metrics_port, "/metrics")
            assert status == 200 and body["text"] == "kubeproxy_sync_proxy_rules_last_timestamp_seconds 1.0\n"
            # A port another process holds is reported and retried at the next update.
            with socket.socket() as taken:
                taken.bind(("127.0.0.1", 0))
                taken.listen()
                busy = taken.getsockname()[1]
                await server.set_services({busy: ServiceHealth("default", "c", 1)})
                assert busy in server.failures()
            await server.set_services({busy: ServiceHealth("default", "c", 1)})
            assert server.failures() == {} and (await get(busy))[0] == 200
        finally:
            await server.stop()
    asyncio.run(run())
