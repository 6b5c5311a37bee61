"""kubeloop.api.validation: create/update validation with Kubernetes 1.32's exact messages."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from kubeloop.api.defaults import apply_defaults
from kubeloop.api.errors import Invalid
from kubeloop.api.registry import by_kind
from kubeloop.api.validation import validate, validate_update

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
    "is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
SELECTOR_MISMATCH = "`selector` does not match template `labels`"
POD_UPDATE_PREFIX = (
    "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
    "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
    "previously negative)\n"
)

Mutator = Callable[[dict[str, Any]], None]


def kind(api_version: str, name: str):  # noqa: ANN201 - ResourceType
    resource = by_kind(api_version, name)
    assert resource is not None
    return resource


POD = kind("v1", "Pod")
RC = kind("v1", "ReplicationController")
RS = kind("apps/v1", "ReplicaSet")
DEPLOYMENT = kind("apps/v1", "Deployment")
SECRET = kind("v1", "Secret")
CONFIGMAP = kind("v1", "ConfigMap")
NAMESPACE = kind("v1", "Namespace")
NODE = kind("v1", "Node")
INGRESS = kind("networking.k8s.io/v1", "Ingress")
INGRESS_CLASS = kind("networking.k8s.io/v1", "IngressClass")
EVENT = kind("v1", "Event")
LEASE = kind("coordination.k8s.io/v1", "Lease")
SERVICE_ACCOUNT = kind("v1", "ServiceAccount")


def messages(errors: list) -> list[str]:
    return [str(e) for e in errors]


def prepared(resource, obj: dict[str, Any], mutate: Mutator | None = None) -> dict[str, Any]:  # noqa: ANN001
    obj = copy.deepcopy(obj)
    if mutate:
        mutate(obj)
    apply_defaults(resource, obj)
    return obj


def check(resource, obj: dict[str, Any], mutate: Mutator | None = None) -> list[str]:  # noqa: ANN001
    return messages(validate(resource, prepared(resource, obj, mutate)))


def check_update(resource, new: dict[str, Any], old: dict[str, Any]) -> list[str]:  # noqa: ANN001
    """The complete update check, as admission runs it."""
    return messages(validate(resource, new) + validate_update(resource, new, old))


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------

SEED_RC = {
    "apiVersion": "v1",
    "kind": "ReplicationController",
    "metadata": {"name": "kubia", "namespace": "default"},
    "spec": {
        "replicas": 3,
        "selector": {"app": "kubia"},
        "template": {
            "metadata": {"labels": {"app": "kubia"}},
            "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia", "ports": [{"containerPort": 8080}]}]},
        },
    },
}

PODDEF = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "kubia-manual", "namespace": "default", "labels": {"app": "kubia"}},
    "spec": {
        "containers": [
            {
                "name": "kubia",
                "image": "luksa/kubia",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "readinessProbe": {"exec": {"command": ["ls", "/var/ready"]}},
            }
        ]
    },
}

DEPLOYMENT_DEF = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "kubia", "namespace": "default"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "kubia"}},
        "template": {
            "metadata": {"name": "kubia", "labels": {"app": "kubia"}},
            "spec": {"containers": [{"name": "nodejs", "image": "luksa/kubia:v1"}]},
        },
    },
}

INGRESS_DEF = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "kubia", "namespace": "default"},
    "spec": {
        "rules": [
            {
                "host": "kubia.example.com",
                "http": {
                    "paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "kubia-nodeport", "port": {"number": 80}}}}]
                },
            }
        ]
    },
}


def _c(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["containers"][0]


# ---------------------------------------------------------------------------------------------
# ReplicationController
# ---------------------------------------------------------------------------------------------


def test_seed_replication_controller_is_valid_after_defaults() -> None:
    assert check(RC, SEED_RC) == []


def _tpl(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda o: _tpl(o)["metadata"].update(labels={"app": "other"}), [
            'spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: ' + SELECTOR_MISMATCH,
        ]),
        (lambda o: o["spec"].update(replicas=-1), ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]),
        (lambda o: _tpl(o)["spec"].update(restartPolicy="Never"), [
            'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
        ]),
        (lambda o: _tpl(o)["spec"].update(activeDeadlineSeconds=10), [
            "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicationController is not Supported",
        ]),
        (lambda o: _tpl(o)["spec"]["containers"][0].update(image=""), ["spec.template.spec.containers[0].image: Required value"]),
        # template labels are reported at `spec.template.labels` (and, copied by defaulting, on the RC)
        (lambda o: _tpl(o)["metadata"].update(labels={"app": "kubia", "bad key": "x"}), [
            f'metadata.labels: Invalid value: "bad key": name part {QNAME_MSG}',
            f'spec.template.labels: Invalid value: "bad key": name part {QNAME_MSG}',
        ]),
        (lambda o: (o["spec"].pop("selector"), _tpl(o)["metadata"].pop("labels")), ["spec.selector: Required value"]),
        (lambda o: o["metadata"].update(name="Kubia"), [f'metadata.name: Invalid value: "Kubia": {SUBDOMAIN_MSG}']),
    ],
)
def test_replication_controller_errors(mutate: Mutator, expected: list[str]) -> None:
    assert check(RC, SEED_RC, mutate) == expected


def test_invalid_error_text_matches_kubectl() -> None:
    rc = prepared(RC, SEED_RC, lambda o: o["spec"].update(replicas=-1))
    err = Invalid("ReplicationController", "kubia", validate(RC, rc))
    assert err.message == (
        'ReplicationController "kubia" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'
    )
    assert err.status()["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "message": "Invalid value: -1: must be greater than or equal to 0", "field": "spec.replicas"}
    ]


def test_replication_controller_update_scales() -> None:
    old = prepared(RC, SEED_RC)
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 10
    assert validate_update(RC, new, old) == []


# ---------------------------------------------------------------------------------------------
# Pod
# ---------------------------------------------------------------------------------------------


def test_pod_with_readiness_probe_is_valid() -> None:
    assert check(POD, PODDEF) == []


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda o: o["spec"].update(containers=[]), ["spec.containers: Required value"]),
        (lambda o: _c(o).update(image=""), ["spec.containers[0].image: Required value"]),
        (lambda o: _c(o).update(name=""), ["spec.containers[0].name: Required value"]),
        (lambda o: _c(o).update(name="Kubia"), [f'spec.containers[0].name: Invalid value: "Kubia": {LABEL_MSG}']),
        (lambda o: o["spec"]["containers"].append({"name": "kubia", "image": "busybox"}), [
            'spec.containers[1].name: Duplicate value: "kubia"',
        ]),
        (lambda o: _c(o).update(ports=[{"containerPort": 0}]), ["spec.containers[0].ports[0].containerPort: Required value"]),
        (lambda o: _c(o).update(ports=[{"containerPort": 70000}]), [
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        ]),
        (lambda o: _c(o).update(ports=[{"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"}]), [
            'spec.containers[0].ports[1].name: Duplicate value: "http"',
        ]),
        (lambda o: _c(o).update(ports=[{"containerPort": 80, "name": "HTTP"}]), [
            'spec.containers[0].ports[0].name: Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
            'spec.containers[0].ports[0].name: Invalid value: "HTTP": must contain at least one letter (a-z)',
        ]),
        (lambda o: _c(o).update(ports=[{"containerPort": 80, "protocol": "HTTP"}]), [
            'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        ]),
        (lambda o: o["spec"].update(restartPolicy="Sometimes"), [
            'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
        ]),
        (lambda o: o["spec"].update(dnsPolicy="Google"), [
            'spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"',
        ]),
        (lambda o: _c(o)["readinessProbe"].update(httpGet={"port": 8080}), [
            "spec.containers[0].readinessProbe.httpGet: Forbidden: may not specify more than 1 handler type",
        ]),
        (lambda o: _c(o).update(livenessProbe={"initialDelaySeconds": 5}), [
            "spec.containers[0].livenessProbe: Required value: must specify a handler type",
        ]),
        (lambda o: _c(o).update(livenessProbe={"exec": {"command": ["true"]}, "successThreshold": 2}), [
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
        ]),
        (lambda o: _c(o).update(livenessProbe={"tcpSocket": {"port": "8080"}}), [
            'spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: "8080": must contain at least one letter (a-z)',
        ]),
        (lambda o: _c(o).update(livenessProbe={"httpGet": {"port": 0}}), [
            "spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive",
        ]),
        (lambda o: _c(o).update(livenessProbe={"grpc": {"port": 9000}, "exec": {"command": ["x"]}}), [
            "spec.containers[0].livenessProbe.grpc: Forbidden: may not specify more than 1 handler type",
        ]),
        (lambda o: _c(o).update(env=[{"name": "A=B", "value": "x"}]), [
            'spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than \'=\'',
        ]),
        (lambda o: _c(o).update(env=[{"name": "", "value": "x"}]), ["spec.containers[0].env[0].name: Required value"]),
        (lambda o: _c(o).update(env=[{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.foo"}}}]), [
            'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Invalid value: "spec.foo": error converting fieldPath: field label not supported: spec.foo',
        ]),
        (lambda o: _c(o).update(env=[{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}}]), [
            'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "metadata.labels": supported values: '
            '"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", '
            '"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"',
        ]),
        (lambda o: _c(o).update(env=[{"name": "X", "valueFrom": {}}]), [
            'spec.containers[0].env[0].valueFrom: Invalid value: "": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`',
        ]),
        (lambda o: _c(o).update(volumeMounts=[{"name": "data", "mountPath": "/data"}]), [
            'spec.containers[0].volumeMounts[0].name: Not found: "data"',
        ]),
        (lambda o: _c(o).update(imagePullPolicy="Sometimes"), [
            'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"',
        ]),
        (lambda o: _c(o).update(resources={"limits": {"cpu": "100m"}, "requests": {"cpu": "200m"}}), [
            'spec.containers[0].resources.requests: Invalid value: "200m": must be less than or equal to cpu limit of 100m',
        ]),
        (lambda o: _c(o).update(resources={"requests": {"gpu": "1"}}), [
            'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource type or fully qualified',
            'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for containers',
        ]),
        (lambda o: _c(o).update(image=" luksa/kubia"), [
            'spec.containers[0].image: Invalid value: " luksa/kubia": must not have leading or trailing whitespace',
        ]),
        (lambda o: o["spec"].update(volumes=[{"name": "v", "configMap": {"name": "c"}, "secret": {"secretName": "s"}}]), [
            "spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type",
        ]),
        (lambda o: o["spec"].update(volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]), [
            'spec.volumes[1].name: Duplicate value: "v"',
        ]),
        (lambda o: o["spec"].update(activeDeadlineSeconds=0), [
            "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
        ]),
        (lambda o: o["spec"].update(nodeSelector={"disk": "-ssd"}), [
            'spec.nodeSelector: Invalid value: "-ssd": a valid label must be an empty string or consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
            "'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ]),
        (lambda o: o["spec"].update(initContainers=[{"name": "kubia", "image": "busybox", "readinessProbe": {"exec": {"command": ["x"]}}}]), [
            'spec.initContainers[0].name: Duplicate value: "kubia"',
            "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
        ]),
        (lambda o: o["spec"].update(dnsPolicy="None"), [
            "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None",
        ]),
        (lambda o: o["spec"].update(tolerations=[{"operator": "Equal", "value": "x"}]), [
            'spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys"',
        ]),
        (lambda o: o["metadata"].pop("namespace"), ["metadata.namespace: Required value"]),
        (lambda o: o["metadata"].pop("name"), ["metadata.name: Required value: name or generateName is required"]),
    ],
)
def test_pod_errors(mutate: Mutator, expected: list[str]) -> None:
    assert check(POD, PODDEF, mutate) == expected


def test_pod_host_port_conflict() -> None:
    def mutate(o: dict[str, Any]) -> None:
        o["spec"]["containers"] = [
            {"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]},
            {"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080}]},
        ]

    assert check(POD, PODDEF, mutate) == ['spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"']


def test_pod_update_allows_image_deadline_and_new_tolerations() -> None:
    old = prepared(POD, PODDEF, lambda o: o["spec"].update(tolerations=[{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]))
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "luksa/kubia:v2"
    new["spec"]["activeDeadlineSeconds"] = 60
    new["spec"]["tolerations"][0]["tolerationSeconds"] = 30
    new["spec"]["tolerations"].append({"key": "other", "operator": "Exists"})
    new["metadata"]["labels"] = {"app": "kubia", "rel": "canary"}
    assert validate_update(POD, new, old) == []


def test_pod_update_forbids_other_spec_changes() -> None:
    old = prepared(POD, PODDEF)
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["ports"][0]["containerPort"] = 9090
    errors = messages(validate_update(POD, new, old))
    assert len(errors) == 1
    assert errors[0].startswith(POD_UPDATE_PREFIX)
    assert "containerPort" in errors[0]
    err = validate_update(POD, new, old)[0]
    assert (err.field, err.reason) == ("spec", "FieldValueForbidden")


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda o: o["spec"]["containers"].append({"name": "sidecar", "image": "busybox"}), [
            "spec.containers: Forbidden: pod updates may not add or remove containers",
        ]),
        (lambda o: o["spec"].update(activeDeadlineSeconds=-5), [
            "spec.activeDeadlineSeconds: Invalid value: -5: must be between 1 and 2147483647, inclusive",
            "spec.activeDeadlineSeconds: Invalid value: -5: must be between 0 and 2147483647, inclusive",
        ]),
        (lambda o: o["metadata"].update(name="renamed"), [
            'metadata.name: Invalid value: "renamed": field is immutable',
        ]),
    ],
)
def test_pod_update_errors(mutate: Mutator, expected: list[str]) -> None:
    old = prepared(POD, PODDEF)
    new = prepared(POD, old, mutate)
    assert check_update(POD, new, old) == expected


def test_pod_update_tolerations_cannot_be_removed() -> None:
    old = prepared(POD, PODDEF, lambda o: o["spec"].update(tolerations=[{"key": "k", "operator": "Exists"}]))
    new = copy.deepcopy(old)
    new["spec"]["tolerations"] = []
    assert messages(validate_update(POD, new, old)) == [
        "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
    ]


# ---------------------------------------------------------------------------------------------
# ReplicaSet and Deployment
# ---------------------------------------------------------------------------------------------


def test_deployment_is_valid() -> None:
    assert check(DEPLOYMENT, DEPLOYMENT_DEF) == []


SELECTOR_KUBIA_V2 = (
    'v1.LabelSelector{MatchLabels:map[string]string{"app":"kubia-v2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}'
)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda o: _tpl(o)["metadata"].update(labels={"app": "other"}), [
            'spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: ' + SELECTOR_MISMATCH,
        ]),
        (lambda o: o["spec"].pop("selector"), [
            "spec.selector: Required value",
            'spec.template.metadata.labels: Invalid value: map[string]string{"app":"kubia"}: ' + SELECTOR_MISMATCH,
        ]),
        (lambda o: o["spec"].update(selector={}), [
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment",
        ]),
        (lambda o: o["spec"].update(selector={"matchExpressions": [{"key": "app", "operator": "In", "values": ["kubia", "web"]}]}), []),
        (lambda o: o["spec"].update(replicas=-2), ["spec.replicas: Invalid value: -2: must be greater than or equal to 0"]),
        (lambda o: o["spec"].update(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}), [
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0",
        ]),
        (lambda o: o["spec"].update(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "150%", "maxSurge": "x"}}), [
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"x\"}: "
            "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"150%\"}: must not be greater than 100%",
        ]),
        (lambda o: o["spec"].update(strategy={"type": "Recreate", "rollingUpdate": {}}), [
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
        ]),
        (lambda o: o["spec"].update(progressDeadlineSeconds=10, minReadySeconds=10), [
            "spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds",
        ]),
        (lambda o: _tpl(o)["spec"]["containers"][0].update(image=""), ["spec.template.spec.containers[0].image: Required value"]),
    ],
)
def test_deployment_errors(mutate: Mutator, expected: list[str]) -> None:
    assert check(DEPLOYMENT, DEPLOYMENT_DEF, mutate) == expected


def test_deployment_update_selector_is_immutable() -> None:
    old = prepared(DEPLOYMENT, DEPLOYMENT_DEF)
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "kubia-v2"}}
    new["spec"]["template"]["metadata"]["labels"] = {"app": "kubia-v2"}
    assert messages(validate_update(DEPLOYMENT, new, old)) == [f"spec.selector: Invalid value: {SELECTOR_KUBIA_V2}: field is immutable"]
    rolled = copy.deepcopy(old)
    rolled["spec"]["template"]["spec"]["containers"][0]["image"] = "luksa/kubia:v2"
    rolled["spec"]["replicas"] = 5
    assert validate_update(DEPLOYMENT, rolled, old) == []


RS_DEF = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "metadata": {"name": "kubia", "namespace": "default"},
    "spec": {
        "replicas": 3,
        "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["kubia"]}]},
        "template": {"metadata": {"labels": {"app": "kubia"}}, "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia"}]}},
    },
}


def test_replica_set_validation_and_update() -> None:
    assert check(RS, RS_DEF) == []
    assert check(RS, RS_DEF, lambda o: _tpl(o)["metadata"].update(labels={"app": "x"})) == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: ' + SELECTOR_MISMATCH
    ]
    assert check(RS, RS_DEF, lambda o: o["spec"]["selector"]["matchExpressions"][0].update(operator="Near")) == [
        'spec.selector.matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator',
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:'
        '[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"app", Operator:"Near", Values:[]string{"kubia"}}}}: '
        "invalid label selector",
    ]
    old = prepared(RS, RS_DEF)
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "kubia"}}
    assert messages(validate_update(RS, new, old)) == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"kubia"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    ]
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 0
    assert validate_update(RS, scaled, old) == []


# ---------------------------------------------------------------------------------------------
# Secret, ConfigMap, ServiceAccount
# ---------------------------------------------------------------------------------------------

SECRET_DEF = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "fortune-https", "namespace": "default"}, "data": {"foo": "YmFy"}}


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (None, []),
        (lambda o: o.update(type="kubernetes.io/tls"), ["data[tls.crt]: Required value", "data[tls.key]: Required value"]),
        (lambda o: o.update(type="kubernetes.io/tls", data={"tls.crt": "Y2VydA==", "tls.key": "a2V5"}), []),
        (lambda o: o["data"].update({"bad key": "eA=="}), [
            'data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '
            "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        ]),
        (lambda o: o.update(type="kubernetes.io/basic-auth"), ["data[username]: Required value", "data[password]: Required value"]),
        (lambda o: o.update(type="kubernetes.io/service-account-token"), [
            "metadata.annotations[kubernetes.io/service-account.name]: Required value",
        ]),
    ],
)
def test_secret_errors(mutate: Mutator | None, expected: list[str]) -> None:
    assert check(SECRET, SECRET_DEF, mutate) == expected


def test_secret_updates() -> None:
    old = prepared(SECRET, SECRET_DEF, lambda o: o.update(immutable=True))
    new = copy.deepcopy(old)
    new["data"]["foo"] = "YmF6"
    assert messages(validate_update(SECRET, new, old)) == ["data: Forbidden: field is immutable when `immutable` is set"]
    new = copy.deepcopy(old)
    del new["immutable"]
    assert messages(validate_update(SECRET, new, old)) == ["immutable: Forbidden: field is immutable when `immutable` is set"]
    mutable = prepared(SECRET, SECRET_DEF)
    retyped = copy.deepcopy(mutable)
    retyped["type"] = "kubernetes.io/basic-auth"
    retyped["data"] = {"username": "YQ=="}
    assert messages(validate_update(SECRET, retyped, mutable)) == ['type: Invalid value: "kubernetes.io/basic-auth": field is immutable']
    changed = copy.deepcopy(mutable)
    changed["data"]["foo"] = "YmF6"
    assert validate_update(SECRET, changed, mutable) == []


CM_DEF = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fortune-config", "namespace": "default"}, "data": {"sleep-interval": "25"}}


def test_config_map_validation_and_update() -> None:
    assert check(CONFIGMAP, CM_DEF) == []
    assert check(CONFIGMAP, CM_DEF, lambda o: o.update(binaryData={"sleep-interval": "AA=="})) == [
        'data[sleep-interval]: Invalid value: "sleep-interval": duplicate of key present in binaryData'
    ]
    assert check(CONFIGMAP, CM_DEF, lambda o: o["data"].update({"..": "x"})) == ['data[..]: Invalid value: "..": must not be \'..\'']
    old = prepared(CONFIGMAP, CM_DEF, lambda o: o.update(immutable=True))
    new = copy.deepcopy(old)
    new["data"]["sleep-interval"] = "5"
    assert messages(validate_update(CONFIGMAP, new, old)) == ["data: Forbidden: field is immutable when `immutable` is set"]
    big = prepared(CONFIGMAP, CM_DEF, lambda o: o["data"].update(big="x" * (1024 * 1024)))
    assert messages(validate(CONFIGMAP, big)) == [": Too long: may not be more than 1048576 bytes"]


def test_service_account() -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "foo", "namespace": "default"}}
    assert check(SERVICE_ACCOUNT, sa) == []
    assert check(SERVICE_ACCOUNT, sa, lambda o: o["metadata"].update(name="Foo")) == [f'metadata.name: Invalid value: "Foo": {SUBDOMAIN_MSG}']


# ---------------------------------------------------------------------------------------------
# Namespace, Node
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata, expected",
    [
        ({"name": "custom-namespace"}, []),
        ({"name": "my.ns"}, ['metadata.name: Invalid value: "my.ns": must not contain dots']),
        ({"name": "Custom"}, [f'metadata.name: Invalid value: "Custom": {LABEL_MSG}']),
        ({"name": "ns", "namespace": "default"}, ["metadata.namespace: Forbidden: not allowed on this type"]),
    ],
)
def test_namespace(metadata: dict[str, Any], expected: list[str]) -> None:
    assert check(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}) == expected


def test_namespace_spec_finalizers() -> None:
    ns = {"metadata": {"name": "n"}, "spec": {"finalizers": ["foo"]}}
    assert check(NAMESPACE, ns) == [
        'spec.finalizers: Invalid value: "foo": name is neither a standard finalizer name nor is it fully qualified'
    ]


NODE_DEF = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1"}, "spec": {"podCIDRs": ["10.244.1.0/24"]}}


def test_node_validation_and_update() -> None:
    assert check(NODE, NODE_DEF) == []
    assert check(NODE, NODE_DEF, lambda o: o["spec"].update(taints=[{"key": "dedicated", "value": "x", "effect": "Sometimes"}])) == [
        'metadata.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"'
    ]
    assert check(NODE, NODE_DEF, lambda o: o["spec"].update(podCIDRs=["10.244.1.0"])) == [
        'spec.podCIDRs[0]: Invalid value: "10.244.1.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'
    ]
    old = prepared(NODE, NODE_DEF)
    new = copy.deepcopy(old)
    new["spec"]["unschedulable"] = True
    new["spec"]["taints"] = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]
    assert validate_update(NODE, new, old) == []
    moved = copy.deepcopy(old)
    moved["spec"]["podCIDRs"] = ["10.244.2.0/24"]
    assert messages(validate_update(NODE, moved, old)) == [
        'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid'
    ]


# ---------------------------------------------------------------------------------------------
# Ingress, IngressClass
# ---------------------------------------------------------------------------------------------


def _path(o: dict[str, Any]) -> dict[str, Any]:
    return o["spec"]["rules"][0]["http"]["paths"][0]


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (None, []),
        (lambda o: o["spec"]["rules"][0].update(host="*.example.com"), []),
        (lambda o: o["spec"]["rules"][0].update(host="Kubia.Example.com"), [
            f'spec.rules[0].host: Invalid value: "Kubia.Example.com": {SUBDOMAIN_MSG}',
        ]),
        (lambda o: o["spec"]["rules"][0].update(host="10.0.0.1"), [
            'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address',
        ]),
        (lambda o: _path(o).pop("pathType"), ["spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"]),
        (lambda o: _path(o).update(pathType="Regex"), [
            'spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"',
        ]),
        (lambda o: _path(o).update(path="kubia"), ['spec.rules[0].http.paths[0].path: Invalid value: "kubia": must be an absolute path']),
        (lambda o: _path(o).update(path="/a//b", pathType="Exact"), [
            "spec.rules[0].http.paths[0].path: Invalid value: \"/a//b\": must not contain '//'",
        ]),
        (lambda o: _path(o).update(path="kubia", pathType="ImplementationSpecific"), [
            'spec.rules[0].http.paths[0].path: Invalid value: "kubia": must be an absolute path',
        ]),
        (lambda o: o["spec"]["rules"][0]["http"].update(paths=[]), ["spec.rules[0].http.paths: Required value"]),
        (lambda o: _path(o)["backend"].update(resource={"kind": "Bucket", "name": "b"}), [
            'spec.rules[0].http.paths[0].backend: Invalid value: "": cannot set both resource and service backends',
        ]),
        (lambda o: _path(o).update(backend={}), [
            'spec.rules[0].http.paths[0].backend: Invalid value: "": resource or service backend is required',
        ]),
        (lambda o: _path(o)["backend"]["service"].update(port={}), [
            "spec.rules[0].http.paths[0].backend: Required value: port name or number is required",
        ]),
        (lambda o: _path(o)["backend"]["service"].update(port={"name": "http", "number": 80}), [
            'spec.rules[0].http.paths[0].backend: Invalid value: "": cannot set both port name & port number',
        ]),
        (lambda o: _path(o)["backend"]["service"].update(name="1kubia"), [
            f'spec.rules[0].http.paths[0].backend.service.name: Invalid value: "1kubia": {DNS1035_MSG}',
        ]),
        (lambda o: o["spec"].update(rules=[]), [
            "spec: Invalid value: []networking.IngressRule{}: either `defaultBackend` or `rules` must be specified",
        ]),
        (lambda o: o["spec"].update(rules=None, defaultBackend={"service": {"name": "kubia", "port": {"number": 80}}}), []),
        (lambda o: o["spec"].update(tls=[{"hosts": ["Kubia.example.com"], "secretName": "tls-secret"}]), [
            f'spec.tls[0].hosts[0]: Invalid value: "Kubia.example.com": {SUBDOMAIN_MSG}',
        ]),
    ],
)
def test_ingress_errors(mutate: Mutator | None, expected: list[str]) -> None:
    assert check(INGRESS, INGRESS_DEF, mutate) == expected


def test_ingress_update() -> None:
    old = prepared(INGRESS, INGRESS_DEF)
    new = copy.deepcopy(old)
    new["spec"]["rules"][0]["host"] = "kubia2.example.com"
    assert validate_update(INGRESS, new, old) == []
    _path(new).pop("pathType")
    assert check_update(INGRESS, new, old) == ["spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"]
    assert validate_update(INGRESS, new, old) == []  # already reported by validate()


INGRESS_CLASS_DEF = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "kubeloop"}, "spec": {"controller": "kubeloop.io/ingress"}}


def test_ingress_class() -> None:
    assert check(INGRESS_CLASS, INGRESS_CLASS_DEF) == []
    assert check(INGRESS_CLASS, INGRESS_CLASS_DEF, lambda o: o.update(spec={})) == ["spec.controller: Required value"]
    assert check(INGRESS_CLASS, INGRESS_CLASS_DEF, lambda o: o["spec"].update(controller="kubeloop")) == [
        'spec.controller: Invalid value: "kubeloop": must be a domain-prefixed path (such as "acme.io/foo")'
    ]
    old = prepared(INGRESS_CLASS, INGRESS_CLASS_DEF)
    new = copy.deepcopy(old)
    new["spec"]["controller"] = "example.com/other"
    assert messages(validate_update(INGRESS_CLASS, new, old)) == [
        'spec.controller: Invalid value: "example.com/other": field is immutable'
    ]


# ---------------------------------------------------------------------------------------------
# Event, Lease, and the kinds validated elsewhere
# ---------------------------------------------------------------------------------------------

EVENT_DEF = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "kubia.17a2b3c4d5e6f708", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "name": "kubia", "namespace": "default"},
    "reason": "Scheduled",
    "message": "Successfully assigned default/kubia to worker-1",
    "type": "Normal",
}


def test_event() -> None:
    assert check(EVENT, EVENT_DEF) == []
    assert check(EVENT, EVENT_DEF, lambda o: o["involvedObject"].update(namespace="other")) == [
        'involvedObject.namespace: Invalid value: "other": does not match event.namespace'
    ]
    assert check(EVENT, EVENT_DEF, lambda o: o["metadata"].pop("name")) == [
        "metadata.name: Required value: name or generateName is required"
    ]
    assert check(EVENT, EVENT_DEF, lambda o: o.update(eventTime="2024-01-01T00:00:00.000000Z", reportingComponent="kubelet")) == [
        "reportingInstance: Required value",
        "action: Required value",
    ]


def test_lease() -> None:
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "worker-1", "namespace": "kube-node-lease"}, "spec": {"holderIdentity": "worker-1", "leaseDurationSeconds": 40}}
    assert check(LEASE, lease) == []
    assert check(LEASE, lease, lambda o: o["spec"].update(leaseDurationSeconds=0, leaseTransitions=-1)) == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
    ]
    old = prepared(LEASE, lease)
    renewed = copy.deepcopy(old)
    renewed["spec"]["renewTime"] = "2024-01-01T00:00:00.000000Z"
    assert validate_update(LEASE, renewed, old) == []


@pytest.mark.parametrize(
    "api_version, name",
    [("v1", "Service"), ("v1", "Endpoints"), ("discovery.k8s.io/v1", "EndpointSlice")],
)
def test_kinds_validated_elsewhere(api_version: str, name: str) -> None:
    resource = kind(api_version, name)
    bogus = {"metadata": {"name": "Not_Valid"}, "spec": {"ports": [{"port": -1}]}}
    assert validate(resource, bogus) == []
    assert validate_update(resource, bogus, {"metadata": {"name": "other"}}) == []


def test_every_registered_kind_validates_a_minimal_object() -> None:
    from kubeloop.api.registry import RESOURCES

    for resource in RESOURCES:
        metadata = {"namespace": "default"} if resource.namespaced else {}
        errors = validate(resource, {"metadata": metadata})
        if resource.kind not in ("Service", "Endpoints", "EndpointSlice"):
            assert "metadata.name: Required value: name or generateName is required" in messages(errors), resource.kind


def test_pod_update_deadline_cannot_be_removed_or_raised() -> None:
    old = prepared(POD, PODDEF, lambda o: o["spec"].update(activeDeadlineSeconds=60))
    removed = copy.deepcopy(old)
    del removed["spec"]["activeDeadlineSeconds"]
    assert messages(validate_update(POD, removed, old)) == [
        'spec.activeDeadlineSeconds: Invalid value: "null": must not update from a positive integer to nil value'
    ]
    raised = copy.deepcopy(old)
    raised["spec"]["activeDeadlineSeconds"] = 120
    assert messages(validate_update(POD, raised, old)) == [
        "spec.activeDeadlineSeconds: Invalid value: 120: must be less than or equal to previous value"
    ]


def test_validate_update_leaves_out_what_validate_reports() -> None:
    old = prepared(POD, PODDEF)
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = ""
    # ValidatePodUpdate checks the image twice (spec validation and container updates): listed once.
    assert check_update(POD, new, old) == ["spec.containers[0].image: Required value"]
    assert validate_update(POD, new, old) == []
    new["metadata"]["namespace"] = "other"
    assert messages(validate_update(POD, new, old)) == ['metadata.namespace: Invalid value: "other": field is immutable']
