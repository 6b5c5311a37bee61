"""Integration tests of kubeloop.ingress.IngressController: a real API server (in-process,
in-memory), the controller's informers, a real nginx on 127.0.0.1, the real curl, openssl
and kubectl.

Backends play pods: they listen on addresses inside a network namespace this test creates
(a veth pair with addresses from 198.18.0.0/15, the benchmarking range, checked against the
host's routes), because the API refuses loopback addresses in EndpointSlices as Kubernetes
does. So these tests need root: without it they skip, or fail when CI is set. Everything
created (namespace, links, processes, nginx, key files) is removed by the test.

Scenarios: I1 (two hosts × two paths → three services), I2 exactly as SCENARIOS.md types it,
wildcard host, default backend, 503 without endpoints, 308 redirect and its annotation, a
bad Secret (Event, default certificate), a Secret rotated under load with no failed
request, endpoint changes live within 1 s, IngressClass selection, the LoadBalancer
Service, its Endpoints and the Ingress status (kubectl's ADDRESS), a rejected configuration.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from conftest import require
from kubeloop.api import errors
from kubeloop.api.registry import by_plural
from kubeloop.apiserver.server import APIServer, APIServerConfig
from kubeloop.client.rest import Client
from kubeloop.ingress import controller as controller_module
from kubeloop.ingress.controller import IngressController, hosts_lines
from kubeloop.ingress.tls import DEFAULT_CN
from test_ingress_nginx import Backends, curl, free_port, nginx_processes_for, require_tools, start_backends, until

ING, SVC, SLICES, SECRETS, CLASSES = (by_plural(p) for p in
                                      ("ingresses", "services", "endpointslices", "secrets", "ingressclasses"))
ENDPOINTS, EVENTS = by_plural("endpoints"), by_plural("events")


# -- a namespace of "pods" ---------------------------------------------------------------------

def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _used_networks() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    used = []
    for r in json.loads(out or "[]"):
        with contextlib.suppress(ValueError):
            if r.get("dst", "default") != "default":
                used.append(ipaddress.IPv4Network(r["dst"], strict=False))
    return used


@dataclass
class PodNet:
    netns: str
    host_link: str
    network: ipaddress.IPv4Network
    next_host: int = 2

    @property
    def host_ip(self) -> str:
        return str(self.network.network_address + 1)

    def pod_ip(self) -> str:
        """A fresh address inside the namespace."""
        ip = str(self.network.network_address + self.next_host)
        self.next_host += 1
        _ip("-n", self.netns, "addr", "add", f"{ip}/24", "dev", "eth0")
        return ip


@pytest.fixture
def podnet() -> Any:
    missing = [] if os.geteuid() == 0 else ["root"]
    missing += [t for t in ("ip", "nsenter") if shutil.which(t) is None]
    require(not missing, f"needs {', '.join(missing)} for a network namespace of backends")
    used = _used_networks()
    for _ in range(100):
        net = ipaddress.IPv4Network(f"198.{18 + secrets.randbelow(2)}.{secrets.randbelow(256)}.0/24")
        if not any(net.overlaps(u) for u in used):
            break
    else:
        raise RuntimeError("no free 198.18.0.0/15 subnet")
    tag = secrets.token_hex(3)
    net_ns, host_link = f"kling-{tag}", f"kig{tag}"
    _ip("netns", "add", net_ns)
    try:
        _ip("link", "add", host_link, "type", "veth", "peer", "name", f"kip{tag}")
        _ip("link", "set", f"kip{tag}", "netns", net_ns)
        _ip("-n", net_ns, "link", "set", f"kip{tag}", "name", "eth0")
        _ip("addr", "add", f"{net.network_address + 1}/24", "dev", host_link)
        _ip("link", "set", host_link, "up")
        _ip("-n", net_ns, "link", "set", "lo", "up")
        _ip("-n", net_ns, "link", "set", "eth0", "up")
        yield PodNet(net_ns, host_link, net)
    finally:
        subprocess.run(["ip", "netns", "del", net_ns], capture_output=True)
        subprocess.run(["ip", "link", "del", host_link], capture_output=True)
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert host_link not in links and net_ns not in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True).stdout


# -- cluster and controller --------------------------------------------------------------------

@dataclass
class Env:
    client: Client
    server: APIServer
    ctl: IngressController
    net: PodNet
    state: Path
    work: Path
    backends: list[Backends]
    pods: dict[str, str]  # pod name → address:port

    @property
    def http(self) -> int:
        return self.ctl.http_port

    @property
    def https(self) -> int:
        return self.ctl.https_port

    async def pod(self, *names: str) -> None:
        """Start backends ("pods") answering "You've hit <name>" on fresh namespace addresses."""
        specs = [(self.net.pod_ip(), 8080, n) for n in names]
        b = await start_backends(specs, netns=self.net.netns)
        self.backends.append(b)
        for address, port, name in b.bound:
            self.pods[name] = f"{address}:{port}"

    async def service(self, name: str, ports: list[dict] | None = None, ns: str = "default") -> None:
        await self.client.create(SVC, ns, {"metadata": {"name": name}, "spec": {
            "ports": ports or [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}})

    async def endpoints(self, service: str, pods: list[str], not_ready: list[str] = (), port_name: str = "",  # type: ignore[assignment]
                        ns: str = "default") -> None:
        """Create or replace the service's EndpointSlice, as the endpoints controller would."""
        body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": f"{service}-abcde", "namespace": ns,
                             "labels": {"kubernetes.io/service-name": service}},
                "addressType": "IPv4", "ports": [{"name": port_name, "port": 8080, "protocol": "TCP"}],
                "endpoints": [{"addresses": [self.pods[p].split(":")[0]], "conditions": {"ready": True}} for p in pods]
                + [{"addresses": [self.pods[p].split(":")[0]], "conditions": {"ready": False}} for p in not_ready]}
        try:
            current = await self.client.get(SLICES, ns, f"{service}-abcde")
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            await self.client.update(SLICES, body)
        except errors.NotFound:
            await self.client.create(SLICES, ns, body)

    async def ingress(self, name: str, spec: dict, annotations: dict | None = None, ns: str = "default") -> dict:
        return await self.client.create(ING, ns, {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                                                  "metadata": {"name": name, "annotations": annotations or {}},
                                                  "spec": spec})

    async def events(self, name: str, ns: str = "default") -> list[dict]:
        items, _ = await self.client.list(EVENTS, ns)
        return [e for e in items if e["involvedObject"]["name"] == name]

    async def kubectl(self, *args: str, cwd: Path | None = None) -> str:
        """The real kubectl against this API server (asynchronously: the server runs on this loop)."""
        kubeconfig = self.work / "kubeconfig"
        kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
        proc = await asyncio.create_subprocess_exec(
            "kubectl", "--kubeconfig", str(kubeconfig), "-s", self.server.url,
            "--cache-dir", str(self.work / "kubectl-cache"), *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=cwd)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        return out.decode()


