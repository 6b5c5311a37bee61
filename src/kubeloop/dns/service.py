"""ClusterDNS: the cluster DNS component, kept current from the API by informers.

Owns: the informers (Services, EndpointSlices, Namespaces, the `kube-system/coredns`
ConfigMap, and Pods only in `pods verified` mode), turning their changes into record updates
(`ZoneRecords.set_service` for just the services touched, then `AnswerTable.refresh` for just
the names touched, on the next loop iteration: milliseconds after the watch event), the
Corefile's life cycle (created with kind's default when missing; every edit applied live:
the new zone and answers are built alongside the old ones, a few hundred services per loop
turn, and swapped in at once, so queries are answered throughout), and reporting the
Corefile's warnings as Events on the ConfigMap.

Must not: import the apiserver or storage; everything comes through the client.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubeloop.api import errors
from kubeloop.api.registry import by_plural
from kubeloop.client.events import EventRecorder
from kubeloop.client.informer import Informer
from kubeloop.client.rest import Client

from .corefile import Corefile, CorefileError, default_corefile, parse_corefile
from .forward import Forwarder
from .records import REVERSE_ZONES, ZoneRecords, absolute, endpoint_views, service_view, slice_service
from .resolver import Resolver
from .server import AnswerTable, DNSServer

log = logging.getLogger("kubeloop.dns")
Obj = dict[str, Any]
CHUNK = 250


class ClusterDNS:
    def __init__(self, client: Client, *, listen: list[tuple[str, int]], cluster_domain: str = "cluster.local",
                 upstreams: list[str] | None = None, resolv_conf: str = "/etc/resolv.conf",
                 forward_timeout: float = 2.0, configmap: tuple[str, str] = ("kube-system", "coredns"),
                 create_configmap: bool = True, record_events: bool = True) -> None:
        """`listen`: (address, port) pairs, port 0 for a free one (UDP and TCP share it).
        `upstreams`: the `forward` targets written into a Corefile this creates (default: the
        host's resolv.conf); `resolv_conf`: the file a Corefile's `/etc/resolv.conf` means."""
        self.client = client
        self.cluster_domain = cluster_domain.strip(".") or "cluster.local"
        self.upstreams = upstreams
        self.resolv_conf = resolv_conf
        self.forward_timeout = forward_timeout
        self.cm_namespace, self.cm_name = configmap
        self.create_configmap = create_configmap
        self.server = DNSServer(listen)
        self.recorder = EventRecorder(client, "coredns") if record_events else None
        self.corefile: Corefile | None = None
        self.corefile_text = ""
        self.warnings: list[str] = []
        self.zone = ZoneRecords(self.cluster_domain)
        self.table = AnswerTable(self.zone)
        self._settings: dict[str, Any] | None = None
        self._shadow: frozenset[str] = frozenset()
        self._forwarders: dict[tuple, Forwarder] = {}
        self._services = Informer(client, by_plural("services"))
        self._slices = Informer(client, by_plural("endpointslices"))
        self._namespaces = Informer(client, by_plural("namespaces"))
        self._configmaps = Informer(client, by_plural("configmaps"), namespace=self.cm_namespace,
                                    field_selector=f"metadata.name={self.cm_name}")
        self._pods: Informer | None = None
        self._slices_of: dict[str, set[str]] = {}
        self._dirty: set[str] = set()
        self._rebuild_dirty: set[str] | None = None
        self._flush_scheduled = False
        self._config_dirty = False
        self._config_task: asyncio.Task[None] | None = None
        self._main: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._reported: tuple[str, ...] = ()
        self.last_update = 0.0

    # -- life cycle -----------------------------------------------------------------------------

    @property
    def bound_addresses(self) -> list[tuple[str, int]]:
        return list(self.server.bound_addresses)

    @property
    def ready(self) -> bool:
        return self.server.ready

    async def start(self) -> None:
        """Listen at once (SERVFAIL until synced), then sync in the background."""
        await self.server.start()
        self._services.add_handler(self._on_service)
        self._slices.add_handler(self._on_slice)
        self._namespaces.add_handler(self._on_namespace)
        self._configmaps.add_handler(self._on_configmap)
        for inf in (self._services, self._slices, self._namespaces, self._configmaps):
            inf.start()
        self._main = asyncio.get_running_loop().create_task(self._sync(), name="cluster-dns-sync")

    async def wait_ready(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def stop(self) -> None:
        for t in (self._main, self._config_task):
            if t is not None and not t.done():
                t.cancel()
                try:
                    await t
                except (asyncio.CancelledError, Exception):
                    pass
        for inf in (self._services, self._slices, self._namespaces, self._configmaps, self._pods):
            if inf is not None:
                await inf.stop()
        await self.server.stop()
        for f in self._forwarders.values():
            f.close()
        self._forwarders.clear()
        if self.recorder is not None:
            try:
                await asyncio.wait_for(self.recorder.flush(), 2.0)
            except asyncio.TimeoutError:
                pass  # events are diagnostics: never hold up a shutdown for them

    async def _sync(self) -> None:
        await asyncio.gather(self._services.wait_synced(), self._slices.wait_synced(),
                             self._namespaces.wait_synced(), self._configmaps.wait_synced())
        if self._configmaps.get(f"{self.cm_namespace}/{self.cm_name}") is None and self.create_configmap:
            await self._create_configmap()
        self._config_dirty = True
        self._dirty.clear()  # the first build reads every service
        await self._apply_configs()
        self.server.ready = True
        self._ready.set()
        if self._dirty:
            self._flush()
        if self._config_dirty:  # edited while the first build ran
            self._config_task = asyncio.get_running_loop().create_task(self._apply_configs())
        log.info("cluster DNS ready on %s for %s (%d services)", self.bound_addresses, self.cluster_domain,
                 len(self.zone.service_keys()))

    async def _create_configmap(self) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": self.cm_name, "namespace": self.cm_namespace},
                "data": {"Corefile": default_corefile(self.cluster_domain, self.upstreams)}}
        try:
            await self.client.create(by_plural("configmaps"), self.cm_namespace, body)
        except errors.AlreadyExists:
            pass
        except Exception as e:  # the default applies anyway; the user just cannot see it yet
            log.warning("could not create ConfigMap %s/%s: %s", self.cm_namespace, self.cm_name, e)

    # -- informer handlers ----------------------------------------------------------------------

    def _mark(self, key: str) -> None:
        self._dirty.add(key)
        if self._rebuild_dirty is not None:
            self._rebuild_dirty.add(key)
        if not self._flush_scheduled and self.server.ready:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _on_service(self, key: str, old: Obj | None, new: Obj | None) -> None:
        self._mark(key)

    def _on_slice(self, key: str, old: Obj | None, new: Obj | None) -> None:
        before = slice_service(old) if old else None
        after = slice_service(new) if new else None
        if before and before != after:
            s = self._slices_of.get(before)
            if s is not None:
                s.discard(key)
                if not s:
                    del self._slices_of[before]
        if after:
            self._slices_of.setdefault(after, set()).add(key)
        for svc in {before, after} - {None}:
            self._mark(svc)  # type: ignore[arg-type]

    def _on_namespace(self, key: str, old: Obj | None, new: Obj | None) -> None:
        self.zone.set_namespace(key, new is not None)
        self.server.invalidate()

    def _on_pod(self, key: str, old: Obj | None, new: Obj | None) -> None:
        self.zone.set_pod(key, *self._pod_args(new))
        self.server.invalidate()

    @staticmethod
    def _pod_args(pod: Obj | None) -> tuple[str | None, list[str]]:
        if pod is None:
            return None, []
        status = pod.get("status") or {}
        ips = [p.get("ip") for p in status.get("podIPs") or [] if p.get("ip")] or \
              ([status["podIP"]] if status.get("podIP") else [])
        return pod["metadata"].get("namespace") or "default", ips

    def _on_configmap(self, key: str, old: Obj | None, new: Obj | None) -> None:
        if key != f"{self.cm_namespace}/{self.cm_name}":
            return
        self._config_dirty = True
        if self.server.ready and (self._config_task is None or self._config_task.done()):
            self._config_task = asyncio.get_running_loop().create_task(self._apply_configs(), name="cluster-dns-config")

    # -- record updates -------------------------------------------------------------------------

    def _apply_service(self, zone: ZoneRecords, key: str) -> set[tuple[str, int]]:
        obj = self._services.get(key)
        view = service_view(obj) if obj is not None else None
        eps = []
        if view is not None and view.kind == "Headless":
            for sk in self._slices_of.get(key, ()):
                s = self._slices.get(sk)
                if s is not None:
                    eps += endpoint_views(s)
        return zone.set_service(key, view, eps)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, set()
        changed: set[tuple[str, int]] = set()
        for key in dirty:
            changed |= self._apply_service(self.zone, key)
        if changed:
            self.table.refresh(changed)
        self.server.invalidate()
        self.last_update = asyncio.get_running_loop().time()

    # -- the Corefile ---------------------------------------------------------------------------

    def _read_corefile(self) -> tuple[str, Obj | None]:
        cm = self._configmaps.get(f"{self.cm_namespace}/{self.cm_name}")
        if cm is None:
            return default_corefile(self.cluster_domain, self.upstreams), None
        return str((cm.get("data") or {}).get("Corefile") or ""), cm

    async def _apply_configs(self) -> None:
        while self._config_dirty:
            self._config_dirty = False
            try:
                await self._apply_config()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("applying the Corefile failed; the previous configuration stays")

    async def _apply_config(self) -> None:
        text, cm = self._read_corefile()
        try:
            corefile = parse_corefile(text, resolv_conf=self.resolv_conf)
        except CorefileError as e:
            self._report(cm, "InvalidCorefile", [f"Corefile not applied: {e}"])
            if self.corefile is not None:
                return
            corefile = parse_corefile(default_corefile(self.cluster_domain, self.upstreams), resolv_conf=self.resolv_conf)
        settings, shadow = self._zone_settings(corefile)
        warnings = list(corefile.warnings) + self._drop_self_forwarding(corefile)
        if settings != self._settings or shadow != self._shadow:
            zone, table = await self._rebuild(settings, shadow)
            self.zone, self.table = zone, table
            self._settings, self._shadow = settings, shadow
            await self._pods_informer(settings["pods"] == "verified" if corefile.kubernetes else False)
        else:
            zone, table = self.zone, self.table
        resolver = Resolver(corefile, zone, forward_timeout=self.forward_timeout, forwarders=self._forwarders)
        self.server.install(table.entries if corefile.kubernetes else {}, resolver)
        for key in set(self._forwarders) - resolver.forwarder_keys():
            self._forwarders.pop(key).close()
        self.corefile, self.corefile_text, self.warnings = corefile, text, warnings
        self._report(cm, "UnsupportedCorefile", warnings)

    def _zone_settings(self, corefile: Corefile) -> tuple[dict[str, Any], frozenset[str]]:
        kube = corefile.kubernetes
        if kube is None:
            return {"zone": self.cluster_domain, "reverse_zones": (), "pods": "disabled", "ttl": 5,
                    "endpoint_pod_names": False, "fallthrough": None}, frozenset()
        block, k = kube
        forward_zones = [z for z in k.zones if not z.endswith(".arpa.") and z != "."]
        reverse = tuple(z for z in k.zones if z.endswith(".arpa."))
        zone = forward_zones[0] if forward_zones else absolute(self.cluster_domain)
        if len(forward_zones) > 1:
            corefile.warnings.append(f"kubernetes: only the zone {zone} is served; {forward_zones[1:]} ignored")
        if "." in k.zones:
            corefile.warnings.append("kubernetes: the root zone cannot be the cluster zone; "
                                     f"serving {zone} and the reverse zones")
            reverse = reverse or REVERSE_ZONES
        shadow: set[str] = set()
        if block.hosts is not None:
            shadow = set(block.hosts.entries) | set(block.hosts.reverse())
        settings = {"zone": zone, "reverse_zones": reverse, "pods": k.pods, "ttl": k.ttl,
                    "endpoint_pod_names": k.endpoint_pod_names,
                    "fallthrough": None if k.fallthrough is None else tuple(k.fallthrough)}
        return settings, frozenset(shadow)

    def _drop_self_forwarding(self, corefile: Corefile) -> list[str]:
        own = set(self.server.bound_addresses)
        warnings = []
        for b in corefile.blocks:
            if b.forward is None:
                continue
            loops = [u for u in b.forward.to if u in own]
            if loops:
                b.forward.to = [u for u in b.forward.to if u not in own]
                warnings.append(f"forward: {', '.join(f'{h}:{p}' for h, p in loops)} is this DNS server "
                                "itself (a forwarding loop); not used")
        return warnings

    async def _rebuild(self, settings: dict[str, Any], shadow: frozenset[str]) -> tuple[ZoneRecords, AnswerTable]:
        """A new zone and answer table from the informer caches, yielding to queries as it goes."""
        self._rebuild_dirty = set()
        try:
            zone = ZoneRecords(**settings)
            for ns in self._namespaces.keys():
                zone.set_namespace(ns, True)
            keys = self._services.keys()
            for i, key in enumerate(keys):
                self._apply_service(zone, key)
                if i % CHUNK == CHUNK - 1:
                    await asyncio.sleep(0)
            table = AnswerTable(zone, shadow)
            zkeys = zone.keys()
            for i in range(0, len(zkeys), CHUNK * 4):
                table.refresh(zkeys[i:i + CHUNK * 4])
                await asyncio.sleep(0)
            # Catch up with what changed meanwhile, without yielding: nothing can change during this.
            changed: set[tuple[str, int]] = set()
            for key in self._rebuild_dirty:
                changed |= self._apply_service(zone, key)
            table.refresh(changed)
            for ns in self._namespaces.keys():
                zone.set_namespace(ns, True)
            if self._pods is not None:
                for key in self._pods.keys():
                    zone.set_pod(key, *self._pod_args(self._pods.get(key)))
            return zone, table
        finally:
            self._rebuild_dirty = None

    async def _pods_informer(self, wanted: bool) -> None:
        if wanted and self._pods is None:
            self._pods = Informer(self.client, by_plural("pods"))
            self._pods.add_handler(self._on_pod)
            self._pods.start()
            await self._pods.wait_synced()
        elif not wanted and self._pods is not None:
            await self._pods.stop()
            self._pods = None

    def _report(self, cm: Obj | None, reason: str, warnings: list[str]) -> None:
        for w in warnings:
            log.warning("Corefile: %s", w)
        key = (reason, *warnings)
        if not warnings or key == self._reported:
            if not warnings:
                self._reported = ()
            return
        self._reported = key
        if self.recorder is not None and cm is not None:
            for w in warnings:
                self.recorder.record(cm, "Warning", reason, w)
