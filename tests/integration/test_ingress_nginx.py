"""Integration tests of the ingress data plane: rendered configurations run by a real nginx
(kubeloop.ingress.nginx supervising it) on 127.0.0.1 with free ports, backends on loopback,
requests made with the real curl.

The route tables are built straight from objects (not through the API server, whose
EndpointSlice validation refuses loopback addresses, as Kubernetes does); the API-driven
tests with pod addresses are in test_ingress_controller.py. No root needed; a missing nginx
or curl skips, or fails when CI is set. Every nginx and backend started here is stopped here.
(The benchmark against a hand-written nginx is `python -m bench ingress`.)
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterable

import pytest

from conftest import free_port, require
from kubeloop.ingress import routes
from kubeloop.ingress.nginx import NginxProcess, find_nginx
from kubeloop.ingress.nginx_conf import Layout, Settings, render
from kubeloop.ingress.routes import RouteTable, build_table, match
from kubeloop.ingress.tls import default_certificate

# A small HTTP/1.1 server: every (address, port, name) answers "You've hit <name>" and echoes
# what a proxy sets (X-Forwarded-*, X-Real-IP, Host) plus the connection's number on that
# listener (to see upstream keepalive). /slow/<seconds> answers late; an Upgrade: websocket
# request gets 101 and then every chunk echoed back as "echo:<chunk>". Port 0 binds a free
# port; it prints the bound [address, port, name] list as JSON when ready.
BACKEND = r"""
import asyncio, json, sys

HEADERS = ("host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
           "x-real-ip", "connection", "upgrade")

async def handle(reader, writer, name, counter):
    counter[0] += 1
    conn = counter[0]
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            n = int(headers.get("content-length") or 0)
            if n:
                await reader.readexactly(n)
            if headers.get("upgrade", "").lower() == "websocket":
                writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                await writer.drain()
                while True:
                    data = await reader.read(65536)
                    if not data:
                        return
                    writer.write(b"echo:" + data)
                    await writer.drain()
            if target.startswith("/slow/"):
                await asyncio.sleep(float(target.split("/")[2]))
            text = f"You've hit {name}\nconn={conn}\npath={target}\nmethod={method}\nlength={n}\n"
            text += "".join(f"{h}={headers.get(h, '')}\n" for h in HEADERS)
            body = text.encode()
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n"
                         % (len(body), b"Connection: close\r\n" if close else b"") + body)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()

