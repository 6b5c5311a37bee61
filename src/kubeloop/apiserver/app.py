"""The API server's HTTP application: routing, authentication and error translation.

Requests for resources go to ResourceHandlers; /version, /healthz, discovery and OpenAPI are
answered here. Authentication is by TLS client certificate (the CA kubeloop generates);
a request without one gets 401, except the public-info endpoints (/version and the health
checks), as Kubernetes' `system:public-info-viewer` allows. Every APIError becomes a
Kubernetes Status; anything else becomes a 500 InternalError Status and a log line.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from aiohttp import web

from kubeloop.api import openapi
from kubeloop.api.errors import APIError, InternalError, NotFound, RequestEntityTooLarge, Unauthorized

from . import discovery, media
from .handlers import NodeProxy, ResourceHandlers
from .objects import ObjectStore
from .paths import parse

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024  # Kubernetes' request size limit
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")

Identity = Callable[[web.Request], "tuple[str, list[str]] | None"]


def _peer_identity(request: web.Request) -> tuple[str, list[str]] | None:
    from kubeloop.cluster.pki import identity_from_peercert

    transport = request.transport
    if transport is None:
        return None
    peercert = transport.get_extra_info("peercert")
    if not peercert:
        return None
    return identity_from_peercert(peercert)


@web.middleware
async def status_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                        ) -> web.StreamResponse:
    try:
        return await handler(request)
    except APIError as e:
        return media.error_response(e)
    except web.HTTPRequestEntityTooLarge:
        return media.error_response(RequestEntityTooLarge("the request body is too large (limit 3 MiB)"))
    except web.HTTPException:
        raise
    except Exception as e:  # a bug: report it as Kubernetes does, and log it
        log.exception("internal error serving %s %s", request.method, request.path)
        return media.error_response(InternalError(f"an internal error occurred: {type(e).__name__}: {e}"))


def make_authn(identity: Identity | None) -> Callable[..., Any]:
    @web.middleware
    async def authn(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        if identity is None or request.path in PUBLIC_PATHS:
            return await handler(request)
        who = identity(request)
        if who is None:
            return media.error_response(Unauthorized("Unauthorized"))
        request["user"] = who
        return await handler(request)

    return authn


def build_app(
    store: ObjectStore,
    *,
    server_address: str,
    authenticate: bool = True,
    node_proxy: NodeProxy | None = None,
    identity: Identity | None = None,
) -> web.Application:
    handlers = ResourceHandlers(store, node_proxy)
    ident = (identity or _peer_identity) if authenticate else None
    app = web.Application(client_max_size=MAX_BODY, middlewares=[status_errors, make_authn(ident)])
    app["store"] = store
    app["handlers"] = handlers

    async def version(request: web.Request) -> web.Response:
        return media.json_response(discovery.VERSION_INFO)

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def api(request: web.Request) -> web.Response:
        if discovery.wants_aggregated(request.headers.get("Accept", "")):
            return media.json_response(discovery.aggregated(True),
                                       headers={"Content-Type": discovery.AGGREGATED_MEDIA_TYPE})
        return media.json_response(discovery.api_versions(server_address))

    async def apis(request: web.Request) -> web.Response:
        if discovery.wants_aggregated(request.headers.get("Accept", "")):
            return media.json_response(discovery.aggregated(False),
                                       headers={"Content-Type": discovery.AGGREGATED_MEDIA_TYPE})
        return media.json_response(discovery.api_group_list())

    async def openapi_index(request: web.Request) -> web.Response:
        return media.json_response(openapi.index())

    async def openapi_doc(request: web.Request) -> web.Response:
        tail = request.match_info["tail"].strip("/").split("/")
        if tail[0] == "api" and len(tail) == 2:
            group, version = "", tail[1]
        elif tail[0] == "apis" and len(tail) == 3:
            group, version = tail[1], tail[2]
        else:
            raise NotFound("the server could not find the requested resource")
        try:
            body = openapi.document_json(group, version)
        except KeyError:
            raise NotFound("the server could not find the requested resource") from None
        return web.Response(body=body, content_type=media.JSON)

    async def resources(request: web.Request) -> web.StreamResponse:
        path = request.path
        parts = [p for p in path.split("/") if p]
        # Discovery of one group-version or group.
        if parts[:1] == ["api"] and len(parts) == 2:
            doc = discovery.api_resource_list("", parts[1])
        elif parts[:1] == ["apis"] and len(parts) == 3:
            doc = discovery.api_resource_list(parts[1], parts[2])
        elif parts[:1] == ["apis"] and len(parts) == 2:
            doc = discovery.api_group(parts[1])
        else:
            rp = parse(path)
            if rp is None:
                raise NotFound("the server could not find the requested resource")
            return await handlers.dispatch(request, rp)
        if doc is None:
            raise NotFound("the server could not find the requested resource")
        return media.json_response(doc)

    app.router.add_get("/version", version)
    for p in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(p, health)
    app.router.add_get("/api", api)
    app.router.add_get("/apis", apis)
    app.router.add_get("/openapi/v3", openapi_index)
    app.router.add_get("/openapi/v3/{tail:.*}", openapi_doc)
    app.router.add_route("*", "/api/{tail:.*}", resources)
    app.router.add_route("*", "/apis/{tail:.*}", resources)
    return app
