"""Unit tests of the service proxy's model (kubeloop.proxy.model) and nftables rendering
(kubeloop.proxy.rules): API objects -> service ports and endpoints, golden scripts for the
shapes of service kube-proxy handles (multi-port with ClientIP affinity, NodePort,
LoadBalancer with Local policy, host-mode load balancing, no endpoints), incremental updates
that touch only what changed, and -- as root, in a throwaway network namespace -- that every
rendered script is accepted by the kernel through nft, in sequence.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from kubeloop.proxy.model import (EndpointInfo, ServicePortInfo, endpoints_for, local_endpoints, select_endpoints,
                                  service_ports, slice_service_key)
from kubeloop.proxy.proxier import LatencyHistogram
from kubeloop.proxy.rules import (GLOBAL, RenderConfig, RuleState, chain_hash, delete_table_script, global_fragment,
                                  service_fragment)

NODE_CFG = RenderConfig(node_name="node-a", node_ips=("172.30.0.11",), cluster_cidr="10.244.0.0/16")
HOST_CFG = RenderConfig(host=True, cluster_cidr="10.244.0.0/16")


def svc(name: str, ports: list[dict[str, Any]], cluster_ip: str = "10.96.0.20", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"clusterIP": cluster_ip, "type": "ClusterIP", "ports": ports, **spec}}


def eps_slice(svc_name: str, ports: list[dict[str, Any]], endpoints: list[dict[str, Any]], name: str = "",
              address_type: str = "IPv4") -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": address_type,
            "metadata": {"name": name or f"{svc_name}-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": svc_name}},
            "ports": ports, "endpoints": endpoints}


def ep(ip: str, node: str, ready: bool | None = True, serving: bool | None = None,
       terminating: bool | None = None) -> dict[str, Any]:
    cond = {k: v for k, v in (("ready", ready), ("serving", serving), ("terminating", terminating)) if v is not None}
    return {"addresses": [ip], "conditions": cond, "nodeName": node}


def render(service: dict[str, Any], slices: list[dict[str, Any]], cfg: RenderConfig = NODE_CFG,
           lb: tuple[str, ...] = ()) -> str:
    """The incremental script that adds one service to a table holding only the global part."""
    st = RuleState(cfg)
    st.update({GLOBAL: global_fragment(cfg)})
    return st.update({p.key: service_fragment(p, endpoints_for(p, slices), cfg, lb) for p in service_ports(service)})


S1 = svc("kubia", [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                   {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}],
         sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 10800}})
S1_SLICE = eps_slice("kubia", [{"name": "http", "port": 8080, "protocol": "TCP"},
                               {"name": "https", "port": 8443, "protocol": "TCP"}],
                     [ep("10.244.1.5", "node-a"), ep("10.244.2.7", "node-b"), ep("10.244.2.8", "node-b", ready=False)])
TWO = [ep("10.244.1.5", "node-a"), ep("10.244.2.7", "node-b")]
UNNAMED = [{"name": "", "port": 8080, "protocol": "TCP"}]


# -- model ---------------------------------------------------------------------------------

def test_service_ports_multi_port_affinity() -> None:
    http, https = service_ports(S1)
    assert (http.key, http.port, http.affinity_timeout) == ("default/kubia:http/TCP", 80, 10800)
    assert (https.port_name, https.port, https.cluster_ip) == ("https", 443, "10.96.0.20")
    assert not http.has_external


def test_service_ports_kinds() -> None:
    assert service_ports(svc("h", [{"port": 80}], cluster_ip="None")) == []
    assert service_ports({"metadata": {"name": "e", "namespace": "default"},
                          "spec": {"type": "ExternalName", "externalName": "example.com"}}) == []
    (p,) = service_ports(svc("a", [{"port": 80}], sessionAffinity="ClientIP"))
    assert p.affinity_timeout == 10800 and p.protocol == "TCP" and p.port_name == ""
    lb = svc("lb", [{"port": 80, "nodePort": 30001}], type="LoadBalancer", externalTrafficPolicy="Local",
             externalIPs=["172.30.0.50", "fe80::1", "172.30.0.50"])
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "172.30.0.200"}, {"hostname": "lb.example"}]}}
    (p,) = service_ports(lb)
    assert (p.node_port, p.load_balancer_ips, p.external_ips) == (30001, ("172.30.0.200",), ("172.30.0.50",))
    assert p.external_policy_local and p.has_external
    (p,) = service_ports(svc("c", [{"port": 80, "nodePort": 30001}], externalTrafficPolicy="Local"))
    assert p.node_port == 0 and not p.external_policy_local  # ClusterIP: neither applies
    (p,) = service_ports(svc("i", [{"port": 53, "protocol": "UDP"}], internalTrafficPolicy="Local"))
    assert p.internal_policy_local and p.protocol == "UDP"


def test_endpoints_target_port_comes_from_each_slice() -> None:
    """Named target ports resolve per pod: two slices may carry different numbers."""
    (port,) = service_ports(svc("kubia", [{"name": "http", "port": 80, "targetPort": "web"}]))
    s1 = eps_slice("kubia", [{"name": "http", "port": 8080, "protocol": "TCP"}], [ep("10.244.1.5", "a")], "s1")
    s2 = eps_slice("kubia", [{"name": "http", "port": 9090, "protocol": "TCP"}], [ep("10.244.2.7", "b")], "s2")
    other = eps_slice("kubia", [{"name": "metrics", "port": 9100, "protocol": "TCP"}], [ep("10.244.3.1", "c")], "s3")
    v6 = eps_slice("kubia", [{"name": "http", "port": 8080, "protocol": "TCP"}], [ep("fd00::1", "a")], "s4", "IPv6")
    assert endpoints_for(port, [s2, s1, other, v6]) == (
        EndpointInfo("10.244.1.5", 8080, True, True, False, "a"), EndpointInfo("10.244.2.7", 9090, True, True, False, "b"))
    assert slice_service_key(s1) == "default/kubia"


def test_endpoint_conditions_and_selection() -> None:
    (port,) = service_ports(svc("k", [{"port": 80}]))
    sl = eps_slice("k", UNNAMED, [ep("10.244.1.5", "a", ready=None), ep("10.244.1.6", "a", ready=False),
                                  ep("10.244.1.7", "b", ready=False, serving=True, terminating=True)])
    e = endpoints_for(port, [sl, sl])  # duplicates collapse
    assert [(x.ip, x.ready, x.serving, x.terminating) for x in e] == [
        ("10.244.1.5", True, True, False), ("10.244.1.6", False, False, False), ("10.244.1.7", False, True, True)]
    assert [x.ip for x in select_endpoints(e)] == ["10.244.1.5"]
    # No ready endpoint: the serving, terminating ones still take traffic.
    assert [x.ip for x in select_endpoints(e[1:])] == ["10.244.1.7"]
    assert [x.ip for x in local_endpoints(e, "b")] == ["10.244.1.7"]
    assert local_endpoints(e, "") == ()


# -- golden scripts ------------------------------------------------------------------------

GOLDEN_S1 = """\
add set ip kubeloop aff-5WZDZXLXOE { type ipv4_addr; flags dynamic,timeout; timeout 10800s; }
add set ip kubeloop aff-6MILDZZKEF { type ipv4_addr; flags dynamic,timeout; timeout 10800s; }
add set ip kubeloop aff-6EFZTOZIBW { type ipv4_addr; flags dynamic,timeout; timeout 10800s; }
add set ip kubeloop aff-BQPN7OUFFV { type ipv4_addr; flags dynamic,timeout; timeout 10800s; }
add chain ip kubeloop svc-4JZAOHDQQ5 { comment "default/kubia:http"; }
add chain ip kubeloop svc-BBK4GR32FO { comment "default/kubia:https"; }
add rule ip kubeloop svc-4JZAOHDQQ5 ip saddr @aff-5WZDZXLXOE meta l4proto tcp update @aff-5WZDZXLXOE { ip saddr } counter dnat to 10.244.1.5:8080
add rule ip kubeloop svc-4JZAOHDQQ5 ip saddr @aff-6MILDZZKEF meta l4proto tcp update @aff-6MILDZZKEF { ip saddr } counter dnat to 10.244.2.7:8080
add rule ip kubeloop svc-4JZAOHDQQ5 meta l4proto tcp numgen random mod 2 == 0 update @aff-5WZDZXLXOE { ip saddr } counter dnat to 10.244.1.5:8080
add rule ip kubeloop svc-4JZAOHDQQ5 meta l4proto tcp update @aff-6MILDZZKEF { ip saddr } counter dnat to 10.244.2.7:8080
add rule ip kubeloop svc-BBK4GR32FO ip saddr @aff-6EFZTOZIBW meta l4proto tcp update @aff-6EFZTOZIBW { ip saddr } counter dnat to 10.244.1.5:8443
add rule ip kubeloop svc-BBK4GR32FO ip saddr @aff-BQPN7OUFFV meta l4proto tcp update @aff-BQPN7OUFFV { ip saddr } counter dnat to 10.244.2.7:8443
add rule ip kubeloop svc-BBK4GR32FO meta l4proto tcp numgen random mod 2 == 0 update @aff-6EFZTOZIBW { ip saddr } counter dnat to 10.244.1.5:8443
add rule ip kubeloop svc-BBK4GR32FO meta l4proto tcp update @aff-BQPN7OUFFV { ip saddr } counter dnat to 10.244.2.7:8443
add element ip kubeloop cluster-ips { 10.96.0.20 }
add element ip kubeloop service-ips { 10.96.0.20 . tcp . 80 comment "default/kubia:http" : goto svc-4JZAOHDQQ5, 10.96.0.20 . tcp . 443 comment "default/kubia:https" : goto svc-BBK4GR32FO }
add element ip kubeloop hairpin { 10.244.1.5 . 10.244.1.5, 10.244.2.7 . 10.244.2.7 }
"""


def test_golden_multi_port_with_client_ip_affinity() -> None:
    """S1: both ports, ready endpoints only, affinity sets checked before the random pick."""
    assert render(S1, [S1_SLICE]) == GOLDEN_S1


GOLDEN_NODEPORT = """\
add map ip kubeloop endpoints-tcp-0 { typeof numgen random mod 2 : ip daddr . tcp dport; counter; }
add map ip kubeloop endpoints-udp-0 { typeof numgen random mod 2 : ip daddr . udp dport; counter; }
add map ip kubeloop endpoints-sctp-0 { typeof numgen random mod 2 : ip daddr . sctp dport; counter; }
add chain ip kubeloop ext-PVXWAZ2DN3 { comment "default/kubia-nodeport external"; }
add chain ip kubeloop svc-PVXWAZ2DN3 { comment "default/kubia-nodeport"; }
add rule ip kubeloop ext-PVXWAZ2DN3 jump mark-for-masquerade
add rule ip kubeloop ext-PVXWAZ2DN3 goto svc-PVXWAZ2DN3
add rule ip kubeloop svc-PVXWAZ2DN3 meta l4proto tcp dnat ip to numgen random mod 2 offset 0 map @endpoints-tcp-0
add element ip kubeloop cluster-ips { 10.96.0.21 }
add element ip kubeloop service-ips { 10.96.0.21 . tcp . 80 comment "default/kubia-nodeport" : goto svc-PVXWAZ2DN3 }
add element ip kubeloop service-nodeports { tcp . 30123 comment "default/kubia-nodeport" : goto ext-PVXWAZ2DN3 }
add element ip kubeloop hairpin { 10.244.1.5 . 10.244.1.5, 10.244.2.7 . 10.244.2.7 }
add element ip kubeloop endpoints-tcp-0 { 0 : 10.244.1.5 . 8080, 1 : 10.244.2.7 . 8080 }
"""


def test_golden_nodeport_cluster_policy() -> None:
    """S3: the NodePort (on the node's addresses) goes through ext-H, which masquerades."""
    s = svc("kubia-nodeport", [{"port": 80, "targetPort": 8080, "nodePort": 30123}], cluster_ip="10.96.0.21",
            type="NodePort")
    assert render(s, [eps_slice("kubia-nodeport", UNNAMED, TWO)]) == GOLDEN_NODEPORT


GOLDEN_LB_LOCAL = """\
add map ip kubeloop endpoints-tcp-0 { typeof numgen random mod 2 : ip daddr . tcp dport; counter; }
add map ip kubeloop endpoints-udp-0 { typeof numgen random mod 2 : ip daddr . udp dport; counter; }
add map ip kubeloop endpoints-sctp-0 { typeof numgen random mod 2 : ip daddr . sctp dport; counter; }
add chain ip kubeloop ext-FO7KDFBWEQ { comment "default/kubia-lb external"; }
add chain ip kubeloop svc-FO7KDFBWEQ { comment "default/kubia-lb"; }
add chain ip kubeloop loc-FO7KDFBWEQ { comment "default/kubia-lb local"; }
add rule ip kubeloop ext-FO7KDFBWEQ ip saddr 10.244.0.0/16 goto svc-FO7KDFBWEQ
add rule ip kubeloop ext-FO7KDFBWEQ fib saddr type local jump mark-for-masquerade
add rule ip kubeloop ext-FO7KDFBWEQ fib saddr type local goto svc-FO7KDFBWEQ
add rule ip kubeloop ext-FO7KDFBWEQ goto loc-FO7KDFBWEQ
add rule ip kubeloop svc-FO7KDFBWEQ meta l4proto tcp dnat ip to numgen random mod 2 offset 0 map @endpoints-tcp-0
add rule ip kubeloop loc-FO7KDFBWEQ meta l4proto tcp dnat ip to numgen random mod 1 offset 4096 map @endpoints-tcp-0
add element ip kubeloop cluster-ips { 10.96.0.22 }
add element ip kubeloop service-ips { 10.96.0.22 . tcp . 80 comment "default/kubia-lb" : goto svc-FO7KDFBWEQ, 172.30.0.200 . tcp . 80 comment "default/kubia-lb" : goto ext-FO7KDFBWEQ }
add element ip kubeloop service-nodeports { tcp . 30124 comment "default/kubia-lb" : goto ext-FO7KDFBWEQ }
add element ip kubeloop hairpin { 10.244.1.5 . 10.244.1.5, 10.244.2.7 . 10.244.2.7 }
add element ip kubeloop endpoints-tcp-0 { 0 : 10.244.1.5 . 8080, 1 : 10.244.2.7 . 8080, 4096 : 10.244.1.5 . 8080 }
"""

LB = svc("kubia-lb", [{"port": 80, "targetPort": 8080, "nodePort": 30124}], cluster_ip="10.96.0.22",
         type="LoadBalancer", externalTrafficPolicy="Local",
         status={"loadBalancer": {"ingress": [{"ip": "172.30.0.200"}]}})
LB["status"] = LB["spec"].pop("status")


def test_golden_load_balancer_local_policy_on_a_node() -> None:
    """S4/S7 on node-a: outside clients reach only local endpoints, unmasqueraded; pods and
    the node itself go cluster-wide (the node's own traffic masqueraded)."""
    assert render(LB, [eps_slice("kubia-lb", UNNAMED, TWO)]) == GOLDEN_LB_LOCAL


def test_local_policy_without_local_endpoint_drops_external_traffic() -> None:
    cfg = RenderConfig(node_name="node-c", node_ips=("172.30.0.13",), cluster_cidr="10.244.0.0/16")
    script = render(LB, [eps_slice("kubia-lb", UNNAMED, TWO)], cfg)
    h = chain_hash(service_ports(LB)[0])
    assert f"add rule ip kubeloop ext-{h} drop\n" in script
    assert f"loc-{h}" not in script
    assert f"tcp . 30124 comment \"default/kubia-lb\" : goto ext-{h}" in script


GOLDEN_HOST_LB = """\
add map ip kubeloop endpoints-tcp-0 { typeof numgen random mod 2 : ip daddr . tcp dport; counter; }
add map ip kubeloop endpoints-udp-0 { typeof numgen random mod 2 : ip daddr . udp dport; counter; }
add map ip kubeloop endpoints-sctp-0 { typeof numgen random mod 2 : ip daddr . sctp dport; counter; }
add chain ip kubeloop lb-FO7KDFBWEQ { comment "default/kubia-lb load balancer"; }
add chain ip kubeloop svc-FO7KDFBWEQ { comment "default/kubia-lb"; }
add rule ip kubeloop lb-FO7KDFBWEQ meta l4proto tcp dnat ip to numgen random mod 2 offset 0 map @endpoints-tcp-0
add rule ip kubeloop svc-FO7KDFBWEQ meta l4proto tcp dnat ip to numgen random mod 2 offset 4096 map @endpoints-tcp-0
add element ip kubeloop cluster-ips { 10.96.0.22 }
add element ip kubeloop service-ips { 10.96.0.22 . tcp . 80 comment "default/kubia-lb" : goto svc-FO7KDFBWEQ, 172.30.0.200 . tcp . 80 comment "default/kubia-lb" : goto lb-FO7KDFBWEQ }
add element ip kubeloop hairpin { 10.244.1.5 . 10.244.1.5, 10.244.2.7 . 10.244.2.7 }
add element ip kubeloop endpoints-tcp-0 { 0 : 172.30.0.11 . 30124, 1 : 172.30.0.12 . 30124, 4096 : 10.244.1.5 . 8080, 4097 : 10.244.2.7 . 8080 }
"""


def test_golden_host_mode_load_balancer() -> None:
    """The host sends load-balancer traffic to live nodes' NodePorts; no NodePort rules of
    its own (it is not a node)."""
    assert render(LB, [eps_slice("kubia-lb", UNNAMED, TWO)], HOST_CFG, ("172.30.0.12", "172.30.0.11")) == GOLDEN_HOST_LB
    # No live node: the load-balancer address rejects at once.
    script = render(LB, [eps_slice("kubia-lb", UNNAMED, TWO)], HOST_CFG, ())
    assert ('add element ip kubeloop no-endpoint-services { 172.30.0.200 . tcp . 80 comment "default/kubia-lb" '
            ': goto reject-chain }') in script


GOLDEN_NO_ENDPOINTS = """\
add element ip kubeloop cluster-ips { 10.96.0.23 }
add element ip kubeloop no-endpoint-services { 10.96.0.23 . udp . 53 comment "default/empty:dns" : goto reject-chain }
add element ip kubeloop no-endpoint-nodeports { udp . 30125 comment "default/empty:dns" : goto reject-chain }
"""


def test_golden_no_endpoints_rejects() -> None:
    s = svc("empty", [{"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30125}], cluster_ip="10.96.0.23",
            type="NodePort")
    not_ready = eps_slice("empty", [{"name": "dns", "port": 53, "protocol": "UDP"}], [ep("10.244.1.5", "a", False)])
    assert render(s, [not_ready]) == GOLDEN_NO_ENDPOINTS
    assert render(s, []) == GOLDEN_NO_ENDPOINTS


def test_internal_local_policy() -> None:
    s = svc("loc", [{"port": 80, "targetPort": 8080}], internalTrafficPolicy="Local")
    h = chain_hash(service_ports(s)[0])
    here = render(s, [eps_slice("loc", UNNAMED, TWO)])
    assert f': goto loc-{h} }}' in here and f"svc-{h}" not in here
    cfg = RenderConfig(node_name="node-c", node_ips=("172.30.0.13",))
    assert 'no-endpoint-services { 10.96.0.20 . tcp . 80 comment "default/loc" : drop }' in render(
        s, [eps_slice("loc", UNNAMED, TWO)], cfg)


def test_global_chains() -> None:
    text = RuleState(NODE_CFG)
    script = text.update({GLOBAL: global_fragment(NODE_CFG)})
    for needle in (
        "add chain ip kubeloop nat-prerouting { type nat hook prerouting priority dstnat; policy accept; }",
        "add chain ip kubeloop nat-postrouting { type nat hook postrouting priority srcnat; policy accept; }",
        "add rule ip kubeloop services ip daddr @cluster-ips ip saddr != 10.244.0.0/16 fib saddr type != local jump mark-for-masquerade",
        "add rule ip kubeloop services ip daddr . meta l4proto . th dport vmap @service-ips",
        "add rule ip kubeloop masquerading ip saddr . ip daddr @hairpin jump mark-for-masquerade",
        "add rule ip kubeloop masquerading masquerade fully-random",
        "add rule ip kubeloop reject-chain meta l4proto tcp reject with tcp reset",
        "add rule ip kubeloop filter-forward ct state new jump service-endpoints-check",
        "add element ip kubeloop nodeport-ips { 172.30.0.11 }",
    ):
        assert needle in script, needle


# -- incremental updates -------------------------------------------------------------------

def _state(n: int, cfg: RenderConfig = NODE_CFG) -> tuple[RuleState, list[ServicePortInfo]]:
    st = RuleState(cfg)
    ports = [ServicePortInfo("default", f"s{i}", "", "TCP", f"10.96.{i // 250}.{i % 250 + 1}", 80) for i in range(n)]
    ups: dict[str, Any] = {GLOBAL: global_fragment(cfg)}
    for i, p in enumerate(ports):
        ups[p.key] = service_fragment(p, [EndpointInfo(f"10.244.{i // 250}.{i % 250 + 1}", 8080),
                                          EndpointInfo(f"10.245.{i // 250}.{i % 250 + 1}", 8080)], cfg)
    st.update(ups)
    st.commit(full=True)
    return st, ports


def test_incremental_endpoint_removal_touches_only_that_service() -> None:
    st, ports = _state(5)
    p = ports[2]  # the third pick chain: keys 8192.. of endpoints-tcp-0
    keep = EndpointInfo("10.244.0.3", 8080)  # 10.245.0.3 goes
    script = st.update({p.key: service_fragment(p, [keep], NODE_CFG)})
    h = chain_hash(p)
    assert script == (
        f"flush chain ip kubeloop svc-{h}\n"
        "delete element ip kubeloop hairpin { 10.245.0.3 . 10.245.0.3 }\n"
        "delete element ip kubeloop endpoints-tcp-0 { 8193 }\n"
        f"add rule ip kubeloop svc-{h} meta l4proto tcp dnat ip to numgen random mod 1 offset 8192 map @endpoints-tcp-0\n")
    assert st.update({p.key: service_fragment(p, [keep], NODE_CFG)}) == ""  # nothing changed
    # Same count, another endpoint: only that element changes (the rule stays).
    script = st.update({p.key: service_fragment(p, [EndpointInfo("10.246.0.3", 8080)], NODE_CFG)})
    assert script == (
        "delete element ip kubeloop hairpin { 10.244.0.3 . 10.244.0.3 }\n"
        "delete element ip kubeloop endpoints-tcp-0 { 8192 }\n"
        "add element ip kubeloop endpoints-tcp-0 { 8192 : 10.246.0.3 . 8080 }\n"
        "add element ip kubeloop hairpin { 10.246.0.3 . 10.246.0.3 }\n")


def test_pick_slots_are_stable_reused_and_grouped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each pick chain keeps its key range while it exists; a removed chain's range is reused
    by the next new chain (never within the same transaction); every PICK_GROUP chains get
    a new endpoint map."""
    import kubeloop.proxy.rules as rules
    monkeypatch.setattr(rules, "PICK_GROUP", 2)
    st, ports = _state(3)
    assert "add map ip kubeloop endpoints-tcp-1 " in st.full_script()
    two = [EndpointInfo("10.244.9.1", 8080), EndpointInfo("10.244.9.2", 8080)]

    def rule(port: ServicePortInfo) -> str:
        return next(r for c in st.fragments[port.key].chains for r in c.rules if "numgen" in r)
    assert rule(ports[2]).endswith("offset 0 map @endpoints-tcp-1")
    st.update({ports[1].key: service_fragment(ports[1], two, NODE_CFG)})
    assert rule(ports[1]).endswith("mod 2 offset 4096 map @endpoints-tcp-0")  # kept its slot
    new = ServicePortInfo("default", "new", "", "TCP", "10.96.9.9", 80)
    script = st.update({ports[0].key: None, new.key: service_fragment(new, two, NODE_CFG)})
    assert "offset 4096 map @endpoints-tcp-1" in script and "delete element ip kubeloop endpoints-tcp-0 { 0, 1 }" in script
    newer = ServicePortInfo("default", "newer", "", "TCP", "10.96.9.10", 80)
    st.update({newer.key: service_fragment(newer, two, NODE_CFG)})
    assert rule(newer).endswith("offset 0 map @endpoints-tcp-0")  # the freed slot
    assert "endpoints-tcp-2" not in st.full_script()


def test_large_pick_falls_back_to_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    import kubeloop.proxy.rules as rules
    monkeypatch.setattr(rules, "PICK_STRIDE", 2)
    st, _ = _state(0)
    p = ServicePortInfo("default", "big", "", "UDP", "10.96.0.9", 53)
    three = [EndpointInfo(f"10.244.1.{i}", 53) for i in (1, 2, 3)]
    script = st.update({p.key: service_fragment(p, three, NODE_CFG)})
    h = chain_hash(p)
    assert (f"add rule ip kubeloop svc-{h} meta l4proto udp numgen random mod 3 == 0 counter dnat to 10.244.1.1:53\n"
            f"add rule ip kubeloop svc-{h} meta l4proto udp numgen random mod 2 == 0 counter dnat to 10.244.1.2:53\n"
            f"add rule ip kubeloop svc-{h} meta l4proto udp counter dnat to 10.244.1.3:53\n") in script
    assert "add element ip kubeloop endpoints-" not in script
    # Back under the limit: the chain gets a slot again.
    assert "map @endpoints-udp-0" in st.update({p.key: service_fragment(p, three[:2], NODE_CFG)})


def test_update_cost_follows_the_change_not_the_table() -> None:
    small, sp = _state(10)
    big, bp = _state(2000)
    a = small.update({sp[3].key: service_fragment(sp[3], [EndpointInfo("10.244.9.9", 8080)], NODE_CFG)})
    b = big.update({bp[3].key: service_fragment(bp[3], [EndpointInfo("10.244.9.9", 8080)], NODE_CFG)})
    assert a == b and a.count("\n") < 20
    removed = big.update({bp[7].key: None})
    assert removed.count("\n") < 20 and "svc-" + chain_hash(bp[7]) in removed


def test_shared_map_key_goes_to_the_first_owner() -> None:
    """Two services claiming one external IP:port: the smaller key wins; deleting it hands
    the key over (delete + add in one transaction)."""
    st = RuleState(NODE_CFG)
    st.update({GLOBAL: global_fragment(NODE_CFG)})
    a = ServicePortInfo("default", "a", "", "TCP", "10.96.0.1", 80, external_ips=("172.30.0.50",))
    b = ServicePortInfo("default", "b", "", "TCP", "10.96.0.2", 80, external_ips=("172.30.0.50",))
    one = [EndpointInfo("10.244.1.5", 8080)]
    st.update({b.key: service_fragment(b, one, NODE_CFG)})
    script = st.update({a.key: service_fragment(a, one, NODE_CFG)})
    assert "delete element ip kubeloop service-ips { 172.30.0.50 . tcp . 80 }" in script
    assert f'172.30.0.50 . tcp . 80 comment "default/a" : goto ext-{chain_hash(a)}' in script
    script = st.update({a.key: None})
    assert f'172.30.0.50 . tcp . 80 comment "default/b" : goto ext-{chain_hash(b)}' in script
    # The hairpin element both shared stays (b still owns it).
    assert "hairpin" not in script


def test_affinity_timeout_change_makes_new_sets() -> None:
    st, _ = _state(0)
    p = ServicePortInfo("default", "k", "", "TCP", "10.96.0.9", 80, affinity_timeout=60)
    one = [EndpointInfo("10.244.1.5", 8080)]
    st.update({p.key: service_fragment(p, one, NODE_CFG)})
    q = ServicePortInfo("default", "k", "", "TCP", "10.96.0.9", 80, affinity_timeout=120)
    script = st.update({q.key: service_fragment(q, one, NODE_CFG)})
    assert "timeout 120s" in script and "delete set ip kubeloop aff-" in script


def test_full_script_deletes_what_failed_increments_left_behind() -> None:
    st, ports = _state(3)
    st.update({ports[1].key: None})  # rendered but never applied (no commit)
    full = st.full_script()
    h = chain_hash(ports[1])
    assert f"delete chain ip kubeloop svc-{h}" in full
    assert "flush table ip kubeloop" in full and "delete table" not in full
    assert "flush map ip kubeloop service-ips" in full
    assert "flush set ip kubeloop aff" not in full  # affinity state survives a resync
    st.commit(full=True)
    assert f"delete chain ip kubeloop svc-{h}" not in st.full_script()
    assert st.full_script(recreate=True).startswith(
        'add table ip kubeloop { comment "kubeloop service proxy"; }\ndelete table ip kubeloop\n')


def test_latency_histogram() -> None:
    h = LatencyHistogram()
    for ms in (1, 2, 3, 50, 400):
        h.observe(ms / 1000)
    s = h.summary()
    assert s["count"] == 5 and s["p50_ms"] == pytest.approx(3) and s["max_ms"] == pytest.approx(400)
    assert s["buckets"]["0.005"] == 3 and s["buckets"]["+Inf"] == 5


# -- the kernel accepts it -----------------------------------------------------------------

NETNS_PREFIX = "klprt"  # throwaway namespaces (the netns fixture: see conftest)





def nft(netns: str, script: str, check: bool = False) -> str:
    argv = ["ip", "netns", "exec", netns, "nft"] + (["-c"] if check else []) + ["-f", "-"]
    r = subprocess.run(argv, input=script, text=True, capture_output=True)
    assert r.returncode == 0, f"{r.stderr}\n--- script:\n{script}"
    return r.stdout


@pytest.mark.root
def test_nft_accepts_every_script(netns: str) -> None:
    """Full, incremental, resync and recreate scripts, in order, against a real kernel."""
    cfg = NODE_CFG
    st = RuleState(cfg)
    slice1 = eps_slice("kubia-lb", UNNAMED, TWO)
    ups: dict[str, Any] = {GLOBAL: global_fragment(cfg)}
    for s, sl in ((S1, [S1_SLICE]), (LB, [slice1]),
                  (svc("empty", [{"port": 53, "protocol": "UDP"}], cluster_ip="10.96.0.23"), []),
                  # UDP and TCP picks side by side (each protocol has its own endpoint maps).
                  (svc("dns", [{"port": 53, "protocol": "UDP"}], cluster_ip="10.96.0.25"),
                   [eps_slice("dns", [{"name": "", "port": 53, "protocol": "UDP"}], TWO)]),
                  (svc("sctp", [{"port": 9, "protocol": "SCTP"}], cluster_ip="10.96.0.24",
                       externalIPs=["172.30.0.60"], internalTrafficPolicy="Local"),
                   [eps_slice("sctp", [{"name": "", "port": 9, "protocol": "SCTP"}], TWO)])):
        for p in service_ports(s):
            ups[p.key] = service_fragment(p, endpoints_for(p, sl), cfg)
    full = st.update(ups)
    nft(netns, st.full_script(recreate=True), check=True)
    nft(netns, st.full_script(recreate=True))
    st.commit(full=True)
    listing = nft(netns, "list table ip kubeloop\n")
    assert "dnat to 10.244.2.7:8443" in listing and "fib saddr type local" in listing
    assert "elements = { 10.244.1.5 . 10.244.1.5" in listing or "10.244.1.5 . 10.244.1.5" in listing
    # A client in an affinity set survives a resync (sets are not flushed).
    aff = [line.split()[4] for line in full.splitlines() if line.startswith("add set ip kubeloop aff-")][-1]
    nft(netns, f"add element ip kubeloop {aff} {{ 10.244.3.3 }}\n")

    steps = []
    (lbp,) = service_ports(LB)
    one = [EndpointInfo("10.244.1.5", 8080, node_name="node-a")]
    steps.append({lbp.key: service_fragment(lbp, one, cfg)})  # endpoint removed
    steps.append({lbp.key: service_fragment(lbp, [], cfg)})  # no endpoints: reject
    steps.append({lbp.key: service_fragment(lbp, one + [EndpointInfo("10.244.9.9", 8080, node_name="node-a")], cfg)})
    http = service_ports(S1)[0]
    steps.append({http.key: None})  # a port removed
    for step in steps:
        script = st.update(step)
        assert script
        nft(netns, script)
        st.commit()
    resync = st.full_script()
    nft(netns, resync)
    st.commit(full=True)
    listing = nft(netns, "list table ip kubeloop\n")
    assert "10.244.3.3" in listing  # affinity state kept
    assert f"svc-{chain_hash(http)}" not in listing
    assert ": 10.244.9.9 . 8080" in listing and "10.244.2.7 . 8080" not in listing
    # The host-mode rendering loads too.
    host = RuleState(HOST_CFG)
    host.update({GLOBAL: global_fragment(HOST_CFG), lbp.key: service_fragment(lbp, one, HOST_CFG, ("172.30.0.11",))})
    nft(netns, host.full_script(recreate=True), check=True)
    nft(netns, delete_table_script())
    assert "kubeloop" not in nft(netns, "list tables\n")
    nft(netns, delete_table_script())  # idempotent
