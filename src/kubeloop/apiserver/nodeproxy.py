"""Proxying pods' log, exec, attach and portforward subresources to the node agent.

As in Kubernetes (apiserver → kubelet :10250), the API server validates the request
against the pod (container name, node assignment) and hands the stream to the node agent
that runs the pod:

    pods/{name}/log          → GET {node}/containerLogs/{ns}/{name}/{container}?...   (streamed text)
    pods/{name}/exec         → {node}/exec/{ns}/{name}/{container}?command=...         (WebSocket)
    pods/{name}/attach       → {node}/attach/{ns}/{name}/{container}?...               (WebSocket)
    pods/{name}/portforward  → {node}/portForward/{ns}/{name}?...                      (WebSocket)

WebSockets are relayed message by message: the node connection is opened first, offering
exactly the sub-protocols the client offered, so that a refusal (pod or container not
running, bad parameters) reaches the client as a plain Status response; then the client's
upgrade is accepted with the protocol the node chose. Pings from the client are answered
here. SPDY/3.1 upgrades (kubectl's POST fallback, older client-go tools) are relayed as raw
byte streams once the node answered 101; the node's refusal is returned as it is. Other
requests are forwarded as plain requests (the node answers 400 "Upgrade request required").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any, Awaitable, Callable, TypeVar
from urllib.parse import quote

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict, MultiDict
from yarl import URL

from kubeloop.api.errors import APIError, BadRequest, InternalError, MethodNotSupported, NotFound
from kubeloop.node.spdy import accept_upgrade, wants_spdy_upgrade

from .handlers import NodeProxy
from .paths import ResourcePath

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Resolve = Callable[[str], Awaitable["tuple[str, ssl.SSLContext | None]"]]
GetPod = Callable[[str, str], Awaitable[Obj]]
T = TypeVar("T")

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
CONNECT_TIMEOUT = 10.0
CLIENT_CHECK_INTERVAL = 1.0  # how often a streaming relay looks whether its client went away
MAX_ERROR_BODY = 1024 * 1024
MAX_WS_MESSAGE = 16 * 1024 * 1024


def make_node_proxy(resolve: Resolve, *, get_pod: GetPod | None = None) -> NodeProxy:
    """The API server's node proxy.

    resolve(node name) returns the base URL of that node's agent (`https://172.30.0.10:10250`)
    and the SSL context to reach it with (None: plain HTTP or default verification). get_pod(namespace, pod) returns the pod object, raising NotFound;
    without it the pod is read from the API server's `request.app["store"]`.
    """

    async def proxy(request: web.Request, rp: ResourcePath) -> web.StreamResponse:
        namespace, name, sub = rp.namespace or "", rp.name or "", rp.subresource
        pod = await (get_pod(namespace, name) if get_pod is not None else _store_pod(request, rp))
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            raise BadRequest(f"pod {name} does not have a host assigned")
        params = MultiDict((k, v) for k, v in request.query.items() if k != "container")
        ns_q, name_q = quote(namespace, safe=""), quote(name, safe="")
        if sub == "log":
            if request.method != "GET":
                raise MethodNotSupported(f"{request.method} is not supported on pods/log")
            container = _container(pod, request.query.get("container"))
            base, ctx = await resolve(node)
            url = f"{base}/containerLogs/{ns_q}/{name_q}/{quote(container, safe='')}"
            return await _relay_http(request, "GET", url, params, ctx)
        if sub in ("exec", "attach"):
            container = _container(pod, request.query.get("container"))
            base, ctx = await resolve(node)
            url = f"{base}/{sub}/{ns_q}/{name_q}/{quote(container, safe='')}"
        elif sub == "portforward":
            base, ctx = await resolve(node)
            url = f"{base}/portForward/{ns_q}/{name_q}"
        else:
            raise NotFound("the server could not find the requested resource")
        if request.method not in ("GET", "POST"):
            raise MethodNotSupported(f"{request.method} is not supported on pods/{sub}")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await _relay_websocket(request, url, params, ctx)
        if wants_spdy_upgrade(request):
            return await _relay_raw_upgrade(request, url, params, ctx)
        return await _relay_http(request, request.method, url, params, ctx)

    return proxy


async def _store_pod(request: web.Request, rp: ResourcePath) -> Obj:
    store = request.app.get("store")
    if store is None:
        raise InternalError("the node proxy has no way to read pods")
    pod: Obj = await store.get(rp.resource, rp.namespace or "", rp.name or "")
    return pod


def _container(pod: Obj, requested: str | None) -> str:
    """The container a request is for: the one named (it must exist), else the pod's default
    container (annotation `kubectl.kubernetes.io/default-container`), else its first."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    name = meta.get("name", "")
    containers = [c.get("name", "") for c in spec.get("containers") or []]
    if requested:
        others = [c.get("name", "") for key in ("initContainers", "ephemeralContainers")
                  for c in spec.get(key) or []]
        if requested not in containers and requested not in others:
            raise BadRequest(f"container {requested} is not valid for pod {name}")
        return requested
    default = (meta.get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    if default in containers:
        return str(default)
    if not containers:
        raise BadRequest(f"pod {name} has no containers")
    return containers[0]


def _session() -> aiohttp.ClientSession:
    # No total timeout: logs -f, exec and port-forward sessions last as long as their users.
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT,
                                                               connect=CONNECT_TIMEOUT))