def path(service: str, p: str = "/", kind: str = "Prefix", port: Any = 80) -> dict:
    return {"path": p, "pathType": kind, "backend": {"service": {
        "name": service, "port": {"number": port} if isinstance(port, int) else {"name": port}}}}


@pytest.fixture
async def env(tmp_path: Path, podnet: PodNet) -> AsyncIterator[Env]:
    require_tools("openssl", "kubectl")
    server = APIServer(APIServerConfig(port=0, authenticate=False))
    await server.start()
    client = Client(server.url)
    # A state directory others may search (as kubeloop's data directory is), so the workers'
    # temp files live inside it; pytest's own tmp_path is private to root.
    state = Path(tempfile.mkdtemp(prefix="kubeloop-ingress-test-"))
    os.chmod(state, 0o711)
    ctl = IngressController(client, state_dir=state, listen_host="127.0.0.1", http_port=free_port(),
                            https_port=free_port(), advertise_address=podnet.host_ip, debounce=0.05)
    e = Env(client, server, ctl, podnet, state, tmp_path, [], {})
    try:
        await ctl.start()
        yield e
    finally:
        await ctl.stop()
        for b in e.backends:
            await b.stop()
        await client.close()
        await server.stop()
        try:
            assert nginx_processes_for(state / "nginx.conf") == []
            assert not (state / "tls").exists() and not (state / "tmp").exists()  # key and temp files removed
        finally:
            shutil.rmtree(state, ignore_errors=True)


