"""Unit tests of kubeloop.proxy.proxier.Proxier against a real in-process API server and a
fake nft (records scripts, can fail on demand): first sync replaces the table, changes are
applied incrementally and coalesced, failures are retried as full syncs (then as a table
replacement) and reported as Events, latency is recorded, host mode follows node readiness,
stop deletes the table. No root needed.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import pytest

from kubeloop.api.registry import by_plural
from kubeloop.apiserver.server import APIServer, APIServerConfig
from kubeloop.client.rest import Client
from kubeloop.proxy.model import service_ports
from kubeloop.proxy.nft import NftError
from kubeloop.proxy.proxier import Proxier
from kubeloop.proxy.rules import chain_hash

SERVICES = by_plural("services")
SLICES = by_plural("endpointslices")
NODES = by_plural("nodes")
EVENTS = by_plural("events")


class FakeNft:
    def __init__(self) -> None:
        self.scripts: list[str] = []
        self.fail = 0
        self.deleted = 0
        self.applied = asyncio.Event()

    async def apply(self, script: str) -> None:
        if not script.strip():
            return
        if self.fail:
            self.fail -= 1
            raise NftError("nft -f - failed (1): Error: injected failure")
        self.scripts.append(script)
        self.applied.set()

    async def delete_table(self) -> None:
        self.deleted += 1


@pytest.fixture
async def api() -> AsyncIterator[Client]:
    server = APIServer(APIServerConfig(port=0, authenticate=False))
    await server.start()
    client = Client(server.url)
    try:
        yield client
    finally:
        await client.close()
        await server.stop()


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec}}


def eps_slice(svc: str, ips: list[str], node: str = "a", name: str = "") -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name or f"{svc}-1", "labels": {"kubernetes.io/service-name": svc}},
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": node} for ip in ips]}


async def set_endpoints(client: Client, svc: str, ips: list[str], node: str = "a") -> None:
    current = await client.get(SLICES, "default", f"{svc}-1")
    current["endpoints"] = eps_slice(svc, ips, node)["endpoints"]
    await client.update(SLICES, current)


async def until(cond: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


async def test_first_sync_incremental_updates_and_stop(api: Client) -> None:
    svc = await api.create(SERVICES, "default", service("kubia"))
    await api.create(SLICES, "default", eps_slice("kubia", ["10.244.1.5", "10.244.2.7"]))
    nft = FakeNft()
    proxier = Proxier(api, node_name="a", node_ips=["172.30.0.11"], netns="ignored",
                      cluster_cidr_for_masquerade="10.244.0.0/16", nft=nft)  # type: ignore[arg-type]
    await proxier.start()
    h = chain_hash(service_ports(svc)[0])
    try:
        first = nft.scripts[0]
        assert first.startswith('add table ip kubeloop { comment "kubeloop service proxy"; }\ndelete table ip kubeloop\n')
        assert f"svc-{h}" in first and ": 10.244.2.7 . 8080" in first

        await set_endpoints(api, "kubia", ["10.244.1.5"])
        await until(lambda: len(nft.scripts) > 1)
        await proxier.wait_idle()
        inc = nft.scripts[-1]
        assert "delete table" not in inc and "flush table" not in inc
        assert f"flush chain ip kubeloop svc-{h}" in inc and "numgen random mod 1 " in inc
        assert "delete element ip kubeloop endpoints-tcp-0 { 1 }" in inc
        assert proxier.latency_summary()["count"] == 1
        metrics = proxier.metrics_text()
        assert "kubeproxy_network_programming_duration_seconds_count 1\n" in metrics
        assert 'kubeproxy_network_programming_duration_seconds_bucket{le="+Inf"} 1\n' in metrics
        assert "# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram" in metrics

        await api.delete(SERVICES, "default", "kubia")
        await until(lambda: f"delete chain ip kubeloop svc-{h}" in nft.scripts[-1])
        assert proxier.stats["full_syncs"] == 1
    finally:
        await proxier.stop()
    assert nft.deleted == 1


async def test_bursts_are_coalesced(api: Client) -> None:
    await api.create(SERVICES, "default", service("kubia"))
    await api.create(SLICES, "default", eps_slice("kubia", ["10.244.1.5"]))
    nft = FakeNft()
    proxier = Proxier(api, node_name="a", node_ips=["172.30.0.11"], nft=nft,  # type: ignore[arg-type]
                      min_sync_interval=0.2)
    await proxier.start()
    try:
        before = len(nft.scripts)
        for i in range(20):
            await set_endpoints(api, "kubia", [f"10.244.1.{i + 10}"])
        await until(lambda: ": 10.244.1.29 . 8080" in nft.scripts[-1])
        await proxier.wait_idle()
        assert len(nft.scripts) - before <= 4, len(nft.scripts) - before
        assert ": 10.244.1.29 . 8080" in nft.scripts[-1]
        assert proxier.latency_summary()["count"] <= 4
    finally:
        await proxier.stop()


async def test_failures_retry_as_full_sync_then_recreate_and_report(api: Client) -> None:
    await api.create(SERVICES, "default", service("kubia"))
    await api.create(SLICES, "default", eps_slice("kubia", ["10.244.1.5"]))
    await api.create(NODES, None, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a"}})
    nft = FakeNft()
    proxier = Proxier(api, node_name="a", node_ips=["172.30.0.11"], nft=nft,  # type: ignore[arg-type]
                      retry_interval=0.05)
    await proxier.start()
    try:
        nft.fail = 2  # the incremental apply fails, then the full sync too
        await set_endpoints(api, "kubia", ["10.244.1.6"])
        await until(lambda: "10.244.1.6" in (nft.scripts[-1] if nft.scripts else ""))
        last = nft.scripts[-1]
        assert "delete table ip kubeloop" in last  # recreated after a failed full sync
        assert proxier.stats["failures"] == 2
        assert proxier.latency_summary()["count"] == 1  # measured when the change was really live

        async def reported() -> bool:
            items, _ = await api.list(EVENTS, "default")
            return any(e.get("reason") == "FailedToSyncProxyRules" for e in items)
        async with asyncio.timeout(5):
            while not await reported():
                await asyncio.sleep(0.05)
    finally:
        await proxier.stop()


async def test_periodic_full_resync(api: Client) -> None:
    nft = FakeNft()
    proxier = Proxier(api, node_name="a", nft=nft, full_sync_interval=0.1)  # type: ignore[arg-type]
    await proxier.start()
    try:
        await until(lambda: proxier.stats["full_syncs"] >= 3)
        assert "flush table ip kubeloop" in nft.scripts[-1]
    finally:
        await proxier.stop()


async def test_host_mode_sends_load_balancer_traffic_to_ready_nodes(api: Client) -> None:
    svc = await api.create(SERVICES, "default", service("lb", type="LoadBalancer"))
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "172.30.0.200"}]}}
    svc = await api.update(SERVICES, svc, "status")
    await api.create(SLICES, "default", eps_slice("lb", ["10.244.1.5"], node="a"))
    node_port = svc["spec"]["ports"][0]["nodePort"]
    for name, addr in (("a", "172.30.0.11"), ("b", "172.30.0.12")):
        node = await api.create(NODES, None, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        node["status"] = {"conditions": [{"type": "Ready", "status": "True"}],
                          "addresses": [{"type": "InternalIP", "address": addr}]}
        await api.update(NODES, node, "status")
    nft = FakeNft()
    proxier = Proxier(api, host=True, nft=nft, health_check_interval=0)  # type: ignore[arg-type]
    await proxier.start()
    try:
        assert proxier.live_nodes() == {"a": "172.30.0.11", "b": "172.30.0.12"}
        full = nft.scripts[0]
        assert f": 172.30.0.11 . {node_port}" in full and f": 172.30.0.12 . {node_port}" in full
        assert "service-nodeports {" not in full.split("add element", 1)[1]  # the host is no node

        node = await api.get(NODES, None, "b")
        node["status"]["conditions"] = [{"type": "Ready", "status": "Unknown"}]
        node = await api.update(NODES, node, "status")
        await until(lambda: "b" not in proxier.live_nodes())
        await until(lambda: f"172.30.0.12 . {node_port}" not in "".join(
            e.value for e in proxier.state.elements().values()) and "numgen random mod 1 " in nft.scripts[-1])

        # externalTrafficPolicy: Local -> only nodes with a ready local endpoint.
        node["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
        await api.update(NODES, node, "status")
        svc = await api.get(SERVICES, "default", "lb")
        svc["spec"]["externalTrafficPolicy"] = "Local"
        await api.update(SERVICES, svc)
        h = chain_hash(service_ports(await api.get(SERVICES, "default", "lb"))[0])
        await until(lambda: "b" in proxier.live_nodes() and (proxier.informers["services"].get(
            "default/lb") or {})["spec"].get("externalTrafficPolicy") == "Local")
        await proxier.wait_idle()
        rules = proxier.state.chains()[f"lb-{h}"].rules
        assert len(rules) == 1 and "numgen random mod 1 " in rules[0], rules
        targets = [e.value for e in proxier.state.elements().values() if e.container.startswith("endpoints-")]
        assert f"172.30.0.11 . {node_port}" in targets and f"172.30.0.12 . {node_port}" not in targets
    finally:
        await proxier.stop()


async def test_start_fails_cleanly_when_the_first_apply_fails(api: Client) -> None:
    nft = FakeNft()
    nft.fail = 1
    proxier = Proxier(api, node_name="a", nft=nft)  # type: ignore[arg-type]
    with pytest.raises(NftError):
        await proxier.start()
    assert all(inf._task is None for inf in proxier.informers.values())
    assert nft.deleted == 0 and not nft.scripts


class FakeConntrack:
    def __init__(self) -> None:
        self.deleted: list[list[str]] = []

    async def delete(self, flows: list[Any]) -> None:
        self.deleted += [f.argv() for f in flows]


async def test_stale_udp_flows_are_deleted_after_the_rules_change(api: Client) -> None:
    """UDP only: a removed endpoint's flows (cluster IP and node port), and the un-NATed flows
    of a port that had no endpoints when endpoints appear; TCP changes delete nothing."""
    udp = service("dns", type="NodePort", ports=[{"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053}])
    svc = await api.create(SERVICES, "default", udp)
    vip = svc["spec"]["clusterIP"]
    await api.create(SERVICES, "default", service("web"))
    slice_ = eps_slice("dns", [])
    slice_["ports"] = [{"name": "dns", "port": 53, "protocol": "UDP"}]
    await api.create(SLICES, "default", slice_)
    await api.create(SLICES, "default", eps_slice("web", ["10.244.1.9"]))
    nft, ct = FakeNft(), FakeConntrack()
    proxier = Proxier(api, node_name="a", nft=nft, conntrack=ct)  # type: ignore[arg-type]
    await proxier.start()
    try:
        assert ct.deleted == []  # nothing is stale at start
        await set_endpoints(api, "dns", ["10.244.1.5", "10.244.1.6"])
        await until(lambda: bool(ct.deleted))
        # Endpoints appeared where there were none: the flows sent meanwhile, NATed to nothing.
        assert ct.deleted == [["-D", "-p", "udp", "--orig-port-dst", "53", "--orig-dst", vip],
                              ["-D", "-p", "udp", "--orig-port-dst", "30053"]]
        ct.deleted.clear()
        await set_endpoints(api, "dns", ["10.244.1.6"])
        await until(lambda: bool(ct.deleted))
        assert ct.deleted == [["-D", "-p", "udp", "--orig-port-dst", "53", "--orig-dst", vip, "--reply-src", "10.244.1.5"],
                              ["-D", "-p", "udp", "--orig-port-dst", "30053", "--reply-src", "10.244.1.5"]]
        ct.deleted.clear()
        await set_endpoints(api, "web", ["10.244.1.8"])  # TCP: nothing to clean
        await until(lambda: ": 10.244.1.8 . 8080" in nft.scripts[-1])
        await proxier.wait_idle()
        assert ct.deleted == []
        await api.delete(SERVICES, "default", "dns")  # the port is gone: its endpoint's flows too
        await until(lambda: bool(ct.deleted))
        assert ["-D", "-p", "udp", "--orig-port-dst", "53", "--orig-dst", vip, "--reply-src", "10.244.1.6"] in ct.deleted
    finally:
        await proxier.stop()
