"""Stale UDP flows: what the service proxy removes from conntrack when endpoints change.

NAT is decided once per flow, and a UDP "flow" lives as long as datagrams keep coming (30 s
after the last, 120 s once it saw replies). So after a UDP endpoint goes away, a client
that keeps sending from the same port (a DNS resolver, a metrics agent) keeps reaching the
dead address until it pauses; and datagrams sent while a service had no endpoints created
flows without any NAT, which go nowhere once endpoints appear. kube-proxy deletes both kinds
of entries after its rules change, and so does kubeloop, with the ``conntrack`` tool
(conntrack-tools) in the proxy's namespace. TCP needs none of this: a connection to a gone
endpoint fails and the client reconnects, through the new rules.

``conntrack -D`` exits 1 when nothing matched; that is success here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from dataclasses import dataclass

from .model import ServicePortInfo
from .nft import netns_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Flow:
    """Which UDP entries to delete: to ``dst``:``dport`` (any destination when ``dst`` is
    empty: a node port), answered by ``endpoint`` (any when empty: flows without NAT)."""

    dport: int
    dst: str = ""
    endpoint: str = ""

    def argv(self) -> list[str]:
        args = ["-D", "-p", "udp", "--orig-port-dst", str(self.dport)]
        if self.dst:
            args += ["--orig-dst", self.dst]
        if self.endpoint:
            args += ["--reply-src", self.endpoint]
        return args


class Conntrack:
    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self.tool = shutil.which("conntrack") or shutil.which("conntrack", path="/usr/sbin:/sbin")
        self._warned = False

    async def delete(self, flows: list[Flow]) -> None:
        """Delete the entries; a missing tool or a failure is logged, never raised (stale
        flows age out by themselves; the rules are what matter)."""
        if not flows:
            return
        if self.tool is None:
            if not self._warned:
                self._warned = True
                log.warning("conntrack is not installed: stale UDP flows stay until they time out")
            return
        prefix: list[str] = []
        if self.netns is not None:
            path = netns_path(self.netns)
            if not os.path.exists(path):
                return
            prefix = ["nsenter", f"--net={path}"]
        for flow in flows:
            proc = await asyncio.create_subprocess_exec(*prefix, self.tool, *flow.argv(),
                                                        stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            if proc.returncode not in (0, 1):
                log.warning("conntrack %s failed: %s", " ".join(flow.argv()), err.decode(errors="replace").strip())


def stale_flows(port: ServicePortInfo, before: frozenset[str], after: frozenset[str]) -> list[Flow]:
    """The flows to delete when a UDP service port's endpoint addresses go from ``before`` to
    ``after`` (``after`` empty: the port is gone): those answered by a removed endpoint, and,
    when endpoints appear where there were none, the un-NATed ones sent meanwhile."""
    if port.protocol != "UDP":
        return []
    addresses = [a for a in (port.cluster_ip, *port.external_ips, *port.load_balancer_ips) if a]
    flows = []
    for endpoint in sorted(before - after):
        flows += [Flow(port.port, a, endpoint) for a in addresses]
        if port.node_port:
            flows.append(Flow(port.node_port, "", endpoint))
    if after and not before:
        flows += [Flow(port.port, a) for a in addresses]
        if port.node_port:
            flows.append(Flow(port.node_port))
    return flows
