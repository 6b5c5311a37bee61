"""Pod log/exec/port-forward end to end: real kubectl → API server → node streaming server (attach is tested with real pods in test_pods.py).

The node side runs a fake StreamingRuntime whose "containers" are host processes: exec runs
argv on the host, logs are temporary files in CRI format, and port-forward connects to a TCP
echo server on 127.0.0.1. The API server is kubeloop's own (in memory, no authentication)
with the node proxy from kubeloop.apiserver.nodeproxy; kubectl and the Python `kubernetes`
client talk to it over plain HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from kubeloop.api.errors import BadRequest, NotFound
from kubeloop.api.registry import by_plural
from kubeloop.apiserver.nodeproxy import make_node_proxy
from kubeloop.apiserver.server import APIServer, APIServerConfig
from kubeloop.node import spdy
from kubeloop.node.streaming import (
    ExecProcess,
    add_streaming_routes,
    exit_status,
    format_log_entry,
    spawn,
)

from conftest import free_port, require

pytestmark = pytest.mark.timeout(120)

NODE = "node-1"
ECHO_PORT = 8080  # the pod port the fake runtime maps to the test's echo server


# -- the fake runtime ------------------------------------------------------------------------

@dataclass
class FakeContainer:
    log: Path
    running: bool = True
    log_active: bool = True
    previous_log: Path | None = None


@dataclass
class FakeRuntime:
    """Pods as host processes: what the node agent's real runtime does inside namespaces."""

    root: Path
    echo_port: int = 0
    pods: dict[tuple[str, str], dict[str, FakeContainer]] = field(default_factory=dict)
    log_polls: int = 0  # how often a log follower asked whether a log is still written

    def add_pod(self, namespace: str, pod: str, *containers: str) -> None:
        self.pods[(namespace, pod)] = {
            c: FakeContainer(self.root / f"{namespace}_{pod}_{c}.log") for c in containers
        }

    def container(self, namespace: str, pod: str, container: str) -> FakeContainer:
        containers = self.pods.get((namespace, pod))
        if containers is None:
            raise NotFound.of("pods", pod)
        if container not in containers:
            raise BadRequest(f'container "{container}" not found in pod "{pod}"')
        return containers[container]

    async def check_running(self, namespace: str, pod: str, container: str | None) -> None:
        if (namespace, pod) not in self.pods:
            raise NotFound.of("pods", pod)
        if container is not None and not self.container(namespace, pod, container).running:
            raise BadRequest(f"container {container} is not running")

    async def exec(self, namespace: str, pod: str, container: str, argv: list[str], *,
                   tty: bool, stdin: bool, size: tuple[int, int] | None) -> ExecProcess:
        self.container(namespace, pod, container)
        return await spawn(argv, tty=tty, stdin=stdin, size=size, env={**os.environ, "TERM": "xterm"})

    async def attach(self, namespace: str, pod: str, container: str, *, tty: bool, stdin: bool,
                     size: tuple[int, int] | None) -> ExecProcess:
        raise BadRequest("attach is not supported by the test runtime (attach is tested with real pods)")

    def log_path(self, namespace: str, pod: str, container: str, previous: bool) -> Path:
        c = self.container(namespace, pod, container)
        if previous:
            if c.previous_log is None:
                raise BadRequest(f'previous terminated container "{container}" in pod "{pod}" not found')
            return c.previous_log
        return c.log

    def log_active(self, path: Path) -> bool:
        self.log_polls += 1
        return any(c.log == path and c.log_active for cs in self.pods.values() for c in cs.values())

    async def port_forward_connect(self, namespace: str, pod: str,
                                   port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if (namespace, pod) not in self.pods:
            raise NotFound.of("pods", pod)
        if port != ECHO_PORT:
            raise ConnectionRefusedError(111, f"dial tcp 127.0.0.1:{port}: connect: connection refused")
        return await asyncio.open_connection("127.0.0.1", self.echo_port)


def write_log(path: Path, *lines: str, stream: str = "stdout", when: datetime | None = None) -> None:
    with open(path, "ab") as f:
        for line in lines:
            f.write(format_log_entry(stream, line.encode(), when=when))


# -- servers ---------------------------------------------------------------------------------

def pod_object(name: str, *containers: str, node: str = NODE) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node,
                 "containers": [{"name": c, "image": "busybox", "command": ["sleep", "infinity"]}
                                for c in containers]},
        "status": {"phase": "Running", "podIP": "127.0.0.1",
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": c, "ready": True, "restartCount": 0, "image": "busybox",
                                          "imageID": "busybox", "state": {"running": {}}} for c in containers]},
    }


