"""OpenAPI v3 documents for `/openapi/v3` and `/openapi/v3/<group-version>`, derived from the registry.

kubectl reads them before `create -f`, `apply -f`, `replace -f` and `edit`: when a kind's PATCH
operation (found by its `x-kubernetes-group-version-kind`) declares a `fieldValidation` query
parameter, kubectl leaves validation to the server and sends `fieldValidation=Strict`.
`kubectl explain` walks `components.schemas` from the schema carrying the kind's GVK.

Shapes follow the real apiserver: one document per group-version with the collection path
(`get` list, `post` create, `delete` deletecollection), the item path (`get`, `put`, `patch`,
`delete`), the all-namespaces list of namespaced kinds, and the subresources of the registry
(`status`, `scale` with autoscaling/v1 `Scale`, pod `log`, `exec`, `attach`, `portforward`,
`binding`). PATCH operations deliberately have **no `requestBody`**: with one, kubectl would
build strategic merge patches from these schemas instead of its compiled-in types.

Documents are static, so they are rendered once and cached; callers must not mutate them.

    index()                        {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=..."}, ...}}
    document(group, version)       the document of one group-version (KeyError if not served)
    document_json(group, version)  the same, serialised (the bytes the hash is computed over)
    document_for_path(path)        by index path (`api/v1`, `apis/apps/v1`, `/openapi/v3/apis/apps/v1`)
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from kubeloop.api import registry, schemas
from kubeloop.api.registry import ResourceType, Subresource

Doc = dict[str, Any]

SCALE_GROUP_VERSION = ("autoscaling", "v1")
"""Not a served API group, but the home of `Scale`, which `*/scale` subresources return."""

_JSON = "application/json"
_YAML = "application/yaml"

# ---------------------------------------------------------------------------------------------
# Parameters (inline, as the real v3 documents have them)


def _query(name: str, description: str, type_: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": {"type": type_, "uniqueItems": True}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "description": description, "required": True,
            "schema": {"type": "string", "uniqueItems": True}}


P_NAME = _path_param("name", "name of the resource")
P_NAMESPACE = _path_param("namespace", "object name and auth scope, such as for teams and projects")
P_PRETTY = _query("pretty", "If 'true', then the output is pretty printed.")
P_DRY_RUN = _query("dryRun", "When present, indicates that modifications should not be persisted. "
                   "The only valid value is All.")
P_FIELD_MANAGER = _query("fieldManager", "fieldManager is a name associated with the actor or entity that is "
                         "making these changes.")
P_FIELD_VALIDATION = _query(
    "fieldValidation",
    "fieldValidation instructs the server on how to handle objects in the request containing unknown or "
    "duplicate fields: Ignore, Warn (the default) or Strict, which fails the request with a BadRequest error "
    "naming every unknown field.",
)
P_FORCE = _query("force", "Force is going to \"force\" Apply requests: it re-acquires conflicting fields owned "
                 "by other people. Must be unset for non-apply patch requests.", "boolean")
P_LIST = [
    _query("allowWatchBookmarks", "allowWatchBookmarks requests watch events with type \"BOOKMARK\".", "boolean"),
    _query("continue", "The continue option should be set when retrieving more results from the server."),
    _query("fieldSelector", "A selector to restrict the list of returned objects by their fields. "
           "Defaults to everything."),
    _query("labelSelector", "A selector to restrict the list of returned objects by their labels. "
           "Defaults to everything."),
    _query("limit", "limit is a maximum number of responses to return for a list call.", "integer"),
    _query("resourceVersion", "resourceVersion sets a constraint on what resource versions a request may be "
           "served from."),
    _query("resourceVersionMatch", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
    _query("sendInitialEvents", "`sendInitialEvents=true` may be set together with `watch=true`: the stream "
           "then begins with synthetic events for the current state.", "boolean"),
    _query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    _query("watch", "Watch for changes to the described resources and return them as a stream of add, update, "
           "and remove notifications.", "boolean"),
]
P_DELETE = [
    _query("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
    _query("ignoreStoreReadErrorWithClusterBreakingPotential", "if set to true, it will trigger an unsafe deletion "
           "of the resource in case the normal deletion flow fails with a corrupt object error.", "boolean"),
    _query("orphanDependents", "Deprecated: please use the PropagationPolicy.", "boolean"),
    _query("propagationPolicy", "Whether and how garbage collection will be performed: Orphan, Background or "
           "Foreground."),
]
P_LOG = [
    _query("container", "The container for which to stream logs. Defaults to only container if there is one "
           "container in the pod."),
    _query("follow", "Follow the log stream of the pod.", "boolean"),
    _query("insecureSkipTLSVerifyBackend", "Do not verify the serving certificate of the kubelet.", "boolean"),
    _query("limitBytes", "If set, the number of bytes to read from the server before terminating the log "
           "output.", "integer"),
    _query("previous", "Return previous terminated container logs.", "boolean"),
    _query("sinceSeconds", "A relative time in seconds before the current time from which to show logs.",
           "integer"),
    _query("tailLines", "If set, the number of lines from the end of the logs to show.", "integer"),
    _query("timestamps", "If true, add an RFC3339 timestamp at the beginning of every line of log output.",
           "boolean"),
]
_STREAMS = [
    _query("container", "The container in which to execute the command (or to attach to)."),
    _query("stderr", "Redirect the standard error stream of the pod for this call.", "boolean"),
    _query("stdin", "Redirect the standard input stream of the pod for this call.", "boolean"),
    _query("stdout", "Redirect the standard output stream of the pod for this call.", "boolean"),
    _query("tty", "TTY if true indicates that a tty will be allocated for the call.", "boolean"),
]
P_CONNECT = {
    "exec": [_query("command", "Command is the remote command to execute. argv array. Not executed within a shell."),
             *_STREAMS],
    "attach": _STREAMS,
    "portforward": [_query("ports", "List of ports to forward.", "integer")],
}

# ---------------------------------------------------------------------------------------------
# Operations


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(schema_name: str) -> dict[str, Any]:
    return {mt: {"schema": _ref(schema_name)} for mt in (_JSON, _YAML)}


def _responses(schema_name: str, *codes: str) -> dict[str, Any]:
    text = {"200": "OK", "201": "Created", "202": "Accepted"}
    out: dict[str, Any] = {c: {"description": text[c], "content": _content(schema_name)} for c in codes}
    out["401"] = {"description": "Unauthorized"}
    return out


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


def _op_prefix(group: str, version: str) -> str:
    """`CoreV1`, `AppsV1`, `NetworkingV1` (operationId infix, as Kubernetes names them)."""
    base = group.split(".")[0] if group else "core"
    return base[:1].upper() + base[1:] + version[:1].upper() + version[1:]


def _tag(group: str, version: str) -> str:
    return f"{group.split('.')[0] if group else 'core'}_{version}"


class _Ops:
    """Builds the operations of one resource: ids, tags and GVKs are filled in consistently."""

    def __init__(self, r: ResourceType) -> None:
        self.r = r
        self.prefix = _op_prefix(r.group, r.version)
        self.tag = _tag(r.group, r.version)
        self.scope = "Namespaced" if r.namespaced else ""
        self.schema = schemas.schema_name(r.api_version, r.kind) or ""
        self.list_schema = schemas.schema_name(r.api_version, r.list_kind) or ""

    def op(self, verb: str, action: str, description: str, params: list[dict[str, Any]],
           responses: dict[str, Any], gvk: dict[str, str], suffix: str = "", body: str | None = None,
           scope: str | None = None, infix: str = "") -> dict[str, Any]:
        """One operation; its id reads like Kubernetes' (`patchAppsV1NamespacedDeploymentScale`)."""
        scope = self.scope if scope is None else scope
        op: dict[str, Any] = {
            "tags": [self.tag],
            "description": description,
            "operationId": f"{verb}{self.prefix}{infix}{scope}{self.r.kind}{suffix}",
            "parameters": params,
            "responses": responses,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        }
        if body:
            op["requestBody"] = {"content": {"*/*": {"schema": _ref(body)}}, "required": True}
        return op

    def write_ops(self, what: str, schema: str, gvk: dict[str, str], suffix: str = "") -> dict[str, Any]:
        """`get`, `put` and `patch` of an item or a status/scale subresource."""
        write = [P_DRY_RUN, P_FIELD_MANAGER, P_FIELD_VALIDATION]
        return {
            "get": self.op("read", "get", f"read {what}", [], _responses(schema, "200"), gvk, suffix),
            "put": self.op("replace", "put", f"replace {what}", write, _responses(schema, "200", "201"), gvk,
                           suffix, body=schema),
            # No requestBody on purpose: see the module docstring.
            "patch": self.op("patch", "patch", f"partially update {what}", [*write, P_FORCE],
                             _responses(schema, "200", "201"), gvk, suffix),
        }


