"""Service admission: defaults per type, every validation rule with Kubernetes' exact wording,
and the cluster-IP / node-port allocator (requests, conflicts, restore, type changes,
exhaustion, all-or-nothing)."""

from __future__ import annotations

import copy
import ipaddress
import random
from typing import Any, Callable

import pytest

from kubeloop.api import errors
from kubeloop.api.services import (
    ServiceAllocator,
    default_service,
    prepare_for_update,
    validate_service,
    validate_service_update,
)

CIDR = "10.96.0.0/12"
DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
           "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
           "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
DNS1123_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                 "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1123_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                     "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                     "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
               "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
               "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
PORT_RANGE = "must be between 1 and 65535, inclusive"


def make(name: str = "kubia", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"selector": {"app": "kubia"}, "ports": [{"port": 80, "targetPort": 8080}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": base}


def defaulted(svc: dict[str, Any]) -> dict[str, Any]:
    default_service(svc)
    return svc


def messages(errs: list[errors.FieldError]) -> list[str]:
    return [str(e) for e in errs]


def two_ports(**extra: Any) -> list[dict[str, Any]]:
    return [{"name": "http", "port": 80, "targetPort": 8080, **extra},
            {"name": "https", "port": 443, "targetPort": 8443, **extra}]


# ---------------------------------------------------------------------------------------------
# Defaults
# ---------------------------------------------------------------------------------------------

DEFAULT_CASES = [
    ("ClusterIP", {}, {
        "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"},
     ["externalTrafficPolicy", "allocateLoadBalancerNodePorts", "sessionAffinityConfig"]),
    ("NodePort", {"type": "NodePort"}, {
        "type": "NodePort", "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"},
     ["allocateLoadBalancerNodePorts"]),
    ("LoadBalancer", {"type": "LoadBalancer"}, {
        "type": "LoadBalancer", "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
        "allocateLoadBalancerNodePorts": True, "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"},
     []),
    ("ExternalName", {"type": "ExternalName", "externalName": "example.com"}, {"type": "ExternalName"},
     ["internalTrafficPolicy", "externalTrafficPolicy", "ipFamilies", "ipFamilyPolicy", "clusterIPs"]),
    ("ClientIP affinity", {"sessionAffinity": "ClientIP"},
     {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}}, []),
    ("ClientIP keeps its timeout", {"sessionAffinity": "ClientIP",
                                    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}},
     {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}, []),
    ("None drops affinity config", {"sessionAffinity": "None",
                                    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}},
     {"sessionAffinity": "None"}, ["sessionAffinityConfig"]),
    ("externalIPs make ClusterIP externally accessible", {"externalIPs": ["192.168.1.10"]},
     {"externalTrafficPolicy": "Cluster"}, []),
    ("clusterIP fills clusterIPs", {"clusterIP": "10.96.0.50"},
     {"clusterIP": "10.96.0.50", "clusterIPs": ["10.96.0.50"]}, []),
    ("headless with selector is single-stack", {"clusterIP": "None"},
     {"clusterIPs": ["None"], "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]}, []),
    ("headless without selector requires dual-stack, as Kubernetes", {"clusterIP": "None", "selector": None},
     {"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"]}, []),
]


@pytest.mark.parametrize("spec, expected, absent", [c[1:] for c in DEFAULT_CASES], ids=[c[0] for c in DEFAULT_CASES])
def test_defaults(spec: dict[str, Any], expected: dict[str, Any], absent: list[str]) -> None:
    svc = defaulted(make(**spec))
    for key, value in expected.items():
        assert svc["spec"][key] == value, key
    for key in absent:
        assert key not in svc["spec"], key
    assert svc["status"] == {"loadBalancer": {}}


def test_port_defaults() -> None:
    svc = defaulted(make(ports=[{"name": "a", "port": 80}, {"name": "b", "port": 53, "protocol": "UDP"},
                                {"name": "c", "port": 81, "targetPort": "web"},
                                {"name": "d", "port": 82, "targetPort": 0}]))
    assert svc["spec"]["ports"] == [
        {"name": "a", "port": 80, "protocol": "TCP", "targetPort": 80},
        {"name": "b", "port": 53, "protocol": "UDP", "targetPort": 53},
        {"name": "c", "port": 81, "protocol": "TCP", "targetPort": "web"},
        {"name": "d", "port": 82, "protocol": "TCP", "targetPort": 82},
    ]


