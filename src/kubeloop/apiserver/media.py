"""Request bodies in, JSON out: the API server's media types.

Bodies arrive as JSON (also with no Content-Type, as the Python client sends them), YAML,
Kubernetes protobuf (kubectl's typed `create` generators) or one of the patch types.
Every answer is JSON, which kubectl and the Python client accept even when they list
protobuf first. A Table is produced when the Accept header asks for one.
"""

from __future__ import annotations

from typing import Any

import orjson
import yaml
from aiohttp import web

from kubeloop.api.errors import APIError, BadRequest, UnsupportedMediaType

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (MERGE_PATCH, STRATEGIC_PATCH, JSON_PATCH, APPLY_PATCH)


def content_type(request: web.Request) -> str:
    return (request.headers.get("Content-Type") or JSON).split(";")[0].strip().lower()


def wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def parse_bytes(raw: bytes, ctype: str) -> Any:
    if ctype == PROTOBUF:
        from kubeloop.api import protobuf

        return protobuf.decode(raw)
    if ctype in ("application/yaml", "application/x-yaml", "text/yaml", APPLY_PATCH):
        try:
            return yaml.safe_load(raw.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise BadRequest(f"error decoding YAML: {e}") from None
    if ctype in (JSON, "", "*/*", "text/plain", "application/octet-stream", MERGE_PATCH, STRATEGIC_PATCH, JSON_PATCH):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise BadRequest(f"couldn't get version/kind; json parse error: {e}") from None
    raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types include: "
                               f"{JSON}, application/yaml, {PROTOBUF}")


async def read_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raise BadRequest("the body of the request is empty")
    body = parse_bytes(raw, content_type(request))
    if not isinstance(body, dict):
        raise BadRequest("the body of the request must be a JSON object")
    return body


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    all_headers = {"Content-Type": JSON, **(headers or {})}
    return web.Response(body=orjson.dumps(body), status=status, headers=all_headers)


def error_response(err: APIError) -> web.Response:
    return json_response(err.status(), status=err.code)
