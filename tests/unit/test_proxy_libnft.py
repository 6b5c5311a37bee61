"""Unit tests of kubeloop.proxy.nft's backends and of the rendered rules under real traffic,
as root, in throwaway network namespaces (``klnft-*``): libnftables (ctypes) and the nft tool
apply, check and list the same scripts with the same errors; the library's worker enters the
target namespace for a call only; and connections to a cluster IP are spread over the
endpoints by the endpoint map (each pick counted on its element) or held by session affinity.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from conftest import require
from kubeloop.proxy.model import EndpointInfo, ServicePortInfo
from kubeloop.proxy.nft import Nft, NftError, library
from kubeloop.proxy.rules import GLOBAL, RenderConfig, RuleState, global_fragment, service_fragment

pytestmark = pytest.mark.root
NETNS_PREFIX = "klnft"  # throwaway namespaces: see conftest.netns

CFG = RenderConfig(node_name="n1", node_ips=("172.30.0.11",), cluster_cidr="10.244.0.0/16")




def require_library() -> None:
    require(library() is not None, "libnftables cannot be loaded")




def state(ports: list[tuple[ServicePortInfo, list[EndpointInfo]]]) -> RuleState:
    st = RuleState(CFG)
    ups: dict[str, Any] = {GLOBAL: global_fragment(CFG)}
    for p, eps in ports:
        ups[p.key] = service_fragment(p, eps, CFG)
    st.update(ups, render=False)
    return st


def listing_of(netns: str) -> str:
    return subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "table", "ip", "kubeloop"],
                          capture_output=True, text=True, check=True).stdout


def test_library_and_tool_apply_the_same_scripts(netns: str) -> None:
    require_library()
    p = ServicePortInfo("default", "web", "http", "TCP", "10.96.0.10", 80)
    st = state([(p, [EndpointInfo("10.244.1.5", 8080), EndpointInfo("10.244.2.7", 8080)])])

    async def run() -> None:
        lib, tool = Nft(netns, backend="library"), Nft(netns, backend="tool")
        assert (lib.backend, tool.backend) == ("library", "tool")
        assert await lib.list_table() == ""  # no table yet: no error
        await lib.check(st.full_script(recreate=True))
        assert await lib.list_table() == ""  # a check applies nothing
        await lib.apply(st.full_script(recreate=True))
        st.commit(full=True)
        listed = await lib.list_table()
        assert listed == await tool.list_table() == listing_of(netns)
        assert "0 counter packets 0 bytes 0 : 10.244.1.5 . 8080" in listed
        # Both report nft's own error text, and a failed script changes nothing.
        for nft in (lib, tool):
            with pytest.raises(NftError, match="No such file or directory"):
                await nft.apply("add rule ip kubeloop no-such-chain accept\n")
        assert await lib.list_table() == listed
        # An incremental update through the tool, a resync through the library.
        await tool.apply(st.update({p.key: service_fragment(p, [EndpointInfo("10.244.3.3", 8080)], CFG)}))
        st.commit()
        await lib.apply(st.full_script())
        st.commit(full=True)
        assert "0 counter packets 0 bytes 0 : 10.244.3.3 . 8080" in await tool.list_table()
        await lib.delete_table()
        await lib.delete_table()  # idempotent
        assert "kubeloop" not in await tool.run("list", "tables")
    asyncio.run(run())


def test_library_worker_enters_the_namespace_for_a_call_only(netns: str) -> None:
    require_library()
    lib = library()
    assert lib is not None
    own = os.stat("/proc/self/ns/net").st_ino
    target = os.stat(f"/run/netns/{netns}").st_ino

    def worker_netns() -> int:
        return os.stat("/proc/thread-self/ns/net").st_ino

    async def run() -> None:
        nft = Nft(netns, backend="library")
        seen = await nft._script("list ruleset\n")  # noqa: SLF001 (the namespace's, empty)
        assert "kubeloop" not in seen
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(lib.worker, worker_netns) == own != target
        await nft.apply("add table ip kubeloop\n")
        assert "table ip kubeloop" in subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "tables"],
                                                     capture_output=True, text=True).stdout
        # Back in its own namespace after the call.
        assert await loop.run_in_executor(lib.worker, worker_netns) == own
        with pytest.raises(NftError, match="does not exist"):
            await Nft("klnft-missing", backend="library").apply("add table ip kubeloop\n")
        await Nft("klnft-missing", backend="library").delete_table()  # gone already: fine
        await nft.delete_table()
    asyncio.run(run())


SERVER = r"""
import socket, sys, threading, time
def serve(ip):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, 8080))
    s.listen(128)
    while True:
        c, _ = s.accept()
        c.sendall(ip.encode())
        c.close()
for ip in sys.argv[1:]:
    threading.Thread(target=serve, args=(ip,), daemon=True).start()
print("ready", flush=True)
time.sleep(120)
"""

CLIENT = r"""
import collections, socket, sys
got = collections.Counter()
for _ in range(int(sys.argv[2])):
    s = socket.create_connection((sys.argv[1], 80), timeout=3)
    got[s.recv(100).decode()] += 1
    s.close()
print(" ".join(f"{k}={v}" for k, v in sorted(got.items())))
"""


def test_traffic_is_spread_counted_and_held_by_affinity(netns: str) -> None:
    """Connections from the namespace itself (nat output) to two cluster IPs: the plain one
    reaches both endpoints through the endpoint map, whose elements count the picks; the
    one with ClientIP affinity sends every connection of this client to one endpoint."""
    eps = ["10.244.1.5", "10.244.2.7"]

    def sh(*argv: str) -> None:
        subprocess.run(["ip", "netns", "exec", netns, *argv], check=True)
    sh("ip", "link", "set", "lo", "up")
    for ip in eps:
        sh("ip", "addr", "add", f"{ip}/32", "dev", "lo")
    sh("ip", "route", "add", "10.96.0.0/16", "dev", "lo")
    server = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", SERVER, *eps],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        plain = ServicePortInfo("default", "plain", "", "TCP", "10.96.0.21", 80)
        sticky = ServicePortInfo("default", "sticky", "", "TCP", "10.96.0.22", 80, affinity_timeout=600)
        endpoints = [EndpointInfo(ip, 8080, node_name="n1") for ip in eps]
        st = state([(plain, endpoints), (sticky, endpoints)])
        asyncio.run(Nft(netns).apply(st.full_script(recreate=True)))

        def connect(vip: str, n: int) -> dict[str, int]:
            out = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", CLIENT, vip, str(n)],
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            return {k: int(v) for k, v in (kv.split("=") for kv in out.stdout.split())}
        spread = connect("10.96.0.21", 60)
        assert set(spread) == set(eps), spread
        listing = listing_of(netns)
        counted = {ip: int(n) for n, ip in re.findall(r"counter packets (\d+) bytes \d+ : ([\d.]+) \. 8080", listing)}
        assert counted == spread, listing  # one SYN counted per connection, on its element
        held = connect("10.96.0.22", 20)
        assert len(held) == 1 and sum(held.values()) == 20, held
        (ip,) = held
        per_rule = [int(n) for n in re.findall(r"counter packets (\d+) bytes \d+ dnat to " + re.escape(ip) + ":",
                                               listing_of(netns))]
        assert sum(per_rule) == 20, listing_of(netns)
    finally:
        server.kill()
        server.wait()
