"""Schemas of every kind kubeloop serves, as a small declarative DSL, plus strict field checking.

The Kubernetes 1.32 API types (`k8s.io/api` and the apimachinery meta types) written down
compactly. Each struct is one `_s(name, description, *fields)` call, each kind one
`_kind(...)` call (which adds `apiVersion`, `kind`, `metadata`, the group-version-kind and
the matching `<Kind>List`). A field is a tuple `(name, type, description)`; a trailing `!` on
the name marks it required. Types are:

    STR, INT (int32), INT64, NUM, BOOL, BYTES (base64 string)    primitives
    enum("A", "B")                                                string with known values
    TIME, MICROTIME, QTY (Quantity), IOS (int-or-string)          named scalar schemas
    "core.PodSpec", "meta.ObjectMeta", ...                        a reference to another struct
    arr(T), mapof(T)                                              lists and string-keyed maps
    FREE                                                          free-form object (never checked)

Short prefixes (`core.`, `apps.`, `meta.`, ...) expand to Kubernetes' OpenAPI names
(`io.k8s.api.core.v1.PodSpec`, `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`).
Rarely written corners (exotic volume plugins, ephemeral containers, dynamic resource
claims, SELinux/seccomp/AppArmor/Windows options, node config status) are FREE.

Public API:
    SCHEMAS                       full name -> `Struct` or `Scalar`
    schema_name(api_version, kind) full OpenAPI name of a kind's schema, or None
    openapi_schema(name)          the OpenAPI v3 schema object of one named schema
    referenced(names)             the names reachable from `names` (sorted, for `components`)
    unknown_fields(api_version, kind, obj)  dotted paths of fields not in the schema, for
                                  `fieldValidation=Strict`
    strict_decoding_message(api_version, kind, paths)  Kubernetes' 400 message for them

Pure data and functions; no I/O.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Iterable, Union

# --------------------------------------------------------------------------------------------
# The DSL


@dataclass(frozen=True)
class Prim:
    """A primitive: OpenAPI `type`, optional `format` and enum values."""

    type: str
    format: str | None = None
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ref:
    """A reference to a named schema (full OpenAPI name)."""

    name: str


@dataclass(frozen=True)
class Array:
    items: "TypeExpr"


@dataclass(frozen=True)
class Map:
    values: "TypeExpr"


@dataclass(frozen=True)
class Free:
    """A free-form object (`x-kubernetes-preserve-unknown-fields`): never checked."""


TypeExpr = Union[Prim, Ref, Array, Map, Free]


@dataclass(frozen=True)
class Field:
    name: str
    type: TypeExpr
    description: str
    required: bool = False


@dataclass(frozen=True)
class Struct:
    """An object schema with known fields; `gvk` is set for top-level kinds."""

    name: str
    description: str
    fields: tuple[Field, ...]
    gvk: tuple[str, str, str] | None = None  # (group, version, kind)

    @functools.cached_property
    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}


@dataclass(frozen=True)
class Scalar:
    """A named schema that is not a struct (Time, Quantity, IntOrString, FieldsV1)."""

    name: str
    schema: dict[str, Any]


Schema = Union[Struct, Scalar]

_PREFIX = {
    "core": "io.k8s.api.core.v1",
    "apps": "io.k8s.api.apps.v1",
    "discovery": "io.k8s.api.discovery.v1",
    "networking": "io.k8s.api.networking.v1",
    "coordination": "io.k8s.api.coordination.v1",
    "autoscaling": "io.k8s.api.autoscaling.v1",
    "meta": "io.k8s.apimachinery.pkg.apis.meta.v1",
    "resource": "io.k8s.apimachinery.pkg.api.resource",
    "intstr": "io.k8s.apimachinery.pkg.util.intstr",
}
_GROUP_VERSION = {
    "core": ("", "v1"),
    "apps": ("apps", "v1"),
    "discovery": ("discovery.k8s.io", "v1"),
    "networking": ("networking.k8s.io", "v1"),
    "coordination": ("coordination.k8s.io", "v1"),
    "autoscaling": ("autoscaling", "v1"),
}

SCHEMAS: dict[str, Schema] = {}
"""Every named schema, by full OpenAPI name."""

_BY_GVK: dict[tuple[str, str], str] = {}  # (apiVersion, kind) -> full name


def full_name(short: str) -> str:
    """`core.PodSpec` -> `io.k8s.api.core.v1.PodSpec` (full names pass through)."""
    prefix, _, rest = short.partition(".")
    return f"{_PREFIX[prefix]}.{rest}" if prefix in _PREFIX else short


STR = Prim("string")
INT = Prim("integer", "int32")
INT64 = Prim("integer", "int64")
NUM = Prim("number", "double")
BOOL = Prim("boolean")
BYTES = Prim("string", "byte")
FREE = Free()
TIME = Ref(full_name("meta.Time"))
MICROTIME = Ref(full_name("meta.MicroTime"))
QTY = Ref(full_name("resource.Quantity"))
IOS = Ref(full_name("intstr.IntOrString"))

_T = Union[TypeExpr, str]


def _type(t: _T) -> TypeExpr:
    return Ref(full_name(t)) if isinstance(t, str) else t


def enum(*values: str) -> Prim:
    return Prim("string", None, tuple(values))


def arr(t: _T) -> Array:
    return Array(_type(t))


def mapof(t: _T) -> Map:
    return Map(_type(t))


def _fields(specs: Iterable[tuple[str, _T, str]]) -> tuple[Field, ...]:
    out = []
    for name, t, desc in specs:
        required = name.endswith("!")
        out.append(Field(name.rstrip("!"), _type(t), desc, required))
    return tuple(out)


def _s(short: str, description: str, *fields: tuple[str, _T, str], gvk: tuple[str, str, str] | None = None) -> None:
    name = full_name(short)
    assert name not in SCHEMAS, name
    SCHEMAS[name] = Struct(name, description, _fields(fields), gvk)
    if gvk:
        api_version = f"{gvk[0]}/{gvk[1]}" if gvk[0] else gvk[1]
        _BY_GVK[(api_version, gvk[2])] = name


def _scalar(short: str, **schema: Any) -> None:
    SCHEMAS[full_name(short)] = Scalar(full_name(short), schema)


_API_VERSION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values."
)
_KIND = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. In CamelCase."
)
_TYPE_META = (("apiVersion", STR, _API_VERSION), ("kind", STR, _KIND))


def _kind(short: str, description: str, *fields: tuple[str, _T, str], list_kind: bool = True) -> None:
    """A top-level kind: TypeMeta + ObjectMeta + `fields`, and (by default) its List kind."""
    prefix, _, kind = short.partition(".")
    group, version = _GROUP_VERSION[prefix]
    meta = ("metadata", "meta.ObjectMeta", "Standard object's metadata.")
    _s(short, description, *_TYPE_META, meta, *fields, gvk=(group, version, kind))
    if list_kind:
        _s(
            f"{short}List",
            f"{kind}List is a list of {kind} objects.",
            *_TYPE_META,
            ("items!", arr(short), f"List of {kind} objects."),
            ("metadata", "meta.ListMeta", "Standard list metadata."),
            gvk=(group, version, f"{kind}List"),
        )


# --------------------------------------------------------------------------------------------
# apimachinery: scalars and meta/v1

_scalar(
    "meta.Time",
    type="string",
    format="date-time",
    description="Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON "
    "(RFC 3339, e.g. 2024-01-02T15:04:05Z).",
)
_scalar(
    "meta.MicroTime",
    type="string",
    format="date-time",
    description="MicroTime is version of Time with microsecond level precision.",
)
_scalar(
    "meta.FieldsV1",
    type="object",
    description="FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.",
)
_scalar(
    "resource.Quantity",
    description="Quantity is a fixed-point representation of a number, written as a string such as "
    '"100m", "1.5", "128Mi" or "2Gi" (a bare number is accepted too).',
    oneOf=[{"type": "string"}, {"type": "number"}],
)
_scalar(
    "intstr.IntOrString",
    description="IntOrString is a type that can hold an int32 or a string (e.g. a port number or a port name).",
    format="int-or-string",
    oneOf=[{"type": "integer"}, {"type": "string"}],
)

_s("meta.ObjectMeta", "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
    ("name", STR, "Name must be unique within a namespace."),
    ("generateName", STR, "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided."),
    ("namespace", STR, "Namespace defines the space within which each name must be unique."),
    ("selfLink", STR, "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system."),
    ("uid", STR, "UID is the unique in time and space value for this object, generated by the server on create."),
    ("resourceVersion", STR, "An opaque value that represents the internal version of this object that can be used by clients to determine when objects have changed."),
    ("generation", INT64, "A sequence number representing a specific generation of the desired state."),
    ("creationTimestamp", TIME, "CreationTimestamp is a timestamp representing the server time when this object was created."),
    ("deletionTimestamp", TIME, "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted."),
    ("deletionGracePeriodSeconds", INT64, "Number of seconds allowed for this object to gracefully terminate before it will be removed from the system."),
    ("labels", mapof(STR), "Map of string keys and values that can be used to organize and categorize (scope and select) objects."),
    ("annotations", mapof(STR), "Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata."),
    ("ownerReferences", arr("meta.OwnerReference"), "List of objects depended by this object."),
    ("finalizers", arr(STR), "Must be empty before the object is deleted from the registry."),
    ("managedFields", arr("meta.ManagedFieldsEntry"), "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow."),
)
_s("meta.ListMeta", "ListMeta describes metadata that synthetic resources must have, including lists and various status objects.",
    ("selfLink", STR, "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system."),
    ("resourceVersion", STR, "String that identifies the server's internal version of this object that can be used by clients to determine when objects have changed."),
    ("continue", STR, "continue may be set if the user set a limit on the number of items returned, and indicates that the server has more data available."),
    ("remainingItemCount", INT64, "remainingItemCount is the number of subsequent items in the list which are not included in this list response."),
)
_s("meta.LabelSelector", "A label selector is a label query over a set of resources; an empty selector matches all objects, a null one matches none.",
    ("matchLabels", mapof(STR), "matchLabels is a map of {key,value} pairs, each equivalent to a matchExpressions element with operator In."),
    ("matchExpressions", arr("meta.LabelSelectorRequirement"), "matchExpressions is a list of label selector requirements. The requirements are ANDed."),
)
_s("meta.LabelSelectorRequirement", "A label selector requirement is a selector that contains values, a key, and an operator that relates the key and values.",
    ("key!", STR, "key is the label key that the selector applies to."),
    ("operator!", STR, "operator represents a key's relationship to a set of values: In, NotIn, Exists or DoesNotExist."),
    ("values", arr(STR), "values is an array of string values; non-empty for In and NotIn, empty for Exists and DoesNotExist."),
)
_s("meta.OwnerReference", "OwnerReference contains enough information to let you identify an owning object.",
    ("apiVersion!", STR, "API version of the referent."),
    ("kind!", STR, "Kind of the referent."),
    ("name!", STR, "Name of the referent."),
    ("uid!", STR, "UID of the referent."),
    ("controller", BOOL, "If true, this reference points to the managing controller."),
    ("blockOwnerDeletion", BOOL, "If true, AND if the owner has the \"foregroundDeletion\" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed."),
)
_s("meta.ManagedFieldsEntry", "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.",
    ("manager", STR, "Manager is an identifier of the workflow managing these fields."),
    ("operation", STR, "Operation is the type of operation which lead to this ManagedFieldsEntry being created: Apply or Update."),
    ("apiVersion", STR, "APIVersion defines the version of this resource that this field set applies to."),
    ("time", TIME, "Time is the timestamp of when the ManagedFields entry was added."),
    ("fieldsType", STR, "FieldsType is the discriminator for the different fields format and version; the only valid value is \"FieldsV1\"."),
    ("fieldsV1", "meta.FieldsV1", "FieldsV1 holds the first JSON version format as described in the \"FieldsV1\" type."),
    ("subresource", STR, "Subresource is the name of the subresource used to update that object, or empty string if the object was updated through the main resource."),
)
_s("meta.Condition", "Condition contains details for one aspect of the current state of this API Resource.",
    ("type!", STR, "type of condition in CamelCase or in foo.example.com/CamelCase."),
    ("status!", enum("False", "True", "Unknown"), "status of the condition, one of True, False, Unknown."),
    ("observedGeneration", INT64, "observedGeneration represents the .metadata.generation that the condition was set based upon."),
    ("lastTransitionTime!", TIME, "lastTransitionTime is the last time the condition transitioned from one status to another."),
    ("reason!", STR, "reason contains a programmatic identifier indicating the reason for the condition's last transition."),
    ("message!", STR, "message is a human readable message indicating details about the transition."),
)
_s("meta.Status", "Status is a return value for calls that don't return other objects.",
    *_TYPE_META,
    ("metadata", "meta.ListMeta", "Standard list metadata."),
    ("status", STR, "Status of the operation: one of \"Success\" or \"Failure\"."),
    ("message", STR, "A human-readable description of the status of this operation."),
    ("reason", STR, "A machine-readable description of why this operation is in the \"Failure\" status."),
    ("details", "meta.StatusDetails", "Extended data associated with the reason."),
    ("code", INT, "Suggested HTTP return code for this status, 0 if not set."),
    gvk=("", "v1", "Status"),
)
_s("meta.StatusDetails", "StatusDetails is a set of additional properties that MAY be set by the server to provide additional information about a response.",
    ("name", STR, "The name attribute of the resource associated with the status StatusReason (when there is a single name which can be described)."),
    ("group", STR, "The group attribute of the resource associated with the status StatusReason."),
    ("kind", STR, "The kind attribute of the resource associated with the status StatusReason."),
    ("uid", STR, "UID of the resource."),
    ("causes", arr("meta.StatusCause"), "The Causes array includes more details associated with the StatusReason failure."),
    ("retryAfterSeconds", INT, "If specified, the time in seconds before the operation should be retried."),
)
_s("meta.StatusCause", "StatusCause provides more information about an api.Status failure, including cases when multiple errors are encountered.",
    ("reason", STR, "A machine-readable description of the cause of the error."),
    ("message", STR, "A human-readable description of the cause of the error."),
    ("field", STR, "The field of the resource that has caused this error, as named by its JSON serialization (e.g. \"spec.ports[0].port\")."),
)
_s("meta.DeleteOptions", "DeleteOptions may be provided when deleting an API object.",
    *_TYPE_META,
    ("gracePeriodSeconds", INT64, "The duration in seconds before the object should be deleted."),
    ("preconditions", "meta.Preconditions", "Must be fulfilled before a deletion is carried out."),
    ("orphanDependents", BOOL, "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7."),
    ("propagationPolicy", STR, "Whether and how garbage collection will be performed: Orphan, Background or Foreground."),
    ("dryRun", arr(STR), "When present, indicates that modifications should not be persisted."),
    ("ignoreStoreReadErrorWithClusterBreakingPotential", BOOL, "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error."),
)
_s("meta.Preconditions", "Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out.",
    ("resourceVersion", STR, "Specifies the target ResourceVersion."),
    ("uid", STR, "Specifies the target UID."),
)

# --------------------------------------------------------------------------------------------
# k8s.io/api, release-1.32 (descriptions: the first sentence of the upstream doc comment)

# core/v1
_kind("core.Binding", "Binding ties one object to another; for example, a pod is bound to a node by a scheduler.",
    ("target!", "core.ObjectReference", "The target object that you want to bind to the standard object."),
    list_kind=False,
)
_kind("core.ConfigMap", "ConfigMap holds configuration data for pods to consume.",
    ("immutable", BOOL, "Immutable, if set to true, ensures that data stored in the ConfigMap cannot be updated (only object metadata can be modified)."),
    ("data", mapof(STR), "Data contains the configuration data."),
    ("binaryData", mapof(BYTES), "BinaryData contains the binary data."),
)
_kind("core.Endpoints", "Endpoints is a collection of endpoints that implement the actual service.",
    ("subsets", arr("core.EndpointSubset"), "The set of all endpoints is the union of all subsets."),
)
_kind("core.Event", "Event is a report of an event somewhere in the cluster.",
    ("involvedObject!", "core.ObjectReference", "The object that this event is about."),
    ("reason", STR, "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    ("message", STR, "A human-readable description of the status of this operation."),
    ("source", "core.EventSource", "The component reporting this event."),
    ("firstTimestamp", TIME, "The time at which the event was first recorded."),
    ("lastTimestamp", TIME, "The time at which the most recent occurrence of this event was recorded."),
    ("count", INT, "The number of times this event has occurred."),
    ("type", STR, "Type of this event (Normal, Warning), new types could be added in the future"),
    ("eventTime", MICROTIME, "Time when this Event was first observed."),
    ("series", "core.EventSeries", "Data about the Event series this event represents or nil if it's a singleton Event."),
    ("action", STR, "What action was taken/failed regarding to the Regarding object."),
    ("related", "core.ObjectReference", "Optional secondary object for more complex actions."),
    ("reportingComponent", STR, "Name of the controller that emitted this Event, e.g. `kubernetes.io/kubelet`."),
    ("reportingInstance", STR, "ID of the controller instance, e.g. `kubelet-xyzf`."),
)
_kind("core.Namespace", "Namespace provides a scope for Names.",
    ("spec", "core.NamespaceSpec", "Spec defines the behavior of the Namespace."),
    ("status", "core.NamespaceStatus", "Status describes the current status of a Namespace."),
)
_kind("core.Node", "Node is a worker node in Kubernetes.",
    ("spec", "core.NodeSpec", "Spec defines the behavior of a node."),
    ("status", "core.NodeStatus", "Most recently observed status of the node."),
)
_kind("core.Pod", "Pod is a collection of containers that can run on a host.",
    ("spec", "core.PodSpec", "Specification of the desired behavior of the pod."),
    ("status", "core.PodStatus", "Most recently observed status of the pod."),
)
_kind("core.ReplicationController", "ReplicationController represents the configuration of a replication controller.",
    ("spec", "core.ReplicationControllerSpec", "Spec defines the specification of the desired behavior of the replication controller."),
    ("status", "core.ReplicationControllerStatus", "Status is the most recently observed status of the replication controller."),
)
_kind("core.Secret", "Secret holds secret data of a certain type.",
    ("immutable", BOOL, "Immutable, if set to true, ensures that data stored in the Secret cannot be updated (only object metadata can be modified)."),
    ("data", mapof(BYTES), "Data contains the secret data."),
    ("stringData", mapof(STR), "stringData allows specifying non-binary secret data in string form."),
    ("type", STR, "Used to facilitate programmatic handling of secret data."),
)
_kind("core.Service", "Service is a named abstraction of software service (for example, mysql) consisting of local port (for example 3306) that the proxy listens on, and the selector that determines which pods will answer requests sent through the proxy.",
    ("spec", "core.ServiceSpec", "Spec defines the behavior of a service."),
    ("status", "core.ServiceStatus", "Most recently observed status of the service."),
)
_kind("core.ServiceAccount", "ServiceAccount binds together a name understood by users, a principal that can be authenticated and authorized, and a set of secrets.",
    ("secrets", arr("core.ObjectReference"), "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
    ("imagePullSecrets", arr("core.LocalObjectReference"), "ImagePullSecrets is a list of references to secrets in the same namespace to use for pulling any images in pods that reference this ServiceAccount."),
    ("automountServiceAccountToken", BOOL, "AutomountServiceAccountToken indicates whether pods running as this service account should have an API token automatically mounted."),
)
_s("core.Affinity", "Affinity is a group of affinity scheduling rules.",
    ("nodeAffinity", "core.NodeAffinity", "Describes node affinity scheduling rules for the pod."),
    ("podAffinity", "core.PodAffinity", "Describes pod affinity scheduling rules (e.g. co-locate this pod in the same node, zone, etc. as some other pod(s))."),
    ("podAntiAffinity", "core.PodAntiAffinity", "Describes pod anti-affinity scheduling rules (e.g. avoid putting this pod in the same node, zone, etc. as some other pod(s))."),
)
_s("core.Capabilities", "Adds and removes POSIX capabilities from running containers.",
    ("add", arr(STR), "Added capabilities"),
    ("drop", arr(STR), "Removed capabilities"),
)
_s("core.ClientIPConfig", "ClientIPConfig represents the configurations of Client IP based session affinity.",
    ("timeoutSeconds", INT, "timeoutSeconds specifies the seconds of ClientIP type session sticky time."),
)
_s("core.ConfigMapEnvSource", "ConfigMapEnvSource selects a ConfigMap to populate the environment variables with.",
    ("name", STR, "Name of the referent."),
    ("optional", BOOL, "Specify whether the ConfigMap must be defined"),
)
_s("core.ConfigMapKeySelector", "Selects a key from a ConfigMap.",
    ("name", STR, "Name of the referent."),
    ("key!", STR, "The key to select."),
    ("optional", BOOL, "Specify whether the ConfigMap or its key must be defined"),
)
_s("core.ConfigMapProjection", "Adapts a ConfigMap into a projected volume.",
    ("name", STR, "Name of the referent."),
    ("items", arr("core.KeyToPath"), "items if unspecified, each key-value pair in the Data field of the referenced ConfigMap will be projected into the volume as a file whose name is the key and content is the value."),
    ("optional", BOOL, "optional specify whether the ConfigMap or its keys must be defined"),
)
_s("core.ConfigMapVolumeSource", "Adapts a ConfigMap into a volume.",
    ("name", STR, "Name of the referent."),
    ("items", arr("core.KeyToPath"), "items if unspecified, each key-value pair in the Data field of the referenced ConfigMap will be projected into the volume as a file whose name is the key and content is the value."),
    ("defaultMode", INT, "defaultMode is optional: mode bits used to set permissions on created files by default."),
    ("optional", BOOL, "optional specify whether the ConfigMap or its keys must be defined"),
)
_s("core.Container", "A single application container that you want to run within a pod.",
    ("name!", STR, "Name of the container specified as a DNS_LABEL."),
    ("image", STR, "Container image name."),
    ("command", arr(STR), "Entrypoint array."),
    ("args", arr(STR), "Arguments to the entrypoint."),
    ("workingDir", STR, "Container's working directory."),
    ("ports", arr("core.ContainerPort"), "List of ports to expose from the container."),
    ("envFrom", arr("core.EnvFromSource"), "List of sources to populate environment variables in the container."),
    ("env", arr("core.EnvVar"), "List of environment variables to set in the container."),
    ("resources", "core.ResourceRequirements", "Compute Resources required by this container."),
    ("resizePolicy", arr("core.ContainerResizePolicy"), "Resources resize policy for the container."),
    ("restartPolicy", STR, "RestartPolicy defines the restart behavior of individual containers in a pod."),
    ("volumeMounts", arr("core.VolumeMount"), "Pod volumes to mount into the container's filesystem."),
    ("volumeDevices", arr("core.VolumeDevice"), "volumeDevices is the list of block devices to be used by the container."),
    ("livenessProbe", "core.Probe", "Periodic probe of container liveness."),
    ("readinessProbe", "core.Probe", "Periodic probe of container service readiness."),
    ("startupProbe", "core.Probe", "StartupProbe indicates that the Pod has successfully initialized."),
    ("lifecycle", "core.Lifecycle", "Actions that the management system should take in response to container lifecycle events."),
    ("terminationMessagePath", STR, "Optional: Path at which the file to which the container's termination message will be written is mounted into the container's filesystem."),
    ("terminationMessagePolicy", enum("FallbackToLogsOnError", "File"), "Indicate how the termination message should be populated."),
    ("imagePullPolicy", enum("Always", "IfNotPresent", "Never"), "Image pull policy."),
    ("securityContext", "core.SecurityContext", "SecurityContext defines the security options the container should be run with."),
    ("stdin", BOOL, "Whether this container should allocate a buffer for stdin in the container runtime."),
    ("stdinOnce", BOOL, "Whether the container runtime should close the stdin channel after it has been opened by a single attach."),
    ("tty", BOOL, "Whether this container should allocate a TTY for itself, also requires 'stdin' to be true."),
)
_s("core.ContainerImage", "Describe a container image",
    ("names", arr(STR), "Names by which this image is known."),
    ("sizeBytes", INT64, "The size of the image in bytes."),
)
_s("core.ContainerPort", "ContainerPort represents a network port in a single container.",
    ("name", STR, "If specified, this must be an IANA_SVC_NAME and unique within the pod."),
    ("hostPort", INT, "Number of port to expose on the host."),
    ("containerPort!", INT, "Number of port to expose on the pod's IP address."),
    ("protocol", enum("SCTP", "TCP", "UDP"), "Protocol for port."),
    ("hostIP", STR, "What host IP to bind the external port to."),
)
_s("core.ContainerResizePolicy", "ContainerResizePolicy represents resource resize policy for the container.",
    ("resourceName!", STR, "Name of the resource to which this resource resize policy applies."),
    ("restartPolicy!", STR, "Restart policy to apply when specified resource is resized."),
)
_s("core.ContainerState", "ContainerState holds a possible state of container.",
    ("waiting", "core.ContainerStateWaiting", "Details about a waiting container"),
    ("running", "core.ContainerStateRunning", "Details about a running container"),
    ("terminated", "core.ContainerStateTerminated", "Details about a terminated container"),
)
_s("core.ContainerStateRunning", "ContainerStateRunning is a running state of a container.",
    ("startedAt", TIME, "Time at which the container was last (re-)started"),
)
_s("core.ContainerStateTerminated", "ContainerStateTerminated is a terminated state of a container.",
    ("exitCode!", INT, "Exit status from the last termination of the container"),
    ("signal", INT, "Signal from the last termination of the container"),
    ("reason", STR, "(brief) reason from the last termination of the container"),
    ("message", STR, "Message regarding the last termination of the container"),
    ("startedAt", TIME, "Time at which previous execution of the container started"),
    ("finishedAt", TIME, "Time at which the container last terminated"),
    ("containerID", STR, "Container's ID in the format '<type>://<container_id>'"),
)
_s("core.ContainerStateWaiting", "ContainerStateWaiting is a waiting state of a container.",
    ("reason", STR, "(brief) reason the container is not yet running."),
    ("message", STR, "Message regarding why the container is not yet running."),
)
_s("core.ContainerStatus", "ContainerStatus contains details for the current status of this container.",
    ("name!", STR, "Name is a DNS_LABEL representing the unique name of the container."),
    ("state", "core.ContainerState", "State holds details about the container's current condition."),
    ("lastState", "core.ContainerState", "LastTerminationState holds the last termination state of the container to help debug container crashes and restarts."),
    ("ready!", BOOL, "Ready specifies whether the container is currently passing its readiness check."),
    ("restartCount!", INT, "RestartCount holds the number of times the container has been restarted."),
    ("image!", STR, "Image is the name of container image that the container is running."),
    ("imageID!", STR, "ImageID is the image ID of the container's image."),
    ("containerID", STR, "ContainerID is the ID of the container in the format '<type>://<container_id>'."),
    ("started", BOOL, "Started indicates whether the container has finished its postStart lifecycle hook and passed its startup probe."),
    ("allocatedResources", mapof(QTY), "AllocatedResources represents the compute resources allocated for this container by the node."),
    ("resources", "core.ResourceRequirements", "Resources represents the compute resource requests and limits that have been successfully enacted on the running container after it has been started or has been successfully resized."),
    ("volumeMounts", arr(FREE), "Status of volume mounts."),
    ("user", FREE, "User represents user identity information initially attached to the first process of the container"),
    ("allocatedResourcesStatus", arr(FREE), "AllocatedResourcesStatus represents the status of various resources allocated for this Pod."),
)
_s("core.DaemonEndpoint", "DaemonEndpoint contains information about a single Daemon endpoint.",
    ("Port!", INT, "Port number of the given endpoint."),
)
_s("core.DownwardAPIProjection", "Represents downward API info for projecting into a projected volume.",
    ("items", arr("core.DownwardAPIVolumeFile"), "Items is a list of DownwardAPIVolume file"),
)
_s("core.DownwardAPIVolumeFile", "DownwardAPIVolumeFile represents information to create the file containing the pod field",
    ("path!", STR, "Required: Path is  the relative path name of the file to be created."),
    ("fieldRef", "core.ObjectFieldSelector", "Required: Selects a field of the pod: only annotations, labels, name, namespace and uid are supported."),
    ("resourceFieldRef", "core.ResourceFieldSelector", "Selects a resource of the container: only resources limits and requests (limits.cpu, limits.memory, requests.cpu and requests.memory) are currently supported."),
    ("mode", INT, "Optional: mode bits used to set permissions on this file, must be an octal value between 0000 and 0777 or a decimal value between 0 and 511."),
)
_s("core.DownwardAPIVolumeSource", "DownwardAPIVolumeSource represents a volume containing downward API info.",
    ("items", arr("core.DownwardAPIVolumeFile"), "Items is a list of downward API volume file"),
    ("defaultMode", INT, "Optional: mode bits to use on created files by default."),
)
_s("core.EmptyDirVolumeSource", "Represents an empty directory for a pod.",
    ("medium", STR, "medium represents what type of storage medium should back this directory."),
    ("sizeLimit", QTY, "sizeLimit is the total amount of local storage required for this EmptyDir volume."),
)
_s("core.EndpointAddress", "EndpointAddress is a tuple that describes single IP address.",
    ("ip!", STR, "The IP of this endpoint."),
    ("hostname", STR, "The Hostname of this endpoint"),
    ("nodeName", STR, "Optional: Node hosting this endpoint."),
    ("targetRef", "core.ObjectReference", "Reference to object providing the endpoint."),
)
_s("core.EndpointPort", "EndpointPort is a tuple that describes a single port.",
    ("name", STR, "The name of this port."),
    ("port!", INT, "The port number of the endpoint."),
    ("protocol", enum("SCTP", "TCP", "UDP"), "The IP protocol for this port."),
    ("appProtocol", STR, "The application protocol for this port."),
)
_s("core.EndpointSubset", "EndpointSubset is a group of addresses with a common set of ports.",
    ("addresses", arr("core.EndpointAddress"), "IP addresses which offer the related ports that are marked as ready."),
    ("notReadyAddresses", arr("core.EndpointAddress"), "IP addresses which offer the related ports but are not currently marked as ready because they have not yet finished starting, have recently failed a readiness check, or have recently failed a liveness check."),
    ("ports", arr("core.EndpointPort"), "Port numbers available on the related IP addresses."),
)
_s("core.EnvFromSource", "EnvFromSource represents the source of a set of ConfigMaps",
    ("prefix", STR, "An optional identifier to prepend to each key in the ConfigMap."),
    ("configMapRef", "core.ConfigMapEnvSource", "The ConfigMap to select from"),
    ("secretRef", "core.SecretEnvSource", "The Secret to select from"),
)
_s("core.EnvVar", "EnvVar represents an environment variable present in a Container.",
    ("name!", STR, "Name of the environment variable."),
    ("value", STR, "Variable references $(VAR_NAME) are expanded using the previously defined environment variables in the container and any service environment variables."),
    ("valueFrom", "core.EnvVarSource", "Source for the environment variable's value."),
)
_s("core.EnvVarSource", "EnvVarSource represents a source for the value of an EnvVar.",
    ("fieldRef", "core.ObjectFieldSelector", "Selects a field of the pod: supports metadata.name, metadata.namespace, `metadata.labels['<KEY>']`, `metadata.annotations['<KEY>']`, spec.nodeName, spec.serviceAccountName, status.hostIP, status.podIP, status.podIPs."),
    ("resourceFieldRef", "core.ResourceFieldSelector", "Selects a resource of the container: only resources limits and requests (limits.cpu, limits.memory, limits.ephemeral-storage, requests.cpu, requests.memory and requests.ephemeral-storage) are currently supported."),
    ("configMapKeyRef", "core.ConfigMapKeySelector", "Selects a key of a ConfigMap."),
    ("secretKeyRef", "core.SecretKeySelector", "Selects a key of a secret in the pod's namespace"),
)
_s("core.EventSeries", "EventSeries contain information on series of events, i.e. thing that was/is happening continuously for some time.",
    ("count", INT, "Number of occurrences in this series up to the last heartbeat time"),
    ("lastObservedTime", MICROTIME, "Time of the last occurrence observed"),
)
_s("core.EventSource", "EventSource contains information for an event.",
    ("component", STR, "Component from which the event is generated."),
    ("host", STR, "Node name on which the event is generated."),
)
_s("core.ExecAction", "ExecAction describes a \"run in container\" action.",
    ("command", arr(STR), "Command is the command line to execute inside the container, the working directory for the command  is root ('/') in the container's filesystem."),
)
_s("core.GRPCAction", "GRPCAction specifies an action involving a GRPC service.",
    ("port!", INT, "Port number of the gRPC service."),
    ("service", STR, "Service is the name of the service to place in the gRPC HealthCheckRequest (see https://github.com/grpc/grpc/blob/master/doc/health-checking.md)."),
)
_s("core.HTTPGetAction", "HTTPGetAction describes an action based on HTTP Get requests.",
    ("path", STR, "Path to access on the HTTP server."),
    ("port!", IOS, "Name or number of the port to access on the container."),
    ("host", STR, "Host name to connect to, defaults to the pod IP."),
    ("scheme", enum("HTTP", "HTTPS"), "Scheme to use for connecting to the host."),
    ("httpHeaders", arr("core.HTTPHeader"), "Custom headers to set in the request."),
)
_s("core.HTTPHeader", "HTTPHeader describes a custom header to be used in HTTP probes",
    ("name!", STR, "The header field name."),
    ("value!", STR, "The header field value"),
)
_s("core.HostAlias", "HostAlias holds the mapping between IP and hostnames that will be injected as an entry in the pod's hosts file.",
    ("ip!", STR, "IP address of the host file entry."),
    ("hostnames", arr(STR), "Hostnames for the above IP address."),
)
_s("core.HostIP", "HostIP represents a single IP address allocated to the host.",
    ("ip!", STR, "IP is the IP address assigned to the host"),
)
_s("core.HostPathVolumeSource", "Represents a host path mapped into a pod.",
    ("path!", STR, "path of the directory on the host."),
    ("type", enum("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"), "type for HostPath Volume Defaults to \"\" More info: https://kubernetes.io/docs/concepts/storage/volumes#hostpath"),
)
_s("core.KeyToPath", "Maps a string key to a path within a volume.",
    ("key!", STR, "key is the key to project."),
    ("path!", STR, "path is the relative path of the file to map the key to."),
    ("mode", INT, "mode is Optional: mode bits used to set permissions on this file."),
)
_s("core.Lifecycle", "Lifecycle describes actions that the management system should take in response to container lifecycle events.",
    ("postStart", "core.LifecycleHandler", "PostStart is called immediately after a container is created."),
    ("preStop", "core.LifecycleHandler", "PreStop is called immediately before a container is terminated due to an API request or management event such as liveness/startup probe failure, preemption, resource contention, etc."),
)
_s("core.LifecycleHandler", "LifecycleHandler defines a specific action that should be taken in a lifecycle hook.",
    ("exec", "core.ExecAction", "Exec specifies a command to execute in the container."),
    ("httpGet", "core.HTTPGetAction", "HTTPGet specifies an HTTP GET request to perform."),
    ("tcpSocket", "core.TCPSocketAction", "Deprecated. TCPSocket is NOT supported as a LifecycleHandler and kept for backward compatibility."),
    ("sleep", "core.SleepAction", "Sleep represents a duration that the container should sleep."),
)
_s("core.LoadBalancerIngress", "LoadBalancerIngress represents the status of a load-balancer ingress point: traffic intended for the service should be sent to an ingress point.",
    ("ip", STR, "IP is set for load-balancer ingress points that are IP based (typically GCE or OpenStack load-balancers)"),
    ("hostname", STR, "Hostname is set for load-balancer ingress points that are DNS based (typically AWS load-balancers)"),
    ("ipMode", STR, "IPMode specifies how the load-balancer IP behaves, and may only be specified when the ip field is specified."),
    ("ports", arr("core.PortStatus"), "Ports is a list of records of service ports If used, every port defined in the service should have an entry in it"),
)
_s("core.LoadBalancerStatus", "LoadBalancerStatus represents the status of a load-balancer.",
    ("ingress", arr("core.LoadBalancerIngress"), "Ingress is a list containing ingress points for the load-balancer."),
)
_s("core.LocalObjectReference", "LocalObjectReference contains enough information to let you locate the referenced object inside the same namespace.",
    ("name", STR, "Name of the referent."),
)
_s("core.NFSVolumeSource", "Represents an NFS mount that lasts the lifetime of a pod.",
    ("server!", STR, "server is the hostname or IP address of the NFS server."),
    ("path!", STR, "path that is exported by the NFS server."),
    ("readOnly", BOOL, "readOnly here will force the NFS export to be mounted with read-only permissions."),
)
_s("core.NamespaceCondition", "NamespaceCondition contains details about state of namespace.",
    ("type!", STR, "Type of namespace controller condition."),
    ("status!", STR, "Status of the condition, one of True, False, Unknown."),
    ("lastTransitionTime", TIME, "Last time the condition transitioned from one status to another."),
    ("reason", STR, "Unique, one-word, CamelCase reason for the condition's last transition."),
    ("message", STR, "Human-readable message indicating details about last transition."),
)
_s("core.NamespaceSpec", "NamespaceSpec describes the attributes on a Namespace.",
    ("finalizers", arr(STR), "Finalizers is an opaque list of values that must be empty to permanently remove object from storage."),
)
_s("core.NamespaceStatus", "NamespaceStatus is information about the current status of a Namespace.",
    ("phase", enum("Active", "Terminating"), "Phase is the current lifecycle phase of the namespace."),
    ("conditions", arr("core.NamespaceCondition"), "Represents the latest available observations of a namespace's current state."),
)
_s("core.NodeAddress", "NodeAddress contains information for the node's address.",
    ("type!", STR, "Node address type, one of Hostname, ExternalIP or InternalIP."),
    ("address!", STR, "The node address."),
)
_s("core.NodeAffinity", "Node affinity is a group of node affinity scheduling rules.",
    ("requiredDuringSchedulingIgnoredDuringExecution", "core.NodeSelector", "If the affinity requirements specified by this field are not met at scheduling time, the pod will not be scheduled onto the node."),
    ("preferredDuringSchedulingIgnoredDuringExecution", arr("core.PreferredSchedulingTerm"), "The scheduler will prefer to schedule pods to nodes that satisfy the affinity expressions specified by this field, but it may choose a node that violates one or more of the expressions."),
)
_s("core.NodeCondition", "NodeCondition contains condition information for a node.",
    ("type!", STR, "Type of node condition."),
    ("status!", STR, "Status of the condition, one of True, False, Unknown."),
    ("lastHeartbeatTime", TIME, "Last time we got an update on a given condition."),
    ("lastTransitionTime", TIME, "Last time the condition transit from one status to another."),
    ("reason", STR, "(brief) reason for the condition's last transition."),
    ("message", STR, "Human readable message indicating details about last transition."),
)
_s("core.NodeDaemonEndpoints", "NodeDaemonEndpoints lists ports opened by daemons running on the Node.",
    ("kubeletEndpoint", "core.DaemonEndpoint", "Endpoint on which Kubelet is listening."),
)
_s("core.NodeSelector", "A node selector represents the union of the results of one or more label queries over a set of nodes; that is, it represents the OR of the selectors represented by the node selector terms.",
    ("nodeSelectorTerms!", arr("core.NodeSelectorTerm"), "Required. A list of node selector terms."),
)
_s("core.NodeSelectorRequirement", "A node selector requirement is a selector that contains values, a key, and an operator that relates the key and values.",
    ("key!", STR, "The label key that the selector applies to."),
    ("operator!", enum("DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"), "Represents a key's relationship to a set of values."),
    ("values", arr(STR), "An array of string values."),
)
_s("core.NodeSelectorTerm", "A null or empty node selector term matches no objects.",
    ("matchExpressions", arr("core.NodeSelectorRequirement"), "A list of node selector requirements by node's labels."),
    ("matchFields", arr("core.NodeSelectorRequirement"), "A list of node selector requirements by node's fields."),
)
_s("core.NodeSpec", "NodeSpec describes the attributes that a node is created with.",
    ("podCIDR", STR, "PodCIDR represents the pod IP range assigned to the node."),
    ("podCIDRs", arr(STR), "podCIDRs represents the IP ranges assigned to the node for usage by Pods on that node."),
    ("providerID", STR, "ID of the node assigned by the cloud provider in the format: <ProviderName>://<ProviderSpecificNodeID>"),
    ("unschedulable", BOOL, "Unschedulable controls node schedulability of new pods."),
    ("taints", arr("core.Taint"), "If specified, the node's taints."),
    ("configSource", FREE, "Deprecated: Previously used to specify the source of the node's configuration for the DynamicKubeletConfig feature."),
    ("externalID", STR, "Deprecated. Not all kubelets will set this field."),
)
_s("core.NodeStatus", "NodeStatus is information about the current status of a node.",
    ("capacity", mapof(QTY), "Capacity represents the total resources of a node."),
    ("allocatable", mapof(QTY), "Allocatable represents the resources of a node that are available for scheduling."),
    ("phase", enum("Pending", "Running", "Terminated"), "NodePhase is the recently observed lifecycle phase of the node."),
    ("conditions", arr("core.NodeCondition"), "Conditions is an array of current observed node conditions."),
    ("addresses", arr("core.NodeAddress"), "List of addresses reachable to the node."),
    ("daemonEndpoints", "core.NodeDaemonEndpoints", "Endpoints of daemons running on the Node."),
    ("nodeInfo", "core.NodeSystemInfo", "Set of ids/uuids to uniquely identify the node."),
    ("images", arr("core.ContainerImage"), "List of container images on this node"),
    ("volumesInUse", arr(STR), "List of attachable volumes in use (mounted) by the node."),
    ("volumesAttached", arr(FREE), "List of volumes that are attached to the node."),
    ("config", FREE, "Status of the config assigned to the node via the dynamic Kubelet config feature."),
    ("runtimeHandlers", arr(FREE), "The available runtime handlers."),
    ("features", FREE, "Features describes the set of features implemented by the CRI implementation."),
)
_s("core.NodeSystemInfo", "NodeSystemInfo is a set of ids/uuids to uniquely identify the node.",
    ("machineID!", STR, "MachineID reported by the node."),
    ("systemUUID!", STR, "SystemUUID reported by the node."),
    ("bootID!", STR, "Boot ID reported by the node."),
    ("kernelVersion!", STR, "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    ("osImage!", STR, "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    ("containerRuntimeVersion!", STR, "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
    ("kubeletVersion!", STR, "Kubelet Version reported by the node."),
    ("kubeProxyVersion!", STR, "Deprecated: KubeProxy Version reported by the node."),
    ("operatingSystem!", STR, "The Operating System reported by the node"),
    ("architecture!", STR, "The Architecture reported by the node"),
)
_s("core.ObjectFieldSelector", "ObjectFieldSelector selects an APIVersioned field of an object.",
    ("apiVersion", STR, "Version of the schema the FieldPath is written in terms of, defaults to \"v1\"."),
    ("fieldPath!", STR, "Path of the field to select in the specified API version."),
)
_s("core.ObjectReference", "ObjectReference contains enough information to let you inspect or modify the referred object.",
    ("kind", STR, "Kind of the referent."),
    ("namespace", STR, "Namespace of the referent."),
    ("name", STR, "Name of the referent."),
    ("uid", STR, "UID of the referent."),
    ("apiVersion", STR, "API version of the referent."),
    ("resourceVersion", STR, "Specific resourceVersion to which this reference is made, if any."),
    ("fieldPath", STR, "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]."),
)
_s("core.PersistentVolumeClaimVolumeSource", "PersistentVolumeClaimVolumeSource references the user's PVC in the same namespace.",
    ("claimName!", STR, "claimName is the name of a PersistentVolumeClaim in the same namespace as the pod using this volume."),
    ("readOnly", BOOL, "readOnly Will force the ReadOnly setting in VolumeMounts."),
)
_s("core.PodAffinity", "Pod affinity is a group of inter pod affinity scheduling rules.",
    ("requiredDuringSchedulingIgnoredDuringExecution", arr("core.PodAffinityTerm"), "If the affinity requirements specified by this field are not met at scheduling time, the pod will not be scheduled onto the node."),
    ("preferredDuringSchedulingIgnoredDuringExecution", arr("core.WeightedPodAffinityTerm"), "The scheduler will prefer to schedule pods to nodes that satisfy the affinity expressions specified by this field, but it may choose a node that violates one or more of the expressions."),
)
_s("core.PodAffinityTerm", "Defines a set of pods (namely those matching the labelSelector relative to the given namespace(s)) that this pod should be co-located (affinity) or not co-located (anti-affinity) with, where co-located is defined as running on a node whose value of the label with key <topologyKey> matches that of any node on which a pod of the set of pods is running",
    ("labelSelector", "meta.LabelSelector", "A label query over a set of resources, in this case pods."),
    ("namespaces", arr(STR), "namespaces specifies a static list of namespace names that the term applies to."),
    ("topologyKey!", STR, "This pod should be co-located (affinity) or not co-located (anti-affinity) with the pods matching the labelSelector in the specified namespaces, where co-located is defined as running on a node whose value of the label with key topologyKey matches that of any node on which any of the selected pods is running."),
    ("namespaceSelector", "meta.LabelSelector", "A label query over the set of namespaces that the term applies to."),
    ("matchLabelKeys", arr(STR), "MatchLabelKeys is a set of pod label keys to select which pods will be taken into consideration."),
    ("mismatchLabelKeys", arr(STR), "MismatchLabelKeys is a set of pod label keys to select which pods will be taken into consideration."),
)
_s("core.PodAntiAffinity", "Pod anti affinity is a group of inter pod anti affinity scheduling rules.",
    ("requiredDuringSchedulingIgnoredDuringExecution", arr("core.PodAffinityTerm"), "If the anti-affinity requirements specified by this field are not met at scheduling time, the pod will not be scheduled onto the node."),
    ("preferredDuringSchedulingIgnoredDuringExecution", arr("core.WeightedPodAffinityTerm"), "The scheduler will prefer to schedule pods to nodes that satisfy the anti-affinity expressions specified by this field, but it may choose a node that violates one or more of the expressions."),
)
_s("core.PodCondition", "PodCondition contains details for the current condition of this pod.",
    ("type!", STR, "Type is the type of the condition."),
    ("status!", STR, "Status is the status of the condition."),
    ("lastProbeTime", TIME, "Last time we probed the condition."),
    ("lastTransitionTime", TIME, "Last time the condition transitioned from one status to another."),
    ("reason", STR, "Unique, one-word, CamelCase reason for the condition's last transition."),
    ("message", STR, "Human-readable message indicating details about last transition."),
)
_s("core.PodDNSConfig", "PodDNSConfig defines the DNS parameters of a pod in addition to those generated from DNSPolicy.",
    ("nameservers", arr(STR), "A list of DNS name server IP addresses."),
    ("searches", arr(STR), "A list of DNS search domains for host-name lookup."),
    ("options", arr("core.PodDNSConfigOption"), "A list of DNS resolver options."),
)
_s("core.PodDNSConfigOption", "PodDNSConfigOption defines DNS resolver options of a pod.",
    ("name", STR, "Name is this DNS resolver option's name."),
    ("value", STR, "Value is this DNS resolver option's value."),
)
_s("core.PodIP", "PodIP represents a single IP address allocated to the pod.",
    ("ip!", STR, "IP is the IP address assigned to the pod"),
)
_s("core.PodOS", "PodOS defines the OS parameters of a pod.",
    ("name!", STR, "Name is the name of the operating system."),
)
_s("core.PodReadinessGate", "PodReadinessGate contains the reference to a pod condition",
    ("conditionType!", STR, "ConditionType refers to a condition in the pod's condition list with matching type."),
)
_s("core.PodSchedulingGate", "PodSchedulingGate is associated to a Pod to guard its scheduling.",
    ("name!", STR, "Name of the scheduling gate."),
)
_s("core.PodSecurityContext", "PodSecurityContext holds pod-level security attributes and common container settings.",
    ("seLinuxOptions", FREE, "The SELinux context to be applied to all containers."),
    ("windowsOptions", FREE, "The Windows specific settings applied to all containers."),
    ("runAsUser", INT64, "The UID to run the entrypoint of the container process."),
    ("runAsGroup", INT64, "The GID to run the entrypoint of the container process."),
    ("runAsNonRoot", BOOL, "Indicates that the container must run as a non-root user."),
    ("supplementalGroups", arr(INT64), "A list of groups applied to the first process run in each container, in addition to the container's primary GID and fsGroup (if specified)."),
    ("supplementalGroupsPolicy", enum("Merge", "Strict"), "Defines how supplemental groups of the first container processes are calculated."),
    ("fsGroup", INT64, "A special supplemental group that applies to all containers in a pod."),
    ("sysctls", arr("core.Sysctl"), "Sysctls hold a list of namespaced sysctls used for the pod."),
    ("fsGroupChangePolicy", enum("Always", "OnRootMismatch"), "fsGroupChangePolicy defines behavior of changing ownership and permission of the volume before being exposed inside Pod."),
    ("seccompProfile", FREE, "The seccomp options to use by the containers in this pod."),
    ("appArmorProfile", FREE, "appArmorProfile is the AppArmor options to use by the containers in this pod."),
    ("seLinuxChangePolicy", STR, "seLinuxChangePolicy defines how the container's SELinux label is applied to all volumes used by the Pod."),
)
_s("core.PodSpec", "PodSpec is a description of a pod.",
    ("volumes", arr("core.Volume"), "List of volumes that can be mounted by containers belonging to the pod."),
    ("initContainers", arr("core.Container"), "List of initialization containers belonging to the pod."),
    ("containers!", arr("core.Container"), "List of containers belonging to the pod."),
    ("ephemeralContainers", arr(FREE), "List of ephemeral containers run in this pod."),
    ("restartPolicy", enum("Always", "Never", "OnFailure"), "Restart policy for all containers within the pod."),
    ("terminationGracePeriodSeconds", INT64, "Optional duration in seconds the pod needs to terminate gracefully."),
    ("activeDeadlineSeconds", INT64, "Optional duration in seconds the pod may be active on the node relative to StartTime before the system will actively try to mark it failed and kill associated containers."),
    ("dnsPolicy", enum("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"), "Set DNS policy for the pod."),
    ("nodeSelector", mapof(STR), "NodeSelector is a selector which must be true for the pod to fit on a node."),
    ("serviceAccountName", STR, "ServiceAccountName is the name of the ServiceAccount to use to run this pod."),
    ("serviceAccount", STR, "DeprecatedServiceAccount is a deprecated alias for ServiceAccountName."),
    ("automountServiceAccountToken", BOOL, "AutomountServiceAccountToken indicates whether a service account token should be automatically mounted."),
    ("nodeName", STR, "NodeName indicates in which node this pod is scheduled."),
    ("hostNetwork", BOOL, "Host networking requested for this pod."),
    ("hostPID", BOOL, "Use the host's pid namespace."),
    ("hostIPC", BOOL, "Use the host's ipc namespace."),
    ("shareProcessNamespace", BOOL, "Share a single process namespace between all of the containers in a pod."),
    ("securityContext", "core.PodSecurityContext", "SecurityContext holds pod-level security attributes and common container settings."),
    ("imagePullSecrets", arr("core.LocalObjectReference"), "ImagePullSecrets is an optional list of references to secrets in the same namespace to use for pulling any of the images used by this PodSpec."),
    ("hostname", STR, "Specifies the hostname of the Pod; if not specified, the pod's hostname will be set to a system-defined value."),
    ("subdomain", STR, "If specified, the fully qualified Pod hostname will be \"<hostname>.<subdomain>.<pod namespace>.svc.<cluster domain>\"."),
    ("affinity", "core.Affinity", "If specified, the pod's scheduling constraints"),
    ("schedulerName", STR, "If specified, the pod will be dispatched by specified scheduler."),
    ("tolerations", arr("core.Toleration"), "If specified, the pod's tolerations."),
    ("hostAliases", arr("core.HostAlias"), "HostAliases is an optional list of hosts and IPs that will be injected into the pod's hosts file if specified."),
    ("priorityClassName", STR, "If specified, indicates the pod's priority."),
    ("priority", INT, "The priority value."),
    ("dnsConfig", "core.PodDNSConfig", "Specifies the DNS parameters of a pod."),
    ("readinessGates", arr("core.PodReadinessGate"), "If specified, all readiness gates will be evaluated for pod readiness."),
    ("runtimeClassName", STR, "RuntimeClassName refers to a RuntimeClass object in the node.k8s.io group, which should be used to run this pod."),
    ("enableServiceLinks", BOOL, "EnableServiceLinks indicates whether information about services should be injected into pod's environment variables, matching the syntax of Docker links."),
    ("preemptionPolicy", enum("Never", "PreemptLowerPriority"), "PreemptionPolicy is the Policy for preempting pods with lower priority."),
    ("overhead", mapof(QTY), "Overhead represents the resource overhead associated with running a pod for a given RuntimeClass."),
    ("topologySpreadConstraints", arr("core.TopologySpreadConstraint"), "TopologySpreadConstraints describes how a group of pods ought to spread across topology domains."),
    ("setHostnameAsFQDN", BOOL, "If true the pod's hostname will be configured as the pod's FQDN, rather than the leaf name (the default)."),
    ("os", "core.PodOS", "Specifies the OS of the containers in the pod."),
    ("hostUsers", BOOL, "Use the host's user namespace."),
    ("schedulingGates", arr("core.PodSchedulingGate"), "SchedulingGates is an opaque list of values that if specified will block scheduling the pod."),
    ("resourceClaims", arr(FREE), "ResourceClaims defines which ResourceClaims must be allocated and reserved before the Pod is allowed to start."),
    ("resources", "core.ResourceRequirements", "Resources is the total amount of CPU and Memory resources required by all containers in the pod."),
)
_s("core.PodStatus", "PodStatus represents information about the status of a pod.",
    ("phase", enum("Failed", "Pending", "Running", "Succeeded", "Unknown"), "The phase of a Pod is a simple, high-level summary of where the Pod is in its lifecycle."),
    ("conditions", arr("core.PodCondition"), "Current service state of pod."),
    ("message", STR, "A human readable message indicating details about why the pod is in this condition."),
    ("reason", STR, "A brief CamelCase message indicating details about why the pod is in this state."),
    ("nominatedNodeName", STR, "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods."),
    ("hostIP", STR, "hostIP holds the IP address of the host to which the pod is assigned."),
    ("hostIPs", arr("core.HostIP"), "hostIPs holds the IP addresses allocated to the host."),
    ("podIP", STR, "podIP address allocated to the pod."),
    ("podIPs", arr("core.PodIP"), "podIPs holds the IP addresses allocated to the pod."),
    ("startTime", TIME, "RFC 3339 date and time at which the object was acknowledged by the Kubelet."),
    ("initContainerStatuses", arr("core.ContainerStatus"), "Statuses of init containers in this pod."),
    ("containerStatuses", arr("core.ContainerStatus"), "Statuses of containers in this pod."),
    ("qosClass", enum("BestEffort", "Burstable", "Guaranteed"), "The Quality of Service (QOS) classification assigned to the pod based on resource requirements See PodQOSClass type for available QOS classes More info: https://kubernetes.io/docs/concepts/workloads/pods/pod-qos/#quality-of-service-classes"),
    ("ephemeralContainerStatuses", arr("core.ContainerStatus"), "Statuses for any ephemeral containers that have run in this pod."),
    ("resize", STR, "Status of resources resize desired for pod's containers."),
    ("resourceClaimStatuses", arr(FREE), "Status of resource claims."),
)
_s("core.PodTemplateSpec", "PodTemplateSpec describes the data a pod should have when created from a template",
    ("metadata", "meta.ObjectMeta", "Standard object's metadata."),
    ("spec", "core.PodSpec", "Specification of the desired behavior of the pod."),
)
_s("core.PortStatus", "PortStatus represents the error condition of a service port",
    ("port!", INT, "Port is the port number of the service port of which status is recorded here"),
    ("protocol!", enum("SCTP", "TCP", "UDP"), "Protocol is the protocol of the service port of which status is recorded here The supported values are: \"TCP\", \"UDP\", \"SCTP\""),
    ("error", STR, "Error is to record the problem with the service port The format of the error shall comply with the following rules: - built-in error values shall be specified in this file and those shall use CamelCase names - cloud provider specific error values must have names that comply with the format foo.example.com/CamelCase."),
)
_s("core.PreferredSchedulingTerm", "An empty preferred scheduling term matches all objects with implicit weight 0 (i.e. it's a no-op).",
    ("weight!", INT, "Weight associated with matching the corresponding nodeSelectorTerm, in the range 1-100."),
    ("preference!", "core.NodeSelectorTerm", "A node selector term, associated with the corresponding weight."),
)
_s("core.Probe", "Probe describes a health check to be performed against a container to determine whether it is alive or ready to receive traffic.",
    ("exec", "core.ExecAction", "Exec specifies a command to execute in the container."),
    ("httpGet", "core.HTTPGetAction", "HTTPGet specifies an HTTP GET request to perform."),
    ("tcpSocket", "core.TCPSocketAction", "TCPSocket specifies a connection to a TCP port."),
    ("grpc", "core.GRPCAction", "GRPC specifies a GRPC HealthCheckRequest."),
    ("initialDelaySeconds", INT, "Number of seconds after the container has started before liveness probes are initiated."),
    ("timeoutSeconds", INT, "Number of seconds after which the probe times out."),
    ("periodSeconds", INT, "How often (in seconds) to perform the probe."),
    ("successThreshold", INT, "Minimum consecutive successes for the probe to be considered successful after having failed."),
    ("failureThreshold", INT, "Minimum consecutive failures for the probe to be considered failed after having succeeded."),
    ("terminationGracePeriodSeconds", INT64, "Optional duration in seconds the pod needs to terminate gracefully upon probe failure."),
)
_s("core.ProjectedVolumeSource", "Represents a projected volume source",
    ("sources", arr("core.VolumeProjection"), "sources is the list of volume projections."),
    ("defaultMode", INT, "defaultMode are the mode bits used to set permissions on created files by default."),
)
_s("core.ReplicationControllerCondition", "ReplicationControllerCondition describes the state of a replication controller at a certain point.",
    ("type!", STR, "Type of replication controller condition."),
    ("status!", STR, "Status of the condition, one of True, False, Unknown."),
    ("lastTransitionTime", TIME, "The last time the condition transitioned from one status to another."),
    ("reason", STR, "The reason for the condition's last transition."),
    ("message", STR, "A human readable message indicating details about the transition."),
)
_s("core.ReplicationControllerSpec", "ReplicationControllerSpec is the specification of a replication controller.",
    ("replicas", INT, "Replicas is the number of desired replicas."),
    ("minReadySeconds", INT, "Minimum number of seconds for which a newly created pod should be ready without any of its container crashing, for it to be considered available."),
    ("selector", mapof(STR), "Selector is a label query over pods that should match the Replicas count."),
    ("template", "core.PodTemplateSpec", "Template is the object that describes the pod that will be created if insufficient replicas are detected."),
)
_s("core.ReplicationControllerStatus", "ReplicationControllerStatus represents the current status of a replication controller.",
    ("replicas!", INT, "Replicas is the most recently observed number of replicas."),
    ("fullyLabeledReplicas", INT, "The number of pods that have labels matching the labels of the pod template of the replication controller."),
    ("readyReplicas", INT, "The number of ready replicas for this replication controller."),
    ("availableReplicas", INT, "The number of available replicas (ready for at least minReadySeconds) for this replication controller."),
    ("observedGeneration", INT64, "ObservedGeneration reflects the generation of the most recently observed replication controller."),
    ("conditions", arr("core.ReplicationControllerCondition"), "Represents the latest available observations of a replication controller's current state."),
)
_s("core.ResourceFieldSelector", "ResourceFieldSelector represents container resources (cpu, memory) and their output format",
    ("containerName", STR, "Container name: required for volumes, optional for env vars"),
    ("resource!", STR, "Required: resource to select"),
    ("divisor", QTY, "Specifies the output format of the exposed resources, defaults to \"1\""),
)
_s("core.ResourceRequirements", "ResourceRequirements describes the compute resource requirements.",
    ("limits", mapof(QTY), "Limits describes the maximum amount of compute resources allowed."),
    ("requests", mapof(QTY), "Requests describes the minimum amount of compute resources required."),
    ("claims", arr(FREE), "Claims lists the names of resources, defined in spec.resourceClaims, that are used by this container."),
)
_s("core.SecretEnvSource", "SecretEnvSource selects a Secret to populate the environment variables with.",
    ("name", STR, "Name of the referent."),
    ("optional", BOOL, "Specify whether the Secret must be defined"),
)
_s("core.SecretKeySelector", "SecretKeySelector selects a key of a Secret.",
    ("name", STR, "Name of the referent."),
    ("key!", STR, "The key of the secret to select from."),
    ("optional", BOOL, "Specify whether the Secret or its key must be defined"),
)
_s("core.SecretProjection", "Adapts a secret into a projected volume.",
    ("name", STR, "Name of the referent."),
    ("items", arr("core.KeyToPath"), "items if unspecified, each key-value pair in the Data field of the referenced Secret will be projected into the volume as a file whose name is the key and content is the value."),
    ("optional", BOOL, "optional field specify whether the Secret or its key must be defined"),
)
_s("core.SecretVolumeSource", "Adapts a Secret into a volume.",
    ("secretName", STR, "secretName is the name of the secret in the pod's namespace to use."),
    ("items", arr("core.KeyToPath"), "items If unspecified, each key-value pair in the Data field of the referenced Secret will be projected into the volume as a file whose name is the key and content is the value."),
    ("defaultMode", INT, "defaultMode is Optional: mode bits used to set permissions on created files by default."),
    ("optional", BOOL, "optional field specify whether the Secret or its keys must be defined"),
)
_s("core.SecurityContext", "SecurityContext holds security configuration that will be applied to a container.",
    ("capabilities", "core.Capabilities", "The capabilities to add/drop when running containers."),
    ("privileged", BOOL, "Run container in privileged mode."),
    ("seLinuxOptions", FREE, "The SELinux context to be applied to the container."),
    ("windowsOptions", FREE, "The Windows specific settings applied to all containers."),
    ("runAsUser", INT64, "The UID to run the entrypoint of the container process."),
    ("runAsGroup", INT64, "The GID to run the entrypoint of the container process."),
    ("runAsNonRoot", BOOL, "Indicates that the container must run as a non-root user."),
    ("readOnlyRootFilesystem", BOOL, "Whether this container has a read-only root filesystem."),
    ("allowPrivilegeEscalation", BOOL, "AllowPrivilegeEscalation controls whether a process can gain more privileges than its parent process."),
    ("procMount", enum("Default", "Unmasked"), "procMount denotes the type of proc mount to use for the containers."),
    ("seccompProfile", FREE, "The seccomp options to use by this container."),
    ("appArmorProfile", FREE, "appArmorProfile is the AppArmor options to use by this container."),
)
_s("core.ServiceAccountTokenProjection", "ServiceAccountTokenProjection represents a projected service account token volume.",
    ("audience", STR, "audience is the intended audience of the token."),
    ("expirationSeconds", INT64, "expirationSeconds is the requested duration of validity of the service account token."),
    ("path!", STR, "path is the path relative to the mount point of the file to project the token into."),
)
_s("core.ServicePort", "ServicePort contains information on service's port.",
    ("name", STR, "The name of this port within the service."),
    ("protocol", enum("SCTP", "TCP", "UDP"), "The IP protocol for this port."),
    ("appProtocol", STR, "The application protocol for this port."),
    ("port!", INT, "The port that will be exposed by this service."),
    ("targetPort", IOS, "Number or name of the port to access on the pods targeted by the service."),
    ("nodePort", INT, "The port on each node on which this service is exposed when type is NodePort or LoadBalancer."),
)
_s("core.ServiceSpec", "ServiceSpec describes the attributes that a user creates on a service.",
    ("ports", arr("core.ServicePort"), "The list of ports that are exposed by this service."),
    ("selector", mapof(STR), "Route service traffic to pods with label keys and values matching this selector."),
    ("clusterIP", STR, "clusterIP is the IP address of the service and is usually assigned randomly."),
    ("clusterIPs", arr(STR), "ClusterIPs is a list of IP addresses assigned to this service, and are usually assigned randomly."),
    ("type", enum("ClusterIP", "ExternalName", "LoadBalancer", "NodePort"), "type determines how the Service is exposed."),
    ("externalIPs", arr(STR), "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
    ("sessionAffinity", enum("ClientIP", "None"), "Supports \"ClientIP\" and \"None\"."),
    ("loadBalancerIP", STR, "Only applies to Service Type: LoadBalancer."),
    ("loadBalancerSourceRanges", arr(STR), "If specified and supported by the platform, this will restrict traffic through the cloud-provider load-balancer will be restricted to the specified client IPs."),
    ("externalName", STR, "externalName is the external reference that discovery mechanisms will return as an alias for this service (e.g. a DNS CNAME record)."),
    ("externalTrafficPolicy", enum("Cluster", "Local"), "externalTrafficPolicy describes how nodes distribute service traffic they receive on one of the Service's \"externally-facing\" addresses (NodePorts, ExternalIPs, and LoadBalancer IPs)."),
    ("healthCheckNodePort", INT, "healthCheckNodePort specifies the healthcheck nodePort for the service."),
    ("publishNotReadyAddresses", BOOL, "publishNotReadyAddresses indicates that any agent which deals with endpoints for this Service should disregard any indications of ready/not-ready."),
    ("sessionAffinityConfig", "core.SessionAffinityConfig", "sessionAffinityConfig contains the configurations of session affinity."),
    ("ipFamilies", arr(enum("", "IPv4", "IPv6")), "IPFamilies is a list of IP families (e.g. IPv4, IPv6) assigned to this service."),
    ("ipFamilyPolicy", enum("PreferDualStack", "RequireDualStack", "SingleStack"), "IPFamilyPolicy represents the dual-stack-ness requested or required by this Service."),
    ("allocateLoadBalancerNodePorts", BOOL, "allocateLoadBalancerNodePorts defines if NodePorts will be automatically allocated for services with type LoadBalancer."),
    ("loadBalancerClass", STR, "loadBalancerClass is the class of the load balancer implementation this Service belongs to."),
    ("internalTrafficPolicy", enum("Cluster", "Local"), "InternalTrafficPolicy describes how nodes distribute service traffic they receive on the ClusterIP."),
    ("trafficDistribution", STR, "TrafficDistribution offers a way to express preferences for how traffic is distributed to Service endpoints."),
)
_s("core.ServiceStatus", "ServiceStatus represents the current status of a service.",
    ("loadBalancer", "core.LoadBalancerStatus", "LoadBalancer contains the current status of the load-balancer, if one is present."),
    ("conditions", arr("meta.Condition"), "Current service state"),
)
_s("core.SessionAffinityConfig", "SessionAffinityConfig represents the configurations of session affinity.",
    ("clientIP", "core.ClientIPConfig", "clientIP contains the configurations of Client IP based session affinity."),
)
_s("core.SleepAction", "SleepAction describes a \"sleep\" action.",
    ("seconds!", INT64, "Seconds is the number of seconds to sleep."),
)
_s("core.Sysctl", "Sysctl defines a kernel parameter to be set",
    ("name!", STR, "Name of a property to set"),
    ("value!", STR, "Value of a property to set"),
)
_s("core.TCPSocketAction", "TCPSocketAction describes an action based on opening a socket",
    ("port!", IOS, "Number or name of the port to access on the container."),
    ("host", STR, "Optional: Host name to connect to, defaults to the pod IP."),
)
_s("core.Taint", "The node this Taint is attached to has the \"effect\" on any pod that does not tolerate the Taint.",
    ("key!", STR, "Required. The taint key to be applied to a node."),
    ("value", STR, "The taint value corresponding to the taint key."),
    ("effect!", enum("NoExecute", "NoSchedule", "PreferNoSchedule"), "Required. The effect of the taint on pods that do not tolerate the taint."),
    ("timeAdded", TIME, "TimeAdded represents the time at which the taint was added."),
)
_s("core.Toleration", "The pod this Toleration is attached to tolerates any taint that matches the triple <key,value,effect> using the matching operator <operator>.",
    ("key", STR, "Key is the taint key that the toleration applies to."),
    ("operator", enum("Equal", "Exists"), "Operator represents a key's relationship to the value."),
    ("value", STR, "Value is the taint value the toleration matches to."),
    ("effect", enum("NoExecute", "NoSchedule", "PreferNoSchedule"), "Effect indicates the taint effect to match."),
    ("tolerationSeconds", INT64, "TolerationSeconds represents the period of time the toleration (which must be of effect NoExecute, otherwise this field is ignored) tolerates the taint."),
)
_s("core.TopologySpreadConstraint", "TopologySpreadConstraint specifies how to spread matching pods among the given topology.",
    ("maxSkew!", INT, "MaxSkew describes the degree to which pods may be unevenly distributed."),
    ("topologyKey!", STR, "TopologyKey is the key of node labels."),
    ("whenUnsatisfiable!", enum("DoNotSchedule", "ScheduleAnyway"), "WhenUnsatisfiable indicates how to deal with a pod if it doesn't satisfy the spread constraint."),
    ("labelSelector", "meta.LabelSelector", "LabelSelector is used to find matching pods."),
    ("minDomains", INT, "MinDomains indicates a minimum number of eligible domains."),
    ("nodeAffinityPolicy", enum("Honor", "Ignore"), "NodeAffinityPolicy indicates how we will treat Pod's nodeAffinity/nodeSelector when calculating pod topology spread skew."),
    ("nodeTaintsPolicy", enum("Honor", "Ignore"), "NodeTaintsPolicy indicates how we will treat node taints when calculating pod topology spread skew."),
    ("matchLabelKeys", arr(STR), "MatchLabelKeys is a set of pod label keys to select the pods over which spreading will be calculated."),
)
_s("core.TypedLocalObjectReference", "TypedLocalObjectReference contains enough information to let you locate the typed referenced object inside the same namespace.",
    ("apiGroup", STR, "APIGroup is the group for the resource being referenced."),
    ("kind!", STR, "Kind is the type of resource being referenced"),
    ("name!", STR, "Name is the name of resource being referenced"),
)
_s("core.Volume", "Volume represents a named volume in a pod that may be accessed by any container in the pod.",
    ("name!", STR, "name of the volume."),
    ("hostPath", "core.HostPathVolumeSource", "hostPath represents a pre-existing file or directory on the host machine that is directly exposed to the container."),
    ("emptyDir", "core.EmptyDirVolumeSource", "emptyDir represents a temporary directory that shares a pod's lifetime."),
    ("gcePersistentDisk", FREE, "gcePersistentDisk represents a GCE Disk resource that is attached to a kubelet's host machine and then exposed to the pod."),
    ("awsElasticBlockStore", FREE, "awsElasticBlockStore represents an AWS Disk resource that is attached to a kubelet's host machine and then exposed to the pod."),
    ("gitRepo", FREE, "gitRepo represents a git repository at a particular revision."),
    ("secret", "core.SecretVolumeSource", "secret represents a secret that should populate this volume."),
    ("nfs", "core.NFSVolumeSource", "nfs represents an NFS mount on the host that shares a pod's lifetime More info: https://kubernetes.io/docs/concepts/storage/volumes#nfs"),
    ("iscsi", FREE, "iscsi represents an ISCSI Disk resource that is attached to a kubelet's host machine and then exposed to the pod."),
    ("glusterfs", FREE, "glusterfs represents a Glusterfs mount on the host that shares a pod's lifetime."),
    ("persistentVolumeClaim", "core.PersistentVolumeClaimVolumeSource", "persistentVolumeClaimVolumeSource represents a reference to a PersistentVolumeClaim in the same namespace."),
    ("rbd", FREE, "rbd represents a Rados Block Device mount on the host that shares a pod's lifetime."),
    ("flexVolume", FREE, "flexVolume represents a generic volume resource that is provisioned/attached using an exec based plugin."),
    ("cinder", FREE, "cinder represents a cinder volume attached and mounted on kubelets host machine."),
    ("cephfs", FREE, "cephFS represents a Ceph FS mount on the host that shares a pod's lifetime."),
    ("flocker", FREE, "flocker represents a Flocker volume attached to a kubelet's host machine."),
    ("downwardAPI", "core.DownwardAPIVolumeSource", "downwardAPI represents downward API about the pod that should populate this volume"),
    ("fc", FREE, "fc represents a Fibre Channel resource that is attached to a kubelet's host machine and then exposed to the pod."),
    ("azureFile", FREE, "azureFile represents an Azure File Service mount on the host and bind mount to the pod."),
    ("configMap", "core.ConfigMapVolumeSource", "configMap represents a configMap that should populate this volume"),
    ("vsphereVolume", FREE, "vsphereVolume represents a vSphere volume attached and mounted on kubelets host machine."),
    ("quobyte", FREE, "quobyte represents a Quobyte mount on the host that shares a pod's lifetime."),
    ("azureDisk", FREE, "azureDisk represents an Azure Data Disk mount on the host and bind mount to the pod."),
    ("photonPersistentDisk", FREE, "photonPersistentDisk represents a PhotonController persistent disk attached and mounted on kubelets host machine."),
    ("projected", "core.ProjectedVolumeSource", "projected items for all in one resources secrets, configmaps, and downward API"),
    ("portworxVolume", FREE, "portworxVolume represents a portworx volume attached and mounted on kubelets host machine."),
    ("scaleIO", FREE, "scaleIO represents a ScaleIO persistent volume attached and mounted on Kubernetes nodes."),
    ("storageos", FREE, "storageOS represents a StorageOS volume attached and mounted on Kubernetes nodes."),
    ("csi", FREE, "csi (Container Storage Interface) represents ephemeral storage that is handled by certain external CSI drivers."),
    ("ephemeral", FREE, "ephemeral represents a volume that is handled by a cluster storage driver."),
    ("image", FREE, "image represents an OCI object (a container image or artifact) pulled and mounted on the kubelet's host machine."),
)
_s("core.VolumeDevice", "volumeDevice describes a mapping of a raw block device within a container.",
    ("name!", STR, "name must match the name of a persistentVolumeClaim in the pod"),
    ("devicePath!", STR, "devicePath is the path inside of the container that the device will be mapped to."),
)
_s("core.VolumeMount", "VolumeMount describes a mounting of a Volume within a container.",
    ("name!", STR, "This must match the Name of a Volume."),
    ("readOnly", BOOL, "Mounted read-only if true, read-write otherwise (false or unspecified)."),
    ("recursiveReadOnly", STR, "RecursiveReadOnly specifies whether read-only mounts should be handled recursively."),
    ("mountPath!", STR, "Path within the container at which the volume should be mounted."),
    ("subPath", STR, "Path within the volume from which the container's volume should be mounted."),
    ("mountPropagation", enum("Bidirectional", "HostToContainer", "None"), "mountPropagation determines how mounts are propagated from the host to container and the other way around."),
    ("subPathExpr", STR, "Expanded path within the volume from which the container's volume should be mounted."),
)
_s("core.VolumeProjection", "Projection that may be projected along with other supported volume types.",
    ("secret", "core.SecretProjection", "secret information about the secret data to project"),
    ("downwardAPI", "core.DownwardAPIProjection", "downwardAPI information about the downwardAPI data to project"),
    ("configMap", "core.ConfigMapProjection", "configMap information about the configMap data to project"),
    ("serviceAccountToken", "core.ServiceAccountTokenProjection", "serviceAccountToken is information about the serviceAccountToken data to project"),
    ("clusterTrustBundle", FREE, "ClusterTrustBundle allows a pod to access the `.spec.trustBundle` field of ClusterTrustBundle objects in an auto-updating file."),
)
_s("core.WeightedPodAffinityTerm", "The weights of all of the matched WeightedPodAffinityTerm fields are added per-node to find the most preferred node(s)",
    ("weight!", INT, "weight associated with matching the corresponding podAffinityTerm, in the range 1-100."),
    ("podAffinityTerm!", "core.PodAffinityTerm", "Required. A pod affinity term, associated with the corresponding weight."),
)
# apps/v1
_kind("apps.Deployment", "Deployment enables declarative updates for Pods and ReplicaSets.",
    ("spec", "apps.DeploymentSpec", "Specification of the desired behavior of the Deployment."),
    ("status", "apps.DeploymentStatus", "Most recently observed status of the Deployment."),
)
_kind("apps.ReplicaSet", "ReplicaSet ensures that a specified number of pod replicas are running at any given time.",
    ("spec", "apps.ReplicaSetSpec", "Spec defines the specification of the desired behavior of the ReplicaSet."),
    ("status", "apps.ReplicaSetStatus", "Status is the most recently observed status of the ReplicaSet."),
)
_s("apps.DeploymentCondition", "DeploymentCondition describes the state of a deployment at a certain point.",
    ("type!", STR, "Type of deployment condition."),
    ("status!", STR, "Status of the condition, one of True, False, Unknown."),
    ("lastUpdateTime", TIME, "The last time this condition was updated."),
    ("lastTransitionTime", TIME, "Last time the condition transitioned from one status to another."),
    ("reason", STR, "The reason for the condition's last transition."),
    ("message", STR, "A human readable message indicating details about the transition."),
)
_s("apps.DeploymentSpec", "DeploymentSpec is the specification of the desired behavior of the Deployment.",
    ("replicas", INT, "Number of desired pods."),
    ("selector!", "meta.LabelSelector", "Label selector for pods."),
    ("template!", "core.PodTemplateSpec", "Template describes the pods that will be created."),
    ("strategy", "apps.DeploymentStrategy", "The deployment strategy to use to replace existing pods with new ones."),
    ("minReadySeconds", INT, "Minimum number of seconds for which a newly created pod should be ready without any of its container crashing, for it to be considered available."),
    ("revisionHistoryLimit", INT, "The number of old ReplicaSets to retain to allow rollback."),
    ("paused", BOOL, "Indicates that the deployment is paused."),
    ("progressDeadlineSeconds", INT, "The maximum time in seconds for a deployment to make progress before it is considered to be failed."),
)
_s("apps.DeploymentStatus", "DeploymentStatus is the most recently observed status of the Deployment.",
    ("observedGeneration", INT64, "The generation observed by the deployment controller."),
    ("replicas", INT, "Total number of non-terminated pods targeted by this deployment (their labels match the selector)."),
    ("updatedReplicas", INT, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    ("readyReplicas", INT, "readyReplicas is the number of pods targeted by this Deployment with a Ready Condition."),
    ("availableReplicas", INT, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    ("unavailableReplicas", INT, "Total number of unavailable pods targeted by this deployment."),
    ("conditions", arr("apps.DeploymentCondition"), "Represents the latest available observations of a deployment's current state."),
    ("collisionCount", INT, "Count of hash collisions for the Deployment."),
)
_s("apps.DeploymentStrategy", "DeploymentStrategy describes how to replace existing pods with new ones.",
    ("type", enum("Recreate", "RollingUpdate"), "Type of deployment."),
    ("rollingUpdate", "apps.RollingUpdateDeployment", "Rolling update config params."),
)
_s("apps.ReplicaSetCondition", "ReplicaSetCondition describes the state of a replica set at a certain point.",
    ("type!", STR, "Type of replica set condition."),
    ("status!", STR, "Status of the condition, one of True, False, Unknown."),
    ("lastTransitionTime", TIME, "The last time the condition transitioned from one status to another."),
    ("reason", STR, "The reason for the condition's last transition."),
    ("message", STR, "A human readable message indicating details about the transition."),
)
_s("apps.ReplicaSetSpec", "ReplicaSetSpec is the specification of a ReplicaSet.",
    ("replicas", INT, "Replicas is the number of desired replicas."),
    ("minReadySeconds", INT, "Minimum number of seconds for which a newly created pod should be ready without any of its container crashing, for it to be considered available."),
    ("selector!", "meta.LabelSelector", "Selector is a label query over pods that should match the replica count."),
    ("template", "core.PodTemplateSpec", "Template is the object that describes the pod that will be created if insufficient replicas are detected."),
)
_s("apps.ReplicaSetStatus", "ReplicaSetStatus represents the current status of a ReplicaSet.",
    ("replicas!", INT, "Replicas is the most recently observed number of replicas."),
    ("fullyLabeledReplicas", INT, "The number of pods that have labels matching the labels of the pod template of the replicaset."),
    ("readyReplicas", INT, "readyReplicas is the number of pods targeted by this ReplicaSet with a Ready Condition."),
    ("availableReplicas", INT, "The number of available replicas (ready for at least minReadySeconds) for this replica set."),
    ("observedGeneration", INT64, "ObservedGeneration reflects the generation of the most recently observed ReplicaSet."),
    ("conditions", arr("apps.ReplicaSetCondition"), "Represents the latest available observations of a replica set's current state."),
)
_s("apps.RollingUpdateDeployment", "Spec to control the desired behavior of rolling update.",
    ("maxUnavailable", IOS, "The maximum number of pods that can be unavailable during the update."),
    ("maxSurge", IOS, "The maximum number of pods that can be scheduled above the desired number of pods."),
)
# discovery.k8s.io/v1
_kind("discovery.EndpointSlice", "EndpointSlice represents a subset of the endpoints that implement a service.",
    ("addressType!", STR, "addressType specifies the type of address carried by this EndpointSlice."),
    ("endpoints!", arr("discovery.Endpoint"), "endpoints is a list of unique endpoints in this slice."),
    ("ports", arr("discovery.EndpointPort"), "ports specifies the list of network ports exposed by each endpoint in this slice."),
)
_s("discovery.Endpoint", "Endpoint represents a single logical \"backend\" implementing a service.",
    ("addresses!", arr(STR), "addresses of this endpoint."),
    ("conditions", "discovery.EndpointConditions", "conditions contains information about the current status of the endpoint."),
    ("hostname", STR, "hostname of this endpoint."),
    ("targetRef", "core.ObjectReference", "targetRef is a reference to a Kubernetes object that represents this endpoint."),
    ("deprecatedTopology", mapof(STR), "deprecatedTopology contains topology information part of the v1beta1 API."),
    ("nodeName", STR, "nodeName represents the name of the Node hosting this endpoint."),
    ("zone", STR, "zone is the name of the Zone this endpoint exists in."),
    ("hints", "discovery.EndpointHints", "hints contains information associated with how an endpoint should be consumed."),
)
_s("discovery.EndpointConditions", "EndpointConditions represents the current condition of an endpoint.",
    ("ready", BOOL, "ready indicates that this endpoint is prepared to receive traffic, according to whatever system is managing the endpoint."),
    ("serving", BOOL, "serving is identical to ready except that it is set regardless of the terminating state of endpoints."),
    ("terminating", BOOL, "terminating indicates that this endpoint is terminating."),
)
_s("discovery.EndpointHints", "EndpointHints provides hints describing how an endpoint should be consumed.",
    ("forZones", arr("discovery.ForZone"), "forZones indicates the zone(s) this endpoint should be consumed by to enable topology aware routing."),
)
_s("discovery.EndpointPort", "EndpointPort represents a Port used by an EndpointSlice",
    ("name", STR, "name represents the name of this port."),
    ("protocol", enum("SCTP", "TCP", "UDP"), "protocol represents the IP protocol for this port."),
    ("port", INT, "port represents the port number of the endpoint."),
    ("appProtocol", STR, "The application protocol for this port."),
)
_s("discovery.ForZone", "ForZone provides information about which zones should consume this endpoint.",
    ("name!", STR, "name represents the name of the zone."),
)
# networking.k8s.io/v1
_kind("networking.Ingress", "Ingress is a collection of rules that allow inbound connections to reach the endpoints defined by a backend.",
    ("spec", "networking.IngressSpec", "spec is the desired state of the Ingress."),
    ("status", "networking.IngressStatus", "status is the current state of the Ingress."),
)
_kind("networking.IngressClass", "IngressClass represents the class of the Ingress, referenced by the Ingress Spec.",
    ("spec", "networking.IngressClassSpec", "spec is the desired state of the IngressClass."),
)
_s("networking.HTTPIngressPath", "HTTPIngressPath associates a path with a backend.",
    ("path", STR, "path is matched against the path of an incoming request."),
    ("pathType!", STR, "pathType determines the interpretation of the path matching."),
    ("backend!", "networking.IngressBackend", "backend defines the referenced service endpoint to which the traffic will be forwarded to."),
)
_s("networking.HTTPIngressRuleValue", "HTTPIngressRuleValue is a list of http selectors pointing to backends.",
    ("paths!", arr("networking.HTTPIngressPath"), "paths is a collection of paths that map requests to backends."),
)
_s("networking.IngressBackend", "IngressBackend describes all endpoints for a given service and port.",
    ("service", "networking.IngressServiceBackend", "service references a service as a backend."),
    ("resource", "core.TypedLocalObjectReference", "resource is an ObjectRef to another Kubernetes resource in the namespace of the Ingress object."),
)
_s("networking.IngressClassParametersReference", "IngressClassParametersReference identifies an API object.",
    ("apiGroup", STR, "apiGroup is the group for the resource being referenced."),
    ("kind!", STR, "kind is the type of resource being referenced."),
    ("name!", STR, "name is the name of resource being referenced."),
    ("scope", STR, "scope represents if this refers to a cluster or namespace scoped resource."),
    ("namespace", STR, "namespace is the namespace of the resource being referenced."),
)
_s("networking.IngressClassSpec", "IngressClassSpec provides information about the class of an Ingress.",
    ("controller", STR, "controller refers to the name of the controller that should handle this class."),
    ("parameters", "networking.IngressClassParametersReference", "parameters is a link to a custom resource containing additional configuration for the controller."),
)
_s("networking.IngressLoadBalancerIngress", "IngressLoadBalancerIngress represents the status of a load-balancer ingress point.",
    ("ip", STR, "ip is set for load-balancer ingress points that are IP based."),
    ("hostname", STR, "hostname is set for load-balancer ingress points that are DNS based."),
    ("ports", arr("networking.IngressPortStatus"), "ports provides information about the ports exposed by this LoadBalancer."),
)
_s("networking.IngressLoadBalancerStatus", "IngressLoadBalancerStatus represents the status of a load-balancer.",
    ("ingress", arr("networking.IngressLoadBalancerIngress"), "ingress is a list containing ingress points for the load-balancer."),
)
_s("networking.IngressPortStatus", "IngressPortStatus represents the error condition of a service port",
    ("port!", INT, "port is the port number of the ingress port."),
    ("protocol!", enum("SCTP", "TCP", "UDP"), "protocol is the protocol of the ingress port."),
    ("error", STR, "error is to record the problem with the service port The format of the error shall comply with the following rules: - built-in error values shall be specified in this file and those shall use CamelCase names - cloud provider specific error values must have names that comply with the format foo.example.com/CamelCase."),
)
_s("networking.IngressRule", "IngressRule represents the rules mapping the paths under a specified host to the related backend services.",
    ("host", STR, "host is the fully qualified domain name of a network host, as defined by RFC 3986."),
    ("http", "networking.HTTPIngressRuleValue", "http is a list of http selectors pointing to backends for this host."),
)
_s("networking.IngressServiceBackend", "IngressServiceBackend references a Kubernetes Service as a Backend.",
    ("name!", STR, "name is the referenced service."),
    ("port", "networking.ServiceBackendPort", "port of the referenced service."),
)
_s("networking.IngressSpec", "IngressSpec describes the Ingress the user wishes to exist.",
    ("ingressClassName", STR, "ingressClassName is the name of an IngressClass cluster resource."),
    ("defaultBackend", "networking.IngressBackend", "defaultBackend is the backend that should handle requests that don't match any rule."),
    ("tls", arr("networking.IngressTLS"), "tls represents the TLS configuration."),
    ("rules", arr("networking.IngressRule"), "rules is a list of host rules used to configure the Ingress."),
)
_s("networking.IngressStatus", "IngressStatus describe the current state of the Ingress.",
    ("loadBalancer", "networking.IngressLoadBalancerStatus", "loadBalancer contains the current status of the load-balancer."),
)
_s("networking.IngressTLS", "IngressTLS describes the transport layer security associated with an ingress.",
    ("hosts", arr(STR), "hosts is a list of hosts included in the TLS certificate."),
    ("secretName", STR, "secretName is the name of the secret used to terminate TLS traffic on port 443."),
)
_s("networking.ServiceBackendPort", "ServiceBackendPort is the service port being referenced.",
    ("name", STR, "name is the name of the port on the Service."),
    ("number", INT, "number is the numerical port number (e.g. 80) on the Service."),
)
# coordination.k8s.io/v1
_kind("coordination.Lease", "Lease defines a lease concept.",
    ("spec", "coordination.LeaseSpec", "spec contains the specification of the Lease."),
)
_s("coordination.LeaseSpec", "LeaseSpec is a specification of a Lease.",
    ("holderIdentity", STR, "holderIdentity contains the identity of the holder of a current lease."),
    ("leaseDurationSeconds", INT, "leaseDurationSeconds is a duration that candidates for a lease need to wait to force acquire it."),
    ("acquireTime", MICROTIME, "acquireTime is a time when the current lease was acquired."),
    ("renewTime", MICROTIME, "renewTime is a time when the current holder of a lease has last updated the lease."),
    ("leaseTransitions", INT, "leaseTransitions is the number of transitions of a lease between holders."),
    ("strategy", STR, "Strategy indicates the strategy for picking the leader for coordinated leader election."),
    ("preferredHolder", STR, "PreferredHolder signals to a lease holder that the lease has a more optimal holder and should be given up."),
)
# autoscaling/v1
_kind("autoscaling.Scale", "Scale represents a scaling request for a resource.",
    ("spec", "autoscaling.ScaleSpec", "spec defines the behavior of the scale."),
    ("status", "autoscaling.ScaleStatus", "status is the current status of the scale."),
    list_kind=False,
)
_s("autoscaling.ScaleSpec", "ScaleSpec describes the attributes of a scale subresource.",
    ("replicas", INT, "replicas is the desired number of instances for the scaled object."),
)
_s("autoscaling.ScaleStatus", "ScaleStatus represents the current status of a scale subresource.",
    ("replicas!", INT, "replicas is the actual number of observed instances of the scaled object."),
    ("selector", STR, "selector is the label query over pods that should match the replicas count."),
)

# --------------------------------------------------------------------------------------------
# Lookups and rendering


def schema_name(api_version: str, kind: str) -> str | None:
    """The full OpenAPI name of a kind's schema (`v1`, `Service` -> `io.k8s.api.core.v1.Service`)."""
    return _BY_GVK.get((api_version, kind))


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _inner(t: TypeExpr) -> dict[str, Any]:
    """Schema of a list item or map value (no description of its own)."""
    if isinstance(t, Ref):
        return _ref(t.name)
    return _type_schema(t, "")


