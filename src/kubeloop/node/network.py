"""The cluster network: a host bridge, one network namespace per node, routes between them.

This is what kind gets from docker, done with plain network namespaces and iproute2:

* a bridge (``kl0``) in the host namespace holding the first address of the cluster CIDR
  (172.30.0.1/24); node agents reach the API server there;
* per node a namespace ``{prefix}-node-{name}`` joined to the bridge by a veth pair (host end
  ``{prefix}n{index}``, node end ``eth0`` = 172.30.0.(10+index)/24, default route via the
  bridge address), with a pod bridge ``cni0`` holding the first address of the node's pod
  CIDR (the index-th /24 of the pod CIDR, 10.244.<index>.0/24) and IPv4 forwarding enabled
  in that namespace only;
* routes: host -> every node's pod CIDR via that node, and node -> every other node's pod
  CIDR via that node (``connect_nodes``), so pods reach pods, nodes and the host bridge, and
  the host reaches every pod, without forwarding in the host namespace.

It owns only objects named with the configured prefix: it never touches the host's other
interfaces, routes or sysctls. Pod sandboxes (veths on ``cni0``, pod namespaces) belong to
``kubeloop.node.sandbox``; ``teardown``/``cleanup_leftovers`` still remove every namespace
carrying the prefix, pods included, so a crash leaves nothing behind. All commands run as
asyncio subprocesses; nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import signal
import time
import weakref
from dataclasses import dataclass
from typing import Any

NETNS_DIR = "/run/netns"
IFNAMSIZ = 15
POD_BRIDGE = "cni0"
NODE_IF = "eth0"

_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]*$")


class NetworkError(RuntimeError):
    """A network operation failed; the message carries the failing command and its stderr."""


@dataclass(frozen=True)
class NetworkConfig:
    """Address plan and naming of one cluster network. Every name it creates starts with prefix."""

    cluster_cidr: str = "172.30.0.0/24"
    pod_cidr: str = "10.244.0.0/16"
    bridge: str = "kl0"
    prefix: str = "kl"

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise ValueError(f"invalid network prefix {self.prefix!r}: lowercase letters and digits")
        if not 0 < len(self.bridge) <= IFNAMSIZ:
            raise ValueError(f"bridge name {self.bridge!r} must have 1..{IFNAMSIZ} characters")
        cluster = ipaddress.ip_network(self.cluster_cidr)
        pods = ipaddress.ip_network(self.pod_cidr)
        if cluster.version != 4 or pods.version != 4:
            raise ValueError("only IPv4 cluster and pod CIDRs are supported")
        if cluster.prefixlen > 27:
            raise ValueError(f"cluster CIDR {self.cluster_cidr} is too small")
        if pods.prefixlen > 23:
            raise ValueError(f"pod CIDR {self.pod_cidr} must hold at least two /24 node ranges")
        if cluster.overlaps(pods):
            raise ValueError("cluster CIDR and pod CIDR overlap")

    # -- addresses -----------------------------------------------------------------------
    @property
    def cluster_network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cluster_cidr)

    @property
    def host_address(self) -> str:
        """The bridge's address: the nodes' default gateway and where they reach the API server."""
        return str(self.cluster_network.network_address + 1)

    @property
    def max_nodes(self) -> int:
        cluster_room = self.cluster_network.num_addresses - 2 - 10
        pod_room: int = 1 << (24 - ipaddress.IPv4Network(self.pod_cidr).prefixlen)
        return min(cluster_room, pod_room)

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.max_nodes:
            raise ValueError(f"node index {index} out of range 0..{self.max_nodes - 1}")

    def node_address(self, index: int) -> str:
        self._check_index(index)
        return str(self.cluster_network.network_address + 10 + index)

    def node_pod_cidr(self, index: int) -> str:
        self._check_index(index)
        base = ipaddress.IPv4Network(self.pod_cidr).network_address + index * 256
        return f"{base}/24"

    def node_pod_gateway(self, index: int) -> str:
        return str(ipaddress.IPv4Network(self.node_pod_cidr(index)).network_address + 1)

    # -- names ---------------------------------------------------------------------------
    def node_netns(self, name: str) -> str:
        return f"{self.prefix}-node-{name}"

    def host_link(self, index: int) -> str:
        return f"{self.prefix}n{index}"

    @property
    def netns_prefix(self) -> str:
        """Every namespace of this network (nodes and pods) starts with this."""
        return f"{self.prefix}-"

    def owns_host_link(self, ifname: str) -> bool:
        return ifname == self.bridge or re.fullmatch(rf"{re.escape(self.prefix)}n\d+", ifname) is not None


@dataclass(frozen=True)
class NodeNet:
    """One node's place in the network. ``gateway`` is the pods' default gateway (cni0)."""

    name: str
    netns: str
    address: str
    pod_cidr: str
    gateway: str
    index: int = 0
    prefix: str = "kl"

    @property
    def pod_bridge(self) -> str:
        return POD_BRIDGE

    @property
    def netns_path(self) -> str:
        return f"{NETNS_DIR}/{self.netns}"


# -- command helpers ---------------------------------------------------------------------

async def run(*argv: str, input: str | None = None, check: bool = True) -> tuple[int, str, str]:
    """Run a command without blocking the loop; raise NetworkError on failure when check."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(input.encode() if input is not None else None)
    rc = proc.returncode if proc.returncode is not None else -1
    if check and rc != 0:
        detail = err.decode(errors="replace").strip()
        if input:
            detail += "\n  batch:\n    " + "\n    ".join(input.splitlines())
        raise NetworkError(f"{' '.join(argv)} failed ({rc}): {detail}")
    return rc, out.decode(errors="replace"), err.decode(errors="replace")


