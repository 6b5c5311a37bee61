"""Unit tests of kubeloop.ingress.nginx_conf: rendering snapshots, the location rules, and
`nginx -t` on rendered configurations (nginx must accept everything the renderer produces).

`nginx -t` needs no root (it binds nothing); a missing nginx skips, or fails when CI is set.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import require
from kubeloop.ingress.nginx import find_nginx
from kubeloop.ingress.nginx_conf import Layout, Settings, locations, quote, render, server_name
from kubeloop.ingress.routes import RouteTable, build_table
from kubeloop.ingress.tls import default_certificate
from test_ingress_routes import backend, eps, ingress, rule, svc

SNAPSHOT = r"""    upstream default_api_80 {
        server 10.244.1.3:8080 max_fails=1 fail_timeout=10s;
        keepalive 32;
        keepalive_timeout 60s;
        keepalive_requests 10000;
    }

    upstream default_kubia_80 {
        server 10.244.1.2:8080 max_fails=1 fail_timeout=10s;
        server 10.244.2.2:8080 max_fails=1 fail_timeout=10s;
        keepalive 32;
        keepalive_timeout 60s;
        keepalive_requests 10000;
    }

    server {
        listen 127.0.0.1:8080 default_server;
        listen 127.0.0.1:8443 ssl default_server;
        server_name _;
        ssl_certificate /state/tls/default.pem;
        ssl_certificate_key /state/tls/default.pem;
        location / {
            proxy_pass http://default_kubia_80;
        }
    }
    server {
        listen 127.0.0.1:8080;
        listen 127.0.0.1:8443 ssl;
        server_name docs.example.com;
        ssl_certificate /state/tls/default.pem;
        ssl_certificate_key /state/tls/default.pem;
        location / {
            proxy_pass http://default_kubia_80;
        }
        location = /foo {
            proxy_pass http://default_kubia_80;
        }
        location = /foo/ {
            proxy_pass http://default_api_80;
        }
    }
    server {
        listen 127.0.0.1:8080;
        server_name kubia.example.com;
        return 308 https://$host:8443$request_uri;
    }
    server {
        listen 127.0.0.1:8443 ssl;
        server_name kubia.example.com;
        ssl_certificate /state/tls/default_tls-secret-abc.pem;
        ssl_certificate_key /state/tls/default_tls-secret-abc.pem;
        location / {
            proxy_pass http://default_kubia_80;
        }
        location = /api {
            proxy_pass http://default_api_80;
        }
        location /api/ {
            proxy_pass http://default_api_80;
        }
        location = /api/v1 {
            return 503;
        }
    }
    server {
        listen 127.0.0.1:8080;
        listen 127.0.0.1:8443 ssl;
        server_name "~^[^.]+\\.example\\.com$";
        ssl_certificate /state/tls/default.pem;
        ssl_certificate_key /state/tls/default.pem;
        location / {
            proxy_pass http://default_kubia_80;
        }
    }
}
"""


def demo_table() -> RouteTable:
    ings = [
        ingress("kubia", [rule("kubia.example.com", [("/", "Prefix", "kubia"), ("/api", "Prefix", "api"),
                                                     ("/api/v1", "Exact", "empty")]),
                          rule("*.example.com", [("/", "Prefix", "kubia")])],
                tls=[{"hosts": ["kubia.example.com"], "secretName": "tls-secret"}]),
        ingress("docs", [rule("docs.example.com", [("/foo/", "Exact", "api")])], default=backend("kubia")),
    ]
    services = [svc("kubia"), svc("api"), svc("empty")]
    slices = [eps("kubia", ["10.244.1.2", "10.244.2.2"]), eps("api", ["10.244.1.3"])]
    return build_table(ings, services, slices)


def settings(state: Path, tmp: Path, **kw) -> Settings:  # type: ignore[no-untyped-def]
    return Settings("127.0.0.1", 8080, 8443, Layout(state, tmp), **kw)


def test_snapshot() -> None:
    text = render(demo_table(), settings(Path("/state"), Path("/tmpdir")),
                  {"default/tls-secret": "/state/tls/default_tls-secret-abc.pem"})
    assert text[text.index("    upstream default_api_80"):] == SNAPSHOT


def test_global_directives() -> None:
    text = render(demo_table(), settings(Path("/state"), Path("/tmpdir"), public_https_port=443, access_log=True))
    for line in ("worker_processes 2;", "pid /state/nginx.pid;", "error_log /state/error.log notice;",
                 "client_body_temp_path /tmpdir/client_body;", "proxy_temp_path /tmpdir/proxy;",
                 "fastcgi_temp_path /tmpdir/fastcgi;", "uwsgi_temp_path /tmpdir/uwsgi;", "scgi_temp_path /tmpdir/scgi;",
                 "access_log /state/access.log kubeloop buffer=32k flush=1s;",
                 "proxy_http_version 1.1;", "proxy_set_header Connection $connection_upgrade;",
                 "proxy_set_header Upgrade $http_upgrade;", "proxy_set_header X-Forwarded-For $remote_addr;",
                 "proxy_set_header X-Forwarded-Proto $scheme;", "proxy_set_header X-Forwarded-Host $best_http_host;",
                 "proxy_set_header X-Real-IP $remote_addr;", "proxy_next_upstream error timeout;",
                 "keepalive 32;", "return 308 https://$host$request_uri;"):
        assert line in text, line
    # Without an Upgrade header the Connection header sent upstream is empty (keepalive works).
    assert "map $http_upgrade $connection_upgrade {\n        default upgrade;\n        '' '';\n    }" in text
    assert "/var/lib/nginx" not in text and "/run/nginx.pid" not in text


def test_locations_prefix_has_exact_twin_and_exact_wins_ties() -> None:
    ings = [ingress("a", [rule("a.com", [("/foo", "Prefix", "p"), ("/foo", "Exact", "e"), ("/bar/", "Exact", "e")])])]
    table = build_table(ings, [svc("p"), svc("e")], [eps("p", ["10.0.0.1"]), eps("e", ["10.0.0.2"])])
    locs = {(m, p): t for m, p, t in locations(table, table.hosts[0], redirecting=False)}
    assert locs[("=", "/foo")] == ("proxy", "default_e_80")  # Exact before Prefix at equal length
    assert locs[("", "/foo/")] == ("proxy", "default_p_80")
    assert locs[("=", "/bar/")] == ("proxy", "default_e_80")
    assert locs[("=", "/bar")] == ("status", "404")  # blocks nginx's 301 /bar → /bar/
    assert locs[("", "/")] == ("status", "404")


def test_quoting_and_server_names() -> None:
    assert quote("/plain/path-1.2_~") == "/plain/path-1.2_~"
    assert quote('/a b"c\\d{;}$x') == '"/a b\\"c\\\\d{;}$x"'
    assert server_name("") == "_"
    assert server_name("*.my-site.example.com") == '"~^[^.]+\\\\.my-site\\\\.example\\\\.com$"'


def test_ipv6_endpoints_and_listen() -> None:
    ings = [ingress("a", [rule("a.com", [("/", "Prefix", "v6")])])]
    slices = [eps("v6", ["fd00::5"])]
    slices[0]["addressType"] = "IPv6"
    table = build_table(ings, [svc("v6")], slices)
    text = render(table, Settings("::1", 8080, 8443, Layout(Path("/s"), Path("/t"))))
    assert "server [fd00::5]:8080 max_fails=1 fail_timeout=10s;" in text
    assert "listen [::1]:8080 default_server;" in text


# -- nginx -t ------------------------------------------------------------------------------

def nginx_test(text: str, state: Path) -> subprocess.CompletedProcess[str]:
    binary = find_nginx()
    require(binary is not None, "nginx is not installed")
    conf = state / "nginx.conf"
    conf.write_text(text)
    return subprocess.run([binary, "-t", "-q", "-c", str(conf), "-p", f"{state}/", "-e", "stderr"],  # type: ignore[list-item]
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    state, tmp = tmp_path / "state", tmp_path / "tmp"
    (state / "tls").mkdir(parents=True, mode=0o700)
    tmp.mkdir()
    pem = default_certificate()
    for name in ("default.pem", "secret.pem"):
        fd = os.open(state / "tls" / name, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, pem)
        os.close(fd)
    return state, tmp


@pytest.mark.parametrize("http2", [False, True])
def test_nginx_accepts_demo_config(dirs: tuple[Path, Path], http2: bool) -> None:
    state, tmp = dirs
    text = render(demo_table(), settings(state, tmp, access_log=True, http2=http2),
                  {"default/tls-secret": str(state / "tls" / "secret.pem")})
    assert (" ssl http2" in text) is http2
    proc = nginx_test(text, state)
    assert proc.returncode == 0, proc.stderr + text


def test_nginx_accepts_empty_table(dirs: tuple[Path, Path]) -> None:
    state, tmp = dirs
    proc = nginx_test(render(build_table([], [], []), settings(state, tmp)), state)
    assert proc.returncode == 0, proc.stderr


def test_nginx_accepts_awkward_paths_hosts_and_many_names(dirs: tuple[Path, Path]) -> None:
    state, tmp = dirs
    odd = ['/a b', '/quote"d', '/brace{x}', '/semi;colon', '/dollar$var', '/hash#tag', '/back\\slash', '/ünï',
           '/tab\\t', "/single'q", "/~user", "/%2e"]
    long_host = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters
    rules = [rule("odd.example.com", [(p, t, "s") for p in odd for t in ("Exact", "Prefix")]),
             rule(long_host, [("/", "Prefix", "s")]), rule("*.wild-card.example.com", [("/x", "Exact", "s")])]
    rules += [rule(f"host{i}.example.com", [("/", "Prefix", "s"), (f"/p{i}", "Exact", "none")]) for i in range(300)]
    table = build_table([ingress("odd", rules, default=backend("s"))], [svc("s"), svc("none")], [eps("s", ["10.0.0.1", "10.0.0.2"])])
    text = render(table, settings(state, tmp))
    proc = nginx_test(text, state)
    assert proc.returncode == 0, proc.stderr
    assert not table.problems


def test_nginx_rejects_missing_certificate(dirs: tuple[Path, Path]) -> None:
    """The check `apply` relies on: a broken configuration fails `nginx -t`."""
    state, tmp = dirs
    text = render(demo_table(), settings(state, tmp), {"default/tls-secret": str(state / "tls" / "missing.pem")})
    proc = nginx_test(text, state)
    assert proc.returncode != 0 and "missing.pem" in proc.stderr
