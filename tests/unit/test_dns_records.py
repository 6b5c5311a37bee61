"""The record rules of the Kubernetes DNS-Based Service Discovery specification 1.1.0, table-driven.

Every row is a question and the answer the specification (or, where it is silent, CoreDNS's
kubernetes plugin) gives: rcode, answer records, whether the SOA is in the authority section
(negative answers), and CNAME chasing / fallthrough.
"""

from __future__ import annotations

import pytest

from kubeloop.dns.records import (A, AAAA, ANY, CNAME, NS, NXDOMAIN, PTR, SOA, SRV, TXT, EndpointView, Port,
                                  ServiceView, ZoneRecords, dashed, endpoint_views, reverse_name, service_view,
                                  slice_service)

NOERROR = 0
Z = "cluster.local."
HTTP = Port("http", 80)
HTTPS = Port("https", 443)
DNS_UDP = Port("dns", 53, "udp")


def ep(ip: str, ready: bool = True, hostname: str = "", pod: str = "", ports=(Port("http", 8080),)) -> EndpointView:
    return EndpointView((ip,), ready, hostname, pod, tuple(ports))


def make_zone(**settings) -> ZoneRecords:
    settings = {"ttl": 5, "pods": "insecure", "fallthrough": ["in-addr.arpa", "ip6.arpa"], "serial": 7, **settings}
    z = ZoneRecords("cluster.local", **settings)
    for ns in ("default", "kube-system", "other"):
        z.set_namespace(ns, True)
    z.set_service("default/kubia", ServiceView("default", "kubia", "ClusterIP", ("10.96.0.20",),
                                               ports=(HTTP, HTTPS, Port("", 8080))))
    z.set_service("default/kubia-headless", ServiceView("default", "kubia-headless", "Headless", ports=(HTTP,)), [
        ep("10.244.1.1", pod="kubia-a"), ep("10.244.1.2", pod="kubia-b"), ep("10.244.1.3", ready=False, pod="kubia-c"),
        ep("10.244.1.9", hostname="web-0", pod="web-0"),
    ])
    z.set_service("default/kubia-pnr", ServiceView("default", "kubia-pnr", "Headless", ports=(HTTP,),
                                                   publish_not_ready=True),
                  [ep("10.244.2.1", ready=False), ep("10.244.2.2")])
    z.set_service("default/empty", ServiceView("default", "empty", "Headless", ports=(HTTP,)), [ep("10.244.3.1", ready=False)])
    z.set_service("default/ext", ServiceView("default", "ext", "ExternalName", external_name="www.example.com."))
    z.set_service("default/v6", ServiceView("default", "v6", "ClusterIP", ("fd00:10:96::a",), ports=(HTTP,)))
    z.set_service("default/dual", ServiceView("default", "dual", "ClusterIP", ("10.96.0.30", "fd00:10:96::1e")))
    z.set_service("kube-system/kube-dns", ServiceView("kube-system", "kube-dns", "ClusterIP", ("10.96.0.10",),
                                                      ports=(DNS_UDP, Port("dns-tcp", 53))))
    return z


KUBIA = "kubia.default.svc.cluster.local."
HL = "kubia-headless.default.svc.cluster.local."
SOA_ = "soa"  # marker: a negative answer carries the zone's SOA

