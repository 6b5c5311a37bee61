"""What every streaming endpoint shares before and while it streams: the sub-protocol names,
message and read sizes, query flags, Status refusals and the upgrade negotiation.

exec, attach and portForward accept a WebSocket (GET, sub-protocol chosen from
`Sec-WebSocket-Protocol`) or the SPDY/3.1 upgrade (POST, `Upgrade: SPDY/3.1`, protocol chosen
from `X-Stream-Protocol-Version`): kubectl's fallback when the WebSocket is refused, and what
older client-go tools use. A request that is neither kind of upgrade is answered with the
container check's error, or 400 "Upgrade request required". Every refusal before an upgrade
is a Kubernetes Status, which kubectl prints.
"""

from __future__ import annotations

from aiohttp import web

from kubeloop.api.errors import APIError, BadRequest

# WebSocket sub-protocols, and X-Stream-Protocol-Version values for SPDY.
V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V1 = "channel.k8s.io"
SPDY_V2 = "v2.channel.k8s.io"

READ_CHUNK = 32 * 1024
MAX_WS_MESSAGE = 16 * 1024 * 1024


def json_status(err: APIError) -> web.Response:
    return web.json_response(err.status(), status=err.code)


def flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "t", "yes", "y")


def offered_protocols(request: web.Request) -> list[str]:
    offered: list[str] = []
    for header in request.headers.getall("Sec-WebSocket-Protocol", []):
        offered += [p.strip() for p in header.split(",") if p.strip()]
    return offered


def is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def choose_protocol(request: web.Request, supported: tuple[str, ...]) -> str | None:
    """The first sub-protocol the client offered that we speak; None if it offered none."""
    offered = offered_protocols(request)
    if not offered:
        return None
    for proto in offered:
        if proto in supported:
            return proto
    raise BadRequest(f"unable to upgrade: none of the requested sub-protocols {offered} are supported "
                     f"(supported: {list(supported)})")


def _stream_protocols(request: web.Request) -> list[str]:
    offered: list[str] = []
    for header in request.headers.getall("X-Stream-Protocol-Version", []):
        offered += [p.strip() for p in header.split(",") if p.strip()]
    return offered


def negotiate_spdy(request: web.Request, supported: tuple[str, ...]) -> str:
    offered = _stream_protocols(request)
    for proto in offered:
        if proto in supported:
            return proto
    raise BadRequest(f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                     f"server supports {list(supported)}")