def _type_schema(t: TypeExpr, description: str) -> dict[str, Any]:
    out: dict[str, Any]
    if isinstance(t, Prim):
        out = {"type": t.type}
        if t.format:
            out["format"] = t.format
        if t.enum:
            out["enum"] = list(t.enum)
    elif isinstance(t, Ref):
        # OpenAPI 3.0 ignores siblings of $ref, so Kubernetes wraps it in allOf.
        out = {"allOf": [_ref(t.name)]}
    elif isinstance(t, Array):
        out = {"type": "array", "items": _inner(t.items)}
    elif isinstance(t, Map):
        out = {"type": "object", "additionalProperties": _inner(t.values)}
    else:
        out = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if description:
        out["description"] = description
    return out


def openapi_schema(name: str) -> dict[str, Any]:
    """The OpenAPI v3 schema object of the named schema (a fresh dict)."""
    s = SCHEMAS[name]
    if isinstance(s, Scalar):
        return dict(s.schema)
    out: dict[str, Any] = {
        "description": s.description,
        "type": "object",
        "properties": {f.name: _type_schema(f.type, f.description) for f in s.fields},
    }
    required = [f.name for f in s.fields if f.required]
    if required:
        out["required"] = required
    if s.gvk:
        group, version, kind = s.gvk
        out["x-kubernetes-group-version-kind"] = [{"group": group, "kind": kind, "version": version}]
    return out