def _ssl(ctx: ssl.SSLContext | None) -> ssl.SSLContext | bool:
    return ctx if ctx is not None else True


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _while_client_connected(request: web.Request, work: Awaitable[T]) -> T | None:
    """Run `work` until it finishes or the client disconnects (aiohttp does not cancel
    handlers when the peer goes away, and an idle `logs -f` would otherwise hold the node
    connection forever)."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=CLIENT_CHECK_INTERVAL)
            if done:
                return task.result()
            if _client_gone(request):
                return None
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _dial_error(err: BaseException) -> APIError:
    return InternalError(f"error dialing backend: {err or type(err).__name__}")


async def _relay_http(request: web.Request, method: str, url: str, params: MultiDict[str],
                      ctx: ssl.SSLContext | None) -> web.StreamResponse:
    """Forward a plain request and stream the node's answer back."""
    async with _session() as session:
        try:
            upstream = await session.request(method, url, params=params, ssl=_ssl(ctx))
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
            raise _dial_error(e) from None
        async with upstream:
            ctype = upstream.headers.get("Content-Type", "text/plain")
            if upstream.status != 200:
                body = await upstream.content.read(MAX_ERROR_BODY)
                return web.Response(status=upstream.status, body=body, headers={"Content-Type": ctype})
            resp = web.StreamResponse(status=200, headers={"Content-Type": ctype})
            resp.enable_chunked_encoding()
            await resp.prepare(request)

            async def copy() -> None:
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)

            try:
                await _while_client_connected(request, copy())
                await resp.write_eof()
            except (ConnectionError, aiohttp.ClientError) as e:
                log.debug("relay of %s ended: %s", url, e)
            return resp


def _offered_protocols(request: web.Request) -> list[str]:
    offered: list[str] = []
    for header in request.headers.getall("Sec-WebSocket-Protocol", []):
        offered += [p.strip() for p in header.split(",") if p.strip()]
    return offered


async def _relay_websocket(request: web.Request, url: str, params: MultiDict[str],
                           ctx: ssl.SSLContext | None) -> web.StreamResponse:
    offered = _offered_protocols(request)
    session = _session()
    try:
        try:
            upstream = await session.ws_connect(
                url, params=params, protocols=offered, ssl=_ssl(ctx), autoping=True,
                max_msg_size=MAX_WS_MESSAGE, compress=0,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0))
        except aiohttp.WSServerHandshakeError:
            # The node refused the upgrade; ask it again without one to get its Status.
            return await _relay_http(request, "GET", url, params, ctx)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
            raise _dial_error(e) from None
        client = web.WebSocketResponse(protocols=(upstream.protocol,) if upstream.protocol else (),
                                       autoping=True, max_msg_size=MAX_WS_MESSAGE, compress=False,
                                       timeout=5.0)
        try:
            await client.prepare(request)
            await _pump_both_ways(client, upstream)
        finally:
            await upstream.close()
            if not client.closed and client.prepared:
                with contextlib.suppress(Exception):
                    await client.close(code=aiohttp.WSCloseCode.OK)
        return client
    finally:
        await session.close()


