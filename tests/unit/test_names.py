"""kubeloop.api.names: apimachinery's name/label validators with their exact messages."""

from __future__ import annotations

import pytest

from kubeloop.api import names
from kubeloop.api.errors import FieldError

LABEL_REGEX_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_REGEX_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_REGEX_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
QNAME_REGEX_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
    "is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_REGEX_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("my-name", []),
        ("a" * 63, []),
        ("123-abc", []),
        ("My-Name", [LABEL_REGEX_MSG]),
        ("-abc", [LABEL_REGEX_MSG]),
        ("", [LABEL_REGEX_MSG]),
        ("a.b", ["must not contain dots"]),
        ("a" * 64, ["must be no more than 63 characters"]),
    ],
)
def test_dns1123_label(value: str, expected: list[str]) -> None:
    assert names.dns1123_label(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("example.com", []),
        ("kubia", []),
        ("kubia-7d9f.default", []),
        ("Kubia", [SUBDOMAIN_REGEX_MSG]),
        ("a..b", [SUBDOMAIN_REGEX_MSG]),
        ("a_b", [SUBDOMAIN_REGEX_MSG]),
        ("a" * 254, ["must be no more than 253 characters"]),
    ],
)
def test_dns1123_subdomain(value: str, expected: list[str]) -> None:
    assert names.dns1123_subdomain(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("kubia", []),
        ("abc-123", []),
        ("1abc", [DNS1035_REGEX_MSG]),
        ("kubia.svc", [DNS1035_REGEX_MSG]),
        ("a" * 64, ["must be no more than 63 characters"]),
    ],
)
def test_dns1035_label(value: str, expected: list[str]) -> None:
    assert names.dns1035_label(value) == expected


def test_wildcard_subdomain() -> None:
    assert names.wildcard_dns1123_subdomain("*.example.com") == []
    assert names.wildcard_dns1123_subdomain("*.*.example.com") == [
        "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must "
        "consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character "
        "(e.g. '*.example.com', regex used for validation is "
        "'\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    ]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("app", []),
        ("app.kubernetes.io/name", []),
        ("example.com/MyName", []),
        ("-app", ["name part " + QNAME_REGEX_MSG]),
        ("/app", ["prefix part must be non-empty"]),
        ("example.com/", ["name part must be non-empty", "name part " + QNAME_REGEX_MSG]),
        ("Example.com/app", ["prefix part " + SUBDOMAIN_REGEX_MSG]),
        ("a" * 64, ["name part must be no more than 63 characters"]),
        (
            "a/b/c",
            [
                "a qualified name " + QNAME_REGEX_MSG + " with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"
            ],
        ),
    ],
)
def test_qualified_name(value: str, expected: list[str]) -> None:
    assert names.qualified_name(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("", []),
        ("kubia", []),
        ("v1.2_3-x", []),
        ("-x", [LABEL_VALUE_REGEX_MSG]),
        ("a b", [LABEL_VALUE_REGEX_MSG]),
        ("a" * 64, ["must be no more than 63 characters"]),
    ],
)
def test_label_value(value: str, expected: list[str]) -> None:
    assert names.label_value(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("http", []),
        ("web-80", []),
        ("8080", ["must contain at least one letter (a-z)"]),
        ("a--b", ["must not contain consecutive hyphens"]),
        ("-ab", ["must not begin or end with a hyphen"]),
        ("HTTP", ["must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)", "must contain at least one letter (a-z)"]),
        ("abcdefghijklmnop", ["must be no more than 15 characters"]),
    ],
)
def test_port_name(value: str, expected: list[str]) -> None:
    assert names.port_name(value) == expected
    assert names.iana_svc_name(value) == expected


@pytest.mark.parametrize("value, ok", [(1, True), (65535, True), (0, False), (65536, False), (-1, False), ("80", False)])
def test_port_number(value: object, ok: bool) -> None:
    assert names.port_number(value) == ([] if ok else ["must be between 1 and 65535, inclusive"])


@pytest.mark.parametrize(
    "value, ok",
    [
        ("10.0.0.1", True),
        ("2001:db8::ffff", True),
        ("::ffff:1.2.3.4", True),
        ("010.001.002.003", True),  # Go's sloppy parser accepts leading zeros
        ("1.2.3", False),
        ("256.1.1.1", False),
        ("fe80::1%eth0", False),
        ("kubia", False),
        ("", False),
    ],
)
def test_is_valid_ip(value: str, ok: bool) -> None:
    assert names.is_valid_ip(value) is ok
    expected = [] if ok else [FieldError("x", "FieldValueInvalid", f'Invalid value: "{value}": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)')]
    assert names.validate_ip("x", value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("app.properties", []),
        ("KEY_NAME", []),
        (
            "a b",
            [
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
                "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
            ],
        ),
        ("..", ["must not be '..'"]),
        ("..data", ["must not start with '..'"]),
    ],
)
def test_config_map_key(value: str, expected: list[str]) -> None:
    assert names.config_map_key(value) == expected


def test_env_var_names() -> None:
    assert names.relaxed_env_var_name("MY VAR.1") == []
    assert names.relaxed_env_var_name("A=B") == [
        "a valid environment variable name must consist only of printable ASCII characters other than '='"
    ]
    assert names.env_var_name("1ABC")[0].startswith("a valid environment variable name must consist of alphabetic")


def test_percent_and_path_segment() -> None:
    assert names.percent("25%") == []
    assert names.percent("25") == [
        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', "
        "regex used for validation is '[0-9]+%')"
    ]
    assert names.path_segment_name("..") == ["may not be '..'"]
    assert names.path_segment_name("a/b%") == ["may not contain '/'", "may not contain '%'"]