# (question name, type, rcode, answer records as {(type, data)}, authority)
CASES = [
    # 2.2 schema version
    ("dns-version.cluster.local", TXT, NOERROR, {(TXT, ("1.1.0",))}, None),
    ("dns-version.cluster.local", A, NOERROR, set(), SOA_),
    # 2.3.1 ClusterIP A / AAAA
    (KUBIA, A, NOERROR, {(A, "10.96.0.20")}, None),
    (KUBIA, AAAA, NOERROR, set(), SOA_),                 # exists, no AAAA: NODATA
    (KUBIA, TXT, NOERROR, set(), SOA_),
    ("v6.default.svc.cluster.local", AAAA, NOERROR, {(AAAA, "fd00:10:96::a")}, None),
    ("v6.default.svc.cluster.local", A, NOERROR, set(), SOA_),
    ("dual.default.svc.cluster.local", A, NOERROR, {(A, "10.96.0.30")}, None),
    ("dual.default.svc.cluster.local", AAAA, NOERROR, {(AAAA, "fd00:10:96::1e")}, None),
    # 2.3.2 SRV for named ports only, target the service
    ("_http._tcp." + KUBIA, SRV, NOERROR, {(SRV, (0, 100, 80, KUBIA))}, None),
    ("_https._tcp." + KUBIA, SRV, NOERROR, {(SRV, (0, 100, 443, KUBIA))}, None),
    ("_http._udp." + KUBIA, SRV, NXDOMAIN, set(), SOA_),  # no such port/protocol
    ("_dns._udp.kube-dns.kube-system.svc.cluster.local", SRV, NOERROR,
     {(SRV, (0, 100, 53, "kube-dns.kube-system.svc.cluster.local."))}, None),
    ("_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local", SRV, NOERROR,
     {(SRV, (0, 100, 53, "kube-dns.kube-system.svc.cluster.local."))}, None),
    ("_http._tcp." + KUBIA, A, NOERROR, set(), SOA_),     # the SRV name exists: NODATA for A
    ("_tcp." + KUBIA, SRV, NOERROR, set(), SOA_),         # empty non-terminal: NODATA (RFC 8020)
    (KUBIA, SRV, NOERROR, {(SRV, (0, 33, 80, KUBIA)), (SRV, (0, 33, 443, KUBIA)), (SRV, (0, 33, 8080, KUBIA))}, None),
    # 2.3.3 PTR for cluster IPs (IPv4 and IPv6 nibbles)
    ("20.0.96.10.in-addr.arpa", PTR, NOERROR, {(PTR, KUBIA)}, None),
    (reverse_name("fd00:10:96::a"), PTR, NOERROR, {(PTR, "v6.default.svc.cluster.local.")}, None),
    ("20.0.96.10.in-addr.arpa", A, NOERROR, set(), SOA_),
    # 2.4.1 headless: one A per ready endpoint; per-hostname A; dashed names when none
    (HL, A, NOERROR, {(A, "10.244.1.1"), (A, "10.244.1.2"), (A, "10.244.1.9")}, None),
    (HL, AAAA, NOERROR, set(), SOA_),
    ("web-0." + HL, A, NOERROR, {(A, "10.244.1.9")}, None),
    ("10-244-1-1." + HL, A, NOERROR, {(A, "10.244.1.1")}, None),
    ("10-244-1-3." + HL, A, NXDOMAIN, set(), SOA_),       # not ready: absent
    ("kubia-a." + HL, A, NXDOMAIN, set(), SOA_),          # pod names only with endpoint_pod_names
    # 2.4.2 headless SRV: one per ready endpoint and named port, the endpoints' port numbers
    ("_http._tcp." + HL, SRV, NOERROR, {(SRV, (0, 33, 8080, "10-244-1-1." + HL)), (SRV, (0, 33, 8080, "10-244-1-2." + HL)),
                                        (SRV, (0, 33, 8080, "web-0." + HL))}, None),
    # 2.4.3 PTR for headless endpoints, to their hostname
    ("9.1.244.10.in-addr.arpa", PTR, NOERROR, {(PTR, "web-0." + HL)}, None),
    ("1.1.244.10.in-addr.arpa", PTR, NOERROR, {(PTR, "10-244-1-1." + HL)}, None),
    # readiness: publishNotReadyAddresses includes not-ready endpoints
    ("kubia-pnr.default.svc.cluster.local", A, NOERROR, {(A, "10.244.2.1"), (A, "10.244.2.2")}, None),
    # no ready endpoints: NXDOMAIN (spec 2.4.1)
    ("empty.default.svc.cluster.local", A, NXDOMAIN, set(), SOA_),
    ("_http._tcp.empty.default.svc.cluster.local", SRV, NXDOMAIN, set(), SOA_),
    # 2.5 ExternalName: a CNAME, chased for other types
    ("ext.default.svc.cluster.local", CNAME, NOERROR, {(CNAME, "www.example.com.")}, None),
    ("ext.default.svc.cluster.local", A, NOERROR, {(CNAME, "www.example.com.")}, "chase"),
    ("ext.default.svc.cluster.local", AAAA, NOERROR, {(CNAME, "www.example.com.")}, "chase"),
    ("_http._tcp.ext.default.svc.cluster.local", SRV, NXDOMAIN, set(), SOA_),
    # pods insecure
    ("10-244-1-7.default.pod.cluster.local", A, NOERROR, {(A, "10.244.1.7")}, None),
    ("10-244-1-7.default.pod.cluster.local", AAAA, NOERROR, set(), SOA_),
    ("fd00-10-244--7.default.pod.cluster.local", AAAA, NOERROR, {(AAAA, "fd00:10:244::7")}, None),
    ("10-244-1-7.nowhere.pod.cluster.local", A, NXDOMAIN, set(), SOA_),
    ("not-an-ip.default.pod.cluster.local", A, NXDOMAIN, set(), SOA_),
    ("default.pod.cluster.local", A, NOERROR, set(), SOA_),
    # zone structure
    ("cluster.local", SOA, NOERROR, {(SOA, ("ns.dns.cluster.local.", "hostmaster.cluster.local.", 7, 7200, 1800, 86400, 5))}, None),
    ("cluster.local", NS, NOERROR, {(NS, "ns.dns.cluster.local.")}, None),
    ("ns.dns.cluster.local", A, NOERROR, {(A, "10.96.0.10")}, None),
    ("cluster.local", A, NOERROR, set(), SOA_),
    ("svc.cluster.local", A, NOERROR, set(), SOA_),
    ("pod.cluster.local", A, NOERROR, set(), SOA_),
    ("default.svc.cluster.local", A, NOERROR, set(), SOA_),
    ("other.svc.cluster.local", A, NOERROR, set(), SOA_),  # a namespace without services exists
    # NXDOMAIN
    ("nosuch.default.svc.cluster.local", A, NXDOMAIN, set(), SOA_),
    ("kubia.nowhere.svc.cluster.local", A, NXDOMAIN, set(), SOA_),
    ("nowhere.svc.cluster.local", A, NXDOMAIN, set(), SOA_),
    ("foo.cluster.local", A, NXDOMAIN, set(), SOA_),
    ("a.b." + KUBIA, A, NXDOMAIN, set(), SOA_),
    ("*.default.svc.cluster.local", A, NXDOMAIN, set(), SOA_),
    ("kubia.default.cluster.local", A, NXDOMAIN, set(), SOA_),
    # case-insensitive (spec 2.1)
    ("KuBiA.DEFAULT.Svc.Cluster.Local.", A, NOERROR, {(A, "10.96.0.20")}, None),
    ("_HTTP._TCP.KUBIA.default.svc.cluster.local", SRV, NOERROR, {(SRV, (0, 100, 80, KUBIA))}, None),
    ("WEB-0." + HL.upper(), A, NOERROR, {(A, "10.244.1.9")}, None),
    # reverse names nobody owns fall through (the default Corefile's `fallthrough in-addr.arpa ip6.arpa`)
    ("4.3.2.1.in-addr.arpa", PTR, NXDOMAIN, set(), "fallthrough"),
    # ANY lists every record at the name
    (KUBIA, ANY, NOERROR, {(A, "10.96.0.20"), (SRV, (0, 33, 80, KUBIA)), (SRV, (0, 33, 443, KUBIA)),
                           (SRV, (0, 33, 8080, KUBIA))}, None),
]


