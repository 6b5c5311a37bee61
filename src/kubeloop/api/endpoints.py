"""Endpoints and EndpointSlice admission: Kubernetes 1.32's defaults and validation.

`validate_endpoints` is ValidateEndpoints (core/v1): every address a valid, non-special IP
(not unspecified, loopback, link-local or link-local multicast), ports named when there
are several, ports in range, protocols TCP/UDP/SCTP. kubeloop adds one rule Kubernetes does
not have: an address may not lie in the service CIDR (a hand-written Endpoints pointing at
a cluster IP would loop through the proxy); pass `service_cidr=""` to turn it off.

`validate_endpoint_slice` is ValidateEndpointSlice (discovery.k8s.io/v1): addressType,
1..100 addresses per endpoint checked against it, at most 1000 endpoints (the controller
writes at most 100 per slice, the API accepts 1000), unique port names, protocols.

Field paths and messages are Kubernetes' own (`subsets[0].addresses[0].ip: Invalid value:
"127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)`), because kubectl
prints an Invalid error from its causes. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from .errors import FieldError, duplicate, invalid, not_supported, required, too_many
from .services import (
    PROTOCOLS,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_ip,
    is_valid_label_value,
    is_valid_port_num,
    parse_ip_sloppy,
    validate_labels,
    validate_non_special_ip,
    validate_object_name,
)

Obj = dict[str, Any]

__all__ = [
    "ADDRESS_TYPES",
    "default_endpoint_slice",
    "default_endpoints",
    "validate_endpoint_slice",
    "validate_endpoints",
]

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")  # sorted, as Kubernetes lists them
MAX_SLICE_ENDPOINTS = 1000
MAX_ENDPOINT_ADDRESSES = 100
MAX_SLICE_PORTS = 20000
MAX_TOPOLOGY_LABELS = 16
MAX_ZONE_HINTS = 8


def _as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _dicts(value: Any) -> list[Obj]:
    return [v if isinstance(v, dict) else {} for v in (value or [])]


# ---------------------------------------------------------------------------------------------
# Endpoints (core/v1)
# ---------------------------------------------------------------------------------------------


def default_endpoints(ep: Obj) -> None:
    """SetDefaults_Endpoints: a port without protocol is TCP."""
    for subset in ep.get("subsets") or []:
        for port in (subset or {}).get("ports") or []:
            if isinstance(port, dict) and not port.get("protocol"):
                port["protocol"] = "TCP"


def validate_endpoints(ep: Obj, service_cidr: str = "10.96.0.0/12") -> list[FieldError]:
    """ValidateEndpoints, plus kubeloop's service-CIDR rule (off when `service_cidr` is "")."""
    errs = validate_object_name(ep, is_dns1123_subdomain)
    network = ipaddress.ip_network(service_cidr, strict=False) if service_cidr else None
    for i, subset in enumerate(_dicts(ep.get("subsets"))):
        path = f"subsets[{i}]"
        addresses, not_ready = _dicts(subset.get("addresses")), _dicts(subset.get("notReadyAddresses"))
        if not addresses and not not_ready:
            errs.append(required(path, "must specify `addresses` or `notReadyAddresses`"))
        for j, address in enumerate(addresses):
            errs += _validate_address(address, f"{path}.addresses[{j}]", network)
        for j, address in enumerate(not_ready):
            errs += _validate_address(address, f"{path}.notReadyAddresses[{j}]", network)
        ports = _dicts(subset.get("ports"))
        for j, port in enumerate(ports):
            errs += _validate_port(port, len(ports) > 1, f"{path}.ports[{j}]")
    return errs


def _validate_address(address: Obj, path: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network | None,
                      ) -> list[FieldError]:
    ip = address.get("ip") or ""
    errs = is_valid_ip(f"{path}.ip", ip)
    hostname = address.get("hostname") or ""
    if hostname:
        errs += [invalid(f"{path}.hostname", hostname, m) for m in is_dns1123_label(hostname)]
    node_name = address.get("nodeName")
    if node_name is not None:
        errs += [invalid(f"{path}.nodeName", node_name, m) for m in is_dns1123_subdomain(str(node_name))]
    errs += validate_non_special_ip(ip, f"{path}.ip")
    parsed = parse_ip_sloppy(ip)
    if network is not None and parsed is not None and parsed.version == network.version and parsed in network:
        errs.append(invalid(f"{path}.ip", ip, f"may not be in the service IP range ({network})"))
    return errs


def _validate_port(port: Obj, require_name: bool, path: str) -> list[FieldError]:
    errs = []
    name = port.get("name") or ""
    if require_name and not name:
        errs.append(required(f"{path}.name"))
    elif name:
        errs += [invalid(f"{path}.name", name, m) for m in is_dns1123_label(name)]
    number = _as_int(port.get("port"))
    errs += [invalid(f"{path}.port", number, m) for m in is_valid_port_num(number)]
    errs += _validate_protocol(port.get("protocol"), f"{path}.protocol")
    errs += _validate_app_protocol(port.get("appProtocol"), f"{path}.appProtocol")
    return errs


def _validate_protocol(protocol: Any, path: str) -> list[FieldError]:
    if not protocol:
        return [required(path)]
    if protocol not in PROTOCOLS:
        return [not_supported(path, protocol, PROTOCOLS)]
    return []


def _validate_app_protocol(app: Any, path: str) -> list[FieldError]:
    if app is None:
        return []
    return [invalid(path, app, m) for m in is_qualified_name(str(app))]


