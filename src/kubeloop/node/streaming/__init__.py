"""The node agent's streaming server: container logs, exec, attach and port-forward.

These are the kubelet's streaming endpoints, which the API server proxies pods' `log`,
`exec`, `attach` and `portforward` subresources to:

    GET       /containerLogs/{ns}/{pod}/{container}?follow=&tailLines=&sinceSeconds=&sinceTime=
                                                    &timestamps=&previous=&limitBytes=
    GET|POST  /exec/{ns}/{pod}/{container}?command=..&command=..&stdin=&stdout=&stderr=&tty=
    GET|POST  /attach/{ns}/{pod}/{container}?stdin=&stdout=&stderr=&tty=
    GET|POST  /portForward/{ns}/{pod}[?ports=8080,..]

This package mounts them (`add_streaming_routes`) and re-exports what the rest of the node
agent and the tests use. Its modules own:

    contract       the runtime contract: StreamingRuntime, ExecProcess, StdinWriter
    hostprocess    spawn() / HostProcess: host processes with pipes or a pseudo-terminal
    wire           sub-protocol names, sizes, query flags, Status refusals, upgrade negotiation
    exectransport  the channel protocol over WebSocket, and SPDY streams, for exec/attach
    execsession    exec and attach sessions, their exit Status, and their endpoint
    logs           containerLogs: options, CRI line parsing, tail, follow; format_log_entry()
    portforward    portForward over SPDY (tunnelled or upgraded) or the channel protocol
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from aiohttp import web

from kubeloop.api.errors import APIError, InternalError

from .contract import ExecProcess, StdinWriter, StreamingRuntime
from .execsession import exit_status, failure_status, serve_channel_session
from .hostprocess import HostProcess, spawn
from .logs import format_log_entry, serve_logs
from .portforward import serve_portforward
from .wire import json_status

__all__ = [
    "ExecProcess", "HostProcess", "StdinWriter", "StreamingRuntime", "add_streaming_routes", "exit_status",
    "failure_status", "format_log_entry", "spawn",
]

log = logging.getLogger(__name__)


def add_streaming_routes(app: web.Application, runtime: StreamingRuntime) -> None:
    """Mount the kubelet-style streaming endpoints on a node agent's application."""

    def guarded(handler: Callable[[web.Request, StreamingRuntime], Awaitable[web.StreamResponse]]
                ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request, runtime)
            except APIError as e:
                return json_status(e)
            except Exception as e:
                log.exception("streaming request %s %s failed", request.method, request.path)
                return json_status(InternalError(f"an internal error occurred: {type(e).__name__}: {e}"))
        return serve

    async def exec_(request: web.Request, rt: StreamingRuntime) -> web.StreamResponse:
        return await serve_channel_session(request, rt, attach=False)

    async def attach(request: web.Request, rt: StreamingRuntime) -> web.StreamResponse:
        return await serve_channel_session(request, rt, attach=True)

    for method in ("GET", "POST"):
        app.router.add_route(method, "/exec/{namespace}/{pod}/{container}", guarded(exec_))
        app.router.add_route(method, "/attach/{namespace}/{pod}/{container}", guarded(attach))
        app.router.add_route(method, "/portForward/{namespace}/{pod}", guarded(serve_portforward))
    app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", guarded(serve_logs))
