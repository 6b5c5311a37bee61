"""Integration tests of the cluster network (kubeloop.node.network): real namespaces, veths,
bridges and routes, with TCP traffic between the host, the host bridge and node namespaces.

Each test uses its own prefix, bridge and address ranges (chosen not to overlap anything
on the host) and checks afterwards that nothing of it is left: namespaces, links, routes,
mounts, processes. They need root; without it they skip, or fail when CI is set.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import sys
from typing import AsyncIterator

import pytest

from kubeloop.node import network
from kubeloop.node.network import NETNS_DIR, NetworkConfig

ECHO_SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print("listening", s.getsockname()[1], flush=True)
while True:
    c, addr = s.accept()
    data = c.recv(1024)
    c.sendall(socket.gethostname().encode() + b" " + addr[0].encode() + b" " + data)
    c.close()
"""

ECHO_CLIENT = r"""
import socket, sys, time
deadline = time.monotonic() + float(sys.argv[3])
while True:
    try:
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
        c.sendall(b"ping")
        print(c.recv(1024).decode(), flush=True)
        break
    except OSError as e:
        if time.monotonic() > deadline:
            print("failed:", e, flush=True)
            sys.exit(1)
        time.sleep(0.05)
"""


def require_root() -> None:
    """Skip on a developer machine without root; fail in CI (CI must run every test)."""
    missing = [] if os.geteuid() == 0 else ["root"]
    missing += [t for t in ("ip", "nsenter", "ps") if shutil.which(t) is None]
    if missing:
        reason = f"needs {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(f"prerequisite missing in CI: {reason}")
        pytest.skip(reason)


def _used_networks() -> list[ipaddress.IPv4Network]:
    used = []
    routes = json.loads(subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"],
                                       capture_output=True, text=True).stdout or "[]")
    for r in routes:
        dst = r.get("dst", "default")
        if dst != "default":
            try:
                used.append(ipaddress.IPv4Network(dst, strict=False))
            except ValueError:
                pass
    return used


def unique_config() -> NetworkConfig:
    """A prefix and address ranges no other test (or the host) uses."""
    used = _used_networks()
    for _ in range(100):
        prefix = "k" + secrets.token_hex(2)
        cluster = ipaddress.IPv4Network(f"172.29.{secrets.randbelow(250) + 1}.0/24")
        pods = ipaddress.IPv4Network(f"10.{secrets.randbelow(100) + 140}.0.0/16")
        if any(cluster.overlaps(u) or pods.overlaps(u) for u in used):
            continue
        if os.path.exists(f"{NETNS_DIR}/{prefix}-node-a"):
            continue
        return NetworkConfig(cluster_cidr=str(cluster), pod_cidr=str(pods), bridge=f"{prefix}br", prefix=prefix)
    raise RuntimeError("no free address range for the test")


def leftovers(cfg: NetworkConfig) -> list[str]:
    """Everything of cfg still on the host: namespaces, links, routes, mounts."""
    found = []
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"netns {line}" for line in ns.splitlines() if line.startswith(cfg.netns_prefix)]
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True).stdout)
    found += [f"link {l['ifname']}" for l in links if cfg.owns_host_link(l["ifname"])]
    routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    pod_net = ipaddress.IPv4Network(cfg.pod_cidr)
    for line in routes.splitlines():
        dst = line.split()[0] if line.split() else ""
        try:
            in_pods = ipaddress.IPv4Network(dst, strict=False).overlaps(pod_net)
        except ValueError:
            in_pods = False
        if cfg.bridge in line.split() or in_pods:
            found.append(f"route {line}")
    with open("/proc/self/mountinfo") as f:
        found += [f"mount {line.strip()}" for line in f if f"/{cfg.prefix}-" in line]
    return found


async def start_server(netns: str | None, bind: str, port: int = 0) -> tuple[asyncio.subprocess.Process, int]:
    """A TCP echo server in netns (None: the host); returns the process and its port."""
    argv = ([shutil.which("nsenter") or "nsenter", f"--net={NETNS_DIR}/{netns}"] if netns else [])
    proc = await asyncio.create_subprocess_exec(
        *argv, sys.executable, "-S", "-c", ECHO_SERVER, bind, str(port),
        stdout=asyncio.subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 10)
    assert line.startswith(b"listening"), line
    return proc, int(line.split()[1])