async def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    argv = ["ip"] + (["-n", netns] if netns else []) + list(args)
    return (await run(*argv, check=check))[1]


async def ip_batch(lines: list[str], netns: str | None = None, force: bool = False) -> None:
    """Run several ip commands in one process (``ip -batch -``). force: go on after errors."""
    if not lines:
        return
    argv = ["ip"] + (["-n", netns] if netns else []) + (["-force"] if force else []) + ["-batch", "-"]
    await run(*argv, input="\n".join(lines) + "\n", check=not force)


async def ip_json(*args: str, netns: str | None = None) -> list[dict[str, Any]]:
    out = await ip("-j", *args, netns=netns)
    out = out.strip()
    if not out:
        return []
    data = json.loads(out)
    return data if isinstance(data, list) else []


async def link_exists(ifname: str, netns: str | None = None) -> bool:
    rc, _, _ = await run(*(["ip"] + (["-n", netns] if netns else []) + ["link", "show", "dev", ifname]),
                         check=False)
    return rc == 0


async def list_netns(prefix: str) -> list[str]:
    """Names of network namespaces (in /run/netns) starting with prefix."""
    def _scan() -> list[str]:
        try:
            return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
        except FileNotFoundError:
            return []
    return await asyncio.to_thread(_scan)


async def netns_pids(netns: str) -> list[int]:
    rc, out, _ = await run("ip", "netns", "pids", netns, check=False)
    if rc != 0:
        return []
    return [int(x) for x in out.split() if x.isdigit()]


async def delete_netns(netns: str) -> None:
    if os.path.exists(f"{NETNS_DIR}/{netns}"):
        await run("ip", "netns", "delete", netns, check=False)


# -- serialisation of topology changes ---------------------------------------------------

_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = weakref.WeakKeyDictionary()


def _lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


# -- public API --------------------------------------------------------------------------

async def ensure_bridge(cfg: NetworkConfig) -> None:
    """Create the host bridge with the cluster gateway address if it is missing; idempotent."""
    async with _lock():
        await _ensure_bridge_locked(cfg)


async def _ensure_bridge_locked(cfg: NetworkConfig) -> None:
    prefixlen = cfg.cluster_network.prefixlen
    lines = []
    if not await link_exists(cfg.bridge):
        lines.append(f"link add {cfg.bridge} type bridge")
    lines += [
        f"addr replace {cfg.host_address}/{prefixlen} dev {cfg.bridge}",
        f"link set dev {cfg.bridge} up",
    ]
    await ip_batch(lines)