@pytest.fixture(scope="module")
def zone() -> ZoneRecords:
    return make_zone()


@pytest.mark.parametrize("name,qtype,rcode,answer,extra", CASES, ids=[f"{c[0]}/{c[1]}" for c in CASES])
def test_answers_follow_the_specification(zone, name, qtype, rcode, answer, extra):
    a = zone.lookup(name, qtype)
    assert a is not None
    assert a.rcode == rcode
    assert {(r.rtype, r.data) for r in a.answer} == answer
    assert all(r.ttl == 5 for r in a.answer)
    if extra == SOA_:
        soa_zone = "in-addr.arpa." if name.endswith(".in-addr.arpa") else Z
        assert [r.rtype for r in a.authority] == [SOA] and a.authority[0].name == soa_zone
        assert a.authority[0].data[-1] == 5  # negative TTL = the zone's TTL
        assert not a.fallthrough and a.chase is None
    elif extra == "chase":
        assert a.chase == "www.example.com."
    elif extra == "fallthrough":
        assert a.fallthrough
    else:
        assert a.authority == [] and a.chase is None and not a.fallthrough
    if answer:
        assert all(r.name == name.lower().rstrip(".") + "." for r in a.answer)


@pytest.mark.parametrize("name", ["kubia.default.svc.example.com", "cluster.local.example.com", "example.com",
                                  "localcluster.local", "."])
