"""Endpoints and EndpointSlice validation: one row per rule, with the causes kubectl prints."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from kubeloop.api import errors
from kubeloop.api.endpoints import (
    default_endpoint_slice,
    default_endpoints,
    validate_endpoint_slice,
    validate_endpoints,
)

CIDR = "10.96.0.0/12"
PORT_RANGE = "must be between 1 and 65535, inclusive"
VALID_IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
DNS1123_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                 "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1123_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                     "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                     "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")

Mutate = Callable[[dict[str, Any]], None]


def endpoints() -> dict[str, Any]:
    """The E2 scenario: a selector-less service's hand-written Endpoints."""
    return {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "external-service", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "11.11.11.11"}, {"ip": "22.22.22.22"}],
                     "ports": [{"port": 80, "protocol": "TCP"}]}],
    }


def address(ip: str, where: str = "addresses") -> Mutate:
    def mutate(ep: dict[str, Any]) -> None:
        ep["subsets"][0][where] = [{"ip": ip}]
        if where != "addresses":
            ep["subsets"][0].pop("addresses")
    return mutate


def subset(**values: Any) -> Mutate:
    def mutate(ep: dict[str, Any]) -> None:
        ep["subsets"][0].update(values)
    return mutate


def addr_path(field: str = "ip") -> str:
    return f"subsets[0].addresses[0].{field}"


ENDPOINTS_CASES: list[tuple[str, Mutate | None, list[str]]] = [
    ("valid", None, []),
    ("no subsets", lambda ep: ep.pop("subsets"), []),
    ("name not a DNS subdomain", lambda ep: ep["metadata"].update(name="Bad_Name"),
     [f'metadata.name: Invalid value: "Bad_Name": {DNS1123_SUBDOMAIN}']),
    ("name missing", lambda ep: ep["metadata"].update(name=""),
     ["metadata.name: Required value: name or generateName is required"]),
    ("not an IP", address("abc"),
     [f'{addr_path()}: Invalid value: "abc": {VALID_IP}',
      f'{addr_path()}: Invalid value: "abc": must be a valid IP address']),
    ("loopback", address("127.0.0.1"),
     [f'{addr_path()}: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)']),
    ("IPv6 loopback", address("::1"),
     [f'{addr_path()}: Invalid value: "::1": may not be in the loopback range (127.0.0.0/8, ::1/128)']),
    ("link-local", address("169.254.169.254"),
     [f'{addr_path()}: Invalid value: "169.254.169.254": '
      'may not be in the link-local range (169.254.0.0/16, fe80::/10)']),
    ("link-local multicast", address("224.0.0.251"),
     [f'{addr_path()}: Invalid value: "224.0.0.251": may not be in the link-local multicast range (224.0.0.0/24, '
      'ff02::/10)']),
    ("other multicast is allowed, as in Kubernetes", address("239.1.1.1"), []),
    ("unspecified", address("0.0.0.0"), [f'{addr_path()}: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)']),
    ("inside the service CIDR", address("10.96.0.10"),
     [f'{addr_path()}: Invalid value: "10.96.0.10": may not be in the service IP range (10.96.0.0/12)']),
    ("not-ready address", address("127.0.0.2", "notReadyAddresses"),
     ['subsets[0].notReadyAddresses[0].ip: Invalid value: "127.0.0.2": may not be in the loopback range '
      '(127.0.0.0/8, ::1/128)']),
    ("pod address", address("10.244.1.5"), []),
    ("no addresses", subset(addresses=[]),
     ["subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"]),
    ("hostname", subset(addresses=[{"ip": "11.11.11.11", "hostname": "Web_1"}]),
     [f'{addr_path("hostname")}: Invalid value: "Web_1": {DNS1123_LABEL}']),
    ("nodeName", subset(addresses=[{"ip": "11.11.11.11", "nodeName": "Node_1"}]),
     [f'{addr_path("nodeName")}: Invalid value: "Node_1": {DNS1123_SUBDOMAIN}']),
    ("port out of range", subset(ports=[{"port": 70000, "protocol": "TCP"}]),
     [f"subsets[0].ports[0].port: Invalid value: 70000: {PORT_RANGE}"]),
    ("several ports need names", subset(ports=[{"name": "http", "port": 80, "protocol": "TCP"},
                                               {"port": 443, "protocol": "TCP"}]),
     ["subsets[0].ports[1].name: Required value"]),
    ("port name", subset(ports=[{"name": "HTTP", "port": 80, "protocol": "TCP"}]),
     [f'subsets[0].ports[0].name: Invalid value: "HTTP": {DNS1123_LABEL}']),
    ("protocol missing", subset(ports=[{"port": 80}]), ["subsets[0].ports[0].protocol: Required value"]),
    ("protocol unsupported", subset(ports=[{"port": 80, "protocol": "HTTP"}]),
     ['subsets[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"']),
]


