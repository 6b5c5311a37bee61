"""Validation of every kubeloop kind except Service, Endpoints and EndpointSlice.

`validate(resource, obj)` checks an object on create and `validate_update(resource, new, old)`
on update; both return the `FieldError`s Kubernetes 1.32 would report (field paths such as
`spec.template.spec.containers[0].image`, apimachinery's exact wording, Go's rendering of
maps and selectors in `Invalid value: ...`). Objects are expected to be defaulted first
(`kubeloop.api.defaults.apply_defaults`), as the API server defaults before it validates.

Service, Endpoints and EndpointSlice are validated in kubeloop.api.services / endpoints; for
them both functions return []. Rules reproduced follow pkg/apis/core/validation,
pkg/apis/apps/validation, pkg/apis/networking/validation, pkg/apis/coordination/validation
and the registry strategies (selector immutability, Event's legacy rules). Pure code.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Mapping

from .errors import FieldError, duplicate, forbidden, invalid, not_supported, required
from .names import (
    FIELD_IMMUTABLE,
    IS_NEGATIVE,
    cidr_errors,
    config_map_key,
    dns1123_label,
    dns1123_subdomain,
    http_header_name,
    inclusive_range_error,
    ip_errors,
    is_valid_ip,
    label_selector_errors,
    label_value,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
    name_is_path_segment,
    path_segment_name,
    percent,
    port_name,
    port_number,
    qualified_name,
    relaxed_env_var_name,
    too_long,
    validate_annotations,
    validate_domain_prefixed_path,
    validate_finalizers,
    validate_label_name,
    validate_label_selector,
    validate_labels,
    validate_nonnegative,
    validate_object_meta,
    validate_object_meta_update,
    wildcard_dns1123_subdomain,
)
from .registry import ResourceType

__all__ = ["validate", "validate_update", "validate_pod_spec", "UPDATABLE_POD_SPEC_FIELDS"]

Obj = dict[str, Any]
MAX_INT32 = 2147483647
MAX_SECRET_SIZE = 1024 * 1024
OTHER_MODULE_KINDS = frozenset({"Service", "Endpoints", "EndpointSlice"})

UPDATABLE_POD_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)

# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------


def _d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _s(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _go_quote(text: str) -> str:
    """strconv.Quote, close enough: JSON escaping but printable Unicode kept."""
    return json.dumps(text, ensure_ascii=False)


def _go_map(value: Any) -> str:
    """%#v of a map[string]string (keys sorted, as fmt prints maps)."""
    if value is None or not isinstance(value, Mapping):
        return "map[string]string(nil)"
    items = ", ".join(f"{_go_quote(str(k))}:{_go_quote(_s(v))}" for k, v in sorted(value.items()))
    return "map[string]string{" + items + "}"


def _go_strings(value: Any) -> str:
    if value is None:
        return "[]string(nil)"
    return "[]string{" + ", ".join(_go_quote(_s(v)) for v in _l(value)) + "}"


def _go_label_selector(selector: Any) -> str:
    """%#v of a (dereferenced) metav1.LabelSelector, as in `field is immutable` errors."""
    selector = _d(selector)
    exprs = selector.get("matchExpressions")
    if exprs is None:
        rendered = "[]v1.LabelSelectorRequirement(nil)"
    else:
        parts = []
        for expr in _l(exprs):
            expr = _d(expr)
            parts.append(
                "v1.LabelSelectorRequirement{"
                f"Key:{_go_quote(_s(expr.get('key')))}, Operator:{_go_quote(_s(expr.get('operator')))}, "
                f"Values:{_go_strings(expr.get('values'))}}}"
            )
        rendered = "[]v1.LabelSelectorRequirement{" + ", ".join(parts) + "}"
    return f"v1.LabelSelector{{MatchLabels:{_go_map(selector.get('matchLabels'))}, MatchExpressions:{rendered}}}"


def _go_int_or_string(value: Any) -> str:
    if isinstance(value, str):
        return f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{_go_quote(value)}}}"
    number = value if _is_int(value) else 0
    return f"intstr.IntOrString{{Type:0, IntVal:{number}, StrVal:\"\"}}"


def _invalid_go(field: str, rendered: str, detail: str) -> FieldError:
    """An Invalid error whose value is already rendered the way Go's %#v prints it."""
    return FieldError(field, "FieldValueInvalid", f"Invalid value: {rendered}: {detail}")


def _not_supported_go(field: str, rendered: str, supported: Iterable[str]) -> FieldError:
    opts = ", ".join(json.dumps(s) for s in supported)
    return FieldError(field, "FieldValueNotSupported", f"Unsupported value: {rendered}: supported values: {opts}")


def _not_found(field: str, value: Any) -> FieldError:
    rendered = _go_quote(value) if isinstance(value, str) else json.dumps(value)
    return FieldError(field, "FieldValueNotFound", f"Not found: {rendered}")


def _dedupe(errors: list[FieldError]) -> list[FieldError]:
    seen: set[FieldError] = set()
    out = []
    for err in errors:
        if err not in seen:
            seen.add(err)
            out.append(err)
    return out