def test_names_outside_the_zones_are_not_answered(zone, name):
    assert zone.lookup(name, A) is None


def test_srv_additional_section_carries_target_addresses(zone):
    a = zone.lookup("_http._tcp." + HL, SRV)
    assert {(r.name, r.data) for r in a.additional} == {
        ("10-244-1-1." + HL, "10.244.1.1"), ("10-244-1-2." + HL, "10.244.1.2"), ("web-0." + HL, "10.244.1.9")}
    a = zone.lookup("_http._tcp." + KUBIA, SRV)
    assert [(r.name, r.rtype, r.data) for r in a.additional] == [(KUBIA, A, "10.96.0.20")]


def test_ttl_is_configurable(zone):
    z = make_zone(ttl=30)
    assert z.lookup(KUBIA, A).answer[0].ttl == 30
    assert z.lookup("nosuch." + KUBIA, A).authority[0].ttl == 30


def test_without_fallthrough_unknown_reverse_names_are_nxdomain():
    z = make_zone(fallthrough=None)
    a = z.lookup("4.3.2.1.in-addr.arpa", PTR)
    assert a.rcode == NXDOMAIN and not a.fallthrough
    assert a.authority[0].name == "in-addr.arpa."
    assert make_zone(fallthrough=[]).lookup("nosuch.default.svc.cluster.local", A).fallthrough


def test_without_reverse_zones_ptr_is_not_ours():
    z = make_zone(reverse_zones=())
    assert z.lookup("20.0.96.10.in-addr.arpa", PTR) is None


def test_pods_disabled_and_verified():
    z = make_zone(pods="disabled")
    assert z.lookup("10-244-1-7.default.pod.cluster.local", A).rcode == NXDOMAIN
    assert z.lookup("default.pod.cluster.local", A).rcode == NXDOMAIN
    assert z.lookup("pod.cluster.local", A).rcode == NOERROR  # the apex label still exists
    z = make_zone(pods="verified")
    assert z.lookup("10-244-1-7.default.pod.cluster.local", A).rcode == NXDOMAIN
    z.set_pod("default/p", "default", ["10.244.1.7"])
    assert z.lookup("10-244-1-7.default.pod.cluster.local", A).answer[0].data == "10.244.1.7"
    assert z.lookup("10-244-1-7.other.pod.cluster.local", A).rcode == NXDOMAIN  # other namespace
    z.set_pod("default/p", None)
    assert z.lookup("10-244-1-7.default.pod.cluster.local", A).rcode == NXDOMAIN


def test_endpoint_pod_names_mode():
    z = make_zone(endpoint_pod_names=True)
    assert z.lookup("kubia-a." + HL, A).answer[0].data == "10.244.1.1"
    assert z.lookup("web-0." + HL, A).answer[0].data == "10.244.1.9"  # an explicit hostname wins
    assert z.lookup("1.1.244.10.in-addr.arpa", PTR).answer[0].data == "kubia-a." + HL


def test_incremental_updates_report_changed_keys_and_clean_up():
    z = make_zone()
    changed = z.set_service("default/kubia-headless", ServiceView("default", "kubia-headless", "Headless", ports=(HTTP,)),
                            [ep("10.244.1.1"), ep("10.244.1.3")])
    assert (HL, A) in changed and ("3.1.244.10.in-addr.arpa.", PTR) in changed and ("web-0." + HL, A) in changed
    assert {r.data for r in z.lookup(HL, A).answer} == {"10.244.1.1", "10.244.1.3"}
    assert z.lookup("web-0." + HL, A).rcode == NXDOMAIN
    assert z.set_service("default/kubia-headless", ServiceView("default", "kubia-headless", "Headless", ports=(HTTP,)),
                         [ep("10.244.1.1"), ep("10.244.1.3")]) == set()  # nothing changed
    z.set_service("default/kubia", None)
    assert z.lookup(KUBIA, A).rcode == NXDOMAIN
    assert z.lookup("_tcp." + KUBIA, SRV).rcode == NXDOMAIN
    assert z.lookup("20.0.96.10.in-addr.arpa", PTR).fallthrough
    # a namespace known only through its services disappears with them
    z2 = ZoneRecords("cluster.local")
    z2.set_service("ns1/a", ServiceView("ns1", "a", "ClusterIP", ("10.96.1.1",)))
    assert z2.lookup("ns1.svc.cluster.local", A).rcode == NOERROR
    z2.set_service("ns1/a", None)
    assert z2.lookup("ns1.svc.cluster.local", A).rcode == NXDOMAIN