@pytest.mark.parametrize("spec", [c[1] for c in DEFAULT_CASES], ids=[c[0] for c in DEFAULT_CASES])
def test_defaulted_services_are_valid(spec: dict[str, Any]) -> None:
    svc = defaulted(make(**spec))
    assert validate_service(svc, CIDR) == []
    assert ServiceAllocator().allocate(svc) is not None
    assert validate_service(svc, CIDR) == []


def test_default_is_idempotent() -> None:
    once = defaulted(make(type="LoadBalancer", sessionAffinity="ClientIP"))
    twice = defaulted(copy.deepcopy(once))
    assert once == twice


# ---------------------------------------------------------------------------------------------
# Validation: one row per rule, with the exact causes kubectl prints
# ---------------------------------------------------------------------------------------------

Mutate = Callable[[dict[str, Any]], None]


def spec_set(**values: Any) -> Mutate:
    def mutate(svc: dict[str, Any]) -> None:
        svc["spec"].update(values)
    return mutate


def meta_set(**values: Any) -> Mutate:
    def mutate(svc: dict[str, Any]) -> None:
        svc["metadata"].update(values)
    return mutate


VALIDATION_CASES: list[tuple[str, dict[str, Any], Mutate | None, list[str]]] = [
    ("valid", {}, None, []),
    ("uppercase name", {}, meta_set(name="Kubia"), [f'metadata.name: Invalid value: "Kubia": {DNS1035}']),
    ("name starts with a digit", {}, meta_set(name="1kubia"), [f'metadata.name: Invalid value: "1kubia": {DNS1035}']),
    ("name too long", {}, meta_set(name="a" * 64),
     [f'metadata.name: Invalid value: "{"a" * 64}": must be no more than 63 characters']),
    ("name missing", {}, meta_set(name=""), ["metadata.name: Required value: name or generateName is required"]),
    ("no ports", {"ports": []}, None, ["spec.ports: Required value"]),
    ("headless needs no ports", {"ports": [], "clusterIP": "None"}, None, []),
    ("ExternalName needs no ports", {"ports": [], "type": "ExternalName", "externalName": "example.com"}, None, []),
    ("port out of range", {"ports": [{"port": 70000, "targetPort": 8080}]}, None,
     [f"spec.ports[0].port: Invalid value: 70000: {PORT_RANGE}"]),
    ("port zero", {"ports": [{"port": 0, "targetPort": 8080}]}, None,
     [f"spec.ports[0].port: Invalid value: 0: {PORT_RANGE}"]),
    ("port defaulted into targetPort", {"ports": [{"port": 70000}]}, None,
     [f"spec.ports[0].port: Invalid value: 70000: {PORT_RANGE}",
      f"spec.ports[0].targetPort: Invalid value: 70000: {PORT_RANGE}"]),
    ("second port unnamed", {"ports": [{"name": "http", "port": 80}, {"port": 443}]}, None,
     ["spec.ports[1].name: Required value"]),
    ("duplicate port name", {"ports": [{"name": "http", "port": 80}, {"name": "http", "port": 81}]}, None,
     ['spec.ports[1].name: Duplicate value: "http"']),
    ("port name not a DNS label", {"ports": [{"name": "HTTP", "port": 80}]}, None,
     [f'spec.ports[0].name: Invalid value: "HTTP": {DNS1123_LABEL}']),
    ("port name with a dot", {"ports": [{"name": "a.b", "port": 80}]}, None,
     ['spec.ports[0].name: Invalid value: "a.b": must not contain dots']),
    ("duplicate port and protocol", {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]}, None,
     ['spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), '
      'Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}']),
    ("same port, other protocol", {"ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                                             {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}, None, []),
    ("unsupported protocol", {"ports": [{"port": 80, "protocol": "HTTP"}]}, None,
     ['spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"']),
    ("targetPort out of range", {"ports": [{"port": 80, "targetPort": 65536}]}, None,
     [f"spec.ports[0].targetPort: Invalid value: 65536: {PORT_RANGE}"]),
    ("targetPort named", {"ports": [{"port": 80, "targetPort": "http-alt"}]}, None, []),
    ("targetPort name with capitals", {"ports": [{"port": 80, "targetPort": "Http"}]}, None,
     ['spec.ports[0].targetPort: Invalid value: "Http": '
      'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)']),
    ("targetPort name without a letter", {"ports": [{"port": 80, "targetPort": "8080"}]}, None,
     ['spec.ports[0].targetPort: Invalid value: "8080": must contain at least one letter (a-z)']),
    ("targetPort name with hyphens", {"ports": [{"port": 80, "targetPort": "-web--x"}]}, None,
     ['spec.ports[0].targetPort: Invalid value: "-web--x": must not contain consecutive hyphens',
      'spec.ports[0].targetPort: Invalid value: "-web--x": must not begin or end with a hyphen']),
    ("targetPort name too long", {"ports": [{"port": 80, "targetPort": "averyverylongname"}]}, None,
     ['spec.ports[0].targetPort: Invalid value: "averyverylongname": must be no more than 15 characters']),
    ("appProtocol", {"ports": [{"port": 80, "appProtocol": "a/b/c"}]}, None,
     ["spec.ports[0].appProtocol: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric "
      "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
      "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an "
      "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]),
    ("nodePort on ClusterIP", {"ports": [{"port": 80, "nodePort": 30080}]}, None,
     ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]),
    ("duplicate nodePort", {"type": "NodePort", "ports": two_ports(nodePort=30080)}, None,
     ["spec.ports[1].nodePort: Duplicate value: 30080"]),
    ("unknown type", {"type": "Foo"}, None,
     ['spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
      '"NodePort"']),
    ("unknown session affinity", {"sessionAffinity": "Sticky"}, None,
     ['spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"']),
    ("affinity timeout zero", {"sessionAffinity": "ClientIP",
                               "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}}, None,
     ["spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than "
      "86400"]),
    ("affinity timeout too long", {"sessionAffinity": "ClientIP",
                                   "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86401}}}, None,
     ["spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less "
      "than 86400"]),
    ("affinity timeout at the limit", {"sessionAffinity": "ClientIP",
                                       "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86400}}}, None, []),
    ("affinity config with None", {}, spec_set(sessionAffinityConfig={"clientIP": {"timeoutSeconds": 10}}),
     ["spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None"]),
    ("affinity config missing", {"sessionAffinity": "ClientIP"}, lambda s: s["spec"].pop("sessionAffinityConfig"),
     ["spec.sessionAffinityConfig: Required value: when session affinity type is ClientIP"]),
    ("clusterIP not an IP", {"clusterIP": "abc"}, None,
     ['spec.clusterIPs[0]: Invalid value: "abc": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']),
    ("clusterIP outside the range", {"clusterIP": "192.168.0.1"}, None,
     ['spec.clusterIPs: Invalid value: []string{"192.168.0.1"}: failed to allocate IP 192.168.0.1: provided IP is '
      'not in the valid range. The range of valid IPs is 10.96.0.0/12']),
    ("clusterIP is the network address", {"clusterIP": "10.96.0.0"}, None,
     ['spec.clusterIPs: Invalid value: []string{"10.96.0.0"}: failed to allocate IP 10.96.0.0: provided IP is '
      'not in the valid range. The range of valid IPs is 10.96.0.0/12']),
    ("clusterIP is the broadcast address", {"clusterIP": "10.111.255.255"}, None,
     ['spec.clusterIPs: Invalid value: []string{"10.111.255.255"}: failed to allocate IP 10.111.255.255: provided '
      'IP is not in the valid range. The range of valid IPs is 10.96.0.0/12']),
    ("clusterIP inside the range", {"clusterIP": "10.96.0.10"}, None, []),
    ("clusterIPs disagree", {"clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.6"]}, None,
     ['spec.clusterIPs: Invalid value: []string{"10.96.0.6"}: first value must match `clusterIP`']),
    ("None on NodePort", {"type": "NodePort", "clusterIP": "None"}, None,
     ['spec.clusterIPs[0]: Invalid value: "None": may not be set to \'None\' for NodePort services']),
    ("None on LoadBalancer", {"type": "LoadBalancer", "clusterIP": "None"}, None,
     ['spec.clusterIPs[0]: Invalid value: "None": may not be set to \'None\' for LoadBalancer services']),
    ("unknown ipFamily", {"ipFamilies": ["IPv5"]}, None,
     ['spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"']),
    ("unknown ipFamilyPolicy", {"ipFamilyPolicy": "Both"}, None,
     ['spec.ipFamilyPolicy: Unsupported value: "Both": supported values: "PreferDualStack", "RequireDualStack", '
      '"SingleStack"']),
    ("ExternalName without a name", {"type": "ExternalName"}, None, ["spec.externalName: Required value"]),
    ("ExternalName not a DNS name", {"type": "ExternalName", "externalName": "my_db.example.com"}, None,
     [f'spec.externalName: Invalid value: "my_db.example.com": {DNS1123_SUBDOMAIN}']),
    ("ExternalName fully qualified", {"type": "ExternalName", "externalName": "db.example.com."}, None, []),
    ("ExternalName with a clusterIP", {"type": "ExternalName", "externalName": "example.com",
                                       "clusterIP": "10.96.0.5"}, None,
     ["spec.clusterIPs: Forbidden: may not be set for ExternalName services"]),
    ("ExternalName with ipFamilies", {"type": "ExternalName", "externalName": "example.com"},
     spec_set(ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack"),
     ["spec.ipFamilies: Forbidden: may not be set for ExternalName services",
      "spec.ipFamilyPolicy: Forbidden: may not be set for ExternalName services"]),
    ("externalTrafficPolicy on ClusterIP", {"externalTrafficPolicy": "Local"}, None,
     ['spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services']),
    ("unknown externalTrafficPolicy", {"type": "NodePort", "externalTrafficPolicy": "Global"}, None,
     ['spec.externalTrafficPolicy: Unsupported value: "Global": supported values: "Cluster", "Local"']),
    ("unknown internalTrafficPolicy", {"internalTrafficPolicy": "Node"}, None,
     ['spec.internalTrafficPolicy: Unsupported value: "Node": supported values: "Cluster", "Local"']),
    ("healthCheckNodePort without Local", {"type": "NodePort", "healthCheckNodePort": 30500}, None,
     ["spec.healthCheckNodePort: Invalid value: 30500: may only be set when `type` is 'LoadBalancer' and "
      "`externalTrafficPolicy` is 'Local'"]),
    ("LoadBalancer Local before allocation", {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}, None, []),
    ("allocateLoadBalancerNodePorts on ClusterIP", {"allocateLoadBalancerNodePorts": False}, None,
     ["spec.allocateLoadBalancerNodePorts: Forbidden: may only be used when `type` is 'LoadBalancer'"]),
    ("loadBalancerClass on ClusterIP", {"loadBalancerClass": "example.com/lb"}, None,
     ["spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'"]),
    ("source ranges on ClusterIP", {"loadBalancerSourceRanges": ["10.0.0.0/8"]}, None,
     ["spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"]),
    ("source range not a CIDR", {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0"]}, None,
     ['spec.LoadBalancerSourceRanges[0]: Invalid value: "10.0.0.0": must be a valid CIDR value, '
      '(e.g. 10.9.8.0/24 or 2001:db8::/64)']),
    ("externalIP loopback", {"externalIPs": ["127.0.0.1"]}, None,
     ['spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)']),
    ("externalIP not an IP", {"externalIPs": ["abc"]}, None,
     ['spec.externalIPs[0]: Invalid value: "abc": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']),
    ("selector value", {"selector": {"app": "bad value"}}, None,
     [f'spec.selector: Invalid value: "bad value": {LABEL_VALUE}']),
    ("trafficDistribution", {"trafficDistribution": "Random"}, None,
     ['spec.trafficDistribution: Unsupported value: "Random": supported values: "PreferClose"']),
    ("topology annotations disagree", {},
     meta_set(annotations={"service.kubernetes.io/topology-mode": "Auto",
                           "service.kubernetes.io/topology-aware-hints": "Disabled"}),
     ['metadata.annotations[service.kubernetes.io/topology-mode]: Invalid value: "Auto": must match '
      'annotations[service.kubernetes.io/topology-aware-hints] when both are specified']),
]


@pytest.mark.parametrize("spec, mutate, expected", [c[1:] for c in VALIDATION_CASES],
                         ids=[c[0] for c in VALIDATION_CASES])
def test_validate_service(spec: dict[str, Any], mutate: Mutate | None, expected: list[str]) -> None:
    svc = defaulted(make(**spec))
    if mutate is not None:
        mutate(svc)
    assert messages(validate_service(svc, CIDR)) == expected


def test_kubectl_message_is_built_from_causes() -> None:
    svc = defaulted(make(name="x", ports=[{"port": 70000, "targetPort": 80}]))
    err = errors.Invalid("Service", "x", validate_service(svc, CIDR))
    assert err.message == 'Service "x" is invalid: spec.ports[0].port: Invalid value: 70000: ' + PORT_RANGE
    assert err.status()["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "message": f"Invalid value: 70000: {PORT_RANGE}",
         "field": "spec.ports[0].port"}]


def test_range_check_follows_the_configured_cidr() -> None:
    svc = defaulted(make(clusterIP="10.96.0.5"))
    assert messages(validate_service(svc, "172.20.0.0/16")) == [
        'spec.clusterIPs: Invalid value: []string{"10.96.0.5"}: failed to allocate IP 10.96.0.5: provided IP is not '
        'in the valid range. The range of valid IPs is 172.20.0.0/16']


# ---------------------------------------------------------------------------------------------
# Update validation and preparation
# ---------------------------------------------------------------------------------------------


def stored(**spec: Any) -> dict[str, Any]:
    """A Service as the API server would have stored it."""
    svc = defaulted(make(**spec))
    ServiceAllocator(rng=random.Random(7)).allocate(svc)
    return svc


def test_cluster_ip_may_not_change() -> None:
    old = stored(clusterIP="10.96.0.6")
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.7"
    prepare_for_update(new, old)
    assert messages(validate_service_update(new, old, CIDR)) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.7"}: may not change once set']


def test_omitted_cluster_ip_and_node_ports_are_kept() -> None:
    old = stored(type="NodePort", clusterIP="10.96.0.6", ports=two_ports())
    new = defaulted(make(type="NodePort", ports=two_ports()))  # a PUT of the original manifest
    prepare_for_update(new, old)
    assert new["spec"]["clusterIPs"] == ["10.96.0.6"]
    assert [p["nodePort"] for p in new["spec"]["ports"]] == [p["nodePort"] for p in old["spec"]["ports"]]
    assert validate_service_update(new, old, CIDR) == []


def test_unset_cluster_ip_without_preparation() -> None:
    old = stored(clusterIP="10.96.0.6")
    new = defaulted(make())
    assert messages(validate_service_update(new, old, CIDR)) == [
        "spec.clusterIPs[0]: Invalid value: []string(nil): primary clusterIP can not be unset"]


def test_ip_families_may_not_change() -> None:
    old = stored()
    new = copy.deepcopy(old)
    new["spec"]["ipFamilies"] = ["IPv6"]
    ip = old["spec"]["clusterIP"]
    assert messages(validate_service_update(new, old, CIDR)) == [
        'spec.ipFamilies[0]: Invalid value: []core.IPFamily{"IPv6"}: may not change once set',
        f'spec.clusterIPs[0]: Invalid value: "{ip}": expected an IPv6 value as indicated by `ipFamilies[0]`']


def test_load_balancer_class_may_not_change() -> None:
    old = stored(type="LoadBalancer", loadBalancerClass="example.com/a")
    new = copy.deepcopy(old)
    new["spec"]["loadBalancerClass"] = "example.com/b"
    assert messages(validate_service_update(new, old, CIDR)) == [
        'spec.loadBalancerClass: Invalid value: "example.com/b": may not change once set']


def test_health_check_node_port_is_immutable() -> None:
    old = stored(type="LoadBalancer", externalTrafficPolicy="Local")
    new = copy.deepcopy(old)
    new["spec"]["healthCheckNodePort"] = old["spec"]["healthCheckNodePort"] + 1
    assert messages(validate_service_update(new, old, CIDR)) == [
        "spec.healthCheckNodePort: Forbidden: field is immutable"]


TYPE_CHANGES = [
    ("NodePort to ClusterIP", {"type": "NodePort"}, {"type": "ClusterIP"}),
    ("LoadBalancer to ClusterIP", {"type": "LoadBalancer"}, {"type": "ClusterIP"}),
    ("ClusterIP to ExternalName", {}, {"type": "ExternalName", "externalName": "example.com"}),
    ("ClusterIP to NodePort", {}, {"type": "NodePort"}),
    ("ExternalName to ClusterIP", {"type": "ExternalName", "externalName": "example.com"},
     {"type": "ClusterIP", "externalName": None}),
]


@pytest.mark.parametrize("before, change", [c[1:] for c in TYPE_CHANGES], ids=[c[0] for c in TYPE_CHANGES])
def test_type_change_by_apply_is_valid(before: dict[str, Any], change: dict[str, Any]) -> None:
    """kubectl apply merges the change into the stored object, so old fields ride along."""
    allocator = ServiceAllocator(rng=random.Random(3))
    old = defaulted(make(**before))
    allocator.allocate(old)
    new = copy.deepcopy(old)
    for key, value in change.items():
        if value is None:
            new["spec"].pop(key, None)
        else:
            new["spec"][key] = value
    default_service(new)
    allocator.update(new, old)
    assert validate_service_update(new, old, CIDR) == []


def test_external_name_to_cluster_ip_checks_the_requested_range() -> None:
    old = stored(type="ExternalName", externalName="example.com")
    new = copy.deepcopy(old)
    new["spec"].update(type="ClusterIP", clusterIP="192.168.0.9")
    new["spec"].pop("externalName")
    default_service(new)
    prepare_for_update(new, old)
    assert messages(validate_service_update(new, old, CIDR)) == [
        'spec.clusterIPs: Invalid value: []string{"192.168.0.9"}: failed to allocate IP 192.168.0.9: provided IP is '
        'not in the valid range. The range of valid IPs is 10.96.0.0/12']


# ---------------------------------------------------------------------------------------------
# Allocator
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def allocator() -> ServiceAllocator:
    return ServiceAllocator(rng=random.Random(42))


def new_service(name: str = "kubia", **spec: Any) -> dict[str, Any]:
    return defaulted(make(name, **spec))


def invalid_causes(exc: pytest.ExceptionInfo[errors.Invalid]) -> list[str]:
    return [str(e) for e in exc.value.errors]


def test_kubernetes_service_gets_the_first_address(allocator: ServiceAllocator) -> None:
    svc = new_service("kubernetes", ports=[{"name": "https", "port": 443, "targetPort": 6443}])
    allocator.allocate(svc)
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["clusterIPs"] == ["10.96.0.1"]


def test_kubernetes_elsewhere_is_an_ordinary_service(allocator: ServiceAllocator) -> None:
    svc = new_service("kubernetes")
    svc["metadata"]["namespace"] = "other"
    allocator.allocate(svc)
    assert svc["spec"]["clusterIP"] != "10.96.0.1"


def test_dynamic_addresses_avoid_the_static_band(allocator: ServiceAllocator) -> None:
    band_end = ipaddress.ip_address("10.96.1.0")  # the lowest 256 usable addresses of a /12
    seen = set()
    for i in range(300):
        svc = new_service(f"s{i}")
        allocator.allocate(svc)
        ip = ipaddress.ip_address(svc["spec"]["clusterIP"])
        assert ip in ipaddress.ip_network(CIDR) and ip > band_end
        assert svc["spec"]["clusterIPs"] == [str(ip)]
        seen.add(ip)
    assert len(seen) == 300
    dns = new_service("kube-dns", clusterIP="10.96.0.10")
    allocator.allocate(dns)
    assert dns["spec"]["clusterIP"] == "10.96.0.10"


def test_requested_address_is_honoured_then_refused(allocator: ServiceAllocator) -> None:
    first = new_service("a", clusterIP="10.96.0.5")
    allocator.allocate(first)
    assert first["spec"]["clusterIP"] == "10.96.0.5"
    second = new_service("b", clusterIP="10.96.0.5")
    with pytest.raises(errors.Invalid) as exc:
        allocator.allocate(second)
    assert exc.value.message == ('Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.5"}: '
                                 'failed to allocate IP 10.96.0.5: provided IP is already allocated')
    assert exc.value.code == 422


def test_requested_address_outside_the_range(allocator: ServiceAllocator) -> None:
    with pytest.raises(errors.Invalid) as exc:
        allocator.allocate(new_service(clusterIP="10.0.0.1"))
    assert invalid_causes(exc) == [
        'spec.clusterIPs: Invalid value: []string{"10.0.0.1"}: failed to allocate IP 10.0.0.1: provided IP is not in '
        'the valid range. The range of valid IPs is 10.96.0.0/12']


FAMILY_ERRORS = [
    ("RequireDualStack", {"ipFamilyPolicy": "RequireDualStack"},
     ['spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack '
      'services']),
    ("IPv6 family", {"ipFamilies": ["IPv6"]},
     ['spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster']),
    ("IPv6 address", {"clusterIP": "fd00::10"},
     ['spec.clusterIPs[0]: Invalid value: []string{"fd00::10"}: IPv6 is not configured on this cluster']),
    ("not an IP", {"clusterIP": "abc"},
     ['spec.clusterIPs[0]: Invalid value: "abc": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']),
]


@pytest.mark.parametrize("spec, expected", [c[1:] for c in FAMILY_ERRORS], ids=[c[0] for c in FAMILY_ERRORS])
def test_families_this_cluster_lacks(allocator: ServiceAllocator, spec: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(errors.Invalid) as exc:
        allocator.allocate(new_service(**spec))
    assert invalid_causes(exc) == expected
    assert not allocator.ip_bits.used


def test_headless_and_external_name_take_no_address(allocator: ServiceAllocator) -> None:
    headless = new_service("h", clusterIP="None", selector=None)
    allocator.allocate(headless)
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["clusterIPs"] == ["None"]
    external = new_service("e", type="ExternalName", externalName="example.com")
    allocator.allocate(external)
    assert "clusterIP" not in external["spec"]
    assert not allocator.ip_bits.used


def test_node_ports(allocator: ServiceAllocator) -> None:
    svc = new_service(type="NodePort", ports=two_ports())
    allocator.allocate(svc)
    ports = [p["nodePort"] for p in svc["spec"]["ports"]]
    assert len(set(ports)) == 2
    assert all(30000 + 86 <= p <= 32767 for p in ports)  # dynamic picks skip the static band
    assert all(allocator.node_port_allocated(p) for p in ports)


def test_requested_node_port_honoured_then_refused(allocator: ServiceAllocator) -> None:
    first = new_service("a", type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    allocator.allocate(first)
    assert first["spec"]["ports"][0]["nodePort"] == 30080
    with pytest.raises(errors.Invalid) as exc:
        allocator.allocate(new_service("b", type="NodePort", ports=[{"port": 80, "nodePort": 30080}]))
    assert exc.value.message == ('Service "b" is invalid: spec.ports[0].nodePort: Invalid value: 30080: '
                                 'provided port is already allocated')


def test_requested_node_port_outside_the_range(allocator: ServiceAllocator) -> None:
    with pytest.raises(errors.Invalid) as exc:
        allocator.allocate(new_service(type="NodePort", ports=[{"port": 80, "nodePort": 8080}]))
    assert invalid_causes(exc) == [
        "spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"]


def test_tcp_and_udp_of_one_port_share_a_node_port(allocator: ServiceAllocator) -> None:
    svc = new_service(type="NodePort", ports=[{"name": "dns", "port": 53, "protocol": "UDP"},
                                              {"name": "dns-tcp", "port": 53, "protocol": "TCP"}])
    allocator.allocate(svc)
    first, second = (p["nodePort"] for p in svc["spec"]["ports"])
    assert first == second
    assert validate_service(svc, CIDR) == []


def test_load_balancer_node_ports_and_health_check(allocator: ServiceAllocator) -> None:
    lb = new_service(type="LoadBalancer", externalTrafficPolicy="Local")
    allocator.allocate(lb)
    assert lb["spec"]["ports"][0]["nodePort"] and lb["spec"]["healthCheckNodePort"]
    assert validate_service(lb, CIDR) == []
    no_ports = new_service("quiet", type="LoadBalancer", allocateLoadBalancerNodePorts=False)
    allocator.allocate(no_ports)
    assert "nodePort" not in no_ports["spec"]["ports"][0]


def test_restore_marks_existing_allocations(allocator: ServiceAllocator) -> None:
    existing = [
        {"spec": {"type": "NodePort", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
                  "ports": [{"port": 80, "nodePort": 30100}]}},
        {"spec": {"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"], "ports": []}},
        {"spec": {"type": "ClusterIP", "clusterIP": "172.16.0.1", "ports": []}},  # out of range: ignored
    ]
    allocator.restore(existing)
    assert allocator.ip_allocated("10.96.0.20") and allocator.node_port_allocated(30100)
    with pytest.raises(errors.Invalid) as exc:
        allocator.allocate(new_service(clusterIP="10.96.0.20"))
    assert "provided IP is already allocated" in exc.value.message
    with pytest.raises(errors.Invalid) as exc:
        allocator.allocate(new_service(type="NodePort", ports=[{"port": 80, "nodePort": 30100}]))
    assert "provided port is already allocated" in exc.value.message


def test_release_then_reuse(allocator: ServiceAllocator) -> None:
    svc = new_service(type="NodePort", clusterIP="10.96.0.30", ports=[{"port": 80, "nodePort": 30200}])
    allocator.allocate(svc)
    allocator.release(svc)
    assert not allocator.ip_allocated("10.96.0.30") and not allocator.node_port_allocated(30200)
    again = new_service("again", type="NodePort", clusterIP="10.96.0.30", ports=[{"port": 80, "nodePort": 30200}])
    allocator.allocate(again)
    assert again["spec"]["clusterIP"] == "10.96.0.30"


def test_cluster_ip_to_node_port_and_back(allocator: ServiceAllocator) -> None:
    old = new_service(ports=two_ports())
    allocator.allocate(old)
    ip = old["spec"]["clusterIP"]

    as_node_port = copy.deepcopy(old)
    as_node_port["spec"]["type"] = "NodePort"
    default_service(as_node_port)
    allocator.update(as_node_port, old)
    node_ports = [p["nodePort"] for p in as_node_port["spec"]["ports"]]
    assert as_node_port["spec"]["clusterIP"] == ip
    assert all(allocator.node_port_allocated(p) for p in node_ports)
    assert validate_service_update(as_node_port, old, CIDR) == []

    back = copy.deepcopy(as_node_port)
    back["spec"]["type"] = "ClusterIP"
    allocator.update(back, as_node_port)
    assert back["spec"]["clusterIP"] == ip and allocator.ip_allocated(ip)
    assert all("nodePort" not in p for p in back["spec"]["ports"])
    assert "externalTrafficPolicy" not in back["spec"]
    assert not any(allocator.node_port_allocated(p) for p in node_ports)
    assert validate_service_update(back, as_node_port, CIDR) == []


def test_external_name_round_trip(allocator: ServiceAllocator) -> None:
    old = new_service()
    allocator.allocate(old)
    ip = old["spec"]["clusterIP"]
    external = copy.deepcopy(old)
    external["spec"].update(type="ExternalName", externalName="example.com")
    allocator.update(external, old)
    assert "clusterIP" not in external["spec"] and "ipFamilies" not in external["spec"]
    assert not allocator.ip_allocated(ip)
    back = copy.deepcopy(external)
    back["spec"]["type"] = "ClusterIP"
    back["spec"].pop("externalName")
    default_service(back)
    allocator.update(back, external)
    assert allocator.ip_allocated(back["spec"]["clusterIP"])


def test_update_is_all_or_nothing(allocator: ServiceAllocator) -> None:
    allocator.allocate(new_service("holder", type="NodePort", ports=[{"port": 80, "nodePort": 30300}]))
    old = new_service(ports=two_ports())
    allocator.allocate(old)
    before = (set(allocator.ip_bits.used), set(allocator.port_bits.used))
    new = copy.deepcopy(old)
    new["spec"]["type"] = "NodePort"
    new["spec"]["ports"][1]["nodePort"] = 30300
    default_service(new)
    with pytest.raises(errors.Invalid) as exc:
        allocator.update(new, old)
    assert invalid_causes(exc) == ["spec.ports[1].nodePort: Invalid value: 30300: provided port is already allocated"]
    assert (allocator.ip_bits.used, allocator.port_bits.used) == before
    assert "nodePort" not in new["spec"]["ports"][0]


def test_allocate_is_all_or_nothing(allocator: ServiceAllocator) -> None:
    allocator.allocate(new_service("holder", type="NodePort", ports=[{"port": 80, "nodePort": 30300}]))
    before = (set(allocator.ip_bits.used), set(allocator.port_bits.used))
    svc = new_service(type="NodePort", ports=[{"name": "a", "port": 80}, {"name": "b", "port": 81, "nodePort": 30300}])
    pristine = copy.deepcopy(svc)
    with pytest.raises(errors.Invalid) as exc:
        allocator.allocate(svc)
    assert invalid_causes(exc) == ["spec.ports[1].nodePort: Invalid value: 30300: provided port is already allocated"]
    assert (allocator.ip_bits.used, allocator.port_bits.used) == before
    assert svc == pristine


def test_reservation_undo(allocator: ServiceAllocator) -> None:
    svc = new_service(type="NodePort")
    reservation = allocator.allocate(svc)
    reservation.undo()
    assert not allocator.ip_bits.used and not allocator.port_bits.used

    old = new_service("b", type="NodePort", ports=[{"port": 80, "nodePort": 30400}])
    allocator.allocate(old)
    new = copy.deepcopy(old)
    new["spec"]["type"] = "ClusterIP"
    allocator.update(new, old).undo()  # e.g. validation failed after the update
    assert allocator.node_port_allocated(30400)


def test_address_exhaustion_on_a_tiny_range() -> None:
    allocator = ServiceAllocator("10.0.0.0/29", rng=random.Random(1))
    got = []
    for i in range(5):  # .1 is kept for default/kubernetes, .7 is broadcast
        svc = new_service(f"s{i}")
        allocator.allocate(svc)
        got.append(svc["spec"]["clusterIP"])
    assert sorted(got) == [f"10.0.0.{n}" for n in range(2, 7)]
    with pytest.raises(errors.InternalError) as exc:
        allocator.allocate(new_service("full"))
    assert exc.value.code == 500
    assert exc.value.message == "Internal error occurred: failed to allocate a serviceIP: range is full"
    assert exc.value.status()["details"] == {"causes": [{"message": "failed to allocate a serviceIP: range is full"}]}
    kubernetes = new_service("kubernetes")
    allocator.allocate(kubernetes)
    assert kubernetes["spec"]["clusterIP"] == "10.0.0.1"


def test_node_port_exhaustion_releases_the_address() -> None:
    allocator = ServiceAllocator(node_port_range=(30000, 30001), rng=random.Random(1))
    allocator.allocate(new_service("a", type="NodePort", ports=two_ports()))
    with pytest.raises(errors.InternalError) as exc:
        allocator.allocate(new_service("b", type="NodePort"))
    assert exc.value.message == "Internal error occurred: failed to allocate a nodePort: range is full"
    assert len(allocator.ip_bits.used) == 1
