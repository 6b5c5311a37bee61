"""Client: kubeloop's own asynchronous Kubernetes REST client (aiohttp).

Every component (controllers, node agents, proxy, DNS, ingress) talks to the API through
this, never to storage. Errors come back as the same exception tree the server raises
(kubeloop.api.errors), rebuilt from the Status body, so a controller catches NotFound or
Conflict exactly as the server meant them.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlencode

import aiohttp
import orjson
import yaml

from kubeloop.api import errors
from kubeloop.api.registry import ResourceType

Obj = dict[str, Any]

_BY_REASON: dict[str, type[errors.APIError]] = {
    cls.reason: cls
    for cls in (
        errors.BadRequest, errors.Unauthorized, errors.Forbidden, errors.NotFound, errors.MethodNotSupported,
        errors.AlreadyExists, errors.Conflict, errors.Gone, errors.Invalid, errors.RequestEntityTooLarge,
        errors.UnsupportedMediaType, errors.ServiceUnavailable, errors.InternalError,
    )
}
_BY_CODE = {409: errors.Conflict, 404: errors.NotFound, 410: errors.Gone, 422: errors.Invalid}


def error_from_status(code: int, body: bytes) -> errors.APIError:
    try:
        status = orjson.loads(body)
    except orjson.JSONDecodeError:
        status = {}
    if not isinstance(status, dict):
        status = {}
    reason = status.get("reason", "")
    message = status.get("message") or body.decode("utf-8", "replace")[:500] or f"HTTP {code}"
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code) or errors.APIError
    err = errors.APIError.__new__(cls)
    errors.APIError.__init__(err, message, details=status.get("details"))
    err.code = code
    return err


class Client:
    def __init__(self, server: str, ssl_context: ssl.SSLContext | None = None, *, timeout: float = 30.0) -> None:
        self.server = server.rstrip("/")
        self._ssl = ssl_context if ssl_context is not None else False
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_kubeconfig(cls, path: Path | str, **kwargs: Any) -> "Client":
        """A client for the current context of a kubeconfig with embedded certificates."""
        cfg = yaml.safe_load(Path(path).read_text())
        ctx_name = cfg.get("current-context") or cfg["contexts"][0]["name"]
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        ssl_ctx = None
        if cluster["server"].startswith("https"):
            ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
            ssl_ctx = ssl.create_default_context(cadata=ca)
            with tempfile.TemporaryDirectory() as tmp:
                cert, key = Path(tmp) / "c.pem", Path(tmp) / "k.pem"
                cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
                key.write_bytes(base64.b64decode(user["client-key-data"]))
                ssl_ctx.load_cert_chain(cert, key)
        return cls(cluster["server"], ssl_ctx, **kwargs)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=32), timeout=self._timeout
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # -- plumbing ------------------------------------------------------------------------

    def path(self, resource: ResourceType, namespace: str | None = None, name: str | None = None,
             subresource: str = "") -> str:
        p = resource.base_path(namespace if resource.namespaced else None)
        if name:
            p += f"/{name}"
        if subresource:
            p += f"/{subresource}"
        return p

    async def request(self, method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None,
                      content_type: str = "application/json") -> Any:
        url = self.server + path + (("?" + urlencode(query, doseq=True)) if query else "")
        data = orjson.dumps(body) if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        async with self.session.request(method, url, data=data, headers=headers) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise error_from_status(resp.status, raw)
            ctype = resp.headers.get("Content-Type", "")
            return orjson.loads(raw) if "json" in ctype and raw else raw

    # -- verbs ---------------------------------------------------------------------------

    async def get(self, resource: ResourceType, namespace: str | None, name: str, subresource: str = "") -> Obj:
        return await self.request("GET", self.path(resource, namespace, name, subresource))

    async def list(self, resource: ResourceType, namespace: str | None = None, *, label_selector: str = "",
                   field_selector: str = "") -> tuple[list[Obj], str]:
        query = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v}
        body = await self.request("GET", self.path(resource, namespace), query=query)
        return body.get("items") or [], body["metadata"]["resourceVersion"]

    async def create(self, resource: ResourceType, namespace: str | None, obj: Obj) -> Obj:
        return await self.request("POST", self.path(resource, namespace), body=obj)

    async def update(self, resource: ResourceType, obj: Obj, subresource: str = "") -> Obj:
        meta = obj["metadata"]
        return await self.request("PUT", self.path(resource, meta.get("namespace"), meta["name"], subresource), body=obj)

    async def patch(self, resource: ResourceType, namespace: str | None, name: str, patch: Any, *,
                    patch_type: str = "merge", subresource: str = "") -> Obj:
        ctype = {"merge": "application/merge-patch+json", "strategic": "application/strategic-merge-patch+json",
                 "json": "application/json-patch+json"}[patch_type]
        return await self.request("PATCH", self.path(resource, namespace, name, subresource), body=patch,
                                  content_type=ctype)

    async def delete(self, resource: ResourceType, namespace: str | None, name: str, **options: Any) -> Any:
        return await self.request("DELETE", self.path(resource, namespace, name), body=options or None)

    async def watch(self, resource: ResourceType, namespace: str | None = None, *, resource_version: str = "",
                    label_selector: str = "", field_selector: str = "", timeout_seconds: int = 300
                    ) -> AsyncIterator[tuple[str, Obj]]:
        """(type, object) pairs until the server ends the stream; raises Gone when too old."""
        query: dict[str, Any] = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": timeout_seconds}
        if resource_version:
            query["resourceVersion"] = resource_version
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        url = self.server + self.path(resource, namespace) + "?" + urlencode(query)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30)
        async with self.session.get(url, timeout=timeout, headers={"Accept": "application/json"}) as resp:
            if resp.status >= 400:
                raise error_from_status(resp.status, await resp.read())
            async for line in resp.content:
                if not line.strip():
                    continue
                event = orjson.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise error_from_status(int(status.get("code") or 500), json.dumps(status).encode())
                yield event["type"], event["object"]