def test_an_address_in_two_headless_services_has_two_ptr_records():
    z = ZoneRecords("cluster.local")
    for name in ("a", "b"):
        z.set_service(f"default/{name}", ServiceView("default", name, "Headless"), [ep("10.244.9.9")])
    assert {r.data for r in z.lookup("9.9.244.10.in-addr.arpa", PTR).answer} == {
        "10-244-9-9.a.default.svc.cluster.local.", "10-244-9-9.b.default.svc.cluster.local."}
    z.set_service("default/a", None)
    assert [r.data for r in z.lookup("9.9.244.10.in-addr.arpa", PTR).answer] == ["10-244-9-9.b.default.svc.cluster.local."]


def test_kube_dns_service_gives_the_nameserver_address():
    z = ZoneRecords("cluster.local")
    assert z.lookup("ns.dns.cluster.local", A).rcode == NOERROR and not z.lookup("ns.dns.cluster.local", A).answer
    changed = z.set_service("kube-system/kube-dns", ServiceView("kube-system", "kube-dns", "ClusterIP", ("10.96.0.10",)))
    assert ("ns.dns.cluster.local.", A) in changed
    assert z.lookup("ns.dns.cluster.local", A).answer[0].data == "10.96.0.10"


def test_other_cluster_domain():
    z = ZoneRecords("corp.example", ttl=5)
    z.set_service("default/kubia", ServiceView("default", "kubia", "ClusterIP", ("10.96.0.20",)))
    assert z.lookup("kubia.default.svc.corp.example", A).answer[0].data == "10.96.0.20"
    assert z.lookup("kubia.default.svc.cluster.local", A) is None
    assert z.lookup("dns-version.corp.example", TXT).answer[0].data == ("1.1.0",)


# -- views of API objects ----------------------------------------------------------------------

def test_service_view_kinds_and_readiness_flags():
    svc = {"metadata": {"name": "a", "namespace": "ns"},
           "spec": {"clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5", "fd00::5"], "type": "LoadBalancer",
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}
    v = service_view(svc)
    assert (v.kind, v.cluster_ips, v.ports) == ("ClusterIP", ("10.96.0.5", "fd00::5"),
                                                (Port("http", 80, "tcp"), Port("", 53, "udp")))
    assert service_view({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}}).kind == "Headless"
    ext = service_view({"metadata": {"name": "e"}, "spec": {"type": "ExternalName", "externalName": "API.Example.com"}})
    assert (ext.kind, ext.external_name) == ("ExternalName", "api.example.com.")
    assert service_view({"metadata": {"name": "x"}, "spec": {}}).kind == ""  # no address yet: no records
    assert service_view({"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "publishNotReadyAddresses": True}}
                        ).publish_not_ready
    tol = {"metadata": {"name": "h", "annotations": {"service.alpha.kubernetes.io/tolerate-unready-endpoints": "true"}},
           "spec": {"clusterIP": "None"}}
    assert service_view(tol).publish_not_ready


def test_endpoint_views_from_an_endpointslice():
    s = {"metadata": {"name": "hl-x", "namespace": "ns", "labels": {"kubernetes.io/service-name": "hl"}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": True}, "hostname": "web-0",
                        "targetRef": {"kind": "Pod", "name": "web-0"}},
                       {"addresses": ["10.244.1.6"], "conditions": {"ready": False}},
                       {"addresses": ["10.244.1.7"]}]}
    assert slice_service(s) == "ns/hl"
    views = endpoint_views(s)
    assert [(v.addresses, v.ready, v.hostname, v.pod_name) for v in views] == [
        (("10.244.1.5",), True, "web-0", "web-0"), (("10.244.1.6",), False, "", ""), (("10.244.1.7",), True, "", "")]
    assert views[0].ports == (Port("http", 8080, "tcp"),)
    assert endpoint_views({**s, "addressType": "FQDN"}) == []
    assert slice_service({"metadata": {"name": "x"}}) is None


def test_dashed_hostnames():
    assert dashed("10.244.1.5") == "10-244-1-5"
    assert dashed("fd00::5") == "fd00--5"
    assert dashed("fd00::") == "fd00--0"