def _resource_paths(r: ResourceType) -> dict[str, Any]:
    o = _Ops(r)
    gvk = _gvk(r.group, r.version, r.kind)
    base = r.base_path("{namespace}") if r.namespaced else r.base_path()
    scope_params = [P_NAMESPACE] if r.namespaced else []
    item_params = [P_NAME, *scope_params, P_PRETTY]
    kind = r.kind
    paths: dict[str, Any] = {}

    paths[base] = {
        "get": o.op("list", "list", f"list or watch objects of kind {kind}", P_LIST,
                    _responses(o.list_schema, "200"), gvk),
        "post": o.op("create", "post", f"create a {kind}", [P_DRY_RUN, P_FIELD_MANAGER, P_FIELD_VALIDATION],
                     _responses(o.schema, "200", "201", "202"), gvk, body=o.schema),
        "delete": o.op("delete", "deletecollection", f"delete collection of {kind}",
                       [P_DRY_RUN, *P_DELETE, *P_LIST], _responses(schemas.full_name("meta.Status"), "200"), gvk,
                       body=schemas.full_name("meta.DeleteOptions"), infix="Collection"),
        "parameters": [*scope_params, P_PRETTY],
    }

    item = f"{base}/{{name}}"
    paths[item] = {
        **o.write_ops(f"the specified {kind}", o.schema, gvk),
        "delete": o.op("delete", "delete", f"delete a {kind}", [P_DRY_RUN, *P_DELETE],
                       _responses(o.schema, "200", "202"), gvk, body=schemas.full_name("meta.DeleteOptions")),
        "parameters": item_params,
    }

    for sub in r.subresources:
        paths.update(_subresource_paths(o, sub, item, item_params))

    if r.namespaced:
        paths[r.base_path()] = {
            "get": o.op("list", "list", f"list or watch objects of kind {kind}", P_LIST,
                        _responses(o.list_schema, "200"), gvk, "ForAllNamespaces", scope=""),
            "parameters": [P_PRETTY],
        }
    return paths


