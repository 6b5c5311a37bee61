"""The slow path without sockets: plugin order (hosts, kubernetes, forward), the response cache."""

from __future__ import annotations

import struct

from kubeloop.dns.corefile import CachePlugin, parse_corefile
from kubeloop.dns.records import (A, NOERROR, NXDOMAIN, PTR, RR, SERVFAIL, SOA, Answer, ServiceView, ZoneRecords)
from kubeloop.dns.forward import ResponseCache
from kubeloop.dns.resolver import REFUSED, Resolver


def zone() -> ZoneRecords:
    z = ZoneRecords("cluster.local", ttl=5, fallthrough=["in-addr.arpa", "ip6.arpa"])
    z.set_service("default/kubia", ServiceView("default", "kubia", "ClusterIP", ("10.96.0.20",)))
    z.set_service("default/ext", ServiceView("default", "ext", "ExternalName", external_name="kubia.default.svc.cluster.local."))
    z.set_service("default/out", ServiceView("default", "out", "ExternalName", external_name="www.example.com."))
    return z


def resolver(text: str) -> Resolver:
    return Resolver(parse_corefile(text), zone())


K8S = " kubernetes cluster.local in-addr.arpa ip6.arpa {\n  fallthrough in-addr.arpa ip6.arpa\n }\n"


def test_plugin_order_and_fallthrough():
    r = resolver(".:53 {\n hosts {\n  1.2.3.4 a.example\n  fallthrough\n }\n" + K8S + " forward . 127.0.0.1:9\n}\n")
    assert r.resolve_sync("a.example.", A).answer.answer[0].data == "1.2.3.4"
    assert r.resolve_sync("kubia.default.svc.cluster.local.", A).answer.answer[0].data == "10.96.0.20"
    assert r.resolve_sync("nosuch.default.svc.cluster.local.", A).answer.rcode == NXDOMAIN  # never forwarded
    assert r.resolve_sync("b.example.", A) is None          # forward (asynchronously)
    assert r.resolve_sync("9.9.9.9.in-addr.arpa.", PTR) is None  # reverse fallthrough -> forward
    assert r.resolve_sync("4.3.2.1.in-addr.arpa.", PTR).answer.answer[0].data == "a.example."


def test_hosts_without_fallthrough_fails_like_coredns():
    r = resolver(".:53 {\n hosts {\n  1.2.3.4 a.example\n }\n forward . 127.0.0.1:9\n}\n")
    assert r.resolve_sync("b.example.", A).answer.rcode == SERVFAIL
    assert r.resolve_sync("a.example.", 28).answer.rcode == NOERROR  # NODATA for a known name


def test_cname_chase_inside_the_zone_and_out():
    r = resolver(".:53 {\n" + K8S + " forward . 127.0.0.1:9\n}\n")
    res = r.resolve_sync("ext.default.svc.cluster.local.", A)
    assert [(x.rtype, x.data) for x in res.answer.answer] == [(5, "kubia.default.svc.cluster.local."), (A, "10.96.0.20")]
    assert not res.cacheable
    assert r.resolve_sync("out.default.svc.cluster.local.", A) is None  # the target needs the upstream


def test_blocks_and_refusal():
    r = resolver("cluster.local:53 {\n" + K8S + "}\nconsul.local:53 {\n forward . 127.0.0.1:9\n}\n")
    assert r.resolve_sync("www.example.com.", A).answer.rcode == REFUSED  # no block holds it
    assert r.resolve_sync("x.consul.local.", A) is None
    assert r.resolve_sync("kubia.default.svc.cluster.local.", A).answer.answer[0].data == "10.96.0.20"
    r = resolver(".:53 {\n errors\n}\n")
    assert r.resolve_sync("www.example.com.", A).answer.rcode == SERVFAIL  # no plugin answers


def test_response_cache_ttls_bounds_and_expiry():
    now = [100.0]
    c = ResponseCache(CachePlugin(["."], success_ttl=30, denial_ttl=20), clock=lambda: now[0])
    ok = Answer(NOERROR, [RR(b"\x01a\x00", A, 300, b"\x01\x02\x03\x04")])
    c.put("a.", A, ok)
    assert c.get("a.", A).answer[0].ttl == 30  # capped by `cache 30`
    now[0] += 10.5
    assert c.get("a.", A).answer[0].ttl == 20
    now[0] += 20
    assert c.get("a.", A) is None
    soa = struct.pack("!IIIII", 1, 2, 3, 4, 7)
    neg = Answer(NXDOMAIN, [], [RR(b"\x00", SOA, 60, b"\x00\x00" + soa)])
    c.put("n.", A, neg)
    assert c.get("n.", A).authority[0].ttl == 7  # min(SOA TTL, SOA minimum)
    short = Answer(NOERROR, [RR(b"\x01s\x00", A, 1, b"\x01\x02\x03\x04")])
    c.put("s.", A, short)
    assert c.get("s.", A).answer[0].ttl == 5  # the minimum TTL of 5 s, as CoreDNS
    c.put("f.", A, Answer(SERVFAIL))
    assert c.get("f.", A) is None  # failures are not cached
    c2 = ResponseCache(CachePlugin(["."], success_capacity=1, denial_capacity=1), clock=lambda: now[0])
    for name in ("x.", "y.", "z."):
        c2.put(name, A, ok)
    assert len(c2) == 2 and c2.get("x.", A) is None
