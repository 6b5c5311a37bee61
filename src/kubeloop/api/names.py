"""Name, label and metadata validators with apimachinery's exact wording.

Two layers, as in apimachinery:

* string checks (`dns1123_label`, `dns1123_subdomain`, `dns1035_label`, `qualified_name`,
  `label_value`, `port_name`, `config_map_key`, ...) return a list of human-readable
  problems; an empty list means the value is valid. `is_valid_ip` is the one predicate.
* field validators (`validate_labels`, `validate_annotations`, `validate_label_selector`,
  `validate_object_meta`, `validate_object_meta_update`) turn those problems into
  `FieldError`s at Kubernetes' field paths (`metadata.labels`, `metadata.name`, ...).

Messages are reproduced from Kubernetes 1.32 (k8s.io/apimachinery v0.32), including its
quirks (the doubled space in example lists, `maskTrailingDash` dropping two characters).
Lengths are counted in UTF-8 bytes, as Go's `len` does. Pure code, no I/O.
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import re
from typing import Any, Callable, Mapping

from .errors import FieldError, forbidden, invalid, required

__all__ = [
    "DNS1123_LABEL_MAX_LENGTH",
    "DNS1123_SUBDOMAIN_MAX_LENGTH",
    "DNS1035_LABEL_MAX_LENGTH",
    "LABEL_VALUE_MAX_LENGTH",
    "TOTAL_ANNOTATION_SIZE_LIMIT",
    "FIELD_IMMUTABLE",
    "IS_NEGATIVE",
    "NameRule",
    "regex_error",
    "max_len_error",
    "empty_error",
    "inclusive_range_error",
    "dns1123_label",
    "dns1123_subdomain",
    "dns1123_subdomain_with_underscore",
    "dns1035_label",
    "wildcard_dns1123_subdomain",
    "qualified_name",
    "label_value",
    "port_name",
    "iana_svc_name",
    "port_number",
    "is_valid_ip",
    "ip_errors",
    "validate_ip",
    "is_valid_cidr",
    "cidr_errors",
    "validate_cidr",
    "config_map_key",
    "env_var_name",
    "relaxed_env_var_name",
    "c_identifier",
    "percent",
    "http_header_name",
    "path_segment_name",
    "validate_domain_prefixed_path",
    "name_is_dns_subdomain",
    "name_is_dns_label",
    "name_is_dns1035_label",
    "name_is_path_segment",
    "validate_label_name",
    "validate_labels",
    "validate_annotations",
    "validate_label_selector",
    "label_selector_errors",
    "validate_owner_references",
    "validate_finalizers",
    "validate_object_meta",
    "validate_object_meta_update",
    "validate_immutable",
    "validate_nonnegative",
    "too_long",
]

# ---------------------------------------------------------------------------------------------
# constants and message builders
# ---------------------------------------------------------------------------------------------

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
QUALIFIED_NAME_MAX_LENGTH = 63
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

FIELD_IMMUTABLE = "field is immutable"
IS_NEGATIVE = "must be greater than or equal to 0"

NameRule = Callable[[str, bool], list[str]]
"""A name validator: `(name, prefix) -> problems`; `prefix` is true for generateName."""


def _blen(value: str) -> int:
    return len(value.encode("utf-8", "surrogatepass"))


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """apimachinery's RegexError (keeps its doubled space between examples)."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    out = msg + " (e.g. "
    for i, example in enumerate(examples):
        if i > 0:
            out += " or "
        out += "'" + example + "', "
    return out + "regex used for validation is '" + fmt + "')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def empty_error() -> str:
    return "must be non-empty"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


def too_long(field: str, limit: int) -> FieldError:
    """field.TooLong: the value itself is never echoed."""
    return FieldError(field, "FieldValueTooLong", f"Too long: may not be more than {limit} bytes")


def _has_chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


# ---------------------------------------------------------------------------------------------
# DNS names
# ---------------------------------------------------------------------------------------------

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)

_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)

_DNS1123_LABEL_US_FMT = "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_US_FMT = _DNS1123_LABEL_US_FMT + "(\\." + _DNS1123_LABEL_US_FMT + ")*"
_DNS1123_SUBDOMAIN_US_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '_', '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_US_RE = re.compile(_DNS1123_SUBDOMAIN_US_FMT)

