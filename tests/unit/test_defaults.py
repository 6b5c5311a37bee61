"""kubeloop.api.defaults: Kubernetes 1.32 defaulting, object by object."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeloop.api.defaults import apply_defaults, image_pull_policy
from kubeloop.api.registry import by_kind

POD = by_kind("v1", "Pod")
RC = by_kind("v1", "ReplicationController")
RS = by_kind("apps/v1", "ReplicaSet")
DEPLOYMENT = by_kind("apps/v1", "Deployment")


def defaulted(kind: tuple[str, str], obj: dict[str, Any]) -> dict[str, Any]:
    resource = by_kind(*kind)
    assert resource is not None
    obj = copy.deepcopy(obj)
    apply_defaults(resource, obj)
    return obj


def seed_rc() -> dict[str, Any]:
    """The ReplicationController of the seed manifest (Kubernetes in Action's kubia)."""
    return {
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


DEFAULTED_KUBIA_CONTAINER = {
    "name": "kubia",
    "image": "luksa/kubia",
    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
    "imagePullPolicy": "Always",
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "resources": {},
}

TEMPLATE_SPEC_DEFAULTS = {
    "dnsPolicy": "ClusterFirst",
    "restartPolicy": "Always",
    "securityContext": {},
    "terminationGracePeriodSeconds": 30,
    "schedulerName": "default-scheduler",
}


def test_pod_defaults() -> None:
    pod = defaulted(
        ("v1", "Pod"),
        {"metadata": {"name": "kubia", "namespace": "default"}, "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia", "ports": [{"containerPort": 8080}]}]}},
    )
    assert pod["spec"] == {
        "containers": [DEFAULTED_KUBIA_CONTAINER],
        **TEMPLATE_SPEC_DEFAULTS,
        "enableServiceLinks": True,
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "priority": 0,
        "preemptionPolicy": "PreemptLowerPriority",
    }


