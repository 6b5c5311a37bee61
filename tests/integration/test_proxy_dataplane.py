"""Integration tests of the service proxy (kubeloop.proxy) on a real network: two nodes
(``a``, ``b``) and an outside namespace (``ext``, standing in for the user's host), real pod
sandboxes running the kubia app (HTTP :8080, "You've hit <pod>") and an echo server (:9090,
answers with the peer address it sees), a real API server in-process holding Services and
EndpointSlices written by the test, one Proxier per node namespace and a host-mode Proxier in
``ext``. Traffic goes only to addresses inside the namespaces the test creates.

Covered: ClusterIP spread from pods and nodes (S2), ClientIP affinity (S1), NodePort on every
node address (S3), externalTrafficPolicy Cluster vs Local as seen by the pod (S7), immediate
rejection without endpoints, hairpin, endpoint removal with measured programming latency,
readiness (R1/R2 as seen by traffic), a selector-less service pointing outside the pod
network (E2), the host-mode load balancer surviving a node's death while that node's address
stops answering (S4), and the PAWS case: one client reaching a pod both directly and through
its ClusterIP with a new connection each time must not stall.

They need root; without it they skip, or fail when CI is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio

from kubeloop.api.registry import by_plural
from kubeloop.apiserver.server import APIServer, APIServerConfig
from kubeloop.client.rest import Client
from kubeloop.node import network
from kubeloop.node.network import NETNS_DIR, NetworkConfig, NodeNet
from kubeloop.node.sandbox import PodSandbox
from kubeloop.proxy.nft import Nft
from kubeloop.proxy.proxier import Proxier

sys.path.insert(0, str(Path(__file__).parent))
from test_node_network import ECHO_SERVER, leftovers, require_root, unique_config  # noqa: E402

pytestmark = [pytest.mark.root, pytest.mark.asyncio(loop_scope="module")]

PY = sys.executable
SRC = str(Path(__file__).resolve().parents[2] / "src")
SERVICES = by_plural("services")
SLICES = by_plural("endpointslices")
NODES = by_plural("nodes")
RESOLV = "nameserver 10.96.0.10\n"

CLIENT = r"""
import json, socket, sys, time
host, port, count, mode, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
out = []
for i in range(count):
    t = time.monotonic()
    try:
        s = socket.create_connection((host, port), timeout=timeout)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n" if mode == "http" else b"ping")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        body = data.decode(errors="replace").split("\r\n\r\n", 1)[-1].strip()
        out.append({"ok": True, "t": time.monotonic() - t, "body": body})
    except OSError as e:
        out.append({"ok": False, "t": time.monotonic() - t, "err": type(e).__name__})
print(json.dumps(out))
"""

# New connections in a loop, alternating the service address and the pod's own address.
# With "reuse" each pair uses one explicit source port for both paths, the worst case: the
# server then sees the same 4-tuple from both paths unless the data plane changes it.
PAWS_CLIENT = r"""
import json, socket, sys, time
vip, vport, direct, dport, count, reuse = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"
times, fails, start = [], 0, time.monotonic()
for i in range(count):
    sport = 20000 + i % 200
    for host, port in ((vip, vport), (direct, dport)):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(5)
        t = time.monotonic()
        try:
            if reuse:
                s.bind(("", sport))
            s.connect((host, port))
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            while s.recv(4096):
                pass
        except OSError:
            fails += 1
        finally:
            s.close()
        times.append(time.monotonic() - t)
