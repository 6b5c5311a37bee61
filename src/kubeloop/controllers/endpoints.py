"""Endpoints, EndpointSlices and slice mirroring: which pods back each Service.

For a Service with a selector, the pods of its namespace that match, have an address and
are not finished become endpoints: ready ones (Ready condition, not terminating), not-ready
ones (or all of them as ready when `publishNotReadyAddresses` or the
`service.alpha.kubernetes.io/tolerate-unready-endpoints` annotation says so), and
terminating ones (slices only, with serving/terminating conditions). Named target ports are
resolved per pod, so pods that number a port differently land in different subsets/slices.
The Endpoints object keeps at most 1000 addresses (then the over-capacity annotation);
slices hold at most 100 endpoints each. A Service without a selector keeps the Endpoints its
user writes, which the mirroring part copies into EndpointSlices.
"""

from __future__ import annotations

from typing import Any

from kubeloop.api import times
from kubeloop.api import errors
from kubeloop.api.pods import is_ready, is_terminal
from kubeloop.api.registry import by_plural
from kubeloop.api.selectors import selector_from_map

from .base import Controller, split_key

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"
MIRROR_CONTROLLER = "endpointslicemirroring-controller.k8s.io"
TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
LAST_CHANGE = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
HEADLESS_LABEL = "service.kubernetes.io/headless"
MAX_ENDPOINTS_ADDRESSES = 1000
MAX_SLICE_ENDPOINTS = 100


