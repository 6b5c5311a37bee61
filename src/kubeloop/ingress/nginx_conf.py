"""nginx.conf from a RouteTable: the ingress data plane's whole configuration as text.

Owns nginx syntax and the translation of routes.py's semantics into nginx location rules:
- one `server` per host (wildcards as `~^[^.]+\\.suffix$` so they cover exactly one label) and a
  default server for host-less rules and unknown names;
- Exact path p → `location = p`; Prefix path p → `location = p` plus `location p/`, so nginx's
  longest-prefix choice is the Ingress API's element-wise, longest-first rule and an exact
  location always wins; a location ending in `/` always gets its `= p` twin, which stops
  nginx's automatic 301 from `/p` to `/p/`;
- upstreams of ready endpoint addresses with keepalive, HTTP/1.1 and `Connection ""` (or
  `upgrade` for WebSockets), retry on another endpoint on error or timeout, 503 without
  endpoints, 404 (or the default backend) when nothing matches;
- TLS: a certificate per host chosen by SNI, the default certificate elsewhere, HTTP → HTTPS
  308 for TLS hosts unless their Ingress says `ssl-redirect: "false"`; HTTP/1.1 only by default
  (see Settings.http2);
- every file nginx touches (pid, logs, temp files) inside the state and temp directories.

Pure: no I/O. nginx.py writes, tests and loads what this renders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .routes import EXACT, Route, RouteTable, VirtualHost, match_path

_BARE = re.compile(r"^[A-Za-z0-9_/.\-~%:+@,=!*]+$")


@dataclass(frozen=True)
class Layout:
    """Where nginx's files live: configuration, pid, logs and certificates under state_dir
    (which only root needs to read); temp files under temp_dir (writable by the workers)."""

    state_dir: Path
    temp_dir: Path

    @property
    def conf(self) -> Path:
        return self.state_dir / "nginx.conf"

    @property
    def pid(self) -> Path:
        return self.state_dir / "nginx.pid"

    @property
    def error_log(self) -> Path:
        return self.state_dir / "error.log"

    @property
    def access_log(self) -> Path:
        return self.state_dir / "access.log"

    @property
    def tls_dir(self) -> Path:
        return self.state_dir / "tls"

    @property
    def default_cert(self) -> Path:
        return self.tls_dir / "default.pem"


@dataclass(frozen=True)
class Settings:
    listen_host: str
    http_port: int
    https_port: int
    layout: Layout
    public_http_port: int | None = None  # the ports clients use (the LB Service's), if not the listen ports
    public_https_port: int | None = None
    worker_processes: int = 2
    worker_connections: int = 1024
    keepalive: int = 32
    access_log: bool = False
    # HTTP/2 stays off: on a reload nginx's old workers end idle HTTP/2 connections with a GOAWAY
    # that races the client's next request, and clients such as curl then fail the request
    # instead of retrying (measured: about 2 in 1000 requests during back-to-back reloads; none
    # with HTTP/1.1). Reloads are how Secrets and endpoints change here.
    http2: bool = False


def quote(value: str) -> str:
    """An nginx token: bare when safe, else double-quoted with \\ and \" escaped."""
    if _BARE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_name(host: str) -> str:
    if not host:
        return "_"
    if host.startswith("*."):
        return quote("~^[^.]+" + re.escape(host[1:]).replace("\\-", "-") + "$")
    return host


# A location's target: ("proxy", upstream) | ("status", code) | ("redirect", "")
Target = tuple[str, str]


def _target(table: RouteTable, upstream: str | None, redirect: bool) -> Target:
    if redirect:
        return ("redirect", "")
    if upstream is None:
        return ("status", "404")
    up = table.upstream(upstream)
    if up is None or not up.endpoints:
        return ("status", "503")
    return ("proxy", upstream)