# -- I1: hosts and paths -----------------------------------------------------------------------

async def test_i1_two_hosts_two_paths_three_services(env: Env) -> None:
    await env.pod("kubia-1", "kubia-2", "foo-1", "bar-1")
    for svc, pods in (("kubia", ["kubia-1", "kubia-2"]), ("foo", ["foo-1"]), ("bar", ["bar-1"])):
        await env.service(svc)
        await env.endpoints(svc, pods)
    await env.ingress("kubia", {"rules": [
        {"host": "kubia.example.com", "http": {"paths": [path("kubia", "/"), path("foo", "/foo")]}},
        {"host": "foo.example.com", "http": {"paths": [path("foo", "/"), path("bar", "/bar")]}},
    ]})
    expect = {("kubia.example.com", "/"): "kubia", ("kubia.example.com", "/foo"): "foo",
              ("kubia.example.com", "/foo/x"): "foo", ("kubia.example.com", "/foobar"): "kubia",
              ("foo.example.com", "/"): "foo", ("foo.example.com", "/bar"): "bar",
              ("foo.example.com", "/bar/baz"): "bar", ("foo.example.com", "/barn"): "foo"}

    async def served() -> bool:
        return (await curl(f"http://foo.example.com:{env.http}/bar")).pod == "bar-1"

    await until(served)
    for (host, p), svc in expect.items():
        reply = await curl(f"http://{host}:{env.http}{p}")
        assert reply.code == 200 and reply.pod.startswith(svc + "-"), (host, p, reply)
        assert reply.header("path") == p  # the path reaches the pod unchanged
    # Traffic goes to the pods themselves, spread over both.
    seen = {(await curl(f"http://kubia.example.com:{env.http}/")).pod for _ in range(20)}
    assert seen == {"kubia-1", "kubia-2"}
    assert (await curl(f"http://unknown.example.com:{env.http}/")).code == 404
    # A body larger than nginx's memory buffer goes through its temp files (written by the workers).
    body = env.work / "body.bin"
    body.write_bytes(os.urandom(200 * 1024))
    post = await curl(f"http://kubia.example.com:{env.http}/foo/upload", "--data-binary", f"@{body}")
    assert post.code == 200 and post.header("method") == "POST" and post.header("length") == str(200 * 1024), post
    assert (env.state / "tmp" / "client_body").is_dir()

    # The cluster's view: the default IngressClass, the LoadBalancer Service and its Endpoints.
    cls = await env.client.get(CLASSES, None, "kubeloop")
    assert cls["spec"]["controller"] == "kubeloop.dev/ingress-nginx"
    assert cls["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"] == "true"
    svc = await env.client.get(SVC, "kube-system", "ingress-nginx-controller")
    assert svc["spec"]["type"] == "LoadBalancer" and not svc["spec"].get("selector")
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("http", 80), ("https", 443)]
    ep = await env.client.get(ENDPOINTS, "kube-system", "ingress-nginx-controller")
    assert ep["subsets"][0]["addresses"] == [{"ip": env.net.host_ip}]
    assert {(p["name"], p["port"]) for p in ep["subsets"][0]["ports"]} == {("http", env.http), ("https", env.https)}
    # The load-balancer controller (not running here) gives the Service an address: every served
    # Ingress shows it, and `kubectl get ingress` prints it as ADDRESS.
    await env.client.patch(SVC, "kube-system", "ingress-nginx-controller",
                           {"status": {"loadBalancer": {"ingress": [{"ip": "172.30.0.200", "ipMode": "VIP"}]}}},
                           subresource="status")

    async def addressed() -> Any:
        ing = await env.client.get(ING, "default", "kubia")
        return ing["status"].get("loadBalancer", {}).get("ingress") == [{"ip": "172.30.0.200"}]

    await until(addressed)
    table = await env.kubectl("get", "ingress", "kubia")
    # Created without a class, the Ingress got the default IngressClass (DefaultIngressClass admission).
    assert re.search(r"kubia\s+kubeloop\s+kubia.example.com,foo.example.com\s+172.30.0.200\s+80\s", table), table
    items, _ = await env.client.list(ING, "default")
    assert hosts_lines(items, "172.30.0.200") == ["172.30.0.200\tfoo.example.com", "172.30.0.200\tkubia.example.com"]