def _name_errors(field: str, value: str, rule: Callable[[str, bool], list[str]], prefix: bool = False) -> list[FieldError]:
    return [invalid(field, value, m) for m in rule(value, prefix)]


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, Any] | None) -> bool:
    """metav1.LabelSelector semantics (matchLabels AND matchExpressions)."""
    labels = labels or {}
    for key, value in _d(selector.get("matchLabels")).items():
        if key not in labels or _s(labels[key]) != _s(value):
            return False
    for expr in _l(selector.get("matchExpressions")):
        expr = _d(expr)
        key, op, values = _s(expr.get("key")), expr.get("operator"), [_s(v) for v in _l(expr.get("values"))]
        present = key in labels
        if op == "In" and not (present and _s(labels[key]) in values):
            return False
        if op == "NotIn" and present and _s(labels[key]) in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _selector_is_empty(selector: Mapping[str, Any]) -> bool:
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def _normalize(value: Any) -> Any:
    """Semantic equality: null, "", [] and {} are all Go's zero value."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            nv = _normalize(v)
            if nv not in (None, "", [], {}):
                out[k] = nv
        return out
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# quantities
# ---------------------------------------------------------------------------------------------

_QUANTITY = re.compile(r"([+-]?)(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?")
_SUFFIX = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal("1e3"),
    "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}  # fmt: skip
_QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def _parse_quantity(value: Any) -> Decimal | None:
    if _is_int(value) or isinstance(value, float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    m = _QUANTITY.fullmatch(value.strip())
    if not m:
        return None
    sign, number, suffix = m.group(1), m.group(2), m.group(3) or ""
    try:
        amount = Decimal(number)
    except InvalidOperation:
        return None
    if suffix[:1] in ("e", "E"):
        factor = Decimal(10) ** int(suffix[1:])
    else:
        factor = _SUFFIX[suffix]
    result = amount * factor
    return -result if sign == "-" else result


def _quantity_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


_STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
_STANDARD_RESOURCES = _STANDARD_CONTAINER_RESOURCES | {
    "requests.cpu", "requests.memory", "requests.storage", "requests.ephemeral-storage", "limits.cpu",
    "limits.memory", "limits.ephemeral-storage", "pods", "services", "replicationcontrollers",
    "resourcequotas", "secrets", "persistentvolumeclaims", "configmaps", "services.nodeports",
    "services.loadbalancers", "storage",
}  # fmt: skip


def _is_hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def _is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _overcommit_allowed(name: str) -> bool:
    return _is_native(name) and not _is_hugepages(name)


def _container_resource_name(name: str, field: str) -> list[FieldError]:
    errs = [invalid(field, name, m) for m in qualified_name(name)]
    if not errs and "/" not in name and name not in _STANDARD_RESOURCES and not _is_hugepages(name) and not name.startswith("requests.hugepages-"):
        errs.append(invalid(field, name, "must be a standard resource type or fully qualified"))
    if "/" not in name:
        if name not in _STANDARD_CONTAINER_RESOURCES and not _is_hugepages(name):
            errs.append(invalid(field, name, "must be a standard resource for containers"))
    elif not _is_native(name):
        base = name
        if base.startswith("requests.") or qualified_name("requests." + base):
            errs.append(invalid(field, name, "doesn't follow extended resource name standard"))
    return errs


def _validate_resources(resources: Any, path: str) -> list[FieldError]:
    resources = _d(resources)
    errs: list[FieldError] = []
    limits = _d(resources.get("limits"))
    requests = _d(resources.get("requests"))
    lim_path, req_path = f"{path}.limits", f"{path}.requests"
    parsed_limits: dict[str, Decimal | None] = {}
    for name, quantity in limits.items():
        field = f"{lim_path}[{name}]"
        errs.extend(_container_resource_name(name, field))
        amount = _parse_quantity(quantity)
        parsed_limits[name] = amount
        if amount is None:
            errs.append(invalid(field, _quantity_text(quantity), _QUANTITY_FORMAT_ERROR))
        elif amount < 0:
            errs.append(invalid(field, _quantity_text(quantity), IS_NEGATIVE))
    for name, quantity in requests.items():
        field = f"{req_path}[{name}]"
        errs.extend(_container_resource_name(name, field))
        amount = _parse_quantity(quantity)
        if amount is None:
            errs.append(invalid(field, _quantity_text(quantity), _QUANTITY_FORMAT_ERROR))
            continue
        if amount < 0:
            errs.append(invalid(field, _quantity_text(quantity), IS_NEGATIVE))
        if name in limits:
            limit = parsed_limits.get(name)
            if limit is None:
                continue
            limit_text = _quantity_text(limits[name])
            if amount != limit and not _overcommit_allowed(name):
                errs.append(invalid(req_path, _quantity_text(quantity), f"must be equal to {name} limit of {limit_text}"))
            elif amount > limit:
                errs.append(
                    invalid(req_path, _quantity_text(quantity), f"must be less than or equal to {name} limit of {limit_text}")
                )
        elif not _overcommit_allowed(name):
            errs.append(required(lim_path, "Limit must be set for non overcommitable resources"))
    return errs


# ---------------------------------------------------------------------------------------------
# pod spec pieces
# ---------------------------------------------------------------------------------------------

_PROTOCOLS = ("SCTP", "TCP", "UDP")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_ENV_FIELD_PATHS = (
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
    "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
)  # fmt: skip
_VOLUME_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid")
_DOWNWARD_LABELS = {
    "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
    "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "spec.schedulerName", "status.phase",
    "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
}  # fmt: skip
_RESOURCE_FIELD_PATHS = (
    "limits.cpu", "limits.ephemeral-storage", "limits.memory",
    "requests.cpu", "requests.ephemeral-storage", "requests.memory",
)  # fmt: skip
_RESOURCE_FIELD_PREFIXES = ("limits.hugepages-", "requests.hugepages-")


def _split_subscripted(path: str) -> tuple[str, str, bool]:
    if not path.endswith("']"):
        return path, "", False
    head, sep, sub = path[:-2].partition("['")
    if not sep or not head:
        return path, "", False
    return head, sub, True


def _validate_object_field_selector(ref: Any, expressions: tuple[str, ...], path: str) -> list[FieldError]:
    ref = _d(ref)
    api_version = _s(ref.get("apiVersion"))
    if not api_version:
        return [required(f"{path}.apiVersion")]
    field_path = _s(ref.get("fieldPath"))
    if not field_path:
        return [required(f"{path}.fieldPath")]
    # pods.ConvertDownwardAPIFieldLabel
    error = ""
    internal = field_path
    if api_version != "v1":
        error = f"unsupported pod version: {api_version}"
    else:
        head, _, subscripted = _split_subscripted(field_path)
        if subscripted:
            if head not in ("metadata.annotations", "metadata.labels"):
                error = f"field label does not support subscript: {field_path}"
        elif field_path == "spec.host":
            internal = "spec.nodeName"
        elif field_path not in _DOWNWARD_LABELS:
            error = f"field label not supported: {field_path}"
    if error:
        return [invalid(f"{path}.fieldPath", field_path, f"error converting fieldPath: {error}")]
    head, subscript, subscripted = _split_subscripted(internal)
    if subscripted:
        if head == "metadata.annotations":
            return [invalid(path, subscript.lower(), m) for m in qualified_name(subscript.lower())]
        if head == "metadata.labels":
            return [invalid(path, subscript, m) for m in qualified_name(subscript)]
        return [invalid(path, head, "does not support subscript")]
    if internal not in expressions:
        return [not_supported(f"{path}.fieldPath", internal, sorted(expressions))]
    return []


def _validate_resource_field_selector(ref: Any, path: str, volume: bool) -> list[FieldError]:
    ref = _d(ref)
    resource = _s(ref.get("resource"))
    if volume and not ref.get("containerName"):
        return [required(f"{path}.containerName")]
    if not resource:
        return [required(f"{path}.resource")]
    if resource not in _RESOURCE_FIELD_PATHS and not resource.startswith(_RESOURCE_FIELD_PREFIXES):
        return [not_supported(f"{path}.resource", resource, _RESOURCE_FIELD_PATHS)]
    return []


def _validate_key_selector(ref: Any, path: str) -> list[FieldError]:
    ref = _d(ref)
    errs = _name_errors(f"{path}.name", _s(ref.get("name")), name_is_dns_subdomain)
    key = _s(ref.get("key"))
    if not key:
        errs.append(required(f"{path}.key"))
    else:
        errs.extend(invalid(f"{path}.key", key, m) for m in config_map_key(key))
    return errs


def _validate_env(env: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, var in enumerate(_l(env)):
        var = _d(var)
        item = f"{path}[{i}]"
        name = _s(var.get("name"))
        if not name:
            errs.append(required(f"{item}.name"))
        else:
            errs.extend(invalid(f"{item}.name", name, m) for m in relaxed_env_var_name(name))
        value_from = var.get("valueFrom")
        if value_from is None:
            continue
        value_from = _d(value_from)
        vf_path = f"{item}.valueFrom"
        sources = 0
        if value_from.get("fieldRef") is not None:
            sources += 1
            errs.extend(_validate_object_field_selector(value_from["fieldRef"], _ENV_FIELD_PATHS, f"{vf_path}.fieldRef"))
        if value_from.get("resourceFieldRef") is not None:
            sources += 1
            errs.extend(_validate_resource_field_selector(value_from["resourceFieldRef"], f"{vf_path}.resourceFieldRef", False))
        if value_from.get("configMapKeyRef") is not None:
            sources += 1
            errs.extend(_validate_key_selector(value_from["configMapKeyRef"], f"{vf_path}.configMapKeyRef"))
        if value_from.get("secretKeyRef") is not None:
            sources += 1
            errs.extend(_validate_key_selector(value_from["secretKeyRef"], f"{vf_path}.secretKeyRef"))
        if sources == 0:
            errs.append(
                invalid(vf_path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`")
            )
        elif var.get("value"):
            errs.append(invalid(vf_path, "", "may not be specified when `value` is not empty"))
        elif sources > 1:
            errs.append(invalid(vf_path, "", "may not have more than one field specified at a time"))
    return errs


def _validate_env_from(env_from: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, source in enumerate(_l(env_from)):
        source = _d(source)
        item = f"{path}[{i}]"
        prefix = _s(source.get("prefix"))
        if prefix:
            errs.extend(invalid(f"{item}.prefix", prefix, m) for m in relaxed_env_var_name(prefix))
        count = 0
        for key in ("configMapRef", "secretRef"):
            ref = source.get(key)
            if ref is None:
                continue
            count += 1
            name = _s(_d(ref).get("name"))
            if not name:
                errs.append(required(f"{item}.{key}.name"))
            else:
                errs.extend(_name_errors(f"{item}.{key}.name", name, name_is_dns_subdomain, prefix=True))
        if count == 0:
            errs.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif count > 1:
            errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def _validate_container_ports(ports: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(_l(ports)):
        port = _d(port)
        item = f"{path}[{i}]"
        name = _s(port.get("name"))
        if name:
            msgs = port_name(name)
            if msgs:
                errs.extend(invalid(f"{item}.name", name, m) for m in msgs)
            elif name in names:
                errs.append(duplicate(f"{item}.name", name))
            else:
                names.add(name)
        container_port = port.get("containerPort")
        if not container_port:
            errs.append(required(f"{item}.containerPort"))
        else:
            errs.extend(invalid(f"{item}.containerPort", container_port, m) for m in port_number(container_port))
        host_port = port.get("hostPort")
        if host_port:
            errs.extend(invalid(f"{item}.hostPort", host_port, m) for m in port_number(host_port))
        protocol = _s(port.get("protocol"))
        if not protocol:
            errs.append(required(f"{item}.protocol"))
        elif protocol not in _PROTOCOLS:
            errs.append(not_supported(f"{item}.protocol", protocol, _PROTOCOLS))
    return errs


def _local_descending_path(target: str, field: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if target.startswith("/"):
        errs.append(invalid(field, target, "must be a relative path"))
    if ".." in target.replace("\\", "/").split("/"):
        errs.append(invalid(field, target, "must not contain '..'"))
    return errs


def _local_non_reserved_path(target: str, field: str) -> list[FieldError]:
    errs = _local_descending_path(target, field)
    if target.startswith(".."):
        errs.append(invalid(field, target, "must not start with '..'"))
    return errs


def _validate_volume_mounts(mounts: Any, volumes: Mapping[str, Obj], container: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    mount_points: set[str] = set()
    for i, mount in enumerate(_l(mounts)):
        mount = _d(mount)
        item = f"{path}[{i}]"
        name = _s(mount.get("name"))
        if not name:
            errs.append(required(f"{item}.name"))
        if name not in volumes:
            errs.append(_not_found(f"{item}.name", name))
        mount_path = _s(mount.get("mountPath"))
        if not mount_path:
            errs.append(required(f"{item}.mountPath"))
        if mount_path in mount_points:
            errs.append(invalid(f"{item}.mountPath", mount_path, "must be unique"))
        mount_points.add(mount_path)
        sub_path = _s(mount.get("subPath"))
        if sub_path:
            errs.extend(_local_descending_path(sub_path, f"{path}.subPath"))
        sub_path_expr = _s(mount.get("subPathExpr"))
        if sub_path_expr:
            if sub_path:
                errs.append(invalid(f"{item}.subPathExpr", sub_path_expr, "subPathExpr and subPath are mutually exclusive"))
            errs.extend(_local_descending_path(sub_path_expr, f"{path}.subPathExpr"))
        propagation = mount.get("mountPropagation")
        if propagation is not None:
            field = f"{path}.mountPropagation"
            if propagation not in ("None", "HostToContainer", "Bidirectional"):
                errs.append(not_supported(field, propagation, ["Bidirectional", "HostToContainer", "None"]))
            elif propagation == "Bidirectional" and _d(container.get("securityContext")).get("privileged") is not True:
                errs.append(forbidden(field, "Bidirectional mount propagation is available only to privileged containers"))
    return errs


def _validate_port_num_or_name(port: Any, field: str) -> list[FieldError]:
    if isinstance(port, str):
        return [invalid(field, port, m) for m in port_name(port)]
    value = port if _is_int(port) else 0
    return [invalid(field, value, m) for m in port_number(value)]


def _validate_handler(handler: Any, grace: Any, path: str, *, probe: bool) -> list[FieldError]:
    handler = _d(handler)
    kinds = ("exec", "httpGet", "tcpSocket", "grpc") if probe else ("exec", "httpGet", "tcpSocket", "sleep")
    errs: list[FieldError] = []
    count = 0
    for kind in kinds:
        action = handler.get(kind)
        if action is None:
            continue
        field = f"{path}.{kind}"
        if count > 0:
            errs.append(forbidden(field, "may not specify more than 1 handler type"))
            continue
        count += 1
        action = _d(action)
        if kind == "exec":
            if not _l(action.get("command")):
                errs.append(required(f"{field}.command"))
        elif kind == "httpGet":
            if not _s(action.get("path")):
                errs.append(required(f"{field}.path"))
            errs.extend(_validate_port_num_or_name(action.get("port"), f"{field}.port"))
            scheme = _s(action.get("scheme"))
            if scheme not in ("HTTP", "HTTPS"):
                errs.append(not_supported(f"{field}.scheme", scheme, ["HTTP", "HTTPS"]))
            for header in _l(action.get("httpHeaders")):
                header_name = _s(_d(header).get("name"))
                errs.extend(invalid(f"{field}.httpHeaders", header_name, m) for m in http_header_name(header_name))
        elif kind == "tcpSocket":
            errs.extend(_validate_port_num_or_name(action.get("port"), f"{field}.port"))
        elif kind == "grpc":
            grpc_port = action.get("port")
            errs.extend(_validate_port_num_or_name(grpc_port if _is_int(grpc_port) else 0, f"{field}.port"))
        elif kind == "sleep":
            seconds = action.get("seconds")
            seconds = seconds if _is_int(seconds) else 0
            if _is_int(grace) and (seconds <= 0 or seconds > grace):
                errs.append(
                    invalid(
                        field,
                        seconds,
                        f"must be greater than 0 and less than terminationGracePeriodSeconds ({grace}). "
                        "Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep.",
                    )
                )
    if count == 0:
        errs.append(required(path, "must specify a handler type"))
    return errs


def _validate_probe(probe: Any, grace: Any, path: str, kind: str) -> list[FieldError]:
    if probe is None:
        return []
    probe = _d(probe)
    errs = _validate_handler(probe, grace, path, probe=True)
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        errs.extend(validate_nonnegative(probe.get(key), f"{path}.{key}"))
    tgps = probe.get("terminationGracePeriodSeconds")
    if _is_int(tgps) and tgps <= 0:
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds", tgps, "must be greater than 0"))
    if kind in ("liveness", "startup"):
        success = probe.get("successThreshold", 0)
        if success != 1:
            errs.append(invalid(f"{path}.successThreshold", success, "must be 1"))
    elif tgps is not None:
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds", tgps, "must not be set for readinessProbes"))
    return errs


def _validate_probes_and_lifecycle(container: Obj, grace: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    lifecycle = container.get("lifecycle")
    if lifecycle is not None:
        lifecycle = _d(lifecycle)
        for hook in ("postStart", "preStop"):
            if lifecycle.get(hook) is not None:
                errs.extend(_validate_handler(lifecycle[hook], grace, f"{path}.lifecycle.{hook}", probe=False))
    errs.extend(_validate_probe(container.get("livenessProbe"), grace, f"{path}.livenessProbe", "liveness"))
    errs.extend(_validate_probe(container.get("readinessProbe"), grace, f"{path}.readinessProbe", "readiness"))
    errs.extend(_validate_probe(container.get("startupProbe"), grace, f"{path}.startupProbe", "startup"))
    return errs


def _validate_container_common(container: Obj, volumes: Mapping[str, Obj], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = _s(container.get("name"))
    if not name:
        errs.append(required(f"{path}.name"))
    else:
        errs.extend(invalid(f"{path}.name", name, m) for m in dns1123_label(name))
    if not _s(container.get("image")):
        errs.append(required(f"{path}.image"))
    policy = _s(container.get("terminationMessagePolicy"))
    if not policy:
        errs.append(required(f"{path}.terminationMessagePolicy"))
    elif policy not in ("File", "FallbackToLogsOnError"):
        errs.append(not_supported(f"{path}.terminationMessagePolicy", policy, ["File", "FallbackToLogsOnError"]))
    errs.extend(_validate_container_ports(container.get("ports"), f"{path}.ports"))
    errs.extend(_validate_env(container.get("env"), f"{path}.env"))
    errs.extend(_validate_env_from(container.get("envFrom"), f"{path}.envFrom"))
    errs.extend(_validate_volume_mounts(container.get("volumeMounts"), volumes, container, f"{path}.volumeMounts"))
    pull = _s(container.get("imagePullPolicy"))
    if not pull:
        errs.append(required(f"{path}.imagePullPolicy"))
    elif pull not in _PULL_POLICIES:
        errs.append(not_supported(f"{path}.imagePullPolicy", pull, _PULL_POLICIES))
    errs.extend(_validate_resources(container.get("resources"), f"{path}.resources"))
    return errs


def _host_port_conflicts(containers: list[Obj], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for ci, container in enumerate(containers):
        for pi, port in enumerate(_l(container.get("ports"))):
            port = _d(port)
            host_port = port.get("hostPort")
            if not host_port:
                continue
            key = f"{_s(port.get('protocol'))}/{_s(port.get('hostIP'))}/{host_port}"
            if key in seen:
                errs.append(duplicate(f"{path}[{ci}].ports[{pi}].hostPort", key))
            else:
                seen.add(key)
    return errs


def _validate_containers(containers: Any, volumes: Mapping[str, Obj], grace: Any, path: str) -> list[FieldError]:
    items = [_d(c) for c in _l(containers)]
    if not items:
        return [required(path)]
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, container in enumerate(items):
        item = f"{path}[{i}]"
        errs.extend(_validate_container_common(container, volumes, item))
        name = _s(container.get("name"))
        if name in names:
            errs.append(duplicate(f"{item}.name", name))
        else:
            names.add(name)
        errs.extend(_validate_probes_and_lifecycle(container, grace, item))
        if container.get("restartPolicy") is not None:
            errs.append(forbidden(f"{item}.restartPolicy", "may not be set for non-init containers"))
    errs.extend(_host_port_conflicts(items, path))
    return errs


def _validate_init_containers(
    containers: Any, regular: Any, volumes: Mapping[str, Obj], grace: Any, path: str
) -> list[FieldError]:
    errs: list[FieldError] = []
    names = {_s(_d(c).get("name")) for c in _l(regular)}
    for i, container in enumerate(_d(c) for c in _l(containers)):
        item = f"{path}[{i}]"
        errs.extend(_validate_container_common(container, volumes, item))
        restart_always = False
        policy = container.get("restartPolicy")
        if policy is not None:
            if policy != "Always":
                errs.append(not_supported(f"{item}.restartPolicy", policy, ["Always"]))
            restart_always = policy == "Always"
        name = _s(container.get("name"))
        if name in names:
            errs.append(duplicate(f"{item}.name", name))
        elif name:
            names.add(name)
        errs.extend(_host_port_conflicts([container], path))
        if restart_always:
            errs.extend(_validate_probes_and_lifecycle(container, grace, item))
        else:
            for key in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if container.get(key) is not None:
                    errs.append(forbidden(f"{item}.{key}", "may not be set for init containers without restartPolicy=Always"))
    return errs


# volume sources in the order Go's validateVolumeSource checks them; the path used for the
# "more than 1 volume type" error keeps Go's spellings (`downwarAPI`, `cephFS`).
_VOLUME_TYPES = (
    ("emptyDir", "emptyDir"), ("hostPath", "hostPath"), ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"), ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"), ("nfs", "nfs"), ("iscsi", "iscsi"), ("glusterfs", "glusterfs"),
    ("flocker", "flocker"), ("persistentVolumeClaim", "persistentVolumeClaim"), ("rbd", "rbd"),
    ("cinder", "cinder"), ("cephfs", "cephFS"), ("quobyte", "quobyte"), ("downwardAPI", "downwarAPI"),
    ("fc", "fc"), ("flexVolume", "flexVolume"), ("configMap", "configMap"), ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"), ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"), ("azureDisk", "azureDisk"), ("storageos", "storageos"),
    ("projected", "projected"), ("scaleIO", "scaleIO"), ("csi", "csi"), ("ephemeral", "ephemeral"),
    ("image", "image"),
)  # fmt: skip
_HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice")
_FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"


def _validate_mode(mode: Any, field: str) -> list[FieldError]:
    if mode is not None and _is_int(mode) and (mode > 0o777 or mode < 0):
        return [invalid(field, mode, _FILE_MODE_ERROR)]
    return []


def _validate_key_to_paths(items: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, item in enumerate(_l(items)):
        item = _d(item)
        field = f"{path}[{i}]"
        if not _s(item.get("key")):
            errs.append(required(f"{field}.key"))
        target = _s(item.get("path"))
        if not target:
            errs.append(required(f"{field}.path"))
        errs.extend(_local_non_reserved_path(target, f"{field}.path"))
        errs.extend(_validate_mode(item.get("mode"), f"{field}.mode"))
    return errs


def _validate_volume_source(volume: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    count = 0
    for key, error_key in _VOLUME_TYPES:
        source = volume.get(key)
        if source is None:
            continue
        if count > 0:
            errs.append(forbidden(f"{path}.{error_key}", "may not specify more than 1 volume type"))
            continue
        count += 1
        source = _d(source)
        field = f"{path}.{key}"
        if key == "hostPath":
            host = _s(source.get("path"))
            if not host:
                errs.append(required(f"{field}.path"))
                continue
            if ".." in host.split("/"):
                errs.append(invalid(f"{field}.path", host, "must not contain '..'"))
            kind = source.get("type")
            if kind is not None and kind not in _HOST_PATH_TYPES:
                errs.append(not_supported(f"{field}.type", kind, sorted(_HOST_PATH_TYPES)))
        elif key == "secret":
            if not _s(source.get("secretName")):
                errs.append(required(f"{field}.secretName"))
            errs.extend(_validate_mode(source.get("defaultMode"), f"{field}.defaultMode"))
            errs.extend(_validate_key_to_paths(source.get("items"), f"{field}.items"))
        elif key == "configMap":
            if not _s(source.get("name")):
                errs.append(required(f"{field}.name"))
            errs.extend(_validate_mode(source.get("defaultMode"), f"{field}.defaultMode"))
            errs.extend(_validate_key_to_paths(source.get("items"), f"{field}.items"))
        elif key == "persistentVolumeClaim":
            if not _s(source.get("claimName")):
                errs.append(required(f"{field}.claimName"))
        elif key == "nfs":
            if not _s(source.get("server")):
                errs.append(required(f"{field}.server"))
            nfs_path = _s(source.get("path"))
            if not nfs_path:
                errs.append(required(f"{field}.path"))
            if not nfs_path.startswith("/"):
                errs.append(invalid(f"{field}.path", nfs_path, "must be an absolute path"))
        elif key == "gitRepo":
            if not _s(source.get("repository")):
                errs.append(required(f"{field}.repository"))
            errs.extend(_local_descending_path(_s(source.get("directory")), f"{field}.directory"))
        elif key == "downwardAPI":
            errs.extend(_validate_mode(source.get("defaultMode"), f"{field}.defaultMode"))
            for item in _l(source.get("items")):
                errs.extend(_validate_downward_file(_d(item), field))
        elif key == "projected":
            errs.extend(_validate_mode(source.get("defaultMode"), f"{field}.defaultMode"))
    if count == 0:
        errs.append(required(path, "must specify a volume type"))
    return errs


def _validate_downward_file(item: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    target = _s(item.get("path"))
    if not target:
        errs.append(required(f"{path}.path"))
    errs.extend(_local_non_reserved_path(target, f"{path}.path"))
    if item.get("fieldRef") is not None:
        errs.extend(_validate_object_field_selector(item["fieldRef"], _VOLUME_FIELD_PATHS, f"{path}.fieldRef"))
        if item.get("resourceFieldRef") is not None:
            errs.append(invalid(path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
    elif item.get("resourceFieldRef") is not None:
        errs.extend(_validate_resource_field_selector(item["resourceFieldRef"], f"{path}.resourceFieldRef", True))
    else:
        errs.append(required(path, "one of fieldRef and resourceFieldRef is required"))
    errs.extend(_validate_mode(item.get("mode"), f"{path}.mode"))
    return errs


def _validate_volumes(volumes: Any, path: str) -> tuple[dict[str, Obj], list[FieldError]]:
    errs: list[FieldError] = []
    valid: dict[str, Obj] = {}
    names: set[str] = set()
    for i, volume in enumerate(_d(v) for v in _l(volumes)):
        item = f"{path}[{i}]"
        volume_errs = _validate_volume_source(volume, item)
        name = _s(volume.get("name"))
        if not name:
            volume_errs.append(required(f"{item}.name"))
        else:
            volume_errs.extend(invalid(f"{item}.name", name, m) for m in dns1123_label(name))
        if name in names:
            volume_errs.append(duplicate(f"{item}.name", name))
        if volume_errs:
            errs.extend(volume_errs)
        else:
            names.add(name)
            valid[name] = volume
    return valid, errs


def _validate_tolerations(tolerations: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, toleration in enumerate(_d(t) for t in _l(tolerations)):
        item = f"{path}[{i}]"
        key = _s(toleration.get("key"))
        operator = _s(toleration.get("operator"))
        value = _s(toleration.get("value"))
        effect = _s(toleration.get("effect"))
        if key:
            errs.extend(validate_label_name(key, f"{item}.key"))
        if not key and operator != "Exists":
            errs.append(
                invalid(
                    f"{item}.operator",
                    operator,
                    'operator must be Exists when `key` is empty, which means "match all values and all keys"',
                )
            )
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(invalid(f"{item}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if operator in ("Equal", ""):
            problems = label_value(value)
            if problems:
                errs.append(invalid(f"{item}.operator", value, ";".join(problems)))
        elif operator == "Exists":
            if value:
                errs.append(invalid(f"{item}.operator", value, "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(not_supported(f"{item}.operator", operator, ["Equal", "Exists"]))
        if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.append(not_supported(f"{item}.effect", effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
    return errs


def _validate_dns_config(config: Any, dns_policy: str, path: str) -> list[FieldError]:
    if dns_policy == "None":
        if config is None:
            return [required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not _l(_d(config).get("nameservers")):
            return [required(f"{path}.nameservers", "must provide at least one DNS nameserver when `dnsPolicy` is None")]
    if config is None:
        return []
    config = _d(config)
    errs: list[FieldError] = []
    nameservers = _l(config.get("nameservers"))
    if len(nameservers) > 3:
        errs.append(_invalid_go(f"{path}.nameservers", _go_strings(nameservers), "must not have more than 3 nameservers"))
    for i, server in enumerate(nameservers):
        errs.extend(invalid(f"{path}.nameservers[{i}]", _s(server), m) for m in ip_errors(_s(server)))
    searches = [_s(s) for s in _l(config.get("searches"))]
    if len(searches) > 32:
        errs.append(_invalid_go(f"{path}.searches", _go_strings(searches), "must not have more than 32 search paths"))
    if len(" ".join(searches)) > 2048:
        errs.append(
            _invalid_go(
                f"{path}.searches",
                _go_strings(searches),
                "must not have more than 2048 characters (including spaces) in the search list",
            )
        )
    for i, search in enumerate(searches):
        search = search[:-1] if search.endswith(".") else search
        errs.extend(invalid(f"{path}.searches[{i}]", search, m) for m in dns1123_subdomain(search))
    for i, option in enumerate(_l(config.get("options"))):
        if not _s(_d(option).get("name")):
            errs.append(required(f"{path}.options[{i}]", "must not be empty"))
    return errs


def validate_pod_spec(spec: Any, path: str = "spec", *, is_pod: bool = True) -> list[FieldError]:
    """ValidatePodSpec: containers, init containers, volumes and pod-level settings."""
    spec = _d(spec)
    errs: list[FieldError] = []
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is None:
        errs.append(required(f"{path}.terminationGracePeriodSeconds"))
    volumes, volume_errs = _validate_volumes(spec.get("volumes"), f"{path}.volumes")
    errs.extend(volume_errs)
    errs.extend(_validate_containers(spec.get("containers"), volumes, grace, f"{path}.containers"))
    errs.extend(
        _validate_init_containers(spec.get("initContainers"), spec.get("containers"), volumes, grace, f"{path}.initContainers")
    )
    if spec.get("hostNetwork") is True:
        for i, container in enumerate(_d(c) for c in _l(spec.get("containers"))):
            for j, port in enumerate(_d(p) for p in _l(container.get("ports"))):
                host_port, container_port = port.get("hostPort") or 0, port.get("containerPort") or 0
                if (is_pod or host_port != 0) and host_port != container_port:
                    errs.append(
                        invalid(
                            f"{path}.containers[{i}].ports[{j}].hostPort",
                            host_port,
                            "must match `containerPort` when `hostNetwork` is true",
                        )
                    )
    restart_policy = _s(spec.get("restartPolicy"))
    if not restart_policy:
        errs.append(required(f"{path}.restartPolicy"))
    elif restart_policy not in ("Always", "OnFailure", "Never"):
        errs.append(not_supported(f"{path}.restartPolicy", restart_policy, ["Always", "OnFailure", "Never"]))
    dns_policy = _s(spec.get("dnsPolicy"))
    if not dns_policy:
        errs.append(required(f"{path}.dnsPolicy"))
    elif dns_policy not in ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"):
        errs.append(
            not_supported(f"{path}.dnsPolicy", dns_policy, ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"])
        )
    errs.extend(validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector"))
    errs.extend(_validate_dns_config(spec.get("dnsConfig"), dns_policy, f"{path}.dnsConfig"))
    for i, gate in enumerate(_d(g) for g in _l(spec.get("readinessGates"))):
        condition = _s(gate.get("conditionType"))
        errs.extend(invalid(f"{path}.readinessGates[{i}].conditionType", condition, m) for m in qualified_name(condition))
    seen_gates: set[str] = set()
    for i, gate in enumerate(_d(g) for g in _l(spec.get("schedulingGates"))):
        gate_name = _s(gate.get("name"))
        errs.extend(invalid(f"{path}.schedulingGates[{i}]", gate_name, m) for m in qualified_name(gate_name))
        if gate_name in seen_gates:
            errs.append(duplicate(f"{path}.schedulingGates[{i}]", gate_name))
        seen_gates.add(gate_name)
    for key in ("serviceAccountName", "nodeName"):
        value = _s(spec.get(key))
        if value:
            errs.extend(_name_errors(f"{path}.{key}", value, name_is_dns_subdomain))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not _is_int(deadline) or deadline < 1 or deadline > MAX_INT32):
        errs.append(invalid(f"{path}.activeDeadlineSeconds", deadline, inclusive_range_error(1, MAX_INT32)))
    for key in ("hostname", "subdomain"):
        value = _s(spec.get(key))
        if value:
            errs.extend(invalid(f"{path}.{key}", value, m) for m in dns1123_label(value))
    if _l(spec.get("tolerations")):
        errs.extend(_validate_tolerations(spec.get("tolerations"), f"{path}.tolerations"))
    for i, alias in enumerate(_d(a) for a in _l(spec.get("hostAliases"))):
        ip = _s(alias.get("ip"))
        errs.extend(invalid(f"{path}.hostAliases[{i}].ip", ip, m) for m in ip_errors(ip))
        for j, hostname in enumerate(_l(alias.get("hostnames"))):
            hostname = _s(hostname)
            errs.extend(invalid(f"{path}.hostAliases[{i}].hostnames[{j}]", hostname, m) for m in dns1123_subdomain(hostname))
    priority_class = _s(spec.get("priorityClassName"))
    if priority_class:
        errs.extend(_name_errors(f"{path}.priorityClassName", priority_class, name_is_dns_subdomain))
    if spec.get("runtimeClassName") is not None:
        errs.extend(_name_errors(f"{path}.runtimeClassName", _s(spec.get("runtimeClassName")), name_is_dns_subdomain))
    preemption = spec.get("preemptionPolicy")
    if preemption is not None:
        if preemption == "":
            errs.append(required(f"{path}.preemptionPolicy"))
        elif preemption not in ("PreemptLowerPriority", "Never"):
            errs.append(not_supported(f"{path}.preemptionPolicy", preemption, ["PreemptLowerPriority", "Never"]))
    return errs


def _validate_pod_template(template: Any, path: str) -> list[FieldError]:
    """ValidatePodTemplateSpec (labels are reported at `<path>.labels`, as Go does)."""
    template = _d(template)
    metadata = _d(template.get("metadata"))
    errs = validate_labels(metadata.get("labels"), f"{path}.labels")
    errs.extend(validate_annotations(metadata.get("annotations"), f"{path}.annotations"))
    spec = _d(template.get("spec"))
    errs.extend(validate_pod_spec(spec, f"{path}.spec", is_pod=False))
    if _l(spec.get("ephemeralContainers")):
        errs.append(forbidden(f"{path}.spec.ephemeralContainers", "ephemeral containers not allowed in pod template"))
    return errs


# ---------------------------------------------------------------------------------------------
# Pod
# ---------------------------------------------------------------------------------------------


def _validate_pod_metadata_and_spec(pod: Obj) -> list[FieldError]:
    errs = validate_object_meta(pod.get("metadata"), True, name_is_dns_subdomain)
    spec = _d(pod.get("spec"))
    errs.extend(validate_pod_spec(spec, "spec", is_pod=True))
    if not _s(spec.get("serviceAccountName")):
        for vi, volume in enumerate(_d(v) for v in _l(spec.get("volumes"))):
            projected = volume.get("projected")
            for si, source in enumerate(_d(s) for s in _l(_d(projected).get("sources"))):
                if source.get("serviceAccountToken") is not None:
                    errs.append(
                        forbidden(
                            f"spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken",
                            "must not be specified when serviceAccountName is not set",
                        )
                    )
    for key in ("containers", "initContainers"):
        for i, container in enumerate(_d(c) for c in _l(spec.get(key))):
            image = _s(container.get("image"))
            if len(image) != len(image.strip()):
                errs.append(invalid(f"spec.{key}[{i}].image", image, "must not have leading or trailing whitespace"))
    return errs


def _validate_pod(pod: Obj) -> list[FieldError]:
    errs = _validate_pod_metadata_and_spec(pod)
    spec = _d(pod.get("spec"))
    if _l(spec.get("ephemeralContainers")):
        errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if _s(spec.get("nodeName")) and _l(spec.get("schedulingGates")):
        errs.append(forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))
    return errs


def _container_updates(new: Any, old: Any, path: str) -> tuple[list[FieldError], bool]:
    new_items, old_items = _l(new), _l(old)
    if len(new_items) != len(old_items):
        return [forbidden(path, "pod updates may not add or remove containers")], True
    errs: list[FieldError] = []
    for i, container in enumerate(_d(c) for c in new_items):
        image = _s(container.get("image"))
        if not image:
            errs.append(required(f"{path}[{i}].image"))
        if len(image.strip()) != len(image):
            errs.append(invalid(f"{path}[{i}].image", image, "must not have leading or trailing whitespace"))
    return errs, False


def _spec_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """A go-cmp flavoured list of the changed leaves between two normalised specs."""
    lines: list[str] = []
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            lines.extend(_spec_diff(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else key))
        return lines
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            lines.extend(_spec_diff(a, b, f"{prefix}[{i}]"))
        return lines
    if old != new:
        if old is not None:
            lines.append(f"- \t{prefix}: {json.dumps(old, sort_keys=True)},")
        if new is not None:
            lines.append(f"+ \t{prefix}: {json.dumps(new, sort_keys=True)},")
    return lines


def _validate_pod_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs.extend(_validate_pod_metadata_and_spec(new))
    new_spec, old_spec = _d(new.get("spec")), _d(old.get("spec"))
    for key in ("containers", "initContainers"):
        update_errs, stop = _container_updates(new_spec.get(key), old_spec.get(key), f"spec.{key}")
        errs.extend(update_errs)
        if stop:
            return errs
    new_deadline, old_deadline = new_spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if new_deadline is not None:
        if not _is_int(new_deadline) or new_deadline < 0 or new_deadline > MAX_INT32:
            errs.append(invalid("spec.activeDeadlineSeconds", new_deadline, inclusive_range_error(0, MAX_INT32)))
            return errs
        if _is_int(old_deadline) and old_deadline < new_deadline:
            errs.append(invalid("spec.activeDeadlineSeconds", new_deadline, "must be less than or equal to previous value"))
            return errs
    elif old_deadline is not None:
        # Go prints a nil pointer as the string "null"
        errs.append(invalid("spec.activeDeadlineSeconds", "null", "must not update from a positive integer to nil value"))
    # only additions to tolerations (tolerationSeconds of existing ones may change)
    new_tolerations = [_normalize(_d(t)) for t in _l(new_spec.get("tolerations"))]
    for old_toleration in _l(old_spec.get("tolerations")):
        wanted = _normalize(_d(old_toleration))
        wanted.pop("tolerationSeconds", None)
        if not any({k: v for k, v in t.items() if k != "tolerationSeconds"} == wanted for t in new_tolerations):
            errs.append(forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"))
            break
    # only deletions of scheduling gates
    old_gates = {_s(_d(g).get("name")) for g in _l(old_spec.get("schedulingGates"))}
    for i, gate in enumerate(_l(new_spec.get("schedulingGates"))):
        gate_name = _s(_d(gate).get("name"))
        if gate_name not in old_gates:
            errs.append(
                forbidden(f"spec.schedulingGates[{i}].name", f"only deletion is allowed, but found new scheduling gate '{gate_name}'")
            )
    if _normalize(new_spec) == _normalize(old_spec):
        return errs
    munged = json.loads(json.dumps(new_spec))
    for key in ("containers", "initContainers"):
        old_items = _l(old_spec.get(key))
        for i, container in enumerate(_l(munged.get(key))):
            if isinstance(container, dict) and i < len(old_items):
                container["image"] = _d(old_items[i]).get("image")
    munged["activeDeadlineSeconds"] = old_deadline
    munged["schedulingGates"] = old_spec.get("schedulingGates")
    munged["tolerations"] = old_spec.get("tolerations")
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if _is_int(old_grace) and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if old_spec.get("schedulingGates"):
        old_selector = _d(old_spec.get("nodeSelector"))
        new_selector = _d(munged.get("nodeSelector"))
        if _normalize(new_selector) != _normalize(old_selector):
            if all(new_selector.get(k) == v for k, v in old_selector.items()):
                munged["nodeSelector"] = old_spec.get("nodeSelector")
            else:
                errs.append(
                    forbidden("spec.nodeSelector", "only additions to spec.nodeSelector are allowed (no mutations or deletions)")
                )
                munged["nodeSelector"] = old_spec.get("nodeSelector")
    normalized_old, normalized_new = _normalize(old_spec), _normalize(munged)
    if normalized_new != normalized_old:
        diff = "\n".join(["  core.PodSpec{", *_spec_diff(normalized_old, normalized_new), "  }"])
        errs.append(
            forbidden(
                "spec",
                f"pod updates may not change fields other than {','.join(UPDATABLE_POD_SPEC_FIELDS)}\n{diff}\n",
            )
        )
    return errs


# ---------------------------------------------------------------------------------------------
# ReplicationController, ReplicaSet, Deployment
# ---------------------------------------------------------------------------------------------

_SELECTOR_MISMATCH = "`selector` does not match template `labels`"


def _validate_rc_spec(spec: Obj) -> list[FieldError]:
    errs = validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    selector = _d(spec.get("selector"))
    if not selector:
        errs.append(required("spec.selector"))
    errs.extend(validate_nonnegative(spec.get("replicas"), "spec.replicas"))
    template = spec.get("template")
    if template is None:
        errs.append(required("spec.template"))
        return errs
    labels = _d(template).get("metadata")
    labels = _d(labels).get("labels") if isinstance(labels, dict) else None
    if selector and not all(_d(labels).get(k) == v for k, v in selector.items()):
        errs.append(_invalid_go("spec.template.metadata.labels", _go_map(labels), _SELECTOR_MISMATCH))
    errs.extend(_validate_pod_template(template, "spec.template"))
    pod_spec = _d(_d(template).get("spec"))
    restart = _s(pod_spec.get("restartPolicy"))
    if restart != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", restart, ["Always"]))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errs.append(
            forbidden("spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicationController is not Supported")
        )
    return errs


def _validate_replication_controller(obj: Obj) -> list[FieldError]:
    errs = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)
    errs.extend(_validate_rc_spec(_d(obj.get("spec"))))
    return errs


def _validate_replication_controller_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs.extend(_validate_rc_spec(_d(new.get("spec"))))
    return errs


def _validate_selector_and_template(spec: Obj, kind_word: str) -> list[FieldError]:
    """The selector part of ValidateReplicaSetSpec / ValidateDeploymentSpec plus the template."""
    errs: list[FieldError] = []
    selector = spec.get("selector")
    if selector is None:
        errs.append(required("spec.selector"))
    else:
        errs.extend(validate_label_selector(_d(selector), "spec.selector"))
        if _selector_is_empty(_d(selector)):
            errs.append(_invalid_go("spec.selector", _go_label_selector(selector), f"empty selector is invalid for {kind_word}"))
    template = _d(spec.get("template"))
    if selector is not None and label_selector_errors(_d(selector)):
        errs.append(_invalid_go("spec.selector", _go_label_selector(selector), "invalid label selector"))
        return errs
    labels = _d(template.get("metadata")).get("labels")
    # A missing selector converts to labels.Nothing(), which is not empty and matches nothing.
    if selector is None or not _selector_is_empty(_d(selector)):
        if selector is None or not _selector_matches(_d(selector), _d(labels)):
            errs.append(_invalid_go("spec.template.metadata.labels", _go_map(labels), _SELECTOR_MISMATCH))
    errs.extend(_validate_pod_template(template, "spec.template"))
    pod_spec = _d(template.get("spec"))
    restart = _s(pod_spec.get("restartPolicy"))
    if restart != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", restart, ["Always"]))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errs.append(forbidden("spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported"))
    return errs


def _validate_replica_set_spec(spec: Obj) -> list[FieldError]:
    errs = validate_nonnegative(spec.get("replicas"), "spec.replicas")
    errs.extend(validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    errs.extend(_validate_selector_and_template(spec, "deployment"))
    return errs


def _validate_replica_set(obj: Obj) -> list[FieldError]:
    errs = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)
    errs.extend(_validate_replica_set_spec(_d(obj.get("spec"))))
    return errs


def _selector_immutable(new: Obj, old: Obj) -> list[FieldError]:
    new_selector = _d(new.get("spec")).get("selector")
    old_selector = _d(old.get("spec")).get("selector")
    if _normalize(_d(new_selector)) != _normalize(_d(old_selector)):
        rendered = _go_label_selector(new_selector) if new_selector is not None else '"null"'
        return [_invalid_go("spec.selector", rendered, FIELD_IMMUTABLE)]
    return []


def _validate_replica_set_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = _validate_replica_set(new)
    errs.extend(validate_object_meta_update(new.get("metadata"), old.get("metadata")))
    errs.extend(_validate_replica_set_spec(_d(new.get("spec"))))
    errs.extend(_selector_immutable(new, old))
    return errs


def _percent_value(value: Any) -> int | None:
    if isinstance(value, str) and not percent(value):
        return int(value[:-1])
    return None


def _int_or_percent_value(value: Any) -> int:
    pct = _percent_value(value)
    if pct is not None:
        return pct
    if _is_int(value):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0


def _validate_positive_int_or_percent(value: Any, field: str) -> list[FieldError]:
    if isinstance(value, str):
        return [_invalid_go(field, _go_int_or_string(value), m) for m in percent(value)]
    if _is_int(value):
        return validate_nonnegative(value, field)
    return [_invalid_go(field, _go_int_or_string(value), "must be an integer or percentage (e.g '5%%')")]


def _validate_deployment_strategy(strategy: Obj) -> list[FieldError]:
    kind = _s(strategy.get("type"))
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            return [forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if kind == "RollingUpdate":
        if rolling is None:
            return [required("spec.strategy.rollingUpdate", "this should be defaulted and never be nil")]
        rolling = _d(rolling)
        path = "spec.strategy.rollingUpdate"
        max_unavailable, max_surge = rolling.get("maxUnavailable", 0), rolling.get("maxSurge", 0)
        errs = _validate_positive_int_or_percent(max_unavailable, f"{path}.maxUnavailable")
        errs.extend(_validate_positive_int_or_percent(max_surge, f"{path}.maxSurge"))
        if _int_or_percent_value(max_unavailable) == 0 and _int_or_percent_value(max_surge) == 0:
            errs.append(
                _invalid_go(f"{path}.maxUnavailable", _go_int_or_string(max_unavailable), "may not be 0 when `maxSurge` is 0")
            )
        pct = _percent_value(max_unavailable)
        if pct is not None and pct > 100:
            errs.append(_invalid_go(f"{path}.maxUnavailable", _go_int_or_string(max_unavailable), "must not be greater than 100%"))
        return errs
    rendered_rolling = "(*apps.RollingUpdateDeployment)(nil)" if rolling is None else "&apps.RollingUpdateDeployment{...}"
    rendered = f"apps.DeploymentStrategy{{Type:{_go_quote(kind)}, RollingUpdate:{rendered_rolling}}}"
    return [_not_supported_go("spec.strategy", rendered, ["Recreate", "RollingUpdate"])]


def _validate_deployment_spec(spec: Obj) -> list[FieldError]:
    errs = validate_nonnegative(spec.get("replicas"), "spec.replicas")
    errs.extend(_validate_selector_and_template(spec, "deployment"))
    errs.extend(_validate_deployment_strategy(_d(spec.get("strategy"))))
    errs.extend(validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    if spec.get("revisionHistoryLimit") is not None:
        errs.extend(validate_nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit"))
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None:
        errs.extend(validate_nonnegative(deadline, "spec.progressDeadlineSeconds"))
        min_ready = spec.get("minReadySeconds") or 0
        if _is_int(deadline) and _is_int(min_ready) and deadline <= min_ready:
            errs.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return errs


def _validate_deployment(obj: Obj) -> list[FieldError]:
    errs = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)
    errs.extend(_validate_deployment_spec(_d(obj.get("spec"))))
    return errs


def _validate_deployment_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs.extend(_validate_deployment_spec(_d(new.get("spec"))))
    errs.extend(_selector_immutable(new, old))
    return errs


# ---------------------------------------------------------------------------------------------
# Secret, ConfigMap, ServiceAccount
# ---------------------------------------------------------------------------------------------


def _decoded_size(value: Any) -> int:
    text = _s(value)
    try:
        return len(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return len(text) * 3 // 4


def _decoded(value: Any) -> bytes | None:
    try:
        return base64.b64decode(_s(value), validate=True)
    except (binascii.Error, ValueError):
        return None


def _validate_secret(obj: Obj) -> list[FieldError]:
    errs = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)
    data = _d(obj.get("data"))
    total = 0
    for key, value in data.items():
        errs.extend(invalid(f"data[{key}]", key, m) for m in config_map_key(key))
        total += _decoded_size(value)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("data", MAX_SECRET_SIZE))
    kind = _s(obj.get("type"))
    if kind == "kubernetes.io/service-account-token":
        annotations = _d(_d(obj.get("metadata")).get("annotations"))
        if not _s(annotations.get("kubernetes.io/service-account.name")):
            errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if kind == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            errs.append(required(f"data[{key}]"))
        else:
            raw = _decoded(data[key])
            try:
                parsed = json.loads(raw.decode("utf-8")) if raw is not None else None
                problem = "" if isinstance(parsed, dict) else "json: cannot unmarshal into Go value of type map[string]interface {}"
            except (UnicodeDecodeError, ValueError) as exc:
                problem = "unexpected end of JSON input" if raw is not None and not raw.strip() else f"invalid JSON: {exc}"
            if problem:
                errs.append(invalid(f"data[{key}]", "<secret contents redacted>", problem))
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs.append(required("data[username]"))
            errs.append(required("data[password]"))
    elif kind == "kubernetes.io/ssh-auth":
        if not _s(data.get("ssh-privatekey")):
            errs.append(required("data[ssh-privatekey]"))
    elif kind == "kubernetes.io/tls":
        if "tls.crt" not in data:
            errs.append(required("data[tls.crt]"))
        if "tls.key" not in data:
            errs.append(required("data[tls.key]"))
    return errs


def _immutable_flag_errors(new: Obj, old: Obj, keys: tuple[str, ...]) -> list[FieldError]:
    errs: list[FieldError] = []
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        for key in keys:
            if _d(new.get(key)) != _d(old.get(key)):
                errs.append(forbidden(key, "field is immutable when `immutable` is set"))
    return errs


def _validate_secret_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs.extend(_immutable_type(new, old))
    errs.extend(_immutable_flag_errors(new, old, ("data",)))
    errs.extend(_validate_secret(new))
    return errs


def _immutable_type(new: Obj, old: Obj) -> list[FieldError]:
    new_type, old_type = _s(new.get("type")), _s(old.get("type"))
    if new_type != old_type:
        return [invalid("type", new_type, FIELD_IMMUTABLE)]
    return []


def _validate_config_map(obj: Obj) -> list[FieldError]:
    errs = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)
    data, binary = _d(obj.get("data")), _d(obj.get("binaryData"))
    total = 0
    for key, value in data.items():
        errs.extend(invalid(f"data[{key}]", key, m) for m in config_map_key(key))
        if key in binary:
            errs.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        total += len(_s(value).encode("utf-8"))
    for key, value in binary.items():
        errs.extend(invalid(f"binaryData[{key}]", key, m) for m in config_map_key(key))
        total += _decoded_size(value)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("", MAX_SECRET_SIZE))
    return errs


def _validate_config_map_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs.extend(_immutable_flag_errors(new, old, ("data", "binaryData")))
    errs.extend(_validate_config_map(new))
    return errs


def _validate_service_account(obj: Obj) -> list[FieldError]:
    return validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)


def _validate_service_account_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs.extend(_validate_service_account(new))
    return errs


# ---------------------------------------------------------------------------------------------
# Namespace, Node
# ---------------------------------------------------------------------------------------------


def _validate_namespace(obj: Obj) -> list[FieldError]:
    errs = validate_object_meta(obj.get("metadata"), False, name_is_dns_label)
    for name in _l(_d(obj.get("spec")).get("finalizers")):
        name = _s(name)
        errs.extend(validate_finalizers([name], "spec.finalizers", kube_names=False))
        if "/" not in name and name not in ("kubernetes", "orphan", "foregroundDeletion"):
            errs.append(invalid("spec.finalizers", name, "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


def _validate_namespace_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = _validate_namespace(new)
    errs.extend(validate_object_meta_update(new.get("metadata"), old.get("metadata")))
    return errs


def _go_taint(taint: Obj) -> str:
    added = "(*v1.Time)(nil)" if taint.get("timeAdded") is None else _go_quote(_s(taint.get("timeAdded")))
    return (
        f"core.Taint{{Key:{_go_quote(_s(taint.get('key')))}, Value:{_go_quote(_s(taint.get('value')))}, "
        f"Effect:{_go_quote(_s(taint.get('effect')))}, TimeAdded:{added}}}"
    )


def _validate_node_taints(taints: Any) -> list[FieldError]:
    # Kubernetes reports node taints under `metadata.taints` (its field path has the parent
    # `metadata`); reproduced for identical messages.
    errs: list[FieldError] = []
    unique: dict[str, set[str]] = {}
    for i, taint in enumerate(_d(t) for t in _l(taints)):
        item = f"metadata.taints[{i}]"
        key, value, effect = _s(taint.get("key")), _s(taint.get("value")), _s(taint.get("effect"))
        errs.extend(validate_label_name(key, f"{item}.key"))
        problems = label_value(value)
        if problems:
            errs.append(invalid(f"{item}.value", value, ";".join(problems)))
        if not effect:
            errs.append(required(f"{item}.effect"))
        elif effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.append(not_supported(f"{item}.effect", effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
        if key in unique.get(effect, set()):
            errs.append(
                FieldError(
                    item,
                    "FieldValueDuplicate",
                    f"Duplicate value: {_go_taint(taint)}: taints must be unique by key and effect pair",
                )
            )
            continue
        unique.setdefault(effect, set()).add(key)
    return errs


def _validate_node(obj: Obj) -> list[FieldError]:
    errs = validate_object_meta(obj.get("metadata"), False, name_is_dns_subdomain)
    spec = _d(obj.get("spec"))
    if _l(spec.get("taints")):
        errs.extend(_validate_node_taints(spec.get("taints")))
    cidrs = [_s(c) for c in _l(spec.get("podCIDRs"))]
    for i, cidr in enumerate(cidrs):
        errs.extend(invalid(f"spec.podCIDRs[{i}]", cidr, m) for m in cidr_errors(cidr))
    if len(cidrs) > 1:
        families = {("6" if ":" in c else "4") for c in cidrs}
        if len(families) != len(cidrs) or len(cidrs) > 2:
            errs.append(_invalid_go("spec.podCIDRs", _go_strings(cidrs), "may specify no more than one CIDR for each IP family"))
        seen: set[str] = set()
        for i, cidr in enumerate(cidrs):
            if cidr in seen:
                errs.append(duplicate(f"spec.podCIDRs[{i}]", cidr))
            seen.add(cidr)
    return errs


def _validate_node_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = _validate_node(new)
    errs.extend(validate_object_meta_update(new.get("metadata"), old.get("metadata")))
    new_spec, old_spec = _d(new.get("spec")), _d(old.get("spec"))
    old_cidrs, new_cidrs = _l(old_spec.get("podCIDRs")), _l(new_spec.get("podCIDRs"))
    message = 'node updates may not change podCIDR except from "" to valid'
    if old_cidrs:
        if len(old_cidrs) != len(new_cidrs):
            errs.append(forbidden("spec.podCIDRs", message))
        else:
            errs.extend(forbidden("spec.podCIDRs", message) for a, b in zip(old_cidrs, new_cidrs) if a != b)
    old_provider = _s(old_spec.get("providerID"))
    if old_provider and old_provider != _s(new_spec.get("providerID")):
        errs.append(forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid'))
    if _s(new_spec.get("externalID")) != _s(old_spec.get("externalID")):
        errs.append(forbidden("spec.externalID", "may not be updated"))
    addresses: list[Any] = []
    for i, address in enumerate(_l(_d(new.get("status")).get("addresses"))):
        if address in addresses:
            errs.append(duplicate(f"status.addresses[{i}]", address))
        addresses.append(address)
    return _dedupe(errs)


# ---------------------------------------------------------------------------------------------
# Ingress, IngressClass
# ---------------------------------------------------------------------------------------------

_PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
_INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_PATH_SUFFIXES = ("/..", "/.")


def _validate_typed_reference(ref: Any, path: str) -> list[FieldError]:
    if ref is None:
        return []
    ref = _d(ref)
    errs: list[FieldError] = []
    if ref.get("apiGroup") is not None:
        group = _s(ref.get("apiGroup"))
        errs.extend(invalid(f"{path}.apiGroup", group, m) for m in dns1123_subdomain(group))
    for key in ("kind", "name"):
        value = _s(ref.get(key))
        if not value:
            errs.append(required(f"{path}.{key}", f"{key} is required"))
        else:
            errs.extend(invalid(f"{path}.{key}", value, m) for m in path_segment_name(value))
    return errs


def _validate_ingress_backend(backend: Any, path: str) -> list[FieldError]:
    backend = _d(backend)
    resource, service = backend.get("resource"), backend.get("service")
    if resource is not None and service is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        return _validate_typed_reference(resource, f"{path}.resource")
    if service is None:
        return [invalid(path, "", "resource or service backend is required")]
    service = _d(service)
    errs: list[FieldError] = []
    name = _s(service.get("name"))
    if not name:
        errs.append(required(f"{path}.service.name"))
    else:
        errs.extend(_name_errors(f"{path}.service.name", name, name_is_dns1035_label))
    port = _d(service.get("port"))
    port_name_value, number = _s(port.get("name")), port.get("number") or 0
    if port_name_value and number:
        errs.append(invalid(path, "", "cannot set both port name & port number"))
    elif port_name_value:
        errs.extend(invalid(f"{path}.service.port.name", port_name_value, m) for m in port_name(port_name_value))
    elif number:
        errs.extend(invalid(f"{path}.service.port.number", number, m) for m in port_number(number))
    else:
        errs.append(required(path, "port name or number is required"))
    return errs


def _validate_http_path(http_path: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    path_type = http_path.get("pathType")
    if path_type is None:
        return [required(f"{path}.pathType", "pathType must be specified")]
    value = _s(http_path.get("path"))
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.append(invalid(f"{path}.path", value, "must be an absolute path"))
        if value:
            for seq in _INVALID_PATH_SEQUENCES:
                if seq in value:
                    errs.append(invalid(f"{path}.path", value, f"must not contain '{seq}'"))
            for suffix in _INVALID_PATH_SUFFIXES:
                if value.endswith(suffix):
                    errs.append(invalid(f"{path}.path", value, f"cannot end with '{suffix}'"))
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.append(invalid(f"{path}.path", value, "must be an absolute path"))
    else:
        errs.append(not_supported(f"{path}.pathType", path_type, _PATH_TYPES))
    errs.extend(_validate_ingress_backend(http_path.get("backend"), f"{path}.backend"))
    return errs


def _validate_ingress_rules(rules: list[Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, rule in enumerate(_d(r) for r in rules):
        item = f"{path}[{i}]"
        host = _s(rule.get("host"))
        if host:
            if is_valid_ip(host):
                errs.append(invalid(f"{item}.host", host, "must be a DNS name, not an IP address"))
            if "*" in host:
                errs.extend(invalid(f"{item}.host", host, m) for m in wildcard_dns1123_subdomain(host))
            else:
                errs.extend(invalid(f"{item}.host", host, m) for m in dns1123_subdomain(host))
        http = rule.get("http")
        if http is not None:
            paths = _l(_d(http).get("paths"))
            if not paths:
                errs.append(required(f"{item}.http.paths"))
            for j, http_path in enumerate(paths):
                errs.extend(_validate_http_path(_d(http_path), f"{item}.http.paths[{j}]"))
    return errs


def _validate_ingress_spec(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    rules = spec.get("rules")
    if not _l(rules) and spec.get("defaultBackend") is None:
        rendered = "[]networking.IngressRule(nil)" if rules is None else "[]networking.IngressRule{}"
        errs.append(_invalid_go("spec", rendered, "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        errs.extend(_validate_ingress_backend(spec["defaultBackend"], "spec.defaultBackend"))
    if _l(rules):
        errs.extend(_validate_ingress_rules(_l(rules), "spec.rules"))
    for t, tls in enumerate(_d(x) for x in _l(spec.get("tls"))):
        for i, host in enumerate(_l(tls.get("hosts"))):
            host = _s(host)
            check = wildcard_dns1123_subdomain if "*" in host else dns1123_subdomain
            errs.extend(invalid(f"spec.tls[{t}].hosts[{i}]", host, m) for m in check(host))
        secret_name = _s(tls.get("secretName"))
        if secret_name:
            errs.extend(_name_errors(f"spec.tls[{t}].secretName", secret_name, name_is_dns_subdomain))
    if spec.get("ingressClassName") is not None:
        errs.extend(_name_errors("spec.ingressClassName", _s(spec.get("ingressClassName")), name_is_dns_subdomain))
    return errs


def _validate_ingress(obj: Obj) -> list[FieldError]:
    errs = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)
    spec = _d(obj.get("spec"))
    errs.extend(_validate_ingress_spec(spec))
    annotations = _d(_d(obj.get("metadata")).get("annotations"))
    class_annotation = annotations.get("kubernetes.io/ingress.class")
    class_name = spec.get("ingressClassName")
    if class_annotation is not None and class_name is not None and class_annotation != class_name:
        errs.append(
            invalid(
                "annotations.kubernetes.io/ingress.class",
                _s(class_annotation),
                "must match `ingressClassName` when both are specified",
            )
        )
    return errs


def _validate_ingress_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs.extend(validate_object_meta(new.get("metadata"), True, name_is_dns_subdomain))
    errs.extend(_validate_ingress_spec(_d(new.get("spec"))))
    return errs


def _validate_ingress_class(obj: Obj) -> list[FieldError]:
    errs = validate_object_meta(obj.get("metadata"), False, name_is_dns_subdomain)
    spec = _d(obj.get("spec"))
    controller = _s(spec.get("controller"))
    if len(controller.encode()) > 250:
        errs.append(too_long("spec.controller", 250))
    errs.extend(validate_domain_prefixed_path("spec.controller", controller))
    params = spec.get("parameters")
    if params is not None:
        params = _d(params)
        path = "spec.parameters"
        errs.extend(_validate_typed_reference(params, path))
        scope = params.get("scope")
        if scope is None:
            errs.append(required(f"{path}.scope"))
        elif scope not in ("Cluster", "Namespace"):
            errs.append(not_supported(f"{path}.scope", scope, ["Cluster", "Namespace"]))
        else:
            namespace = params.get("namespace")
            if scope == "Namespace":
                if namespace is None:
                    errs.append(required(f"{path}.namespace", "`parameters.scope` is set to 'Namespace'"))
                else:
                    errs.extend(_name_errors(f"{path}.namespace", _s(namespace), name_is_dns_label))
            if scope == "Cluster" and namespace is not None:
                errs.append(forbidden(f"{path}.namespace", "`parameters.scope` is set to 'Cluster'"))
    return errs


def _validate_ingress_class_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    new_controller = _s(_d(new.get("spec")).get("controller"))
    old_controller = _s(_d(old.get("spec")).get("controller"))
    if new_controller != old_controller:
        errs.append(invalid("spec.controller", new_controller, FIELD_IMMUTABLE))
    errs.extend(_validate_ingress_class(new))
    return errs


# ---------------------------------------------------------------------------------------------
# Event, Lease
# ---------------------------------------------------------------------------------------------


def _validate_event(obj: Obj) -> list[FieldError]:
    """legacyValidateEvent (what core/v1 requests get), then the generic ObjectMeta checks."""
    errs: list[FieldError] = []
    metadata = _d(obj.get("metadata"))
    namespace = _s(metadata.get("namespace"))
    involved_namespace = _s(_d(obj.get("involvedObject")).get("namespace"))
    mismatch = "does not match event.namespace"
    if not obj.get("eventTime"):
        if not involved_namespace:
            if namespace not in ("", "default"):
                errs.append(invalid("involvedObject.namespace", involved_namespace, mismatch))
        elif namespace != involved_namespace:
            errs.append(invalid("involvedObject.namespace", involved_namespace, mismatch))
    else:
        if not involved_namespace and namespace not in ("default", "kube-system"):
            errs.append(invalid("involvedObject.namespace", involved_namespace, mismatch))
        controller = _s(obj.get("reportingComponent"))
        if not controller:
            errs.append(required("reportingController"))
        errs.extend(invalid("reportingController", controller, m) for m in qualified_name(controller))
        instance = _s(obj.get("reportingInstance"))
        if not instance:
            errs.append(required("reportingInstance"))
        if len(instance) > 128:
            errs.append(invalid("reportingInstance", "", "can have at most 128 characters"))
        action = _s(obj.get("action"))
        if not action:
            errs.append(required("action"))
        if len(action) > 128:
            errs.append(invalid("action", "", "can have at most 128 characters"))
        reason = _s(obj.get("reason"))
        if not reason:
            errs.append(required("reason"))
        if len(reason) > 128:
            errs.append(invalid("reason", "", "can have at most 128 characters"))
        if len(_s(obj.get("message"))) > 1024:
            errs.append(invalid("message", "", "can have at most 1024 characters"))
    errs.extend(invalid("namespace", namespace, m) for m in dns1123_subdomain(namespace))
    if not errs:
        errs = validate_object_meta(metadata, True, name_is_path_segment)
    return errs


def _validate_lease_spec(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    duration = spec.get("leaseDurationSeconds")
    if _is_int(duration) and duration <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if _is_int(transitions) and transitions < 0:
        errs.append(invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    return errs


def _validate_lease(obj: Obj) -> list[FieldError]:
    errs = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain, kube_finalizers=False)
    errs.extend(_validate_lease_spec(_d(obj.get("spec"))))
    return errs


def _validate_lease_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"), kube_finalizers=False)
    errs.extend(_validate_lease_spec(_d(new.get("spec"))))
    return errs


# ---------------------------------------------------------------------------------------------
# dispatch
# ---------------------------------------------------------------------------------------------

_CREATE: dict[str, Callable[[Obj], list[FieldError]]] = {
    "Pod": _validate_pod,
    "ReplicationController": _validate_replication_controller,
    "ReplicaSet": _validate_replica_set,
    "Deployment": _validate_deployment,
    "Secret": _validate_secret,
    "ConfigMap": _validate_config_map,
    "ServiceAccount": _validate_service_account,
    "Namespace": _validate_namespace,
    "Node": _validate_node,
    "Ingress": _validate_ingress,
    "IngressClass": _validate_ingress_class,
    "Event": _validate_event,
    "Lease": _validate_lease,
}

_UPDATE: dict[str, Callable[[Obj, Obj], list[FieldError]]] = {
    "Pod": _validate_pod_update,
    "ReplicationController": _validate_replication_controller_update,
    "ReplicaSet": _validate_replica_set_update,
    "Deployment": _validate_deployment_update,
    "Secret": _validate_secret_update,
    "ConfigMap": _validate_config_map_update,
    "ServiceAccount": _validate_service_account_update,
    "Namespace": _validate_namespace_update,
    "Node": _validate_node_update,
    "Ingress": _validate_ingress_update,
    "IngressClass": _validate_ingress_class_update,
    "Event": lambda new, old: _validate_event(new),
    "Lease": _validate_lease_update,
}


def validate(resource: ResourceType, obj: Obj) -> list[FieldError]:
    """Field errors for creating `obj` (already defaulted); [] when it is valid.

    Service, Endpoints and EndpointSlice always give [] here (validated by their own module).
    Kinds without specific rules get the ObjectMeta checks for their scope.
    """
    if resource.kind in OTHER_MODULE_KINDS:
        return []
    obj = _d(obj)
    check = _CREATE.get(resource.kind)
    if check is None:
        return validate_object_meta(obj.get("metadata"), resource.namespaced, name_is_dns_subdomain)
    return check(obj)


def validate_update(resource: ResourceType, new: Obj, old: Obj) -> list[FieldError]:
    """The field errors an update adds to `validate(resource, new)`; [] when allowed.

    Kubernetes validates an update as the new object's own validity plus the update rules
    (immutable metadata and selectors, the Pod spec's few mutable fields, immutable Secrets and
    ConfigMaps, ...). The complete check is `validate(resource, new) + validate_update(resource,
    new, old)`, in that order, which is what admission runs; errors `validate` already reports
    are left out here so none is listed twice.
    """
    if resource.kind in OTHER_MODULE_KINDS:
        return []
    new, old = _d(new), _d(old)
    check = _UPDATE.get(resource.kind)
    if check is None:
        errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    else:
        errs = check(new, old)
    already = set(validate(resource, new))
    return [e for e in _dedupe(errs) if e not in already]