def _refs_of(t: TypeExpr) -> Iterable[str]:
    if isinstance(t, Ref):
        yield t.name
    elif isinstance(t, Array):
        yield from _refs_of(t.items)
    elif isinstance(t, Map):
        yield from _refs_of(t.values)


def referenced(names: Iterable[str]) -> list[str]:
    """`names` and every schema they reach through field types, sorted."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        s = SCHEMAS[name]
        if isinstance(s, Struct):
            for f in s.fields:
                todo.extend(_refs_of(f.type))
    return sorted(seen)


# --------------------------------------------------------------------------------------------
# Strict field validation


def _walk(t: TypeExpr, value: Any, path: str, out: list[str]) -> None:
    if value is None:
        return
    if isinstance(t, Ref):
        s = SCHEMAS[t.name]
        if not isinstance(s, Struct) or not isinstance(value, dict):
            return
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            f = s.by_name.get(key)
            if f is None:
                out.append(sub)
            else:
                _walk(f.type, item, sub, out)
    elif isinstance(t, Array):
        if isinstance(value, list):
            for i, item in enumerate(value):
                _walk(t.items, item, f"{path}[{i}]", out)
    elif isinstance(t, Map):
        if isinstance(value, dict):
            for key, item in value.items():
                _walk(t.values, item, f"{path}.{key}", out)
    # Prim and Free: nothing to check (type mismatches are not unknown fields)


def unknown_fields(api_version: str, kind: str, obj: dict[str, Any]) -> list[str]:
    """Dotted paths of the fields of `obj` that its kind's schema does not declare.

    `spec.foo`, `spec.ports[0].bogus`, `metadata.labelz`; free-form subtrees are never
    reported. Unknown kinds yield `[]` (nothing to check against).
    """
    name = schema_name(api_version, kind)
    if name is None:
        return []
    out: list[str] = []
    _walk(Ref(name), obj, "", out)
    return out


def strict_decoding_message(api_version: str, kind: str, paths: list[str]) -> str:
    """The apiserver's 400 BadRequest message for unknown fields under `fieldValidation=Strict`."""
    version = api_version.rpartition("/")[2]
    errors = ", ".join(f'unknown field "{p}"' for p in paths)
    return f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: {errors}'
