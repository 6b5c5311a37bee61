"""Defaulting: what the API server fills in before validating and storing an object.

`apply_defaults(resource, obj)` mutates `obj` in place, reproducing Kubernetes 1.32's
`SetDefaults_*` functions (pkg/apis/{core,apps,discovery,networking}/v1/defaults.go), the
declarative `+default` markers, and the few admission/strategy fills a real cluster always
shows on created objects (a Pod's `serviceAccountName: default`, `priority: 0` and
`preemptionPolicy`; a Namespace's `spec.finalizers: [kubernetes]` and `status.phase: Active`).
Only fields that are absent (or empty, where Go tests for the zero value) are touched, so
applying defaults twice changes nothing.

Service and Endpoints are defaulted elsewhere (kubeloop.api.services / endpoints). Pure code.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Callable

from .registry import ResourceType

__all__ = [
    "apply_defaults",
    "default_pod_spec",
    "default_pod_template",
    "default_container",
    "default_probe",
    "image_pull_policy",
]

Obj = dict[str, Any]

DEFAULT_TERMINATION_GRACE_PERIOD = 30
DEFAULT_SCHEDULER = "default-scheduler"
DEFAULT_MODE = 0o644  # 420: Secret/ConfigMap/DownwardAPI/Projected volume defaultMode
TERMINATION_MESSAGE_PATH = "/dev/termination-log"


def _obj(parent: Obj, key: str) -> Obj:
    """parent[key] as a dict, created (or replaced when null) if needed."""
    value = parent.get(key)
    if not isinstance(value, dict):
        value = {}
        parent[key] = value
    return value


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _setdefault(obj: Obj, key: str, value: Any) -> None:
    """Set `key` when absent, null or the empty string (Go's zero-value test)."""
    if obj.get(key) in (None, ""):
        obj[key] = value


# ---------------------------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------------------------

_NAME_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"(?:{_DOMAIN}/)?{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?"
)


def _image_tag(image: str) -> str | None:
    """The tag `parsers.ParseImageName` reports: `latest` when neither tag nor digest is given,
    "" for digest-only references, None when the reference does not parse."""
    m = _REFERENCE.fullmatch(image or "")
    if not m:
        return None
    tag, digest = m.group("tag"), m.group("digest")
    if tag:
        return tag
    return "" if digest else "latest"


def image_pull_policy(image: str) -> str:
    """`Always` for `:latest` or an untagged image, `IfNotPresent` otherwise."""
    return "Always" if _image_tag(image) == "latest" else "IfNotPresent"


# ---------------------------------------------------------------------------------------------
# pod pieces
# ---------------------------------------------------------------------------------------------


def _default_http_get(action: Obj) -> None:
    _setdefault(action, "path", "/")
    _setdefault(action, "scheme", "HTTP")


def _default_handler(handler: Any) -> None:
    if not isinstance(handler, dict):
        return
    if isinstance(handler.get("httpGet"), dict):
        _default_http_get(handler["httpGet"])
    if isinstance(handler.get("grpc"), dict) and handler["grpc"].get("service") is None:
        handler["grpc"]["service"] = ""


def default_probe(probe: Any) -> None:
    """SetDefaults_Probe and the handler defaults inside it."""
    if not isinstance(probe, dict):
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
        if not probe.get(key):
            probe[key] = value
    _default_handler(probe)


def _default_field_ref(ref: Any) -> None:
    if isinstance(ref, dict):
        _setdefault(ref, "apiVersion", "v1")


def default_container(container: Obj) -> None:
    """SetDefaults_Container, ports, env, probes and lifecycle handlers."""
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = image_pull_policy(container.get("image") or "")
    _setdefault(container, "terminationMessagePath", TERMINATION_MESSAGE_PATH)
    _setdefault(container, "terminationMessagePolicy", "File")
    if not isinstance(container.get("resources"), dict):
        container["resources"] = {}
    for port in _dicts(container.get("ports")):
        _setdefault(port, "protocol", "TCP")
    for env in _dicts(container.get("env")):
        value_from = env.get("valueFrom")
        if isinstance(value_from, dict):
            _default_field_ref(value_from.get("fieldRef"))
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        default_probe(container.get(key))
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        _default_handler(lifecycle.get("postStart"))
        _default_handler(lifecycle.get("preStop"))