def resolve_target_port(port: Obj, pod: Obj) -> int | None:
    """The number a service port reaches on this pod (named ports are looked up per pod)."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = port.get("protocol", "TCP")
    for container in (pod.get("spec") or {}).get("containers") or []:
        for cport in container.get("ports") or []:
            if cport.get("name") == target and cport.get("protocol", "TCP") == protocol:
                return int(cport["containerPort"])
    return None


def _publish_not_ready(svc: Obj) -> bool:
    spec = svc.get("spec") or {}
    annotations = svc["metadata"].get("annotations") or {}
    return bool(spec.get("publishNotReadyAddresses")) or annotations.get(TOLERATE_UNREADY, "").lower() == "true"


def selected_pods(svc: Obj, pods: list[Obj]) -> list[Obj]:
    selector = (svc.get("spec") or {}).get("selector")
    sel = selector_from_map(selector)
    ns = svc["metadata"]["namespace"]
    out = [p for p in pods if p["metadata"].get("namespace") == ns and sel.matches(p["metadata"].get("labels"))
           and (p.get("status") or {}).get("podIP") and not is_terminal(p)]
    return sorted(out, key=lambda p: p["metadata"]["name"])


def _target_ref(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}


def _port_mapping(svc: Obj, pod: Obj) -> tuple[tuple[str, int, str], ...] | None:
    mapping = []
    for port in (svc.get("spec") or {}).get("ports") or []:
        number = resolve_target_port(port, pod)
        if number is None:
            continue
        mapping.append((port.get("name", ""), number, port.get("protocol", "TCP")))
    return tuple(mapping) if mapping else None


def desired_subsets(svc: Obj, pods: list[Obj]) -> tuple[list[Obj], bool]:
    """Endpoints subsets (grouped by port mapping) and whether they were truncated at 1000."""
    publish = _publish_not_ready(svc)
    groups: dict[tuple[tuple[str, int, str], ...], dict[str, list[Obj]]] = {}
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp") and not publish:
            continue
        mapping = _port_mapping(svc, pod)
        if mapping is None:
            continue
        address: Obj = {"ip": pod["status"]["podIP"], "targetRef": _target_ref(pod)}
        if (pod.get("spec") or {}).get("nodeName"):
            address["nodeName"] = pod["spec"]["nodeName"]
        spec = svc.get("spec") or {}
        hostname = (pod.get("spec") or {}).get("hostname")
        if hostname and (pod.get("spec") or {}).get("subdomain") == svc["metadata"]["name"] \
                and spec.get("clusterIP") == "None":
            address["hostname"] = hostname
        group = groups.setdefault(mapping, {"addresses": [], "notReadyAddresses": []})
        group["addresses" if publish or is_ready(pod) else "notReadyAddresses"].append(address)
    subsets = []
    total = 0
    truncated = False
    for mapping, group in sorted(groups.items()):
        subset: Obj = {}
        for kind in ("addresses", "notReadyAddresses"):
            room = MAX_ENDPOINTS_ADDRESSES - total
            items = sorted(group[kind], key=lambda a: a["ip"])
            if len(items) > room:
                items, truncated = items[:room], True
            total += len(items)
            if items:
                subset[kind] = items
        if subset:
            subset["ports"] = [{"name": n, "port": p, "protocol": proto} if n else {"port": p, "protocol": proto}
                               for n, p, proto in mapping]
            subsets.append(subset)
    return subsets, truncated


def desired_slices(svc: Obj, pods: list[Obj]) -> list[tuple[list[Obj], list[Obj]]]:
    """(ports, endpoints) for each slice the service needs, at most 100 endpoints each."""
    publish = _publish_not_ready(svc)
    groups: dict[tuple[tuple[str, int, str], ...], list[Obj]] = {}
    for pod in pods:
        mapping = _port_mapping(svc, pod)
        if mapping is None:
            continue
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        serving = is_ready(pod)
        endpoint: Obj = {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {"ready": (serving or publish) and not terminating, "serving": serving or publish,
                           "terminating": terminating},
            "targetRef": _target_ref(pod),
        }
        if (pod.get("spec") or {}).get("nodeName"):
            endpoint["nodeName"] = pod["spec"]["nodeName"]
        hostname = (pod.get("spec") or {}).get("hostname")
        if hostname and (pod.get("spec") or {}).get("subdomain") == svc["metadata"]["name"]:
            endpoint["hostname"] = hostname
        groups.setdefault(mapping, []).append(endpoint)
    out = []
    for mapping, endpoints in sorted(groups.items()):
        ports = [{"name": n, "port": p, "protocol": proto} for n, p, proto in mapping]
        endpoints.sort(key=lambda e: e["addresses"][0])
        for i in range(0, len(endpoints), MAX_SLICE_ENDPOINTS):
            out.append((ports, endpoints[i:i + MAX_SLICE_ENDPOINTS]))
    if not out:
        out.append(([], []))  # the placeholder slice Kubernetes keeps for a service without endpoints
    return out


def _owner(svc: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "name": svc["metadata"]["name"], "uid": svc["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


class EndpointsController(Controller):
    """Keeps Endpoints and EndpointSlices of selector Services in step with their pods."""

    name = "endpoints"
    workers = 2

    def __init__(self, client: Any, informers: Any) -> None:
        super().__init__(client, informers)
        self.services = informers.get("services")
        self.pods = informers.get("pods")
        self.endpoints = informers.get("endpoints")
        self.slices = informers.get("endpointslices")

    def setup(self) -> None:
        self.services.add_handler(lambda key, old, new: self.queue.add(key))
        self.pods.add_handler(self._on_pod)
        self.endpoints.add_handler(self._on_owned)
        self.slices.add_handler(self._on_slice)

    def _on_pod(self, key: str, old: Obj | None, new: Obj | None) -> None:
        for pod in (old, new):
            if pod is None:
                continue
            ns = pod["metadata"].get("namespace", "")
            labels = pod["metadata"].get("labels") or {}
            for svc in self.services.list(ns):
                selector = (svc.get("spec") or {}).get("selector")
                if selector and selector_from_map(selector).matches(labels):
                    self.queue.add(f"{ns}/{svc['metadata']['name']}")

    def _on_owned(self, key: str, old: Obj | None, new: Obj | None) -> None:
        self.queue.add(key)  # someone changed our output: put it back

    def _on_slice(self, key: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        svc = (obj["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL)
        if svc:
            self.queue.add(f"{obj['metadata']['namespace']}/{svc}")

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        svc = self.services.get(key)
        if svc is None or not (svc.get("spec") or {}).get("selector") or \
                (svc.get("spec") or {}).get("type") == "ExternalName":
            # Deleted services' objects go with their ownerReferences (garbage collection);
            # services without a selector keep the user's Endpoints (mirrored below).
            if svc is not None and not (svc.get("spec") or {}).get("selector"):
                await self._mirror(svc)
            return
        pods = selected_pods(svc, self.pods.list(ns))
        await self._sync_endpoints(svc, pods)
        await self._sync_slices(svc, pods, SLICE_CONTROLLER, desired_slices(svc, pods))

    async def _sync_endpoints(self, svc: Obj, pods: list[Obj]) -> None:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        subsets, truncated = desired_subsets(svc, pods)
        labels = dict(svc["metadata"].get("labels") or {})
        if (svc.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS_LABEL] = ""
        current = self.endpoints.get(f"{ns}/{name}")
        annotations = {} if current is None else dict(current["metadata"].get("annotations") or {})
        if truncated:
            annotations[OVER_CAPACITY] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY, None)
        resource = by_plural("endpoints")
        if current is not None and (current.get("subsets") or []) == subsets and \
                (current["metadata"].get("labels") or {}) == labels and \
                (current["metadata"].get("annotations") or {}) == {**annotations, **(
                    {LAST_CHANGE: annotations[LAST_CHANGE]} if LAST_CHANGE in annotations else {})}:
            return
        annotations[LAST_CHANGE] = times.now()
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                     "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
                     "subsets": subsets}
        if not labels:
            del body["metadata"]["labels"]
        if current is None:
            try:
                await self.client.create(resource, ns, body)
            except errors.AlreadyExists:
                self.queue.add(f"{ns}/{name}")
        else:
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            await self.client.update(resource, body)

    def _existing_slices(self, svc: Obj, manager: str) -> list[Obj]:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        return sorted((s for s in self.slices.list(ns)
                       if (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == name
                       and (s["metadata"].get("labels") or {}).get(MANAGED_BY) == manager),
                      key=lambda s: s["metadata"]["name"])

    async def _sync_slices(self, svc: Obj, pods: list[Obj] | None, manager: str,
                           wanted: list[tuple[list[Obj], list[Obj]]]) -> None:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        resource = by_plural("endpointslices")
        existing = self._existing_slices(svc, manager)
        labels = {SERVICE_NAME_LABEL: name, MANAGED_BY: manager}
        if (svc.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS_LABEL] = ""
        for i, (ports, endpoints) in enumerate(wanted):
            body: Obj = {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"namespace": ns, "labels": labels, "ownerReferences": [_owner(svc)]},
                "addressType": "IPv4", "ports": ports, "endpoints": endpoints,
            }
            if i < len(existing):
                cur = existing[i]
                if cur.get("ports") == ports and (cur.get("endpoints") or []) == endpoints and \
                        (cur["metadata"].get("labels") or {}) == labels:
                    continue
                body["metadata"]["name"] = cur["metadata"]["name"]
                body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
                await self.client.update(resource, body)
            else:
                body["metadata"]["generateName"] = f"{name}-"
                await self.client.create(resource, ns, body)
        for extra in existing[len(wanted):]:
            try:
                await self.client.delete(resource, ns, extra["metadata"]["name"])
            except errors.NotFound:
                pass

    async def _mirror(self, svc: Obj) -> None:
        """A selector-less Service: copy the user's Endpoints into EndpointSlices."""
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        ep = self.endpoints.get(f"{ns}/{name}")
        wanted: list[tuple[list[Obj], list[Obj]]] = []
        if ep is not None and not (ep["metadata"].get("labels") or {}).get("endpointslice.kubernetes.io/skip-mirror"):
            for subset in ep.get("subsets") or []:
                ports = [{"name": p.get("name", ""), "port": p["port"], "protocol": p.get("protocol", "TCP")}
                         for p in subset.get("ports") or []]
                endpoints = []
                for kind, ready in (("addresses", True), ("notReadyAddresses", False)):
                    for a in subset.get(kind) or []:
                        e: Obj = {"addresses": [a["ip"]], "conditions": {"ready": ready}}
                        if a.get("nodeName"):
                            e["nodeName"] = a["nodeName"]
                        if a.get("hostname"):
                            e["hostname"] = a["hostname"]
                        endpoints.append(e)
                for i in range(0, max(len(endpoints), 1), MAX_SLICE_ENDPOINTS):
                    wanted.append((ports, endpoints[i:i + MAX_SLICE_ENDPOINTS]))
        elif ep is not None:
            return  # the API server maintains default/kubernetes itself
        await self._sync_slices(svc, None, MIRROR_CONTROLLER, wanted)