@pytest.mark.parametrize("mutate, expected", [c[1:] for c in ENDPOINTS_CASES], ids=[c[0] for c in ENDPOINTS_CASES])
def test_validate_endpoints(mutate: Mutate | None, expected: list[str]) -> None:
    ep = endpoints()
    if mutate is not None:
        mutate(ep)
    assert [str(e) for e in validate_endpoints(ep, CIDR)] == expected


def test_service_cidr_rule_can_be_turned_off() -> None:
    ep = endpoints()
    address("10.96.0.10")(ep)
    assert validate_endpoints(ep, "") == []
    assert validate_endpoints(ep, "172.20.0.0/16") == []


def test_default_endpoints() -> None:
    ep = endpoints()
    ep["subsets"][0]["ports"] = [{"port": 80}, {"port": 53, "protocol": "UDP"}]
    default_endpoints(ep)
    assert ep["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]


def test_kubectl_message() -> None:
    ep = endpoints()
    address("127.0.0.1")(ep)
    err = errors.Invalid("Endpoints", "external-service", validate_endpoints(ep, CIDR))
    assert err.message == ('Endpoints "external-service" is invalid: subsets[0].addresses[0].ip: Invalid value: '
                           '"127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)')


# ---------------------------------------------------------------------------------------------
# EndpointSlice
# ---------------------------------------------------------------------------------------------


def endpoint_slice(address_type: str = "IPv4", *addresses: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubia-abc12", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubia"}},
        "addressType": address_type,
        "endpoints": [{"addresses": list(addresses or ["10.244.1.5"]), "conditions": {"ready": True},
                       "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "kubia-x"}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def slice_set(**values: Any) -> Mutate:
    def mutate(eps: dict[str, Any]) -> None:
        eps.update(values)
    return mutate


def endpoint_set(**values: Any) -> Mutate:
    def mutate(eps: dict[str, Any]) -> None:
        eps["endpoints"][0].update(values)
    return mutate


SLICE_CASES: list[tuple[str, dict[str, Any], Mutate | None, list[str]]] = [
    ("valid", endpoint_slice(), None, []),
    ("IPv6", endpoint_slice("IPv6", "fd00::5"), None, []),
    ("FQDN", endpoint_slice("FQDN", "db.example.com"), None, []),
    ("FQDN with a trailing dot", endpoint_slice("FQDN", "db.example.com."), None, []),
    ("addressType missing", endpoint_slice(), slice_set(addressType=""), ["addressType: Required value"]),
    ("addressType unsupported", endpoint_slice(), slice_set(addressType="IP"),
     ['addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"']),
    ("name", endpoint_slice(), lambda eps: eps["metadata"].update(name="Kubia_1"),
     [f'metadata.name: Invalid value: "Kubia_1": {DNS1123_SUBDOMAIN}']),
    ("no addresses", endpoint_slice(), endpoint_set(addresses=[]),
     ["endpoints[0].addresses: Required value: must contain at least 1 address"]),
    ("too many addresses", endpoint_slice(), endpoint_set(addresses=[f"10.244.0.{i}" for i in range(1, 102)]),
     ["endpoints[0].addresses: Too many: 101: must have at most 100 items"]),
    ("too many endpoints", endpoint_slice(), slice_set(endpoints=[{"addresses": ["10.244.0.1"]}] * 1001),
     ["endpoints: Too many: 1001: must have at most 1000 items"]),
    ("IPv6 address in an IPv4 slice", endpoint_slice("IPv4", "fd00::5"), None,
     ['endpoints[0].addresses[0]: Invalid value: "fd00::5": must be a valid IPv4 address']),
    ("IPv4 address in an IPv6 slice", endpoint_slice("IPv6", "10.244.1.5"), None,
     ['endpoints[0].addresses[0]: Invalid value: "10.244.1.5": must be a valid IPv6 address']),
    ("not an address", endpoint_slice("IPv4", "abc"), None,
     ['endpoints[0].addresses[0]: Invalid value: "abc": must be a valid IPv4 address',
      'endpoints[0].addresses[0]: Invalid value: "abc": must be a valid IP address']),
    ("loopback", endpoint_slice("IPv4", "127.0.0.1"), None,
     ['endpoints[0].addresses[0]: Invalid value: "127.0.0.1": may not be in the loopback range '
      '(127.0.0.0/8, ::1/128)']),
    ("FQDN with one label", endpoint_slice("FQDN", "localhost"), None,
     ['endpoints[0].addresses[0]: Invalid value: "localhost": should be a domain with at least two segments '
      'separated by dots']),
    ("FQDN not a DNS name", endpoint_slice("FQDN", "my_db.example.com"), None,
     [f'endpoints[0].addresses[0]: Invalid value: "my_db.example.com": {DNS1123_SUBDOMAIN}']),
    ("hostname", endpoint_slice(), endpoint_set(hostname="Web.1"),
     ['endpoints[0].hostname: Invalid value: "Web.1": ' + DNS1123_LABEL]),
    ("nodeName", endpoint_slice(), endpoint_set(nodeName="Node_1"),
     [f'endpoints[0].nodeName: Invalid value: "Node_1": {DNS1123_SUBDOMAIN}']),
    ("duplicate port name", endpoint_slice(),
     slice_set(ports=[{"name": "http", "port": 80, "protocol": "TCP"},
                      {"name": "http", "port": 81, "protocol": "TCP"}]),
     ['ports[1].name: Duplicate value: "http"']),
    ("two unnamed ports", endpoint_slice(),
     slice_set(ports=[{"name": "", "port": 80, "protocol": "TCP"}, {"name": "", "port": 81, "protocol": "UDP"}]),
     ['ports[1].name: Duplicate value: ""']),
    ("port name", endpoint_slice(), slice_set(ports=[{"name": "HTTP", "port": 80, "protocol": "TCP"}]),
     [f'ports[0].name: Invalid value: "HTTP": {DNS1123_LABEL}']),
    ("protocol missing", endpoint_slice(), slice_set(ports=[{"name": "http", "port": 80}]),
     ["ports[0].protocol: Required value"]),
    ("protocol unsupported", endpoint_slice(), slice_set(ports=[{"name": "http", "port": 80, "protocol": "HTTP"}]),
     ['ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"']),
    ("zone hints", endpoint_slice(), endpoint_set(hints={"forZones": [{"name": "a"}, {"name": "a"}]}),
     ['endpoints[0].hints.forZones[1].name: Duplicate value: "a"']),
]


@pytest.mark.parametrize("eps, mutate, expected", [c[1:] for c in SLICE_CASES], ids=[c[0] for c in SLICE_CASES])
def test_validate_endpoint_slice(eps: dict[str, Any], mutate: Mutate | None, expected: list[str]) -> None:
    eps = copy.deepcopy(eps)
    if mutate is not None:
        mutate(eps)
    assert [str(e) for e in validate_endpoint_slice(eps)] == expected


def test_default_endpoint_slice() -> None:
    eps = endpoint_slice()
    eps["ports"] = [{"port": 80}]
    default_endpoint_slice(eps)
    assert eps["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
    assert validate_endpoint_slice(eps) == []
