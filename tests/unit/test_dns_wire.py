"""Prepared wire-format answers and the server's query path, without sockets.

Every response is parsed back with dnspython and compared with what the records say; the
fast path (no parser) and the slow path (dnspython) must agree byte for byte."""

from __future__ import annotations

import random

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from kubeloop.dns.corefile import default_corefile, parse_corefile
from kubeloop.dns.records import (A, RR, SRV, EndpointView, Port, ServiceView, ZoneRecords)
from kubeloop.dns.resolver import Resolver
from kubeloop.dns.server import AnswerTable, DNSServer
from kubeloop.dns.wire import build_entry, name_to_wire, render, wire_to_text

HL = "many.default.svc.cluster.local."


@pytest.fixture
def server() -> DNSServer:
    z = ZoneRecords("cluster.local", ttl=5, pods="insecure", fallthrough=["in-addr.arpa", "ip6.arpa"], serial=3)
    z.set_namespace("default", True)
    z.set_service("default/kubia", ServiceView("default", "kubia", "ClusterIP", ("10.96.0.20",),
                                               ports=(Port("http", 80), Port("https", 443))))
    z.set_service("default/many", ServiceView("default", "many", "Headless", ports=(Port("http", 80),)),
                  [EndpointView((f"10.244.{i // 250}.{i % 250 + 1}",), True, "", "", (Port("http", 8080),))
                   for i in range(200)])
    z.set_service("default/ext", ServiceView("default", "ext", "ExternalName", external_name="www.example.com."))
    table = AnswerTable(z)
    table.build_all()
    s = DNSServer([])
    s.install(table.entries, Resolver(parse_corefile(default_corefile("cluster.local", ["127.0.0.1:9"])), z))
    s.ready = True
    return s


def ask(server: DNSServer, name: str, rtype: str = "A", *, udp: bool = True, edns: int | bool = False,
        payload: int = 1232, rd: bool = True, cd: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, rtype, use_edns=edns, payload=payload)
    if not rd:
        q.flags &= ~dns.flags.RD
    if cd:
        q.flags |= dns.flags.CD
    wire = q.to_wire()
    resp = server.handle(wire, udp, ("127.0.0.1", 1))
    assert isinstance(resp, bytes), resp
    m = dns.message.from_wire(resp)
    assert m.id == q.id and m.flags & dns.flags.QR
    return m


def test_names_round_trip():
    assert name_to_wire("a.bc.") == b"\x01a\x02bc\x00"
    assert name_to_wire(".") == b"\x00"
    assert wire_to_text(b"\x01a\x02bc\x00") == "a.bc."
    assert wire_to_text(b"\x03a.b\x00") == "a\\046b."
    with pytest.raises(ValueError):
        name_to_wire("x" * 64 + ".")


def test_entry_parses_back_with_dnspython():
    qname = name_to_wire("_http._tcp.kubia.default.svc.cluster.local.")
    target = "kubia.default.svc.cluster.local."
    e = build_entry(qname, 0, [RR("_http._tcp.kubia.default.svc.cluster.local.", SRV, 5, (0, 100, 80, target))], [],
                    [RR(target, A, 5, "10.96.0.20")])
    q = dns.message.make_query("_HTTP._tcp.Kubia.default.svc.cluster.local", "SRV")
    wire = q.to_wire()
    m = dns.message.from_wire(render(e, wire, len(wire), False, 512))
    assert str(m.question[0].name) == "_HTTP._tcp.Kubia.default.svc.cluster.local."  # the client's case comes back
    assert m.answer[0][0].target == dns.name.from_text(target) and m.answer[0][0].port == 80
    assert m.additional[0][0].address == "10.96.0.20"
    assert m.flags & dns.flags.AA and m.flags & dns.flags.RD and m.flags & dns.flags.RA


@pytest.mark.parametrize("rd,cd", [(True, False), (False, False), (True, True), (False, True)])
def test_rd_and_cd_are_copied(server, rd, cd):
    m = ask(server, "kubia.default.svc.cluster.local", rd=rd, cd=cd)
    assert bool(m.flags & dns.flags.RD) == rd and bool(m.flags & dns.flags.CD) == cd
    assert m.answer[0][0].address == "10.96.0.20"


@pytest.mark.parametrize("edns", [False, 0])
def test_fast_path_and_parser_path_agree(server, edns):
    for name, rtype in [("kubia.default.svc.cluster.local", "A"), ("KUBIA.default.svc.cluster.local", "SRV"),
                        ("_https._tcp.kubia.default.svc.cluster.local", "SRV"), ("nosuch.default.svc.cluster.local", "A"),
                        ("20.0.96.10.in-addr.arpa", "PTR"), ("ext.default.svc.cluster.local", "CNAME"),
                        ("10-1-2-3.default.pod.cluster.local", "A")]:
        q = dns.message.make_query(name, rtype, use_edns=edns)
        wire = q.to_wire()
        fast = server.handle(wire, True)
        slow = server._slow(wire, True)
        assert fast == slow, name


def test_edns_opt_is_echoed_and_udp_size_honoured(server):
    m = ask(server, "kubia.default.svc.cluster.local", edns=0, payload=4096)
    assert m.edns == 0 and m.payload == 1232
    # 200 addresses (about 3.3 kB) do not fit in 512 bytes without EDNS: TC, whole records only
    m = ask(server, HL)
    assert m.flags & dns.flags.TC and 0 < len(m.answer[0]) < 200 and m.edns < 0
    m = ask(server, HL, edns=0, payload=1232)
    assert m.flags & dns.flags.TC and 28 < len(m.answer[0]) < 200 and m.edns == 0
    m = ask(server, HL, edns=0, payload=65000)  # a client asking for more still gets at most 1232 over UDP
    assert m.flags & dns.flags.TC
    m = ask(server, HL, udp=False)  # TCP: everything
    assert not m.flags & dns.flags.TC and len(m.answer[0]) == 200