def _subresource_paths(o: _Ops, sub: Subresource, item: str, item_params: list[dict[str, Any]]) -> dict[str, Any]:
    r = o.r
    path = f"{item}/{sub.name}"
    suffix = sub.name[:1].upper() + sub.name[1:]
    if sub.name == "status":
        return {path: {**o.write_ops(f"status of the specified {r.kind}", o.schema,
                                     _gvk(r.group, r.version, r.kind), suffix),
                       "parameters": item_params}}
    if sub.name == "scale" or sub.kind == "Scale":
        scale = schemas.full_name("autoscaling.Scale")
        gvk = _gvk(sub.group or "autoscaling", sub.version or "v1", "Scale")
        return {path: {**o.write_ops(f"scale of the specified {r.kind}", scale, gvk, suffix),
                       "parameters": item_params}}
    if sub.name == "log":
        text = {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "401": {"description": "Unauthorized"}}
        return {path: {"get": o.op("read", "get", f"read log of the specified {r.kind}", P_LOG, text,
                                   _gvk(r.group, r.version, r.kind), "Log"),
                       "parameters": item_params}}
    if sub.name == "binding":
        binding = schemas.full_name("core.Binding")
        gvk = _gvk(r.group, r.version, sub.kind)
        return {path: {"post": o.op("create", "post", f"create binding of a {r.kind}",
                                    [P_DRY_RUN, P_FIELD_MANAGER, P_FIELD_VALIDATION],
                                    _responses(binding, "200", "201", "202"), gvk, "Binding", body=binding),
                       "parameters": item_params}}
    # connect subresources (exec, attach, portforward, ...): opaque streams
    stream = {"200": {"description": "OK", "content": {"*/*": {"schema": {"type": "string"}}}},
              "401": {"description": "Unauthorized"}}
    gvk = _gvk(r.group, r.version, sub.kind or r.kind)
    params = P_CONNECT.get(sub.name, [])
    ops: dict[str, Any] = {}
    for method in ("get", "post"):
        ops[method] = o.op("connect", "connect", f"connect {method.upper()} requests to {sub.name} of {r.kind}",
                           params, stream, gvk, suffix, infix=method.capitalize())
    return {path: {**ops, "parameters": [P_NAME, P_NAMESPACE] if r.namespaced else [P_NAME]}}