def locations(table: RouteTable, vhost: VirtualHost, redirecting: bool) -> list[tuple[str, str, Target]]:
    """(modifier, path, target) for one server; modifier "=" (exact) or "" (prefix).

    redirecting: this server is the plain-HTTP side of a TLS host, where routes whose Ingress
    wants it (the default) answer with a redirect to HTTPS.
    """
    locs: dict[tuple[str, str], Target] = {}

    def route_target(route: Route | None) -> Target:
        if route is None:
            return _target(table, vhost.fallback, redirecting and vhost.ssl_redirect)
        return _target(table, route.upstream, redirecting and route.ssl_redirect)

    for route in vhost.routes:  # precedence order: the first writer of a location wins
        t = route_target(route)
        if route.path_type == EXACT:
            locs.setdefault(("=", route.path), t)
        elif route.path == "/":
            locs.setdefault(("", "/"), t)
        else:
            locs.setdefault(("=", route.path), t)
            locs.setdefault(("", route.path + "/"), t)
    locs.setdefault(("", "/"), route_target(None))
    for (_, path) in list(locs):
        if path != "/" and path.endswith("/") and ("=", path[:-1]) not in locs:
            # Without this, nginx answers `/p` with a 301 to `/p/` (auto_redirect).
            locs[("=", path[:-1])] = route_target(match_path(vhost, path[:-1]))
    return [(mod, path, t) for (mod, path), t in sorted(locs.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


def _location_lines(mod: str, path: str, target: Target, https_port: int) -> list[str]:
    head = f"        location {'= ' if mod else ''}{quote(path)} {{"
    kind, value = target
    if kind == "proxy":
        body = f"            proxy_pass http://{value};"
    elif kind == "redirect":
        port = "" if https_port == 443 else f":{https_port}"
        body = f"            return 308 https://$host{port}$request_uri;"
    else:
        body = f"            return {value};"
    return [head, body, "        }"]


def _server(table: RouteTable, vhost: VirtualHost, s: Settings, certs: Mapping[str, str], *,
            http: bool, https: bool, redirecting: bool) -> list[str]:
    default = " default_server" if not vhost.host else ""
    out = ["    server {"]
    if http:
        out.append(f"        listen {_listen(s.listen_host, s.http_port)}{default};")
    if https:
        out.append(f"        listen {_listen(s.listen_host, s.https_port)} ssl{' http2' if s.http2 else ''}{default};")
    out.append(f"        server_name {server_name(vhost.host)};")
    if https:
        cert = certs.get(vhost.tls_secret or "") or str(s.layout.default_cert)
        out.append(f"        ssl_certificate {quote(cert)};")
        out.append(f"        ssl_certificate_key {quote(cert)};")
    https_port = s.public_https_port or s.https_port
    locs = locations(table, vhost, redirecting)
    if all(target[0] == "redirect" for _, _, target in locs):
        port = "" if https_port == 443 else f":{https_port}"
        out.append(f"        return 308 https://$host{port}$request_uri;")
    else:
        for mod, path, target in locs:
            out += _location_lines(mod, path, target, https_port)
    out.append("    }")
    return out


def _upstream(name: str, endpoints: tuple[tuple[str, int], ...], keepalive: int) -> list[str]:
    out = [f"    upstream {name} {{"]
    for address, port in endpoints:
        out.append(f"        server {_listen(address, port)} max_fails=1 fail_timeout=10s;")
    out.append(f"        keepalive {keepalive};")
    out.append("        keepalive_timeout 60s;")
    out.append("        keepalive_requests 10000;")
    out.append("    }")
    return out


def _bucket_size(table: RouteTable) -> int:
    """A server_names hash bucket that holds the longest name (a 253-character host needs 512)."""
    longest = max((len(h.host) for h in table.hosts), default=0)
    size = 64
    while size < longest + 32:
        size *= 2
    return size


def render(table: RouteTable, settings: Settings, certs: Mapping[str, str] | None = None) -> str:
    """The complete nginx.conf. certs: Secret namespace/name → PEM file (key + chain) for the
    Secrets that passed validation; hosts whose Secret is missing here get the default one."""
    certs = certs or {}
    s, lay = settings, settings.layout
    public_http = s.public_http_port or s.http_port
    public_https = s.public_https_port or s.https_port
    tmp = lay.temp_dir
    access = (f"access_log {quote(str(lay.access_log))} kubeloop buffer=32k flush=1s;"
              if s.access_log else "access_log off;")
    out = [
        "# Rendered by kubeloop's ingress controller; edits are overwritten.",
        f"worker_processes {s.worker_processes};",
        f"pid {quote(str(lay.pid))};",
        f"error_log {quote(str(lay.error_log))} notice;",
        "worker_shutdown_timeout 60s;",
        "",
        "events {",
        f"    worker_connections {s.worker_connections};",
        "    multi_accept on;",
        "}",
        "",
        "http {",
        "    default_type text/plain;",
        "    server_tokens off;",
        "    sendfile on;",
        "    tcp_nopush on;",
        "    tcp_nodelay on;",
        "    keepalive_timeout 75s;",
        "    keepalive_requests 10000;",
        "    client_max_body_size 1m;",
        f"    server_names_hash_bucket_size {_bucket_size(table)};",
        "    server_names_hash_max_size 8192;",
        "    log_format kubeloop '$remote_addr - [$time_local] \"$host\" \"$request\" $status $body_bytes_sent '",
        "                        '$request_time [$proxy_host] $upstream_addr $upstream_status';",
        f"    {access}",
        f"    client_body_temp_path {quote(str(tmp / 'client_body'))};",
        f"    proxy_temp_path {quote(str(tmp / 'proxy'))};",
        f"    fastcgi_temp_path {quote(str(tmp / 'fastcgi'))};",
        f"    uwsgi_temp_path {quote(str(tmp / 'uwsgi'))};",
        f"    scgi_temp_path {quote(str(tmp / 'scgi'))};",
        "",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    ssl_session_cache shared:SSL:10m;",
        "    ssl_session_timeout 10m;",
        "",
        "    map $http_upgrade $connection_upgrade {",
        "        default upgrade;",
        "        '' '';",  # no Upgrade: `Connection ""`, so upstream connections stay alive
        "    }",
        "    map $http_host $best_http_host {",
        "        default $http_host;",
        "        '' $host;",
        "    }",
        "    map $scheme $public_port {",
        f"        default {public_http};",
        f"        https {public_https};",
        "    }",
        "",
        "    proxy_http_version 1.1;",
        "    proxy_set_header Host $best_http_host;",
        "    proxy_set_header Upgrade $http_upgrade;",
        "    proxy_set_header Connection $connection_upgrade;",
        "    proxy_set_header X-Request-ID $request_id;",
        "    proxy_set_header X-Real-IP $remote_addr;",
        "    proxy_set_header X-Forwarded-For $remote_addr;",
        "    proxy_set_header X-Forwarded-Host $best_http_host;",
        "    proxy_set_header X-Forwarded-Port $public_port;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        "    proxy_set_header X-Forwarded-Scheme $scheme;",
        "    proxy_set_header Proxy \"\";",
        "    proxy_connect_timeout 5s;",
        "    proxy_send_timeout 60s;",
        "    proxy_read_timeout 60s;",
        "    proxy_buffering off;",
        "    proxy_request_buffering on;",
        "    proxy_redirect off;",
        "    proxy_next_upstream error timeout;",
        "    proxy_next_upstream_tries 3;",
        "",
    ]
    used = set()
    servers: list[str] = []
    for vhost in (table.default, *table.hosts):
        if vhost.tls and vhost.host:
            # The plain-HTTP side redirects (where asked); the TLS side serves.
            servers += _server(table, vhost, s, certs, http=True, https=False, redirecting=True)
            servers += _server(table, vhost, s, certs, http=False, https=True, redirecting=False)
        else:
            servers += _server(table, vhost, s, certs, http=True, https=True, redirecting=False)
    for line in servers:
        m = re.match(r"\s+proxy_pass http://(\S+);", line)
        if m:
            used.add(m.group(1))
    for name in sorted(used):
        up = table.upstreams[name]
        out += _upstream(name, up.endpoints, s.keepalive)
        out.append("")
    out += servers
    out.append("}")
    return "\n".join(out) + "\n"