print(json.dumps({"n": len(times), "fails": fails, "max": max(times), "stalls": sum(t > 0.5 for t in times),
                  "elapsed": time.monotonic() - start, "p50": sorted(times)[len(times) // 2]}))
"""


@dataclass
class Pod:
    name: str
    ip: str
    node: NodeNet
    sandbox: PodSandbox

    @property
    def netns(self) -> str:
        return self.sandbox.netns


@dataclass
class Env:
    cfg: NetworkConfig
    nodes: dict[str, NodeNet]
    pods: dict[str, Pod]
    client: Client
    proxiers: dict[str, Proxier] = field(default_factory=dict)
    tmp: Path = Path("/tmp")

    @property
    def ext(self) -> NodeNet:
        return self.nodes["ext"]


async def make_pod(cfg: NetworkConfig, node: NodeNet, name: str, octet: int, tmp: Path, serve: bool) -> Pod:
    uid = str(uuid.uuid4())
    ip = node.pod_cidr.rsplit(".", 1)[0] + f".{octet}"
    sb = PodSandbox()
    hosts = f"127.0.0.1\tlocalhost\n{ip}\t{name}\n"
    await sb.create(node, uid, name, ip, hosts, RESOLV, tmp / "pods" / uid)
    pod = Pod(name, ip, node, sb)
    if serve:
        env = {"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"}
        await sb.start_process([PY, "-m", "kubeloop.images.kubia"], env, "/tmp", tmp / f"{name}-kubia.log")
        await sb.start_process([PY, "-S", "-c", ECHO_SERVER, "0.0.0.0", "9090"], env, "/tmp", tmp / f"{name}-echo.log")
    return pod


async def in_netns(netns: str, script: str, *args: Any, timeout: float = 60) -> Any:
    proc = await asyncio.create_subprocess_exec(
        shutil.which("nsenter") or "nsenter", f"--net={NETNS_DIR}/{netns}", PY, "-S", "-c", script,
        *map(str, args), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def requests(netns: str, host: str, port: int, count: int = 1, mode: str = "http",
                   timeout: float = 3.0) -> list[dict[str, Any]]:
    return await in_netns(netns, CLIENT, host, port, count, mode, timeout)


async def wait_ready(netns: str, host: str, port: int, mode: str = "http", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        (r,) = await requests(netns, host, port, 1, mode, 1.0)
        if r["ok"]:
            return
        assert time.monotonic() < deadline, f"{host}:{port} never answered from {netns}: {r}"
        await asyncio.sleep(0.05)


def hits(results: list[dict[str, Any]]) -> set[str]:
    return {r["body"].removeprefix("You've hit ").strip() for r in results if r["ok"]}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    require_root()
    for tool in ("nft", "nsenter"):
        if shutil.which(tool) is None:
            if os.environ.get("CI"):
                pytest.fail(f"prerequisite missing in CI: {tool}")
            pytest.skip(f"needs {tool}")
    tmp = tmp_path_factory.mktemp("proxy")
    cfg = unique_config()
    server = APIServer(APIServerConfig(port=0, authenticate=False))
    await server.start()
    client = Client(server.url)
    e = Env(cfg, {}, {}, client, tmp=tmp)
    try:
        a, b, ext, c = await asyncio.gather(network.create_node(cfg, "a", 1), network.create_node(cfg, "b", 2),
                                            network.create_node(cfg, "ext", 3), network.create_node(cfg, "c", 4))
        e.nodes = {"a": a, "b": b, "ext": ext, "c": c}
        # Node c's bridge bypasses netfilter (as without br_netfilter): the proxier notices.
        await network.run("nsenter", f"--net={NETNS_DIR}/{c.netns}", "sh", "-c",
                          "[ ! -e /proc/sys/net/bridge ] || echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables")
        pods = await asyncio.gather(
            make_pod(cfg, a, "a1", 11, tmp, True), make_pod(cfg, a, "a2", 12, tmp, True),
            make_pod(cfg, b, "b1", 21, tmp, True), make_pod(cfg, c, "c1", 31, tmp, True),
            make_pod(cfg, a, "ca", 50, tmp, False), make_pod(cfg, b, "cb", 50, tmp, False),
            make_pod(cfg, c, "cc", 50, tmp, False))
        e.pods = {p.name: p for p in pods}
        for name in ("a", "b"):
            node = await client.create(NODES, None, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
            node["status"] = {"conditions": [{"type": "Ready", "status": "True"}],
                              "addresses": [{"type": "InternalIP", "address": e.nodes[name].address}]}
            await client.update(NODES, node, "status")
        for name in ("a", "b", "c"):
            n = e.nodes[name]
            e.proxiers[name] = Proxier(client, node_name=name, node_ips=[n.address], netns=n.netns,
                                       cluster_cidr_for_masquerade=cfg.pod_cidr)
        e.proxiers["ext"] = Proxier(client, host=True, netns=ext.netns, cluster_cidr_for_masquerade=cfg.pod_cidr,
                                    health_check_interval=0.3)
        await asyncio.gather(*(p.start() for p in e.proxiers.values()))
        await asyncio.gather(*(wait_ready(p.netns, p.ip, port, mode)
                               for p in pods[:4] for port, mode in ((8080, "http"), (9090, "echo"))))
        yield e
    finally:
        for name, p in e.proxiers.items():
            if name != "b":  # node b dies in the last test
                assert p.stats["failures"] == 0, (name, p.stats)
            await p.stop()
        for netns in [n.netns for n in e.nodes.values()]:
            if os.path.exists(f"{NETNS_DIR}/{netns}"):
                assert "kubeloop" not in (await Nft(netns).run("list", "tables")), f"table left in {netns}"
        for p in e.pods.values():
            await p.sandbox.destroy()
        await network.cleanup_leftovers(cfg)
        await client.close()
        await server.stop()
    assert leftovers(cfg) == []


# -- helpers that read the rules ----------------------------------------------------------

def _chains(listing: str) -> dict[str, str]:
    """Chain name -> body, from ``nft list table``."""
    return dict(re.findall(r"^\tchain (\S+) \{\n(.*?)^\t\}", listing, re.M | re.S))


def _map_elements(listing: str, name: str) -> str:
    found = re.search(r"^\tmap " + re.escape(name) + r" \{\n(.*?)^\t\}", listing, re.M | re.S)
    return found.group(1) if found else ""


def dnat_counts(listing: str, display: str, ip: str) -> list[int]:
    """The connection counters of endpoint ``ip`` in the pick chains of service port ``display``
    (their comment, e.g. "default/spread:http"): an endpoint map element per chain (the rule
    ``numgen random mod N offset B map @endpoints-G`` picks keys B..B+N-1), or the DNAT
    rules themselves (session affinity)."""
    counts = []
    for body in _chains(listing).values():
        if not re.search(r'comment "' + re.escape(display) + r'( local)?"', body):
            continue
        counts += [int(n) for n in re.findall(r"counter packets (\d+) bytes \d+ dnat to " + re.escape(ip) + ":", body)]
        for mod, offset, emap in re.findall(r"numgen random mod (\d+)(?: offset (\d+))? map @(\S+)", body):
            keys = range(int(offset or 0), int(offset or 0) + int(mod))
            for key, n in re.findall(r"(\d+) counter packets (\d+) bytes \d+ : " + re.escape(ip) + r" \. \d+",
                                     _map_elements(listing, emap)):
                if int(key) in keys:
                    counts.append(int(n))
    return counts


def dnat_targets(listing: str) -> set[str]:
    """Every ``ip:port`` the table DNATs to (rules and endpoint map elements)."""
    found = set(re.findall(r"dnat to ([\d.]+:\d+)", listing))
    found |= {f"{ip}:{port}" for ip, port in re.findall(r": ([\d.]+) \. (\d+)", listing)}
    return found


# -- helpers that write API objects --------------------------------------------------------

async def create_service(e: Env, name: str, ports: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    ports = ports or [{"name": "http", "port": 80, "targetPort": 8080}]
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": ports, **spec}}
    return await e.client.create(SERVICES, "default", body)


def endpoint(pod: Pod, ready: bool = True) -> dict[str, Any]:
    return {"addresses": [pod.ip], "conditions": {"ready": ready}, "nodeName": pod.node.name}


async def put_slice(e: Env, svc: str, endpoints: list[dict[str, Any]],
                    ports: list[dict[str, Any]] | None = None) -> None:
    ports = ports or [{"name": "http", "port": 8080, "protocol": "TCP"}]
    name = f"{svc}-1"
    body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name, "labels": {"kubernetes.io/service-name": svc}},
            "ports": ports, "endpoints": endpoints}
    try:
        current = await e.client.get(SLICES, "default", name)
    except Exception:
        await e.client.create(SLICES, "default", body)
        return
    current.update(ports=ports, endpoints=endpoints)
    await e.client.update(SLICES, current)


async def settle(e: Env, check: Any, timeout: float = 10.0) -> None:
    """Poll an async predicate until it holds (rules are applied asynchronously)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.05)


# -- tests ---------------------------------------------------------------------------------

async def test_cluster_ip_spreads_over_pods_from_pods_and_nodes(env: Env) -> None:
    """S2: curl the cluster IP from a pod (and from a node): answers from every pod."""
    e = env
    svc = await create_service(e, "spread")
    vip = svc["spec"]["clusterIP"]
    await put_slice(e, "spread", [endpoint(e.pods["a1"]), endpoint(e.pods["b1"])])

    async def both() -> bool:
        return hits(await requests(e.pods["ca"].netns, vip, 80, 30)) == {"a1", "b1"}
    await settle(e, both)
    for netns in (e.pods["cb"].netns, e.nodes["a"].netns, e.nodes["b"].netns):
        results = await requests(netns, vip, 80, 30)
        assert all(r["ok"] for r in results), results
        assert hits(results) == {"a1", "b1"}
    # Each endpoint chain counts its connections.
    listing = await Nft(e.nodes["b"].netns).list_table()
    counted = dnat_counts(listing, "default/spread:http", e.pods["a1"].ip)
    assert counted and counted[0] >= 5, listing
    # An unknown port of a cluster IP is refused at once, not dropped.
    (r,) = await requests(e.pods["ca"].netns, vip, 81, 1, timeout=3)
    assert not r["ok"] and r["err"] == "ConnectionRefusedError" and r["t"] < 1


async def test_session_affinity_client_ip(env: Env) -> None:
    """S1: multi-port service with ClientIP affinity: one client always reaches one pod."""
    e = env
    svc = await create_service(e, "sticky", [{"name": "http", "port": 80, "targetPort": 8080},
                                             {"name": "echo", "port": 90, "targetPort": 9090}],
                               sessionAffinity="ClientIP")
    vip = svc["spec"]["clusterIP"]
    await put_slice(e, "sticky", [endpoint(e.pods["a1"]), endpoint(e.pods["a2"]), endpoint(e.pods["b1"])],
                    [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "echo", "port": 9090, "protocol": "TCP"}])
    await wait_ready(e.pods["ca"].netns, vip, 80)
    for client in ("ca", "cb"):
        results = await requests(e.pods[client].netns, vip, 80, 25)
        assert all(r["ok"] for r in results)
        assert len(hits(results)) == 1, (client, hits(results))
    echo = await requests(e.pods["ca"].netns, vip, 90, 10, "echo")
    assert len({r["body"].split()[0] for r in echo}) == 1
    # The client the pod sees is the real pod address (no masquerade inside the cluster).
    assert {r["body"].split()[1] for r in echo} == {e.pods["ca"].ip}


async def test_nodeport_and_traffic_policy(env: Env) -> None:
    """S3 + S7: a NodePort answers on every node address; under Cluster the pod sees a node
    address, under Local the real client, and a node without local endpoints drops it."""
    e = env
    svc = await create_service(e, "np", [{"name": "echo", "port": 90, "targetPort": 9090}], type="NodePort")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    await put_slice(e, "np", [endpoint(e.pods["a1"])], [{"name": "echo", "port": 9090, "protocol": "TCP"}])
    ext, a, b = e.ext, e.nodes["a"], e.nodes["b"]
    await wait_ready(ext.netns, a.address, node_port, "echo")
    for node in (a, b):
        results = await requests(ext.netns, node.address, node_port, 5, "echo")
        assert all(r["ok"] for r in results), results
        seen = {r["body"].split()[1] for r in results}
        # Masqueraded by the node that took the connection: its address on the way out.
        assert seen <= {node.address, node.gateway}, seen
        assert ext.address not in seen

    svc["spec"]["externalTrafficPolicy"] = "Local"
    await e.client.update(SERVICES, svc)

    async def local() -> bool:
        (r,) = await requests(ext.netns, a.address, node_port, 1, "echo")
        return r["ok"] and r["body"].split()[1] == ext.address
    await settle(e, local)
    # Node b has no endpoint of this service: external traffic is dropped there (Kubernetes).
    (r,) = await requests(ext.netns, b.address, node_port, 1, "echo", timeout=1.0)
    assert not r["ok"] and r["err"] in ("TimeoutError", "timeout")
    # ... while pods on node b still reach the service through its node port, cluster-wide.
    (r,) = await requests(e.pods["cb"].netns, b.address, node_port, 1, "echo")
    assert r["ok"], r


async def test_no_endpoints_rejects_immediately(env: Env) -> None:
    e = env
    svc = await create_service(e, "empty", type="NodePort")
    vip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    await put_slice(e, "empty", [endpoint(e.pods["a1"], ready=False)])

    async def refused() -> bool:
        (r,) = await requests(e.pods["ca"].netns, vip, 80, 1, timeout=3)
        return not r["ok"] and r["err"] == "ConnectionRefusedError"
    await settle(e, refused)
    for netns, host, port in ((e.pods["cb"].netns, vip, 80), (e.nodes["a"].netns, vip, 80),
                              (e.ext.netns, vip, 80), (e.ext.netns, e.nodes["b"].address, node_port)):
        results = await requests(netns, host, port, 3, timeout=3)
        assert all(not r["ok"] and r["err"] == "ConnectionRefusedError" and r["t"] < 0.5 for r in results), results
    # Readiness: the pod turns ready (R2), traffic flows.
    await put_slice(e, "empty", [endpoint(e.pods["a1"], ready=True)])
    await wait_ready(e.pods["ca"].netns, vip, 80)


async def test_hairpin_pod_reaches_itself_through_its_service(env: Env) -> None:
    e = env
    svc = await create_service(e, "hairpin", [{"name": "echo", "port": 90, "targetPort": 9090}])
    vip = svc["spec"]["clusterIP"]
    await put_slice(e, "hairpin", [endpoint(e.pods["a1"])], [{"name": "echo", "port": 9090, "protocol": "TCP"}])
    await wait_ready(e.pods["ca"].netns, vip, 90, "echo")
    results = await requests(e.pods["a1"].netns, vip, 90, 10, "echo")
    assert all(r["ok"] for r in results), results
    # Masqueraded to the node's pod gateway, so the reply comes back through the node.
    assert {r["body"].split()[1] for r in results} == {e.nodes["a"].gateway}


async def test_endpoint_removal_and_programming_latency(env: Env) -> None:
    """E1/R1 as traffic sees it: a removed endpoint receives nothing once the rules are
    live; the proxier's programming latency is recorded (printed, loosely asserted)."""
    e = env
    svc = await create_service(e, "shrink")
    vip = svc["spec"]["clusterIP"]
    await put_slice(e, "shrink", [endpoint(e.pods["a1"]), endpoint(e.pods["a2"]), endpoint(e.pods["b1"])])

    async def three() -> bool:
        return hits(await requests(e.pods["cb"].netns, vip, 80, 40)) == {"a1", "a2", "b1"}
    await settle(e, three)
    before = {n: p.latency_summary()["count"] for n, p in e.proxiers.items()}
    t0 = time.monotonic()
    await put_slice(e, "shrink", [endpoint(e.pods["a1"])])
    await settle(e, lambda: _counted(e, before))
    for name in ("a", "b"):
        await e.proxiers[name].wait_idle()
    elapsed = time.monotonic() - t0
    results = await requests(e.pods["cb"].netns, vip, 80, 30)
    assert all(r["ok"] for r in results) and hits(results) == {"a1"}
    # Many quick changes in a row: each one is live within a fraction of a second.
    lat_before = e.proxiers["b"].latency_summary()["count"]
    for i in range(20):
        await put_slice(e, "shrink", [endpoint(e.pods["a1"]), endpoint(e.pods["b1" if i % 2 else "a2"])])
        await asyncio.sleep(0.03)
    await settle(e, lambda: _count_at_least(e.proxiers["b"], lat_before + 5))
    summary = {n: e.proxiers[n].latency_summary() for n in ("a", "b")}
    print(f"\nendpoint removal live on both nodes after {elapsed * 1000:.0f} ms (API write included); "
          f"programming latency: " + "; ".join(
              f"node {n}: n={s['count']} p50={s['p50_ms']:.1f} ms p99={s['p99_ms']:.1f} ms max={s['max_ms']:.1f} ms"
              for n, s in summary.items()))
    for s in summary.values():
        assert s["p50_ms"] < 500, s


async def _counted(e: Env, before: dict[str, int]) -> bool:
    return all(e.proxiers[n].latency_summary()["count"] > before[n] for n in ("a", "b"))


async def _count_at_least(p: Proxier, n: int) -> bool:
    return p.latency_summary()["count"] >= n


async def test_selectorless_service_to_an_address_outside_the_pod_network(env: Env) -> None:
    """E2: a Service without selector whose endpoints point outside the pod network (a
    server in ``ext``): pods reach it through the cluster IP."""
    e = env
    proc = await asyncio.create_subprocess_exec(
        shutil.which("nsenter") or "nsenter", f"--net={NETNS_DIR}/{e.ext.netns}", PY, "-S", "-c", ECHO_SERVER,
        "0.0.0.0", "7070", stdout=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), 10)
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "external"},
                "spec": {"ports": [{"port": 80, "targetPort": 7070}]}}
        svc = await e.client.create(SERVICES, "default", body)
        await put_slice(e, "external", [{"addresses": [e.ext.address], "conditions": {"ready": True}}],
                        [{"name": "", "port": 7070, "protocol": "TCP"}])
        await wait_ready(e.pods["ca"].netns, svc["spec"]["clusterIP"], 80, "echo")
        (r,) = await requests(e.pods["cb"].netns, svc["spec"]["clusterIP"], 80, 1, "echo")
        assert r["ok"] and r["body"].split()[1] == e.pods["cb"].ip, r  # the server sees the pod
    finally:
        proc.kill()
        await proc.wait()


