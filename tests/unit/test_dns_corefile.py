"""Reading the Corefile of the kube-system/coredns ConfigMap as kind and kubeadm ship it."""

from __future__ import annotations

import pytest

from kubeloop.dns.corefile import (CorefileError, default_corefile, parse_address, parse_blocks, parse_corefile,
                                   read_resolv_conf)

KIND = """\
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
"""


@pytest.fixture
def resolv(tmp_path):
    p = tmp_path / "resolv.conf"
    p.write_text("# test\nsearch example\nnameserver 127.0.0.53\nnameserver ::1\noptions edns0\n")
    return p


def test_kind_corefile(resolv):
    c = parse_corefile(KIND, resolv_conf=resolv)
    assert c.warnings == []
    (b,) = c.blocks
    assert b.zones == ["."] and b.errors and not b.log
    k = b.kubernetes
    assert (k.zones, k.pods, k.ttl, k.fallthrough) == (["cluster.local.", "in-addr.arpa.", "ip6.arpa."], "insecure",
                                                       30, ["in-addr.arpa.", "ip6.arpa."])
    assert b.forward.to == [("127.0.0.53", 53), ("::1", 53)] and b.forward.max_concurrent == 1000
    assert b.forward.source == "/etc/resolv.conf"
    assert (b.cache.success_ttl, b.cache.denial_ttl) == (30, 30)
    assert c.block_for("example.com.") is b and c.kubernetes == (b, k)


def test_default_corefile_round_trips(resolv):
    text = default_corefile("cluster.local", ["127.0.0.1:5353"])
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa" in text
    c = parse_corefile(text, resolv_conf=resolv)
    assert c.warnings == [] and c.blocks[0].forward.to == [("127.0.0.1", 5353)]
    assert "forward . /etc/resolv.conf" in default_corefile()
    assert parse_corefile(default_corefile(), resolv_conf=resolv).blocks[0].forward.to[0] == ("127.0.0.53", 53)
    assert "kubernetes corp.example in-addr.arpa" in default_corefile("corp.example.")


def test_unknown_and_unsupported_directives_are_warnings():
    c = parse_corefile(""".:53 {
        rewrite name foo.example.com bar.example.com
        kubernetes cluster.local {
            namespaces default
            pods bogus
        }
        forward . 127.0.0.1 tls://1.1.1.1 {
            tls
        }
        cache 30 {
            prefetch 10
        }
        template IN A example.com
    }""")
    text = "\n".join(c.warnings)
    for word in ("'rewrite'", "'namespaces'", "pods 'bogus'", "tls://", "'tls'", "'prefetch'", "'template'"):
        assert word in text, word
    assert c.blocks[0].kubernetes.pods == "disabled" and c.blocks[0].forward.to == [("127.0.0.1", 53)]


def test_harmless_directives_are_quiet():
    c = parse_corefile(".:53 {\n health\n ready\n prometheus :9153\n loop\n reload 2s\n loadbalance round_robin\n}\n")
    assert c.warnings == []


def test_hosts_inline_entries_and_options(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.1 filehost filehost.example  # comment\n")
    c = parse_corefile(f""".:53 {{
        hosts {hosts} example. {{
            192.168.1.10 db.example
            fd00::10 db.example
            not-an-ip broken
            ttl 60
            no_reverse
            fallthrough
        }}
    }}""")
    h = c.blocks[0].hosts
    assert h.entries == {"filehost.": ["10.0.0.1"], "filehost.example.": ["10.0.0.1"],
                         "db.example.": ["192.168.1.10", "fd00::10"]}
    assert (h.ttl, h.no_reverse, h.fallthrough, h.zones) == (60, True, [], ["example."])
    assert h.reverse() == {}
    assert any("not-an-ip" in w for w in c.warnings)


def test_log_errors_and_stub_domains():
    c = parse_corefile(""".:53 {
        log
        kubernetes cluster.local
        forward . 127.0.0.1:5300
    }
    consul.local:53 {
        errors
        forward . 127.0.0.2:8600
    }
    other.example:5353 {
        forward . 127.0.0.3
    }
    """)
    assert [b.zones for b in c.blocks] == [["."], ["consul.local."]]
    assert c.blocks[0].log and c.blocks[1].errors
    assert c.block_for("x.consul.local.").forward.to == [("127.0.0.2", 8600)]
    assert c.block_for("x.other.example.").forward.to == [("127.0.0.1", 5300)]
    assert any("port 5353" in w for w in c.warnings)


def test_forward_except_and_options():
    c = parse_corefile(".:53 {\n forward . 127.0.0.1 [::1]:5353 dns://127.0.0.2:54 {\n  except example.org\n"
                       "  force_tcp\n  policy sequential\n  max_concurrent 10\n }\n}\n")
    f = c.blocks[0].forward
    assert f.to == [("127.0.0.1", 53), ("::1", 5353), ("127.0.0.2", 54)]
    assert f.force_tcp and f.max_concurrent == 10 and c.warnings == []
    assert f.handles("www.example.com.") and not f.handles("a.example.org.")


def test_cache_options():
    c = parse_corefile(".:53 {\n cache {\n  success 100 60 2\n  denial 50 10\n }\n}\n")
    ca = c.blocks[0].cache
    assert (ca.success_capacity, ca.success_ttl, ca.success_min_ttl, ca.denial_capacity, ca.denial_ttl) == (100, 60, 2, 50, 10)
    assert parse_corefile(".:53 {\n cache\n}\n").blocks[0].cache.success_ttl == 3600


def test_syntax():
    blocks = parse_blocks('# a comment\n.:53 {\n  hosts {\n    1.2.3.4 "quoted name"  # trailing\n  }\n}\n')
    (keys, body, _), = blocks
    assert keys == [".:53"] and body[0].name == "hosts" and body[0].block[0].args == ["quoted name"]
    assert parse_blocks("cluster.local:53 example.org {\n errors\n}\n")[0][0] == ["cluster.local:53", "example.org"]
    assert parse_blocks(".\nerrors\nlog\n")[0][1][1].name == "log"  # one block without braces
    for bad in (".:53 {\n errors\n", ".:53 {\n hosts {\n}\n", "}\n", '.:53 {\n hosts "open\n}\n'):
        with pytest.raises(CorefileError):
            parse_corefile(bad)


def test_addresses_and_resolv_conf(resolv, tmp_path):
    assert parse_address("1.2.3.4") == ("1.2.3.4", 53)
    assert parse_address("1.2.3.4:5353") == ("1.2.3.4", 5353)
    assert parse_address("[::1]:54") == ("::1", 54)
    assert parse_address("::1") == ("::1", 53)
    with pytest.raises(ValueError):
        parse_address("tls://1.1.1.1")
    assert read_resolv_conf(resolv) == [("127.0.0.53", 53), ("::1", 53)]
    assert read_resolv_conf(tmp_path / "missing") == []
    c = parse_corefile(".:53 {\n forward . /etc/resolv.conf\n}\n", resolv_conf=tmp_path / "missing")
    assert any("no nameserver" in w for w in c.warnings)
