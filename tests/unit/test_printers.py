"""Table printing: columns, cells and Table envelopes as a Kubernetes 1.32 apiserver prints them.

Expected cells follow kube-apiserver's pkg/printers/internalversion (run with Wide: true, so
every row carries the `-o wide` cells too); the HumanDuration cases are apimachinery's own.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kubeloop.api import printers
from kubeloop.api.errors import BadRequest
from kubeloop.api.printers import column_definitions, human_duration, row_cells, table
from kubeloop.api.registry import RESOURCES, ResourceType, by_plural

NOW = datetime(2025, 1, 15, 12, 0, 0, tzinfo=timezone.utc)


def ago(seconds: float = 0, **kw: float) -> str:
    """An RFC3339 timestamp `seconds` (plus timedelta kwargs) before NOW."""
    return (NOW - timedelta(seconds=seconds, **kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, age: float | None = 300, namespace: str | None = "default", **extra: Any) -> dict:
    m: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "resourceVersion": "42"}
    if namespace:
        m["namespace"] = namespace
    if age is not None:
        m["creationTimestamp"] = ago(age)
    m.update(extra)
    return m


def cells(plural: str, obj: dict) -> list:
    return row_cells(by_plural(plural), obj, NOW)


# -- HumanDuration (apimachinery pkg/util/duration tests) ----------------------------------

S, M, H, D = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
MS, US = timedelta(milliseconds=1), timedelta(microseconds=1)


@pytest.mark.parametrize("delta, want", [
    # TestHumanDuration
    (S, "1s"),
    (70 * S, "70s"),
    (190 * S, "3m10s"),
    (70 * M, "70m"),
    (47 * H, "47h"),
    (49 * H, "2d1h"),
    ((8 * 24 + 2) * H, "8d"),
    (367 * 24 * H, "367d"),
    ((365 * 2 * 24 + 25) * H, "2y1d"),
    ((365 * 8 * 24 + 2) * H, "8y"),
    # TestHumanDurationBoundaries (Go's "-2s + 1ns" becomes -2s + 1µs: Python's resolution)
    (-2 * S, "<invalid>"),
    (-2 * S + US, "0s"),
    (timedelta(0), "0s"),
    (S - MS, "0s"),
    (2 * M - MS, "119s"),
    (2 * M, "2m"),
    (2 * M + S, "2m1s"),
    (10 * M - MS, "9m59s"),
    (10 * M, "10m"),
    (10 * M + S, "10m"),
    (3 * H - MS, "179m"),
    (3 * H, "3h"),
    (3 * H + M, "3h1m"),
    (8 * H - MS, "7h59m"),
    (8 * H, "8h"),
    (8 * H + 59 * M, "8h"),
    (2 * D - MS, "47h"),
    (2 * D, "2d"),
    (2 * D + H, "2d1h"),
    (8 * D - MS, "7d23h"),
    (8 * D, "8d"),
    (8 * D + 23 * H, "8d"),
    (2 * 365 * D - MS, "729d"),
    (2 * 365 * D, "2y"),
    (2 * 365 * D + 23 * H, "2y"),
    (2 * 365 * D + 23 * H + 59 * M, "2y"),
    (2 * 365 * D + 24 * H - MS, "2y"),
    (2 * 365 * D + 24 * H, "2y1d"),
    (3 * 365 * D, "3y"),
    (4 * 365 * D, "4y"),
    (5 * 365 * D, "5y"),
    (6 * 365 * D, "6y"),
    (7 * 365 * D, "7y"),
    (8 * 365 * D - MS, "7y364d"),
    (8 * 365 * D, "8y"),
    (8 * 365 * D + 364 * D, "8y"),
    (9 * 365 * D, "9y"),
    # the shapes the AGE column shows most
    (45 * S, "45s"),
    (5 * M, "5m"),
    (5 * M + 30 * S, "5m30s"),
    (3 * H + 20 * M, "3h20m"),
    (2 * D + 3 * H, "2d3h"),
    (90 * D, "90d"),
])
def test_human_duration(delta: timedelta, want: str) -> None:
    assert human_duration(delta) == want


# -- column definitions --------------------------------------------------------------------

W = "wide"  # marks a priority-1 column below

COLUMNS = {
    "pods": ["Name", "Ready", "Status", "Restarts", "Age", (W, "IP"), (W, "Node"), (W, "Nominated Node"),
             (W, "Readiness Gates")],
    "services": ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", (W, "Selector")],
    "endpoints": ["Name", "Endpoints", "Age"],
    "endpointslices": ["Name", "AddressType", "Ports", "Endpoints", "Age"],
    "replicationcontrollers": ["Name", "Desired", "Current", "Ready", "Age", (W, "Containers"), (W, "Images"),
                               (W, "Selector")],
    "replicasets": ["Name", "Desired", "Current", "Ready", "Age", (W, "Containers"), (W, "Images"), (W, "Selector")],
    "deployments": ["Name", "Ready", "Up-to-date", "Available", "Age", (W, "Containers"), (W, "Images"),
                    (W, "Selector")],
    "ingresses": ["Name", "Class", "Hosts", "Address", "Ports", "Age"],
    "ingressclasses": ["Name", "Controller", "Parameters", "Age"],
    "secrets": ["Name", "Type", "Data", "Age"],
    "configmaps": ["Name", "Data", "Age"],
    "namespaces": ["Name", "Status", "Age"],
    "nodes": ["Name", "Status", "Roles", "Age", "Version", (W, "Internal-IP"), (W, "External-IP"), (W, "OS-Image"),
              (W, "Kernel-Version"), (W, "Container-Runtime")],
    "events": ["Last Seen", "Type", "Reason", "Object", (W, "Subobject"), (W, "Source"), "Message", (W, "First Seen"),
               (W, "Count"), (W, "Name")],
    "serviceaccounts": ["Name", "Secrets", "Age"],
    "leases": ["Name", "Holder", "Age"],
}

INTEGER_COLUMNS = {
    "replicationcontrollers": {"Desired", "Current", "Ready"},
    "replicasets": {"Desired", "Current", "Ready"},
}

WIDGETS = ResourceType("example.com", "v1", "Widget", "widgets", "widget")


def test_every_registered_kind_has_a_column_set_under_test() -> None:
    assert {r.plural for r in RESOURCES} == set(COLUMNS)


@pytest.mark.parametrize("plural", sorted(COLUMNS))
def test_column_names_types_formats_and_priorities(plural: str) -> None:
    cols = column_definitions(by_plural(plural))
    want = [(c[1], 1) if isinstance(c, tuple) else (c, 0) for c in COLUMNS[plural]]
    assert [(c["name"], c["priority"]) for c in cols] == want
    for c in cols:
        assert set(c) == {"name", "type", "format", "description", "priority"}
        assert c["format"] == ("name" if c["name"] == "Name" else "")
        assert c["type"] == ("integer" if c["name"] in INTEGER_COLUMNS.get(plural, ()) else "string")
        assert c["description"]


def test_unknown_kinds_print_name_and_age() -> None:
    cols = column_definitions(WIDGETS)
    assert [(c["name"], c["type"], c["format"], c["priority"]) for c in cols] == [
        ("Name", "string", "name", 0), ("Age", "string", "", 0)]
    assert row_cells(WIDGETS, {"metadata": meta("w1", age=45)}, NOW) == ["w1", "45s"]
    assert row_cells(WIDGETS, {"metadata": {"name": "w2"}}, NOW) == ["w2", "<unknown>"]


@pytest.mark.parametrize("plural, column, description", [
    ("pods", "Name", "Name must be unique within a namespace. Is required when creating resources, although some "
                     "resources may allow a client to request the generation of an appropriate name automatically. "
                     "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
                     "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/"
                     "names#names"),
    ("pods", "Ready", "The aggregate readiness state of this pod for accepting traffic."),
    ("pods", "Restarts", "The number of times the containers in this pod have been restarted and when the last "
                         "container in this pod has restarted."),
    ("pods", "IP", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
                   "allocated."),
    ("replicasets", "Ready", "The number of ready replicas for this replica set."),
    ("deployments", "Ready", "Number of the pod with ready state"),
    ("ingresses", "Ports", "Ports of TLS configurations that open"),
    ("nodes", "Version", "Kubelet Version reported by the node."),
    ("events", "Object", "The object that this event is about."),
    ("leases", "Holder", "holderIdentity contains the identity of the holder of a current lease. If Coordinated "
                         "Leader Election is used, the holder identity must be equal to the elected "
                         "LeaseCandidate.metadata.name field."),
])
def test_column_descriptions_are_the_api_field_docs(plural: str, column: str, description: str) -> None:
    cols = {c["name"]: c for c in column_definitions(by_plural(plural))}
    assert cols[column]["description"] == description
    assert cols["Age" if "Age" in cols else "Last Seen"]["description"] != ""


def test_age_description_is_the_creation_timestamp_doc() -> None:
    age = {c["name"]: c for c in column_definitions(by_plural("configmaps"))}["Age"]
    assert age["description"].startswith("CreationTimestamp is a timestamp representing the server time")
    assert "\n\nPopulated by the system. Read-only. Null for lists." in age["description"]


def test_column_definitions_are_fresh_copies() -> None:
    cols = column_definitions(by_plural("pods"))
    cols[0]["name"] = "Mutated"
    assert column_definitions(by_plural("pods"))[0]["name"] == "Name"


# -- pods ----------------------------------------------------------------------------------


def running(name: str = "kubia", *, ready: bool = True, restarts: int = 0, last_finished: str | None = None,
            last_reason: str = "Error") -> dict:
    cs: dict[str, Any] = {"name": name, "ready": ready, "started": True, "restartCount": restarts,
                          "image": "luksa/kubia", "imageID": "", "state": {"running": {"startedAt": ago(300)}}}
    if last_finished:
        cs["lastState"] = {"terminated": {"exitCode": 1, "reason": last_reason, "finishedAt": last_finished}}
    return cs


def waiting(name: str = "kubia", reason: str = "ContainerCreating", *, restarts: int = 0,
            last_finished: str | None = None) -> dict:
    cs: dict[str, Any] = {"name": name, "ready": False, "started": False, "restartCount": restarts,
                          "image": "luksa/kubia", "imageID": "", "state": {"waiting": {"reason": reason}}}
    if last_finished:
        cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": last_finished}}
    return cs


def terminated(name: str = "kubia", reason: str | None = "Completed", exit_code: int = 0, signal: int = 0) -> dict:
    t: dict[str, Any] = {"exitCode": exit_code, "finishedAt": ago(60)}
    if reason:
        t["reason"] = reason
    if signal:
        t["signal"] = signal
    return {"name": name, "ready": False, "started": False, "restartCount": 0, "image": "busybox", "imageID": "",
            "state": {"terminated": t}}


def cond(type_: str, status: str = "True", reason: str | None = None) -> dict:
    c = {"type": type_, "status": status}
    if reason:
        c["reason"] = reason
    return c


def pod(name: str = "kubia-x", *, phase: str = "Running", containers: tuple[str, ...] = ("kubia",),
        statuses: list[dict] | None = None, init: tuple[dict, ...] = (), init_statuses: list[dict] | None = None,
        conditions: list[dict] | None = None, ip: str | None = "10.244.1.5", node: str | None = "node1",
        age: float | None = 300, **status_extra: Any) -> dict:
    spec: dict[str, Any] = {"containers": [{"name": c, "image": "luksa/kubia"} for c in containers]}
    if init:
        spec["initContainers"] = list(init)
    if node:
        spec["nodeName"] = node
    status: dict[str, Any] = {"phase": phase, **status_extra}
    if conditions is not None:
        status["conditions"] = conditions
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta(name, age), "spec": spec, "status": status}


READY = [cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")]
NOT_READY = [cond("Initialized"), cond("Ready", "False"), cond("ContainersReady", "False"), cond("PodScheduled")]
INIT_PENDING = [cond("Initialized", "False"), cond("Ready", "False"), cond("PodScheduled")]


def _deleting(p: dict, **extra: Any) -> dict:
    p["metadata"]["deletionTimestamp"] = ago(10)
    p["metadata"]["deletionGracePeriodSeconds"] = 30
    p["status"].update(extra)
    return p


def _with_gates(p: dict, *gates: str) -> dict:
    p["spec"]["readinessGates"] = [{"conditionType": g} for g in gates]
    return p


POD_CASES = [
    ("running", pod(statuses=[running()], conditions=READY),
     ["kubia-x", "1/1", "Running", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("pending-unscheduled", pod(phase="Pending", ip=None, node=None, conditions=[cond("PodScheduled", "False")]),
     ["kubia-x", "0/1", "Pending", "0", "5m", "<none>", "<none>", "<none>", "<none>"]),
    ("container-creating", pod(phase="Pending", ip=None, statuses=[waiting()], age=3),
     ["kubia-x", "0/1", "ContainerCreating", "0", "3s", "<none>", "node1", "<none>", "<none>"]),
    ("crash-loop", pod(statuses=[waiting(reason="CrashLoopBackOff", restarts=2, last_finished=ago(5))],
                       conditions=NOT_READY, age=330),
     ["kubia-x", "0/1", "CrashLoopBackOff", "2 (5s ago)", "5m30s", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("restarted-now-running", pod(statuses=[running(restarts=3, last_finished=ago(minutes=42))],
                                  conditions=READY, age=3 * 3600 + 20 * 60),
     ["kubia-x", "1/1", "Running", "3 (42m ago)", "3h20m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("restarts-without-last-state", pod(statuses=[running(restarts=4)], conditions=READY),
     ["kubia-x", "1/1", "Running", "4", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("err-image-pull", pod(phase="Pending", ip=None, statuses=[waiting(reason="ErrImagePull")]),
     ["kubia-x", "0/1", "ErrImagePull", "0", "5m", "<none>", "node1", "<none>", "<none>"]),
    ("image-pull-backoff", pod(phase="Pending", ip=None, statuses=[waiting(reason="ImagePullBackOff")]),
     ["kubia-x", "0/1", "ImagePullBackOff", "0", "5m", "<none>", "node1", "<none>", "<none>"]),
    ("completed", pod("job-x", phase="Succeeded", statuses=[terminated()], age=2 * 86400 + 3 * 3600),
     ["job-x", "0/1", "Completed", "0", "2d3h", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("error", pod("job-y", phase="Failed", statuses=[terminated(reason="Error", exit_code=1)]),
     ["job-y", "0/1", "Error", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("oom-killed", pod(phase="Running", statuses=[terminated(reason="OOMKilled", exit_code=137)]),
     ["kubia-x", "0/1", "OOMKilled", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("exit-code-without-reason", pod(phase="Failed", statuses=[terminated(reason=None, exit_code=3)]),
     ["kubia-x", "0/1", "ExitCode:3", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("signal-without-reason", pod(phase="Failed", statuses=[terminated(reason=None, exit_code=137, signal=9)]),
     ["kubia-x", "0/1", "Signal:9", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("two-containers-one-ready", pod(containers=("web", "sidecar"), conditions=NOT_READY,
                                     statuses=[running("web"), running("sidecar", ready=False)]),
     ["kubia-x", "1/2", "Running", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("first-container-reason-wins", pod(containers=("a", "b"),
                                        statuses=[waiting("a", "CrashLoopBackOff", restarts=1, last_finished=ago(20)),
                                                  waiting("b", "ErrImagePull")]),
     ["kubia-x", "0/2", "CrashLoopBackOff", "1 (20s ago)", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("completed-but-other-running-ready", pod(containers=("main", "helper"), conditions=READY,
                                              statuses=[terminated("main"), running("helper")]),
     ["kubia-x", "1/2", "Running", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("completed-but-other-running-not-ready", pod(containers=("main", "helper"), conditions=NOT_READY,
                                                  statuses=[terminated("main"), running("helper")]),
     ["kubia-x", "1/2", "NotReady", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("init-0-of-2", pod(phase="Pending", ip=None, conditions=INIT_PENDING,
                        init=({"name": "migrate", "image": "busybox"}, {"name": "seed", "image": "busybox"}),
                        init_statuses=[running("migrate", ready=False), waiting("seed", "PodInitializing")],
                        statuses=[waiting(reason="PodInitializing")]),
     ["kubia-x", "0/1", "Init:0/2", "0", "5m", "<none>", "node1", "<none>", "<none>"]),
    ("init-1-of-2", pod(phase="Pending", ip=None, conditions=INIT_PENDING,
                        init=({"name": "migrate", "image": "busybox"}, {"name": "seed", "image": "busybox"}),
                        init_statuses=[terminated("migrate"), running("seed", ready=False)],
                        statuses=[waiting(reason="PodInitializing")]),
     ["kubia-x", "0/1", "Init:1/2", "0", "5m", "<none>", "node1", "<none>", "<none>"]),
    ("init-crash-loop", pod(phase="Pending", ip=None, conditions=INIT_PENDING,
                            init=({"name": "migrate", "image": "busybox"},),
                            init_statuses=[waiting("migrate", "CrashLoopBackOff", restarts=5,
                                                   last_finished=ago(minutes=2, seconds=5))],
                            statuses=[waiting(reason="PodInitializing")]),
     ["kubia-x", "0/1", "Init:CrashLoopBackOff", "5 (2m5s ago)", "5m", "<none>", "node1", "<none>", "<none>"]),
    ("init-error", pod(phase="Pending", ip=None, conditions=INIT_PENDING, init=({"name": "migrate"},),
                       init_statuses=[terminated("migrate", reason="Error", exit_code=2)]),
     ["kubia-x", "0/1", "Init:Error", "0", "5m", "<none>", "node1", "<none>", "<none>"]),
    ("init-exit-code", pod(phase="Pending", ip=None, conditions=INIT_PENDING, init=({"name": "migrate"},),
                           init_statuses=[terminated("migrate", reason=None, exit_code=2)]),
     ["kubia-x", "0/1", "Init:ExitCode:2", "0", "5m", "<none>", "node1", "<none>", "<none>"]),
    ("init-signal", pod(phase="Pending", ip=None, conditions=INIT_PENDING, init=({"name": "migrate"},),
                        init_statuses=[terminated("migrate", reason=None, exit_code=143, signal=15)]),
     ["kubia-x", "0/1", "Init:Signal:15", "0", "5m", "<none>", "node1", "<none>", "<none>"]),
    ("init-done", pod(conditions=READY, init=({"name": "migrate"},), init_statuses=[terminated("migrate")],
                      statuses=[running()]),
     ["kubia-x", "1/1", "Running", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("sidecar-init-container-counts", pod(conditions=READY,
                                          init=({"name": "proxy", "image": "envoy", "restartPolicy": "Always"},),
                                          init_statuses=[running("proxy", restarts=1, last_finished=ago(90))],
                                          statuses=[running()]),
     ["kubia-x", "2/2", "Running", "1 (90s ago)", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("terminating", _deleting(pod(statuses=[running()], conditions=READY)),
     ["kubia-x", "1/1", "Terminating", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("terminating-but-succeeded", _deleting(pod(phase="Succeeded", statuses=[terminated()])),
     ["kubia-x", "0/1", "Completed", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("node-lost-being-deleted", _deleting(pod(statuses=[running()], conditions=READY), reason="NodeLost"),
     ["kubia-x", "1/1", "Unknown", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("node-lost", pod(statuses=[running()], conditions=READY, reason="NodeLost",
                      message="Node node1 which was running pod kubia-x is unresponsive"),
     ["kubia-x", "1/1", "NodeLost", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("evicted", pod(phase="Failed", reason="Evicted", message="The node was low on resource: memory.", ip=None),
     ["kubia-x", "0/1", "Evicted", "0", "5m", "<none>", "node1", "<none>", "<none>"]),
    ("scheduling-gated", pod(phase="Pending", ip=None, node=None,
                             conditions=[cond("PodScheduled", "False", "SchedulingGated")]),
     ["kubia-x", "0/1", "SchedulingGated", "0", "5m", "<none>", "<none>", "<none>", "<none>"]),
    ("nominated-node", pod(phase="Pending", ip=None, node=None, nominatedNodeName="node2",
                           conditions=[cond("PodScheduled", "False", "Unschedulable")]),
     ["kubia-x", "0/1", "Pending", "0", "5m", "<none>", "<none>", "node2", "<none>"]),
    ("readiness-gates", _with_gates(pod(statuses=[running()], conditions=[*READY, cond("example.com/lb-ready"),
                                                                          cond("example.com/dns", "False")]),
                                    "example.com/lb-ready", "example.com/dns"),
     ["kubia-x", "1/1", "Running", "0", "5m", "10.244.1.5", "node1", "<none>", "1/2"]),
    ("readiness-gate-without-condition", _with_gates(pod(statuses=[running()], conditions=READY), "example.com/x"),
     ["kubia-x", "1/1", "Running", "0", "5m", "10.244.1.5", "node1", "<none>", "0/1"]),
    ("no-creation-timestamp", pod(statuses=[running()], age=None),
     ["kubia-x", "1/1", "Running", "0", "<unknown>", "10.244.1.5", "node1", "<none>", "<none>"]),
    ("old", pod(statuses=[running()], age=400 * 86400),
     ["kubia-x", "1/1", "Running", "0", "400d", "10.244.1.5", "node1", "<none>", "<none>"]),
]


@pytest.mark.parametrize("obj, want", [c[1:] for c in POD_CASES], ids=[c[0] for c in POD_CASES])
def test_pod_cells(obj: dict, want: list) -> None:
    assert cells("pods", obj) == want


def test_pod_ip_falls_back_to_pod_ip_field() -> None:
    p = pod(statuses=[running()])
    del p["status"]["podIPs"]
    assert cells("pods", p)[5] == "10.244.1.5"
    dual = pod(statuses=[running()])
    dual["status"]["podIPs"] = [{"ip": "10.244.1.5"}, {"ip": "fd00:10:244:1::5"}]
    assert cells("pods", dual)[5] == "10.244.1.5"


# -- services ------------------------------------------------------------------------------


def service(name: str = "kubia", *, type_: str | None = "ClusterIP", cluster_ip: str | None = "10.96.14.7",
            ports: list[dict] | None = None, selector: dict | None = None, ingress: list[dict] | None = None,
            **spec_extra: Any) -> dict:
    spec: dict[str, Any] = {"ports": ports if ports is not None else [
        {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}], **spec_extra}
    if type_:
        spec["type"] = type_
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
        spec["clusterIPs"] = [cluster_ip]
    if selector is not None:
        spec["selector"] = selector
    status: dict[str, Any] = {"loadBalancer": {"ingress": ingress} if ingress else {}}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, 3600 * 26), "spec": spec, "status": status}


HTTP_HTTPS = [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
              {"name": "https", "protocol": "TCP", "port": 443, "targetPort": 8443}]

SERVICE_CASES = [
    ("cluster-ip", service(ports=HTTP_HTTPS, selector={"app": "kubia"}),
     ["kubia", "ClusterIP", "10.96.14.7", "<none>", "80/TCP,443/TCP", "26h", "app=kubia"]),
    ("selector-sorted", service(selector={"tier": "web", "app": "kubia"}),
     ["kubia", "ClusterIP", "10.96.14.7", "<none>", "80/TCP", "26h", "app=kubia,tier=web"]),
    ("no-selector", service(),
     ["kubia", "ClusterIP", "10.96.14.7", "<none>", "80/TCP", "26h", "<none>"]),
    ("cluster-ip-with-external-ips", service(externalIPs=["192.168.99.10", "192.168.99.11"]),
     ["kubia", "ClusterIP", "10.96.14.7", "192.168.99.10,192.168.99.11", "80/TCP", "26h", "<none>"]),
    ("node-port", service("kubia-nodeport", type_="NodePort", selector={"app": "kubia"},
                          ports=[{"protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080}]),
     ["kubia-nodeport", "NodePort", "10.96.14.7", "<none>", "80:30080/TCP", "26h", "app=kubia"]),
    ("load-balancer-pending", service("kubia-lb", type_="LoadBalancer", selector={"app": "kubia"},
                                      ports=[{"protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 31234}]),
     ["kubia-lb", "LoadBalancer", "10.96.14.7", "<pending>", "80:31234/TCP", "26h", "app=kubia"]),
    ("load-balancer-ips-sorted-distinct", service("kubia-lb", type_="LoadBalancer",
                                                  ports=[{"protocol": "TCP", "port": 80, "nodePort": 31234},
                                                         {"protocol": "TCP", "port": 443, "nodePort": 31443}],
                                                  ingress=[{"ip": "172.18.255.2"}, {"ip": "172.18.255.1"},
                                                           {"ip": "172.18.255.2"}]),
     ["kubia-lb", "LoadBalancer", "10.96.14.7", "172.18.255.1,172.18.255.2", "80:31234/TCP,443:31443/TCP", "26h",
      "<none>"]),
    ("load-balancer-hostname", service("kubia-lb", type_="LoadBalancer",
                                       ports=[{"protocol": "TCP", "port": 80, "nodePort": 31234}],
                                       ingress=[{"hostname": "a1b2.elb.example.com"}]),
     ["kubia-lb", "LoadBalancer", "10.96.14.7", "a1b2.elb.example.com", "80:31234/TCP", "26h", "<none>"]),
    ("load-balancer-ingress-and-external-ips", service("kubia-lb", type_="LoadBalancer",
                                                       ports=[{"protocol": "TCP", "port": 80, "nodePort": 31234}],
                                                       ingress=[{"ip": "172.18.255.1"}], externalIPs=["192.168.99.10"]),
     ["kubia-lb", "LoadBalancer", "10.96.14.7", "172.18.255.1,192.168.99.10", "80:31234/TCP", "26h", "<none>"]),
    ("load-balancer-external-ips-only", service("kubia-lb", type_="LoadBalancer",
                                                ports=[{"protocol": "TCP", "port": 80, "nodePort": 31234}],
                                                externalIPs=["192.168.99.10"]),
     ["kubia-lb", "LoadBalancer", "10.96.14.7", "192.168.99.10", "80:31234/TCP", "26h", "<none>"]),
    ("external-name", service("db", type_="ExternalName", cluster_ip=None, ports=[],
                              externalName="db.example.com"),
     ["db", "ExternalName", "<none>", "db.example.com", "<none>", "26h", "<none>"]),
    ("headless", service("kubia-headless", cluster_ip="None", selector={"app": "kubia"}),
     ["kubia-headless", "ClusterIP", "None", "<none>", "80/TCP", "26h", "app=kubia"]),
    ("dns-udp-and-tcp", service("kube-dns", cluster_ip="10.96.0.10", selector={"k8s-app": "kube-dns"},
                                ports=[{"name": "dns", "protocol": "UDP", "port": 53},
                                       {"name": "dns-tcp", "protocol": "TCP", "port": 53}]),
     ["kube-dns", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP", "26h", "k8s-app=kube-dns"]),
    ("defaults-type-and-protocol", service(type_=None, ports=[{"port": 8080}]),
     ["kubia", "ClusterIP", "10.96.14.7", "<none>", "8080/TCP", "26h", "<none>"]),
]


@pytest.mark.parametrize("obj, want", [c[1:] for c in SERVICE_CASES], ids=[c[0] for c in SERVICE_CASES])
def test_service_cells(obj: dict, want: list) -> None:
    assert cells("services", obj) == want


def test_service_cluster_ip_from_single_field() -> None:
    svc = service()
    del svc["spec"]["clusterIPs"]
    assert cells("services", svc)[2] == "10.96.14.7"


# -- endpoints and endpointslices ---------------------------------------------------------


def endpoints(*subsets: dict, name: str = "kubia") -> dict:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta(name, 120)}
    if subsets:
        obj["subsets"] = list(subsets)
    return obj


def addrs(*ips: str) -> list[dict]:
    return [{"ip": ip, "targetRef": {"kind": "Pod", "name": f"pod-{i}"}} for i, ip in enumerate(ips)]


ENDPOINTS_CASES = [
    ("none", endpoints(), "<none>"),
    ("two", endpoints({"addresses": addrs("10.244.1.5", "10.244.2.3"), "ports": [{"port": 8080, "protocol": "TCP"}]}),
     "10.244.1.5:8080,10.244.2.3:8080"),
    ("three", endpoints({"addresses": addrs("10.244.1.5", "10.244.2.3", "10.244.2.4"), "ports": [{"port": 8080}]}),
     "10.244.1.5:8080,10.244.2.3:8080,10.244.2.4:8080"),
    ("four", endpoints({"addresses": addrs("10.244.1.5", "10.244.2.3", "10.244.2.4", "10.244.1.6"),
                        "ports": [{"port": 8080}]}),
     "10.244.1.5:8080,10.244.2.3:8080,10.244.2.4:8080 + 1 more..."),
    ("ports-times-addresses", endpoints({"addresses": addrs("10.244.1.5", "10.244.2.3"),
                                         "ports": [{"name": "http", "port": 8080}, {"name": "https", "port": 8443}]}),
     "10.244.1.5:8080,10.244.2.3:8080,10.244.1.5:8443 + 1 more..."),
    ("across-subsets", endpoints({"addresses": addrs("10.244.1.5"), "ports": [{"port": 8080}]},
                                 {"addresses": addrs("10.244.2.3", "10.244.2.4", "10.244.2.5", "10.244.2.6"),
                                  "ports": [{"port": 9090}]}),
     "10.244.1.5:8080,10.244.2.3:9090,10.244.2.4:9090 + 2 more..."),
    ("headless-no-ports", endpoints({"addresses": addrs("10.244.1.5", "10.244.2.3")}),
     "10.244.1.5,10.244.2.3"),
    ("ipv6", endpoints({"addresses": addrs("fd00:10:244:1::5"), "ports": [{"port": 80}]}),
     "[fd00:10:244:1::5]:80"),
    ("only-not-ready", endpoints({"notReadyAddresses": addrs("10.244.1.5"), "ports": [{"port": 8080}]}),
     ""),
]


@pytest.mark.parametrize("obj, want", [c[1:] for c in ENDPOINTS_CASES], ids=[c[0] for c in ENDPOINTS_CASES])
def test_endpoints_cells(obj: dict, want: str) -> None:
    assert cells("endpoints", obj) == ["kubia", want, "2m"]


def slice_(ports: list[dict] | None, *ips: str, address_type: str = "IPv4") -> dict:
    obj: dict[str, Any] = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                           "metadata": meta("kubia-abc12", 600, labels={"kubernetes.io/service-name": "kubia"}),
                           "addressType": address_type,
                           "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}
    if ports is not None:
        obj["ports"] = ports
    return obj


ENDPOINTSLICE_CASES = [
    ("typical", slice_([{"name": "http", "protocol": "TCP", "port": 8080}], "10.244.1.5", "10.244.2.3"),
     ["kubia-abc12", "IPv4", "8080", "10.244.1.5,10.244.2.3", "10m"]),
    ("empty", slice_(None), ["kubia-abc12", "IPv4", "<unset>", "<unset>", "10m"]),
    ("many", slice_([{"name": n, "port": p} for n, p in (("a", 80), ("b", 81), ("c", 82), ("d", 83))],
                    "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"),
     ["kubia-abc12", "IPv4", "80,81,82 + 1 more...", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...", "10m"]),
    ("port-without-number", slice_([{"name": "http"}, {}], "fd00::5", address_type="IPv6"),
     ["kubia-abc12", "IPv6", "http,*", "fd00::5", "10m"]),
]


@pytest.mark.parametrize("obj, want", [c[1:] for c in ENDPOINTSLICE_CASES], ids=[c[0] for c in ENDPOINTSLICE_CASES])
def test_endpointslice_cells(obj: dict, want: list) -> None:
    assert cells("endpointslices", obj) == want


def test_endpointslice_counts_every_address_of_an_endpoint() -> None:
    eps = slice_([{"port": 80}])
    eps["endpoints"] = [{"addresses": ["10.0.0.1", "10.0.0.2"]}, {"addresses": ["10.0.0.3", "10.0.0.4"]}]
    assert cells("endpointslices", eps)[3] == "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."


# -- workloads -----------------------------------------------------------------------------


def template(*containers: tuple[str, str], labels: dict | None = None) -> dict:
    return {"metadata": {"labels": labels or {"app": "kubia"}},
            "spec": {"containers": [{"name": n, "image": i} for n, i in containers]}}


def rc(replicas: int | None = 3, status: dict | None = None) -> dict:
    spec: dict[str, Any] = {"selector": {"app": "kubia"}, "template": template(("kubia", "luksa/kubia"))}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": meta("kubia", 7200), "spec": spec,
            "status": status or {}}


RC_CASES = [
    ("scaled-up", rc(3, {"replicas": 3, "readyReplicas": 2, "availableReplicas": 2}),
     ["kubia", 3, 3, 2, "120m", "kubia", "luksa/kubia", "app=kubia"]),
    ("fresh", rc(3), ["kubia", 3, 0, 0, "120m", "kubia", "luksa/kubia", "app=kubia"]),
    ("defaulted-replicas", rc(None, {"replicas": 1, "readyReplicas": 1}),
     ["kubia", 1, 1, 1, "120m", "kubia", "luksa/kubia", "app=kubia"]),
    ("scaled-to-zero", rc(0, {"replicas": 0}), ["kubia", 0, 0, 0, "120m", "kubia", "luksa/kubia", "app=kubia"]),
]


@pytest.mark.parametrize("obj, want", [c[1:] for c in RC_CASES], ids=[c[0] for c in RC_CASES])
def test_replication_controller_cells(obj: dict, want: list) -> None:
    assert cells("replicationcontrollers", obj) == want


def test_replication_controller_without_template() -> None:
    obj = rc(2)
    del obj["spec"]["template"]
    del obj["spec"]["selector"]
    assert cells("replicationcontrollers", obj) == ["kubia", 2, 0, 0, "120m", "", "", "<none>"]


def rs(selector: Any, replicas: int | None = 3, *containers: tuple[str, str], status: dict | None = None) -> dict:
    spec: dict[str, Any] = {"template": template(*(containers or (("kubia", "luksa/kubia"),)))}
    if selector is not None:
        spec["selector"] = selector
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta("kubia-7d9c8f", 86400 * 3), "spec": spec,
            "status": status or {"replicas": replicas or 0, "readyReplicas": replicas or 0}}


RS_CASES = [
    ("match-labels", rs({"matchLabels": {"app": "kubia", "pod-template-hash": "7d9c8f"}}),
     ["kubia-7d9c8f", 3, 3, 3, "3d", "kubia", "luksa/kubia", "app=kubia,pod-template-hash=7d9c8f"]),
    ("match-expressions", rs({"matchLabels": {"app": "kubia"},
                              "matchExpressions": [{"key": "env", "operator": "In", "values": ["stage", "prod"]},
                                                   {"key": "canary", "operator": "DoesNotExist"},
                                                   {"key": "tier", "operator": "NotIn", "values": ["db"]},
                                                   {"key": "zone", "operator": "Exists"}]}, 2,
                             ("web", "nginx:1.27"), ("log", "fluent-bit:3")),
     ["kubia-7d9c8f", 2, 2, 2, "3d", "web,log", "nginx:1.27,fluent-bit:3",
      "app=kubia,!canary,env in (prod,stage),tier notin (db),zone"]),
    ("empty-selector", rs({}), ["kubia-7d9c8f", 3, 3, 3, "3d", "kubia", "luksa/kubia", "<none>"]),
    ("no-selector-defaulted-replicas", rs(None, None, status={}),
     ["kubia-7d9c8f", 1, 0, 0, "3d", "kubia", "luksa/kubia", "<none>"]),
    ("invalid-selector", rs({"matchExpressions": [{"key": "env", "operator": "In", "values": []}]}),
     ["kubia-7d9c8f", 3, 3, 3, "3d", "kubia", "luksa/kubia", "<error>"]),
]


@pytest.mark.parametrize("obj, want", [c[1:] for c in RS_CASES], ids=[c[0] for c in RS_CASES])
def test_replica_set_cells(obj: dict, want: list) -> None:
    assert cells("replicasets", obj) == want


def deployment(replicas: int | None, status: dict, selector: Any = None, *containers: tuple[str, str]) -> dict:
    spec: dict[str, Any] = {"selector": selector if selector is not None else {"matchLabels": {"app": "kubia"}},
                            "template": template(*(containers or (("kubia", "luksa/kubia:v2"),)))}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("kubia", 90), "spec": spec,
            "status": status}


DEPLOYMENT_CASES = [
    ("rolled-out", deployment(3, {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}),
     ["kubia", "3/3", 3, 3, "90s", "kubia", "luksa/kubia:v2", "app=kubia"]),
    ("rolling", deployment(3, {"replicas": 4, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2}),
     ["kubia", "2/3", 1, 2, "90s", "kubia", "luksa/kubia:v2", "app=kubia"]),
    ("new", deployment(None, {}), ["kubia", "0/1", 0, 0, "90s", "kubia", "luksa/kubia:v2", "app=kubia"]),
    ("two-containers-expression", deployment(2, {"readyReplicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
                                             {"matchExpressions": [{"key": "app", "operator": "In",
                                                                    "values": ["kubia"]}]},
                                             ("web", "nginx"), ("sidecar", "busybox")),
     ["kubia", "2/2", 2, 2, "90s", "web,sidecar", "nginx,busybox", "app in (kubia)"]),
    ("empty-selector-is-blank", deployment(1, {}, {}), ["kubia", "0/1", 0, 0, "90s", "kubia", "luksa/kubia:v2", ""]),
    ("invalid-selector", deployment(1, {}, {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}),
     ["kubia", "0/1", 0, 0, "90s", "kubia", "luksa/kubia:v2", "<invalid>"]),
]


@pytest.mark.parametrize("obj, want", [c[1:] for c in DEPLOYMENT_CASES], ids=[c[0] for c in DEPLOYMENT_CASES])
def test_deployment_cells(obj: dict, want: list) -> None:
    assert cells("deployments", obj) == want


# -- networking ----------------------------------------------------------------------------


def ingress(rules: list[dict], *, class_name: str | None = None, tls: list[dict] | None = None,
            lb: list[dict] | None = None) -> dict:
    spec: dict[str, Any] = {"rules": rules}
    if class_name:
        spec["ingressClassName"] = class_name
    if tls:
        spec["tls"] = tls
    backend = {"service": {"name": "kubia", "port": {"number": 80}}}
    for r in rules:
        r.setdefault("http", {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta("kubia", 600), "spec": spec,
            "status": {"loadBalancer": {"ingress": lb} if lb else {}}}


INGRESS_CASES = [
    ("no-class-no-host", ingress([{}]), ["kubia", "<none>", "*", "", "80", "10m"]),
    ("one-host-with-address", ingress([{"host": "kubia.example.com"}], class_name="nginx",
                                      lb=[{"ip": "172.18.0.3"}, {"ip": "172.18.0.2"}]),
     ["kubia", "nginx", "kubia.example.com", "172.18.0.2,172.18.0.3", "80", "10m"]),
    ("tls", ingress([{"host": "kubia.example.com"}, {"host": "foo.example.com"}], class_name="nginx",
                    tls=[{"hosts": ["kubia.example.com"], "secretName": "tls-secret"}], lb=[{"hostname": "lb.local"}]),
     ["kubia", "nginx", "kubia.example.com,foo.example.com", "lb.local", "80, 443", "10m"]),
    ("more-than-three-hosts", ingress([{"host": f"h{i}.example.com"} for i in range(5)]),
     ["kubia", "<none>", "h0.example.com,h1.example.com,h2.example.com + 2 more...", "", "80", "10m"]),
    ("hostless-rule-counted-in-more", ingress([{}, {"host": "a.example.com"}, {"host": "b.example.com"},
                                               {"host": "c.example.com"}, {}]),
     ["kubia", "<none>", "a.example.com,b.example.com,c.example.com + 2 more...", "", "80", "10m"]),
    ("no-rules", ingress([]), ["kubia", "<none>", "*", "", "80", "10m"]),
]


@pytest.mark.parametrize("obj, want", [c[1:] for c in INGRESS_CASES], ids=[c[0] for c in INGRESS_CASES])
def test_ingress_cells(obj: dict, want: list) -> None:
    assert cells("ingresses", obj) == want


def ingress_class(parameters: dict | None = None) -> dict:
    spec: dict[str, Any] = {"controller": "k8s.io/ingress-nginx"}
    if parameters is not None:
        spec["parameters"] = parameters
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": meta("nginx", 86400, namespace=None), "spec": spec}


@pytest.mark.parametrize("obj, want", [
    (ingress_class(), ["nginx", "k8s.io/ingress-nginx", "<none>", "24h"]),
    (ingress_class({"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}),
     ["nginx", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external-lb", "24h"]),
    (ingress_class({"kind": "ConfigMap", "name": "nginx-params", "scope": "Namespace", "namespace": "ingress"}),
     ["nginx", "k8s.io/ingress-nginx", "ConfigMap/nginx-params", "24h"]),
], ids=["no-parameters", "with-api-group", "core-kind"])
def test_ingress_class_cells(obj: dict, want: list) -> None:
    assert cells("ingressclasses", obj) == want


# -- configuration, cluster and coordination ---------------------------------------------

@pytest.mark.parametrize("plural, obj, want", [
    ("secrets", {"metadata": meta("db-pass", 45), "type": "Opaque", "data": {"user": "YWRtaW4=", "pass": "czNjcjN0"}},
     ["db-pass", "Opaque", 2, "45s"]),
    ("secrets", {"metadata": meta("tls-secret", 45), "type": "kubernetes.io/tls",
                 "data": {"tls.crt": "LS0t", "tls.key": "LS0t"}},
     ["tls-secret", "kubernetes.io/tls", 2, "45s"]),
    ("secrets", {"metadata": meta("empty", 45)}, ["empty", "Opaque", 0, "45s"]),
    ("configmaps", {"metadata": meta("fortune-config", 600), "data": {"sleep-interval": "25"},
                    "binaryData": {"logo.png": "iVBORw0K"}},
     ["fortune-config", 2, "10m"]),
    ("configmaps", {"metadata": meta("kube-root-ca.crt", 86400 * 12), "data": {"ca.crt": "-----BEGIN..."}},
     ["kube-root-ca.crt", 1, "12d"]),
    ("configmaps", {"metadata": meta("empty", 5)}, ["empty", 0, "5s"]),
    ("namespaces", {"metadata": meta("default", 86400 * 2, namespace=None), "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"}},
     ["default", "Active", "2d"]),
    ("namespaces", {"metadata": meta("custom", 60, namespace=None, deletionTimestamp=ago(5)),
                    "status": {"phase": "Terminating"}},
     ["custom", "Terminating", "60s"]),
    ("serviceaccounts", {"metadata": meta("default", 86400 * 2)}, ["default", 0, "2d"]),
    ("serviceaccounts", {"metadata": meta("builder", 300), "secrets": [{"name": "builder-token"}]},
     ["builder", 1, "5m"]),
    ("leases", {"metadata": meta("kube-controller-manager", 3600, namespace="kube-system"),
                "spec": {"holderIdentity": "host_8c1e0b7a", "leaseDurationSeconds": 15}},
     ["kube-controller-manager", "host_8c1e0b7a", "60m"]),
    ("leases", {"metadata": meta("node1", 3600, namespace="kube-node-lease"), "spec": {}},
     ["node1", "", "60m"]),
], ids=["secret-opaque", "secret-tls", "secret-empty-defaulted-type", "configmap-data-and-binary", "configmap-ca",
        "configmap-empty", "namespace-active", "namespace-terminating", "serviceaccount-no-secrets",
        "serviceaccount-one-secret", "lease-held", "lease-unheld"])
def test_simple_kind_cells(plural: str, obj: dict, want: list) -> None:
    assert cells(plural, obj) == want


def node(name: str, *, ready: str | None = "True", unschedulable: bool = False, labels: dict | None = None,
         addresses: list[dict] | None = None, node_info: dict | None = None) -> dict:
    conditions = [cond("MemoryPressure", "False"), cond("DiskPressure", "False"), cond("PIDPressure", "False")]
    if ready is not None:
        conditions.append(cond("Ready", ready))
    spec: dict[str, Any] = {"podCIDR": "10.244.1.0/24"}
    if unschedulable:
        spec["unschedulable"] = True
    info = {"kubeletVersion": "v1.32.0", "osImage": "Ubuntu 24.04.1 LTS", "kernelVersion": "6.8.0-51-generic",
            "containerRuntimeVersion": "kubeloop://0.1.0", "operatingSystem": "linux", "architecture": "amd64"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": meta(name, 86400 * 9, namespace=None, labels=labels or {"kubernetes.io/hostname": name}),
            "spec": spec,
            "status": {"conditions": conditions, "nodeInfo": info if node_info is None else node_info,
                       "addresses": addresses if addresses is not None else [
                           {"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": name}]}}


WIDE_NODE = ["172.18.0.2", "<none>", "Ubuntu 24.04.1 LTS", "6.8.0-51-generic", "kubeloop://0.1.0"]

NODE_CASES = [
    ("control-plane", node("control-plane", labels={"node-role.kubernetes.io/control-plane": ""}),
     ["control-plane", "Ready", "control-plane", "9d", "v1.32.0", *WIDE_NODE]),
    ("worker-no-role", node("node1"), ["node1", "Ready", "<none>", "9d", "v1.32.0", *WIDE_NODE]),
    ("not-ready", node("node2", ready="False"), ["node2", "NotReady", "<none>", "9d", "v1.32.0", *WIDE_NODE]),
    ("ready-unknown-status", node("node2", ready="Unknown"),
     ["node2", "NotReady", "<none>", "9d", "v1.32.0", *WIDE_NODE]),
    ("cordoned", node("node1", unschedulable=True),
     ["node1", "Ready,SchedulingDisabled", "<none>", "9d", "v1.32.0", *WIDE_NODE]),
    ("no-ready-condition", node("node3", ready=None, unschedulable=True),
     ["node3", "Unknown,SchedulingDisabled", "<none>", "9d", "v1.32.0", *WIDE_NODE]),
    ("roles-sorted-from-both-labels", node("node1", labels={"node-role.kubernetes.io/worker": "",
                                                            "node-role.kubernetes.io/ingress": "true",
                                                            "kubernetes.io/role": "edge",
                                                            "node-role.kubernetes.io/": ""}),
     ["node1", "Ready", "edge,ingress,worker", "9d", "v1.32.0", *WIDE_NODE]),
    ("external-ip-and-empty-info", node("node1", node_info={},
                                        addresses=[{"type": "ExternalIP", "address": "203.0.113.7"},
                                                   {"type": "InternalIP", "address": "172.18.0.4"}]),
     ["node1", "Ready", "<none>", "9d", "", "172.18.0.4", "203.0.113.7", "<unknown>", "<unknown>", "<unknown>"]),
    ("no-addresses", node("node1", addresses=[]),
     ["node1", "Ready", "<none>", "9d", "v1.32.0", "<none>", "<none>", *WIDE_NODE[2:]]),
]


@pytest.mark.parametrize("obj, want", [c[1:] for c in NODE_CASES], ids=[c[0] for c in NODE_CASES])
def test_node_cells(obj: dict, want: list) -> None:
    assert cells("nodes", obj) == want


def event(**fields: Any) -> dict:
    base: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Event", "metadata": meta("kubia-x.17a8b2c3d4e5f601", 600),
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "kubia-x", "uid": "uid-kubia-x",
                           "apiVersion": "v1", "fieldPath": "spec.containers{kubia}"},
        "reason": "Pulled", "message": "Container image \"luksa/kubia\" already present on machine\n",
        "source": {"component": "kubelet", "host": "node1"}, "type": "Normal",
    }
    base.update(fields)
    return base


EVENT_CASES = [
    ("classic", event(firstTimestamp=ago(600), lastTimestamp=ago(65), count=3),
     ["65s", "Normal", "Pulled", "pod/kubia-x", "spec.containers{kubia}", "kubelet, node1",
      "Container image \"luksa/kubia\" already present on machine", "10m", 3, "kubia-x.17a8b2c3d4e5f601"]),
    ("warning-no-last-timestamp", event(type="Warning", reason="BackOff",
                                        message="Back-off restarting failed container",
                                        firstTimestamp=ago(30), lastTimestamp=None, count=1),
     ["30s", "Warning", "BackOff", "pod/kubia-x", "spec.containers{kubia}", "kubelet, node1",
      "Back-off restarting failed container", "30s", 1, "kubia-x.17a8b2c3d4e5f601"]),
    ("new-api-event-time-only", event(source={}, reportingComponent="default-scheduler",
                                      reportingInstance="default-scheduler-control-plane", reason="Scheduled",
                                      message="Successfully assigned default/kubia-x to node1",
                                      firstTimestamp=None, lastTimestamp=None,
                                      eventTime="2025-01-15T11:59:15.123456Z",
                                      involvedObject={"kind": "Pod", "namespace": "default", "name": "kubia-x"}),
     ["44s", "Normal", "Scheduled", "pod/kubia-x", "", "default-scheduler, default-scheduler-control-plane",
      "Successfully assigned default/kubia-x to node1", "44s", 1, "kubia-x.17a8b2c3d4e5f601"]),
    ("series", event(firstTimestamp=None, lastTimestamp=None, eventTime=ago(3600), count=0,
                     series={"count": 7, "lastObservedTime": "2025-01-15T11:58:00.000000Z"}, source={},
                     reportingComponent="kubelet"),
     ["2m", "Normal", "Pulled", "pod/kubia-x", "spec.containers{kubia}", "kubelet",
      "Container image \"luksa/kubia\" already present on machine", "60m", 7, "kubia-x.17a8b2c3d4e5f601"]),
    ("object-without-name", event(involvedObject={"kind": "Node"}, reason="RegisteredNode", source={"component": "c"},
                                  firstTimestamp=ago(7200), lastTimestamp=ago(7200), count=1),
     ["120m", "Normal", "RegisteredNode", "node", "", "c",
      "Container image \"luksa/kubia\" already present on machine", "120m", 1, "kubia-x.17a8b2c3d4e5f601"]),
    ("deployment-scaling", event(involvedObject={"kind": "Deployment", "name": "kubia", "apiVersion": "apps/v1"},
                                 reason="ScalingReplicaSet", message="Scaled up replica set kubia-7d9c8f to 3",
                                 source={"component": "deployment-controller"}, firstTimestamp=ago(90),
                                 lastTimestamp=ago(90), count=1),
     ["90s", "Normal", "ScalingReplicaSet", "deployment/kubia", "", "deployment-controller",
      "Scaled up replica set kubia-7d9c8f to 3", "90s", 1, "kubia-x.17a8b2c3d4e5f601"]),
    ("no-timestamps", event(count=0), ["<unknown>", "Normal", "Pulled", "pod/kubia-x", "spec.containers{kubia}",
                                       "kubelet, node1", "Container image \"luksa/kubia\" already present on machine",
                                       "<unknown>", 1, "kubia-x.17a8b2c3d4e5f601"]),
]


@pytest.mark.parametrize("obj, want", [c[1:] for c in EVENT_CASES], ids=[c[0] for c in EVENT_CASES])
def test_event_cells(obj: dict, want: list) -> None:
    assert cells("events", obj) == want


# -- robustness ---------------------------------------------------------------------------


@pytest.mark.parametrize("resource", [*RESOURCES, WIDGETS], ids=lambda r: r.plural)
@pytest.mark.parametrize("obj", [{}, {"metadata": {"name": "bare"}}], ids=["empty", "name-only"])
def test_every_kind_prints_a_bare_object_with_one_cell_per_column(resource: ResourceType, obj: dict) -> None:
    row = row_cells(resource, obj, NOW)
    assert len(row) == len(column_definitions(resource))
    assert all(isinstance(c, (str, int)) for c in row)


def test_naive_now_is_taken_as_utc() -> None:
    obj = {"metadata": meta("cm", 300)}
    assert row_cells(by_plural("configmaps"), obj, NOW.replace(tzinfo=None)) == ["cm", 0, "5m"]


def test_clock_skew_into_the_future() -> None:
    assert cells("configmaps", {"metadata": {"name": "a", "creationTimestamp": ago(-1)}})[2] == "0s"
    assert cells("configmaps", {"metadata": {"name": "b", "creationTimestamp": ago(-30)}})[2] == "<invalid>"


# -- Table envelopes ------------------------------------------------------------------------


def test_table_with_metadata_rows() -> None:
    pods = [pod("kubia-a", statuses=[running()], conditions=READY), pod("kubia-b", statuses=[waiting()])]
    pods[0]["metadata"]["labels"] = {"app": "kubia"}
    t = table(by_plural("pods"), pods, resource_version="107", now=NOW)
    assert t["kind"] == "Table"
    assert t["apiVersion"] == "meta.k8s.io/v1"
    assert t["metadata"] == {"resourceVersion": "107"}
    assert t["columnDefinitions"] == column_definitions(by_plural("pods"))
    assert [r["cells"] for r in t["rows"]] == [
        ["kubia-a", "1/1", "Running", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"],
        ["kubia-b", "0/1", "ContainerCreating", "0", "5m", "10.244.1.5", "node1", "<none>", "<none>"],
    ]
    assert t["rows"][0]["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                      "metadata": pods[0]["metadata"]}
    assert "conditions" not in t["rows"][0]
    json.dumps(t)  # wire-ready


@pytest.mark.parametrize("include", ["Metadata", ""])
def test_table_metadata_is_the_default(include: str) -> None:
    svc = service(selector={"app": "kubia"})
    row = table(by_plural("services"), [svc], resource_version="9", include_object=include, now=NOW)["rows"][0]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["uid"] == "uid-kubia"


def test_table_with_whole_objects() -> None:
    svc = service(selector={"app": "kubia"})
    row = table(by_plural("services"), [svc], resource_version="9", include_object="Object", now=NOW)["rows"][0]
    assert row["object"] == svc
    bare = {"metadata": meta("cm", 5), "data": {"a": "b"}}  # stored without apiVersion/kind
    row = table(by_plural("configmaps"), [bare], resource_version="9", include_object="Object", now=NOW)["rows"][0]
    assert row["object"] == {"kind": "ConfigMap", "apiVersion": "v1", **bare}
    assert "kind" not in bare


def test_table_without_objects() -> None:
    t = table(by_plural("deployments"), [deployment(3, {"readyReplicas": 3, "updatedReplicas": 3,
                                                         "availableReplicas": 3})],
              resource_version="12", include_object="None", now=NOW)
    assert t["rows"] == [{"cells": ["kubia", "3/3", 3, 3, "90s", "kubia", "luksa/kubia:v2", "app=kubia"]}]


def test_table_rejects_unknown_include_object() -> None:
    with pytest.raises(BadRequest) as err:
        table(by_plural("pods"), [], resource_version="1", include_object="Everything")
    assert err.value.message == ("includeObject: Invalid value: \"Everything\": must be 'Metadata', 'Object', "
                                 "'None', or empty")


def test_empty_table_still_has_columns() -> None:
    t = table(by_plural("ingresses"), [], resource_version="55", now=NOW)
    assert t["rows"] == []
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Class", "Hosts", "Address", "Ports", "Age"]


def test_empty_resource_version_is_omitted_like_list_meta() -> None:
    assert table(by_plural("pods"), [], resource_version="", now=NOW)["metadata"] == {}


def test_finished_pods_carry_row_conditions() -> None:
    done = pod("job-x", phase="Succeeded", statuses=[terminated()])
    failed = pod("job-y", phase="Failed", statuses=[terminated(reason="Error", exit_code=1)])
    rows = table(by_plural("pods"), [done, failed], resource_version="3", now=NOW)["rows"]
    assert rows[0]["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                      "message": "The pod has completed successfully."}]
    assert rows[1]["conditions"] == [{"type": "Completed", "status": "True", "reason": "Failed",
                                      "message": "The pod failed."}]


def test_table_defaults_now_to_the_current_time() -> None:
    fresh = {"metadata": {"name": "cm", "creationTimestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    age = table(by_plural("configmaps"), [fresh], resource_version="1")["rows"][0]["cells"][2]
    assert age in ("0s", "1s", "2s")


def test_table_does_not_modify_its_input() -> None:
    p = pod(statuses=[running()], conditions=READY)
    snapshot = json.dumps(p, sort_keys=True)
    for include in printers.INCLUDE_OBJECT_MODES:
        table(by_plural("pods"), [p], resource_version="1", include_object=include, now=NOW)
    assert json.dumps(p, sort_keys=True) == snapshot