# -- I2: TLS exactly as typed ------------------------------------------------------------------

def openssl_cert(workdir: Path, cn: str = "kubia.example.com") -> None:
    """The two commands of scenario I2, as typed there."""
    subprocess.run(["openssl", "genrsa", "-out", "tls.key", "2048"], cwd=workdir, check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-x509", "-key", "tls.key", "-out", "tls.cert", "-days", "360",
                    "-subj", f"/CN={cn}"], cwd=workdir, check=True, capture_output=True)


async def test_i2_tls_from_openssl_and_kubectl_create_secret_tls(env: Env, tmp_path: Path) -> None:
    await env.pod("kubia-1")
    await env.service("kubia")
    await env.endpoints("kubia", ["kubia-1"])
    work = tmp_path / "work"
    work.mkdir()
    openssl_cert(work)
    await env.kubectl("create", "secret", "tls", "tls-secret", "--cert=tls.cert", "--key=tls.key", cwd=work)
    await env.ingress("kubia", {"tls": [{"hosts": ["kubia.example.com"], "secretName": "tls-secret"}],
                                "rules": [{"host": "kubia.example.com", "http": {"paths": [path("kubia")]}}]})
    url = f"https://kubia.example.com:{env.https}"

    async def handshake() -> Any:
        reply = await curl(url, "-k", "-v")
        return reply if "subject: CN=kubia.example.com" in reply.stderr else None

    reply = await until(handshake)
    assert reply.code == 200 and reply.pod == "kubia-1", reply
    assert reply.header("x-forwarded-proto") == "https"
    # Plain HTTP is redirected to HTTPS (308 keeps the method).
    redirect = await curl(f"http://kubia.example.com:{env.http}/some/path?q=1", "-v")
    assert redirect.code == 308
    assert f"Location: https://kubia.example.com:{env.https}/some/path?q=1" in redirect.stderr
    # Other names on the TLS port get the default certificate.
    other = await curl(f"https://other.example.com:{env.https}/", "-k", "-v")
    assert f"CN={DEFAULT_CN}" in other.stderr
    # Key material: readable by root only.
    tls_dir = env.state / "tls"
    assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
    files = list(tls_dir.glob("*.pem"))
    assert len(files) == 2 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


async def test_ssl_redirect_annotation_false(env: Env, tmp_path: Path) -> None:
    await env.pod("web-1")
    await env.service("web")
    await env.endpoints("web", ["web-1"])
    openssl_cert(tmp_path, "web.example.com")
    await env.client.create(SECRETS, "default", {"metadata": {"name": "web-tls"}, "type": "kubernetes.io/tls", "data": {
        "tls.crt": base64.b64encode((tmp_path / "tls.cert").read_bytes()).decode(),
        "tls.key": base64.b64encode((tmp_path / "tls.key").read_bytes()).decode()}})
    await env.ingress("web", {"tls": [{"hosts": ["web.example.com"], "secretName": "web-tls"}],
                              "rules": [{"host": "web.example.com", "http": {"paths": [path("web")]}}]},
                      annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "false"})

    async def both() -> bool:
        plain = await curl(f"http://web.example.com:{env.http}/")
        secure = await curl(f"https://web.example.com:{env.https}/", "-k", "-v")
        return plain.pod == "web-1" and secure.pod == "web-1" and "CN=web.example.com" in secure.stderr

    await until(both)


# -- wildcard, default backend, 503 ------------------------------------------------------------