async def main():
    bound = []
    for address, port, name in json.loads(sys.argv[1]):
        counter = [0]
        server = await asyncio.start_server(
            lambda r, w, name=name, counter=counter: handle(r, w, name, counter), address, port, reuse_address=True)
        bound.append([address, server.sockets[0].getsockname()[1], name])
    print(json.dumps(bound), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


# -- helpers shared with test_ingress_controller.py -------------------------------------------

def require_tools(*tools: str) -> None:
    require(find_nginx() is not None, "nginx is not installed")
    for tool in ("curl", *tools):
        require(shutil.which(tool) is not None, f"{tool} is not installed")


@dataclass
class Backends:
    proc: asyncio.subprocess.Process
    bound: list[tuple[str, int, str]]

    def port(self, name: str) -> int:
        return next(p for _, p, n in self.bound if n == name)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()


async def start_backends(specs: Iterable[tuple[str, int, str]], netns: str | None = None) -> Backends:
    argv = ["nsenter", f"--net=/run/netns/{netns}"] if netns else []
    proc = await asyncio.create_subprocess_exec(
        *argv, sys.executable, "-S", "-c", BACKEND, json.dumps([list(s) for s in specs]),
        stdout=asyncio.subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        bound = [tuple(b) for b in json.loads(line)]
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return Backends(proc, bound)  # type: ignore[arg-type]


@dataclass
class Reply:
    code: int
    body: str
    stderr: str

    @property
    def pod(self) -> str:
        """Who answered: the name in "You've hit <name>", or ''."""
        m = re.match(r"You've hit (\S+)", self.body)
        return m.group(1) if m else ""

    def header(self, name: str) -> str:
        m = re.search(rf"^{name}=(.*)$", self.body, re.M)
        return m.group(1) if m else ""


async def curl(url: str, *args: str, resolve: str = "127.0.0.1", timeout: float = 10) -> Reply:
    """curl url with the URL's host resolved to `resolve` (`--resolve`), like a user's hosts entry."""
    m = re.match(r"(https?)://([^/:]+):(\d+)", url)
    assert m, url
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", str(timeout),
        "--resolve", f"{m.group(2)}:{m.group(3)}:{resolve}", *args, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    text = out.decode(errors="replace")
    body, _, code = text.rpartition("\n")
    return Reply(int(code) if code.isdigit() else 0, body, err.decode(errors="replace"))


async def until(check: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll the async check until it returns something truthy; its last value otherwise fails."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        await asyncio.sleep(interval)


def nginx_processes_for(conf: Path) -> list[int]:
    """Running processes whose command line names conf (masters of that configuration)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "nginx" in cmd and str(conf) in cmd:
                found.append(int(entry))
    return found


def load_unit_tables() -> Any:
    """PATH_TABLE / HOST_TABLE and object builders from tests/unit/test_ingress_routes.py."""
    path = Path(__file__).resolve().parents[1] / "unit" / "test_ingress_routes.py"
    spec = importlib.util.spec_from_file_location("ingress_routes_tables", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


T = load_unit_tables()


def slice_for(service: str, address: str, port: int, ns: str = "default") -> dict:
    return T.eps(service, [address], port=port, ns=ns)


@dataclass
class Proxy:
    nginx: NginxProcess
    settings: Settings
    http: int
    https: int

    async def apply(self, table: RouteTable, certs: dict[str, str] | None = None) -> None:
        ok, message = await self.nginx.apply(render(table, self.settings, certs))
        assert ok, message


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[Proxy]:
    require_tools()
    state = tmp_path / "state"
    (state / "tls").mkdir(parents=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix="kubeloop-nginx-test-"))
    os.chmod(tmp, 0o711)
    pem = state / "tls" / "default.pem"
    pem.write_bytes(default_certificate())
    pem.chmod(0o600)
    http, https = free_port(), free_port()
    settings = Settings("127.0.0.1", http, https, Layout(state, tmp))
    nginx = NginxProcess(state / "nginx.conf", state / "nginx.pid", prefix=state, stop_grace=5)
    try:
        yield Proxy(nginx, settings, http, https)
    finally:
        await nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        assert nginx_processes_for(state / "nginx.conf") == []


# -- the documented matching rules, answered by nginx ------------------------------------------

async def test_documented_path_table_through_nginx(proxy: Proxy) -> None:
    """Every row of the documentation's path table, on its own host, through nginx == match()."""
    ingresses, services, specs = [], [], []
    for i, (kind, paths, _, _) in enumerate(T.PATH_TABLE):
        pairs = [(p, kind) if isinstance(p, str) else p for p in paths]
        svc_names = [f"c{i}-p{j}" for j in range(len(pairs))]
        ingresses.append(T.ingress(f"case{i}", [T.rule(f"case{i}.example.com",
                                   [(p, t, s) for (p, t), s in zip(pairs, svc_names)])],
                                   default=T.backend(f"c{i}-fb")))
        for name in [*svc_names, f"c{i}-fb"]:
            services.append(T.svc(name))
            specs.append(("127.0.0.1", 0, routes.upstream_name("default", name, 80)))
    backends = await start_backends(specs)
    try:
        slices = [slice_for(name.split("_")[1], a, p) for a, p, name in backends.bound]
        table = build_table(ingresses, services, slices)
        assert not table.problems
        await proxy.apply(table)
        for i, (kind, paths, request, expected) in enumerate(T.PATH_TABLE):
            host = f"case{i}.example.com"
            want = match(table, host, request)
            reply = await curl(f"http://{host}:{proxy.http}{request}")
            assert reply.code == 200, (kind, paths, request, reply)
            assert reply.pod == want, (kind, paths, request, expected, reply.pod)
            if expected is None:
                assert want == routes.upstream_name("default", f"c{i}-fb", 80)
    finally:
        await backends.stop()


async def test_documented_host_table_through_nginx(proxy: Proxy) -> None:
    backends = await start_backends([("127.0.0.1", 0, "default_wild_80"), ("127.0.0.1", 0, "default_exact_80")])
    try:
        ing = T.ingress("hosts", [T.rule("*.foo.com", [("/", "Prefix", "wild")]),
                                  T.rule("foo.bar.com", [("/", "Prefix", "exact")])])
        slices = [slice_for(n.split("_")[1], a, p) for a, p, n in backends.bound]
        table = build_table([ing], [T.svc("wild"), T.svc("exact")], slices)
        await proxy.apply(table)
        for pattern, host, expected in T.HOST_TABLE:
            reply = await curl(f"http://127.0.0.1:{proxy.http}/", "-H", f"Host: {host}")
            want = match(table, host, "/")
            assert (want is not None) is expected
            assert reply.code == (200 if expected else 404), (pattern, host, reply)
            if expected:
                assert reply.pod == want
    finally:
        await backends.stop()


async def test_odd_paths_exact_and_prefix(proxy: Proxy) -> None:
    backends = await start_backends([("127.0.0.1", 0, "default_odd_80"), ("127.0.0.1", 0, "default_root_80")])
    try:
        ing = T.ingress("odd", [T.rule("odd.example.com", [("/a b", "Exact", "odd"), ('/q"x/', "Prefix", "odd"),
                                                           ("/", "Prefix", "root")])])
        slices = [slice_for(n.split("_")[1], a, p) for a, p, n in backends.bound]
        await proxy.apply(build_table([ing], [T.svc("odd"), T.svc("root")], slices))
        base = f"http://odd.example.com:{proxy.http}"
        assert (await curl(base + "/a%20b")).pod == "default_odd_80"
        assert (await curl(base + "/a%20bc")).pod == "default_root_80"
        assert (await curl(base + "/q%22x")).pod == "default_odd_80"
        assert (await curl(base + "/q%22x/y")).pod == "default_odd_80"
        assert (await curl(base + "/q%22xy")).pod == "default_root_80"
    finally:
        await backends.stop()


# -- proxying behaviour ------------------------------------------------------------------------

async def test_keepalive_retry_headers_503_and_websocket(proxy: Proxy) -> None:
    backends = await start_backends([("127.0.0.1", 0, "pod-a")])
    try:
        dead = free_port("127.0.0.3")  # nothing listens there: connection refused → next endpoint
        svc = T.svc("web")
        sl = T.eps("web", [], port=0)
        sl["ports"] = [{"name": "", "port": backends.port("pod-a"), "protocol": "TCP"}]
        sl["endpoints"] = [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]
        # Two slices with different ports: one live endpoint, one dead.
        dead_slice = T.eps("web", ["127.0.0.3"], port=dead)
        dead_slice["metadata"]["name"] = "web-dead"
        ing = T.ingress("web", [T.rule("web.example.com", [("/", "Prefix", "web"), ("/empty", "Prefix", "empty")])])
        table = build_table([ing], [svc, T.svc("empty")], [sl, dead_slice])
        assert len(table.upstreams["default_web_80"].endpoints) == 2
        await proxy.apply(table)
        base = f"http://web.example.com:{proxy.http}"
        replies = [await curl(base + f"/r{i}") for i in range(30)]
        assert all(r.code == 200 and r.pod == "pod-a" for r in replies), replies
        conns = {r.header("conn") for r in replies}
        assert len(conns) <= 4, conns  # upstream connections are reused (one or two per worker)
        r = replies[0]
        assert r.header("x-forwarded-for") == "127.0.0.1" and r.header("x-real-ip") == "127.0.0.1"
        assert r.header("x-forwarded-proto") == "http"
        assert r.header("x-forwarded-host") == f"web.example.com:{proxy.http}"
        assert r.header("host") == f"web.example.com:{proxy.http}"
        assert r.header("x-forwarded-port") == str(proxy.http)
        assert r.header("connection") == ""  # keepalive towards the upstream
        # Client-supplied forwarding headers are replaced, not trusted.
        spoofed = await curl(base + "/", "-H", "X-Forwarded-For: 6.6.6.6")
        assert spoofed.header("x-forwarded-for") == "127.0.0.1"
        tls = await curl(f"https://web.example.com:{proxy.https}/", "-k")
        assert tls.code == 200 and tls.header("x-forwarded-proto") == "https"
        assert tls.header("x-forwarded-port") == str(proxy.https)
        assert (await curl(base + "/empty")).code == 503
        assert (await curl(f"http://other.example.com:{proxy.http}/")).code == 404
        # WebSocket: the upgrade passes and the connection becomes a tunnel.
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.http)
        writer.write(b"GET /ws HTTP/1.1\r\nHost: web.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        writer.write(b"hello")
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(10), 5) == b"echo:hello"
        writer.close()
    finally:
        await backends.stop()


# -- supervision -------------------------------------------------------------------------------

async def test_graceful_reload_bad_config_restart_and_stop(proxy: Proxy) -> None:
    backends = await start_backends([("127.0.0.1", 0, "pod-a")])
    try:
        sl = slice_for("app", "127.0.0.1", backends.port("pod-a"))
        one = build_table([T.ingress("a", [T.rule("one.example.com", [("/", "Prefix", "app")])])], [T.svc("app")], [sl])
        two = build_table([T.ingress("a", [T.rule("one.example.com", [("/", "Prefix", "app")]),
                                           T.rule("two.example.com", [("/", "Prefix", "app")])])], [T.svc("app")], [sl])
        await proxy.apply(one)
        assert (await curl(f"http://one.example.com:{proxy.http}/")).pod == "pod-a"
        assert (await curl(f"http://two.example.com:{proxy.http}/")).code == 404
        # A request in flight survives a reload (graceful: old workers finish it).
        slow = asyncio.ensure_future(curl(f"http://one.example.com:{proxy.http}/slow/1.0"))
        await asyncio.sleep(0.3)
        master = proxy.nginx.pid
        await proxy.apply(two)
        assert proxy.nginx.pid == master  # reloaded, not restarted
        assert (await curl(f"http://two.example.com:{proxy.http}/")).pod == "pod-a"  # live when apply returns
        reply = await slow
        assert reply.code == 200 and reply.pod == "pod-a", reply
        # A configuration nginx rejects is never loaded; the last good one keeps serving.
        good = proxy.settings.layout.conf.read_text()
        ok, message = await proxy.nginx.apply(good.replace("worker_processes 2;", "worker_processes 2; bogus_directive on;"))
        assert not ok and "bogus_directive" in message
        assert proxy.settings.layout.conf.read_text() == good
        assert (await curl(f"http://two.example.com:{proxy.http}/")).pod == "pod-a"
        # nginx killed outright: the supervisor ends the orphaned workers and starts it again.
        os.kill(master, signal.SIGKILL)  # type: ignore[arg-type]

        async def restarted() -> bool:
            if proxy.nginx.restarts < 1:
                return False
            return (await curl(f"http://two.example.com:{proxy.http}/", timeout=2)).pod == "pod-a"

        await until(restarted, timeout=15, interval=0.1)
        assert proxy.nginx.pid != master
    finally:
        await backends.stop()


async def test_start_failure_is_reported_in_one_line(proxy: Proxy) -> None:
    """nginx that cannot bind its port: apply raises NginxError naming nginx's reason."""
    from kubeloop.ingress.nginx import NginxError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", proxy.http))
        taken.listen(1)
        with pytest.raises(NginxError, match="Address already in use"):
            await proxy.apply(build_table([], [], []))
    assert not proxy.nginx.running


async def test_stale_nginx_from_a_crashed_run_is_replaced(proxy: Proxy) -> None:
    """An nginx still running this configuration (a kubeloop killed without its parent-death
    signal) is ended before a new one starts on its ports."""
    text = render(build_table([], [], []), proxy.settings)
    conf = proxy.settings.layout.conf
    conf.write_text(text)
    stale = await asyncio.create_subprocess_exec(
        find_nginx() or "nginx", "-c", str(conf), "-p", f"{conf.parent}/", "-e", "stderr", "-g", "daemon off;",
        start_new_session=True)
    try:
        async def listening() -> bool:
            return (await curl(f"http://x.example.com:{proxy.http}/", timeout=1)).code == 404

        await until(listening)
        await proxy.apply(build_table([], [], []))
        assert await asyncio.wait_for(stale.wait(), 10) is not None
        assert proxy.nginx.running and proxy.nginx.pid != stale.pid
        assert (await curl(f"http://x.example.com:{proxy.http}/")).code == 404
    finally:
        if stale.returncode is None:
            stale.kill()
            await stale.wait()