def test_truncated_response_sizes(server):
    q = dns.message.make_query(HL, "A", use_edns=0, payload=700).to_wire()
    assert len(server.handle(q, True)) <= 700
    q = dns.message.make_query(HL, "A").to_wire()
    assert len(server.handle(q, True)) <= 512


def test_not_ready_answers_servfail_never_nxdomain(server):
    server.ready = False
    for name in ("kubia.default.svc.cluster.local", "nosuch.default.svc.cluster.local", "example.com"):
        server.dyn.clear()
        table, server.table = server.table, {}
        try:
            assert ask(server, name).rcode() == dns.rcode.SERVFAIL
        finally:
            server.table = table


def test_malformed_packets(server):
    good = dns.message.make_query("kubia.default.svc.cluster.local", "A").to_wire()
    assert server.handle(b"", True) is None
    assert server.handle(b"\x12\x34\x01", True) is None                 # shorter than a header: dropped
    assert server.handle(b"\x12\x34\x81\x80" + good[4:], True) is None  # a response, not a query: dropped
    r = server.handle(good[:-3], True)                                  # cut in the question
    assert r[:2] == good[:2] and r[3] & 0x0F == dns.rcode.FORMERR
    r = server.handle(good[:4] + b"\x00\x02" + good[6:], True)          # qdcount 2, one question
    assert r[3] & 0x0F == dns.rcode.FORMERR
    r = server.handle(good[:12] + b"\xc0\x0c\x00\x01\x00\x01", True)    # a question pointing at itself
    assert r[3] & 0x0F == dns.rcode.FORMERR
    r = server.handle(good + b"junk", True)                             # trailing bytes
    assert r[3] & 0x0F == dns.rcode.FORMERR
    rng = random.Random(5)
    for _ in range(2000):
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80)))
        r = server.handle(junk, True)
        assert r is None or isinstance(r, bytes) or hasattr(r, "send")
        if hasattr(r, "close"):
            r.close()
    assert ask(server, "kubia.default.svc.cluster.local").answer[0][0].address == "10.96.0.20"


def test_opcodes_classes_versions_and_transfers(server):
    q = dns.message.make_query("kubia.default.svc.cluster.local", "A")
    q.set_opcode(dns.opcode.NOTIFY)
    r = dns.message.from_wire(server.handle(q.to_wire(), True))
    assert r.rcode() == dns.rcode.NOTIMP
    q = dns.message.make_query("kubia.default.svc.cluster.local", "A", rdclass="CH")
    assert dns.message.from_wire(server.handle(q.to_wire(), True)).rcode() == dns.rcode.REFUSED
    q = dns.message.make_query("cluster.local", "AXFR")
    assert dns.message.from_wire(server.handle(q.to_wire(), False)).rcode() == dns.rcode.REFUSED
    q = dns.message.make_query("kubia.default.svc.cluster.local", "A", use_edns=1)
    r = dns.message.from_wire(server.handle(q.to_wire(), True))
    assert r.rcode() == dns.rcode.BADVERS and r.edns == 0


def test_negative_answers_are_computed_once_and_dropped_on_change(server):
    m = ask(server, "nosuch.default.svc.cluster.local")
    assert m.rcode() == dns.rcode.NXDOMAIN and m.authority[0].rdtype == dns.rdatatype.SOA
    assert m.flags & dns.flags.AA
    assert any(k.startswith(name_to_wire("nosuch.default.svc.cluster.local.")) for k in server.dyn)
    server.invalidate()
    assert not server.dyn


def test_answer_table_refresh_follows_the_zone(server):
    z = server.resolver.zone
    table = AnswerTable(z)
    table.build_all()
    server.install(table.entries, server.resolver)
    changed = z.set_service("default/kubia", ServiceView("default", "kubia", "ClusterIP", ("10.96.0.21",)))
    table.refresh(changed)
    assert ask(server, "kubia.default.svc.cluster.local").answer[0][0].address == "10.96.0.21"
    assert ask(server, "_http._tcp.kubia.default.svc.cluster.local", "SRV").rcode() == dns.rcode.NXDOMAIN
    assert ask(server, "21.0.96.10.in-addr.arpa", "PTR").answer[0][0].target.to_text() == \
        "kubia.default.svc.cluster.local."


def test_hosts_entries_shadow_cluster_names():
    z = ZoneRecords("cluster.local")
    z.set_service("default/kubia", ServiceView("default", "kubia", "ClusterIP", ("10.96.0.20",)))
    cf = parse_corefile(".:53 {\n hosts {\n  1.2.3.4 kubia.default.svc.cluster.local\n  fallthrough\n }\n"
                        " kubernetes cluster.local in-addr.arpa ip6.arpa\n}\n")
    table = AnswerTable(z, shadow=set(cf.blocks[0].hosts.entries))
    table.build_all()
    s = DNSServer([])
    s.install(table.entries, Resolver(cf, z))
    s.ready = True
    m = ask(s, "kubia.default.svc.cluster.local")
    assert m.answer[0][0].address == "1.2.3.4" and m.answer[0].ttl == 3600
    assert ask(s, "kubia.default.svc.cluster.local", "AAAA").rcode() == dns.rcode.NOERROR  # hosts: NODATA
    assert ask(s, "4.3.2.1.in-addr.arpa", "PTR").answer[0][0].target.to_text() == "kubia.default.svc.cluster.local."
