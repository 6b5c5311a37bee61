"""Service admission: Kubernetes 1.32's defaults, validation and IP / node-port allocation.

This module owns what the API server does to a Service between decoding and storage:

* `default_service` fills the fields `SetDefaults_Service` fills (plus the IP-family and
  clusterIP/clusterIPs normalisation the service registry does before validation);
* `prepare_for_update` mirrors the registry's update preparation (keep allocated values the
  client left out, sync clusterIP/clusterIPs, wipe fields the new type no longer uses);
* `validate_service` / `validate_service_update` return Kubernetes' field errors, with its
  wording and field paths, because kubectl rebuilds an Invalid message from the causes alone;
* `ServiceAllocator` hands out cluster IPs and node ports the way the bitmap allocators do
  (random picks above a static band, all-or-nothing per call, Kubernetes' error texts).

Kubernetes allocates *before* it validates (BeginCreate runs before BeforeCreate): default →
(update: `prepare_for_update`) → `allocate`/`update` → validate → store, calling the returned
`Reservation.undo()` when validation or storage fails. Validation tolerates the values
allocation fills in (an empty healthCheckNodePort), so validating first works too.

Pure: no I/O, no clock; the allocator's randomness is injectable. The small format checks
(DNS labels, IPs, ports) are shared with `endpoints`.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from . import names
from .errors import (
    APIError,
    FieldError,
    Invalid,
    InternalError,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
)

Obj = dict[str, Any]
IP = ipaddress.IPv4Address | ipaddress.IPv6Address

__all__ = [
    "DEFAULT_NODE_PORT_RANGE",
    "DEFAULT_SERVICE_CIDR",
    "Reservation",
    "ServiceAllocator",
    "default_service",
    "prepare_for_update",
    "validate_service",
    "validate_service_update",
    # format checks shared with endpoints.py
    "family_of",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_qualified_name",
    "is_valid_cidr",
    "is_valid_ip",
    "is_valid_label_value",
    "is_valid_port_name",
    "is_valid_port_num",
    "parse_ip_sloppy",
    "validate_labels",
    "validate_non_special_ip",
    "validate_object_name",
]

DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_NODE_PORT_RANGE = (30000, 32767)

CLUSTER_IP, NODE_PORT, LOAD_BALANCER, EXTERNAL_NAME = "ClusterIP", "NodePort", "LoadBalancer", "ExternalName"
SERVICE_TYPES = (CLUSTER_IP, EXTERNAL_NAME, LOAD_BALANCER, NODE_PORT)  # sorted, as sets.List prints them
PROTOCOLS = ("SCTP", "TCP", "UDP")
AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
IP_FAMILIES = ("IPv4", "IPv6")
IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
SINGLE_STACK, REQUIRE_DUAL_STACK = "SingleStack", "RequireDualStack"
NONE = "None"  # clusterIP of a headless service

DEFAULT_AFFINITY_TIMEOUT = 10800  # v1.DefaultClientIPServiceAffinitySeconds
MAX_AFFINITY_TIMEOUT = 86400  # core.MaxClientIPServiceAffinitySeconds

ANNOTATION_TOPOLOGY_MODE = "service.kubernetes.io/topology-mode"
ANNOTATION_TOPOLOGY_HINTS = "service.kubernetes.io/topology-aware-hints"
ANNOTATION_SOURCE_RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"

# ---------------------------------------------------------------------------------------------
# Format checks (apimachinery's util/validation), shared with endpoints.py
# ---------------------------------------------------------------------------------------------

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"

_SLOPPY_IPV4 = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")


# The apimachinery name checks live in names.py; these are their names in this module's API.
is_dns1123_label = names.dns1123_label
is_dns1123_subdomain = names.dns1123_subdomain
is_dns1035_label = names.dns1035_label
is_qualified_name = names.qualified_name
is_valid_label_value = names.label_value


is_valid_port_num = names.port_number
is_valid_port_name = names.port_name


def parse_ip_sloppy(value: Any) -> IP | None:
    """Go's ParseIPSloppy: leading zeros allowed in IPv4, no zones; IPv4-mapped IPv6 is IPv4."""
    if not isinstance(value, str) or not value or "%" in value:
        return None
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        m = _SLOPPY_IPV4.fullmatch(value)
        if not m or any(int(g) > 255 for g in m.groups()):
            return None
        return ipaddress.IPv4Address(".".join(str(int(g)) for g in m.groups()))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def family_of(ip: IP) -> str:
    return "IPv6" if ip.version == 6 else "IPv4"