_VOLUME_SOURCES = (
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs",
    "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
    "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
    "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral",
    "image",
)  # fmt: skip


def _default_volume(volume: Obj) -> None:
    if not any(volume.get(k) is not None for k in _VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(key)
        if isinstance(source, dict) and source.get("defaultMode") is None:
            source["defaultMode"] = DEFAULT_MODE
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""
    downward = volume.get("downwardAPI")
    if isinstance(downward, dict):
        for item in _dicts(downward.get("items")):
            _default_field_ref(item.get("fieldRef"))
    projected = volume.get("projected")
    if isinstance(projected, dict):
        for source in _dicts(projected.get("sources")):
            token = source.get("serviceAccountToken")
            if isinstance(token, dict) and token.get("expirationSeconds") is None:
                token["expirationSeconds"] = 3600
            downward = source.get("downwardAPI")
            if isinstance(downward, dict):
                for item in _dicts(downward.get("items")):
                    _default_field_ref(item.get("fieldRef"))
    image = volume.get("image")
    if isinstance(image, dict) and not image.get("pullPolicy"):
        image["pullPolicy"] = "Always" if _image_tag(image.get("reference") or "") == "latest" else "IfNotPresent"


def default_pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec plus container, probe and volume defaults (Pods and templates)."""
    _setdefault(spec, "dnsPolicy", "ClusterFirst")
    _setdefault(spec, "restartPolicy", "Always")
    if not isinstance(spec.get("securityContext"), dict):
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = DEFAULT_TERMINATION_GRACE_PERIOD
    _setdefault(spec, "schedulerName", DEFAULT_SCHEDULER)
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in _dicts(spec.get(key)):
            default_container(container)
    for volume in _dicts(spec.get("volumes")):
        _default_volume(volume)


def default_pod_template(template: Any) -> None:
    """A PodTemplateSpec inside a workload: PodSpec defaults only (no Pod-only fills)."""
    if not isinstance(template, dict):
        return
    default_pod_spec(_obj(template, "spec"))


def _requests_from_limits(containers: Any) -> None:
    for container in _dicts(containers):
        resources = container.get("resources")
        if not isinstance(resources, dict) or not isinstance(resources.get("limits"), dict):
            continue
        requests = resources.get("requests")
        if not isinstance(requests, dict):
            requests = resources["requests"] = {}
        for key, value in resources["limits"].items():
            requests.setdefault(key, value)


def _host_network_ports(containers: Any) -> None:
    for container in _dicts(containers):
        for port in _dicts(container.get("ports")):
            if not port.get("hostPort"):
                port["hostPort"] = port.get("containerPort", 0)


def _default_pod(obj: Obj) -> None:
    spec = _obj(obj, "spec")
    default_pod_spec(spec)
    # SetDefaults_Pod: requests default to limits; service links on; host-network host ports.
    _requests_from_limits(spec.get("containers"))
    _requests_from_limits(spec.get("initContainers"))
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork") is True:
        _host_network_ports(spec.get("containers"))
        _host_network_ports(spec.get("initContainers"))
    # ServiceAccount admission (and v1 conversion mirroring the deprecated field).
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = name
    spec["serviceAccount"] = name
    # Priority admission with no PriorityClass: priority 0, default preemption policy.
    if spec.get("priority") is None and not spec.get("priorityClassName"):
        spec["priority"] = 0
    _setdefault(spec, "preemptionPolicy", "PreemptLowerPriority")


def _default_replication_controller(obj: Obj) -> None:
    spec = _obj(obj, "spec")
    template = spec.get("template")
    labels = None
    if isinstance(template, dict):
        labels = (template.get("metadata") or {}).get("labels") if isinstance(template.get("metadata"), dict) else None
    if labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        metadata = _obj(obj, "metadata")
        if not metadata.get("labels"):
            metadata["labels"] = dict(labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    default_pod_template(template)


def _default_replica_set(obj: Obj) -> None:
    spec = _obj(obj, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    default_pod_template(spec.get("template"))


def _default_deployment(obj: Obj) -> None:
    spec = _obj(obj, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = _obj(spec, "strategy")
    _setdefault(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _obj(strategy, "rollingUpdate")
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = "25%"
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = "25%"
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    default_pod_template(spec.get("template"))


def _default_secret(obj: Obj) -> None:
    _setdefault(obj, "type", "Opaque")
    # v1 -> internal conversion: stringData is write-only and wins over data.
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for key, value in string_data.items():
            text = value if isinstance(value, str) else "" if value is None else str(value)
            data[key] = base64.b64encode(text.encode("utf-8")).decode("ascii")


def _default_namespace(obj: Obj) -> None:
    metadata = _obj(obj, "metadata")
    name = metadata.get("name")
    if name:
        labels = _obj(metadata, "labels")
        labels["kubernetes.io/metadata.name"] = name
    spec = _obj(obj, "spec")
    if not spec.get("finalizers"):
        spec["finalizers"] = ["kubernetes"]
    status = _obj(obj, "status")
    _setdefault(status, "phase", "Active")


def _default_node(obj: Obj) -> None:
    _obj(obj, "spec")
    status = obj.get("status")
    if isinstance(status, dict) and status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])


def _default_endpoint_slice(obj: Obj) -> None:
    for port in _dicts(obj.get("ports")):
        if port.get("name") is None:
            port["name"] = ""
        if port.get("protocol") is None:
            port["protocol"] = "TCP"


def _default_ingress(obj: Obj) -> None:
    _obj(obj, "spec")
    _obj(_obj(obj, "status"), "loadBalancer")


def _default_ingress_class(obj: Obj) -> None:
    spec = _obj(obj, "spec")
    params = spec.get("parameters")
    if isinstance(params, dict) and params.get("scope") is None:
        params["scope"] = "Cluster"


def _default_event(obj: Obj) -> None:
    # v1 Event fields that Go always serialises (no omitempty, or non-pointer structs).
    _obj(obj, "involvedObject")
    _obj(obj, "source")
    if obj.get("reportingComponent") is None:
        obj["reportingComponent"] = ""
    if obj.get("reportingInstance") is None:
        obj["reportingInstance"] = ""
    if "eventTime" not in obj:
        obj["eventTime"] = None


def _default_lease(obj: Obj) -> None:
    _obj(obj, "spec")


def _nothing(obj: Obj) -> None:
    return None


_DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    "Pod": _default_pod,
    "ReplicationController": _default_replication_controller,
    "ReplicaSet": _default_replica_set,
    "Deployment": _default_deployment,
    "Secret": _default_secret,
    "Namespace": _default_namespace,
    "Node": _default_node,
    "EndpointSlice": _default_endpoint_slice,
    "Ingress": _default_ingress,
    "IngressClass": _default_ingress_class,
    "Event": _default_event,
    "Lease": _default_lease,
    "ServiceAccount": _nothing,
    "ConfigMap": _nothing,  # SetDefaults_ConfigMap's empty map is omitted on the wire
    "Service": _nothing,  # kubeloop.api.services
    "Endpoints": _nothing,  # kubeloop.api.endpoints
}


def apply_defaults(resource: ResourceType, obj: Obj) -> None:
    """Fill in `obj` (in place) the way Kubernetes 1.32 defaults an object of `resource`."""
    if not isinstance(obj, dict):
        return
    _DEFAULTERS.get(resource.kind, _nothing)(obj)
