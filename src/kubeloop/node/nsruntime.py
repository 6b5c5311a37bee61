"""NamespaceRuntime: the node agent's Runtime over Linux namespaces (kubeloop.node.sandbox)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .network import NodeNet
from .sandbox import PodSandbox

if TYPE_CHECKING:
    from .agent import AgentConfig


class NamespaceRuntime:
    def __init__(self, config: "AgentConfig") -> None:
        self.node = NodeNet(
            name=config.name, netns=config.node_netns, address=config.node_ip, pod_cidr=config.pod_cidr,
            gateway=_first_host(config.pod_cidr), prefix=config.netns_prefix,
        )

    async def create_sandbox(self, *, pod_uid: str, hostname: str, ip: str, hosts: str, resolv: str,
                             state_dir: Path) -> PodSandbox:
        sandbox = PodSandbox()
        await sandbox.create(self.node, pod_uid, hostname, ip, hosts, resolv, state_dir)
        return sandbox


def _first_host(cidr: str) -> str:
    import ipaddress

    return str(next(ipaddress.ip_network(cidr).hosts()))