async def guard_routes(cfg: NetworkConfig, service_cidrs: list[str]) -> None:
    """Keep cluster traffic on this machine: the pod CIDR is unreachable except through a live
    node's /24 route (so a stopped node's pods fail fast instead of following the host's default
    route), and service ranges go to the cluster bridge, where the service proxy's DNAT picks
    them up (an address with no rule goes nowhere)."""
    lines = [f"route replace unreachable {cfg.pod_cidr}"]
    lines += [f"route replace {cidr} dev {cfg.bridge}" for cidr in service_cidrs]
    await ip_batch(lines)


async def remove_guard_routes(cfg: NetworkConfig, service_cidrs: list[str]) -> None:
    lines = [f"route del unreachable {cfg.pod_cidr}"]
    lines += [f"route del {cidr} dev {cfg.bridge}" for cidr in service_cidrs]
    await ip_batch(lines, force=True)


async def create_node(cfg: NetworkConfig, name: str, index: int) -> NodeNet:
    """Create node ``name`` (namespace, veth to the bridge, cni0, forwarding) and route to it."""
    if not _NAME_RE.match(name) or len(name) > 200:
        raise ValueError(f"invalid node name {name!r}")
    host_if = cfg.host_link(index)
    if len(host_if) > IFNAMSIZ:
        raise ValueError(f"host link name {host_if!r} longer than {IFNAMSIZ}; use a shorter prefix")
    netns = cfg.node_netns(name)
    node = NodeNet(
        name=name,
        netns=netns,
        address=cfg.node_address(index),
        pod_cidr=cfg.node_pod_cidr(index),
        gateway=cfg.node_pod_gateway(index),
        index=index,
        prefix=cfg.prefix,
    )
    await ensure_bridge(cfg)
    if os.path.exists(f"{NETNS_DIR}/{netns}"):
        raise NetworkError(f"network namespace {netns} already exists")
    if await link_exists(host_if):
        raise NetworkError(f"host link {host_if} already exists (node index {index} in use)")
    await run("ip", "netns", "add", netns)
    try:
        await ip_batch([
            f"link add {host_if} type veth peer name {NODE_IF} netns {netns}",
            f"link set dev {host_if} master {cfg.bridge} up",
        ])
        cluster_len = cfg.cluster_network.prefixlen
        await ip_batch([
            "link set dev lo up",
            f"addr add {node.address}/{cluster_len} dev {NODE_IF}",
            f"link set dev {NODE_IF} up",
            f"route add default via {cfg.host_address} dev {NODE_IF}",
            f"link add {POD_BRIDGE} type bridge",
            f"addr add {node.gateway}/24 dev {POD_BRIDGE}",
            f"link set dev {POD_BRIDGE} up",
        ], netns=netns)
        # /proc/sys/net is resolved against the opening process's namespace: this changes
        # forwarding inside the node namespace only.
        await run("nsenter", f"--net={NETNS_DIR}/{netns}", "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
    except BaseException:
        await _remove_node(cfg, netns, host_if)
        raise
    await connect_nodes(cfg)
    return node


async def _node_from_netns(cfg: NetworkConfig, netns: str) -> NodeNet | None:
    """Rebuild a NodeNet from what the kernel holds (crash-safe: no state file)."""
    try:
        addrs = await ip_json("-4", "addr", "show", netns=netns)
    except NetworkError:
        return None
    by_if: dict[str, str] = {}
    for link in addrs:
        for a in link.get("addr_info", []):
            if a.get("family") == "inet":
                by_if.setdefault(link.get("ifname", ""), a["local"])
    address, gateway = by_if.get(NODE_IF), by_if.get(POD_BRIDGE)
    if not address or not gateway:
        return None
    index = int(ipaddress.IPv4Address(address)) - int(cfg.cluster_network.network_address) - 10
    name = netns[len(f"{cfg.prefix}-node-"):]
    pod_cidr = str(ipaddress.IPv4Network(f"{gateway}/24", strict=False))
    return NodeNet(name, netns, address, pod_cidr, gateway, index, cfg.prefix)


async def list_nodes(cfg: NetworkConfig) -> list[NodeNet]:
    """Every complete node of this network, as found in the kernel."""
    names = await list_netns(f"{cfg.prefix}-node-")
    found = await asyncio.gather(*(_node_from_netns(cfg, n) for n in names))
    return sorted((n for n in found if n is not None), key=lambda n: n.index)


async def get_node(cfg: NetworkConfig, name: str) -> NodeNet | None:
    netns = cfg.node_netns(name)
    if not os.path.exists(f"{NETNS_DIR}/{netns}"):
        return None
    return await _node_from_netns(cfg, netns)


async def _sync_routes(desired: dict[str, str], dev: str, pod_cidr: str, netns: str | None) -> None:
    current = await ip_json("-4", "route", "show", "root", pod_cidr, "dev", dev, netns=netns)
    lines = []
    for route in current:
        dst = route.get("dst", "")
        if dst not in desired or route.get("gateway") != desired[dst]:
            lines.append(f"route del {dst} dev {dev}")
    lines += [f"route replace {dst} via {via} dev {dev}" for dst, via in sorted(desired.items())]
    await ip_batch(lines, netns=netns, force=True)


async def connect_nodes(cfg: NetworkConfig) -> None:
    """Make the pod-CIDR routes match the existing nodes (host -> all, node -> every other)."""
    async with _lock():
        nodes = await list_nodes(cfg)
        jobs = []
        if await link_exists(cfg.bridge):
            jobs.append(_sync_routes({n.pod_cidr: n.address for n in nodes}, cfg.bridge, cfg.pod_cidr, None))
        for node in nodes:
            others = {n.pod_cidr: n.address for n in nodes if n.name != node.name}
            jobs.append(_sync_routes(others, NODE_IF, cfg.pod_cidr, node.netns))
        await asyncio.gather(*jobs)


async def _remove_node(cfg: NetworkConfig, netns: str, host_if: str | None) -> None:
    if os.path.exists(f"{NETNS_DIR}/{netns}"):
        # Deleting eth0 removes the host end at once (the namespace itself dies lazily).
        await run("ip", "-n", netns, "link", "del", NODE_IF, check=False)
    if host_if and await link_exists(host_if):
        await run("ip", "link", "del", host_if, check=False)
    await delete_netns(netns)


async def delete_node(cfg: NetworkConfig, name: str) -> None:
    """Remove a node's namespace and links and the routes to its pod CIDR. Pods go first."""
    node = await get_node(cfg, name)
    await _remove_node(cfg, cfg.node_netns(name), cfg.host_link(node.index) if node else None)
    await connect_nodes(cfg)


async def teardown(cfg: NetworkConfig) -> None:
    """Remove everything carrying the prefix: namespaces (pods and nodes), host links, bridge
    and the host routes to the pod CIDR. Processes still inside are not killed (see
    ``cleanup_leftovers``)."""
    async with _lock():
        names = await list_netns(cfg.netns_prefix)
        pods = [n for n in names if n.startswith(f"{cfg.prefix}-pod-")]
        others = [n for n in names if n not in pods]
        for group in (pods, others):
            # Deleting eth0 first removes each veth pair synchronously.
            await asyncio.gather(*(run("ip", "-n", n, "link", "del", NODE_IF, check=False) for n in group))
            await asyncio.gather(*(delete_netns(n) for n in group))
        if await link_exists(cfg.bridge):
            routes = await ip_json("-4", "route", "show", "root", cfg.pod_cidr, "dev", cfg.bridge)
            await ip_batch([f"route del {r['dst']} dev {cfg.bridge}" for r in routes if "dst" in r], force=True)
        links = await ip_json("link", "show")
        own = [l["ifname"] for l in links if cfg.owns_host_link(l.get("ifname", ""))]
        # Host veth ends first, then the bridge.
        own.sort(key=lambda n: n == cfg.bridge)
        for ifname in own:
            await run("ip", "link", "del", ifname, check=False)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


async def kill_netns_processes(netns: str, timeout: float = 10.0) -> list[int]:
    """SIGKILL every process whose network namespace is ``netns``; wait until they are gone."""
    me = os.getpid()
    pids = [p for p in await netns_pids(netns) if p != me]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    delay = 0.002
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)
    return pids


async def cleanup_leftovers(cfg: NetworkConfig) -> None:
    """After a crash: kill processes still inside the prefix's namespaces, then teardown."""
    names = await list_netns(cfg.netns_prefix)
    # Pods first: killing a pod's PID 1 takes its whole PID namespace with it.
    names.sort(key=lambda n: not n.startswith(f"{cfg.prefix}-pod-"))
    for netns in names:
        await kill_netns_processes(netns)
    await teardown(cfg)
