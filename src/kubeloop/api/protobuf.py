"""Decode Kubernetes protobuf request bodies into the JSON kubectl would have sent.

kubectl 1.32's imperative generators (`kubectl create secret|configmap|namespace|deployment|
service|serviceaccount|ingress ...`) POST their object as `application/vnd.kubernetes.protobuf`
and do not retry as JSON after a 415, so the API server must read that encoding for the kinds
those generators produce. The body is the 4 magic bytes `k8s\\x00` followed by a protobuf
`runtime.Unknown` {1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType};
`raw` is the object's own protobuf message (without TypeMeta).

`decode(body)` returns the object exactly as Go's `encoding/json` renders the same typed object,
i.e. what kubectl prints with `--dry-run=client -o json` and would send as JSON:

* keys in Go struct order, `kind` and `apiVersion` first;
* `omitempty` scalars, lists and maps are dropped when zero/empty; pointer fields appear only
  when set (even if zero); non-pointer structs always appear (`"status": {}`), a zero
  `metav1.Time` is `null` (`"creationTimestamp": null`) and a nil pointer or slice without
  `omitempty` is `null` (`"selector": null`);
* `[]byte` values (Secret `data`, ConfigMap `binaryData`) are base64 strings, int32/int64 are
  ints, IntOrString is an int or a string, resource.Quantity is its string form, Time is RFC3339.

The decoder is a small generic wire reader (varint, 64-bit, length-delimited, 32-bit) driven by
a declarative table of messages: field number -> JSON name, value type, presence rule, plus
repeated / map / inline flags. Field numbers follow k8s.io/api and k8s.io/apimachinery 1.32
`generated.proto`. Unknown field numbers are skipped, as protobuf does; a few known fields that
this table does not model (probes, affinity, security contexts, exotic volume types ...) are
refused with 415 when set, rather than silently dropped. Errors: truncated or malformed bytes
raise `BadRequest`; a kind outside the table, or an unmodelled field, raises
`UnsupportedMediaType` with the JSON work-around. Pure: no I/O.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final, Literal

from kubeloop.api import errors

MEDIA_TYPE: Final = "application/vnd.kubernetes.protobuf"
MAGIC: Final = b"k8s\x00"

WORKAROUND: Final = "kubectl create ... --dry-run=client -o yaml | kubectl apply -f -"

# Wire types.
_VARINT: Final = 0
_I64: Final = 1
_LEN: Final = 2
_I32: Final = 5

_MAX_DEPTH: Final = 64
_ZERO_TIME_SECONDS: Final = -62135596800  # Go's time.Time{}.Unix(): 0001-01-01T00:00:00Z

# --------------------------------------------------------------------------------------------
# Wire reader
# --------------------------------------------------------------------------------------------

WireValue = int | bytes
"""A raw field value: an int for varint/fixed fields, the payload for length-delimited ones."""


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Read an unsigned varint (at most 10 bytes / 64 bits) at `pos`; return (value, next pos)."""
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise errors.BadRequest("invalid protobuf body: truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift >= 70:
            raise errors.BadRequest("invalid protobuf body: varint longer than 10 bytes")
    if result >= 1 << 64:
        raise errors.BadRequest("invalid protobuf body: varint overflows 64 bits")
    return result, pos


def _parse(buf: bytes) -> dict[int, list[tuple[int, WireValue]]]:
    """Split one message into its fields: number -> [(wire type, value)] in wire order."""
    fields: dict[int, list[tuple[int, WireValue]]] = {}
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0 or number > 0x1FFFFFFF:
            raise errors.BadRequest(f"invalid protobuf body: illegal field number {number}")
        value: WireValue
        if wire_type == _VARINT:
            value, pos = _read_varint(buf, pos)
        elif wire_type == _I64:
            if pos + 8 > end:
                raise errors.BadRequest("invalid protobuf body: truncated 64-bit field")
            value = int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wire_type == _LEN:
            length, pos = _read_varint(buf, pos)
            if pos + length > end:
                raise errors.BadRequest("invalid protobuf body: truncated length-delimited field")
            value = buf[pos : pos + length]
            pos += length
        elif wire_type == _I32:
            if pos + 4 > end:
                raise errors.BadRequest("invalid protobuf body: truncated 32-bit field")
            value = int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:  # 3/4 (groups) are never produced by Kubernetes; 6/7 do not exist
            raise errors.BadRequest(f"invalid protobuf body: unsupported wire type {wire_type}")
        fields.setdefault(number, []).append((wire_type, value))
    return fields


# --------------------------------------------------------------------------------------------
# Declarative message table
# --------------------------------------------------------------------------------------------

Presence = Literal["omitempty", "pointer", "always", "nullable"]
"""How a field appears in Go's JSON:

* omitempty - non-pointer with `omitempty`: only when non-zero / non-empty;
* pointer   - pointer with `omitempty`: whenever set on the wire, even if zero;
* always    - non-pointer struct, or non-pointer scalar without `omitempty`: always, zero if absent;
* nullable  - pointer / slice / map without `omitempty`: the value when set, else `null`.
"""

OMIT: Final[Presence] = "omitempty"
PTR: Final[Presence] = "pointer"
ALWAYS: Final[Presence] = "always"
NULL: Final[Presence] = "nullable"

SCALARS: Final = frozenset(
    {"string", "bytes", "bool", "int", "time", "intorstr", "quantity", "fieldsv1", "unsupported"}
)
"""Scalar (or specially rendered) field types; any other type name is a message in MESSAGES."""


@dataclass(frozen=True)
class Field:
    """One field of a message table."""

    name: str
    type: str
    presence: Presence = OMIT
    repeated: bool = False
    map: bool = False  # map<string, type>
    inline: bool = False  # Go `json:",inline"`: merge the nested message's keys into the parent


def _f(name: str, type_: str = "string", presence: Presence = OMIT) -> Field:
    return Field(name, type_, presence)


def _list(name: str, type_: str = "string", presence: Presence = OMIT) -> Field:
    return Field(name, type_, presence, repeated=True)


def _map(name: str, type_: str = "string", presence: Presence = OMIT) -> Field:
    return Field(name, type_, presence, map=True)


def _inline(type_: str) -> Field:
    return Field("", type_, ALWAYS, inline=True)


def _no(name: str) -> Field:
    """A known field this decoder does not model: refused with 415 when present."""
    return Field(name, "unsupported", PTR)


_META: Final = "ObjectMeta"

# Entries are listed in Go struct order, which is the JSON key order.
MESSAGES: Final[dict[str, dict[int, Field]]] = {
    # ---- k8s.io/apimachinery/pkg/apis/meta/v1 ----
    "ObjectMeta": {
        1: _f("name"),
        2: _f("generateName"),
        3: _f("namespace"),
        4: _f("selfLink"),
        5: _f("uid"),
        6: _f("resourceVersion"),
        7: _f("generation", "int"),
        8: _f("creationTimestamp", "time", ALWAYS),
        9: _f("deletionTimestamp", "time", PTR),
        10: _f("deletionGracePeriodSeconds", "int", PTR),
        11: _map("labels"),
        12: _map("annotations"),
        13: _list("ownerReferences", "OwnerReference"),
        14: _list("finalizers"),
        17: _list("managedFields", "ManagedFieldsEntry"),
    },
    "OwnerReference": {
        5: _f("apiVersion", "string", ALWAYS),
        1: _f("kind", "string", ALWAYS),
        3: _f("name", "string", ALWAYS),
        4: _f("uid", "string", ALWAYS),
        6: _f("controller", "bool", PTR),
        7: _f("blockOwnerDeletion", "bool", PTR),
    },
    "ManagedFieldsEntry": {
        1: _f("manager"),
        2: _f("operation"),
        3: _f("apiVersion"),
        4: _f("time", "time", PTR),
        6: _f("fieldsType"),
        7: _f("fieldsV1", "fieldsv1", PTR),
        8: _f("subresource"),
    },
    "LabelSelector": {
        1: _map("matchLabels"),
        2: _list("matchExpressions", "LabelSelectorRequirement"),
    },
    "LabelSelectorRequirement": {
        1: _f("key", "string", ALWAYS),
        2: _f("operator", "string", ALWAYS),
        3: _list("values"),
    },
    "Condition": {
        1: _f("type", "string", ALWAYS),
        2: _f("status", "string", ALWAYS),
        3: _f("observedGeneration", "int"),
        4: _f("lastTransitionTime", "time", ALWAYS),
        5: _f("reason", "string", ALWAYS),
        6: _f("message", "string", ALWAYS),
    },
    # ---- k8s.io/api/core/v1 ----
    "Secret": {
        1: _f("metadata", _META, ALWAYS),
        5: _f("immutable", "bool", PTR),
        2: _map("data", "bytes"),
        4: _map("stringData"),
        3: _f("type"),
    },
    "ConfigMap": {
        1: _f("metadata", _META, ALWAYS),
        4: _f("immutable", "bool", PTR),
        2: _map("data"),
        3: _map("binaryData", "bytes"),
    },
    "Namespace": {
        1: _f("metadata", _META, ALWAYS),
        2: _f("spec", "NamespaceSpec", ALWAYS),
        3: _f("status", "NamespaceStatus", ALWAYS),
    },
    "NamespaceSpec": {1: _list("finalizers")},
    "NamespaceStatus": {
        1: _f("phase"),
        2: _list("conditions", "NamespaceCondition"),
    },
    "NamespaceCondition": {
        1: _f("type", "string", ALWAYS),
        2: _f("status", "string", ALWAYS),
        4: _f("lastTransitionTime", "time", ALWAYS),
        5: _f("reason"),
        6: _f("message"),
    },
    "ServiceAccount": {
        1: _f("metadata", _META, ALWAYS),
        2: _list("secrets", "ObjectReference"),
        3: _list("imagePullSecrets", "LocalObjectReference"),
        4: _f("automountServiceAccountToken", "bool", PTR),
    },
    "ObjectReference": {
        1: _f("kind"),
        2: _f("namespace"),
        3: _f("name"),
        4: _f("uid"),
        5: _f("apiVersion"),
        6: _f("resourceVersion"),
        7: _f("fieldPath"),
    },
    "LocalObjectReference": {1: _f("name")},
    "TypedLocalObjectReference": {
        1: _f("apiGroup", "string", NULL),
        2: _f("kind", "string", ALWAYS),
        3: _f("name", "string", ALWAYS),
    },
    "Service": {
        1: _f("metadata", _META, ALWAYS),
        2: _f("spec", "ServiceSpec", ALWAYS),
        3: _f("status", "ServiceStatus", ALWAYS),
    },
    "ServiceSpec": {
        1: _list("ports", "ServicePort"),
        2: _map("selector"),
        3: _f("clusterIP"),
        18: _list("clusterIPs"),
        4: _f("type"),
        5: _list("externalIPs"),
        7: _f("sessionAffinity"),
        8: _f("loadBalancerIP"),
        9: _list("loadBalancerSourceRanges"),
        10: _f("externalName"),
        11: _f("externalTrafficPolicy"),
        12: _f("healthCheckNodePort", "int"),
        13: _f("publishNotReadyAddresses", "bool"),
        14: _f("sessionAffinityConfig", "SessionAffinityConfig", PTR),
        19: _list("ipFamilies"),
        17: _f("ipFamilyPolicy", "string", PTR),
        20: _f("allocateLoadBalancerNodePorts", "bool", PTR),
        21: _f("loadBalancerClass", "string", PTR),
        22: _f("internalTrafficPolicy", "string", PTR),
        23: _f("trafficDistribution", "string", PTR),
    },
    "SessionAffinityConfig": {1: _f("clientIP", "ClientIPConfig", PTR)},
    "ClientIPConfig": {1: _f("timeoutSeconds", "int", PTR)},
    "ServicePort": {
        1: _f("name"),
        2: _f("protocol"),
        6: _f("appProtocol", "string", PTR),
        3: _f("port", "int", ALWAYS),
        4: _f("targetPort", "intorstr", ALWAYS),
        5: _f("nodePort", "int"),
    },
    "ServiceStatus": {
        1: _f("loadBalancer", "LoadBalancerStatus", ALWAYS),
        2: _list("conditions", "Condition"),
    },
    "LoadBalancerStatus": {1: _list("ingress", "LoadBalancerIngress")},
    "LoadBalancerIngress": {
        1: _f("ip"),
        2: _f("hostname"),
        3: _f("ipMode", "string", PTR),
        4: _list("ports", "PortStatus"),
    },
    "PortStatus": {
        1: _f("port", "int", ALWAYS),
        2: _f("protocol", "string", ALWAYS),
        3: _f("error", "string", PTR),
    },
    "PodTemplateSpec": {
        1: _f("metadata", _META, ALWAYS),
        2: _f("spec", "PodSpec", ALWAYS),
    },
    "PodSpec": {
        1: _list("volumes", "Volume"),
        20: _list("initContainers", "Container"),
        2: _list("containers", "Container", NULL),
        34: _no("ephemeralContainers"),
        3: _f("restartPolicy"),
        4: _f("terminationGracePeriodSeconds", "int", PTR),
        5: _f("activeDeadlineSeconds", "int", PTR),
        6: _f("dnsPolicy"),
        7: _map("nodeSelector"),
        8: _f("serviceAccountName"),
        9: _f("serviceAccount"),
        21: _f("automountServiceAccountToken", "bool", PTR),
        10: _f("nodeName"),
        11: _f("hostNetwork", "bool"),
        12: _f("hostPID", "bool"),
        13: _f("hostIPC", "bool"),
        27: _f("shareProcessNamespace", "bool", PTR),
        14: _no("securityContext"),
        15: _list("imagePullSecrets", "LocalObjectReference"),
        16: _f("hostname"),
        17: _f("subdomain"),
        18: _no("affinity"),
        19: _f("schedulerName"),
        22: _list("tolerations", "Toleration"),
        23: _list("hostAliases", "HostAlias"),
        24: _f("priorityClassName"),
        25: _f("priority", "int", PTR),
        26: _no("dnsConfig"),
        28: _list("readinessGates", "PodReadinessGate"),
        29: _f("runtimeClassName", "string", PTR),
        30: _f("enableServiceLinks", "bool", PTR),
        31: _f("preemptionPolicy", "string", PTR),
        32: _map("overhead", "quantity"),
        33: _no("topologySpreadConstraints"),
        35: _f("setHostnameAsFQDN", "bool", PTR),
        36: _f("os", "PodOS", PTR),
        37: _f("hostUsers", "bool", PTR),
        38: _list("schedulingGates", "PodSchedulingGate"),
        39: _no("resourceClaims"),
        40: _f("resources", "ResourceRequirements", PTR),
    },
    "Container": {
        1: _f("name", "string", ALWAYS),
        2: _f("image"),
        3: _list("command"),
        4: _list("args"),
        5: _f("workingDir"),
        6: _list("ports", "ContainerPort"),
        19: _list("envFrom", "EnvFromSource"),
        7: _list("env", "EnvVar"),
        8: _f("resources", "ResourceRequirements", ALWAYS),
        23: _no("resizePolicy"),
        24: _f("restartPolicy", "string", PTR),
        9: _list("volumeMounts", "VolumeMount"),
        21: _no("volumeDevices"),
        10: _no("livenessProbe"),
        11: _no("readinessProbe"),
        22: _no("startupProbe"),
        12: _no("lifecycle"),
        13: _f("terminationMessagePath"),
        20: _f("terminationMessagePolicy"),
        14: _f("imagePullPolicy"),
        15: _no("securityContext"),
        16: _f("stdin", "bool"),
        17: _f("stdinOnce", "bool"),
        18: _f("tty", "bool"),
    },
    "ContainerPort": {
        1: _f("name"),
        2: _f("hostPort", "int"),
        3: _f("containerPort", "int", ALWAYS),
        4: _f("protocol"),
        5: _f("hostIP"),
    },
    "EnvFromSource": {
        1: _f("prefix"),
        2: _f("configMapRef", "ConfigMapEnvSource", PTR),
        3: _f("secretRef", "SecretEnvSource", PTR),
    },
    "ConfigMapEnvSource": {
        1: _inline("LocalObjectReference"),
        2: _f("optional", "bool", PTR),
    },
    "SecretEnvSource": {
        1: _inline("LocalObjectReference"),
        2: _f("optional", "bool", PTR),
    },
    "EnvVar": {
        1: _f("name", "string", ALWAYS),
        2: _f("value"),
        3: _f("valueFrom", "EnvVarSource", PTR),
    },
    "EnvVarSource": {
        1: _f("fieldRef", "ObjectFieldSelector", PTR),
        2: _f("resourceFieldRef", "ResourceFieldSelector", PTR),
        3: _f("configMapKeyRef", "ConfigMapKeySelector", PTR),
        4: _f("secretKeyRef", "SecretKeySelector", PTR),
    },
    "ObjectFieldSelector": {
        1: _f("apiVersion"),
        2: _f("fieldPath", "string", ALWAYS),
    },
    "ResourceFieldSelector": {
        1: _f("containerName"),
        2: _f("resource", "string", ALWAYS),
        3: _f("divisor", "quantity", ALWAYS),
    },
    "ConfigMapKeySelector": {
        1: _inline("LocalObjectReference"),
        2: _f("key", "string", ALWAYS),
        3: _f("optional", "bool", PTR),
    },
    "SecretKeySelector": {
        1: _inline("LocalObjectReference"),
        2: _f("key", "string", ALWAYS),
        3: _f("optional", "bool", PTR),
    },
    "ResourceRequirements": {
        1: _map("limits", "quantity"),
        2: _map("requests", "quantity"),
        3: _list("claims", "ResourceClaim"),
    },
    "ResourceClaim": {
        1: _f("name", "string", ALWAYS),
        2: _f("request"),
    },
    "VolumeMount": {
        1: _f("name", "string", ALWAYS),
        2: _f("readOnly", "bool"),
        7: _f("recursiveReadOnly", "string", PTR),
        3: _f("mountPath", "string", ALWAYS),
        4: _f("subPath"),
        5: _f("mountPropagation", "string", PTR),
        6: _f("subPathExpr"),
    },
    "Toleration": {
        1: _f("key"),
        2: _f("operator"),
        3: _f("value"),
        4: _f("effect"),
        5: _f("tolerationSeconds", "int", PTR),
    },
    "HostAlias": {
        1: _f("ip", "string", ALWAYS),
        2: _list("hostnames"),
    },
    "PodReadinessGate": {1: _f("conditionType", "string", ALWAYS)},
    "PodOS": {1: _f("name", "string", ALWAYS)},
    "PodSchedulingGate": {1: _f("name", "string", ALWAYS)},
    "Volume": {
        1: _f("name", "string", ALWAYS),
        2: _inline("VolumeSource"),
    },
    "VolumeSource": {
        1: _f("hostPath", "HostPathVolumeSource", PTR),
        2: _f("emptyDir", "EmptyDirVolumeSource", PTR),
        3: _no("gcePersistentDisk"),
        4: _no("awsElasticBlockStore"),
        5: _no("gitRepo"),
        6: _f("secret", "SecretVolumeSource", PTR),
        7: _no("nfs"),
        8: _no("iscsi"),
        9: _no("glusterfs"),
        10: _f("persistentVolumeClaim", "PersistentVolumeClaimVolumeSource", PTR),
        11: _no("rbd"),
        12: _no("flexVolume"),
        13: _no("cinder"),
        14: _no("cephfs"),
        15: _no("flocker"),
        16: _no("downwardAPI"),
        17: _no("fc"),
        18: _no("azureFile"),
        19: _f("configMap", "ConfigMapVolumeSource", PTR),
        20: _no("vsphereVolume"),
        21: _no("quobyte"),
        22: _no("azureDisk"),
        23: _no("photonPersistentDisk"),
        26: _no("projected"),
        24: _no("portworxVolume"),
        25: _no("scaleIO"),
        27: _no("storageos"),
        28: _no("csi"),
        29: _no("ephemeral"),
        30: _no("image"),
    },
    "HostPathVolumeSource": {
        1: _f("path", "string", ALWAYS),
        2: _f("type", "string", PTR),
    },
    "EmptyDirVolumeSource": {
        1: _f("medium"),
        2: _f("sizeLimit", "quantity", PTR),
    },
    "SecretVolumeSource": {
        1: _f("secretName"),
        2: _list("items", "KeyToPath"),
        3: _f("defaultMode", "int", PTR),
        4: _f("optional", "bool", PTR),
    },
    "ConfigMapVolumeSource": {
        1: _inline("LocalObjectReference"),
        2: _list("items", "KeyToPath"),
        3: _f("defaultMode", "int", PTR),
        4: _f("optional", "bool", PTR),
    },
    "PersistentVolumeClaimVolumeSource": {
        1: _f("claimName", "string", ALWAYS),
        2: _f("readOnly", "bool"),
    },
    "KeyToPath": {
        1: _f("key", "string", ALWAYS),
        2: _f("path", "string", ALWAYS),
        3: _f("mode", "int", PTR),
    },
    # ---- k8s.io/api/apps/v1 ----
    "Deployment": {
        1: _f("metadata", _META, ALWAYS),
        2: _f("spec", "DeploymentSpec", ALWAYS),
        3: _f("status", "DeploymentStatus", ALWAYS),
    },
    "DeploymentSpec": {
        1: _f("replicas", "int", PTR),
        2: _f("selector", "LabelSelector", NULL),
        3: _f("template", "PodTemplateSpec", ALWAYS),
        4: _f("strategy", "DeploymentStrategy", ALWAYS),
        5: _f("minReadySeconds", "int"),
        6: _f("revisionHistoryLimit", "int", PTR),
        7: _f("paused", "bool"),
        9: _f("progressDeadlineSeconds", "int", PTR),
    },
    "DeploymentStrategy": {
        1: _f("type"),
        2: _f("rollingUpdate", "RollingUpdateDeployment", PTR),
    },
    "RollingUpdateDeployment": {
        1: _f("maxUnavailable", "intorstr", PTR),
        2: _f("maxSurge", "intorstr", PTR),
    },
    "DeploymentStatus": {
        1: _f("observedGeneration", "int"),
        2: _f("replicas", "int"),
        3: _f("updatedReplicas", "int"),
        7: _f("readyReplicas", "int"),
        4: _f("availableReplicas", "int"),
        5: _f("unavailableReplicas", "int"),
        6: _list("conditions", "DeploymentCondition"),
        8: _f("collisionCount", "int", PTR),
    },
    "DeploymentCondition": {
        1: _f("type", "string", ALWAYS),
        2: _f("status", "string", ALWAYS),
        6: _f("lastUpdateTime", "time", ALWAYS),
        7: _f("lastTransitionTime", "time", ALWAYS),
        4: _f("reason"),
        5: _f("message"),
    },
    # ---- k8s.io/api/networking/v1 ----
    "Ingress": {
        1: _f("metadata", _META, ALWAYS),
        2: _f("spec", "IngressSpec", ALWAYS),
        3: _f("status", "IngressStatus", ALWAYS),
    },
    "IngressSpec": {
        4: _f("ingressClassName", "string", PTR),
        1: _f("defaultBackend", "IngressBackend", PTR),
        2: _list("tls", "IngressTLS"),
        3: _list("rules", "IngressRule"),
    },
    "IngressBackend": {
        4: _f("service", "IngressServiceBackend", PTR),
        3: _f("resource", "TypedLocalObjectReference", PTR),
    },
    "IngressServiceBackend": {
        1: _f("name", "string", ALWAYS),
        2: _f("port", "ServiceBackendPort", ALWAYS),
    },
    "ServiceBackendPort": {
        1: _f("name"),
        2: _f("number", "int"),
    },
    "IngressTLS": {
        1: _list("hosts"),
        2: _f("secretName"),
    },
    "IngressRule": {
        1: _f("host"),
        2: _inline("IngressRuleValue"),
    },
    "IngressRuleValue": {1: _f("http", "HTTPIngressRuleValue", PTR)},
    "HTTPIngressRuleValue": {1: _list("paths", "HTTPIngressPath", NULL)},
    "HTTPIngressPath": {
        1: _f("path"),
        3: _f("pathType", "string", NULL),
        2: _f("backend", "IngressBackend", ALWAYS),
    },
    "IngressStatus": {1: _f("loadBalancer", "IngressLoadBalancerStatus", ALWAYS)},
    "IngressLoadBalancerStatus": {1: _list("ingress", "IngressLoadBalancerIngress")},
    "IngressLoadBalancerIngress": {
        1: _f("ip"),
        2: _f("hostname"),
        4: _list("ports", "IngressPortStatus"),
    },
    "IngressPortStatus": {
        1: _f("port", "int", ALWAYS),
        2: _f("protocol", "string", ALWAYS),
        3: _f("error", "string", PTR),
    },
}

KINDS: Final[dict[tuple[str, str], str]] = {
    ("v1", "Secret"): "Secret",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Namespace"): "Namespace",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("apps/v1", "Deployment"): "Deployment",
    ("networking.k8s.io/v1", "Ingress"): "Ingress",
}
"""(apiVersion, kind) accepted as protobuf -> top-level message in the table."""

# --------------------------------------------------------------------------------------------
# Value decoding
# --------------------------------------------------------------------------------------------


def _expect(wire_type: int, want: int, path: str) -> None:
    if wire_type != want:
        raise errors.BadRequest(f"invalid protobuf body: {path}: unexpected wire type {wire_type}")


def _payload(wire_type: int, value: WireValue, path: str) -> bytes:
    _expect(wire_type, _LEN, path)
    assert isinstance(value, bytes)
    return value


def _signed(value: int) -> int:
    """int32/int64 varints carry the 64-bit two's complement value."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(data: bytes) -> str:
    # Go keeps the bytes; its JSON encoder replaces invalid UTF-8 with U+FFFD.
    return data.decode("utf-8", errors="replace")


def _last_int(fields: dict[int, list[tuple[int, WireValue]]], number: int, path: str) -> int:
    entries = fields.get(number)
    if not entries:
        return 0
    wire_type, value = entries[-1]
    _expect(wire_type, _VARINT, path)
    assert isinstance(value, int)
    return _signed(value)


def _last_bytes(fields: dict[int, list[tuple[int, WireValue]]], number: int, path: str) -> bytes:
    entries = fields.get(number)
    if not entries:
        return b""
    wire_type, value = entries[-1]
    return _payload(wire_type, value, path)


def _time(data: bytes, path: str) -> str | None:
    """metav1.Time {1 seconds, 2 nanos} -> RFC3339 in UTC (seconds precision), zero -> None."""
    if not data:
        return None
    fields = _parse(data)
    seconds = _last_int(fields, 1, path)
    if seconds == _ZERO_TIME_SECONDS:
        return None
    try:
        moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError) as exc:
        raise errors.BadRequest(f"invalid protobuf body: {path}: time out of range") from exc
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def _int_or_string(data: bytes, path: str) -> int | str:
    """intstr.IntOrString {1 type, 2 intVal, 3 strVal} -> int (type 0) or str (type 1)."""
    fields = _parse(data)
    kind = _last_int(fields, 1, path)
    if kind == 0:
        return _last_int(fields, 2, path)
    if kind == 1:
        return _text(_last_bytes(fields, 3, path))
    raise errors.BadRequest(f"invalid protobuf body: {path}: impossible IntOrString type {kind}")


def _quantity(data: bytes, path: str) -> str:
    """resource.Quantity {1 string} -> its canonical string; the zero quantity is "0"."""
    return _text(_last_bytes(_parse(data), 1, path)) or "0"


def _fields_v1(data: bytes, path: str) -> Any:
    """metav1.FieldsV1 {1 Raw}: Raw is JSON and is rendered as that JSON."""
    raw = _last_bytes(_parse(data), 1, path)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise errors.BadRequest(f"invalid protobuf body: {path}: fieldsV1 is not JSON") from exc


def _zero(type_: str, depth: int, path: str) -> Any:
    """The JSON rendering of a Go zero value of `type_` (for `always` fields absent on the wire)."""
    if type_ in ("string", "bytes"):
        return ""
    if type_ == "bool":
        return False
    if type_ in ("int", "intorstr"):
        return 0
    if type_ == "quantity":
        return "0"
    if type_ in ("time", "fieldsv1"):
        return None
    return _message(type_, b"", depth + 1, path)


def _value(type_: str, wire_type: int, value: WireValue, depth: int, path: str) -> Any:
    """Decode one (non-repeated) wire value of `type_`."""
    if type_ == "int":
        _expect(wire_type, _VARINT, path)
        assert isinstance(value, int)
        return _signed(value)
    if type_ == "bool":
        _expect(wire_type, _VARINT, path)
        return value != 0
    data = _payload(wire_type, value, path)
    if type_ == "string":
        return _text(data)
    if type_ == "bytes":
        return base64.b64encode(data).decode("ascii")
    if type_ == "time":
        return _time(data, path)
    if type_ == "intorstr":
        return _int_or_string(data, path)
    if type_ == "quantity":
        return _quantity(data, path)
    if type_ == "fieldsv1":
        return _fields_v1(data, path)
    return _message(type_, data, depth + 1, path)


def _is_zero(value: Any) -> bool:
    return value is None or value is False or value == 0 or value == "" or value == [] or value == {}


def _repeated(field: Field, entries: list[tuple[int, WireValue]], depth: int, path: str) -> list[Any]:
    items: list[Any] = []
    for wire_type, value in entries:
        if field.type in ("int", "bool") and wire_type == _LEN:
            # packed encoding of a repeated varint field
            assert isinstance(value, bytes)
            pos = 0
            while pos < len(value):
                number, pos = _read_varint(value, pos)
                items.append(_signed(number) if field.type == "int" else number != 0)
            continue
        items.append(_value(field.type, wire_type, value, depth, f"{path}[{len(items)}]"))
    return items


def _entries(field: Field, entries: list[tuple[int, WireValue]], depth: int, path: str) -> dict[str, Any]:
    """A map field: each entry is a message {1 key, 2 value}; a later duplicate key wins."""
    result: dict[str, Any] = {}
    for wire_type, value in entries:
        entry = _parse(_payload(wire_type, value, path))
        key = _text(_last_bytes(entry, 1, path))
        values = entry.get(2)
        if values:
            result[key] = _value(field.type, *values[-1], depth, f"{path}[{key}]")
        else:
            result[key] = _zero(field.type, depth, f"{path}[{key}]")
    return result


def _message(name: str, data: bytes, depth: int, path: str) -> dict[str, Any]:
    """Decode the message `name` from `data` into Go-JSON-shaped data, keys in table order."""
    if depth > _MAX_DEPTH:
        raise errors.BadRequest("invalid protobuf body: nesting too deep")
    table = MESSAGES[name]
    wire = _parse(data)
    out: dict[str, Any] = {}
    for number, field in table.items():
        entries = wire.get(number)
        child = f"{path}.{field.name}" if path else field.name
        if field.inline:
            payload = _payload(*entries[-1], path) if entries else b""
            out.update(_message(field.type, payload, depth + 1, path))
            continue
        if field.type == "unsupported":
            if entries:
                raise errors.UnsupportedMediaType(
                    f"kubeloop cannot decode the protobuf field {child} ({name} field {number}); "
                    f"send the object as JSON instead: {WORKAROUND}"
                )
            continue
        present = bool(entries)
        value: Any
        if field.map:
            value = _entries(field, entries, depth, child) if entries else {}
            present = bool(value)
        elif field.repeated:
            value = _repeated(field, entries, depth, child) if entries else []
            present = bool(value)
        elif entries:
            value = _value(field.type, *entries[-1], depth, child)
        else:
            value = None

        if field.presence == OMIT:
            if present and not _is_zero(value):
                out[field.name] = value
        elif field.presence == PTR:
            if present:
                out[field.name] = value
        elif field.presence == NULL:
            out[field.name] = value if present else None
        else:  # ALWAYS
            out[field.name] = value if present else _zero(field.type, depth, child)
    return out


# --------------------------------------------------------------------------------------------
# Envelope
# --------------------------------------------------------------------------------------------


def unwrap(body: bytes) -> tuple[str, str, bytes]:
    """Check the `k8s\\x00` magic and open the runtime.Unknown: (apiVersion, kind, raw object)."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise errors.BadRequest("invalid protobuf body: not bytes")
    body = bytes(body)
    if not body.startswith(MAGIC):
        raise errors.BadRequest("invalid protobuf body: missing the k8s\\x00 magic prefix")
    unknown = _parse(body[len(MAGIC) :])
    type_meta = _parse(_last_bytes(unknown, 1, "typeMeta"))
    api_version = _text(_last_bytes(type_meta, 1, "typeMeta.apiVersion"))
    kind = _text(_last_bytes(type_meta, 2, "typeMeta.kind"))
    raw = _last_bytes(unknown, 2, "raw")
    encoding = _text(_last_bytes(unknown, 3, "contentEncoding"))
    content_type = _text(_last_bytes(unknown, 4, "contentType"))
    if encoding:
        raise errors.UnsupportedMediaType(
            f"protobuf body with contentEncoding {encoding!r} is not supported; send JSON instead: {WORKAROUND}"
        )
    if content_type and content_type != MEDIA_TYPE:
        raise errors.UnsupportedMediaType(
            f"protobuf envelope around {content_type!r} is not supported; send JSON instead: {WORKAROUND}"
        )
    if not kind or not api_version:
        raise errors.BadRequest("invalid protobuf body: the envelope names no apiVersion/kind")
    return api_version, kind, raw


def supports(api_version: str, kind: str) -> bool:
    """Whether `decode` handles protobuf bodies of this apiVersion/kind."""
    return (api_version, kind) in KINDS


def decode(body: bytes) -> dict[str, Any]:
    """Decode a `application/vnd.kubernetes.protobuf` request body into Kubernetes JSON.

    Raises `errors.BadRequest` for malformed bytes and `errors.UnsupportedMediaType` for a kind
    (or a set field) this decoder does not model.
    """
    api_version, kind, raw = unwrap(body)
    message = KINDS.get((api_version, kind))
    if message is None:
        raise errors.UnsupportedMediaType(
            f"kubeloop cannot decode protobuf bodies of kind {kind} ({api_version}); "
            f"send it as JSON instead, e.g. `{WORKAROUND}`"
        )
    obj: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    obj.update(_message(message, raw, 0, ""))
    return obj
