"""The service proxy: Services + EndpointSlices (+ Nodes) -> nftables, kept current.

``Proxier`` watches the API through informers, tracks which services changed, and applies
only their changes (``rules.RuleState.update``) as one nft transaction, in the network
namespace it was given. A bounded-frequency runner coalesces bursts (at most one sync per
``min_sync_interval``), repeats a full sync every ``full_sync_interval`` (repairs drift), and
retries failed applies with backoff, switching to a full sync -- and, when a full sync failed,
to replacing the table -- and reporting a Warning Event on the node. The first sync replaces
whatever table a previous run left behind; ``stop`` deletes the table.

Network programming latency: for every EndpointSlice change the proxier notes when it saw
it; when the rules containing it are live it records the difference (``latency_summary``).

Modes
-----
Node (``node_name``, ``node_ips``, ``netns`` of the node): ClusterIP, NodePort on the node's
addresses, external IPs, load-balancer IPs (handled like external IPs), Local traffic
policies against endpoints whose ``nodeName`` is this node.

Host (``host=True``, usually ``netns=None``): the host network namespace is not a node but
where the user's shell lives. Cluster IPs and external IPs work as on a node; a
load-balancer IP is the cloud load balancer: its connections are spread over the NodePorts
of *live* nodes -- Ready in the API (``Ready=True``, an InternalIP, not labelled
``node.kubernetes.io/exclude-from-external-load-balancers``) and answering an active probe
every ``health_check_interval`` (a TCP connect to the node address: an answer, even a
refusal, means the node's network is up; a timeout or unreachable host, twice in a row,
takes the node out until it answers again). For ``externalTrafficPolicy: Local`` only live
nodes with a ready local endpoint receive traffic (what ``healthCheckNodePort`` tells a
cloud load balancer). So when a node dies (S4) its namespace and address vanish, the probe
fails within ~2 s, the host's rules stop sending load-balancer traffic there, and the
EXTERNAL-IP keeps answering through the other nodes, while ``<dead node address>:<nodePort>``
no longer answers; when the node lifecycle controller later marks it NotReady the node stays
out for that reason too.

Pod bridge and conntrack (the PAWS pitfall)
-------------------------------------------
Traffic between two pods of one node is bridged on ``pod_bridge``. When bridged traffic
passes through netfilter (br_netfilter, ``bridge-nf-call-iptables=1`` in the node's namespace:
checked at start), conntrack sees both the direct path to a pod and the DNAT path through its
service, so the reply of a same-node service connection is un-DNATed, and when both paths
would give the pod the same 4-tuple, NAT's clash check gives the service connection another
source port -- so the pod's TIME_WAIT sockets never see a SYN whose TCP timestamps belong to
the other path (the PAWS drop and 1 s retry of the performance notes, reproduced by the
integration test when the direct path is hidden from conntrack). When bridged traffic skips
netfilter, the proxier masquerades service connections that enter and leave through the pod
bridge (``bridge_masquerade``; the pod then sees the bridge address), which restores both.

Health endpoints (``health_server``, the node agent's proxier): kube-proxy's ``:10256/healthz``,
a server on each ``healthCheckNodePort`` of this node (see ``healthcheck``), updated after
every successful sync, and ``:10249/metrics`` with kube-proxy's metric names (network
programming latency, sync durations).

It never touches the API server's storage or other components' memory: all it knows comes
from the informers.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import deque
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from kubeloop.api.registry import by_plural
from kubeloop.client.informer import Informer
from kubeloop.client.tasks import cancel_and_wait

from .conntrack import Conntrack, Flow, stale_flows
from .healthcheck import HealthServer, ProxyHealth, ServiceHealth
from .model import (EndpointInfo, ServicePortInfo, endpoints_for, local_endpoints, service_ports,
                    slice_service_key)
from .nft import Nft, netns_path
from .rules import (GLOBAL, TABLE, Fragment, RenderConfig, RuleState, gc_paused, global_fragment,
                    service_fragment)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
BRIDGE_NF = "/proc/sys/net/bridge/bridge-nf-call-iptables"
HEALTH_PROBE_PORT = 10256  # kube-proxy's healthz port; a refusal also proves the node is up


class LatencyHistogram:
    """Cumulative buckets (Prometheus-style, seconds) plus the latest samples for quantiles."""

    BOUNDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

    def __init__(self, keep: int = 10000) -> None:
        self.counts = [0] * (len(self.BOUNDS) + 1)
        self.total = 0
        self.sum = 0.0
        self.recent: deque[float] = deque(maxlen=keep)

    def observe(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.counts[bisect.bisect_left(self.BOUNDS, seconds)] += 1
        self.total += 1
        self.sum += seconds
        self.recent.append(seconds)

    def summary(self) -> dict[str, Any]:
        samples = sorted(self.recent)

        def q(p: float) -> float:
            if not samples:
                return 0.0
            return samples[min(len(samples) - 1, int(p * len(samples)))] * 1000

        buckets: dict[str, int] = {}
        running = 0
        for bound, n in zip(list(self.BOUNDS) + [float("inf")], self.counts):
            running += n
            buckets["+Inf" if bound == float("inf") else f"{bound:g}"] = running
        return {
            "count": self.total,
            "mean_ms": (self.sum / self.total * 1000) if self.total else 0.0,
            "p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99),
            "max_ms": samples[-1] * 1000 if samples else 0.0,
            "buckets": buckets,
        }

    def exposition(self, name: str, help_text: str) -> list[str]:
        """The histogram in the Prometheus text format."""
        lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        lines += [f'{name}_bucket{{le="{le}"}} {n}' for le, n in self.summary()["buckets"].items()]
        return lines + [f"{name}_sum {self.sum:.6f}", f"{name}_count {self.total}"]


class Proxier:
    """Programs one table ``ip kubeloop`` in ``netns`` (None: this process's namespace)."""

    def __init__(self, client: Any, *, node_name: str = "", node_ips: Iterable[str] = (),
                 netns: str | None = None, cluster_cidr_for_masquerade: str = "", host: bool = False,
                 table: str = TABLE, min_sync_interval: float = 0.01, full_sync_interval: float = 60.0,
                 retry_interval: float = 0.5, health_check_interval: float = 1.0, counters: bool = True,
                 pod_bridge: str = "cni0", bridge_masquerade: bool | None = None,
                 informers: Mapping[str, Informer] | None = None, nft: Nft | None = None,
                 health_server: bool = False, conntrack: Conntrack | None = None) -> None:
        self.client = client
        self.node_name = "" if host else node_name
        self.host = host
        self.cfg = RenderConfig(table=table, node_name=self.node_name,
                                node_ips=() if host else tuple(node_ips),
                                cluster_cidr=cluster_cidr_for_masquerade, host=host, counters=counters)
        self.netns = netns
        self.pod_bridge = pod_bridge
        self.bridge_masquerade = bridge_masquerade
        self.nft = nft or Nft(netns, table)
        self.min_sync_interval = min_sync_interval
        self.full_sync_interval = full_sync_interval
        self.retry_interval = retry_interval
        self.health_check_interval = health_check_interval
        self.state = RuleState(self.cfg)

        shared = dict(informers or {})
        wanted = ["services", "endpointslices"] + (["nodes"] if host else [])
        self._own_informers = [p for p in wanted if p not in shared]
        self.informers: dict[str, Informer] = {
            p: shared.get(p) or Informer(client, by_plural(p)) for p in wanted}

        self._slices: dict[str, dict[str, Obj]] = {}  # service key -> slice key -> slice
        self._slice_owner: dict[str, str] = {}  # slice key -> service key
        self._ports: dict[str, set[str]] = {}  # service key -> fragment keys
        self._lb_services: set[str] = set()  # service keys with LB IPs (host mode)
        self._dirty: set[str] = set()
        self._seen: dict[str, float] = {}  # service key -> first unsynced endpoint change
        self._need_full = True
        self._need_recreate = True
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._started = False
        self._last_sync = 0.0
        self._node_ready: dict[str, str] = {}  # Ready-in-API node name -> address
        self._node_failures: dict[str, int] = {}  # consecutive failed probes
        self._live: dict[str, str] = {}
        self.latency = LatencyHistogram()
        self.sync_durations = LatencyHistogram(keep=0)
        self.stats: dict[str, Any] = {"syncs": 0, "full_syncs": 0, "failures": 0, "last_sync_s": 0.0,
                                      "last_full_sync_s": 0.0, "last_error": ""}
        self._recorder: Any = None
        # Health endpoints are served from this process, so only where it runs in the node's
        # own namespace (the node agent); service key -> its health check port and state.
        self.health: HealthServer | None = None
        self._want_health = health_server and not host
        self._health_checks: dict[str, tuple[int, ServiceHealth]] = {}
        self._health_dirty = False
        self._last_ok: datetime | None = None
        self._failing = ""
        # UDP service ports: their endpoint addresses as last synced, and the conntrack
        # entries to delete once the next sync is live (see ``conntrack``).
        self.conntrack = conntrack or Conntrack(netns)
        self._udp: dict[str, tuple[ServicePortInfo, frozenset[str]]] = {}
        self._stale: list[Flow] = []

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self, timeout: float = 30.0) -> None:
        """Start the informers, apply the first full sync (rules live on return), start the
        runner."""
        if self._started:
            return
        self._started = True
        try:
            await self._start(timeout)
        except BaseException:
            await self.stop(delete_rules=False)  # a failed first transaction left nothing
            raise

    async def _start(self, timeout: float) -> None:
        if not self.host and self.pod_bridge:
            masq = self.bridge_masquerade
            if masq is None:
                masq = not await self._bridge_netfilter()
            if masq:
                self.cfg = replace(self.cfg, masquerade_bridges=(self.pod_bridge,))
                self.state = RuleState(self.cfg)
        self.informers["services"].add_handler(self._on_service)
        self.informers["endpointslices"].add_handler(self._on_slice)
        if self.host:
            self.informers["nodes"].add_handler(self._on_node)
        for inf in self.informers.values():
            inf.start()
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(inf.wait_synced() for inf in self.informers.values()))
        if self.host:
            self._live = self._compute_live()
        self._seen.clear()  # the initial state is no endpoint change
        if self._want_health:
            self.health = HealthServer(self._proxy_health, self.metrics_text)
            await self.health.start()
        await self._sync(full=True)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="proxier")
        if self.host and self.health_check_interval > 0:
            self._health_task = asyncio.get_running_loop().create_task(self._health_loop(), name="proxier-health")

    async def stop(self, delete_rules: bool = True) -> None:
        """Stop syncing; delete the table unless ``delete_rules`` is False."""
        for task in (self._task, self._health_task):
            await cancel_and_wait(task)
        self._task = self._health_task = None
        for plural in self._own_informers:
            await self.informers[plural].stop()
        if self._recorder is not None:
            await self._recorder.flush()
        if self.health is not None:
            await self.health.stop()
            self.health = None
        if delete_rules:
            await self.nft.delete_table()
        self._started = False

    async def _bridge_netfilter(self) -> bool:
        """Does bridged traffic in our namespace pass through netfilter (br_netfilter with
        bridge-nf-call-iptables=1)? Then conntrack sees pod-to-pod traffic on the bridge."""
        argv = ["cat", BRIDGE_NF]
        if self.netns is not None:
            path = netns_path(self.netns)
            argv = ["nsenter", f"--net={path}"] + argv
        try:
            proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.DEVNULL)
            out, _ = await proc.communicate()
        except OSError:
            return False
        return proc.returncode == 0 and out.strip() == b"1"

    def latency_summary(self) -> dict[str, Any]:
        """Network programming latency (endpoint change seen -> rules applied): count,
        mean/p50/p90/p99/max in ms and cumulative buckets in seconds."""
        return self.latency.summary()

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Return once every change seen so far is applied (for tests and benchmarks)."""
        async with asyncio.timeout(timeout):
            while self._dirty or self._seen or self._need_full or not self._idle.is_set():
                self._idle.clear()
                self._wake.set()
                await self._idle.wait()

    def live_nodes(self) -> dict[str, str]:
        """Host mode: the nodes (name -> address) load-balancer traffic goes to."""
        return dict(self._live)

    # -- event handlers (quick: they only mark work) -------------------------------------
    def _mark(self, svc_key: str) -> None:
        self._dirty.add(svc_key)
        self._idle.clear()
        self._wake.set()

    def _on_service(self, key: str, old: Obj | None, new: Obj | None) -> None:
        self._mark(key)

    def _on_slice(self, key: str, old: Obj | None, new: Obj | None) -> None:
        now = time.monotonic()
        owner = slice_service_key(new) if new is not None else ""
        previous = self._slice_owner.get(key)
        if previous and previous != owner:
            bucket = self._slices.get(previous, {})
            bucket.pop(key, None)
            if not bucket:
                self._slices.pop(previous, None)
            self._seen.setdefault(previous, now)
            self._mark(previous)
        if owner:
            self._slice_owner[key] = owner
            self._slices.setdefault(owner, {})[key] = new  # type: ignore[assignment]
            self._seen.setdefault(owner, now)
            self._mark(owner)
        else:
            self._slice_owner.pop(key, None)

    def _on_node(self, key: str, old: Obj | None, new: Obj | None) -> None:
        if new is None:
            self._node_ready.pop(key, None)
        else:
            addr = _node_address(new)
            if _node_ready(new) and addr and EXCLUDE_LB_LABEL not in (new["metadata"].get("labels") or {}):
                self._node_ready[key] = addr
            else:
                self._node_ready.pop(key, None)
        self._refresh_live()

    def _refresh_live(self) -> None:
        live = self._compute_live()
        if live != self._live:
            self._live = live
            for svc in self._lb_services:
                self._mark(svc)

    def _compute_live(self) -> dict[str, str]:
        return {n: a for n, a in self._node_ready.items() if self._node_failures.get(n, 0) < 2}

    # -- building ------------------------------------------------------------------------
    def _lb_targets(self, port: ServicePortInfo, eps: tuple[EndpointInfo, ...]) -> tuple[str, ...]:
        if not (self.host and port.load_balancer_ips and port.node_port):
            return ()
        if port.external_policy_local:
            return tuple(a for n, a in self._live.items() if local_endpoints(eps, n))
        return tuple(self._live.values())

    def _service_updates(self, svc_key: str) -> dict[str, Fragment | None]:
        inf = self.informers["services"]
        svc = inf.get(svc_key)
        ports = service_ports(svc) if svc is not None else []
        slices = list(self._slices.get(svc_key, {}).values())
        updates: dict[str, Fragment | None] = {}
        keys: set[str] = set()
        has_lb = False
        port_eps: list[tuple[ServicePortInfo, tuple[EndpointInfo, ...]]] = []
        for port in ports:
            eps = endpoints_for(port, slices)
            port_eps.append((port, eps))
            has_lb = has_lb or bool(port.load_balancer_ips)
            updates[port.key] = service_fragment(port, eps, self.cfg, self._lb_targets(port, eps))
            keys.add(port.key)
            if port.protocol == "UDP":
                self._note_udp(port, frozenset(e.ip for e in eps))
        for old in self._ports.get(svc_key, set()) - keys:
            updates[old] = None
            if old in self._udp:
                gone, before = self._udp.pop(old)
                self._stale += stale_flows(gone, before, frozenset())
        if keys:
            self._ports[svc_key] = keys
        else:
            self._ports.pop(svc_key, None)
        if has_lb:
            self._lb_services.add(svc_key)
        else:
            self._lb_services.discard(svc_key)
        if self._want_health:
            self._note_health_check(svc_key, port_eps)
        return updates

    def _note_udp(self, port: ServicePortInfo, after: frozenset[str]) -> None:
        previous = self._udp.get(port.key)
        if previous is not None:  # a port seen for the first time has no flows through us yet
            self._stale += stale_flows(port, previous[1], after)
        self._udp[port.key] = (port, after)

    def _note_health_check(self, svc_key: str,
                           port_eps: list[tuple[ServicePortInfo, tuple[EndpointInfo, ...]]]) -> None:
        """The service's health check port and how many ready endpoints it has on this node
        (distinct addresses over its ports, as kube-proxy counts them)."""
        check = next((p.health_check_node_port for p, _ in port_eps if p.health_check_node_port), 0)
        before = self._health_checks.get(svc_key)
        if not check:
            if before is not None:
                del self._health_checks[svc_key]
                self._health_dirty = True
            return
        local = {e.ip for _, eps in port_eps for e in local_endpoints(eps, self.node_name)}
        ns, _, name = svc_key.partition("/")
        now = (check, ServiceHealth(ns, name, len(local)))
        if now != before:
            self._health_checks[svc_key] = now
            self._health_dirty = True

    def metrics_text(self) -> str:
        """kube-proxy's main metrics (same names), Prometheus text format, for :10249/metrics."""
        lines = self.latency.exposition(
            "kubeproxy_network_programming_duration_seconds",
            "In Cluster Network Programming Latency in seconds (endpoint change seen -> rules live)")
        lines += self.sync_durations.exposition("kubeproxy_sync_proxy_rules_duration_seconds",
                                                "SyncProxyRules latency in seconds")
        last = self._last_ok.timestamp() if self._last_ok else 0
        lines += ["# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds The last time proxy rules were "
                  "successfully synced", "# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge",
                  f"kubeproxy_sync_proxy_rules_last_timestamp_seconds {last:.3f}",
                  "# HELP kubeloop_proxy_sync_failures_total Rule syncs that failed (each is retried)",
                  "# TYPE kubeloop_proxy_sync_failures_total counter",
                  f"kubeloop_proxy_sync_failures_total {self.stats['failures']}"]
        return "\n".join(lines) + "\n"

    def _proxy_health(self) -> ProxyHealth:
        return ProxyHealth(healthy=not self._failing, last_updated=self._last_ok, error=self._failing)

    async def _publish_health(self) -> None:
        if self.health is None or not self._health_dirty:
            return
        self._health_dirty = False
        await self.health.set_services({port: h for port, h in self._health_checks.values()})
        for port, why in self.health.failures().items():
            self._report(f"health check port {port}: {why}")

    # -- syncing -------------------------------------------------------------------------
    async def _sync(self, full: bool) -> None:
        start = time.monotonic()
        dirty, self._dirty = self._dirty, set()
        seen, self._seen = self._seen, {}
        full = full or self._need_full
        recreate = self._need_recreate
        try:
            with gc_paused():  # synchronous: nothing else runs meanwhile
                updates: dict[str, Fragment | None] = {}
                if GLOBAL not in self.state.fragments:
                    updates[GLOBAL] = global_fragment(self.cfg)
                for svc_key in dirty:
                    updates.update(self._service_updates(svc_key))
                script = self.state.update(updates, render=not full)
                if full:
                    script = self.state.full_script(recreate=recreate)
            await self.nft.apply(script)
        except BaseException:
            for k, t in seen.items():  # measured again once the rules really are live
                self._seen[k] = min(t, self._seen.get(k, t))
            self._need_full = True
            if full:
                self._need_recreate = True
            raise
        done = time.monotonic()
        self.state.commit(full=full)
        self._need_full = self._need_recreate = False
        self._last_ok, self._failing = datetime.now(timezone.utc), ""
        stale, self._stale = self._stale, []
        await self.conntrack.delete(stale)  # after the rules: new flows must get the new NAT
        await self._publish_health()
        for t in seen.values():
            self.latency.observe(done - t)
        self._last_sync = done
        self.stats["syncs"] += 1
        self.stats["last_sync_s"] = done - start
        self.sync_durations.observe(done - start)
        if full:
            self.stats["full_syncs"] += 1
            self.stats["last_full_sync_s"] = done - start
        if not self._dirty:
            self._idle.set()

    async def _run(self) -> None:
        next_full = time.monotonic() + self.full_sync_interval
        failures = 0
        while True:
            if not self._wake.is_set():
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, next_full - time.monotonic()))
                except asyncio.TimeoutError:
                    pass
            self._wake.clear()
            delay = self._last_sync + self.min_sync_interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # coalesce a burst into one transaction
            full = self._need_full or time.monotonic() >= next_full
            try:
                await self._sync(full)
                failures = 0
                if full:
                    next_full = time.monotonic() + self.full_sync_interval
            except asyncio.CancelledError:
                raise
            except Exception as e:
                failures += 1
                self.stats["failures"] += 1
                self.stats["last_error"] = self._failing = str(e)
                log.warning("service proxy sync failed (attempt %d): %s", failures, e)
                self._report(str(e))
                await asyncio.sleep(min(self.retry_interval * 2 ** (failures - 1), 30.0))
                self._wake.set()

    def _report(self, message: str) -> None:
        if self.host or not self.node_name:
            return
        try:
            if self._recorder is None:
                from kubeloop.client.events import EventRecorder
                self._recorder = EventRecorder(self.client, "kubeloop-proxy", self.node_name)
            node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node_name, "uid": self.node_name}}
            self._recorder.record(node, "Warning", "FailedToSyncProxyRules", message[:1000])
        except Exception as e:  # events are diagnostics: never let them break the proxy
            log.debug("could not report proxy failure: %s", e)

    # -- host mode: active node health -----------------------------------------------------
    async def _probe(self, address: str, timeout: float) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(address, HEALTH_PROBE_PORT), timeout)
        except ConnectionRefusedError:
            return True
        except (OSError, asyncio.TimeoutError):
            return False
        writer.close()
        return True

    async def _health_loop(self) -> None:
        while True:
            nodes = dict(self._node_ready)
            if nodes:
                timeout = max(0.2, min(1.0, self.health_check_interval))
                results = await asyncio.gather(*(self._probe(a, timeout) for a in nodes.values()))
                for name, ok in zip(nodes, results):
                    self._node_failures[name] = 0 if ok else self._node_failures.get(name, 0) + 1
                for name in list(self._node_failures):
                    if name not in self._node_ready:
                        del self._node_failures[name]
                self._refresh_live()
            await asyncio.sleep(self.health_check_interval)


def _node_ready(node: Obj) -> bool:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def _node_address(node: Obj) -> str:
    addrs = (node.get("status") or {}).get("addresses") or []
    for kind in ("InternalIP", "ExternalIP"):
        for a in addrs:
            if a.get("type") == kind and a.get("address") and ":" not in a["address"]:
                return str(a["address"])
    return ""