def is_valid_ip(path: str, value: Any) -> list[FieldError]:
    if parse_ip_sloppy(value) is None:
        return [invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    return []


def is_valid_cidr(path: str, value: Any) -> list[FieldError]:
    ok = isinstance(value, str) and "/" in value
    if ok:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            ok = False
    return [] if ok else [invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]


def validate_non_special_ip(value: Any, path: str) -> list[FieldError]:
    """Kubernetes' ValidateNonSpecialIP: no unspecified, loopback or link-local addresses."""
    ip = parse_ip_sloppy(value)
    if ip is None:
        return [invalid(path, value, "must be a valid IP address")]
    errs = []
    if ip.is_unspecified:
        errs.append(invalid(path, value, f"may not be unspecified ({value})"))
    if ip.is_loopback:
        errs.append(invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    if ip.is_link_local:
        errs.append(invalid(path, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    if _is_link_local_multicast(ip):
        errs.append(invalid(path, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
    return errs


def _is_link_local_multicast(ip: IP) -> bool:
    if ip.version == 4:
        return ip in ipaddress.IPv4Network("224.0.0.0/24")
    packed = ip.packed
    return packed[0] == 0xFF and packed[1] & 0x0F == 0x02


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    """metav1 ValidateLabels: every key a qualified name, every value a label value."""
    errs: list[FieldError] = []
    if not isinstance(labels, dict):
        return errs
    for key, value in labels.items():
        errs.extend(invalid(path, key, m) for m in is_qualified_name(str(key)))
        errs.extend(invalid(path, value, m) for m in is_valid_label_value(str(value)))
    return errs


def validate_object_name(obj: Obj, check: Callable[[str], list[str]]) -> list[FieldError]:
    """metadata.name: required, then the kind's name format (`check` returns messages)."""
    name = (obj.get("metadata") or {}).get("name") or ""
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    return [invalid("metadata.name", name, m) for m in check(name)]


def _raw_invalid(path: str, rendered: str, detail: str) -> FieldError:
    """An Invalid cause whose value needs Go's %#v rendering (`[]string{"10.96.0.5"}`)."""
    return FieldError(path, "FieldValueInvalid", f"Invalid value: {rendered}: {detail}")


def _go_slice(type_name: str, values: list[Any] | None) -> str:
    if values is None:
        return f"{type_name}(nil)"
    return type_name + "{" + ", ".join(json.dumps(str(v)) for v in values) + "}"


def _as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# ---------------------------------------------------------------------------------------------
# Small predicates (pkg/api/service helpers)
# ---------------------------------------------------------------------------------------------


def _spec(svc: Obj) -> Obj:
    spec = svc.get("spec")
    return spec if isinstance(spec, dict) else {}


def _ports(spec: Obj) -> list[Obj]:
    return [p if isinstance(p, dict) else {} for p in (spec.get("ports") or [])]


def _cluster_ips(spec: Obj) -> list[str]:
    """clusterIPs as the registry sees them after normalisation (clusterIP fills an empty list)."""
    ips = spec.get("clusterIPs")
    if ips:
        return [str(ip) for ip in ips]
    return [spec["clusterIP"]] if spec.get("clusterIP") else []


def _render_cluster_ips(spec: Obj) -> str:
    ips = _cluster_ips(spec)
    if ips:
        return _go_slice("[]string", ips)
    return _go_slice("[]string", [] if spec.get("clusterIPs") == [] else None)


def _render_families(spec: Obj) -> str:
    fams = spec.get("ipFamilies")
    return _go_slice("[]core.IPFamily", list(fams) if fams is not None else None)


def _is_headless(spec: Obj) -> bool:
    ips = _cluster_ips(spec)
    return len(ips) == 1 and ips[0] == NONE


def _externally_accessible(spec: Obj) -> bool:
    stype = spec.get("type")
    return stype in (LOAD_BALANCER, NODE_PORT) or (stype == CLUSTER_IP and bool(spec.get("externalIPs")))


def _needs_health_check(spec: Obj) -> bool:
    return spec.get("type") == LOAD_BALANCER and spec.get("externalTrafficPolicy") == "Local"


def _needs_cluster_ip(spec: Obj) -> bool:
    return spec.get("type") != EXTERNAL_NAME


def _needs_node_port(spec: Obj) -> bool:
    return spec.get("type") in (NODE_PORT, LOAD_BALANCER)


def _should_allocate_node_ports(spec: Obj) -> bool:
    if spec.get("type") == NODE_PORT:
        return True
    if spec.get("type") == LOAD_BALANCER:
        return spec.get("allocateLoadBalancerNodePorts") is not False
    return False


def _node_ports(spec: Obj) -> list[int]:
    return [n for n in (_as_int(p.get("nodePort")) for p in _ports(spec)) if n]


# ---------------------------------------------------------------------------------------------
# Defaults
# ---------------------------------------------------------------------------------------------


def default_service(svc: Obj) -> None:
    """Apply Kubernetes' Service defaults in place (SetDefaults_Service and the registry's
    create-time normalisation: clusterIPs from clusterIP, ipFamilyPolicy and ipFamilies)."""
    spec = svc.setdefault("spec", {})
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        if client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": DEFAULT_AFFINITY_TIMEOUT}}
    if not spec.get("type"):
        spec["type"] = CLUSTER_IP
    for port in spec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, "") and "port" in port:
            port["targetPort"] = port["port"]
    if _externally_accessible(spec) and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and spec["type"] in (CLUSTER_IP, NODE_PORT, LOAD_BALANCER):
        spec["internalTrafficPolicy"] = "Cluster"
    if spec["type"] == LOAD_BALANCER and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    if spec["type"] != EXTERNAL_NAME:
        _default_ip_families(spec)
    status = svc.get("status")
    if not isinstance(status, dict):
        status = svc["status"] = {}
    if not isinstance(status.get("loadBalancer"), dict):
        status["loadBalancer"] = {}


def _default_ip_families(spec: Obj) -> None:
    """ipFamilyPolicy SingleStack (RequireDualStack for headless without selector, as Kubernetes
    does) and ipFamilies from the requested clusterIPs or IPv4. An IPv6 request is left for
    the allocator, which answers that the family is not configured."""
    headless_no_selector = spec.get("clusterIP") == NONE and not spec.get("selector")
    if spec.get("ipFamilyPolicy") is None:
        spec["ipFamilyPolicy"] = REQUIRE_DUAL_STACK if headless_no_selector else SINGLE_STACK
    families = list(spec.get("ipFamilies") or [])
    if not families:
        for ip in _cluster_ips(spec):
            parsed = parse_ip_sloppy(ip)
            if parsed is None:
                break
            families.append(family_of(parsed))
        if "IPv6" in families:
            return
        families = families or ["IPv4"]
    if headless_no_selector and len(families) < 2 and spec["ipFamilyPolicy"] != SINGLE_STACK:
        families.append("IPv6" if families[0] == "IPv4" else "IPv4")
    spec["ipFamilies"] = families


def prepare_for_update(new: Obj, old: Obj) -> None:
    """The registry's update preparation, in place on `new` (idempotent):

    * keep allocated values the client left out (clusterIP(s), nodePorts by port name,
      healthCheckNodePort) when old and new types both need them;
    * sync clusterIP and clusterIPs the way an old client expects;
    * wipe what the new type no longer uses when the client did not change it (nodePorts on
      NodePort→ClusterIP, clusterIPs on →ExternalName, externalTrafficPolicy, LB fields).
    """
    spec, old_spec = new.setdefault("spec", {}), _spec(old)
    _patch_allocated_values(spec, old_spec)
    _normalize_cluster_ips(spec, old_spec)
    _drop_type_dependent_fields(new, spec, old_spec)


def _patch_allocated_values(spec: Obj, old: Obj) -> None:
    if _needs_cluster_ip(old) and _needs_cluster_ip(spec):
        if not spec.get("clusterIP") and old.get("clusterIP"):
            spec["clusterIP"] = old["clusterIP"]
        if not spec.get("clusterIPs") and old.get("clusterIPs"):
            spec["clusterIPs"] = list(old["clusterIPs"])
    if _needs_node_port(old) and _needs_node_port(spec):
        used = set(_node_ports(old)) & set(_node_ports(spec))
        by_name = {p.get("name") or "": _as_int(p.get("nodePort")) for p in _ports(old)}
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and not _as_int(port.get("nodePort")):
                old_value = by_name.get(port.get("name") or "", 0)
                if old_value and old_value not in used:
                    port["nodePort"] = old_value
    if _needs_health_check(old) and _needs_health_check(spec) and not _as_int(spec.get("healthCheckNodePort")):
        if old.get("healthCheckNodePort"):
            spec["healthCheckNodePort"] = old["healthCheckNodePort"]


def _same_cluster_ips(a: Obj, b: Obj) -> bool:
    return list(a.get("clusterIPs") or []) == list(b.get("clusterIPs") or [])


def _normalize_cluster_ips(spec: Obj, old: Obj) -> None:
    if old.get("clusterIPs") and not spec.get("clusterIPs") and old.get("clusterIP") == spec.get("clusterIP"):
        spec["clusterIPs"] = list(old["clusterIPs"])
    if (old.get("clusterIP") or "") != (spec.get("clusterIP") or ""):
        if old.get("clusterIP") and not spec.get("clusterIP") and _same_cluster_ips(old, spec):
            spec.pop("clusterIPs", None)
        if spec.get("clusterIP") and _same_cluster_ips(old, spec):
            spec["clusterIPs"] = [spec["clusterIP"]]


def _drop_type_dependent_fields(new: Obj, spec: Obj, old: Obj) -> None:
    if _needs_cluster_ip(old) and not _needs_cluster_ip(spec):
        if _same_cluster_ips(old, spec):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        if old.get("ipFamilies") == spec.get("ipFamilies"):
            spec.pop("ipFamilies", None)
        if old.get("ipFamilyPolicy") == spec.get("ipFamilyPolicy"):
            spec.pop("ipFamilyPolicy", None)
    old_ports, new_ports = _ports(old), _ports(spec)
    same_node_ports = len(old_ports) == len(new_ports) and all(
        _as_int(a.get("nodePort")) == _as_int(b.get("nodePort")) for a, b in zip(old_ports, new_ports))
    if _needs_node_port(old) and not _needs_node_port(spec) and same_node_ports:
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.pop("nodePort", None)
    if (_needs_health_check(old) and not _needs_health_check(spec)
            and _as_int(old.get("healthCheckNodePort")) == _as_int(spec.get("healthCheckNodePort"))):
        spec.pop("healthCheckNodePort", None)
    if old.get("type") == LOAD_BALANCER and spec.get("type") != LOAD_BALANCER:
        alb, old_alb = spec.get("allocateLoadBalancerNodePorts"), old.get("allocateLoadBalancerNodePorts")
        if alb is not None and old_alb is not None and alb == old_alb:
            spec.pop("allocateLoadBalancerNodePorts", None)
        if old.get("loadBalancerClass") == spec.get("loadBalancerClass"):
            spec.pop("loadBalancerClass", None)
        new.setdefault("status", {})["loadBalancer"] = {}
    if _externally_accessible(old) and not _externally_accessible(spec):
        if old.get("externalTrafficPolicy") == spec.get("externalTrafficPolicy"):
            spec.pop("externalTrafficPolicy", None)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def validate_service(svc: Obj, service_cidr: str = DEFAULT_SERVICE_CIDR) -> list[FieldError]:
    """Kubernetes' ValidateService on a defaulted Service, plus the allocator's range check
    for a requested clusterIP (same message the allocator gives)."""
    return _validate_service(svc, service_cidr, check_range=True)


def validate_service_update(new: Obj, old: Obj, service_cidr: str = DEFAULT_SERVICE_CIDR) -> list[FieldError]:
    """Kubernetes' ValidateServiceUpdate: clusterIPs and ipFamilies may not change once set,
    loadBalancerClass and healthCheckNodePort are immutable, then ValidateService."""
    spec, old_spec = _spec(new), _spec(old)
    errs = _validate_cluster_ips_update(old_spec, spec)
    errs += _validate_ip_families_update(old_spec, spec)
    errs += _validate_lb_class(old_spec, spec)
    if _needs_health_check(old_spec) and _needs_health_check(spec):
        if _as_int(spec.get("healthCheckNodePort")) != _as_int(old_spec.get("healthCheckNodePort")):
            errs.append(forbidden("spec.healthCheckNodePort", "field is immutable"))
    newly_addressed = old_spec.get("type") == EXTERNAL_NAME or not _cluster_ips(old_spec)
    return errs + _validate_service(new, service_cidr, check_range=newly_addressed)


def _validate_service(svc: Obj, service_cidr: str, *, check_range: bool) -> list[FieldError]:
    spec = _spec(svc)
    annotations = (svc.get("metadata") or {}).get("annotations") or {}
    errs = validate_object_name(svc, is_dns1035_label)
    mode, hints = annotations.get(ANNOTATION_TOPOLOGY_MODE), annotations.get(ANNOTATION_TOPOLOGY_HINTS)
    if mode is not None and hints is not None and mode != hints:
        errs.append(invalid(f"metadata.annotations[{ANNOTATION_TOPOLOGY_MODE}]", mode,
                            f"must match annotations[{ANNOTATION_TOPOLOGY_HINTS}] when both are specified"))

    stype = spec.get("type") or ""
    ports = _ports(spec)
    headless = _is_headless(spec)
    if not ports and not headless and stype != EXTERNAL_NAME:
        errs.append(required("spec.ports"))
    if stype in (LOAD_BALANCER, NODE_PORT) and headless:
        errs.append(invalid("spec.clusterIPs[0]", NONE, f"may not be set to 'None' for {stype} services"))
    elif stype == EXTERNAL_NAME:
        errs += _validate_external_name(spec)

    names: set[str] = set()
    for i, port in enumerate(ports):
        errs += _validate_service_port(port, len(ports) > 1, names, f"spec.ports[{i}]")
    if spec.get("selector") is not None:
        errs += validate_labels(spec.get("selector"), "spec.selector")
    errs += _validate_session_affinity(spec)

    ip_errs = _validate_cluster_ips_related(spec)
    errs += ip_errs
    if check_range and not ip_errs and stype != EXTERNAL_NAME:
        errs += _validate_cluster_ip_range(spec, service_cidr)

    for i, ip in enumerate(spec.get("externalIPs") or []):
        path = f"spec.externalIPs[{i}]"
        errs += is_valid_ip(path, ip) or validate_non_special_ip(ip, path)

    if not stype:
        errs.append(required("spec.type"))
    elif stype not in SERVICE_TYPES:
        errs.append(not_supported("spec.type", stype, SERVICE_TYPES))
    if stype == CLUSTER_IP:
        errs += [forbidden(f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'")
                 for i, p in enumerate(ports) if _as_int(p.get("nodePort"))]
    errs += _validate_duplicate_ports(ports)
    errs += _validate_source_ranges(spec, annotations)

    if spec.get("allocateLoadBalancerNodePorts") is not None and stype != LOAD_BALANCER:
        errs.append(forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'"))
    if stype == LOAD_BALANCER and spec.get("allocateLoadBalancerNodePorts") is None:
        errs.append(required("allocateLoadBalancerNodePorts"))  # sic: Kubernetes prints it without `spec.`
    errs += _validate_lb_class(None, spec)
    errs += _validate_traffic_policies(spec)
    return errs


def _validate_external_name(spec: Obj) -> list[FieldError]:
    errs = []
    if _cluster_ips(spec):
        errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
    if spec.get("ipFamilies"):
        errs.append(forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
    if spec.get("ipFamilyPolicy") is not None:
        errs.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
    name = str(spec.get("externalName") or "")
    cname = name[:-1] if name.endswith(".") else name  # a trailing dot marks a fully qualified CNAME
    if cname:
        errs += [invalid("spec.externalName", cname, m) for m in is_dns1123_subdomain(cname)]
    else:
        errs.append(required("spec.externalName"))
    return errs


def _validate_service_port(port: Obj, require_name: bool, names: set[str], path: str) -> list[FieldError]:
    errs = []
    name = port.get("name") or ""
    if require_name and not name:
        errs.append(required(f"{path}.name"))
    elif name:
        errs += [invalid(f"{path}.name", name, m) for m in is_dns1123_label(name)]
        if name in names:
            errs.append(duplicate(f"{path}.name", name))
        names.add(name)
    number = _as_int(port.get("port"))
    errs += [invalid(f"{path}.port", number, m) for m in is_valid_port_num(number)]
    protocol = port.get("protocol") or ""
    if not protocol:
        errs.append(required(f"{path}.protocol"))
    elif protocol not in PROTOCOLS:
        errs.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    target = port.get("targetPort")
    if isinstance(target, str):
        errs += [invalid(f"{path}.targetPort", target, m) for m in is_valid_port_name(target)]
    else:
        target = _as_int(target)
        errs += [invalid(f"{path}.targetPort", target, m) for m in is_valid_port_num(target)]
    if port.get("appProtocol") is not None:
        app = str(port["appProtocol"])
        errs += [invalid(f"{path}.appProtocol", app, m) for m in is_qualified_name(app)]
    return errs


def _validate_session_affinity(spec: Obj) -> list[FieldError]:
    affinity = spec.get("sessionAffinity") or ""
    if not affinity:
        return [required("spec.sessionAffinity")]
    if affinity not in AFFINITIES:
        return [not_supported("spec.sessionAffinity", affinity, AFFINITIES)]
    path = "spec.sessionAffinityConfig"
    config = spec.get("sessionAffinityConfig")
    if affinity == "None":
        return [forbidden(path, "must not be set when session affinity is None")] if config is not None else []
    why = "when session affinity type is ClientIP"
    if not isinstance(config, dict):
        return [required(path, why)]
    if not isinstance(config.get("clientIP"), dict):
        return [required(f"{path}.clientIP", why)]
    timeout = config["clientIP"].get("timeoutSeconds")
    if timeout is None:
        return [required(f"{path}.clientIP.timeoutSeconds", why)]
    if not 0 < _as_int(timeout) <= MAX_AFFINITY_TIMEOUT:
        return [invalid(f"{path}.clientIP.timeoutSeconds", timeout,
                        f"must be greater than 0 and less than {MAX_AFFINITY_TIMEOUT}")]
    return []


def _validate_cluster_ips_related(spec: Obj) -> list[FieldError]:
    """ValidateServiceClusterIPsRelatedFields: clusterIP/clusterIPs agree, are IPs (or one
    "None"), at most one per family, and match ipFamilies; ipFamilies/ipFamilyPolicy values."""
    if spec.get("type") == EXTERNAL_NAME:
        return []
    errs = []
    path = "spec.clusterIPs"
    cluster_ip, ips = spec.get("clusterIP") or "", _cluster_ips(spec)
    rendered = _render_cluster_ips(spec)
    if cluster_ip and ips[0] != cluster_ip:
        errs.append(_raw_invalid(path, rendered, "first value must match `clusterIP`"))
    elif not cluster_ip and ips:
        errs.append(_raw_invalid(path, rendered, "must be empty when `clusterIP` is not specified"))

    families = spec.get("ipFamilies") or []
    seen: set[str] = set()
    for i, family in enumerate(families):
        if family not in IP_FAMILIES:
            errs.append(not_supported(f"spec.ipFamilies[{i}]", family, IP_FAMILIES))
        if family in seen:
            errs.append(duplicate(f"spec.ipFamilies[{i}]", family))
        seen.add(family)
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in IP_FAMILY_POLICIES:
        errs.append(not_supported("spec.ipFamilyPolicy", policy, IP_FAMILY_POLICIES))

    bad_ips = False
    for i, ip in enumerate(ips):
        if i == 0 and ip == NONE:
            if len(ips) > 1:
                bad_ips = True
                errs.append(_raw_invalid(path, rendered, "'None' must be the first and only value"))
            continue
        ip_errs = is_valid_ip(f"{path}[{i}]", ip)
        bad_ips = bad_ips or bool(ip_errs)
        errs += ip_errs
    if len(ips) > 2:
        errs.append(_raw_invalid(path, rendered, "may only hold up to 2 values"))
    if bad_ips:
        return errs
    if len(ips) > 1:
        parsed = [parse_ip_sloppy(ip) for ip in ips]
        if {p.version for p in parsed if p is not None} != {4, 6}:
            errs.append(_raw_invalid(path, rendered, "may specify no more than one IP for each IP family"))
    if not _is_headless(spec) and ips and families:
        for i, ip in enumerate(ips[:len(families)]):
            parsed = parse_ip_sloppy(ip)
            is_v6 = parsed is not None and parsed.version == 6
            if families[i] == "IPv4" and is_v6:
                errs.append(invalid(f"{path}[{i}]", ip, f"expected an IPv4 value as indicated by `ipFamilies[{i}]`"))
            if families[i] == "IPv6" and not is_v6:
                errs.append(invalid(f"{path}[{i}]", ip, f"expected an IPv6 value as indicated by `ipFamilies[{i}]`"))
    return errs


def _validate_cluster_ip_range(spec: Obj, service_cidr: str) -> list[FieldError]:
    """A requested clusterIP of the cluster's family must lie in the allocatable range."""
    ips = _cluster_ips(spec)
    if not ips or ips[0] == NONE or not service_cidr:
        return []
    pool = _IPRange(ipaddress.ip_network(service_cidr, strict=False))
    parsed = parse_ip_sloppy(ips[0])
    if parsed is None or parsed.version != pool.network.version or pool.offset_of(parsed) is not None:
        return []
    return [_raw_invalid("spec.clusterIPs", _render_cluster_ips(spec),
                         f"failed to allocate IP {ips[0]}: {pool.not_in_range()}")]


def _go_service_port(protocol: Any, port: int) -> str:
    """%#v of the core.ServicePort key Kubernetes reports for a duplicate port."""
    return (f"core.ServicePort{{Name:\"\", Protocol:{json.dumps(str(protocol))}, AppProtocol:(*string)(nil), "
            f"Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}")


def _validate_duplicate_ports(ports: list[Obj]) -> list[FieldError]:
    errs = []
    node_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        node_port = _as_int(port.get("nodePort"))
        if not node_port:
            continue
        key = (port.get("protocol") or "", node_port)
        if key in node_ports:
            errs.append(duplicate(f"spec.ports[{i}].nodePort", node_port))
        node_ports.add(key)
    seen: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        key = (port.get("protocol") or "", _as_int(port.get("port")))
        if key in seen:
            errs.append(FieldError(f"spec.ports[{i}]", "FieldValueDuplicate",
                                   "Duplicate value: " + _go_service_port(*key)))
        seen.add(key)
    return errs


def _validate_source_ranges(spec: Obj, annotations: dict[str, Any]) -> list[FieldError]:
    errs = []
    only_lb = "may only be used when `type` is 'LoadBalancer'"
    ranges = spec.get("loadBalancerSourceRanges") or []
    if ranges:
        path = "spec.LoadBalancerSourceRanges"  # sic: Kubernetes' capital L
        if spec.get("type") != LOAD_BALANCER:
            errs.append(forbidden(path, only_lb))
        for i, value in enumerate(ranges):
            errs += is_valid_cidr(f"{path}[{i}]", str(value).strip())
    elif ANNOTATION_SOURCE_RANGES in annotations:
        path = f"metadata.annotations[{ANNOTATION_SOURCE_RANGES}]"
        if spec.get("type") != LOAD_BALANCER:
            errs.append(forbidden(path, only_lb))
        value = str(annotations[ANNOTATION_SOURCE_RANGES]).strip()
        if value:
            for cidr in value.split(","):
                errs += is_valid_cidr(path, cidr.strip())
    return errs


def _validate_lb_class(old: Obj | None, spec: Obj) -> list[FieldError]:
    errs = []
    lb_class = spec.get("loadBalancerClass")
    if old is not None and old.get("type") == LOAD_BALANCER and spec.get("type") == LOAD_BALANCER:
        if old.get("loadBalancerClass") != lb_class:
            errs.append(invalid("spec.loadBalancerClass", lb_class, "may not change once set"))
    if spec.get("type") == LOAD_BALANCER:
        if lb_class is not None:
            errs += [invalid("spec.loadBalancerClass", lb_class, m) for m in is_qualified_name(str(lb_class))]
    elif lb_class is not None:
        errs.append(forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'"))
    return errs


def _validate_traffic_policies(spec: Obj) -> list[FieldError]:
    errs = []
    etp = spec.get("externalTrafficPolicy") or ""
    if not _externally_accessible(spec):
        if etp:
            errs.append(invalid("spec.externalTrafficPolicy", etp,
                                "may only be set for externally-accessible services"))
    elif not etp:
        errs.append(required("spec.externalTrafficPolicy"))
    elif etp not in TRAFFIC_POLICIES:
        errs.append(not_supported("spec.externalTrafficPolicy", etp, TRAFFIC_POLICIES))

    hc = _as_int(spec.get("healthCheckNodePort"))
    if not _needs_health_check(spec):
        if hc:
            errs.append(invalid("spec.healthCheckNodePort", hc,
                                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
    elif hc:  # 0 is filled by the allocator (Kubernetes allocates before it validates)
        errs += [invalid("spec.healthCheckNodePort", hc, m) for m in is_valid_port_num(hc)]

    itp = spec.get("internalTrafficPolicy")
    if itp is None:
        if spec.get("type") in (CLUSTER_IP, NODE_PORT, LOAD_BALANCER):
            errs.append(required("spec.internalTrafficPolicy"))
    elif itp not in TRAFFIC_POLICIES:
        errs.append(not_supported("spec.internalTrafficPolicy", itp, TRAFFIC_POLICIES))

    distribution = spec.get("trafficDistribution")
    if distribution is not None and distribution != "PreferClose":
        errs.append(not_supported("spec.trafficDistribution", distribution, ["PreferClose"]))
    return errs


def _validate_cluster_ips_update(old: Obj, spec: Obj) -> list[FieldError]:
    """validateUpgradeDowngradeClusterIPs: the primary clusterIP may not change once set."""
    if spec.get("type") == EXTERNAL_NAME or old.get("type") == EXTERNAL_NAME:
        return []
    if _is_headless(old) and _is_headless(spec):
        return []
    old_ips, ips = _cluster_ips(old), _cluster_ips(spec)
    rendered = _render_cluster_ips(spec)
    errs = []
    if len(old_ips) == len(ips):
        errs += [_raw_invalid(f"spec.clusterIPs[{i}]", rendered, "may not change once set")
                 for i, ip in enumerate(old_ips) if ip != ips[i]]
    elif len(old_ips) > len(ips):
        if not ips:
            errs.append(_raw_invalid("spec.clusterIPs[0]", rendered, "primary clusterIP can not be unset"))
        elif ips[0] != old_ips[0]:
            errs.append(_raw_invalid("spec.clusterIPs[0]", rendered, "may not change once set"))
        if len(ips) == 1 and spec.get("ipFamilyPolicy") != SINGLE_STACK:
            errs.append(invalid("spec.ipFamilyPolicy", spec.get("ipFamilyPolicy"),
                                "must be set to 'SingleStack' when releasing the secondary clusterIP"))
    elif old_ips and ips[0] != old_ips[0]:
        errs.append(_raw_invalid("spec.clusterIPs[0]", rendered, "may not change once set"))
    return errs


def _validate_ip_families_update(old: Obj, spec: Obj) -> list[FieldError]:
    """validateUpgradeDowngradeIPFamilies (field paths and values exactly as Kubernetes prints)."""
    if spec.get("type") == EXTERNAL_NAME or old.get("type") == EXTERNAL_NAME:
        return []
    if _is_headless(old) != _is_headless(spec) or _is_headless(spec):
        return []
    old_fams, fams = list(old.get("ipFamilies") or []), list(spec.get("ipFamilies") or [])
    path = "spec.ipFamilies[0]"
    errs = []
    if len(old_fams) == len(fams):
        errs += [_raw_invalid(path, _render_families(spec), "may not change once set")
                 for i, fam in enumerate(old_fams) if fam != fams[i]]
    elif len(old_fams) > len(fams):
        if not _cluster_ips(spec):
            errs.append(_raw_invalid(path, _render_families(spec), "primary ipFamily can not be unset"))
        if fams and fams[0] != old_fams[0]:
            errs.append(_raw_invalid(path, _render_cluster_ips(spec), "may not change once set"))
        if len(fams) == 1 and spec.get("ipFamilyPolicy") != SINGLE_STACK:
            errs.append(invalid("spec.ipFamilyPolicy", spec.get("ipFamilyPolicy"),
                                "must be set to 'SingleStack' when releasing the secondary ipFamily"))
    elif old_fams and fams and fams[0] != old_fams[0]:
        errs.append(_raw_invalid(path, _render_cluster_ips(spec), "may not change once set"))
    return errs


# ---------------------------------------------------------------------------------------------
# Allocation
# ---------------------------------------------------------------------------------------------


def _band_offset(size: int, minimum: int, maximum: int, step: int) -> int:
    """Kubernetes' calculateRangeOffset: min(max(minimum, size/step), maximum), 0 for tiny ranges.
    Dynamic picks prefer offsets at or above it, leaving the low band to explicit requests."""
    if size <= minimum:
        return 0
    return max(minimum, min(size // step, maximum))


class _Bitmap:
    """Used offsets of a range; dynamic picks scan from a random start, upper band first."""

    def __init__(self, size: int, band: int, reserved: Iterable[int], rng: random.Random) -> None:
        self.size = max(size, 0)
        self.band = min(band, self.size)
        self.reserved = set(reserved)  # never handed out dynamically
        self.used: set[int] = set()
        self.rng = rng

    def take(self, offset: int) -> bool:
        if offset in self.used:
            return False
        self.used.add(offset)
        return True

    def take_next(self) -> int | None:
        for low, high in ((self.band, self.size), (0, self.band)):
            count = high - low
            if count <= 0:
                continue
            start = self.rng.randrange(count)
            for k in range(count):
                offset = low + (start + k) % count
                if offset not in self.used and offset not in self.reserved:
                    self.used.add(offset)
                    return offset
        return None

    def free(self, offset: int) -> None:
        self.used.discard(offset)


class _IPRange:
    """The allocatable addresses of a service CIDR: never the network address, never the
    IPv4 broadcast address, at most 65536 addresses of an IPv6 range (as ipallocator)."""

    def __init__(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
        self.network = network
        size = network.num_addresses
        if network.version == 6:
            size = min(size, 65536)
        else:
            size -= 1
        self.base = int(network.network_address) + 1
        self.max = max(size - 1, 0)

    @property
    def family(self) -> str:
        return "IPv6" if self.network.version == 6 else "IPv4"

    def offset_of(self, ip: IP) -> int | None:
        if ip.version != self.network.version or ip not in self.network:
            return None
        offset = int(ip) - self.base
        return offset if 0 <= offset < self.max else None

    def address(self, offset: int) -> IP:
        return ipaddress.ip_address(self.base + offset)

    def not_in_range(self) -> str:
        return f"provided IP is not in the valid range. The range of valid IPs is {self.network}"


@dataclass
class _Txn:
    """What one allocate/update call took (undone on failure) and will free (on success)."""

    ips: list[int] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    free_ips: list[str] = field(default_factory=list)
    free_ports: list[int] = field(default_factory=list)


class Reservation:
    """What one `allocate`/`update` call changed. Kubernetes allocates before it validates
    and stores; when a later step fails, `undo()` puts the allocator back (frees what the
    call took, takes back what it freed). Ignoring it keeps the change."""

    def __init__(self, allocator: "ServiceAllocator", txn: _Txn, freed_ips: list[int], freed_ports: list[int]) -> None:
        self._allocator = allocator
        self.took_ips, self.took_ports = list(txn.ips), list(txn.ports)  # offsets into the ranges
        self.freed_ips, self.freed_ports = freed_ips, freed_ports
        self._undone = False

    def undo(self) -> None:
        if self._undone:
            return
        self._undone = True
        a = self._allocator
        for offset in self.took_ips:
            a.ip_bits.free(offset)
        for offset in self.took_ports:
            a.port_bits.free(offset)
        for offset in self.freed_ips:
            a.ip_bits.take(offset)
        for offset in self.freed_ports:
            a.port_bits.take(offset)


def _internal(message: str) -> InternalError:
    """errors.NewInternalError: the Status message and a single cause carry the text."""
    return InternalError(f"Internal error occurred: {message}", details={"causes": [{"message": message}]})


def _name(svc: Obj) -> str:
    return str((svc.get("metadata") or {}).get("name") or "")


def _invalid(svc: Obj, *errs: FieldError) -> Invalid:
    return Invalid("Service", _name(svc), list(errs))


class ServiceAllocator:
    """Cluster IPs from the service CIDR and node ports from the node-port range.

    Like Kubernetes' bitmap allocators: requested values are honoured when free and in range;
    dynamic picks are random, preferring addresses/ports above a small static band (for a /12
    the lowest 256 addresses, so 10.96.0.10 stays free for kube-dns) and never the first
    address, which belongs to default/kubernetes. Each call is all-or-nothing. State is
    in memory; `restore` rebuilds it from stored Services at start-up.
    """

    def __init__(self, service_cidr: str = DEFAULT_SERVICE_CIDR,
                 node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE, *,
                 rng: random.Random | None = None) -> None:  # rng: None except in tests
        self.rng = rng or random.Random()
        self.ip_range = _IPRange(ipaddress.ip_network(service_cidr, strict=False))
        self.ip_bits = _Bitmap(self.ip_range.max, _band_offset(self.ip_range.network.num_addresses, 16, 256, 16),
                               reserved=[0], rng=self.rng)
        low, high = node_port_range
        self.port_base, self.port_size = low, max(high - low + 1, 0)
        self.port_bits = _Bitmap(self.port_size, _band_offset(self.port_size, 16, 128, 32), reserved=[], rng=self.rng)

    # -- introspection -------------------------------------------------------------------------

    @property
    def family(self) -> str:
        return self.ip_range.family

    @property
    def node_port_range(self) -> str:
        return f"{self.port_base}-{self.port_base + self.port_size - 1}" if self.port_size else ""

    def ip_allocated(self, ip: str) -> bool:
        offset = self._ip_offset(ip)
        return offset is not None and offset in self.ip_bits.used

    def node_port_allocated(self, port: int) -> bool:
        return self._port_offset(port) is not None and port - self.port_base in self.port_bits.used

    # -- public operations ---------------------------------------------------------------------

    def restore(self, services: Iterable[Obj]) -> None:
        """Mark the cluster IPs, node ports and health-check ports of stored Services as used.
        Values outside the current ranges are ignored (they were allocated under other flags)."""
        for svc in services:
            spec = _spec(svc)
            if spec.get("type") != EXTERNAL_NAME:
                for ip in _cluster_ips(spec):
                    offset = self._ip_offset(ip)
                    if offset is not None:
                        self.ip_bits.take(offset)
            for port in _node_ports(spec) + [_as_int(spec.get("healthCheckNodePort"))]:
                offset = self._port_offset(port)
                if offset is not None:
                    self.port_bits.take(offset)

    def allocate(self, svc: Obj) -> Reservation:
        """Fill spec.clusterIP/clusterIPs, nodePorts and healthCheckNodePort of a new Service.
        Raises Invalid (bad or taken request) or InternalError (range full); on failure
        nothing stays allocated and `svc` is unchanged. The returned Reservation undoes it."""
        work = copy.deepcopy(_spec(svc))
        txn = _Txn()
        try:
            self._init_ip_families(svc, work, None)
            self._alloc_cluster_ips(svc, work, txn)
            if _needs_node_port(work):
                self._init_node_ports(svc, work, txn)
            if _needs_health_check(work):
                self._alloc_health_check_port(work, txn)
        except APIError:
            self._rollback(txn)
            raise
        svc["spec"] = work
        return Reservation(self, txn, [], [])

    def update(self, new: Obj, old: Obj) -> Reservation:
        """Adjust allocations for an update: ExternalName→other allocates a clusterIP,
        →ExternalName frees it; →NodePort/LoadBalancer allocates missing nodePorts,
        →ClusterIP/ExternalName frees them; health-check ports follow externalTrafficPolicy.
        An unchanged clusterIP is kept. Runs `prepare_for_update` on `new` first.
        All-or-nothing; frees happen only on success. The returned Reservation undoes it."""
        prepare_for_update(new, old)
        old_spec, work = _spec(old), copy.deepcopy(_spec(new))
        txn = _Txn()
        try:
            self._init_ip_families(new, work, old_spec)
            unaddressed = old_spec.get("type") == EXTERNAL_NAME or not _cluster_ips(old_spec)
            if unaddressed and work.get("type") != EXTERNAL_NAME:
                self._alloc_cluster_ips(new, work, txn)
            elif not _is_headless(old_spec) and work.get("type") == EXTERNAL_NAME:
                txn.free_ips += [ip for ip in _cluster_ips(old_spec) if ip != NONE]
            if _needs_node_port(old_spec) and work.get("type") in (CLUSTER_IP, EXTERNAL_NAME):
                txn.free_ports += _node_ports(old_spec)
            if _needs_node_port(work):
                self._update_node_ports(new, work, old_spec, txn)
            self._update_health_check_port(new, work, old_spec, txn)
        except APIError:
            self._rollback(txn)
            raise
        freed_ips = self._free_all(self._ip_offset(ip) for ip in txn.free_ips)
        freed_ports = [o for o in (self._port_offset(p) for p in txn.free_ports) if o is not None]
        for offset in set(freed_ports):
            self.port_bits.free(offset)
        new["spec"] = work
        return Reservation(self, txn, freed_ips, sorted(set(freed_ports)))

    def release(self, svc: Obj) -> None:
        """Free everything a deleted Service held."""
        spec = _spec(svc)
        if spec.get("type") != EXTERNAL_NAME:
            for ip in _cluster_ips(spec):
                self._free_ip(ip)
        for port in _node_ports(spec) + [_as_int(spec.get("healthCheckNodePort"))]:
            self._free_port(port)

    # -- cluster IPs ---------------------------------------------------------------------------

    def _init_ip_families(self, svc: Obj, spec: Obj, old: Obj | None) -> None:
        """initIPFamilyFields for a single-stack cluster: default the policy, check clusterIPs,
        infer families from requested IPs, refuse families this cluster does not have."""
        if spec.get("type") == EXTERNAL_NAME:
            return
        if spec.get("ipFamilyPolicy") is None:
            if old is not None and old.get("ipFamilyPolicy") is not None:
                spec["ipFamilyPolicy"] = old["ipFamilyPolicy"]
            elif spec.get("clusterIP") == NONE and not spec.get("selector"):
                spec["ipFamilyPolicy"] = REQUIRE_DUAL_STACK
            else:
                spec["ipFamilyPolicy"] = SINGLE_STACK
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        errs = _validate_cluster_ips_related(spec)
        if errs:
            raise _invalid(svc, *errs)
        policy, ips = spec["ipFamilyPolicy"], _cluster_ips(spec)
        families = list(spec.get("ipFamilies") or [])
        if policy == SINGLE_STACK:
            dual = "must be 'RequireDualStack' or 'PreferDualStack' when multiple"
            if len(ips) == 2:
                errs.append(invalid("spec.ipFamilyPolicy", policy, f"{dual} cluster IPs are specified"))
            if len(families) == 2:
                errs.append(invalid("spec.ipFamilyPolicy", policy, f"{dual} IP families are specified"))
        for i, ip in enumerate(ips):
            if ip == NONE:
                break
            parsed = parse_ip_sloppy(ip)
            family = family_of(parsed) if parsed is not None else self.family
            if i >= len(families):
                if family != self.family:
                    errs.append(_raw_invalid(f"spec.clusterIPs[{i}]", _render_cluster_ips(spec),
                                             f"{family} is not configured on this cluster"))
                else:
                    families.append(family)
        if errs:
            raise _invalid(svc, *errs)
        if spec.get("clusterIP") == NONE and not spec.get("selector"):
            families = families or [self.family]
            if len(families) < 2 and policy != SINGLE_STACK:
                families.append("IPv6" if families[0] == "IPv4" else "IPv4")
            spec["ipFamilies"] = families
            return
        if policy == REQUIRE_DUAL_STACK:
            errs.append(invalid("spec.ipFamilyPolicy", policy,
                                "this cluster is not configured for dual-stack services"))
        errs += [invalid(f"spec.ipFamilies[{i}]", fam, "not configured on this cluster")
                 for i, fam in enumerate(families) if fam != self.family]
        if errs:
            raise _invalid(svc, *errs)
        spec["ipFamilies"] = families or [self.family]

    def _alloc_cluster_ips(self, svc: Obj, spec: Obj, txn: _Txn) -> None:
        if spec.get("type") == EXTERNAL_NAME:
            return
        ips = _cluster_ips(spec)
        if ips and ips[0] == NONE:
            spec["clusterIP"], spec["clusterIPs"] = NONE, [NONE]
            return
        requested = ips[0] if ips else ""
        meta = svc.get("metadata") or {}
        if not requested and meta.get("name") == "kubernetes" and meta.get("namespace") == "default":
            requested = str(self.ip_range.address(0))  # the apiserver's own service
            spec["clusterIPs"] = [requested]
        if requested:
            parsed = parse_ip_sloppy(requested)
            offset = self.ip_range.offset_of(parsed) if parsed is not None else None
            reason = None
            if offset is None:
                reason = self.ip_range.not_in_range()
            elif not self.ip_bits.take(offset):
                reason = "provided IP is already allocated"
            if reason is not None:
                raise _invalid(svc, _raw_invalid("spec.clusterIPs", _render_cluster_ips(spec),
                                                 f"failed to allocate IP {requested}: {reason}"))
            assert offset is not None
            txn.ips.append(offset)
            chosen = requested
        else:
            offset = self.ip_bits.take_next()
            if offset is None:
                raise _internal("failed to allocate a serviceIP: range is full")
            txn.ips.append(offset)
            chosen = str(self.ip_range.address(offset))
        spec["clusterIP"], spec["clusterIPs"] = chosen, [chosen]

    # -- node ports ----------------------------------------------------------------------------

    def _port_offset(self, port: int) -> int | None:
        offset = port - self.port_base
        return offset if port and 0 <= offset < self.port_size else None

    def _take_port(self, port: int, txn: _Txn) -> str | None:
        """Reserve a requested port; the reason it cannot be had, or None."""
        offset = self._port_offset(port)
        if offset is None:
            return f"provided port is not in the valid range. The range of valid ports is {self.node_port_range}"
        if not self.port_bits.take(offset):
            return "provided port is already allocated"
        txn.ports.append(offset)
        return None

    def _next_port(self, txn: _Txn) -> int | None:
        offset = self.port_bits.take_next()
        if offset is None:
            return None
        txn.ports.append(offset)
        return self.port_base + offset

    def _init_node_ports(self, svc: Obj, spec: Obj, txn: _Txn) -> None:
        """initNodePorts: honour requests; ports sharing a port number (TCP+UDP) share one."""
        ports = _ports(spec)
        allocate_new = _should_allocate_node_ports(spec)
        by_number: dict[int, int] = {}
        for i, port in enumerate(ports):
            node_port, number = _as_int(port.get("nodePort")), _as_int(port.get("port"))
            if not node_port and not allocate_new:
                continue
            known = by_number.get(number, 0)
            if not known:
                wanted = next((_as_int(p.get("nodePort")) for p in ports
                               if _as_int(p.get("port")) == number and _as_int(p.get("nodePort"))), 0)
                if wanted:
                    reason = self._take_port(wanted, txn)
                    if reason:
                        raise _invalid(svc, invalid(f"spec.ports[{i}].nodePort", wanted, reason))
                    chosen = wanted
                else:
                    next_port = self._next_port(txn)
                    if next_port is None:
                        raise _internal("failed to allocate a nodePort: range is full")
                    chosen = next_port
                port["nodePort"] = by_number[number] = chosen
            elif node_port != known:
                if not node_port:
                    port["nodePort"] = known
                else:
                    reason = self._take_port(node_port, txn)
                    if reason:
                        raise _invalid(svc, invalid(f"spec.ports[{i}].nodePort", node_port, reason))

    def _update_node_ports(self, svc: Obj, spec: Obj, old: Obj, txn: _Txn) -> None:
        """updateNodePorts: keep the old ports still listed, allocate new ones, free the rest."""
        old_numbers = _node_ports(old)
        allocate_new = _should_allocate_node_ports(spec)
        taken_here: set[int] = set()
        seen: set[tuple[str, int]] = set()
        for i, port in enumerate(_ports(spec)):
            node_port = _as_int(port.get("nodePort"))
            if not node_port and not allocate_new:
                continue
            if node_port:
                if node_port not in old_numbers and node_port not in taken_here:
                    reason = self._take_port(node_port, txn)
                    if reason:
                        raise _invalid(svc, invalid(f"spec.ports[{i}].nodePort", node_port, reason))
                    taken_here.add(node_port)
            else:
                next_port = self._next_port(txn)
                if next_port is None:
                    raise _internal("failed to allocate a nodePort: range is full")
                port["nodePort"] = node_port = next_port
            key = (str(port.get("protocol") or ""), node_port)
            if key in seen:
                raise _internal(f"duplicate nodePort: {{{key[0]} {key[1]}}}")
            seen.add(key)
        still_used = set(_node_ports(spec))
        txn.free_ports += [n for n in old_numbers if n not in still_used]

    def _alloc_health_check_port(self, spec: Obj, txn: _Txn) -> None:
        wanted = _as_int(spec.get("healthCheckNodePort"))
        if wanted:
            reason = self._take_port(wanted, txn)
            if reason:
                raise _internal(f"failed to allocate requested HealthCheck NodePort {wanted}: {reason}")
            return
        next_port = self._next_port(txn)
        if next_port is None:
            raise _internal("failed to allocate a HealthCheck NodePort 0: range is full")
        spec["healthCheckNodePort"] = next_port

    def _update_health_check_port(self, svc: Obj, spec: Obj, old: Obj, txn: _Txn) -> None:
        needed, needs = _needs_health_check(old), _needs_health_check(spec)
        old_port = _as_int(old.get("healthCheckNodePort"))
        if not needed and needs:
            self._alloc_health_check_port(spec, txn)
        elif needed and not needs:
            if old_port:
                txn.free_ports.append(old_port)
        elif needed and needs and _as_int(spec.get("healthCheckNodePort")) != old_port:
            raise _invalid(svc, invalid(
                "spec.healthCheckNodePort", _as_int(spec.get("healthCheckNodePort")),
                "cannot change healthCheckNodePort on loadBalancer service with externalTraffic=Local during update"))

    # -- bookkeeping ---------------------------------------------------------------------------

    def _ip_offset(self, ip: str) -> int | None:
        parsed = parse_ip_sloppy(ip)
        return self.ip_range.offset_of(parsed) if parsed is not None else None

    def _free_all(self, offsets: Iterable[int | None]) -> list[int]:
        freed = sorted({o for o in offsets if o is not None})
        for offset in freed:
            self.ip_bits.free(offset)
        return freed

    def _free_ip(self, ip: str) -> None:
        offset = self._ip_offset(ip)
        if offset is not None:
            self.ip_bits.free(offset)

    def _free_port(self, port: int) -> None:
        offset = self._port_offset(port)
        if offset is not None:
            self.port_bits.free(offset)

    def _rollback(self, txn: _Txn) -> None:
        for offset in txn.ips:
            self.ip_bits.free(offset)
        for offset in txn.ports:
            self.port_bits.free(offset)
