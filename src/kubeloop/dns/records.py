"""Cluster DNS records, as the Kubernetes DNS-Based Service Discovery specification 1.1.0 defines them.

Owns: stripped-down views of Services and EndpointSlices (`service_view`, `endpoint_views`),
the records each Service contributes to the cluster zone (`service_records`), the incremental
index of all of them (`ZoneRecords`), and the answer to a question about a name in the zone
(`ZoneRecords.lookup`): records, NODATA or NXDOMAIN with the zone's SOA, a CNAME to chase,
or "fall through" to the next resolver when the Corefile says so.

Must not: do I/O, know the wire format, or talk to the API. Pure data in, pure data out.

Rules beyond the specification's minimum, all following CoreDNS's kubernetes plugin:
- zone apex: SOA and NS (`ns.dns.<zone>`, whose A record is the kube-system/kube-dns
  ClusterIP); `svc.<zone>`, `pod.<zone>` and `<ns>.svc.<zone>` (namespace known) exist and
  answer NODATA; other names NXDOMAIN.
- an SRV question for `<svc>.<ns>.svc.<zone>` itself lists every port of the service.
- an endpoint without a hostname is named by its address with dashes (10-244-1-5), or by its
  pod's name with `endpoint_pod_names`.
- headless SRV records carry the EndpointSlice's port numbers (the ports the pods listen on).
- pod records `<a-b-c-d>.<ns>.pod.<zone>` in `pods insecure` (any address, namespace known)
  and `pods verified` (a pod with that address in that namespace) modes.
Deliberately stricter than CoreDNS: empty non-terminals (`_tcp.<svc>.<ns>.svc.<zone>`) answer
NODATA, not NXDOMAIN (RFC 8020), and only the SRV type is answered at SRV names.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

A, NS, CNAME, SOA, PTR, TXT, AAAA, SRV, OPT, ANY = 1, 2, 5, 6, 12, 16, 28, 33, 41, 255
TYPE_NAMES = {A: "A", NS: "NS", CNAME: "CNAME", SOA: "SOA", PTR: "PTR", TXT: "TXT", AAAA: "AAAA", SRV: "SRV",
              OPT: "OPT", ANY: "ANY"}
NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3

SCHEMA_VERSION = "1.1.0"
DEFAULT_TTL = 5
TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
REVERSE_ZONES = ("in-addr.arpa.", "ip6.arpa.")

Obj = dict[str, Any]
Key = tuple[str, int]  # (lower-case absolute name, type)


@dataclass(frozen=True, slots=True)
class RR:
    """One resource record. `data` by type: A/AAAA an address; CNAME/PTR/NS a name;
    SRV (priority, weight, port, target); TXT a tuple of strings; SOA (mname, rname,
    serial, refresh, retry, expire, minimum); any type: raw rdata bytes."""
    name: str
    rtype: int
    ttl: int
    data: Any


@dataclass(frozen=True, slots=True)
class Port:
    name: str
    port: int
    protocol: str = "tcp"  # lower case, as in the SRV name


@dataclass(frozen=True, slots=True)
class ServiceView:
    namespace: str
    name: str
    kind: str  # "ClusterIP" (also NodePort/LoadBalancer), "Headless", "ExternalName", "" (no address yet)
    cluster_ips: tuple[str, ...] = ()
    external_name: str = ""
    ports: tuple[Port, ...] = ()
    publish_not_ready: bool = False


@dataclass(frozen=True, slots=True)
class EndpointView:
    addresses: tuple[str, ...]
    ready: bool = True
    hostname: str = ""
    pod_name: str = ""
    ports: tuple[Port, ...] = ()  # the EndpointSlice's ports


@dataclass
class Answer:
    rcode: int
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)
    chase: str | None = None     # a CNAME target still to resolve (question type is not CNAME)
    fallthrough: bool = False    # the kubernetes zone does not know it; the next resolver decides


# -- names ---------------------------------------------------------------------------------

def absolute(name: str) -> str:
    """Lower case, one trailing dot, no leading dot: the form every name takes here."""
    name = name.strip().lower().strip(".")
    return name + "." if name else "."


def in_zone(name: str, zone: str) -> bool:
    return zone == "." or name == zone or name.endswith("." + zone)


def reverse_name(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer + "."


def dashed(ip: str) -> str:
    """The system-assigned hostname of an endpoint without one: its address with dashes."""
    if ":" in ip:
        h = ip.replace(":", "-")
        return h + "0" if h.endswith("-") else ("0" + h if h.startswith("-") else h)
    return ip.replace(".", "-")


def _ip_order(ip: str) -> tuple[int, int]:
    a = ipaddress.ip_address(ip)
    return a.version, int(a)


def _canonical_ip(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None


# -- views of API objects ---------------------------------------------------------------------

def _ports(items: Any) -> tuple[Port, ...]:
    out = []
    for p in items or []:
        if not isinstance(p, dict) or p.get("port") is None:
            continue
        try:
            out.append(Port(str(p.get("name") or ""), int(p["port"]), str(p.get("protocol") or "TCP").lower()))
        except (TypeError, ValueError):
            continue
    return tuple(out)


def service_view(obj: Obj) -> ServiceView:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    ns, name = meta.get("namespace") or "default", meta["name"]
    annotations = meta.get("annotations") or {}
    pnr = bool(spec.get("publishNotReadyAddresses")) or str(annotations.get(TOLERATE_UNREADY, "")).lower() == "true"
    ports = _ports(spec.get("ports"))
    if spec.get("type") == "ExternalName":
        return ServiceView(ns, name, "ExternalName", external_name=absolute(spec.get("externalName") or ""),
                           ports=ports, publish_not_ready=pnr)
    cluster_ip = spec.get("clusterIP")
    if cluster_ip == "None":
        return ServiceView(ns, name, "Headless", ports=ports, publish_not_ready=pnr)
    ips = [ip for ip in (spec.get("clusterIPs") or ([cluster_ip] if cluster_ip else [])) if ip and ip != "None"]
    canon = tuple(c for c in (_canonical_ip(ip) for ip in ips) if c)
    return ServiceView(ns, name, "ClusterIP" if canon else "", cluster_ips=canon, ports=ports, publish_not_ready=pnr)


def slice_service(obj: Obj) -> str | None:
    """`<ns>/<service>` of an EndpointSlice, from its kubernetes.io/service-name label."""
    meta = obj.get("metadata") or {}
    svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return f"{meta.get('namespace') or 'default'}/{svc}" if svc else None


def endpoint_views(obj: Obj) -> list[EndpointView]:
    if obj.get("addressType", "IPv4") not in ("IPv4", "IPv6"):
        return []  # FQDN slices carry no addresses DNS can serve
    ports = _ports(obj.get("ports"))
    out = []
    for ep in obj.get("endpoints") or []:
        if not isinstance(ep, dict):
            continue
        addrs = tuple(c for c in (_canonical_ip(a) for a in ep.get("addresses") or []) if c)
        if not addrs:
            continue
        ready = (ep.get("conditions") or {}).get("ready")
        ref = ep.get("targetRef") or {}
        out.append(EndpointView(addrs, ready is None or bool(ready), str(ep.get("hostname") or ""),
                                str(ref.get("name") or "") if ref.get("kind", "Pod") == "Pod" else "", ports))
    return out


# -- records of one service -------------------------------------------------------------------

def _srv_weights(recs: dict[Key, list[Any]]) -> None:
    for key, items in recs.items():
        if key[1] == SRV:
            w = max(1, 100 // len(items))
            recs[key] = [(0, w, port, target) for (_, _, port, target) in items]


def service_records(svc: ServiceView, endpoints: Iterable[EndpointView], zone: str = "cluster.local.", *,
                    endpoint_pod_names: bool = False) -> tuple[dict[Key, tuple[Any, ...]], set[str]]:
    """The records one service puts in the zone, and the names they make exist (with empty
    non-terminals such as `_tcp.<svc>.<ns>.svc.<zone>`). Reverse (PTR) records included."""
    base = f"{svc.name}.{svc.namespace}.svc.{zone}".lower()
    recs: dict[Key, list[Any]] = {}

    def add(name: str, rtype: int, data: Any) -> None:
        recs.setdefault((name, rtype), []).append(data)

    if svc.kind == "ExternalName":
        target = svc.external_name
        if target != "." and _canonical_ip(target.rstrip(".")) is None:
            add(base, CNAME, target)
    elif svc.kind == "ClusterIP":
        for ip in svc.cluster_ips:
            add(base, AAAA if ":" in ip else A, ip)
            add(reverse_name(ip), PTR, base)
        for p in svc.ports:
            add(base, SRV, (0, 0, p.port, base))
            if p.name:
                add(f"_{p.name}._{p.protocol}.{base}".lower(), SRV, (0, 0, p.port, base))
    elif svc.kind == "Headless":
        eps = [e for e in endpoints if e.ready or svc.publish_not_ready]
        for ep in sorted(eps, key=lambda e: _ip_order(e.addresses[0])):
            for ip in ep.addresses:
                host = ep.hostname or (ep.pod_name if endpoint_pod_names and ep.pod_name else dashed(ip))
                fqdn = f"{host}.{base}".lower()
                rtype = AAAA if ":" in ip else A
                add(base, rtype, ip)
                add(fqdn, rtype, ip)
                add(reverse_name(ip), PTR, fqdn)
                for p in ep.ports:
                    add(base, SRV, (0, 0, p.port, fqdn))
                    if p.name:
                        add(f"_{p.name}._{p.protocol}.{base}".lower(), SRV, (0, 0, p.port, fqdn))
    _srv_weights(recs)
    out = {k: tuple(dict.fromkeys(v)) for k, v in recs.items()}
    names: set[str] = set()
    for name, _ in out:
        if name.endswith(".arpa."):
            names.add(name)
            continue
        names.add(name)
        while name != base and name.endswith("." + base):  # empty non-terminals up to the service name
            name = name.split(".", 1)[1]
            names.add(name)
    return out, names


# -- the zone ---------------------------------------------------------------------------------

class ZoneRecords:
    """Every record of the cluster zone (and the reverse zones), updated one service at a time.

    `set_service` / `set_namespace` / `set_pod` return the (name, type) keys whose records
    changed, so a wire-format cache can rebuild just those."""

    def __init__(self, zone: str = "cluster.local", *, ttl: int = DEFAULT_TTL,
                 reverse_zones: Iterable[str] = REVERSE_ZONES, pods: str = "disabled",
                 endpoint_pod_names: bool = False, fallthrough: Iterable[str] | None = None,
                 serial: int | None = None) -> None:
        self.zone = absolute(zone)
        self.ttl = int(ttl)
        self.reverse_zones = tuple(absolute(z) for z in reverse_zones)
        self.pods = pods
        self.endpoint_pod_names = endpoint_pod_names
        # None: never; empty: every zone of the plugin; else only names in these zones.
        self.fallthrough = None if fallthrough is None else tuple(absolute(z) for z in fallthrough)
        self.serial = int(time.time()) & 0xFFFFFFFF if serial is None else serial
        self._contrib: dict[str, tuple[dict[Key, tuple[Any, ...]], set[str], str]] = {}
        self._records: dict[Key, dict[str, tuple[Any, ...]]] = {}
        self._names: dict[str, int] = {}
        self._ns_services: dict[str, int] = {}
        self._namespaces: set[str] = set()
        self._pod_ips: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._ns_ips: dict[tuple[str, str], int] = {}
        self._dns_ips: tuple[str, ...] = ()
        z = self.zone
        self._static_names = {z, "svc." + z, "pod." + z, "dns." + z, "ns.dns." + z, "dns-version." + z,
                              *self.reverse_zones}

    # -- updates ------------------------------------------------------------------------------

    def set_service(self, key: str, svc: ServiceView | None, endpoints: Iterable[EndpointView] = ()) -> set[Key]:
        old_recs, old_names, old_ns = self._contrib.pop(key, ({}, set(), ""))
        if svc is not None:
            new_recs, new_names = service_records(svc, endpoints, self.zone, endpoint_pod_names=self.endpoint_pod_names)
            ns = svc.namespace.lower()
        else:
            new_recs, new_names, ns = {}, set(), ""
        if svc is not None:
            self._contrib[key] = (new_recs, new_names, ns)
        changed: set[Key] = set()
        if new_recs != old_recs:
            # A service's records refer to each other (SRV targets and their addresses in the
            # additional section), so any change re-renders all of them.
            changed = set(old_recs) | set(new_recs)
            for k in old_recs:
                holders = self._records.get(k)
                if holders is not None:
                    holders.pop(key, None)
                    if not holders:
                        del self._records[k]
            for k, v in new_recs.items():
                self._records.setdefault(k, {})[key] = v
        for n in old_names - new_names:
            c = self._names[n] - 1
            if c:
                self._names[n] = c
            else:
                del self._names[n]
        for n in new_names - old_names:
            self._names[n] = self._names.get(n, 0) + 1
        if old_ns != ns:
            if old_ns:
                c = self._ns_services[old_ns] - 1
                if c:
                    self._ns_services[old_ns] = c
                else:
                    del self._ns_services[old_ns]
            if ns:
                self._ns_services[ns] = self._ns_services.get(ns, 0) + 1
        if key == "kube-system/kube-dns":
            ips = svc.cluster_ips if svc is not None and svc.kind == "ClusterIP" else ()
            if ips != self._dns_ips:
                self._dns_ips = ips
                changed |= {("ns.dns." + self.zone, A), ("ns.dns." + self.zone, AAAA)}
        return changed

    def set_namespace(self, name: str, exists: bool) -> None:
        if exists:
            self._namespaces.add(name.lower())
        else:
            self._namespaces.discard(name.lower())

    def set_pod(self, key: str, namespace: str | None, ips: Iterable[str] = ()) -> None:
        old = self._pod_ips.pop(key, None)
        if old is not None:
            for ip in old[1]:
                k = (old[0], ip)
                c = self._ns_ips[k] - 1
                if c:
                    self._ns_ips[k] = c
                else:
                    del self._ns_ips[k]
        if namespace is not None:
            canon = tuple(c for c in (_canonical_ip(ip) for ip in ips) if c)
            self._pod_ips[key] = (namespace.lower(), canon)
            for ip in canon:
                k = (namespace.lower(), ip)
                self._ns_ips[k] = self._ns_ips.get(k, 0) + 1

    # -- reading ------------------------------------------------------------------------------

    def keys(self) -> list[Key]:
        """Every (name, type) with records: what a wire cache prepares answers for."""
        z = self.zone
        static = [(z, SOA), (z, NS), ("dns-version." + z, TXT)] + [(r, SOA) for r in self.reverse_zones] + \
                 [(r, NS) for r in self.reverse_zones]
        if self._dns_ips:
            static += [("ns.dns." + z, A), ("ns.dns." + z, AAAA)]
        return static + list(self._records)

    def soa(self, zone: str | None = None) -> RR:
        z = zone or self.zone
        return RR(z, SOA, self.ttl, ("ns.dns." + z, "hostmaster." + z, self.serial, 7200, 1800, 86400, self.ttl))

    def records(self, name: str, rtype: int) -> list[RR]:
        name = absolute(name)
        ttl = self.ttl
        holders = self._records.get((name, rtype))
        if holders:
            seen: dict[Any, None] = {}
            for k in sorted(holders):
                for d in holders[k]:
                    seen[d] = None
            return [RR(name, rtype, ttl, d) for d in seen]
        z = self.zone
        if name == z or name in self.reverse_zones:
            if rtype == SOA:
                return [self.soa(name)]
            if rtype == NS:
                return [RR(name, NS, ttl, "ns.dns." + name)]
        elif name == "dns-version." + z and rtype == TXT:
            return [RR(name, TXT, ttl, (SCHEMA_VERSION,))]
        elif name == "ns.dns." + z and rtype in (A, AAAA):
            return [RR(name, rtype, ttl, ip) for ip in self._dns_ips if (":" in ip) == (rtype == AAAA)]
        return []

    def _all_records(self, name: str) -> list[RR]:
        out: list[RR] = []
        for rtype in (A, AAAA, CNAME, SRV, PTR, TXT, SOA, NS):
            out += self.records(name, rtype)
        return out

    def namespace_known(self, ns: str) -> bool:
        return ns in self._namespaces or ns in self._ns_services

    def exists(self, name: str) -> bool:
        name = absolute(name)
        if name in self._names or name in self._static_names:
            return True
        z = self.zone
        if name.endswith(".svc." + z):
            rel = name[:-len(".svc." + z)]
            return "." not in rel and self.namespace_known(rel)
        if name.endswith(".pod." + z) and self.pods != "disabled":
            rel = name[:-len(".pod." + z)]
            return "." not in rel and self.namespace_known(rel)
        return False

    def zone_of(self, name: str) -> str | None:
        """The zone of this index that holds `name` (longest match), or None."""
        best = None
        for z in (self.zone, *self.reverse_zones):
            if in_zone(name, z) and (best is None or len(z) > len(best)):
                best = z
        return best

    def _falls_through(self, name: str) -> bool:
        if self.fallthrough is None:
            return False
        return not self.fallthrough or any(in_zone(name, z) for z in self.fallthrough)

    def additional_for(self, rrs: list[RR]) -> list[RR]:
        out: list[RR] = []
        seen: set[str] = set()
        for rr in rrs:
            if rr.rtype == SRV and rr.data[3] not in seen:
                seen.add(rr.data[3])
                out += self.records(rr.data[3], A) + self.records(rr.data[3], AAAA)
        return out

    def _pod(self, name: str, qtype: int) -> Answer | None:
        if self.pods == "disabled":
            return None
        rel = name[:-len(".pod." + self.zone)] if name.endswith(".pod." + self.zone) else ""
        parts = rel.split(".")
        if len(parts) != 2 or not self.namespace_known(parts[1]):
            return None
        label, ns = parts
        ip = _canonical_ip(label.replace("-", ".")) if label.count("-") == 3 else None
        if ip is None or ":" in ip:
            ip = _canonical_ip(label.replace("-", ":"))
        if ip is None:
            return None
        if self.pods == "verified" and (ns, ip) not in self._ns_ips:
            return None
        rtype = AAAA if ":" in ip else A
        if qtype in (rtype, ANY):
            return Answer(NOERROR, [RR(name, rtype, self.ttl, ip)])
        return Answer(NOERROR, authority=[self.soa()])

    def lookup(self, qname: str, qtype: int) -> Answer | None:
        """The answer for a question, or None when the name is in none of this index's zones."""
        name = absolute(qname)
        zone = self.zone_of(name)
        if zone is None:
            return None
        rrs = self._all_records(name) if qtype == ANY else self.records(name, qtype)
        if rrs:
            return Answer(NOERROR, rrs, [], self.additional_for(rrs))
        if zone == self.zone:
            cname = self.records(name, CNAME)
            if cname:
                return Answer(NOERROR, cname, chase=cname[0].data)
            if self.exists(name):
                return Answer(NOERROR, authority=[self.soa(zone)])
            pod = self._pod(name, qtype)
            if pod is not None:
                return pod
        elif name == zone or (name, PTR) in self._records:
            return Answer(NOERROR, authority=[self.soa(zone)])
        if self._falls_through(name):
            return Answer(NXDOMAIN, authority=[self.soa(zone)], fallthrough=True)
        return Answer(NXDOMAIN, authority=[self.soa(zone)])

    # -- bulk -----------------------------------------------------------------------------------

    def service_keys(self) -> list[str]:
        return list(self._contrib)