def test_readiness_probe_defaults() -> None:
    pod = defaulted(
        ("v1", "Pod"),
        {
            "metadata": {"name": "kubia"},
            "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia", "readinessProbe": {"exec": {"command": ["ls", "/var/ready"]}}}]},
        },
    )
    assert pod["spec"]["containers"][0]["readinessProbe"] == {
        "exec": {"command": ["ls", "/var/ready"]},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


def test_http_probe_and_lifecycle_defaults() -> None:
    container = {
        "name": "c",
        "image": "nginx:1.25",
        "livenessProbe": {"httpGet": {"port": 8080}, "initialDelaySeconds": 15, "periodSeconds": 5},
        "lifecycle": {"preStop": {"httpGet": {"port": "http", "path": "/shutdown"}}},
    }
    pod = defaulted(("v1", "Pod"), {"metadata": {"name": "p"}, "spec": {"containers": [container]}})
    c = pod["spec"]["containers"][0]
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["livenessProbe"] == {
        "httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
        "initialDelaySeconds": 15,
        "periodSeconds": 5,
        "timeoutSeconds": 1,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert c["lifecycle"]["preStop"]["httpGet"] == {"port": "http", "path": "/shutdown", "scheme": "HTTP"}


def test_env_field_ref_and_init_containers() -> None:
    spec = {
        "initContainers": [{"name": "init", "image": "busybox:latest"}],
        "containers": [
            {
                "name": "c",
                "image": "busybox",
                "env": [
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "PLAIN", "value": "x"},
                ],
            }
        ],
    }
    pod = defaulted(("v1", "Pod"), {"metadata": {"name": "p"}, "spec": spec})
    assert pod["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "metadata.name", "apiVersion": "v1"}
    assert pod["spec"]["containers"][0]["env"][1] == {"name": "PLAIN", "value": "x"}
    init = pod["spec"]["initContainers"][0]
    assert init["imagePullPolicy"] == "Always"
    assert init["terminationMessagePolicy"] == "File"
    assert init["resources"] == {}


@pytest.mark.parametrize(
    "image, policy",
    [
        ("nginx", "Always"),
        ("luksa/kubia", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v1", "IfNotPresent"),
        ("registry.k8s.io/pause:3.9", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("nginx:latest@sha256:" + "a" * 64, "Always"),
        ("", "IfNotPresent"),
        ("Upper/Case", "IfNotPresent"),  # does not parse: no tag, IfNotPresent
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_explicit_values_are_kept() -> None:
    spec = {
        "restartPolicy": "Never",
        "dnsPolicy": "Default",
        "terminationGracePeriodSeconds": 0,
        "serviceAccountName": "builder",
        "enableServiceLinks": False,
        "containers": [{"name": "c", "image": "nginx", "imagePullPolicy": "Never", "readinessProbe": {"tcpSocket": {"port": 80}, "failureThreshold": 7}}],
    }
    pod = defaulted(("v1", "Pod"), {"metadata": {"name": "p"}, "spec": spec})
    s = pod["spec"]
    assert (s["restartPolicy"], s["dnsPolicy"], s["terminationGracePeriodSeconds"]) == ("Never", "Default", 0)
    assert (s["serviceAccountName"], s["serviceAccount"], s["enableServiceLinks"]) == ("builder", "builder", False)
    assert s["containers"][0]["imagePullPolicy"] == "Never"
    assert s["containers"][0]["readinessProbe"]["failureThreshold"] == 7


def test_pod_resources_host_network_and_volumes() -> None:
    spec = {
        "hostNetwork": True,
        "containers": [
            {
                "name": "c",
                "image": "nginx",
                "ports": [{"containerPort": 80}],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m"}},
            }
        ],
        "volumes": [
            {"name": "cfg", "configMap": {"name": "app"}},
            {"name": "tls", "secret": {"secretName": "tls", "defaultMode": 0o600}},
            {"name": "scratch"},
            {"name": "host", "hostPath": {"path": "/var/log"}},
        ],
    }
    pod = defaulted(("v1", "Pod"), {"metadata": {"name": "p"}, "spec": spec})
    c = pod["spec"]["containers"][0]
    assert c["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP", "hostPort": 80}]
    volumes = pod["spec"]["volumes"]
    assert volumes[0]["configMap"] == {"name": "app", "defaultMode": 420}
    assert volumes[1]["secret"] == {"secretName": "tls", "defaultMode": 0o600}
    assert volumes[2] == {"name": "scratch", "emptyDir": {}}
    assert volumes[3]["hostPath"] == {"path": "/var/log", "type": ""}


def test_replication_controller_seed_defaults() -> None:
    rc = defaulted(("v1", "ReplicationController"), seed_rc())
    assert rc["metadata"]["labels"] == {"app": "kubia"}
    assert rc["spec"]["replicas"] == 3
    assert rc["spec"]["selector"] == {"app": "kubia"}
    assert rc["spec"]["template"]["spec"] == {"containers": [DEFAULTED_KUBIA_CONTAINER], **TEMPLATE_SPEC_DEFAULTS}


def test_replication_controller_selector_and_replicas_default_from_template() -> None:
    rc = seed_rc()
    del rc["spec"]["selector"], rc["spec"]["replicas"]
    rc = defaulted(("v1", "ReplicationController"), rc)
    assert rc["spec"]["selector"] == {"app": "kubia"}
    assert rc["spec"]["replicas"] == 1
    assert rc["metadata"]["labels"] == {"app": "kubia"}


def test_replica_set_defaults() -> None:
    rs = {
        "metadata": {"name": "kubia"},
        "spec": {"selector": {"matchLabels": {"app": "kubia"}}, "template": {"metadata": {"labels": {"app": "kubia"}}, "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia"}]}}},
    }
    rs = defaulted(("apps/v1", "ReplicaSet"), rs)
    assert rs["spec"]["replicas"] == 1
    assert rs["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert "enableServiceLinks" not in rs["spec"]["template"]["spec"]  # Pod-only default
    assert "serviceAccountName" not in rs["spec"]["template"]["spec"]  # admission fills Pods only


def test_deployment_defaults() -> None:
    deployment = {
        "metadata": {"name": "kubia"},
        "spec": {"selector": {"matchLabels": {"app": "kubia"}}, "template": {"metadata": {"labels": {"app": "kubia"}}, "spec": {"containers": [{"name": "nodejs", "image": "luksa/kubia:v1"}]}}},
    }
    d = defaulted(("apps/v1", "Deployment"), deployment)
    spec = d["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert spec["template"]["spec"]["schedulerName"] == "default-scheduler"


def test_deployment_recreate_strategy_gets_no_rolling_update() -> None:
    d = defaulted(("apps/v1", "Deployment"), {"metadata": {"name": "x"}, "spec": {"strategy": {"type": "Recreate"}, "template": {}}})
    assert d["spec"]["strategy"] == {"type": "Recreate"}


def test_deployment_partial_rolling_update() -> None:
    d = defaulted(("apps/v1", "Deployment"), {"metadata": {"name": "x"}, "spec": {"strategy": {"rollingUpdate": {"maxSurge": 1}}, "template": {}}})
    assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}


def test_secret_defaults_and_string_data() -> None:
    secret = defaulted(("v1", "Secret"), {"metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"b": "hello", "a": "y"}})
    assert secret["type"] == "Opaque"
    assert "stringData" not in secret
    assert secret["data"] == {"a": "eQ==", "b": "aGVsbG8="}
    tls = defaulted(("v1", "Secret"), {"metadata": {"name": "s"}, "type": "kubernetes.io/tls"})
    assert tls["type"] == "kubernetes.io/tls"


def test_namespace_defaults() -> None:
    ns = defaulted(("v1", "Namespace"), {"metadata": {"name": "custom-namespace"}})
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "custom-namespace"}


def test_node_defaults() -> None:
    node = defaulted(("v1", "Node"), {"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "4", "pods": "110"}}})
    assert node["status"]["allocatable"] == {"cpu": "4", "pods": "110"}
    assert node["spec"] == {}


def test_endpoint_slice_port_defaults() -> None:
    eps = defaulted(("discovery.k8s.io/v1", "EndpointSlice"), {"metadata": {"name": "e"}, "addressType": "IPv4", "ports": [{"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]})
    assert eps["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]


def test_ingress_and_ingress_class_defaults() -> None:
    rule = {"http": {"paths": [{"path": "/", "backend": {"service": {"name": "kubia", "port": {"number": 80}}}}]}}
    ing = defaulted(("networking.k8s.io/v1", "Ingress"), {"metadata": {"name": "i"}, "spec": {"rules": [rule]}})
    assert "pathType" not in ing["spec"]["rules"][0]["http"]["paths"][0]  # required, never defaulted
    assert ing["status"] == {"loadBalancer": {}}
    cls = defaulted(("networking.k8s.io/v1", "IngressClass"), {"metadata": {"name": "c"}, "spec": {"controller": "k8s.io/x", "parameters": {"kind": "K", "name": "n"}}})
    assert cls["spec"]["parameters"]["scope"] == "Cluster"


def test_event_and_lease_defaults() -> None:
    ev = defaulted(("v1", "Event"), {"metadata": {"name": "e", "namespace": "default"}, "involvedObject": {"kind": "Pod"}, "reason": "Started"})
    assert ev["source"] == {}
    assert (ev["reportingComponent"], ev["reportingInstance"], ev["eventTime"]) == ("", "", None)
    lease = defaulted(("coordination.k8s.io/v1", "Lease"), {"metadata": {"name": "l"}})
    assert lease["spec"] == {}


@pytest.mark.parametrize("kind", [("v1", "Service"), ("v1", "Endpoints"), ("v1", "ConfigMap"), ("v1", "ServiceAccount")])
def test_untouched_kinds(kind: tuple[str, str]) -> None:
    obj = {"metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}]}, "data": {"a": "b"}}
    assert defaulted(kind, obj) == obj


@pytest.mark.parametrize(
    "kind, obj",
    [
        (("v1", "Pod"), {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x", "livenessProbe": {"httpGet": {"port": 1}}}]}}),
        (("v1", "ReplicationController"), seed_rc()),
        (("apps/v1", "Deployment"), {"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
        (("v1", "Namespace"), {"metadata": {"name": "n"}}),
        (("v1", "Secret"), {"metadata": {"name": "s"}, "stringData": {"a": "b"}}),
    ],
)
def test_defaulting_is_idempotent(kind: tuple[str, str], obj: dict[str, Any]) -> None:
    once = defaulted(kind, obj)
    assert defaulted(kind, once) == once