async def test_wildcard_default_backend_and_503(env: Env) -> None:
    await env.pod("wild-1", "fallback-1")
    for svc in ("wild", "fallback", "empty"):
        await env.service(svc)
    await env.endpoints("wild", ["wild-1"])
    await env.endpoints("fallback", ["fallback-1"])
    await env.endpoints("empty", [], not_ready=["wild-1"])  # an endpoint that is not ready serves nothing
    await env.ingress("wild", {"rules": [
        {"host": "*.example.com", "http": {"paths": [path("wild")]}},
        {"host": "empty.example.com", "http": {"paths": [path("empty", "/none")]}},
    ]})
    await env.ingress("default", {"defaultBackend": {"service": {"name": "fallback", "port": {"number": 80}}}})

    async def ready() -> bool:
        return (await curl(f"http://nothing.org:{env.http}/")).pod == "fallback-1"

    await until(ready)
    assert (await curl(f"http://api.example.com:{env.http}/x")).pod == "wild-1"
    assert (await curl(f"http://a.b.example.com:{env.http}/")).pod == "fallback-1"  # one label only
    assert (await curl(f"http://example.com:{env.http}/")).pod == "fallback-1"
    assert (await curl(f"http://empty.example.com:{env.http}/none")).code == 503
    assert (await curl(f"http://empty.example.com:{env.http}/other")).pod == "fallback-1"  # unmatched path


# -- live updates ------------------------------------------------------------------------------

async def test_endpoint_changes_are_live_within_a_second(env: Env) -> None:
    await env.pod("app-1", "app-2")
    await env.service("app", [{"name": "web", "port": 80, "targetPort": 8080, "protocol": "TCP"}])
    await env.endpoints("app", ["app-1"], port_name="web")
    await env.ingress("app", {"rules": [{"host": "app.example.com", "http": {"paths": [path("app", port="web")]}}]})
    url = f"http://app.example.com:{env.http}/"

    async def answered_by(pod: str) -> bool:
        return (await curl(url)).pod == pod

    await until(lambda: answered_by("app-1"))
    for change, expect in ((["app-2"], "app-2"), (["app-1"], "app-1")):
        t0 = time.monotonic()
        await env.endpoints("app", change, port_name="web")
        await until(lambda: answered_by(expect), timeout=1.0, interval=0.01)
        assert time.monotonic() - t0 < 1.0
    # The last ready endpoint goes: 503 within a second.
    t0 = time.monotonic()
    await env.endpoints("app", [], not_ready=["app-1"], port_name="web")

    async def unavailable() -> bool:
        return (await curl(url)).code == 503

    await until(unavailable, timeout=1.0, interval=0.01)
    assert time.monotonic() - t0 < 1.0