async def stop_server(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
    await proc.wait()


async def client_in_netns(netns: str | None, host: str, port: int, timeout: float = 10) -> str:
    argv = ([shutil.which("nsenter") or "nsenter", f"--net={NETNS_DIR}/{netns}"] if netns else [])
    proc = await asyncio.create_subprocess_exec(
        *argv, sys.executable, "-S", "-c", ECHO_CLIENT, host, str(port), str(timeout),
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out
    return out.decode().strip()


@pytest.fixture
async def cfg() -> AsyncIterator[NetworkConfig]:
    require_root()
    c = unique_config()
    try:
        yield c
    finally:
        await network.cleanup_leftovers(c)
    assert leftovers(c) == []


def test_address_plan() -> None:
    c = NetworkConfig()
    assert c.host_address == "172.30.0.1"
    assert c.node_address(1) == "172.30.0.11"
    assert c.node_pod_cidr(1) == "10.244.1.0/24"
    assert c.node_pod_gateway(2) == "10.244.2.1"
    assert c.node_netns("worker") == "kl-node-worker"
    assert c.host_link(3) == "kln3"
    assert c.owns_host_link("kl0") and c.owns_host_link("kln12")
    assert not c.owns_host_link("kltn1") and not c.owns_host_link("eth0")
    with pytest.raises(ValueError):
        NetworkConfig(prefix="Bad-Prefix")
    with pytest.raises(ValueError):
        c.node_address(300)


@pytest.mark.root
async def test_two_nodes_are_routed_and_reachable(cfg: NetworkConfig) -> None:
    host_forward = open("/proc/sys/net/ipv4/ip_forward").read()
    a, b = await asyncio.gather(network.create_node(cfg, "a", 1), network.create_node(cfg, "b", 2))
    assert (a.netns, a.address, a.pod_cidr, a.gateway) == (
        f"{cfg.prefix}-node-a", cfg.node_address(1), cfg.node_pod_cidr(1), cfg.node_pod_gateway(1))
    assert await network.list_nodes(cfg) == [a, b]

    # Forwarding is on inside the nodes and unchanged on the host.
    for node in (a, b):
        _, out, _ = await network.run("nsenter", f"--net={NETNS_DIR}/{node.netns}",
                                      "cat", "/proc/sys/net/ipv4/ip_forward")
        assert out.strip() == "1"
    assert open("/proc/sys/net/ipv4/ip_forward").read() == host_forward

    # Routes: host -> every pod CIDR, node -> every other node's pod CIDR.
    host_routes = await network.ip_json("-4", "route", "show", "root", cfg.pod_cidr, "dev", cfg.bridge)
    assert {(r["dst"], r["gateway"]) for r in host_routes} == {(a.pod_cidr, a.address), (b.pod_cidr, b.address)}
    a_routes = await network.ip_json("-4", "route", "show", "root", cfg.pod_cidr, "dev", "eth0", netns=a.netns)
    assert {(r["dst"], r["gateway"]) for r in a_routes} == {(b.pod_cidr, b.address)}

    servers = []
    try:
        srv_b, port_b = await start_server(b.netns, "0.0.0.0")
        servers.append(srv_b)
        # host -> node, node -> node (no NAT: the peer sees the node's own address)
        assert (await client_in_netns(None, b.address, port_b)).split()[1] == cfg.host_address
        reply = await client_in_netns(a.netns, b.address, port_b)
        assert reply.split()[1] == a.address
        # node a -> b's pod gateway (cni0) through the pod-CIDR route, and host -> it
        reply = await client_in_netns(a.netns, b.gateway, port_b)
        assert reply.endswith("ping")
        reply = await client_in_netns(None, b.gateway, port_b)
        assert reply.split()[1] == cfg.host_address
        # node -> host bridge address
        srv_h, port_h = await start_server(None, cfg.host_address)
        servers.append(srv_h)
        reply = await client_in_netns(a.netns, cfg.host_address, port_h)
        assert reply.split()[1] == a.address
    finally:
        for s in servers:
            await stop_server(s)


@pytest.mark.root
async def test_delete_node_removes_its_routes_and_links(cfg: NetworkConfig) -> None:
    nodes = await asyncio.gather(*(network.create_node(cfg, n, i) for i, n in enumerate(["x", "y", "z"], 1)))
    await network.delete_node(cfg, "y")
    y = nodes[1]
    assert not os.path.exists(f"{NETNS_DIR}/{y.netns}")
    assert not await network.link_exists(cfg.host_link(2))
    host = await network.ip_json("-4", "route", "show", "root", cfg.pod_cidr, "dev", cfg.bridge)
    assert {r["dst"] for r in host} == {nodes[0].pod_cidr, nodes[2].pod_cidr}
    x_routes = await network.ip_json("-4", "route", "show", "root", cfg.pod_cidr, "dev", "eth0", netns=nodes[0].netns)
    assert {r["dst"] for r in x_routes} == {nodes[2].pod_cidr}
    # The index can be reused by a new node.
    again = await network.create_node(cfg, "w", 2)
    assert again.address == y.address
    await network.teardown(cfg)
    assert leftovers(cfg) == []


@pytest.mark.root
async def test_create_node_refuses_duplicates(cfg: NetworkConfig) -> None:
    await network.create_node(cfg, "a", 1)
    with pytest.raises(network.NetworkError):
        await network.create_node(cfg, "a", 3)
    with pytest.raises(network.NetworkError):
        await network.create_node(cfg, "other", 1)
    # The failed attempts left nothing half-made.
    assert [n.name for n in await network.list_nodes(cfg)] == ["a"]
    assert not await network.link_exists(cfg.host_link(3))


@pytest.mark.root
async def test_cleanup_leftovers_kills_processes_and_removes_everything(cfg: NetworkConfig) -> None:
    a = await network.create_node(cfg, "a", 1)
    await network.create_node(cfg, "b", 2)
    # A process left behind by a crashed agent, and an orphaned "pod" namespace.
    sleeper = subprocess.Popen(["nsenter", f"--net={NETNS_DIR}/{a.netns}", "sleep", "300"],
                               start_new_session=True)
    await network.run("ip", "netns", "add", f"{cfg.prefix}-pod-0123456789ab")
    assert sleeper.pid in await network.netns_pids(a.netns)
    await network.cleanup_leftovers(cfg)
    assert await asyncio.to_thread(sleeper.wait, 10) == -9
    assert leftovers(cfg) == []
    # Idempotent.
    await network.cleanup_leftovers(cfg)
    await network.teardown(cfg)