async def _pump_both_ways(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    """Relay messages until one side ends, then close the other side with a close frame.

    The side still reading is ended by closing its socket (close() wakes its receive loop),
    never by cancelling it: a cancelled receive leaves aiohttp unable to send the close frame,
    and kubectl then reports "websocket: bad close code 1006".
    """

    async def pump(src: Any, dst: Any) -> None:
        async for msg in src:
            if dst.closed:
                return
            if msg.type == WSMsgType.BINARY:
                await dst.send_bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                await dst.send_str(msg.data)

    to_node = asyncio.ensure_future(pump(client, upstream))
    to_client = asyncio.ensure_future(pump(upstream, client))
    try:
        done, _ = await asyncio.wait({to_node, to_client}, return_when=asyncio.FIRST_COMPLETED)
        if to_client in done:
            # 1006 (no close frame from the node, e.g. its TLS connection just ended) is not a
            # code that may be sent; the stream itself ended normally once relayed.
            code = upstream.close_code
            if code is None or code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE:
                code = aiohttp.WSCloseCode.OK
            await client.close(code=code)
        else:
            await upstream.close()
        await asyncio.wait({to_node, to_client}, timeout=5.0)
    finally:
        for task in (to_node, to_client):
            if not task.done():
                task.cancel()
        results = await asyncio.gather(to_node, to_client, return_exceptions=True)
        for r in results:
            if isinstance(r, Exception) and not isinstance(r, (ConnectionError, aiohttp.ClientError)):
                log.warning("websocket relay failed: %s", r)


def _parse_head(head: bytes) -> tuple[int, CIMultiDict[str]]:
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise InternalError(f"the node answered with a malformed status line: {lines[0]!r}") from None
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers.add(name.strip(), value.strip())
    return status, headers


async def _relay_raw_upgrade(request: web.Request, url: str, params: MultiDict[str],
                             ctx: ssl.SSLContext | None) -> web.StreamResponse:
    """Relay an HTTP/1.1 upgrade to a non-WebSocket protocol (SPDY/3.1) as raw bytes.

    aiohttp's client only upgrades to WebSockets, so this speaks the one request by hand.
    """
    target = URL(url).with_query(params)
    https = target.scheme == "https"
    tls = (ctx or ssl.create_default_context()) if https else None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(target.host, target.port, ssl=tls, server_hostname=target.host if https else None),
            CONNECT_TIMEOUT)
    except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
        raise _dial_error(e) from None
    try:
        lines = [f"{request.method} {target.raw_path_qs} HTTP/1.1", f"Host: {target.raw_authority}",
                 "Connection: Upgrade", f"Upgrade: {request.headers.get('Upgrade', '')}", "Content-Length: 0"]
        lines += [f"X-Stream-Protocol-Version: {v}" for v in request.headers.getall("X-Stream-Protocol-Version", [])]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
            raise _dial_error(e) from None
        status, headers = _parse_head(head)
        if status != 101:
            length = int(headers.get("Content-Length", "0") or 0)
            try:
                body = await asyncio.wait_for(reader.readexactly(min(length, MAX_ERROR_BODY)), CONNECT_TIMEOUT)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                body = b""
            return web.Response(status=status, body=body,
                                headers={"Content-Type": headers.get("Content-Type", "text/plain")})
        conn = await accept_upgrade(request, {k: headers[k] for k in ("Upgrade", "X-Stream-Protocol-Version")
                                              if k in headers})

        async def to_node() -> None:
            while data := await conn.read():
                writer.write(data)
                await writer.drain()

        async def to_client() -> None:
            while data := await reader.read(64 * 1024):
                await conn.write(data)

        tasks = [asyncio.ensure_future(to_node()), asyncio.ensure_future(to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            conn.close()
        return conn.response
    finally:
        writer.close()