# ---------------------------------------------------------------------------------------------
# Documents


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _served() -> list[tuple[str, str]]:
    gvs = list(registry.group_versions())
    if SCALE_GROUP_VERSION not in gvs:
        gvs.append(SCALE_GROUP_VERSION)
    return gvs


def _schema_refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            out.add(ref.rsplit("/", 1)[1])
        for v in node.values():
            _schema_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _schema_refs(v, out)


@functools.cache
def _build(group: str, version: str) -> Doc:
    if (group, version) not in _served():
        raise KeyError(f"{_gv_path(group, version)} is not served")
    paths: dict[str, Any] = {}
    roots: set[str] = set()
    for r in registry.resources_in(group, version):
        paths.update(_resource_paths(r))
        for kind in (r.kind, r.list_kind):
            name = schemas.schema_name(r.api_version, kind)
            if name:
                roots.add(name)
    if (group, version) == SCALE_GROUP_VERSION:
        roots.add(schemas.full_name("autoscaling.Scale"))
    _schema_refs(paths, roots)
    components = {name: schemas.openapi_schema(name) for name in schemas.referenced(roots)}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication",
                                                "name": "authorization", "in": "header"}},
            "schemas": components,
        },
    }


def document(group: str, version: str) -> Doc:
    """The OpenAPI v3 document of one group-version (`""`, `"v1"` for the core group). Cached: do not mutate."""
    return _build(group, version)


@functools.cache
def document_json(group: str, version: str) -> bytes:
    """`document()` serialised compactly; the index hash is computed over exactly these bytes."""
    return json.dumps(document(group, version), separators=(",", ":"), sort_keys=True).encode()


@functools.cache
def document_hash(group: str, version: str) -> str:
    """Stable content hash of a document (upper-case SHA-512 hex, like the apiserver's)."""
    return hashlib.sha512(document_json(group, version)).hexdigest().upper()


@functools.cache
def _index() -> Doc:
    return {
        "paths": {
            _gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash={document_hash(g, v)}"}
            for g, v in _served()
        }
    }


def index() -> Doc:
    """The `/openapi/v3` discovery index: every served group-version plus autoscaling/v1. Cached."""
    return _index()


def document_for_path(path: str) -> Doc | None:
    """The document for an index path (`api/v1`, `apis/apps/v1`, optionally under `/openapi/v3/`), or None."""
    p = path.split("?", 1)[0].strip("/")
    if p.startswith("openapi/v3/"):
        p = p[len("openapi/v3/"):]
    parts = p.split("/")
    if len(parts) == 2 and parts[0] == "api":
        gv = ("", parts[1])
    elif len(parts) == 3 and parts[0] == "apis":
        gv = (parts[1], parts[2])
    else:
        return None
    if gv not in _served():
        return None
    return document(*gv)