_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)

_WILDCARD_FMT = "\\*\\." + _DNS1123_SUBDOMAIN_FMT
_WILDCARD_MSG = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, "
    "which must consist of lower case alphanumeric characters, '-' or '.' and end with an "
    "alphanumeric character"
)
_WILDCARD_RE = re.compile(_WILDCARD_FMT)


def dns1123_label(value: str) -> list[str]:
    """IsDNS1123Label: container, volume, port-name-like and namespace names."""
    errs: list[str] = []
    if _blen(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    """IsDNS1123Subdomain: most object names, hosts, node names."""
    errs: list[str] = []
    if _blen(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1123_subdomain_with_underscore(value: str) -> list[str]:
    """IsDNS1123SubdomainWithUnderscore (its message names the plain subdomain regex, as Go does)."""
    errs: list[str] = []
    if _blen(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_US_RE.fullmatch(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_US_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1035_label(value: str) -> list[str]:
    """IsDNS1035Label: Service names."""
    errs: list[str] = []
    if _blen(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def wildcard_dns1123_subdomain(value: str) -> list[str]:
    """IsWildcardDNS1123Subdomain: `*.example.com` (Ingress hosts, TLS hosts)."""
    errs: list[str] = []
    if _blen(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _WILDCARD_RE.fullmatch(value):
        errs.append(regex_error(_WILDCARD_MSG, _WILDCARD_FMT, "*.example.com"))
    return errs


# ---------------------------------------------------------------------------------------------
# qualified names (label and annotation keys) and label values
# ---------------------------------------------------------------------------------------------

_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_QNAME_RE = re.compile(_QNAME_FMT)

_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)


def qualified_name(value: str) -> list[str]:
    """IsQualifiedName: label keys, annotation keys (lower-cased), finalizers, condition types."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + empty_error())
    elif _blen(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _QNAME_RE.fullmatch(name):
        errs.append("name part " + regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value(value: str) -> list[str]:
    """IsValidLabelValue: empty, or at most 63 alphanumerics with `-_.` inside."""
    errs: list[str] = []
    if _blen(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


# ---------------------------------------------------------------------------------------------
# ports, IPs, keys, misc formats
# ---------------------------------------------------------------------------------------------

_PORT_NAME_CHARSET = re.compile("[-a-z0-9]+")
_PORT_NAME_LETTER = re.compile("[a-z]")


def port_name(value: str) -> list[str]:
    """IsValidPortName (an IANA_SVC_NAME): at most 15 of `[-a-z0-9]`, one letter, no `--`."""
    errs: list[str] = []
    if _blen(value) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARSET.fullmatch(value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER.search(value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


iana_svc_name = port_name


def port_number(value: Any) -> list[str]:
    """IsValidPortNum: 1..65535."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return []
    return [inclusive_range_error(1, 65535)]


_SLOPPY_V4 = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")


def _parse_ip_sloppy(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """netutils.ParseIPSloppy: Go's legacy parser (IPv4 octets may carry leading zeros)."""
    if not isinstance(value, str) or not value or "%" in value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        pass
    m = _SLOPPY_V4.fullmatch(value)
    if m and all(int(g) <= 255 for g in m.groups()):
        return ipaddress.IPv4Address(".".join(str(int(g)) for g in m.groups()))
    return None


def is_valid_ip(value: str) -> bool:
    """True when `value` is an IPv4 or IPv6 address (Go's sloppy parsing rules)."""
    return _parse_ip_sloppy(value) is not None


def ip_errors(value: str) -> list[str]:
    if is_valid_ip(value):
        return []
    return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]


def validate_ip(field: str, value: str) -> list[FieldError]:
    """IsValidIP as a field validator."""
    return [invalid(field, value, m) for m in ip_errors(value)]


def is_valid_cidr(value: str) -> bool:
    if not isinstance(value, str) or "/" not in value:
        return False
    addr, _, bits = value.partition("/")
    ip = _parse_ip_sloppy(addr)
    if ip is None or not bits.isdigit():
        return False
    return int(bits) <= (32 if ip.version == 4 else 128)


def cidr_errors(value: str) -> list[str]:
    if is_valid_cidr(value):
        return []
    return ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]


def validate_cidr(field: str, value: str) -> list[FieldError]:
    return [invalid(field, value, m) for m in cidr_errors(value)]


_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_CONFIG_KEY_RE = re.compile(_CONFIG_KEY_FMT)


def config_map_key(value: str) -> list[str]:
    """IsConfigMapKey: keys of ConfigMap and Secret data."""
    errs: list[str] = []
    if _blen(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _CONFIG_KEY_RE.fullmatch(value):
        errs.append(regex_error(_CONFIG_KEY_MSG, _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    errs.extend(_has_chdir_prefix(value))
    return errs


_ENV_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_ENV_MSG = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', "
    "or '.', and must not start with a digit"
)
_ENV_RE = re.compile(_ENV_FMT)
_RELAXED_ENV_MSG = "a valid environment variable name must consist only of printable ASCII characters other than '='"


def env_var_name(value: str) -> list[str]:
    """IsEnvVarName (the strict rule, used when RelaxedEnvironmentVariableValidation is off)."""
    errs: list[str] = []
    if not _ENV_RE.fullmatch(value):
        errs.append(regex_error(_ENV_MSG, _ENV_FMT, "my.env-name", "MY_ENV.NAME", "MyEnvName1"))
    errs.extend(_has_chdir_prefix(value))
    return errs


def relaxed_env_var_name(value: str) -> list[str]:
    """IsRelaxedEnvVarName: the 1.32 default (feature gate beta): printable ASCII but `=`."""
    errs: list[str] = []
    if not value:
        errs.append("environment variable name " + empty_error())
    for ch in value:
        if ord(ch) > 127 or not (0x20 <= ord(ch) <= 0x7E) or ch == "=":
            errs.append(_RELAXED_ENV_MSG)
            break
    return errs


_C_IDENT_FMT = "[A-Za-z_][A-Za-z0-9_]*"
_C_IDENT_RE = re.compile(_C_IDENT_FMT)


def c_identifier(value: str) -> list[str]:
    if _C_IDENT_RE.fullmatch(value):
        return []
    msg = (
        "a valid C identifier must start with alphabetic character or '_', followed by a string of "
        "alphanumeric characters or '_'"
    )
    return [regex_error(msg, _C_IDENT_FMT, "my_name", "MY_NAME", "MyName")]


_PERCENT_FMT = "[0-9]+%"
_PERCENT_RE = re.compile(_PERCENT_FMT)


def percent(value: str) -> list[str]:
    """IsValidPercent: `25%`."""
    if _PERCENT_RE.fullmatch(value):
        return []
    msg = "a valid percent string must be a numeric string followed by an ending '%'"
    return [regex_error(msg, _PERCENT_FMT, "1%", "93%")]


_HEADER_FMT = "[-A-Za-z0-9]+"
_HEADER_RE = re.compile(_HEADER_FMT)


def http_header_name(value: str) -> list[str]:
    if _HEADER_RE.fullmatch(value):
        return []
    msg = "a valid HTTP header must consist of alphanumeric characters or '-'"
    return [regex_error(msg, _HEADER_FMT, "X-Header-Name")]


def path_segment_name(value: str, prefix: bool = False) -> list[str]:
    """IsValidPathSegmentName: what may appear as one segment of a REST path."""
    if not prefix:
        for bad in (".", ".."):
            if value == bad:
                return [f"may not be '{bad}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in value]


_HTTP_PATH_FMT = r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+"
_HTTP_PATH_RE = re.compile(_HTTP_PATH_FMT)


def validate_domain_prefixed_path(field: str, value: str) -> list[FieldError]:
    """IsDomainPrefixedPath: `acme.io/foo` (IngressClass controller)."""
    if not value:
        return [required(field)]
    host, sep, path = value.partition("/")
    if not sep or not host or not path:
        return [invalid(field, value, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    errs = [invalid(field, host, m) for m in dns1123_subdomain(host)]
    if not _HTTP_PATH_RE.fullmatch(path):
        errs.append(invalid(field, path, regex_error("Invalid path", _HTTP_PATH_FMT)))
    return errs


# ---------------------------------------------------------------------------------------------
# name rules (ValidateNameFunc)
# ---------------------------------------------------------------------------------------------


def _mask_trailing_dash(name: str) -> str:
    # apimachinery's maskTrailingDash drops the last two characters, not one; kept as is.
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    return dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    return dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool = False) -> list[str]:
    return dns1035_label(_mask_trailing_dash(name) if prefix else name)


def name_is_path_segment(name: str, prefix: bool = False) -> list[str]:
    return path_segment_name(name, prefix)


_SINGLE_ARG_RULES: dict[Any, NameRule] = {
    dns1123_subdomain: name_is_dns_subdomain,
    dns1123_label: name_is_dns_label,
    dns1035_label: name_is_dns1035_label,
    path_segment_name: name_is_path_segment,
}


_TWO_ARG_RULES = frozenset({name_is_dns_subdomain, name_is_dns_label, name_is_dns1035_label, name_is_path_segment})


def _as_name_rule(rule: Callable[..., list[str]]) -> NameRule:
    """Accept both `(name, prefix)` rules and plain one-argument string checks."""
    if rule in _TWO_ARG_RULES:
        return rule  # type: ignore[return-value]
    if rule in _SINGLE_ARG_RULES:
        return _SINGLE_ARG_RULES[rule]
    try:
        params = [
            p
            for p in inspect.signature(rule).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or p.kind == p.VAR_POSITIONAL
        ]
    except (TypeError, ValueError):
        return rule  # type: ignore[return-value]
    if len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params):
        return rule  # type: ignore[return-value]

    def wrapped(name: str, prefix: bool = False) -> list[str]:
        return rule(_mask_trailing_dash(name) if prefix else name)

    return wrapped


# ---------------------------------------------------------------------------------------------
# field validators
# ---------------------------------------------------------------------------------------------


def _as_str(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value)


def validate_label_name(name: str, field: str) -> list[FieldError]:
    """ValidateLabelName: a qualified name, reported with the key as the value."""
    return [invalid(field, name, m) for m in qualified_name(name)]


def validate_labels(labels: Mapping[str, Any] | None, field: str) -> list[FieldError]:
    """ValidateLabels: every key a qualified name, every value a label value (path: the map)."""
    errs: list[FieldError] = []
    if not labels:
        return errs
    if not isinstance(labels, Mapping):
        return [invalid(field, labels, "must be a map of string keys to string values")]
    for key, value in labels.items():
        errs.extend(validate_label_name(str(key), field))
        if value is not None and not isinstance(value, str):
            errs.append(invalid(field, value, "must be a string"))
            continue
        v = _as_str(value)
        errs.extend(invalid(field, v, m) for m in label_value(v))
    return errs


def validate_annotations(annotations: Mapping[str, Any] | None, field: str) -> list[FieldError]:
    """ValidateAnnotations: keys are qualified names (case-insensitive), total size <= 256 KiB."""
    errs: list[FieldError] = []
    if not annotations:
        return errs
    if not isinstance(annotations, Mapping):
        return [invalid(field, annotations, "must be a map of string keys to string values")]
    total = 0
    for key, value in annotations.items():
        key = str(key)
        errs.extend(invalid(field, key, m) for m in qualified_name(key.lower()))
        if value is not None and not isinstance(value, str):
            errs.append(invalid(field, value, "must be a string"))
            continue
        total += _blen(key) + _blen(_as_str(value))
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(field, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


_SELECTOR_OPS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: Mapping[str, Any] | None, field: str) -> list[FieldError]:
    """ValidateLabelSelector (strict values): matchLabels and each matchExpressions entry."""
    errs: list[FieldError] = []
    if not selector or not isinstance(selector, Mapping):
        return errs
    errs.extend(validate_labels(selector.get("matchLabels"), f"{field}.matchLabels"))
    exprs = selector.get("matchExpressions") or []
    for i, expr in enumerate(exprs if isinstance(exprs, list) else []):
        path = f"{field}.matchExpressions[{i}]"
        expr = expr if isinstance(expr, Mapping) else {}
        op = expr.get("operator") or ""
        values = expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                errs.append(required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(
                    forbidden(f"{path}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
                )
        else:
            errs.append(invalid(f"{path}.operator", op, "not a valid selector operator"))
        errs.extend(validate_label_name(_as_str(expr.get("key")), f"{path}.key"))
        for j, v in enumerate(values if isinstance(values, list) else []):
            v = _as_str(v)
            errs.extend(invalid(f"{path}.values[{j}]", v, m) for m in label_value(v))
    return errs


def label_selector_errors(selector: Mapping[str, Any] | None) -> list[str]:
    """Why metav1.LabelSelectorAsSelector would refuse this selector (empty when it converts)."""
    if selector is None:
        return []
    problems: list[str] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        if qualified_name(str(key)) or label_value(_as_str(value)):
            problems.append(f"invalid label {key}={value}")
    for expr in selector.get("matchExpressions") or []:
        expr = expr if isinstance(expr, Mapping) else {}
        op, values, key = expr.get("operator"), expr.get("values") or [], _as_str(expr.get("key"))
        if op not in _SELECTOR_OPS:
            problems.append(f"{op!r} is not a valid label selector operator")
        elif op in ("In", "NotIn") and not values:
            problems.append("for 'in', 'notin' operators, values set can't be empty")
        elif op in ("Exists", "DoesNotExist") and values:
            problems.append("values set must be empty for exists and does not exist")
        if qualified_name(key):
            problems.append(f"invalid label key {key!r}")
        if any(label_value(_as_str(v)) for v in values):
            problems.append("invalid label value")
    return problems


_BANNED_OWNERS = {("v1", "Event")}


def validate_owner_references(refs: Any, field: str) -> list[FieldError]:
    """ValidateOwnerReferences (errors use the list's path, without an index, as Go does)."""
    errs: list[FieldError] = []
    if not refs or not isinstance(refs, list):
        return errs
    first_controller = ""
    for ref in refs:
        ref = ref if isinstance(ref, Mapping) else {}
        api_version = _as_str(ref.get("apiVersion"))
        kind = _as_str(ref.get("kind"))
        version = api_version.rsplit("/", 1)[-1]
        if not version:
            errs.append(invalid(f"{field}.apiVersion", api_version, "version must not be empty"))
        if not kind:
            errs.append(invalid(f"{field}.kind", kind, "kind must not be empty"))
        if not ref.get("name"):
            errs.append(invalid(f"{field}.name", _as_str(ref.get("name")), "name must not be empty"))
        if not ref.get("uid"):
            errs.append(invalid(f"{field}.uid", _as_str(ref.get("uid")), "uid must not be empty"))
        if (api_version, kind) in _BANNED_OWNERS:
            errs.append(invalid(field, dict(ref), f"/{version}, Kind={kind} is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{kind}/{ref.get('name', '')}"
            if first_controller:
                errs.append(
                    invalid(
                        field,
                        refs,
                        'Only one reference can have Controller set to true. Found "true" in references for '
                        f"{first_controller} and {current}",
                    )
                )
            else:
                first_controller = current
    return errs


_STANDARD_FINALIZERS = {"kubernetes", "orphan", "foregroundDeletion"}


def validate_finalizers(finalizers: Any, field: str, *, kube_names: bool = True) -> list[FieldError]:
    """ValidateFinalizers plus core's check that unqualified names are standard ones."""
    errs: list[FieldError] = []
    if not finalizers or not isinstance(finalizers, list):
        return errs
    names = [_as_str(f) for f in finalizers]
    for name in names:
        errs.extend(invalid(field, name, m) for m in qualified_name(name))
    if "orphan" in names and "foregroundDeletion" in names:
        rendered = "[]string{" + ", ".join(json.dumps(n) for n in names) + "}"
        errs.append(
            FieldError(
                field, "FieldValueInvalid", f"Invalid value: {rendered}: finalizer orphan and foregroundDeletion cannot be both set"
            )
        )
    if kube_names:
        for i, name in enumerate(names):
            if "/" not in name and name not in _STANDARD_FINALIZERS:
                errs.append(
                    invalid(f"{field}[{i}]", name, "name is neither a standard finalizer name nor is it fully qualified")
                )
    return errs


def validate_nonnegative(value: Any, field: str) -> list[FieldError]:
    """ValidateNonnegativeField."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return [invalid(field, value, IS_NEGATIVE)]
    return []


def validate_immutable(new: Any, old: Any, field: str) -> list[FieldError]:
    """ValidateImmutableField for plain JSON values (strings, numbers, lists, maps)."""
    if new != old:
        return [invalid(field, new, FIELD_IMMUTABLE)]
    return []


def validate_object_meta(
    meta: Mapping[str, Any] | None,
    namespaced: bool,
    name_rule: Callable[..., list[str]] = name_is_dns_subdomain,
    path: str = "metadata",
    *,
    kube_finalizers: bool = True,
) -> list[FieldError]:
    """ValidateObjectMeta on create: name/generateName, namespace scope, labels, annotations,
    owner references and finalizers. `name_rule` is `(name, prefix) -> problems` or a one-argument
    check such as `dns1123_label` (generateName then gets apimachinery's trailing-dash masking)."""
    meta = meta if isinstance(meta, Mapping) else {}
    rule = _as_name_rule(name_rule)
    errs: list[FieldError] = []
    generate_name = _as_str(meta.get("generateName"))
    if generate_name:
        errs.extend(invalid(f"{path}.generateName", generate_name, m) for m in rule(generate_name, True))
    name = _as_str(meta.get("name"))
    if not name:
        errs.append(required(f"{path}.name", "name or generateName is required"))
    else:
        errs.extend(invalid(f"{path}.name", name, m) for m in rule(name, False))
    namespace = _as_str(meta.get("namespace"))
    if namespaced:
        if not namespace:
            errs.append(required(f"{path}.namespace"))
        else:
            errs.extend(invalid(f"{path}.namespace", namespace, m) for m in name_is_dns_label(namespace, False))
    elif namespace:
        errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    errs.extend(validate_nonnegative(meta.get("generation"), f"{path}.generation"))
    errs.extend(validate_labels(meta.get("labels"), f"{path}.labels"))
    errs.extend(validate_annotations(meta.get("annotations"), f"{path}.annotations"))
    errs.extend(validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences"))
    errs.extend(validate_finalizers(meta.get("finalizers"), f"{path}.finalizers", kube_names=kube_finalizers))
    return errs


def validate_object_meta_update(
    new: Mapping[str, Any] | None,
    old: Mapping[str, Any] | None,
    path: str = "metadata",
    *,
    kube_finalizers: bool = True,
) -> list[FieldError]:
    """ValidateObjectMetaUpdate: identity fields immutable, labels/annotations still valid.

    resourceVersion handling (Conflict, or filling it in for unconditional updates) and the
    copying of uid/creationTimestamp/generation from the stored object belong to the registry,
    which runs before this; a uid is only compared when the new object carries one.
    """
    new = new if isinstance(new, Mapping) else {}
    old = old if isinstance(old, Mapping) else {}
    errs: list[FieldError] = []
    if old.get("deletionTimestamp"):
        added = sorted(set(new.get("finalizers") or []) - set(old.get("finalizers") or []))
        if added:
            listed = "[]string{" + ", ".join(json.dumps(a) for a in added) + "}"
            errs.append(
                forbidden(
                    f"{path}.finalizers",
                    f"no new finalizers can be added if the object is being deleted, found new finalizers {listed}",
                )
            )
    new_gen, old_gen = new.get("generation"), old.get("generation")
    if isinstance(new_gen, int) and isinstance(old_gen, int) and new_gen < old_gen:
        errs.append(invalid(f"{path}.generation", new_gen, "must not be decremented"))
    errs.extend(validate_immutable(_as_str(new.get("name")), _as_str(old.get("name")), f"{path}.name"))
    errs.extend(validate_immutable(_as_str(new.get("namespace")), _as_str(old.get("namespace")), f"{path}.namespace"))
    if new.get("uid"):
        errs.extend(validate_immutable(_as_str(new.get("uid")), _as_str(old.get("uid")), f"{path}.uid"))
    errs.extend(validate_labels(new.get("labels"), f"{path}.labels"))
    errs.extend(validate_annotations(new.get("annotations"), f"{path}.annotations"))
    errs.extend(validate_owner_references(new.get("ownerReferences"), f"{path}.ownerReferences"))
    if kube_finalizers:
        for i, name in enumerate(new.get("finalizers") or []):
            name = _as_str(name)
            if "/" not in name and name not in _STANDARD_FINALIZERS:
                errs.append(
                    invalid(f"{path}.finalizers[{i}]", name, "name is neither a standard finalizer name nor is it fully qualified")
                )
    return errs
