"""Unit tests of kubeloop.ingress.routes: the Ingress API's matching rules as a route table.

PATH_TABLE is the "Examples" table of the Kubernetes Ingress documentation
(concepts/services-networking/ingress, "Path types" → "Examples"), HOST_TABLE its "Hostname
wildcards" table; tests/integration/test_ingress_nginx.py runs the same tables against a real
nginx rendering of the same route table.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.ingress import routes
from kubeloop.ingress.controller import hosts_lines, lb_ingress
from kubeloop.ingress.routes import build_table, is_served, match

Obj = dict[str, Any]

# (pathType, [paths], request path, the path that serves it or None for "no match: default backend").
# "Mixed" rows give (path, type) pairs.
PATH_TABLE: list[tuple[str, list[Any], str, Any]] = [
    ("Prefix", ["/"], "/", "/"),
    ("Prefix", ["/"], "/anything", "/"),
    ("Prefix", ["/"], "/a/b/c", "/"),
    ("Exact", ["/foo"], "/foo", "/foo"),
    ("Exact", ["/foo"], "/bar", None),
    ("Exact", ["/foo"], "/foo/", None),
    ("Exact", ["/foo/"], "/foo", None),
    ("Prefix", ["/foo"], "/foo", "/foo"),
    ("Prefix", ["/foo"], "/foo/", "/foo"),
    ("Prefix", ["/foo/"], "/foo", "/foo/"),
    ("Prefix", ["/foo/"], "/foo/", "/foo/"),
    ("Prefix", ["/aaa/bb"], "/aaa/bbb", None),
    ("Prefix", ["/aaa/bbb"], "/aaa/bbb", "/aaa/bbb"),
    ("Prefix", ["/aaa/bbb/"], "/aaa/bbb", "/aaa/bbb/"),  # ignores trailing slash
    ("Prefix", ["/aaa/bbb"], "/aaa/bbb/", "/aaa/bbb"),  # matches trailing slash
    ("Prefix", ["/aaa/bbb"], "/aaa/bbb/ccc", "/aaa/bbb"),  # matches subpath
    ("Prefix", ["/aaa/bbb"], "/aaa/bbbxyz", None),  # does not match string prefix
    ("Prefix", ["/", "/aaa"], "/aaa/ccc", "/aaa"),
    ("Prefix", ["/", "/aaa", "/aaa/bbb"], "/aaa/bbb", "/aaa/bbb"),
    ("Prefix", ["/", "/aaa", "/aaa/bbb"], "/ccc", "/"),
    ("Prefix", ["/aaa"], "/ccc", None),  # uses default backend
    ("Mixed", [("/foo", "Prefix"), ("/foo", "Exact")], "/foo", ("/foo", "Exact")),  # prefers Exact
    # Beyond the documentation's table: ImplementationSpecific is Prefix; longest wins across types.
    ("ImplementationSpecific", ["/foo"], "/foo/bar", "/foo"),
    ("ImplementationSpecific", ["/foo"], "/foobar", None),
    ("Mixed", [("/foo", "Prefix"), ("/foo/bar", "Exact")], "/foo/bar", ("/foo/bar", "Exact")),
    ("Mixed", [("/foo", "Exact"), ("/foo/bar", "Prefix")], "/foo/bar/baz", ("/foo/bar", "Prefix")),
    ("Mixed", [("/foo/", "Exact"), ("/", "Prefix")], "/foo", ("/", "Prefix")),
]

# (rule host, Host header, matches?)
HOST_TABLE = [
    ("*.foo.com", "bar.foo.com", True),  # matches based on shared suffix
    ("*.foo.com", "baz.bar.foo.com", False),  # wildcard only covers a single DNS label
    ("*.foo.com", "foo.com", False),  # wildcard only covers a single DNS label
    ("foo.bar.com", "foo.bar.com", True),
    ("foo.bar.com", "FOO.bar.com:8080", True),
    ("foo.bar.com", "bar.com", False),
]


def svc(name: str, ports: list[Obj] | None = None, ns: str = "default", **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": ports or [{"port": 80, "targetPort": 8080, "protocol": "TCP"}], **spec}}


def eps(service: str, addresses: list[str], port: int = 8080, port_name: str = "", ns: str = "default",
        not_ready: list[str] = ()) -> Obj:  # type: ignore[assignment]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service}-x", "namespace": ns, "labels": {routes.SERVICE_NAME_LABEL: service}},
            "addressType": "IPv4", "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses]
            + [{"addresses": [a], "conditions": {"ready": False}} for a in not_ready]}


def backend(service: str, port: int | str = 80) -> Obj:
    return {"service": {"name": service, "port": {"number": port} if isinstance(port, int) else {"name": port}}}


def ingress(name: str, rules: list[Obj] | None = None, *, ns: str = "default", created: str = "2024-01-01T00:00:00Z",
            default: Obj | None = None, tls: list[Obj] | None = None, class_name: str | None = None,
            annotations: dict[str, str] | None = None) -> Obj:
    spec: Obj = {}
    if rules is not None:
        spec["rules"] = rules
    if default is not None:
        spec["defaultBackend"] = default
    if tls is not None:
        spec["tls"] = tls
    if class_name is not None:
        spec["ingressClassName"] = class_name
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": created, "annotations": annotations or {}},
            "spec": spec}


def rule(host: str | None, paths: list[tuple[str, str, str]]) -> Obj:
    r: Obj = {"http": {"paths": [{"path": p, "pathType": t, "backend": backend(s)} for p, t, s in paths]}}
    if host:
        r["host"] = host
    return r


def path_case(kind: str, paths: list[Any]) -> tuple[list[Obj], list[Obj], list[Obj], dict[tuple[str, str], str]]:
    """One Ingress with one service per path (plus a default backend); returns objects and (path,type)→upstream."""
    pairs = [(p, kind) if isinstance(p, str) else p for p in paths]
    names = {pair: f"svc{i}" for i, pair in enumerate(pairs)}
    services = [svc(n) for n in names.values()] + [svc("fallback")]
    slices = [eps(n, [f"10.244.0.{i + 1}"]) for i, n in enumerate(names.values())] + [eps("fallback", ["10.244.1.1"])]
    ing = ingress("paths", [rule("example.com", [(p, t, names[(p, t)]) for p, t in pairs])], default=backend("fallback"))
    upstreams = {pair: routes.upstream_name("default", n, 80) for pair, n in names.items()}
    return [ing], services, slices, upstreams


@pytest.mark.parametrize("kind,paths,request_path,expected", PATH_TABLE)
def test_documented_path_matching(kind: str, paths: list[Any], request_path: str, expected: Any) -> None:
    ings, services, slices, upstreams = path_case(kind, paths)
    table = build_table(ings, services, slices)
    got = match(table, "example.com", request_path)
    if expected is None:
        assert got == routes.upstream_name("default", "fallback", 80)
    else:
        pair = (expected, kind) if isinstance(expected, str) else expected
        assert got == upstreams[pair]


@pytest.mark.parametrize("pattern,host,expected", HOST_TABLE)
def test_documented_host_matching(pattern: str, host: str, expected: bool) -> None:
    assert routes.host_matches(pattern, host) is expected
    table = build_table([ingress("h", [rule(pattern, [("/", "Prefix", "a")])])], [svc("a")], [eps("a", ["10.244.0.1"])])
    assert (match(table, host, "/") is not None) is expected


def test_exact_host_beats_wildcard_and_unknown_host_gets_default_server() -> None:
    ings = [ingress("h", [rule("*.example.com", [("/", "Prefix", "wild")]),
                          rule("www.example.com", [("/", "Prefix", "www")]),
                          rule(None, [("/", "Prefix", "nohost")])])]
    services = [svc("wild"), svc("www"), svc("nohost")]
    slices = [eps("wild", ["10.0.0.1"]), eps("www", ["10.0.0.2"]), eps("nohost", ["10.0.0.3"])]
    table = build_table(ings, services, slices)
    assert match(table, "www.example.com", "/") == "default_www_80"
    assert match(table, "api.example.com", "/x") == "default_wild_80"
    assert match(table, "a.b.example.com", "/") == "default_nohost_80"
    assert match(table, "other.org", "/") == "default_nohost_80"
    assert [h.host for h in table.hosts] == ["www.example.com", "*.example.com"]


def test_no_default_backend_means_404() -> None:
    table = build_table([ingress("a", [rule("a.com", [("/x", "Prefix", "a")])])], [svc("a")], [eps("a", ["10.0.0.1"])])
    assert match(table, "a.com", "/y") is None
    assert match(table, "b.com", "/x") is None


def test_default_backend_only_ingress_serves_everything() -> None:
    table = build_table([ingress("d", default=backend("d"))], [svc("d")], [eps("d", ["10.0.0.9"])])
    assert match(table, "whatever.com", "/any") == "default_d_80"


def test_backend_port_by_number_and_by_name_resolves_to_slice_port() -> None:
    services = [svc("kubia", [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "https", "port": 443, "targetPort": 8443}])]
    slices = [{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "kubia-1", "namespace": "default", "labels": {routes.SERVICE_NAME_LABEL: "kubia"}},
               "addressType": "IPv4",
               "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "https", "port": 8443, "protocol": "TCP"}],
               "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": True}},
                             {"addresses": ["10.244.0.6"], "conditions": {}},
                             {"addresses": ["10.244.0.7"], "conditions": {"ready": False}}]}]
    ings = [ingress("k", [rule("a.com", [("/n", "Prefix", "kubia")]),
                          {"host": "b.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                                                                "backend": backend("kubia", "https")}]}}])]
    table = build_table(ings, services, slices)
    by_number = table.upstreams["default_kubia_80"]
    by_name = table.upstreams["default_kubia_https"]
    assert by_number.endpoints == (("10.244.0.5", 8080), ("10.244.0.6", 8080))  # ready nil counts as ready
    assert by_name.endpoints == (("10.244.0.5", 8443), ("10.244.0.6", 8443))
    assert not table.problems


def test_missing_service_port_and_endpoints_are_reported_or_empty() -> None:
    ings = [ingress("k", [rule("a.com", [("/missing", "Prefix", "nope"), ("/noeps", "Prefix", "empty")]),
                          {"host": "b.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                                                                "backend": backend("empty", 81)}]}}])]
    table = build_table(ings, [svc("empty")], [])
    assert table.upstreams["default_empty_80"].endpoints == ()
    assert table.upstreams["default_empty_80"].problem == ""  # no endpoints is not a configuration problem
    reasons = {(p.reason, p.message) for p in table.problems}
    assert ("BackendNotFound", "service default/nope not found") in reasons
    assert ("BackendNotFound", "service default/empty has no port 81") in reasons


def test_oldest_ingress_wins_a_path_conflict() -> None:
    old = ingress("old", [rule("a.com", [("/", "Prefix", "one")])], created="2024-01-01T00:00:00Z")
    new = ingress("new", [rule("a.com", [("/", "Prefix", "two"), ("/two", "Prefix", "two")])], created="2024-02-01T00:00:00Z")
    table = build_table([new, old], [svc("one"), svc("two")], [eps("one", ["10.0.0.1"]), eps("two", ["10.0.0.2"])])
    assert match(table, "a.com", "/") == "default_one_80"
    assert match(table, "a.com", "/two/x") == "default_two_80"
    assert [p.reason for p in table.problems] == ["PathConflict"]
    assert table.problems[0].ingress == "default/new"


def test_tls_hosts_secrets_and_redirect_annotation() -> None:
    ings = [
        ingress("secure", [rule("kubia.example.com", [("/", "Prefix", "a")]), rule("plain.example.com", [("/", "Prefix", "a")])],
                tls=[{"hosts": ["kubia.example.com"], "secretName": "tls-secret"}]),
        ingress("wild", [rule("x.wild.com", [("/", "Prefix", "a")])], tls=[{"hosts": ["*.wild.com"], "secretName": "w"}],
                annotations={routes.SSL_REDIRECT_ANNOTATION: "false"}),
        ingress("nohosts", [rule("n.com", [("/", "Prefix", "a")])], tls=[{"secretName": "n"}]),
    ]
    table = build_table(ings, [svc("a")], [eps("a", ["10.0.0.1"])])
    by_host = {h.host: h for h in table.hosts}
    assert by_host["kubia.example.com"].tls and by_host["kubia.example.com"].tls_secret == "default/tls-secret"
    assert by_host["kubia.example.com"].routes[0].ssl_redirect
    assert not by_host["plain.example.com"].tls
    assert by_host["x.wild.com"].tls_secret == "default/w" and not by_host["x.wild.com"].routes[0].ssl_redirect
    assert by_host["n.com"].tls_secret == "default/n"
    assert table.secrets() == {"default/tls-secret", "default/w", "default/n"}


def test_class_selection() -> None:
    ours = routes.ingress_class_object()
    other = {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}
    other_default = {"metadata": {"name": "nginx", "annotations": {routes.DEFAULT_CLASS_ANNOTATION: "true"}},
                     "spec": {"controller": "k8s.io/ingress-nginx"}}
    ours_not_default = {"metadata": {"name": "kubeloop"}, "spec": {"controller": routes.CONTROLLER}}
    assert ours["metadata"]["annotations"][routes.DEFAULT_CLASS_ANNOTATION] == "true"
    assert ours["spec"]["controller"] == "kubeloop.dev/ingress-nginx"
    assert is_served(ingress("a", class_name="kubeloop"), [ours, other])
    assert not is_served(ingress("a", class_name="nginx"), [ours, other])
    assert not is_served(ingress("a", class_name="missing"), [ours, other])
    assert is_served(ingress("a"), [ours, other])  # no class: the default class's controller serves it
    assert is_served(ingress("a"), [])
    assert not is_served(ingress("a"), [ours_not_default, other_default])
    assert is_served(ingress("a", annotations={routes.LEGACY_CLASS_ANNOTATION: "kubeloop"}), [ours])
    assert not is_served(ingress("a", annotations={routes.LEGACY_CLASS_ANNOTATION: "nginx"}), [ours, other])


def test_invalid_paths_are_reported_not_served() -> None:
    ing = ingress("bad", [{"host": "a.com", "http": {"paths": [
        {"path": "/ok", "pathType": "Prefix", "backend": backend("a")},
        {"path": "/bad\nline", "pathType": "Exact", "backend": backend("a")},
        {"path": "", "pathType": "ImplementationSpecific", "backend": backend("a")}]}}])
    table = build_table([ing], [svc("a")], [eps("a", ["10.0.0.1"])])
    assert [r.path for r in table.hosts[0].routes] == ["/ok", "/"]
    assert [p.reason for p in table.problems] == ["InvalidPath"]


def test_hosts_lines_and_lb_ingress() -> None:
    ings = [ingress("a", [rule("kubia.example.com", [("/", "Prefix", "a")]), rule("*.w.com", [("/", "Prefix", "a")]),
                          rule(None, [("/", "Prefix", "a")])], tls=[{"hosts": ["secure.example.com"], "secretName": "s"}]),
            ingress("b", [rule("kubia.example.com", [("/x", "Prefix", "b")])])]
    assert hosts_lines(ings, "172.30.0.200") == [
        "# *.w.com: wildcard hosts cannot be listed in /etc/hosts",
        "172.30.0.200\tkubia.example.com",
        "172.30.0.200\tsecure.example.com",
    ]
    svc_obj = {"status": {"loadBalancer": {"ingress": [{"ip": "172.30.0.200", "ipMode": "VIP"}]}}}
    assert lb_ingress(svc_obj) == [{"ip": "172.30.0.200"}]
    assert lb_ingress(None) == []
