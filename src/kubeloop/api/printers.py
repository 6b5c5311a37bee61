"""Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get` renders.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints what it gets back:
the column definitions (names upper-cased, `priority: 1` columns only with `-o wide`), one row
of pre-rendered cells per object, and per row the object's metadata (NAMESPACE column under
`-A`, `--show-labels`, `-L`) or, for `--sort-by`, the whole object (`includeObject=Object`).

Column sets, column types, descriptions and cell logic mirror kube-apiserver 1.32
(`pkg/printers/internalversion/printers.go`). Points worth knowing:

* The apiserver always prints with `Wide: true`, so the priority-1 cells are always sent;
  hiding them is kubectl's job.
* Descriptions are the API field docs (the generated swagger docs) that each upstream column
  cites, copied verbatim so a Table here is byte-for-byte what a real server answers.
* Cells keep upstream's Go types: counts are integers (even where a column says "string",
  as Deployment's Up-to-date), everything else is a string. AGE is computed against `now`.
* Objects are read as stored v1 JSON. Where upstream reads a field that v1 defaulting always
  fills (Service type and port protocol, replicas, Secret type, Namespace phase) a missing
  value reads as that default.

Kinds without an upstream printer get `Name, Age`. Pure; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from .errors import BadRequest
from .registry import Obj, ResourceType

Cell = str | int
CellsFn = Callable[[Obj, datetime], list[Cell]]

NONE = "<none>"
UNKNOWN = "<unknown>"
UNSET = "<unset>"
INCLUDE_OBJECT_MODES = ("Metadata", "Object", "None")

# -- column descriptions (API field docs as of Kubernetes 1.32) -----------------------------

_DOC_NAME = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources may "
    "allow a client to request the generation of an appropriate name automatically. Name is primarily intended "
    "for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_DOC_AGE = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
    "It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_DOC_CONTAINERS = "Names of each container in the template."
_DOC_IMAGES = "Images referenced by each container in the template."
_RC_DOC_URL = "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller"
_DOC_SPEC_REPLICAS = (
    "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and "
    "unspecified. Defaults to 1. More info: {url}#what-is-a-replicationcontroller"
)
_DOC_STATUS_REPLICAS = (
    "Replicas is the most recently observed number of replicas. More info: {url}#what-is-a-replicationcontroller"
)
_DOC_LABEL_SELECTORS = (
    "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
)
_DOC_READY_PODS = "Number of the pod with ready state"
_DOC_NODE_ADDRESSES = (
    "List of addresses reachable to the node. Queried from cloud provider, if available. More info: "
    "https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, "
    "but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers "
    "should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should "
    "assume that addresses can change during the lifetime of a Node. However, there are some exceptions where "
    "this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the "
    "downward API (status.hostIP)."
)


def _col(name: str, description: str, *, type: str = "string", format: str = "", priority: int = 0) -> Obj:
    return {"name": name, "type": type, "format": format, "description": description, "priority": priority}


_NAME_COL = _col("Name", _DOC_NAME, format="name")
_AGE_COL = _col("Age", _DOC_AGE)

_POD_COLUMNS = (
    _NAME_COL,
    _col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", "The aggregate status of the containers in this pod."),
    _col("Restarts", "The number of times the containers in this pod have been restarted and when the last "
                     "container in this pod has restarted."),
    _AGE_COL,
    _col("IP", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
               "allocated.", priority=1),
    _col("Node", "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for "
                 "scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for "
                 "this node becomes responsible for the lifecycle of this pod. This field should not be used to "
                 "express a desire for the pod to be scheduled on a specific node. "
                 "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename", priority=1),
    _col("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node, but it "
                           "cannot be scheduled right away as preemption victims receive their graceful "
                           "termination periods. This field does not guarantee that the pod will be scheduled on "
                           "this node. Scheduler may decide to place the pod elsewhere if other nodes become "
                           "available sooner. Scheduler may also decide to give the resources on this node to a "
                           "higher priority pod that is created after preemption. As a result, this field may be "
                           "different than PodSpec.nodeName when the pod is scheduled.", priority=1),
    _col("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready "
                            "when all its containers are ready AND all conditions specified in the readiness gates "
                            "have status equal to \"True\" More info: "
                            "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates", priority=1),
)

_SERVICE_COLUMNS = (
    _NAME_COL,
    _col("Type", "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
                 "ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal "
                 "IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that "
                 "is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If "
                 "clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of "
                 "endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on "
                 "every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on "
                 "NodePort and creates an external load-balancer (if supported in the current cloud) which routes "
                 "to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified "
                 "externalName. Several other fields do not apply to ExternalName services. More info: "
                 "https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types"),
    _col("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly. If an address "
                       "is specified manually, is in-range (as per system configuration), and is not in use, it "
                       "will be allocated to the service; otherwise creation of the service will fail. This field "
                       "may not be changed through updates unless the type field is also being changed to "
                       "ExternalName (which requires this field to be blank) or the type field is being changed "
                       "from ExternalName (in which case this field may optionally be specified, as describe "
                       "above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting "
                       "this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct "
                       "endpoint connections are preferred and proxying is not required.  Only applies to types "
                       "ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service "
                       "of type ExternalName, creation will fail. This field will be wiped when updating a Service "
                       "to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/"
                       "service/#virtual-ips-and-service-proxies"),
    _col("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
                        "traffic for this service.  These IPs are not managed by Kubernetes.  The user is "
                        "responsible for ensuring that traffic arrives at a node with this IP.  A common example "
                        "is external load-balancers that are not part of the Kubernetes system."),
    _col("Port(s)", "The list of ports that are exposed by this service. More info: "
                    "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"),
    _AGE_COL,
    _col("Selector", "Route service traffic to pods with label keys and values matching this selector. If empty or "
                     "not present, the service is assumed to have an external process managing its endpoints, "
                     "which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and "
                     "LoadBalancer. Ignored if type is ExternalName. More info: "
                     "https://kubernetes.io/docs/concepts/services-networking/service/", priority=1),
)

_ENDPOINTS_COLUMNS = (
    _NAME_COL,
    _col("Endpoints", "The set of all endpoints is the union of all subsets. Addresses are placed into subsets "
                      "according to the IPs they share. A single address with multiple ports, some of which are "
                      "ready and some of which are not (because they come from different containers) will result "
                      "in the address being displayed in different subsets for the different ports. No address "
                      "will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses "
                      "and ports that comprise a service."),
    _AGE_COL,
)

_ENDPOINTSLICE_COLUMNS = (
    _NAME_COL,
    _col("AddressType", "addressType specifies the type of address carried by this EndpointSlice. All addresses in "
                        "this slice must be the same type. This field is immutable after creation. The following "
                        "address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: "
                        "Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name."),
    _col("Ports", "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must "
                  "have a unique name. When ports is empty, it indicates that there are no defined ports. When a "
                  "port is defined with a nil port value, it indicates \"all ports\". Each slice may include a "
                  "maximum of 100 ports."),
    _col("Endpoints", "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of "
                      "1000 endpoints."),
    _AGE_COL,
)

_RC_COLUMNS = (
    _NAME_COL,
    _col("Desired", _DOC_SPEC_REPLICAS.format(url=_RC_DOC_URL), type="integer"),
    _col("Current", _DOC_STATUS_REPLICAS.format(url=_RC_DOC_URL), type="integer"),
    _col("Ready", "The number of ready replicas for this replication controller.", type="integer"),
    _AGE_COL,
    _col("Containers", _DOC_CONTAINERS, priority=1),
    _col("Images", _DOC_IMAGES, priority=1),
    _col("Selector", "Selector is a label query over pods that should match the Replicas count. If Selector is "
                     "empty, it is defaulted to the labels present on the Pod template. Label keys and values that "
                     "must match in order to be controlled by this replication controller, if empty defaulted to "
                     "labels on Pod template. " + _DOC_LABEL_SELECTORS, priority=1),
)

# Upstream cites the extensions/v1beta1 ReplicaSet docs, whose URLs carry a trailing slash.
_RS_COLUMNS = (
    _NAME_COL,
    _col("Desired", _DOC_SPEC_REPLICAS.format(url=_RC_DOC_URL + "/"), type="integer"),
    _col("Current", _DOC_STATUS_REPLICAS.format(url=_RC_DOC_URL + "/"), type="integer"),
    _col("Ready", "The number of ready replicas for this replica set.", type="integer"),
    _AGE_COL,
    _col("Containers", _DOC_CONTAINERS, priority=1),
    _col("Images", _DOC_IMAGES, priority=1),
    _col("Selector", "Selector is a label query over pods that should match the replica count. If the selector is "
                     "empty, it is defaulted to the labels present on the pod template. Label keys and values that "
                     "must match in order to be controlled by this replica set. " + _DOC_LABEL_SELECTORS,
         priority=1),
)

_DEPLOYMENT_COLUMNS = (
    _NAME_COL,
    _col("Ready", _DOC_READY_PODS),
    _col("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired "
                       "template spec."),
    _col("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this "
                      "deployment."),
    _AGE_COL,
    _col("Containers", _DOC_CONTAINERS, priority=1),
    _col("Images", _DOC_IMAGES, priority=1),
    _col("Selector", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the "
                     "ones affected by this deployment.", priority=1),
)

_INGRESS_COLUMNS = (
    _NAME_COL,
    _col("Class", "The name of the IngressClass resource that should be used for additional configuration"),
    _col("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
    _col("Address", "Address is a list containing ingress points for the load-balancer"),
    _col("Ports", "Ports of TLS configurations that open"),
    _AGE_COL,
)

_INGRESSCLASS_COLUMNS = (
    _NAME_COL,
    _col("Controller", "Controller that is responsible for handling this class"),
    _col("Parameters", "A reference to a resource with additional parameters"),
    _AGE_COL,
)

_SECRET_COLUMNS = (
    _NAME_COL,
    _col("Type", "Used to facilitate programmatic handling of secret data. More info: "
                 "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
    _col("Data", "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or "
                 "'.'. The serialized form of the secret data is a base64 encoded string, representing the "
                 "arbitrary (possibly non-string) data value here. Described in "
                 "https://tools.ietf.org/html/rfc4648#section-4"),
    _AGE_COL,
)

_CONFIGMAP_COLUMNS = (
    _NAME_COL,
    _col("Data", "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', "
                 "'_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored "
                 "in Data must not overlap with the keys in the BinaryData field, this is enforced during "
                 "validation process."),
    _AGE_COL,
)

_NAMESPACE_COLUMNS = (_NAME_COL, _col("Status", "The status of the namespace"), _AGE_COL)

_NODE_COLUMNS = (
    _NAME_COL,
    _col("Status", "The status of the node"),
    _col("Roles", "The roles of the node"),
    _AGE_COL,
    _col("Version", "Kubelet Version reported by the node."),
    _col("Internal-IP", _DOC_NODE_ADDRESSES, priority=1),
    _col("External-IP", _DOC_NODE_ADDRESSES, priority=1),
    _col("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
         priority=1),
    _col("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
         priority=1),
    _col("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
                              "containerd://1.4.2).", priority=1),
)

_EVENT_COLUMNS = (
    _col("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    _col("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    _col("Reason", "This should be a short, machine understandable string that gives the reason for the "
                   "transition into the object's current status."),
    _col("Object", "The object that this event is about."),
    _col("Subobject", "If referring to a piece of an object instead of an entire object, this string should "
                      "contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. "
                      "For example, if the object reference is to a container within a pod, this would take on a "
                      "value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container "
                      "that triggered the event) or if no container name is specified \"spec.containers[2]\" "
                      "(container with index 2 in this pod). This syntax is chosen only to have some well-defined "
                      "way of referencing a part of an object.", priority=1),
    _col("Source", "The component reporting this event. Should be a short machine understandable string.",
         priority=1),
    _col("Message", "A human-readable description of the status of this operation."),
    _col("First Seen", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
         priority=1),
    _col("Count", "The number of times this event has occurred.", priority=1),
    _col("Name", _DOC_NAME, format="name", priority=1),
)

_SERVICEACCOUNT_COLUMNS = (
    _NAME_COL,
    _col("Secrets", "Secrets is a list of the secrets in the same namespace that pods running using this "
                    "ServiceAccount are allowed to use. Pods are only limited to this list if this service account "
                    "has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The "
                    "\"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer "
                    "separate namespaces to isolate access to mounted secrets. This field should not be used to "
                    "find auto-generated service account token secrets for use outside of pods. Instead, tokens "
                    "can be requested directly using the TokenRequest API, or service account token secrets can "
                    "be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret"),
    _AGE_COL,
)

_LEASE_COLUMNS = (
    _NAME_COL,
    _col("Holder", "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader "
                   "Election is used, the holder identity must be equal to the elected "
                   "LeaseCandidate.metadata.name field."),
    _AGE_COL,
)

_DEFAULT_COLUMNS = (_NAME_COL, _AGE_COL)


# -- time -----------------------------------------------------------------------------------

_MICROSECOND = timedelta(microseconds=1)


def human_duration(delta: timedelta) -> str:
    """apimachinery's `duration.HumanDuration`: about 2-3 significant figures (`5m30s`, `3h`, `2d3h`).

    Slightly negative durations (up to 2s of clock skew) print as `0s`, more as `<invalid>`.
    """
    micros = delta // _MICROSECOND
    seconds = -(-micros // 1_000_000) if micros < 0 else micros // 1_000_000  # truncate toward zero, as Go does
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 2 * 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 3 * 60:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _parse_time(value: Any) -> datetime | None:
    """An RFC3339 (or MicroTime) timestamp, or None for a missing/null/unparseable one (Go's zero time)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _since(value: Any, now: datetime) -> str:
    """translateTimestampSince: the AGE-style rendering of a timestamp field."""
    t = _parse_time(value)
    return UNKNOWN if t is None else human_duration(now - t)


def _aware(now: datetime) -> datetime:
    """Naive datetimes are taken as UTC (timestamps on the wire always carry a zone)."""
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    if current is None or current < candidate:
        return candidate
    return current


# -- shared cell helpers --------------------------------------------------------------------


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _name(obj: Obj) -> str:
    return str(_dict(obj.get("metadata")).get("name") or "")


def _age(obj: Obj, now: datetime) -> str:
    return _since(_dict(obj.get("metadata")).get("creationTimestamp"), now)


def format_labels(labels: Any) -> str:
    """labels.FormatLabels: `k=v` pairs sorted and comma-joined, `<none>` when empty."""
    pairs = sorted(f"{k}={v}" for k, v in _dict(labels).items())
    return ",".join(pairs) or NONE


def _selector_string(selector: Any) -> str:
    """A structured LabelSelector as apimachinery prints it (`app=x,tier in (a,b),!gone`); "" when it
    selects everything or nothing. Raises ValueError for a selector that cannot be converted."""
    if not isinstance(selector, dict):
        return ""
    match_labels = _dict(selector.get("matchLabels"))
    expressions = _list(selector.get("matchExpressions"))
    reqs: list[tuple[str, str]] = [(k, f"{k}={v}") for k, v in match_labels.items()]
    for expr in expressions:
        expr = _dict(expr)
        key, op, values = str(expr.get("key") or ""), expr.get("operator"), [str(v) for v in _list(expr.get("values"))]
        if op in ("In", "NotIn"):
            if not values:
                raise ValueError(f"for '{op}' operator, the values set can't be empty")
            word = "in" if op == "In" else "notin"
            reqs.append((key, f"{key} {word} ({','.join(sorted(values))})"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                raise ValueError(f"values set must be empty for '{op}'")
            reqs.append((key, key if op == "Exists" else "!" + key))
        else:
            raise ValueError(f"{op!r} is not a valid label selector operator")
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs)


def format_label_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector: the selector string, `<none>` when empty, `<error>` when invalid."""
    try:
        return _selector_string(selector) or NONE
    except ValueError:
        return "<error>"


def _containers_and_images(pod_spec: Any) -> tuple[str, str]:
    """layoutContainerCells: container names and images, each comma-joined."""
    containers = [_dict(c) for c in _list(_dict(pod_spec).get("containers"))]
    names = ",".join(str(c.get("name") or "") for c in containers)
    return names, ",".join(str(c.get("image") or "") for c in containers)


def _template_spec(obj: Obj) -> Obj:
    return _dict(_dict(_dict(obj.get("spec")).get("template")).get("spec"))


def _list_with_more(items: list[str], count: int, limit: int = 3, empty: str = UNSET) -> str:
    """The `a,b,c + N more...` shape upstream uses for long lists."""
    if count > limit:
        return f"{','.join(items[:limit])} + {count - limit} more..."
    return ",".join(items) or empty


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _lb_ingress_string(status: Any) -> str:
    """(ingress)LoadBalancerStatusStringer with wide=True: distinct IPs or hostnames, sorted."""
    found = set()
    for ing in _list(_dict(status).get("ingress")):
        ing = _dict(ing)
        if ing.get("ip"):
            found.add(str(ing["ip"]))
        elif ing.get("hostname"):
            found.add(str(ing["hostname"]))
    return ",".join(sorted(found))


def _condition(conditions: Any, type_: str) -> Obj | None:
    for cond in _list(conditions):
        if _dict(cond).get("type") == type_:
            return _dict(cond)
    return None


# -- pods -----------------------------------------------------------------------------------

NODE_UNREACHABLE_POD_REASON = "NodeLost"


def _last_terminated_at(status: Obj) -> datetime | None:
    terminated = _dict(status.get("lastState")).get("terminated")
    if terminated is None:
        return None
    return _parse_time(_dict(terminated).get("finishedAt"))


def _terminated_reason(terminated: Obj, prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + str(terminated["reason"])
    signal = _int(terminated.get("signal"))
    if signal:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{_int(terminated.get('exitCode'))}"


def pod_status(pod: Obj) -> tuple[str, int, int, int, datetime | None]:
    """kubectl's pod summary: (STATUS reason, ready containers, total containers, restarts, last restart).

    The STATUS column is the phase (or status.reason), overridden by the first failing init
    container (`Init:...`), else by the container states (`CrashLoopBackOff`, `Completed`,
    `Error`, `ExitCode:N`), else by `Terminating`/`Unknown` for pods being deleted.
    """
    spec = _dict(pod.get("spec"))
    status = _dict(pod.get("status"))
    meta = _dict(pod.get("metadata"))
    init_specs = [_dict(c) for c in _list(spec.get("initContainers"))]
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(_list(spec.get("containers"))) + len(sidecars)
    ready = 0
    restarts = 0
    sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    for cond in _list(status.get("conditions")):
        if _dict(cond).get("type") == "PodScheduled" and _dict(cond).get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    for i, cs in enumerate(_dict(c) for c in _list(status.get("initContainerStatuses"))):
        restarts += _int(cs.get("restartCount"))
        finished = _last_terminated_at(cs)
        last_restart = _later(last_restart, finished)
        is_sidecar = cs.get("name") in sidecars
        if is_sidecar:
            sidecar_restarts += _int(cs.get("restartCount"))
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        state = _dict(cs.get("state"))
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        if terminated is not None and _int(_dict(terminated).get("exitCode")) == 0:
            continue
        if is_sidecar and cs.get("started") is True:
            if cs.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            reason = _terminated_reason(_dict(terminated), "Init:")
        elif waiting is not None and _dict(waiting).get("reason") and _dict(waiting)["reason"] != "PodInitializing":
            reason = "Init:" + str(_dict(waiting)["reason"])
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    initialized = _condition(status.get("conditions"), "Initialized")
    if not initializing or (initialized is not None and initialized.get("status") == "True"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for cs in reversed([_dict(c) for c in _list(status.get("containerStatuses"))]):
            restarts += _int(cs.get("restartCount"))
            last_restart = _later(last_restart, _last_terminated_at(cs))
            state = _dict(cs.get("state"))
            waiting = state.get("waiting")
            terminated = state.get("terminated")
            if waiting is not None and _dict(waiting).get("reason"):
                reason = str(_dict(waiting)["reason"])
            elif terminated is not None:
                reason = _terminated_reason(_dict(terminated))
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # A pod whose other containers still run is not "Completed" yet.
        if reason == "Completed" and has_running:
            pod_ready = any(_dict(c).get("type") == "Ready" and _dict(c).get("status") == "True"
                            for c in _list(status.get("conditions")))
            reason = "Running" if pod_ready else "NotReady"

    if meta.get("deletionTimestamp") is not None and status.get("reason") == NODE_UNREACHABLE_POD_REASON:
        reason = "Unknown"
    elif meta.get("deletionTimestamp") is not None and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason, ready, total, restarts, last_restart


def _pod_cells(pod: Obj, now: datetime) -> list[Cell]:
    reason, ready, total, restarts, last_restart = pod_status(pod)
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    spec = _dict(pod.get("spec"))
    status = _dict(pod.get("status"))
    pod_ips = _list(status.get("podIPs"))
    pod_ip = str(_dict(pod_ips[0]).get("ip") or "") if pod_ips else str(status.get("podIP") or "")
    gates = _list(spec.get("readinessGates"))
    readiness = NONE
    if gates:
        passed = 0
        for gate in gates:
            cond = _condition(status.get("conditions"), _dict(gate).get("conditionType", ""))
            if cond is not None and cond.get("status") == "True":
                passed += 1
        readiness = f"{passed}/{len(gates)}"
    return [
        _name(pod), f"{ready}/{total}", reason, restarts_text, _age(pod, now),
        pod_ip or NONE, str(spec.get("nodeName") or NONE), str(status.get("nominatedNodeName") or NONE), readiness,
    ]


def _pod_row_conditions(pod: Obj) -> list[Obj]:
    phase = _dict(pod.get("status")).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []


# -- services and endpoints -----------------------------------------------------------------


def _service_external_ip(svc: Obj) -> str:
    spec = _dict(svc.get("spec"))
    svc_type = spec.get("type") or "ClusterIP"
    external_ips = [str(ip) for ip in _list(spec.get("externalIPs"))]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) or NONE
    if svc_type == "LoadBalancer":
        lb = _lb_ingress_string(_dict(svc.get("status")).get("loadBalancer"))
        if external_ips:
            return ",".join(([*lb.split(",")] if lb else []) + external_ips)
        return lb or "<pending>"
    if svc_type == "ExternalName":
        return str(spec.get("externalName") or "")
    return UNKNOWN


def _service_ports(ports: Any) -> str:
    pieces = []
    for port in (_dict(p) for p in _list(ports)):
        protocol = port.get("protocol") or "TCP"
        node_port = _int(port.get("nodePort"))
        if node_port > 0:
            pieces.append(f"{_int(port.get('port'))}:{node_port}/{protocol}")
        else:
            pieces.append(f"{_int(port.get('port'))}/{protocol}")
    return ",".join(pieces) or NONE


def _service_cells(svc: Obj, now: datetime) -> list[Cell]:
    spec = _dict(svc.get("spec"))
    cluster_ips = _list(spec.get("clusterIPs")) or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [
        _name(svc), str(spec.get("type") or "ClusterIP"), str(cluster_ips[0]) if cluster_ips else NONE,
        _service_external_ip(svc), _service_ports(spec.get("ports")), _age(svc, now),
        format_labels(spec.get("selector")),
    ]


def format_endpoints(endpoints: Obj) -> str:
    """formatEndpoints: `ip:port` per address and port across subsets, at most 3 then `+ N more...`."""
    subsets = [_dict(s) for s in _list(endpoints.get("subsets"))]
    if not subsets:
        return NONE
    shown: list[str] = []
    count = 0
    for subset in subsets:
        ips = [str(_dict(a).get("ip") or "") for a in _list(subset.get("addresses"))]
        ports = [_dict(p) for p in _list(subset.get("ports"))]
        if not ports:  # headless services may have no ports
            count += len(ips)
            shown.extend(ips)
            continue
        for port in ports:
            count += len(ips)
            shown.extend(_join_host_port(ip, _int(port.get("port"))) for ip in ips)
    return _list_with_more(shown, count, empty="")


def _endpoints_cells(ep: Obj, now: datetime) -> list[Cell]:
    return [_name(ep), format_endpoints(ep), _age(ep, now)]


def _endpointslice_cells(eps: Obj, now: datetime) -> list[Cell]:
    ports = []
    for port in (_dict(p) for p in _list(eps.get("ports"))):
        if port.get("port") is not None:
            ports.append(str(_int(port.get("port"))))
        elif port.get("name") is not None:
            ports.append(str(port["name"]))
        else:
            ports.append("*")
    addresses = [str(a) for e in _list(eps.get("endpoints")) for a in _list(_dict(e).get("addresses"))]
    return [
        _name(eps), str(eps.get("addressType") or ""), _list_with_more(ports, len(ports)),
        _list_with_more(addresses, len(addresses)), _age(eps, now),
    ]


# -- workloads ------------------------------------------------------------------------------


def _replicas(spec: Obj) -> int:
    value = spec.get("replicas")
    return 1 if value is None else _int(value)  # v1 defaulting: replicas defaults to 1


def _rc_cells(rc: Obj, now: datetime) -> list[Cell]:
    spec, status = _dict(rc.get("spec")), _dict(rc.get("status"))
    names, images = _containers_and_images(_template_spec(rc))
    return [
        _name(rc), _replicas(spec), _int(status.get("replicas")), _int(status.get("readyReplicas")), _age(rc, now),
        names, images, format_labels(spec.get("selector")),
    ]


def _rs_cells(rs: Obj, now: datetime) -> list[Cell]:
    spec, status = _dict(rs.get("spec")), _dict(rs.get("status"))
    names, images = _containers_and_images(_template_spec(rs))
    return [
        _name(rs), _replicas(spec), _int(status.get("replicas")), _int(status.get("readyReplicas")), _age(rs, now),
        names, images, format_label_selector(spec.get("selector")),
    ]


def _deployment_cells(deploy: Obj, now: datetime) -> list[Cell]:
    spec, status = _dict(deploy.get("spec")), _dict(deploy.get("status"))
    names, images = _containers_and_images(_template_spec(deploy))
    try:
        selector = _selector_string(spec.get("selector"))
    except ValueError:
        selector = "<invalid>"
    return [
        _name(deploy), f"{_int(status.get('readyReplicas'))}/{_replicas(spec)}", _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")), _age(deploy, now), names, images, selector,
    ]


# -- networking -----------------------------------------------------------------------------


def _ingress_hosts(rules: Any) -> str:
    """formatHosts: up to three non-empty hosts, then `+ N more...`; `*` when no rule names a host."""
    rules = _list(rules)
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True  # counted against all rules, hosted or not, as upstream does
        host = _dict(rule).get("host")
        if not more and host:
            hosts.append(str(host))
    if not hosts:
        return "*"
    if more:
        return f"{','.join(hosts)} + {len(rules) - 3} more..."
    return ",".join(hosts)


def _ingress_cells(ing: Obj, now: datetime) -> list[Cell]:
    spec = _dict(ing.get("spec"))
    class_name = spec.get("ingressClassName")
    return [
        _name(ing), NONE if class_name is None else str(class_name), _ingress_hosts(spec.get("rules")),
        _lb_ingress_string(_dict(ing.get("status")).get("loadBalancer")),
        "80, 443" if _list(spec.get("tls")) else "80", _age(ing, now),
    ]


def _ingressclass_cells(ic: Obj, now: datetime) -> list[Cell]:
    spec = _dict(ic.get("spec"))
    params = spec.get("parameters")
    parameters = NONE
    if isinstance(params, dict):
        parameters = str(params.get("kind") or "")
        if params.get("apiGroup") is not None:
            parameters += "." + str(params["apiGroup"])
        parameters += "/" + str(params.get("name") or "")
    return [_name(ic), str(spec.get("controller") or ""), parameters, _age(ic, now)]


# -- configuration, cluster and the rest ----------------------------------------------------


def _secret_cells(secret: Obj, now: datetime) -> list[Cell]:
    return [_name(secret), str(secret.get("type") or "Opaque"), len(_dict(secret.get("data"))), _age(secret, now)]


def _configmap_cells(cm: Obj, now: datetime) -> list[Cell]:
    return [_name(cm), len(_dict(cm.get("data"))) + len(_dict(cm.get("binaryData"))), _age(cm, now)]


def _namespace_cells(ns: Obj, now: datetime) -> list[Cell]:
    return [_name(ns), str(_dict(ns.get("status")).get("phase") or "Active"), _age(ns, now)]


def node_roles(node: Obj) -> list[str]:
    """findNodeRoles: `node-role.kubernetes.io/<role>` keys and `kubernetes.io/role=<role>` values, sorted."""
    roles = set()
    for key, value in _dict(_dict(node.get("metadata")).get("labels")).items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    return sorted(roles)


def _node_address(node: Obj, type_: str) -> str:
    for address in (_dict(a) for a in _list(_dict(node.get("status")).get("addresses"))):
        if address.get("type") == type_:
            return str(address.get("address") or "")
    return NONE


def _node_cells(node: Obj, now: datetime) -> list[Cell]:
    status = _dict(node.get("status"))
    ready = None
    for cond in (_dict(c) for c in _list(status.get("conditions"))):
        if cond.get("type") == "Ready":
            ready = cond  # the last one wins, as upstream's map does
    if ready is None:
        states = ["Unknown"]
    else:
        states = ["Ready" if ready.get("status") == "True" else "NotReady"]
    if _dict(node.get("spec")).get("unschedulable"):
        states.append("SchedulingDisabled")
    info = _dict(status.get("nodeInfo"))
    return [
        _name(node), ",".join(states), ",".join(node_roles(node)) or NONE, _age(node, now),
        str(info.get("kubeletVersion") or ""), _node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
        str(info.get("osImage") or UNKNOWN), str(info.get("kernelVersion") or UNKNOWN),
        str(info.get("containerRuntimeVersion") or UNKNOWN),
    ]


def _event_cells(ev: Obj, now: datetime) -> list[Cell]:
    first_seen = _since(ev.get("firstTimestamp"), now)
    if _parse_time(ev.get("firstTimestamp")) is None:
        first_seen = _since(ev.get("eventTime"), now)
    last_seen = _since(ev.get("lastTimestamp"), now)
    if _parse_time(ev.get("lastTimestamp")) is None:
        last_seen = first_seen
    count = _int(ev.get("count"))
    series = ev.get("series")
    if series is not None:
        last_seen = _since(_dict(series).get("lastObservedTime"), now)
        count = _int(_dict(series).get("count"))
    elif count == 0:
        count = 1  # singleton events of the events.k8s.io API carry no count
    involved = _dict(ev.get("involvedObject"))
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = _dict(ev.get("source"))
    component = str(source.get("component") or ev.get("reportingComponent") or "")
    instance = str(source.get("host") or ev.get("reportingInstance") or "")
    return [
        last_seen, str(ev.get("type") or ""), str(ev.get("reason") or ""), target,
        str(involved.get("fieldPath") or ""), f"{component}, {instance}" if instance else component,
        str(ev.get("message") or "").strip(), first_seen, count, _name(ev),
    ]


def _serviceaccount_cells(sa: Obj, now: datetime) -> list[Cell]:
    return [_name(sa), len(_list(sa.get("secrets"))), _age(sa, now)]


def _lease_cells(lease: Obj, now: datetime) -> list[Cell]:
    return [_name(lease), str(_dict(lease.get("spec")).get("holderIdentity") or ""), _age(lease, now)]


def _default_cells(obj: Obj, now: datetime) -> list[Cell]:
    return [_name(obj), _age(obj, now)]


# -- the registry of printers ---------------------------------------------------------------


@dataclass(frozen=True)
class _Printer:
    columns: tuple[Obj, ...]
    cells: CellsFn


_PRINTERS: dict[tuple[str, str], _Printer] = {
    ("", "Pod"): _Printer(_POD_COLUMNS, _pod_cells),
    ("", "Service"): _Printer(_SERVICE_COLUMNS, _service_cells),
    ("", "Endpoints"): _Printer(_ENDPOINTS_COLUMNS, _endpoints_cells),
    ("discovery.k8s.io", "EndpointSlice"): _Printer(_ENDPOINTSLICE_COLUMNS, _endpointslice_cells),
    ("", "ReplicationController"): _Printer(_RC_COLUMNS, _rc_cells),
    ("apps", "ReplicaSet"): _Printer(_RS_COLUMNS, _rs_cells),
    ("apps", "Deployment"): _Printer(_DEPLOYMENT_COLUMNS, _deployment_cells),
    ("networking.k8s.io", "Ingress"): _Printer(_INGRESS_COLUMNS, _ingress_cells),
    ("networking.k8s.io", "IngressClass"): _Printer(_INGRESSCLASS_COLUMNS, _ingressclass_cells),
    ("", "Secret"): _Printer(_SECRET_COLUMNS, _secret_cells),
    ("", "ConfigMap"): _Printer(_CONFIGMAP_COLUMNS, _configmap_cells),
    ("", "Namespace"): _Printer(_NAMESPACE_COLUMNS, _namespace_cells),
    ("", "Node"): _Printer(_NODE_COLUMNS, _node_cells),
    ("", "Event"): _Printer(_EVENT_COLUMNS, _event_cells),
    ("", "ServiceAccount"): _Printer(_SERVICEACCOUNT_COLUMNS, _serviceaccount_cells),
    ("coordination.k8s.io", "Lease"): _Printer(_LEASE_COLUMNS, _lease_cells),
}
_DEFAULT_PRINTER = _Printer(_DEFAULT_COLUMNS, _default_cells)


def _printer(resource: ResourceType) -> _Printer:
    return _PRINTERS.get((resource.group, resource.kind), _DEFAULT_PRINTER)


def column_definitions(resource: ResourceType) -> list[Obj]:
    """The Table's columnDefinitions for a resource (fresh dicts; priority 1 = `-o wide` only)."""
    return [dict(c) for c in _printer(resource).columns]


def row_cells(resource: ResourceType, obj: Obj, now: datetime) -> list[Cell]:
    """One row's cells, all of them (wide ones included), in column order."""
    return _printer(resource).cells(obj, _aware(now))


def table(resource: ResourceType, objects: list[Obj], *, resource_version: str, include_object: str = "Metadata",
          now: datetime | None = None) -> Obj:
    """A complete `meta.k8s.io/v1` Table for `objects`.

    `include_object` is the `includeObject` query parameter: "Metadata" (also when empty) puts a
    PartialObjectMetadata in each row, "Object" the whole object, "None" nothing. Anything else
    is the BadRequest the apiserver answers.
    """
    mode = include_object or "Metadata"
    if mode not in INCLUDE_OBJECT_MODES:
        raise BadRequest(f"includeObject: Invalid value: \"{include_object}\": must be 'Metadata', 'Object', "
                         f"'None', or empty")
    now = _aware(now) if now is not None else datetime.now(timezone.utc)
    printer = _printer(resource)
    rows: list[Obj] = []
    for obj in objects:
        row: Obj = {"cells": printer.cells(obj, now)}
        if resource.group == "" and resource.kind == "Pod":
            conditions = _pod_row_conditions(obj)
            if conditions:
                row["conditions"] = conditions
        if mode == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": _dict(obj.get("metadata"))}
        elif mode == "Object":
            row["object"] = {"kind": resource.kind, "apiVersion": resource.api_version, **obj}
        rows.append(row)
    metadata: Obj = {"resourceVersion": resource_version} if resource_version else {}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [dict(c) for c in printer.columns],
        "rows": rows,
    }
