"""The kind registry: every resource kubeloop serves, with the names kubectl resolves.

One `ResourceType` per resource: group/version, Kind, plural and singular names, short names,
categories (`kubectl get all`), scope and subresources. Discovery, OpenAPI, routing and storage
keys are all derived from this table, so adding a kind is one entry here plus its schema,
defaults, validation and printer. Pure data; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
"""A Kubernetes object as JSON-shaped data (what the API accepts and returns)."""

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str | None = None  # when the subresource's kind lives in another group (Scale)
    version: str | None = None


STATUS = Subresource("status", "", ("get", "patch", "update"))
SCALE = Subresource("scale", "Scale", ("get", "patch", "update"), group="autoscaling", version="v1")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """`services` or `deployments.apps`: the name used in error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def base_path(self, namespace: str | None = None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{root}/namespaces/{namespace}/{self.plural}"
        return f"{root}/{self.plural}"

    def has_subresource(self, name: str) -> bool:
        return any(s.name == name for s in self.subresources)


_POD_SUBS = (
    STATUS,
    Subresource("log", "Pod", ("get",)),
    Subresource("exec", "PodExecOptions", ("create", "get")),
    Subresource("attach", "PodAttachOptions", ("create", "get")),
    Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
    Subresource("binding", "Binding", ("create",)),
)

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", "namespace", False, ("ns",), (), (STATUS,)),
    ResourceType("", "v1", "Node", "nodes", "node", False, ("no",), (), (STATUS,)),
    ResourceType("", "v1", "Pod", "pods", "pod", True, ("po",), ("all",), _POD_SUBS),
    ResourceType("", "v1", "Service", "services", "service", True, ("svc",), ("all",), (STATUS,)),
    ResourceType("", "v1", "Endpoints", "endpoints", "endpoints", True, ("ep",)),
    ResourceType("", "v1", "Secret", "secrets", "secret", True),
    ResourceType("", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",)),
    ResourceType("", "v1", "Event", "events", "event", True, ("ev",)),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", True, ("sa",)),
    ResourceType(
        "", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", True, ("rc",), ("all",),
        (STATUS, SCALE),
    ),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", "replicaset", True, ("rs",), ("all",), (STATUS, SCALE)),
    ResourceType("apps", "v1", "Deployment", "deployments", "deployment", True, ("deploy",), ("all",), (STATUS, SCALE)),
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", True),
    ResourceType("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", True, ("ing",), (), (STATUS,)),
    ResourceType("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", False),
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", "lease", True),
)

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    return _BY_PATH.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    return _BY_KIND.get((api_version, kind))


def by_plural(plural: str) -> ResourceType:
    """The resource with this plural name in any group (plurals are unique in kubeloop)."""
    for r in RESOURCES:
        if r.plural == plural:
            return r
    raise KeyError(plural)


def group_versions() -> list[tuple[str, str]]:
    """(group, version) pairs in discovery order, core group first."""
    seen: list[tuple[str, str]] = []
    for r in RESOURCES:
        gv = (r.group, r.version)
        if gv not in seen:
            seen.append(gv)
    return seen


def resources_in(group: str, version: str) -> list[ResourceType]:
    return [r for r in RESOURCES if r.group == group and r.version == version]


@dataclass
class ObjectKey:
    """Where an object lives: its resource, namespace ('' for cluster-scoped) and name."""

    resource: ResourceType
    namespace: str
    name: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def storage_key(self) -> str:
        return storage_key(self.resource, self.namespace, self.name)


def storage_prefix(resource: ResourceType, namespace: str | None = None) -> str:
    """Storage key prefix of a resource (and namespace): `/core/services/default/`."""
    base = f"/{resource.group or 'core'}/{resource.plural}/"
    if resource.namespaced and namespace:
        return f"{base}{namespace}/"
    return base


def storage_key(resource: ResourceType, namespace: str, name: str) -> str:
    if resource.namespaced:
        return f"{storage_prefix(resource, namespace)}{name}"
    return f"{storage_prefix(resource)}{name}"