async def start_site(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


ECHO_CONNECTIONS: set[asyncio.StreamWriter] = set()


async def echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    ECHO_CONNECTIONS.add(writer)
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        ECHO_CONNECTIONS.discard(writer)
        writer.close()


@dataclass
class Env:
    api: str
    runtime: FakeRuntime
    cache_dir: Path
    create_object: Callable[[dict[str, Any]], Awaitable[None]]  # a pod, straight into the API server

    def kubectl_argv(self, *args: str) -> list[str]:
        return ["kubectl", f"--server={self.api}", f"--cache-dir={self.cache_dir}", *args]

    async def kubectl_process(self, *args: str, input: bool = False,
                              env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *self.kubectl_argv(*args),
            stdin=asyncio.subprocess.PIPE if input else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "KUBECONFIG": "/dev/null", **(env or {})})

    async def kubectl(self, *args: str, input: bytes | None = None, timeout: float = 60,
                      env: dict[str, str] | None = None) -> tuple[int, str, str]:
        proc = await self.kubectl_process(*args, input=input is not None, env=env)
        try:
            out, err = await asyncio.wait_for(proc.communicate(input), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def create_pod(self, name: str, *containers: str) -> None:
        self.runtime.add_pod("default", name, *containers)
        await self.create_object(pod_object(name, *containers))


async def _real_api_server(proxy: Any) -> tuple[str, Any, Any]:
    """kubeloop's API server (in memory, plain HTTP, no authentication) with `proxy` as its node proxy."""
    server = APIServer(APIServerConfig(port=0, authenticate=False), node_proxy=proxy)
    await server.start()
    assert server.store is not None
    store = server.store

    async def create(obj: dict[str, Any]) -> None:
        await store.create(by_plural("pods"), "default", obj)

    return server.url, create, server.stop


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    echo = await asyncio.start_server(echo_handler, "127.0.0.1", 0)
    runtime = FakeRuntime(tmp_path, echo_port=echo.sockets[0].getsockname()[1])
    node_app = web.Application()
    add_streaming_routes(node_app, runtime)
    node_runner, node_port = await start_site(node_app)
    node_url = f"http://127.0.0.1:{node_port}"

    async def resolve(node: str) -> tuple[str, None]:
        assert node == NODE
        return node_url, None

    api_url, create, stop = await _real_api_server(make_node_proxy(resolve))
    cache = Path(tempfile.mkdtemp(prefix="kubectl-cache-"))
    e = Env(api_url, runtime, cache, create)
    await e.create_pod("p", "main")
    try:
        yield e
    finally:
        await stop()
        await node_runner.cleanup()
        echo.close()
        for conn in list(ECHO_CONNECTIONS):
            conn.close()
        await echo.wait_closed()
        shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture
def has_kubectl() -> None:
    require(shutil.which("kubectl") is not None, "kubectl is not installed")


# -- kubectl exec ----------------------------------------------------------------------------

@pytest.mark.kubectl
async def test_kubectl_exec_echo(env: Env, has_kubectl: None) -> None:
    rc, out, err = await env.kubectl("exec", "p", "--", "echo", "hi")
    assert (rc, out) == (0, "hi\n"), err


@pytest.mark.kubectl
async def test_kubectl_exec_exit_code(env: Env, has_kubectl: None) -> None:
    rc, out, err = await env.kubectl("exec", "p", "--", "sh", "-c", "exit 3")
    assert rc == 3
    assert "command terminated with exit code 3" in err


@pytest.mark.kubectl
async def test_kubectl_exec_stdin_and_stderr(env: Env, has_kubectl: None) -> None:
    rc, out, err = await env.kubectl("exec", "-i", "p", "--", "cat", input=b"hello\nworld\n")
    assert (rc, out) == (0, "hello\nworld\n"), err
    rc, out, err = await env.kubectl("exec", "p", "--", "sh", "-c", "echo out; echo err >&2")
    assert (rc, out) == (0, "out\n")
    assert err == "err\n"
    # Larger than one WebSocket message each way.
    blob = os.urandom(300_000).hex().encode() + b"\n"
    rc, out, err = await env.kubectl("exec", "-i", "p", "--", "cat", input=blob)
    assert rc == 0 and out.encode() == blob, err


@pytest.mark.kubectl
async def test_kubectl_exec_over_spdy(env: Env, has_kubectl: None) -> None:
    """The SPDY/3.1 POST upgrade (what kubectl falls back to, and older client-go tools use)."""
    spdy_only = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}
    rc, out, err = await env.kubectl("exec", "p", "--", "sh", "-c", "echo out; echo err >&2", env=spdy_only)
    assert (rc, out, err) == (0, "out\n", "err\n")
    rc, out, err = await env.kubectl("exec", "p", "--", "sh", "-c", "exit 3", env=spdy_only)
    assert rc == 3 and "command terminated with exit code 3" in err
    blob = os.urandom(200_000).hex().encode() + b"\n"
    rc, out, err = await env.kubectl("exec", "-i", "p", "--", "cat", input=blob, env=spdy_only)
    assert rc == 0 and out.encode() == blob, err
    rc, _, err = await env.kubectl("exec", "p", "-c", "nope", "--", "true", env=spdy_only)
    assert rc == 1 and "container nope is not valid for pod p" in err


