"""API discovery documents, derived from the kind registry.

Both forms kubectl understands: legacy (`/api` APIVersions, `/apis` APIGroupList, one
APIResourceList per group-version) and aggregated v2 (`APIGroupDiscoveryList`, chosen by
the Accept header), which saves kubectl one request per group-version. Documents are
static, so they are rendered once.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from kubeloop.api.registry import VERBS, ResourceType, group_versions, resources_in

AGGREGATED_MEDIA_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

VERSION_INFO = {
    "major": "1",
    "minor": "32",  # kubectl on these machines is a dispatcher that picks its binary by this
    "gitVersion": "v1.32.0",
    "gitCommit": "kubeloop",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def wants_aggregated(accept: str) -> bool:
    return "as=APIGroupDiscoveryList" in accept and "v=v2" in accept


def _verbs(resource: ResourceType) -> list[str]:
    return list(VERBS)


@cache
def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_entry(group: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{g}/{v}", "version": v} for g, v in group_versions() if g == group]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


@cache
def api_group_list() -> dict[str, Any]:
    groups: list[str] = []
    for g, _ in group_versions():
        if g and g not in groups:
            groups.append(g)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_entry(g) for g in groups]}


@cache
def api_group(group: str) -> dict[str, Any] | None:
    if not any(g == group for g, _ in group_versions()):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group)}


@cache
def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    resources = resources_in(group, version)
    if not resources:
        return None
    items: list[dict[str, Any]] = []
    for r in resources:
        entry: dict[str, Any] = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": _verbs(r),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        items.append(entry)
        for sub in r.subresources:
            sub_entry: dict[str, Any] = {
                "name": f"{r.plural}/{sub.name}",
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": sub.kind or r.kind,
                "verbs": list(sub.verbs),
            }
            if sub.group is not None:
                sub_entry["group"], sub_entry["version"] = sub.group, sub.version
            items.append(sub_entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": items}


def _aggregated_group(group: str) -> dict[str, Any]:
    versions = []
    for g, v in group_versions():
        if g != group:
            continue
        resources = []
        for r in resources_in(g, v):
            entry: dict[str, Any] = {
                "resource": r.plural,
                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                "scope": "Namespaced" if r.namespaced else "Cluster",
                "singularResource": r.singular,
                "verbs": _verbs(r),
            }
            if r.short_names:
                entry["shortNames"] = list(r.short_names)
            if r.categories:
                entry["categories"] = list(r.categories)
            if r.subresources:
                entry["subresources"] = [
                    {
                        "subresource": s.name,
                        "responseKind": {
                            "group": s.group if s.group is not None else r.group,
                            "version": s.version or r.version,
                            "kind": s.kind or r.kind,
                        },
                        "verbs": list(s.verbs),
                    }
                    for s in r.subresources
                ]
            resources.append(entry)
        versions.append({"version": v, "resources": resources, "freshness": "Current"})
    return {"metadata": {"name": group, "creationTimestamp": None}, "versions": versions}


@cache
def aggregated(legacy: bool) -> dict[str, Any]:
    """`/api` (legacy=True, the core group) or `/apis` (every named group)."""
    if legacy:
        items = [_aggregated_group("")]
    else:
        groups: list[str] = []
        for g, _ in group_versions():
            if g and g not in groups:
                groups.append(g)
        items = [_aggregated_group(g) for g in groups]
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}