async def test_paws_direct_and_service_path_do_not_stall(env: Env) -> None:
    """The performance-notes pitfall: a client reaching a pod both through its ClusterIP and
    on its own IP, with a new connection each time, must not stall on 1 s SYN retries. Clients:
    a pod on the pod's node, a pod on another node, the node itself, the host (``ext``, host
    mode), and a pod on node c whose bridge bypasses netfilter -- each with ephemeral ports
    and with one forced source port per direct/service pair (the same 4-tuple at the pod
    unless the data plane changes it). Hiding the direct path from conntrack (a notrack rule,
    tried by hand) makes the forced case fail on every pair; here it must not."""
    e = env
    report = []
    for server, clients in (("a1", ("ca", "cb", "node:a", "node:ext")), ("c1", ("cc",))):
        name = f"paws-{server}"
        svc = await create_service(e, name)
        vip = svc["spec"]["clusterIP"]
        await put_slice(e, name, [endpoint(e.pods[server])])
        for client in clients:
            netns = e.nodes[client[5:]].netns if client.startswith("node:") else e.pods[client].netns
            await wait_ready(netns, vip, 80)
            for reuse in ("0", "1"):
                r = await in_netns(netns, PAWS_CLIENT, vip, 80, e.pods[server].ip, 8080, 300, reuse, timeout=120)
                report.append(f"{client}->{server} reuse={reuse}: {r['n']} conns in {r['elapsed']:.2f}s "
                              f"max={r['max'] * 1000:.0f}ms stalls={r['stalls']}")
                assert r["fails"] == 0 and r["stalls"] == 0, report
    print("\nPAWS: " + "; ".join(report))