async def test_secret_rotated_under_load_without_failed_requests(env: Env, tmp_path: Path) -> None:
    await env.pod("kubia-1", "kubia-2")
    await env.service("kubia")
    await env.endpoints("kubia", ["kubia-1", "kubia-2"])

    def secret_body(n: int) -> dict:
        d = tmp_path / f"cert{n}"
        d.mkdir()
        openssl_cert(d, "kubia.example.com")
        return {"metadata": {"name": "tls-secret"}, "type": "kubernetes.io/tls", "data": {
            "tls.crt": base64.b64encode((d / "tls.cert").read_bytes()).decode(),
            "tls.key": base64.b64encode((d / "tls.key").read_bytes()).decode()}}

    bodies = [await asyncio.to_thread(secret_body, n) for n in range(4)]
    await env.client.create(SECRETS, "default", bodies[0])
    await env.ingress("kubia", {"tls": [{"hosts": ["kubia.example.com"], "secretName": "tls-secret"}],
                                "rules": [{"host": "kubia.example.com", "http": {"paths": [path("kubia")]}}]})
    url = f"https://kubia.example.com:{env.https}/"

    async def fingerprint() -> str:
        proc = await asyncio.create_subprocess_shell(
            f"openssl s_client -connect 127.0.0.1:{env.https} -servername kubia.example.com </dev/null 2>/dev/null"
            " | openssl x509 -noout -fingerprint -sha256", stdout=asyncio.subprocess.PIPE)
        return (await proc.communicate())[0].decode().strip()

    def fingerprint_of(body: dict) -> str:
        pem = base64.b64decode(body["data"]["tls.crt"])
        out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=pem, capture_output=True)
        return out.stdout.decode().strip()

    await until(lambda: _eq(fingerprint(), fingerprint_of(bodies[0])))
    codes: list[int] = []
    failures: list[str] = []
    stop = asyncio.Event()

    async def load() -> None:
        """Requests on new connections, one curl each."""
        while not stop.is_set() or len(codes) < 300:
            reply = await curl(url, "-k")
            codes.append(reply.code)
            if reply.code != 200:
                failures.append(f"{reply.code} {reply.stderr.strip()} {reply.body[:200]!r}")

    async def load_keepalive() -> None:
        """Ten requests per curl on one kept-alive connection, across the reloads."""
        while not stop.is_set() or len(codes) < 300:
            proc = await asyncio.create_subprocess_exec(
                "curl", "-sS", "-k", "--max-time", "20", "-w", "%{http_code}\n",
                "--resolve", f"kubia.example.com:{env.https}:127.0.0.1", *(["-o", "/dev/null", url] * 10),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await proc.communicate()
            got = [int(c) for c in out.split()]
            codes.extend(got + [0] * (10 - len(got)))
            if got != [200] * 10:
                failures.append(f"keep-alive {got} {err.decode().strip()}")

    async def rotate() -> None:
        for body in bodies[1:]:
            await asyncio.sleep(0.4)
            current = await env.client.get(SECRETS, "default", "tls-secret")
            await env.client.update(SECRETS, dict(current, data=body["data"]))

    workers = [asyncio.ensure_future(load()) for _ in range(3)] + [asyncio.ensure_future(load_keepalive())]
    await rotate()
    await until(lambda: _eq(fingerprint(), fingerprint_of(bodies[-1])), timeout=2)
    stop.set()  # the load ran across every rotation; it ends once it has made 300 requests
    await asyncio.wait_for(asyncio.gather(*workers), 120)
    assert len(codes) >= 300 and set(codes) == {200}, failures
    assert env.ctl.reloads >= 4  # each rotation was a reload under load


async def _eq(value: Any, expected: Any) -> bool:
    return (await value) == expected


# -- problems become Events --------------------------------------------------------------------

async def test_bad_secret_event_and_default_certificate(env: Env, tmp_path: Path) -> None:
    await env.pod("kubia-1")
    await env.service("kubia")
    await env.endpoints("kubia", ["kubia-1"])
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    openssl_cert(a)
    openssl_cert(b)
    await env.client.create(SECRETS, "default", {"metadata": {"name": "tls-secret"}, "type": "kubernetes.io/tls", "data": {
        "tls.crt": base64.b64encode((a / "tls.cert").read_bytes()).decode(),
        "tls.key": base64.b64encode((b / "tls.key").read_bytes()).decode()}})  # key of another certificate
    await env.ingress("kubia", {"tls": [{"hosts": ["kubia.example.com"], "secretName": "tls-secret"}],
                                "rules": [{"host": "kubia.example.com", "http": {"paths": [path("kubia")]}},
                                          {"host": "missing.example.com", "http": {"paths": [path("nope")]}}]})

    async def warned() -> Any:
        reasons = {e["reason"]: e for e in await env.events("kubia")}
        return reasons if {"InvalidTLSSecret", "BackendNotFound"} <= set(reasons) else None

    reasons = await until(warned)
    assert "does not match" in reasons["InvalidTLSSecret"]["message"]
    assert reasons["InvalidTLSSecret"]["type"] == "Warning"
    assert reasons["InvalidTLSSecret"]["source"]["component"] == "ingress-controller"
    assert "default/nope not found" in reasons["BackendNotFound"]["message"]
    described = await env.kubectl("describe", "ingress", "kubia")
    assert re.search(r"Warning\s+InvalidTLSSecret\s+.*ingress-controller\s+secret default/tls-secret", described), described
    reply = await curl(f"https://kubia.example.com:{env.https}/", "-k", "-v")
    assert reply.pod == "kubia-1" and f"CN={DEFAULT_CN}" in reply.stderr
    assert (await curl(f"http://missing.example.com:{env.http}/")).code == 503
    # Fixed: the host gets its certificate.
    current = await env.client.get(SECRETS, "default", "tls-secret")
    current["data"]["tls.key"] = base64.b64encode((a / "tls.key").read_bytes()).decode()
    await env.client.update(SECRETS, current)

    async def fixed() -> bool:
        return "CN=kubia.example.com" in (await curl(f"https://kubia.example.com:{env.https}/", "-k", "-v")).stderr

    await until(fixed)


async def test_rejected_configuration_keeps_the_last_good_one(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    await env.pod("kubia-1")
    await env.service("kubia")
    await env.endpoints("kubia", ["kubia-1"])
    await env.ingress("good", {"rules": [{"host": "good.example.com", "http": {"paths": [path("kubia")]}}]})

    async def good() -> bool:
        return (await curl(f"http://good.example.com:{env.http}/")).pod == "kubia-1"

    await until(good)
    # Its status changes after the configuration was loaded; that must not make it a suspect.
    await env.client.patch(SVC, "kube-system", "ingress-nginx-controller",
                           {"status": {"loadBalancer": {"ingress": [{"ip": "172.30.0.202"}]}}}, subresource="status")

    async def addressed() -> bool:
        ing = await env.client.get(ING, "default", "good")
        return bool(ing["status"].get("loadBalancer", {}).get("ingress"))

    await until(addressed)
    render = controller_module.render

    def broken(table: Any, settings: Any, certs: Any = None) -> str:
        text = render(table, settings, certs)
        if any(h.host == "bad.example.com" for h in table.hosts):
            text = text.replace("worker_processes 2;", "worker_processes 2;\nnot_a_directive;")
        return text

    monkeypatch.setattr(controller_module, "render", broken)
    await env.ingress("bad", {"rules": [{"host": "bad.example.com", "http": {"paths": [path("kubia")]}}]})

    async def rejected() -> Any:
        return [e for e in await env.events("bad") if e["reason"] == "ConfigurationRejected"]

    events = await until(rejected)
    assert "not_a_directive" in events[0]["message"]
    assert not await env.events("good")  # only the change that broke it is blamed
    assert "not_a_directive" not in (env.state / "nginx.conf").read_text()
    assert (await curl(f"http://good.example.com:{env.http}/")).pod == "kubia-1"
    assert (await curl(f"http://bad.example.com:{env.http}/")).code == 404


# -- classes -----------------------------------------------------------------------------------

async def test_other_classes_are_left_alone(env: Env) -> None:
    await env.pod("kubia-1")
    await env.service("kubia")
    await env.endpoints("kubia", ["kubia-1"])
    await env.client.create(CLASSES, None, {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}})
    await env.client.patch(SVC, "kube-system", "ingress-nginx-controller",
                           {"status": {"loadBalancer": {"ingress": [{"ip": "172.30.0.201"}]}}}, subresource="status")
    await env.ingress("theirs", {"ingressClassName": "nginx",
                                 "rules": [{"host": "theirs.example.com", "http": {"paths": [path("kubia")]}}]})
    await env.ingress("ours", {"ingressClassName": "kubeloop",
                               "rules": [{"host": "ours.example.com", "http": {"paths": [path("kubia")]}}]})
    await env.ingress("classless", {"rules": [{"host": "classless.example.com", "http": {"paths": [path("kubia")]}}]})

    async def ours() -> bool:
        return (await curl(f"http://classless.example.com:{env.http}/")).pod == "kubia-1" and \
            (await curl(f"http://ours.example.com:{env.http}/")).pod == "kubia-1"

    await until(ours)
    assert (await curl(f"http://theirs.example.com:{env.http}/")).code == 404

    async def statuses() -> Any:
        got = {}
        for name in ("theirs", "ours", "classless"):
            ing = await env.client.get(ING, "default", name)
            got[name] = ing["status"].get("loadBalancer", {}).get("ingress")
        return got if got["ours"] and got["classless"] else None

    got = await until(statuses)
    assert got == {"theirs": None, "ours": [{"ip": "172.30.0.201"}], "classless": [{"ip": "172.30.0.201"}]}
