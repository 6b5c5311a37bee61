"""Ingress benchmark: the ingress's nginx configuration vs a hand-written reverse proxy.

Both nginx instances proxy to the same backend (a third nginx answering a fixed body) on
loopback; wrk runs three interleaved 2-second rounds per mode (HTTP and HTTPS, keep-alive and
a new connection per request) and the medians are compared, by requests/s and by nginx's
own CPU per request (steadier than requests/s on shared cores). The direct rate to the
backend is the ceiling. Needs nginx and wrk; no root, no cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterable

from kubeloop.ingress.nginx import NginxProcess, find_nginx
from kubeloop.ingress.nginx_conf import Layout, Settings, render
from kubeloop.ingress.routes import SERVICE_NAME_LABEL, RouteTable, build_table
from kubeloop.ingress.tls import default_certificate

# The same reverse proxy written by hand: upstream keepalive, HTTP/1.1, `Connection ""`, and the
# TLS versions the ingress offers (nginx 1.22's own default stops at TLS 1.2).
HANDWRITTEN = """
worker_processes 2;
pid {state}/hand.pid;
error_log {state}/hand-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/hb; proxy_temp_path {tmp}/hp; fastcgi_temp_path {tmp}/hf;
    uwsgi_temp_path {tmp}/hu; scgi_temp_path {tmp}/hs;
    ssl_protocols TLSv1.2 TLSv1.3;
    upstream backend {{
        server {backend};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{http};
        listen 127.0.0.1:{https} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {cert};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""

BACKEND_NGINX = """
worker_processes 1;
pid {state}/backend.pid;
error_log {state}/backend-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/bb; proxy_temp_path {tmp}/bp; fastcgi_temp_path {tmp}/bf;
    uwsgi_temp_path {tmp}/bu; scgi_temp_path {tmp}/bs;
    server {{
        listen {backend};
        location / {{ return 200 "You've hit bench-pod\\n"; }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_ns(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    return total


async def _wrk(url: str, seconds: float, *headers: str, nginx: NginxProcess | None = None) -> tuple[float, str, float]:
    """(requests/s, p99 latency, CPU µs per request of nginx's workers) for one wrk run."""
    args = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency"]
    for h in headers:
        args += ["-H", h]
    workers = nginx.workers() if nginx is not None else set()
    before = _cpu_ns(workers)
    proc = await asyncio.create_subprocess_exec(*args, url, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out = (await proc.communicate())[0].decode()
    cpu = _cpu_ns(workers) - before
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not rps or re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise RuntimeError(f"wrk {url}: {out}")
    rate = float(rps.group(1))
    return rate, p99.group(1) if p99 else "?", (cpu / 1000 / (rate * seconds)) if rate else 0.0


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _table(backend: str) -> RouteTable:
    """Host bench.example.com and the default server (wrk sends no usable SNI for 127.0.0.1),
    both to service bench, whose one endpoint is the backend."""
    address, port = backend.split(":")
    to_bench = {"http": {"paths": [{"path": "/", "pathType": "Prefix",
                                    "backend": {"service": {"name": "bench", "port": {"number": 80}}}}]}}
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "bench", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
               "spec": {"rules": [dict(to_bench, host="bench.example.com"), to_bench]}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bench", "namespace": "default"},
               "spec": {"ports": [{"port": 80, "targetPort": int(port), "protocol": "TCP"}]}}
    slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
              "metadata": {"name": "bench-x", "namespace": "default", "labels": {SERVICE_NAME_LABEL: "bench"}},
              "ports": [{"name": "", "port": int(port), "protocol": "TCP"}],
              "endpoints": [{"addresses": [address], "conditions": {"ready": True}}]}
    return build_table([ingress], [service], [slice_])


async def _run() -> None:
    if find_nginx() is None or shutil.which("wrk") is None:
        raise SystemExit("bench ingress needs nginx and wrk (make setup installs them)")
    root = Path(tempfile.mkdtemp(prefix="kubeloop-bench-ingress-"))
    state, tmp = root / "state", root / "tmp"
    (state / "tls").mkdir(parents=True, mode=0o700)
    tmp.mkdir(mode=0o711)
    pem = state / "tls" / "default.pem"
    pem.write_bytes(default_certificate())
    pem.chmod(0o600)
    backend = f"127.0.0.1:{_free_port()}"
    hand_http, hand_https, ing_http, ing_https = (_free_port() for _ in range(4))
    ingress = NginxProcess(state / "nginx.conf", state / "nginx.pid", prefix=state)
    backend_nginx = NginxProcess(state / "backend.conf", state / "backend.pid", prefix=state)
    hand = NginxProcess(state / "hand.conf", state / "hand.pid", prefix=state)
    try:
        for proc, text in ((backend_nginx, BACKEND_NGINX.format(state=state, tmp=tmp, backend=backend)),
                           (hand, HANDWRITTEN.format(state=state, tmp=tmp, backend=backend, http=hand_http,
                                                     https=hand_https, cert=pem)),
                           (ingress, render(_table(backend), Settings("127.0.0.1", ing_http, ing_https,
                                                                      Layout(state, tmp))))):
            ok, message = await proc.apply(text)
            if not ok:
                raise RuntimeError(message)
        host = "Host: bench.example.com"
        modes = {
            "HTTP keep-alive": ("http", hand_http, ing_http, [host]),
            "HTTP new connection per request": ("http", hand_http, ing_http, [host, "Connection: close"]),
            "HTTPS keep-alive": ("https", hand_https, ing_https, [host]),
            "HTTPS new connection per request (handshakes)": ("https", hand_https, ing_https,
                                                               [host, "Connection: close"]),
        }
        direct = _median([(await _wrk(f"http://{backend}/", 2))[0] for _ in range(3)])
        print(f"ingress: direct to the backend (HTTP keep-alive): {direct:.0f} req/s")
        for mode, (scheme, hand_port, ing_port, headers) in modes.items():
            runs: dict[str, list[tuple[float, str, float]]] = {"hand": [], "ingress": []}
            for _ in range(3):
                runs["hand"].append(await _wrk(f"{scheme}://127.0.0.1:{hand_port}/", 2, *headers, nginx=hand))
                runs["ingress"].append(await _wrk(f"{scheme}://127.0.0.1:{ing_port}/", 2, *headers, nginx=ingress))
            med = {k: (_median([r[0] for r in v]), sorted(v)[1][1], _median([r[2] for r in v])) for k, v in runs.items()}
            cpu_ratio = med["hand"][2] / med["ingress"][2] if med["ingress"][2] else 0.0
            print(f"ingress: {mode}: ingress {med['ingress'][0]:.0f} req/s (p99 {med['ingress'][1]}, "
                  f"{med['ingress'][2]:.1f} µs CPU/req), hand-written {med['hand'][0]:.0f} req/s "
                  f"(p99 {med['hand'][1]}, {med['hand'][2]:.1f} µs CPU/req); ingress/hand-written "
                  f"{med['ingress'][0] / med['hand'][0]:.2f} by req/s, {cpu_ratio:.2f} by CPU/req"
                  + (f"; ingress/direct {med['ingress'][0] / direct:.2f}" if mode == "HTTP keep-alive" else ""))
    finally:
        for proc in (ingress, hand, backend_nginx):
            await proc.stop()
        shutil.rmtree(root, ignore_errors=True)


def bench_ingress() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(_run())