SOURCE_PORT_CLIENT = r"""
import json, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[3])))
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
while s.recv(4096):
    pass
print(json.dumps(s.getsockname()[0]))
"""


async def test_own_traffic_to_a_cluster_ip_keeps_its_source_port(env: Env) -> None:
    """A node's and the host's own connections to a cluster IP reach the pod from their real
    address and port: not masqueraded (the reply comes back through them anyway). Masquerading
    with random ports made the pod take some new connections for old duplicates of ones in
    its TIME_WAIT and drop them (PAWS), 3-4 % of connections from a node waiting 1 s."""
    e = env
    svc = await create_service(e, "ownport")
    vip = svc["spec"]["clusterIP"]
    pod = e.pods["a1"]
    await put_slice(e, "ownport", [endpoint(pod)])
    for i, client in enumerate(("b", "ext")):  # node b, and the host (host mode)
        netns = e.nodes[client].netns
        await wait_ready(netns, vip, 80)
        port = 41000 + i
        source = await in_netns(netns, SOURCE_PORT_CLIENT, vip, 80, port)
        # kubia closed first: the pod holds the connection in TIME_WAIT, as the client left it.
        _, seen, _ = await network.run("nsenter", f"--net={NETNS_DIR}/{pod.netns}", "ss", "-tan",
                                       f"( dport = :{port} )")
        assert f"{source}:{port}" in seen, seen


UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, addr = s.recvfrom(1024)
    s.sendto(socket.gethostname().encode(), addr)
"""

UDP_CLIENT = r"""
import json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[3])))
s.settimeout(1)
s.sendto(b"x", (sys.argv[1], int(sys.argv[2])))
try:
    print(json.dumps(s.recvfrom(1024)[0].decode()))
except OSError:
    print(json.dumps(""))
"""


async def test_udp_flow_follows_an_endpoint_change(env: Env) -> None:
    """A UDP client that keeps one source port (a resolver) keeps one conntrack flow, NATed
    to the endpoint it first reached. When that endpoint leaves the service the proxy deletes
    the flow, so the next datagram reaches the new endpoint, not the old pod (still alive)."""
    e = env
    for name in ("a1", "b1"):
        await e.pods[name].sandbox.start_process([PY, "-S", "-c", UDP_ECHO, "5300"], {"PATH": "/usr/bin:/bin"},
                                                 "/tmp", e.tmp / f"{name}-udp.log")
    udp_ports = [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5300}]
    svc = await create_service(e, "udpecho", udp_ports)
    vip = svc["spec"]["clusterIP"]
    slice_ports = [{"name": "dns", "port": 5300, "protocol": "UDP"}]
    await put_slice(e, "udpecho", [endpoint(e.pods["a1"])], ports=slice_ports)
    client = e.pods["ca"].netns

    async def answer() -> str:
        return str(await in_netns(client, UDP_CLIENT, vip, 53, 42053))

    async def from_a1() -> bool:
        return await answer() == "a1"
    await settle(e, from_a1)
    await put_slice(e, "udpecho", [endpoint(e.pods["b1"])], ports=slice_ports)

    async def from_b1() -> bool:
        return await answer() == "b1"
    await settle(e, from_b1, timeout=5)


async def test_bridge_without_netfilter_is_masqueraded(env: Env) -> None:
    """Node c's bridge skips netfilter: same-node service traffic still works (masqueraded
    to the bridge address, so the reply comes back through the node's conntrack)."""
    e = env
    assert e.proxiers["c"].cfg.masquerade_bridges == ("cni0",)
    assert e.proxiers["a"].cfg.masquerade_bridges == ()
    svc = await create_service(e, "bridged", [{"name": "echo", "port": 90, "targetPort": 9090}])
    vip = svc["spec"]["clusterIP"]
    await put_slice(e, "bridged", [endpoint(e.pods["c1"])], [{"name": "echo", "port": 9090, "protocol": "TCP"}])
    await wait_ready(e.pods["cc"].netns, vip, 90, "echo")
    results = await requests(e.pods["cc"].netns, vip, 90, 10, "echo")
    assert all(r["ok"] for r in results) and {r["body"].split()[1] for r in results} == {e.nodes["c"].gateway}
    # From another node the client address is kept.
    (r,) = await requests(e.pods["ca"].netns, vip, 90, 1, "echo")
    assert r["ok"] and r["body"].split()[1] == e.pods["ca"].ip