@pytest.mark.kubectl
async def test_kubectl_cp(env: Env, has_kubectl: None, tmp_path: Path) -> None:
    """`kubectl cp` is tar over exec: megabytes of stdin one way, stdout the other."""
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3_000_000))
    rc, _, err = await env.kubectl("cp", str(src), f"p:{tmp_path}/in-pod.bin")
    assert rc == 0, err
    assert (tmp_path / "in-pod.bin").read_bytes() == src.read_bytes()
    rc, _, err = await env.kubectl("cp", f"p:{tmp_path}/in-pod.bin", str(tmp_path / "back.bin"))
    assert rc == 0, err
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()


@pytest.mark.kubectl
async def test_kubectl_exec_errors(env: Env, has_kubectl: None) -> None:
    rc, _, err = await env.kubectl("exec", "p", "-c", "nope", "--", "true")
    assert rc == 1
    assert "container nope is not valid for pod p" in err
    rc, _, err = await env.kubectl("exec", "missing", "--", "true")
    assert rc == 1 and 'pods "missing" not found' in err
    env.runtime.pods[("default", "p")]["main"].running = False
    rc, _, err = await env.kubectl("exec", "p", "--", "true")
    assert rc == 1 and "container main is not running" in err, err
    env.runtime.pods[("default", "p")]["main"].running = True
    rc, _, err = await env.kubectl("exec", "p", "--", "/no/such/binary")
    assert rc != 0 and "/no/such/binary" in err, err


@pytest.mark.kubectl
@pytest.mark.parametrize("websockets", ["true", "false"], ids=["websocket", "spdy"])
async def test_kubectl_exec_tty(env: Env, has_kubectl: None, websockets: str) -> None:
    """`exec -it` on a real terminal: the first message is its size, the process sees it."""
    kubectl = await spawn(env.kubectl_argv("exec", "-it", "p", "--", "sh", "-c", "stty size; read x; echo got:$x; exit 4"),
                          tty=True, stdin=True, size=(111, 33),
                          env={**os.environ, "KUBECONFIG": "/dev/null", "KUBECTL_REMOTE_COMMAND_WEBSOCKETS": websockets})
    assert kubectl.stdout is not None and kubectl.stdin is not None
    out = b""
    while b"33 111" not in out:
        out += await asyncio.wait_for(kubectl.stdout.read(1024), 20)
    kubectl.stdin.write(b"abc\r")
    while b"exit code 4" not in out:
        chunk = await asyncio.wait_for(kubectl.stdout.read(1024), 20)
        assert chunk, out
        out += chunk
    assert await asyncio.wait_for(kubectl.wait(), 10) == 4
    assert b"got:abc" in out


# -- kubectl logs ----------------------------------------------------------------------------