@pytest.mark.parametrize(
    "rule, name, prefix, expected",
    [
        (names.name_is_dns_subdomain, "kubia-", True, []),  # generateName may end with a dash
        (names.name_is_dns_subdomain, "kubia-", False, [SUBDOMAIN_REGEX_MSG]),
        (names.name_is_dns_label, "ns.x", False, ["must not contain dots"]),
        (names.name_is_dns1035_label, "1svc", False, [DNS1035_REGEX_MSG]),
    ],
)
def test_name_rules(rule: names.NameRule, name: str, prefix: bool, expected: list[str]) -> None:
    assert rule(name, prefix) == expected


def _msgs(errors: list[FieldError]) -> list[str]:
    return [str(e) for e in errors]


@pytest.mark.parametrize(
    "meta, namespaced, rule, expected",
    [
        ({"name": "kubia", "namespace": "default"}, True, names.name_is_dns_subdomain, []),
        ({"generateName": "kubia-", "namespace": "default"}, True, names.name_is_dns_subdomain, [
            "metadata.name: Required value: name or generateName is required",
        ]),
        ({"namespace": "default"}, True, names.name_is_dns_subdomain, [
            "metadata.name: Required value: name or generateName is required",
        ]),
        ({"name": "kubia"}, True, names.name_is_dns_subdomain, ["metadata.namespace: Required value"]),
        ({"name": "node1", "namespace": "default"}, False, names.name_is_dns_subdomain, [
            "metadata.namespace: Forbidden: not allowed on this type",
        ]),
        ({"name": "Kubia", "namespace": "default"}, True, names.name_is_dns_subdomain, [
            f'metadata.name: Invalid value: "Kubia": {SUBDOMAIN_REGEX_MSG}',
        ]),
        # a one-argument string check is accepted as a name rule
        ({"name": "a.b"}, False, names.dns1123_label, ['metadata.name: Invalid value: "a.b": must not contain dots']),
        ({"name": "kubia", "namespace": "Bad"}, True, names.name_is_dns_subdomain, [
            f'metadata.namespace: Invalid value: "Bad": {LABEL_REGEX_MSG}',
        ]),
        ({"name": "kubia", "namespace": "default", "labels": {"app": "-x", "-k": "v"}}, True, names.name_is_dns_subdomain, [
            f'metadata.labels: Invalid value: "-x": {LABEL_VALUE_REGEX_MSG}',
            f'metadata.labels: Invalid value: "-k": name part {QNAME_REGEX_MSG}',
        ]),
        ({"name": "kubia", "namespace": "default", "annotations": {"a/b/c": "x"}}, True, names.name_is_dns_subdomain, [
            'metadata.annotations: Invalid value: "a/b/c": a qualified name ' + QNAME_REGEX_MSG
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        ]),
        ({"name": "kubia", "namespace": "default", "finalizers": ["foo"]}, True, names.name_is_dns_subdomain, [
            'metadata.finalizers[0]: Invalid value: "foo": name is neither a standard finalizer name nor is it fully qualified',
        ]),
        ({"name": "kubia", "namespace": "default", "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p"}]},
         True, names.name_is_dns_subdomain, ['metadata.ownerReferences.uid: Invalid value: "": uid must not be empty']),
    ],
)
def test_validate_object_meta(meta: dict, namespaced: bool, rule: names.NameRule, expected: list[str]) -> None:
    assert _msgs(names.validate_object_meta(meta, namespaced, rule)) == expected


def test_generate_name_is_validated_with_trailing_dash_masked() -> None:
    errors = names.validate_object_meta({"generateName": "Kubia-", "name": "x"}, False, names.name_is_dns_subdomain)
    assert _msgs(errors) == [f'metadata.generateName: Invalid value: "Kubia-": {SUBDOMAIN_REGEX_MSG}']


def test_annotations_total_size_limit() -> None:
    big = {"a": "x" * (256 * 1024)}
    errors = names.validate_object_meta({"name": "n", "annotations": big}, False, names.name_is_dns_subdomain)
    assert errors == [FieldError("metadata.annotations", "FieldValueTooLong", "Too long: may not be more than 262144 bytes")]
    ok = {"a": "x" * (256 * 1024 - 1)}
    assert names.validate_object_meta({"name": "n", "annotations": ok}, False, names.name_is_dns_subdomain) == []


def test_annotation_keys_are_case_insensitive() -> None:
    assert names.validate_annotations({"Example.COM/Key": "v"}, "metadata.annotations") == []


def test_label_selector_validation() -> None:
    selector = {
        "matchLabels": {"app": "kubia"},
        "matchExpressions": [
            {"key": "tier", "operator": "In"},
            {"key": "env", "operator": "Exists", "values": ["x"]},
            {"key": "x", "operator": "Near", "values": ["y"]},
        ],
    }
    assert _msgs(names.validate_label_selector(selector, "spec.selector")) == [
        "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
        "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        'spec.selector.matchExpressions[2].operator: Invalid value: "Near": not a valid selector operator',
    ]


def test_object_meta_update() -> None:
    old = {"name": "kubia", "namespace": "default", "uid": "u1", "resourceVersion": "5"}
    assert names.validate_object_meta_update(dict(old, labels={"a": "b"}), old) == []
    assert _msgs(names.validate_object_meta_update(dict(old, name="other"), old)) == [
        'metadata.name: Invalid value: "other": field is immutable'
    ]
    assert _msgs(names.validate_object_meta_update(dict(old, uid="u2"), old)) == [
        'metadata.uid: Invalid value: "u2": field is immutable'
    ]