async def test_host_mode_load_balancer_survives_a_node_death(env: Env) -> None:
    """S4: the LoadBalancer address (programmed by the host-mode proxier in ``ext``) answers
    through any live node; when node b dies it keeps answering while b's address does not.
    Also external IPs from the host."""
    e = env
    svc = await create_service(e, "lb", type="LoadBalancer", externalIPs=[e.cfg.node_address(40)])
    lb_ip = e.cfg.node_address(50)  # an unused address of the cluster network
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": lb_ip}]}}
    svc = await e.client.update(SERVICES, svc, "status")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    await put_slice(e, "lb", [endpoint(e.pods["a1"]), endpoint(e.pods["a2"])])
    ext = e.ext.netns
    await wait_ready(ext, lb_ip, 80)
    await wait_ready(ext, e.cfg.node_address(40), 80)
    host = e.proxiers["ext"]
    assert set(host.live_nodes()) == {"a", "b"}
    results = await requests(ext, lb_ip, 80, 20)
    assert all(r["ok"] for r in results) and hits(results) == {"a1", "a2"}
    listing = await Nft(ext).list_table()
    assert f"{e.nodes['b'].address}:{node_port}" in dnat_targets(listing)

    # Node b dies: its agent (and proxier) stop, then its network disappears.
    await e.proxiers["b"].stop(delete_rules=False)
    await network.delete_node(e.cfg, "b")
    t0 = time.monotonic()

    async def b_out() -> bool:
        return "b" not in host.live_nodes()
    await settle(e, b_out, timeout=10)
    await host.wait_idle()
    print(f"\nnode b taken out of the load balancer {time.monotonic() - t0:.2f}s after it died")
    results = await requests(ext, lb_ip, 80, 30, timeout=2)
    assert all(r["ok"] for r in results), results
    (r,) = await requests(ext, e.nodes["b"].address, node_port, 1, timeout=1)
    assert not r["ok"]