@pytest.mark.kubectl
async def test_kubectl_logs(env: Env, has_kubectl: None) -> None:
    log = env.runtime.pods[("default", "p")]["main"].log
    old = datetime.now(timezone.utc) - timedelta(hours=2)
    write_log(log, "one", "two", when=old)
    write_log(log, "three", stream="stderr")
    write_log(log, "four\rwith a carriage return")
    env.runtime.pods[("default", "p")]["main"].log_active = False
    rc, out, err = await env.kubectl("logs", "p")
    assert (rc, out) == (0, "one\ntwo\nthree\nfour\rwith a carriage return\n"), err
    rc, out, _ = await env.kubectl("logs", "p", "--tail=2")
    assert out == "three\nfour\rwith a carriage return\n"
    rc, out, _ = await env.kubectl("logs", "p", "--since=1h")
    assert out == "three\nfour\rwith a carriage return\n"
    rc, out, _ = await env.kubectl("logs", "p", "--limit-bytes=6")
    assert out == "one\ntw"
    rc, out, _ = await env.kubectl("logs", "p", "--timestamps", "--tail=1")
    stamp, text = out.split(" ", 1)
    assert text == "four\rwith a carriage return\n"
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")[:26] + "+00:00") > old
    rc, _, err = await env.kubectl("logs", "p", "--previous")
    assert rc == 1 and 'previous terminated container "main" in pod "p" not found' in err


@pytest.mark.kubectl
async def test_kubectl_logs_follow(env: Env, has_kubectl: None) -> None:
    c = env.runtime.pods[("default", "p")]["main"]
    write_log(c.log, "first")
    proc = await env.kubectl_process("logs", "-f", "p")
    assert proc.stdout is not None
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"first\n"
        write_log(c.log, "second")
        assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"second\n"
        write_log(c.log, "third")
        assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"third\n"
        # The container exits: its log is closed, and the stream ends after the last line.
        write_log(c.log, "last")
        c.log_active = False
        rest = await asyncio.wait_for(proc.stdout.read(), 10)
        assert rest == b"last\n"
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_logs_follow_ends_when_client_goes(env: Env) -> None:
    """A follower that disconnects releases the node connection (no leaked relay)."""
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{env.api}/api/v1/namespaces/default/pods/p/log", params={"follow": "true"}) as r:
            assert r.status == 200
            write_log(env.runtime.pods[("default", "p")]["main"].log, "x")
            assert await asyncio.wait_for(r.content.readline(), 5) == b"x\n"
    await asyncio.sleep(2.5)  # the relays notice within a couple of poll intervals
    current = asyncio.current_task()
    leftovers = [t for t in asyncio.all_tasks() if t is not current and "copy" in repr(t.get_coro())]
    assert not leftovers
    polls = env.runtime.log_polls
    await asyncio.sleep(1)
    assert env.runtime.log_polls == polls  # the node stopped following too


# -- kubectl port-forward --------------------------------------------------------------------

async def tcp_roundtrip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    got = await asyncio.wait_for(reader.readexactly(len(payload)), 10)
    writer.close()
    await writer.wait_closed()
    return got


@pytest.mark.kubectl
@pytest.mark.parametrize("websockets", ["true", "false"], ids=["websocket-tunnel", "spdy-upgrade"])
async def test_kubectl_port_forward(env: Env, has_kubectl: None, websockets: str) -> None:
    local = free_port()
    proc = await env.kubectl_process("port-forward", "pod/p", f"{local}:{ECHO_PORT}",
                                     env={"KUBECTL_PORT_FORWARD_WEBSOCKETS": websockets})
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.startswith(f"Forwarding from 127.0.0.1:{local} -> {ECHO_PORT}".encode()), line
        assert await tcp_roundtrip(local, b"ping\n") == b"ping\n"
        big = os.urandom(200_000)
        assert await tcp_roundtrip(local, big) == big
        # Two connections at once.
        a, b = await asyncio.gather(tcp_roundtrip(local, b"a" * 1000), tcp_roundtrip(local, b"b" * 1000))
        assert (a, b) == (b"a" * 1000, b"b" * 1000)
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)


@pytest.mark.kubectl
async def test_kubectl_port_forward_refused_port(env: Env, has_kubectl: None) -> None:
    local = free_port()
    proc = await env.kubectl_process("port-forward", "pod/p", f"{local}:9999")
    assert proc.stdout is not None and proc.stderr is not None
    try:
        await asyncio.wait_for(proc.stdout.readline(), 20)
        reader, writer = await asyncio.open_connection("127.0.0.1", local)
        writer.write(b"x")
        assert await asyncio.wait_for(reader.read(), 10) == b""  # kubectl drops the connection
        writer.close()
        err = await asyncio.wait_for(proc.stderr.readline(), 10)
        assert b"connection refused" in err, err
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)