# ---------------------------------------------------------------------------------------------
# EndpointSlice (discovery.k8s.io/v1)
# ---------------------------------------------------------------------------------------------


def default_endpoint_slice(eps: Obj) -> None:
    """SetDefaults_EndpointPort: a port's name defaults to "" and its protocol to TCP."""
    for port in eps.get("ports") or []:
        if isinstance(port, dict):
            if port.get("name") is None:
                port["name"] = ""
            if port.get("protocol") is None:
                port["protocol"] = "TCP"


def validate_endpoint_slice(eps: Obj) -> list[FieldError]:
    """ValidateEndpointSlice: name, addressType, endpoints and ports."""
    errs = validate_object_name(eps, is_dns1123_subdomain)
    address_type = eps.get("addressType") or ""
    if not address_type:
        errs.append(required("addressType"))
    elif address_type not in ADDRESS_TYPES:
        errs.append(not_supported("addressType", address_type, ADDRESS_TYPES))
    errs += _validate_slice_endpoints(_dicts(eps.get("endpoints")), address_type)
    errs += _validate_slice_ports(_dicts(eps.get("ports")))
    return errs


def _validate_slice_endpoints(endpoints: list[Obj], address_type: str) -> list[FieldError]:
    if len(endpoints) > MAX_SLICE_ENDPOINTS:
        return [too_many("endpoints", len(endpoints), MAX_SLICE_ENDPOINTS)]
    errs: list[FieldError] = []
    for i, endpoint in enumerate(endpoints):
        path = f"endpoints[{i}]"
        addresses = list(endpoint.get("addresses") or [])
        if not addresses:
            errs.append(required(f"{path}.addresses", "must contain at least 1 address"))
        elif len(addresses) > MAX_ENDPOINT_ADDRESSES:
            errs.append(too_many(f"{path}.addresses", len(addresses), MAX_ENDPOINT_ADDRESSES))
        for j, address in enumerate(addresses):
            errs += _validate_slice_address(address, address_type, f"{path}.addresses[{j}]")
        node_name = endpoint.get("nodeName")
        if node_name is not None:
            errs += [invalid(f"{path}.nodeName", node_name, m) for m in is_dns1123_subdomain(str(node_name))]
        topology = endpoint.get("deprecatedTopology") or {}
        if len(topology) > MAX_TOPOLOGY_LABELS:
            errs.append(too_many(f"{path}.deprecatedTopology", len(topology), MAX_TOPOLOGY_LABELS))
        errs += validate_labels(topology, f"{path}.deprecatedTopology")
        hostname = endpoint.get("hostname")
        if hostname is not None:
            errs += [invalid(f"{path}.hostname", hostname, m) for m in is_dns1123_label(str(hostname))]
        if isinstance(endpoint.get("hints"), dict):
            errs += _validate_hints(endpoint["hints"], f"{path}.hints")
    return errs


def _validate_slice_address(address: Any, address_type: str, path: str) -> list[FieldError]:
    """Known address types are checked; unknown ones fall through, as in Kubernetes."""
    if address_type in ("IPv4", "IPv6"):
        parsed = parse_ip_sloppy(address)
        if parsed is None or parsed.version != (4 if address_type == "IPv4" else 6):
            errs = [invalid(path, address, f"must be a valid {address_type} address")]
        else:
            errs = []
        return errs + validate_non_special_ip(address, path)
    if address_type == "FQDN":
        return _is_fully_qualified_domain_name(path, str(address or ""))
    return []


def _is_fully_qualified_domain_name(path: str, name: str) -> list[FieldError]:
    if not name:
        return [required(path)]
    if name.endswith("."):
        name = name[:-1]
    msgs = is_dns1123_subdomain(name)
    if msgs:
        return [invalid(path, name, ",".join(msgs))]
    labels = name.split(".")
    if len(labels) < 2:
        return [invalid(path, name, "should be a domain with at least two segments separated by dots")]
    for label in labels:
        msgs = is_dns1123_label(label)
        if msgs:
            return [invalid(path, label, ",".join(msgs))]
    return []


def _validate_hints(hints: Obj, path: str) -> list[FieldError]:
    zones = _dicts(hints.get("forZones"))
    if len(zones) > MAX_ZONE_HINTS:
        return [too_many(f"{path}.forZones", len(zones), MAX_ZONE_HINTS)]
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, zone in enumerate(zones):
        zpath, name = f"{path}.forZones[{i}].name", str(zone.get("name") or "")
        if name in seen:
            errs.append(duplicate(zpath, name))
        seen.add(name)
        errs += [invalid(zpath, name, m) for m in is_valid_label_value(name)]
    return errs


def _validate_slice_ports(ports: list[Obj]) -> list[FieldError]:
    if len(ports) > MAX_SLICE_PORTS:
        return [too_many("ports", len(ports), MAX_SLICE_PORTS)]
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"ports[{i}]"
        name = str(port.get("name") or "")
        if name:
            errs += [invalid(f"{path}.name", name, m) for m in is_dns1123_label(name)]
        if name in names:
            errs.append(duplicate(f"{path}.name", name))
        names.add(name)
        protocol = port.get("protocol")
        if protocol is None:
            errs.append(required(f"{path}.protocol"))
        elif protocol not in PROTOCOLS:
            errs.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
        errs += _validate_app_protocol(port.get("appProtocol"), f"{path}.appProtocol")
    return errs
