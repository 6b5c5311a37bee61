"""Parsing Kubernetes REST paths into (resource, namespace, name, subresource).

    /api/v1/namespaces/{ns}/{plural}[/{name}[/{subresource}]]
    /api/v1/{plural}[/{name}[/{subresource}]]          (cluster-scoped, or all namespaces)
    /apis/{group}/{version}/...                          (same shapes)

`/api/v1/namespaces/{name}[/status|/finalize]` is the Namespace resource itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeloop.api.errors import NotFound
from kubeloop.api.registry import ResourceType, lookup


@dataclass(frozen=True)
class ResourcePath:
    resource: ResourceType
    namespace: str | None  # None: all namespaces (lists/watches) or cluster-scoped
    name: str | None
    subresource: str

    @property
    def is_collection(self) -> bool:
        return self.name is None


def parse(path: str) -> ResourcePath | None:
    """The resource a path names, or None when it is not a resource path at all."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3 and lookup(group, version, rest[2]) is not None:
        namespace, rest = rest[1], rest[2:]
    resource = lookup(group, version, rest[0])
    if resource is None:
        gv = f"{group}/{version}" if group else version
        raise NotFound(f"the server could not find the requested resource ({gv} {rest[0]})")
    name = rest[1] if len(rest) >= 2 else None
    sub = "/".join(rest[2:])
    if namespace is not None and not resource.namespaced:
        raise NotFound("the server could not find the requested resource")
    return ResourcePath(resource, namespace, name, sub)