# -- the Python client -----------------------------------------------------------------------

def _python_client(api: str) -> Any:
    kubernetes = pytest.importorskip("kubernetes")
    cfg = kubernetes.client.Configuration()
    cfg.host = api
    return kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(cfg))


def close(resp: Any) -> None:
    resp.close()
    resp.sock.shutdown()  # websocket-client leaves the socket open when the server closed first


async def test_python_client_exec(env: Env) -> None:
    from kubernetes.stream import stream

    v1 = _python_client(env.api)

    def run() -> tuple[str, Any]:
        # (The client's preloading form never closes its socket, so the explicit one.)
        resp = stream(v1.connect_get_namespaced_pod_exec, "p", "default", command=["sh", "-c", "echo py"],
                      stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        resp.run_forever(timeout=10)
        out = resp.read_stdout()
        close(resp)
        resp = stream(v1.connect_get_namespaced_pod_exec, "p", "default", command=["sh", "-c", "exit 5"],
                      stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        resp.run_forever(timeout=10)
        code = resp.returncode
        close(resp)
        return out, code

    out, code = await asyncio.to_thread(run)
    assert out == "py\n"
    assert code == 5


async def test_python_client_logs(env: Env) -> None:
    write_log(env.runtime.pods[("default", "p")]["main"].log, "alpha", "beta")
    env.runtime.pods[("default", "p")]["main"].log_active = False
    v1 = _python_client(env.api)
    text = await asyncio.to_thread(v1.read_namespaced_pod_log, "p", "default", tail_lines=1)
    assert text == "beta\n"


async def test_python_client_port_forward(env: Env) -> None:
    from kubernetes.stream import portforward

    v1 = _python_client(env.api)

    def run() -> bytes:
        pf = portforward(v1.connect_get_namespaced_pod_portforward, "p", "default", ports=str(ECHO_PORT))
        sock = pf.socket(ECHO_PORT)
        sock.setblocking(True)
        sock.sendall(b"through python\n")
        got = b""
        while len(got) < 15:
            chunk = sock.recv(1024)
            if not chunk:
                break
            got += chunk
        sock.close()
        pf.close()
        return got

    assert await asyncio.to_thread(run) == b"through python\n"


# -- protocol details, below kubectl ---------------------------------------------------------

EXEC_PATH = "/api/v1/namespaces/default/pods/p/exec"


async def test_ping_gets_pong_through_the_api_server(env: Env) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(env.api + EXEC_PATH, protocols=["v5.channel.k8s.io"], autoping=False,
                                params=[("command", "sh"), ("command", "-c"), ("command", "read x; echo $x"),
                                        ("stdin", "true"), ("stdout", "true")]) as ws:
            assert ws.protocol == "v5.channel.k8s.io"
            for payload in (b"", b"k8s"):
                await ws.ping(payload)
                msg = await asyncio.wait_for(ws.receive(), 5)
                assert (msg.type, msg.data) == (WSMsgType.PONG, payload)
            await ws.send_bytes(b"\x00after pings\n")
            got = await asyncio.wait_for(ws.receive(), 5)
            assert got.data == b"\x01after pings\n"
            status = await asyncio.wait_for(ws.receive(), 5)
            assert status.data[0] == 3 and json.loads(status.data[1:]) == {"metadata": {}, "status": "Success"}
            closing = await asyncio.wait_for(ws.receive(), 5)
            assert closing.type == WSMsgType.CLOSE and closing.data == 1000


async def raw_handshake(base: str, path_qs: str, protocols: str) -> bytes:
    """Send a WebSocket upgrade by hand; return the response head."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write((f"GET {path_qs} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  f"Sec-WebSocket-Protocol: {protocols}\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    return head


async def test_protocol_negotiation_and_v4(env: Env) -> None:
    async with aiohttp.ClientSession() as s:
        # The Python client's single comma-separated header: v5 wins.
        head = await raw_handshake(env.api, EXEC_PATH + "?command=true&stdout=true",
                                   "v5.channel.k8s.io,v4.channel.k8s.io")
        assert head.startswith(b"HTTP/1.1 101")
        assert b"\r\nsec-websocket-protocol: v5.channel.k8s.io\r\n" in head.lower()
        # v4 only: no close channel, same Status.
        async with s.ws_connect(env.api + EXEC_PATH, protocols=["v4.channel.k8s.io"],
                                params=[("command", "sh"), ("command", "-c"), ("command", "exit 7"),
                                        ("stdout", "true")]) as ws:
            assert ws.protocol == "v4.channel.k8s.io"
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.data[0] == 3 and json.loads(msg.data[1:]) == exit_status(7, ["sh", "-c", "exit 7"])
            assert json.loads(msg.data[1:])["details"] == {"causes": [{"reason": "ExitCode", "message": "7"}]}
        # The original protocol reports failures as text.
        async with s.ws_connect(env.api + EXEC_PATH, protocols=["channel.k8s.io"],
                                params=[("command", "false"), ("stdout", "true")]) as ws:
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.data[0] == 3 and b"non-zero exit code" in msg.data
        # Nothing we speak: refused before the upgrade, with a Status.
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await s.ws_connect(env.api + EXEC_PATH, protocols=["v9.channel.k8s.io"], params=[("command", "true"),
                                                                                          ("stdout", "true")])
        assert e.value.status == 400
        async with s.get(env.api + EXEC_PATH, params=[("command", "true"), ("stdout", "true")],
                         headers={"Sec-WebSocket-Protocol": "v9.channel.k8s.io"}) as r:
            assert r.status == 400


async def test_exec_without_upgrade_gets_a_status(env: Env) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(env.api + EXEC_PATH, params=[("command", "true"), ("stdout", "true")],
                          headers={"X-Stream-Protocol-Version": "v5.channel.k8s.io"}) as r:
            assert r.status == 400
            body = await r.json()
            assert (body["kind"], body["reason"], body["message"]) == ("Status", "BadRequest", "Upgrade request required")


async def test_tty_exec_with_resize(env: Env) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(env.api + EXEC_PATH, protocols=["v5.channel.k8s.io"],
                                params=[("command", "sh"), ("command", "-c"), ("command", "read x; stty size; echo $x"),
                                        ("stdin", "true"), ("stdout", "true"), ("tty", "true")]) as ws:
            await ws.send_bytes(b'\x04{"Width":100,"Height":30}\n')
            await ws.send_bytes(b"\x00typed\n")
            out = b""
            status = None
            async for msg in ws:
                if msg.data[0] == 1:
                    out += msg.data[1:]
                elif msg.data[0] == 3:
                    status = json.loads(msg.data[1:])
            assert status == {"metadata": {}, "status": "Success"}
            assert b"30 100" in out and out.count(b"typed") == 2  # echoed by the terminal, then printed


async def test_client_disconnect_kills_the_process(env: Env, tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    async with aiohttp.ClientSession() as s:
        ws = await s.ws_connect(env.api + EXEC_PATH, protocols=["v5.channel.k8s.io"],
                                params=[("command", "sh"), ("command", "-c"), ("command", f"sleep 3; touch {marker}"),
                                        ("stdout", "true")])
        await asyncio.sleep(0.3)
        await ws.close()
    await asyncio.sleep(3.5)
    assert not marker.exists()


async def test_log_errors_are_statuses(env: Env) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{env.api}/api/v1/namespaces/default/pods/p/log", params={"container": "x"}) as r:
            body = await r.json()
            assert (r.status, body["reason"]) == (400, "BadRequest")
            assert body["message"] == "container x is not valid for pod p"
        async with s.get(f"{env.api}/api/v1/namespaces/default/pods/p/log", params={"tailLines": "-1"}) as r:
            assert r.status == 400
    # A pod the scheduler has not placed yet.
    await env.create_object({**pod_object("pending", "main"), "spec": {"containers": [{"name": "main", "image": "x"}]}})
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{env.api}/api/v1/namespaces/default/pods/pending/log") as r:
            body = await r.json()
            assert (r.status, body["message"]) == (400, "pod pending does not have a host assigned")


async def test_node_unreachable_is_a_status() -> None:
    dead = free_port()

    async def resolve(node: str) -> tuple[str, None]:
        return f"http://127.0.0.1:{dead}", None

    async def get_pod(namespace: str, name: str) -> dict[str, Any]:  # instead of the API server's store
        if name != "elsewhere":
            raise NotFound.of("pods", name)
        return pod_object("elsewhere", "main")

    api, create, stop = await _real_api_server(make_node_proxy(resolve, get_pod=get_pod))
    try:
        await create(pod_object("elsewhere", "main"))
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{api}/api/v1/namespaces/default/pods/elsewhere/log") as r:
                body = await r.json()
                assert r.status == 500 and body["message"].startswith("error dialing backend")
            async with s.post(f"{api}/api/v1/namespaces/default/pods/elsewhere/portforward",
                              headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                                       "X-Stream-Protocol-Version": "portforward.k8s.io"}) as r:
                assert r.status == 500 and (await r.json())["message"].startswith("error dialing backend")
    finally:
        await stop()


async def test_default_container(env: Env) -> None:
    await env.create_pod("multi", "a", "b")
    write_log(env.runtime.pods[("default", "multi")]["a"].log, "from a")
    write_log(env.runtime.pods[("default", "multi")]["b"].log, "from b")
    for c in env.runtime.pods[("default", "multi")].values():
        c.log_active = False
    url = f"{env.api}/api/v1/namespaces/default/pods/multi/log"
    async with aiohttp.ClientSession() as s:
        async with s.get(url) as r:
            assert await r.text() == "from a\n"  # the first container
        async with s.get(url, params={"container": "b"}) as r:
            assert await r.text() == "from b\n"
    pod = pod_object("annotated", "a", "b")
    pod["metadata"]["annotations"] = {"kubectl.kubernetes.io/default-container": "b"}
    env.runtime.add_pod("default", "annotated", "a", "b")
    await env.create_object(pod)
    write_log(env.runtime.pods[("default", "annotated")]["b"].log, "annotated b")
    env.runtime.pods[("default", "annotated")]["b"].log_active = False
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{env.api}/api/v1/namespaces/default/pods/annotated/log") as r:
            assert await r.text() == "annotated b\n"


# -- SPDY framing ----------------------------------------------------------------------------

def test_spdy_dictionary_is_the_spdy3_one() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2  # the dictionary id zlib puts on the wire


async def test_spdy_session_streams_ping_and_reset() -> None:
    sent: list[bytes] = []
    opened: list[spdy.SpdyStream] = []

    async def write(data: bytes) -> None:
        sent.append(data)

    session = spdy.SpdySession(write, opened.append)
    client_codec = spdy.HeaderCodec()
    syn = spdy.control_frame(spdy.SYN_STREAM, 0, struct.pack(">IIH", 1, 0, 0)
                             + client_codec.encode({"streamtype": "data", "port": "80", "requestid": "0"}))
    data = spdy.data_frame(1, spdy.FLAG_FIN, b"hello")
    ping = spdy.control_frame(spdy.PING, 0, struct.pack(">I", 7))
    wire = syn + data + ping
    for i in range(0, len(wire), 5):  # frames split at arbitrary points
        await session.feed(wire[i:i + 5])
    assert [s.headers for s in opened] == [{"streamtype": "data", "port": "80", "requestid": "0"}]
    stream = opened[0]
    assert await stream.read_all() == b"hello"
    frames = spdy.FrameReader().feed(b"".join(sent))
    assert (frames[0].type, frames[0].payload[:4]) == (spdy.SYN_REPLY, struct.pack(">I", 1))
    assert client_codec_peer_decode(frames[0].payload[4:]) == {}
    assert (frames[1].type, frames[1].payload) == (spdy.PING, struct.pack(">I", 7))
    await stream.write(b"x" * (spdy.MAX_DATA + 1))
    await stream.close()
    frames = spdy.FrameReader().feed(b"".join(sent))[2:]
    assert [(f.control, f.stream_id, f.flags, len(f.payload)) for f in frames] == [
        (False, 1, 0, spdy.MAX_DATA), (False, 1, 0, 1), (False, 1, spdy.FLAG_FIN, 0)]
    await session.feed(spdy.control_frame(spdy.RST_STREAM, 0, struct.pack(">II", 1, spdy.CANCEL)))
    assert stream.reset_received
    with pytest.raises(ConnectionResetError):
        await stream.write(b"late")


def client_codec_peer_decode(block: bytes) -> dict[str, str]:
    return spdy.HeaderCodec().decode(block)


def test_exit_status_shapes() -> None:
    assert exit_status(0) == {"metadata": {}, "status": "Success"}
    s = exit_status(-9, ["sleep", "9"])
    assert s["reason"] == "NonZeroExitCode" and s["details"]["causes"] == [{"reason": "ExitCode", "message": "137"}]
