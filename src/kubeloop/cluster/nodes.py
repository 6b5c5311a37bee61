"""Nodes: each a network namespace on the cluster bridge running its own node agent process.

`NodeSet` creates a node's network (kubeloop.node.network), issues its certificates, writes
the agent's configuration (readable by root only) and starts
`python -m kubeloop.node.agent` inside the node's namespace, waiting for it to say
"ready". `stop_node` kills the agent and every process of its pods and takes the node's
link down, the way a machine dies; `start_node` brings it back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from kubeloop.node import network
from kubeloop.node.agent import AgentConfig

from .pki import Pki

log = logging.getLogger(__name__)

AGENT_START_TIMEOUT = 30.0


@dataclass
class NodeProcess:
    name: str
    index: int
    net: network.NodeNet | None = None
    process: asyncio.subprocess.Process | None = None


class NodeSet:
    def __init__(self, *, netcfg: network.NetworkConfig, keys: Pki, data_dir: Path, api_port: int,
                 cluster_domain: str, dns_ip: str, heartbeat: float, say: Callable[[str], None]) -> None:
        self.netcfg = netcfg
        self.keys = keys
        self.data_dir = data_dir
        self.api_port = api_port
        self.cluster_domain = cluster_domain
        self.dns_ip = dns_ip
        self.heartbeat = heartbeat
        self.say = say
        self.nodes: dict[str, NodeProcess] = {}

    def names(self) -> list[str]:
        return list(self.nodes)

    async def add(self, name: str) -> None:
        index = len(self.nodes)
        node = NodeProcess(name, index)
        self.nodes[name] = node
        await self.start_node(name)

    async def start_node(self, name: str) -> None:
        node = self.nodes[name]
        if node.process is not None and node.process.returncode is None:
            return
        node.net = await network.create_node(self.netcfg, name, node.index)
        await network.connect_nodes(self.netcfg)
        config = self._agent_config(node.net)
        node_dir = self.data_dir / "nodes" / name
        node_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        cfg_path = node_dir / "agent.json"
        fd = os.open(cfg_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(config), f)
        log_file = open(node_dir / "agent.log", "ab")
        try:
            # nsenter --net, not `ip netns exec`: the latter gives the agent a private mount
            # namespace, which would hide the pod namespaces it creates (their /run/netns mounts)
            # from the host, and from cleanup after a crash.
            node.process = await asyncio.create_subprocess_exec(
                "nsenter", f"--net={node.net.netns_path}", sys.executable, "-m", "kubeloop.node.agent", str(cfg_path),
                stdout=asyncio.subprocess.PIPE, stderr=log_file, start_new_session=True,
            )
        finally:
            log_file.close()
        assert node.process.stdout is not None
        try:
            line = await asyncio.wait_for(node.process.stdout.readline(), AGENT_START_TIMEOUT)
        except asyncio.TimeoutError:
            line = b""
        if line.strip() != b"ready":
            tail = (node_dir / "agent.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"node agent {name} did not start:\n{tail}")
        self.say(f"node {name} ready at {node.net.address} (pods {node.net.pod_cidr})")

    def _agent_config(self, net: network.NodeNet) -> AgentConfig:
        cert, key = self.keys.issue_node_cert(net.name)
        serving_cert, serving_key = self.keys.issue_serving_cert(f"system:node:{net.name}", ips=[net.address],
                                                                 names=[net.name])
        return AgentConfig(
            name=net.name, node_ip=net.address, pod_cidr=net.pod_cidr,
            server=f"https://{self.netcfg.host_address}:{self.api_port}",
            ca_pem=self.keys.ca_pem().decode(), cert_pem=cert.decode(), key_pem=key.decode(),
            serving_cert_pem=serving_cert.decode(), serving_key_pem=serving_key.decode(),
            state_dir=str(self.data_dir / "nodes" / net.name), cluster_domain=self.cluster_domain,
            dns_ip=self.dns_ip, netns_prefix=self.netcfg.prefix, node_netns=net.netns,
            heartbeat_seconds=self.heartbeat, cluster_pod_cidr=self.netcfg.pod_cidr,
        )

    async def stop_node(self, name: str, *, graceful: bool = False) -> None:
        """Stop a node: gracefully (the agent stops its pods) or as a crash (everything killed)."""
        node = self.nodes[name]
        proc = node.process
        if proc is not None and proc.returncode is None:
            if graceful:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except asyncio.TimeoutError:
                    pass
            if proc.returncode is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await proc.wait()
        node.process = None
        # The node's pods die with it: every process in its pod namespaces, then the namespaces.
        await network.delete_node(self.netcfg, name)
        await self._delete_pod_namespaces(name)

    async def _delete_pod_namespaces(self, name: str) -> None:
        """Kill what is left of a dead node's pods and remove their namespaces and state."""
        from kubeloop.node.sandbox import pod_netns_name

        pods_dir = self.data_dir / "nodes" / name / "pods"
        if not pods_dir.is_dir():
            return
        for pod_dir in pods_dir.iterdir():
            netns = pod_netns_name(self.netcfg.prefix, pod_dir.name)
            await network.kill_netns_processes(netns)
            await network.delete_netns(netns)
            await asyncio.to_thread(shutil.rmtree, pod_dir, True)

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop_node(n, graceful=True) for n in list(self.nodes)), return_exceptions=True)
