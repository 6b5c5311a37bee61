"""Patch semantics: RFC 7386 merge patch, RFC 6902 JSON patch, strategic merge patch, apply."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubeloop.api import errors, registry
from kubeloop.api.patch import (
    MERGE_KEYS,
    UnprocessablePatch,
    apply_patch,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)


def directives(value: Any, path: str = "") -> list[str]:
    """Every key anywhere in `value` that looks like an SMP directive (`$...`)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, child in value.items():
            if key.startswith("$"):
                found.append(f"{path}.{key}")
            found += directives(child, f"{path}.{key}")
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += directives(child, f"{path}[{i}]")
    return found


# ---------------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch
# ---------------------------------------------------------------------------------------------

# RFC 7386 Appendix A (the rows whose patch is an object; kubeloop patches objects only).
RFC7386_CASES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    # Section 3's worked example.
    (
        {
            "title": "Goodbye!",
            "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"],
            "content": "This will be unchanged",
        },
        {"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": None}, "tags": ["example"]},
        {
            "title": "Hello!",
            "author": {"givenName": "John"},
            "tags": ["example"],
            "content": "This will be unchanged",
            "phoneNumber": "+01-123-456-7890",
        },
    ),
    # Kubernetes flavour: scale and a status patch, lists are replaced not merged.
    (
        {"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}},
        {"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "c"}]}}}},
        {"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "c"}]}}}},
    ),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC7386_CASES)
def test_merge_patch_rfc7386(target: Any, patch: dict, expected: dict) -> None:
    assert merge_patch(target, patch) == expected


@pytest.mark.parametrize("patch", [["c"], "bar", None, 3])
def test_merge_patch_rejects_non_object_patch(patch: Any) -> None:
    with pytest.raises(errors.BadRequest):
        merge_patch({"a": "b"}, patch)


def test_merge_patch_does_not_mutate_or_alias() -> None:
    target = {"a": {"b": [1, 2]}, "c": {"d": 1}}
    patch = {"a": {"x": [3]}, "c": None, "n": {"m": {"k": 1}}}
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    result = merge_patch(target, patch)
    assert result == {"a": {"b": [1, 2], "x": [3]}, "n": {"m": {"k": 1}}}
    result["a"]["b"].append(9)
    result["a"]["x"].append(9)
    result["n"]["m"]["k"] = 2
    assert target == target_before and patch == patch_before


# ---------------------------------------------------------------------------------------------
# RFC 6902 JSON patch
# ---------------------------------------------------------------------------------------------

# RFC 6902 Appendix A (successful examples), plus a few Kubernetes-shaped ones.
RFC6902_CASES = [
    ("A.1 add member", {"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    (
        "A.2 add array element",
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    ("A.3 remove member", {"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    (
        "A.4 remove array element",
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
    ),
    (
        "A.5 replace",
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        "A.6 move member",
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        "A.7 move array element",
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        "A.8 test success",
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (
        "A.10 add nested object",
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    (
        "A.11 unrecognized members ignored",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
    ),
    ("A.14 escape ordering", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    (
        "A.16 add array value with -",
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
    (
        "~1 escapes a slash in an annotation key",
        {"metadata": {"annotations": {}}},
        [{"op": "add", "path": "/metadata/annotations/example.com~1owner", "value": "me"}],
        {"metadata": {"annotations": {"example.com/owner": "me"}}},
    ),
    (
        "copy",
        {"spec": {"a": {"x": 1}}},
        [{"op": "copy", "from": "/spec/a", "path": "/spec/b"}],
        {"spec": {"a": {"x": 1}, "b": {"x": 1}}},
    ),
    (
        "add replaces an existing member",
        {"spec": {"replicas": 1}},
        [{"op": "add", "path": "/spec/replicas", "value": 5}],
        {"spec": {"replicas": 5}},
    ),
    (
        "add at the array length appends",
        {"l": [1, 2]},
        [{"op": "add", "path": "/l/2", "value": 3}],
        {"l": [1, 2, 3]},
    ),
    ("move to itself is a no-op", {"a": 1}, [{"op": "move", "from": "/a", "path": "/a"}], {"a": 1}),
    (
        "operations apply in sequence",
        {"spec": {"replicas": 1}},
        [
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 2},
            {"op": "test", "path": "/spec/replicas", "value": 2},
            {"op": "add", "path": "/spec/paused", "value": True},
            {"op": "remove", "path": "/spec/replicas"},
        ],
        {"spec": {"paused": True}},
    ),
    ("replace the whole document", {"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}], {"b": 2}),
    ("test null value", {"a": None}, [{"op": "test", "path": "/a", "value": None}], {"a": None}),
    ("empty patch", {"a": 1}, [], {"a": 1}),
]


@pytest.mark.parametrize(
    ("target", "ops", "expected"), [c[1:] for c in RFC6902_CASES], ids=[c[0] for c in RFC6902_CASES]
)
def test_json_patch_rfc6902(target: dict, ops: list, expected: dict) -> None:
    assert json_patch(target, ops) == expected


# Operations that cannot be applied: kube-apiserver answers 422 (reason Invalid).
RFC6902_FAILURES = [
    ("A.9 test fails", {"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}]),
    ("A.12 add to a nonexistent target", {"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}]),
    ("A.15 string is not number", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}]),
    ("test true is not 1", {"a": 1}, [{"op": "test", "path": "/a", "value": True}]),
    ("test of a missing path", {"a": 1}, [{"op": "test", "path": "/b", "value": None}]),
    ("remove a missing member", {"a": 1}, [{"op": "remove", "path": "/b"}]),
    ("replace a missing member", {"a": 1}, [{"op": "replace", "path": "/b", "value": 2}]),
    ("index out of bounds", {"l": [1]}, [{"op": "add", "path": "/l/5", "value": 2}]),
    ("remove past the end", {"l": [1]}, [{"op": "remove", "path": "/l/1"}]),
    ("- only for add", {"l": [1]}, [{"op": "replace", "path": "/l/-", "value": 2}]),
    ("leading zero index", {"l": [1, 2]}, [{"op": "replace", "path": "/l/01", "value": 2}]),
    ("non-numeric index", {"l": [1, 2]}, [{"op": "remove", "path": "/l/x"}]),
    ("descend into a scalar", {"a": 1}, [{"op": "add", "path": "/a/b", "value": 2}]),
    ("pointer without leading slash", {"a": 1}, [{"op": "remove", "path": "a"}]),
    ("bad ~ escape", {"a": 1}, [{"op": "add", "path": "/~2", "value": 1}]),
    ("unknown op", {"a": 1}, [{"op": "frobnicate", "path": "/a"}]),
    ("missing op", {"a": 1}, [{"path": "/a", "value": 2}]),
    ("missing path", {"a": 1}, [{"op": "add", "value": 2}]),
    ("missing value", {"a": 1}, [{"op": "replace", "path": "/a"}]),
    ("missing from", {"a": 1}, [{"op": "move", "path": "/b"}]),
    ("move into its own child", {"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}]),
    ("move into its own child, array", {"l": [{"a": 1}, {"b": 2}]}, [{"op": "move", "from": "/l/0", "path": "/l/0/x"}]),
    ("move from a missing path", {"a": 1}, [{"op": "move", "from": "/x", "path": "/y"}]),
    ("remove the whole document", {"a": 1}, [{"op": "remove", "path": ""}]),
    ("result is not an object", {"a": 1}, [{"op": "replace", "path": "", "value": [1]}]),
]


@pytest.mark.parametrize(("target", "ops"), [c[1:] for c in RFC6902_FAILURES], ids=[c[0] for c in RFC6902_FAILURES])
def test_json_patch_failures_are_422(target: dict, ops: list) -> None:
    before = copy.deepcopy(target)
    with pytest.raises(UnprocessablePatch) as info:
        json_patch(target, ops)
    err = info.value
    assert isinstance(err, errors.Invalid) and isinstance(err, errors.APIError)
    status = err.status()
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert status["message"].startswith("the server rejected our request due to an error in our request")
    assert target == before


def test_json_patch_failure_message_names_the_operation() -> None:
    ops = [{"op": "add", "path": "/a", "value": 1}, {"op": "test", "path": "/spec/replicas", "value": 3}]
    with pytest.raises(UnprocessablePatch, match=r"operation 1 \(test /spec/replicas\)"):
        json_patch({"spec": {"replicas": 2}}, ops)


@pytest.mark.parametrize(
    "ops", [{"op": "add"}, "nope", None, [["add", "/a", 1]], [{"op": "add", "path": "/a", "value": 1}, 3]]
)
def test_json_patch_undecodable_body_is_400(ops: Any) -> None:
    with pytest.raises(errors.BadRequest):
        json_patch({"a": 1}, ops)


def test_json_patch_is_atomic_and_does_not_alias() -> None:
    target = {"spec": {"replicas": 1, "l": [{"x": 1}]}}
    value = {"deep": [1]}
    ops = [
        {"op": "add", "path": "/spec/new", "value": value},
        {"op": "copy", "from": "/spec/l", "path": "/spec/l2"},
    ]
    before = copy.deepcopy(target)
    result = json_patch(target, ops)
    result["spec"]["new"]["deep"].append(2)
    result["spec"]["l2"][0]["x"] = 9
    assert value == {"deep": [1]}
    assert result["spec"]["l"] == [{"x": 1}]
    assert target == before
    with pytest.raises(UnprocessablePatch):
        json_patch(target, [{"op": "replace", "path": "/spec/replicas", "value": 7}, {"op": "remove", "path": "/nope"}])
    assert target == before


# ---------------------------------------------------------------------------------------------
# Strategic merge patch
# ---------------------------------------------------------------------------------------------

POD = ("v1", "Pod")
SVC = ("v1", "Service")
DEPLOY = ("apps/v1", "Deployment")
NODE = ("v1", "Node")

LAST_APPLIED = (
    json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"annotations": {}, "name": "kubia", "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": 8081, "targetPort": 8080}], "selector": {"app": "kubia"}},
        },
        separators=(",", ":"),
    )
    + "\n"
)


def _pod_spec(*containers: dict) -> dict:
    return {"spec": {"containers": list(containers)}}


def _deploy(template_spec: dict, **spec: Any) -> dict:
    return {"spec": {**spec, "template": {"metadata": {"labels": {"app": "x"}}, "spec": template_spec}}}


SMP_CASES: list[tuple[str, tuple[str, str], dict, dict, dict]] = [
    (
        "kubectl apply 3-way diff: service port 80 -> 8081",
        SVC,
        {
            "metadata": {"name": "kubia", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old"}},
            "spec": {
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                "selector": {"app": "kubia"},
                "clusterIP": "10.96.0.10",
            },
        },
        {
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": LAST_APPLIED}},
            "spec": {
                "$setElementOrder/ports": [{"port": 8081}],
                "ports": [{"name": "http", "port": 8081, "targetPort": 8080}, {"$patch": "delete", "port": 80}],
            },
        },
        {
            "metadata": {
                "name": "kubia",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": LAST_APPLIED},
            },
            "spec": {
                "ports": [{"name": "http", "port": 8081, "targetPort": 8080}],
                "selector": {"app": "kubia"},
                "clusterIP": "10.96.0.10",
            },
        },
    ),
    (
        "service ports merged by port",
        SVC,
        {
            "spec": {
                "ports": [
                    {"name": "http", "port": 80, "targetPort": 8080},
                    {"name": "https", "port": 443, "targetPort": 8443},
                ]
            }
        },
        {"spec": {"ports": [{"port": 443, "targetPort": 9443}]}},
        {
            "spec": {
                "ports": [
                    {"name": "http", "port": 80, "targetPort": 8080},
                    {"name": "https", "port": 443, "targetPort": 9443},
                ]
            }
        },
    ),
    (
        "containers merged by name",
        POD,
        _pod_spec({"name": "app", "image": "app:1", "args": ["a"]}, {"name": "side", "image": "side:1"}),
        _pod_spec({"name": "side", "image": "side:2"}),
        _pod_spec({"name": "app", "image": "app:1", "args": ["a"]}, {"name": "side", "image": "side:2"}),
    ),
    (
        "a new container goes before the live ones without $setElementOrder (as upstream)",
        POD,
        _pod_spec({"name": "app", "image": "app:1"}),
        _pod_spec({"name": "side", "image": "side:1"}),
        _pod_spec({"name": "side", "image": "side:1"}, {"name": "app", "image": "app:1"}),
    ),
    (
        "container ports merged by containerPort",
        POD,
        _pod_spec({"name": "app", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}]}),
        _pod_spec({"name": "app", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 9090}]}),
        _pod_spec(
            {
                "name": "app",
                "ports": [
                    {"containerPort": 80, "name": "http", "protocol": "TCP"},
                    {"containerPort": 9090},
                    {"containerPort": 443},
                ],
            }
        ),
    ),
    (
        "env merged by name, $patch delete removes one, volumeMounts by mountPath",
        POD,
        _pod_spec(
            {
                "name": "app",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "volumeMounts": [{"name": "v", "mountPath": "/data"}],
            }
        ),
        _pod_spec(
            {
                "name": "app",
                "env": [{"name": "A", "value": "9"}, {"$patch": "delete", "name": "B"}],
                "volumeMounts": [{"mountPath": "/data", "readOnly": True}],
            }
        ),
        _pod_spec(
            {
                "name": "app",
                "env": [{"name": "A", "value": "9"}],
                "volumeMounts": [{"name": "v", "mountPath": "/data", "readOnly": True}],
            }
        ),
    ),
    (
        "$setElementOrder orders patch items, server-only items keep their place",
        POD,
        _pod_spec(*({"name": n} for n in ["c1", "c2", "c9", "c3", "c4"])),
        {"spec": {"$setElementOrder/containers": [{"name": n} for n in ["c2", "c1", "c4", "c3"]]}},
        _pod_spec(*({"name": n} for n in ["c2", "c1", "c9", "c4", "c3"])),
    ),
    (
        "$setElementOrder places an added item",
        POD,
        _pod_spec({"name": "a", "image": "a"}, {"name": "b", "image": "b"}),
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "a"}, {"name": "new"}, {"name": "b"}],
                "containers": [{"name": "new", "image": "n"}],
            }
        },
        _pod_spec({"name": "a", "image": "a"}, {"name": "new", "image": "n"}, {"name": "b", "image": "b"}),
    ),
    (
        "$retainKeys on deployment strategy drops rollingUpdate",
        DEPLOY,
        {
            "spec": {
                "replicas": 2,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            }
        },
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}},
        {"spec": {"replicas": 2, "strategy": {"type": "Recreate"}}},
    ),
    (
        "$retainKeys on a volume switches its source",
        DEPLOY,
        _deploy({"volumes": [{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]}),
        _deploy({"volumes": [{"$retainKeys": ["configMap", "name"], "name": "v", "configMap": {"name": "cm"}}]}),
        _deploy({"volumes": [{"name": "v", "configMap": {"name": "cm"}}, {"name": "w", "emptyDir": {}}]}),
    ),
    (
        "$deleteFromPrimitiveList on finalizers",
        POD,
        {"metadata": {"name": "p", "finalizers": ["a/x", "b/y", "c/z"]}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b/y", "not/there"]}},
        {"metadata": {"name": "p", "finalizers": ["a/x", "c/z"]}},
    ),
    (
        "finalizers merged as a set, with kubectl's order and deletion directives",
        SVC,
        {"metadata": {"finalizers": ["a", "b"]}},
        {
            "metadata": {
                "$setElementOrder/finalizers": ["c", "a"],
                "$deleteFromPrimitiveList/finalizers": ["b"],
                "finalizers": ["c"],
            }
        },
        {"metadata": {"finalizers": ["c", "a"]}},
    ),
    (
        "null deletes keys at any depth",
        DEPLOY,
        {
            "metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}},
            "spec": {"paused": True, "replicas": 1},
        },
        {"metadata": {"labels": {"a": None}, "annotations": None}, "spec": {"paused": None, "missing": None}},
        {"metadata": {"labels": {"b": "2"}}, "spec": {"replicas": 1}},
    ),
    (
        "pod template inside a deployment: containers, ports, env",
        DEPLOY,
        _deploy(
            {
                "containers": [
                    {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                    {"name": "b", "image": "b:1"},
                ]
            },
            replicas=1,
        ),
        _deploy({"containers": [{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]}]}, replicas=3),
        _deploy(
            {
                "containers": [
                    {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}]},
                    {"name": "b", "image": "b:1"},
                ]
            },
            replicas=3,
        ),
    ),
    (
        "pod template inside a replication controller",
        ("v1", "ReplicationController"),
        _deploy({"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}),
        _deploy({"containers": [{"name": "b", "image": "b:2"}]}),
        _deploy({"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}]}),
    ),
    (
        "lists without a merge strategy are replaced",
        POD,
        _pod_spec({"name": "a", "args": ["x", "y"]})
        | {"status": {"containerStatuses": [{"name": "a"}, {"name": "b"}]}},
        {
            "spec": {"containers": [{"name": "a", "args": ["z"]}], "tolerations": [{"key": "k"}]},
            "status": {"containerStatuses": [{"name": "b"}]},
        },
        {
            "spec": {"containers": [{"name": "a", "args": ["z"]}], "tolerations": [{"key": "k"}]},
            "status": {"containerStatuses": [{"name": "b"}]},
        },
    ),
    (
        "$patch replace on a map",
        DEPLOY,
        {"spec": {"selector": {"matchLabels": {"a": "1", "b": "2"}}}},
        {"spec": {"selector": {"$patch": "replace", "matchLabels": {"c": "3"}}}},
        {"spec": {"selector": {"matchLabels": {"c": "3"}}}},
    ),
    (
        "$patch delete on a map",
        POD,
        {"metadata": {"name": "p", "labels": {"a": "1"}}},
        {"metadata": {"labels": {"$patch": "delete"}}},
        {"metadata": {"name": "p"}},
    ),
    (
        "$patch merge on a map is the default",
        POD,
        {"metadata": {"labels": {"a": "1"}}},
        {"metadata": {"labels": {"$patch": "merge", "b": "2"}}},
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
    ),
    (
        "$patch replace in a merge list",
        POD,
        _pod_spec({"name": "a"}, {"name": "b"}),
        _pod_spec({"name": "c", "image": "c"}, {"$patch": "replace"}),
        _pod_spec({"name": "c", "image": "c"}),
    ),
    (
        "ownerReferences merged by uid",
        ("apps/v1", "ReplicaSet"),
        {
            "metadata": {
                "ownerReferences": [{"uid": "u1", "name": "d1", "controller": True}, {"uid": "u2", "name": "d2"}]
            }
        },
        {"metadata": {"ownerReferences": [{"uid": "u2", "blockOwnerDeletion": True}]}},
        {
            "metadata": {
                "ownerReferences": [
                    {"uid": "u1", "name": "d1", "controller": True},
                    {"uid": "u2", "name": "d2", "blockOwnerDeletion": True},
                ]
            }
        },
    ),
    (
        "pod status: conditions by type, podIPs by ip",
        POD,
        {
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
            }
        },
        {
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "podIPs": [{"ip": "10.0.0.5"}],
            }
        },
        {
            "status": {
                "phase": "Running",
                "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
                "podIPs": [{"ip": "10.0.0.5"}],
            }
        },
    ),
    (
        "node: addresses and conditions by type, podCIDRs as a set",
        NODE,
        {
            "spec": {"podCIDRs": ["10.0.0.0/24"]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "1.1.1.1"}, {"type": "Hostname", "address": "n"}]
            },
        },
        {
            "spec": {"podCIDRs": ["10.0.0.0/24", "fd00::/64"]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "2.2.2.2"}],
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
        {
            "spec": {"podCIDRs": ["10.0.0.0/24", "fd00::/64"]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "2.2.2.2"}, {"type": "Hostname", "address": "n"}],
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
    ),
    (
        "directives inside fields the live object lacks are applied, not stored",
        SVC,
        {"metadata": {"name": "s"}},
        {
            "spec": {
                "$setElementOrder/ports": [{"port": 80}],
                "ports": [{"port": 80}, {"$patch": "delete", "port": 81}],
                "selector": {"$patch": "replace", "app": "x"},
                "sessionAffinityConfig": {"$patch": "delete"},
            },
            "metadata": {"$deleteFromPrimitiveList/finalizers": ["x"], "labels": {"$retainKeys": ["a"], "a": "1"}},
        },
        {"metadata": {"name": "s", "labels": {"a": "1"}}, "spec": {"ports": [{"port": 80}], "selector": {"app": "x"}}},
    ),
    (
        "ingress rules have no merge key: replaced",
        ("networking.k8s.io/v1", "Ingress"),
        {"spec": {"rules": [{"host": "a"}, {"host": "b"}]}},
        {"spec": {"rules": [{"host": "c"}]}},
        {"spec": {"rules": [{"host": "c"}]}},
    ),
    (
        "unknown kind: merge patch semantics, directives still stripped",
        ("example.com/v1", "Widget"),
        {"spec": {"items": [{"name": "a"}, {"name": "b"}], "m": {"x": 1, "y": 2}}},
        {
            "spec": {
                "items": [{"name": "c", "$patch": "merge"}, {"$patch": "delete", "name": "z"}],
                "m": {"x": None, "$retainKeys": ["y", "z"], "z": 3},
            }
        },
        {"spec": {"items": [{"name": "c"}], "m": {"y": 2, "z": 3}}},
    ),
]


@pytest.mark.parametrize(
    ("gvk", "target", "patch", "expected"), [c[1:] for c in SMP_CASES], ids=[c[0] for c in SMP_CASES]
)
def test_strategic_merge_patch(gvk: tuple[str, str], target: dict, patch: dict, expected: dict) -> None:
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    result = strategic_merge_patch(target, patch, *gvk)
    assert result == expected
    assert directives(result) == []
    assert target == target_before and patch == patch_before


def test_kubectl_reapply_is_a_fixed_point() -> None:
    """After the 3-way patch, applying the same patch again changes nothing (kubectl `unchanged`)."""
    _, gvk, live, patch, expected = SMP_CASES[0]
    once = strategic_merge_patch(live, patch, *gvk)
    assert strategic_merge_patch(once, patch, *gvk) == once == expected
    assert "$patch" not in json.dumps(once)


def test_strategic_merge_patch_top_level_directives() -> None:
    assert strategic_merge_patch({"a": 1}, {"$patch": "delete"}, *POD) == {}
    assert strategic_merge_patch({"a": 1, "b": 2}, {"$patch": "replace", "c": 3}, *POD) == {"c": 3}


def test_strategic_merge_patch_result_does_not_alias_inputs() -> None:
    live = _pod_spec({"name": "a", "env": [{"name": "X", "value": "1"}]})
    patch = _pod_spec({"name": "b", "args": ["x"]}) | {"metadata": {"labels": {"l": "v"}}}
    before_live, before_patch = copy.deepcopy(live), copy.deepcopy(patch)
    result = strategic_merge_patch(live, patch, *POD)
    for container in result["spec"]["containers"]:
        container["mutated"] = True
        container.get("args", []).append("y")
        container.get("env", [{}])[0]["value"] = "changed"
    result["metadata"]["labels"]["l"] = "changed"
    assert live == before_live and patch == before_patch


SMP_ERRORS = [
    ("merge list element without its merge key", SVC, {"spec": {"ports": [{"targetPort": 80}]}}),
    ("$patch delete without merge key", POD, _pod_spec({"$patch": "delete", "image": "x"})),
    ("unknown $patch in a map", POD, {"metadata": {"labels": {"$patch": "explode"}}}),
    ("unknown $patch in a list", POD, _pod_spec({"$patch": "explode", "name": "a"})),
    ("patch key outside $retainKeys", DEPLOY, {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
    ("$retainKeys is not a list", DEPLOY, {"spec": {"strategy": {"$retainKeys": "type"}}}),
    (
        "patch order contradicts $setElementOrder",
        POD,
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [{"name": "b"}, {"name": "a"}],
            }
        },
    ),
    ("$setElementOrder is not a list", POD, {"spec": {"$setElementOrder/containers": {"name": "a"}}}),
    ("$deleteFromPrimitiveList is not a list", POD, {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
    ("scalars in a list merged by key", POD, {"spec": {"containers": ["a"]}}),
    ("objects in a set list", POD, {"metadata": {"finalizers": [{"name": "a"}]}}),
]


@pytest.mark.parametrize(("gvk", "patch"), [c[1:] for c in SMP_ERRORS], ids=[c[0] for c in SMP_ERRORS])
def test_strategic_merge_patch_errors(gvk: tuple[str, str], patch: dict) -> None:
    live = {"metadata": {"finalizers": ["a"]}, **_pod_spec({"name": "a"}, {"name": "b"}), "status": {}}
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    with pytest.raises(errors.BadRequest):
        strategic_merge_patch(live, patch, *gvk)


def test_strategic_merge_patch_rejects_non_object() -> None:
    with pytest.raises(errors.BadRequest):
        strategic_merge_patch({}, [{"op": "add"}], *POD)  # type: ignore[arg-type]


def test_merge_key_table_covers_exactly_the_registry() -> None:
    served = {(r.api_version, r.kind) for r in registry.RESOURCES}
    assert set(MERGE_KEYS) == served


@pytest.mark.parametrize(
    ("gvk", "path", "key"),
    [
        (POD, "spec.containers", "name"),
        (POD, "spec.initContainers[].ports", "containerPort"),
        (POD, "spec.ephemeralContainers[].volumeDevices", "devicePath"),
        (POD, "spec.hostAliases", "ip"),
        (POD, "spec.topologySpreadConstraints", "topologyKey"),
        (POD, "status.hostIPs", "ip"),
        (POD, "metadata.finalizers", ""),
        (SVC, "spec.ports", "port"),
        (SVC, "status.conditions", "type"),
        (DEPLOY, "spec.template.spec.containers[].volumeMounts", "mountPath"),
        (DEPLOY, "spec.template.spec.imagePullSecrets", "name"),
        (DEPLOY, "spec.template.metadata.ownerReferences", "uid"),
        (("v1", "ServiceAccount"), "secrets", "name"),
        (("v1", "Namespace"), "status.conditions", "type"),
        (("discovery.k8s.io/v1", "EndpointSlice"), "metadata.ownerReferences", "uid"),
    ],
)
def test_merge_key_table_entries(gvk: tuple[str, str], path: str, key: str) -> None:
    assert MERGE_KEYS[gvk][path] == key


@pytest.mark.parametrize(
    ("gvk", "path"),
    [
        (("discovery.k8s.io/v1", "EndpointSlice"), "endpoints"),
        (("v1", "Endpoints"), "subsets"),
        (("networking.k8s.io/v1", "Ingress"), "spec.rules"),
        (POD, "spec.tolerations"),
        (POD, "status.containerStatuses"),
        (NODE, "spec.taints"),
        (("v1", "Namespace"), "spec.finalizers"),
    ],
)
def test_replaced_lists_have_no_merge_key(gvk: tuple[str, str], path: str) -> None:
    assert path not in MERGE_KEYS[gvk]


# ---------------------------------------------------------------------------------------------
# Server-side apply approximation
# ---------------------------------------------------------------------------------------------

RC_MANIFEST = {
    "apiVersion": "v1",
    "kind": "ReplicationController",
    "metadata": {"name": "kubia", "namespace": "default", "labels": {"app": "kubia"}},
    "spec": {
        "replicas": 3,
        "selector": {"app": "kubia"},
        "template": {
            "metadata": {"labels": {"app": "kubia"}},
            "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia", "ports": [{"containerPort": 8080}]}]},
        },
    },
}


def test_apply_patch_creates_from_the_manifest() -> None:
    before = copy.deepcopy(RC_MANIFEST)
    result = apply_patch(None, RC_MANIFEST, "v1", "ReplicationController")
    assert result == RC_MANIFEST
    result["spec"]["template"]["spec"]["containers"][0]["image"] = "changed"
    assert RC_MANIFEST == before


def test_apply_patch_merges_onto_live() -> None:
    live = copy.deepcopy(RC_MANIFEST)
    live["metadata"].update(
        uid="u-1", resourceVersion="7", annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    )
    live["spec"]["replicas"] = 1
    live["spec"]["template"]["spec"]["containers"][0].update(
        imagePullPolicy="Always", terminationMessagePath="/dev/termination-log"
    )
    live["status"] = {"replicas": 1, "conditions": [{"type": "ReplicaFailure", "status": "False"}]}
    applied = copy.deepcopy(RC_MANIFEST)
    applied["spec"]["template"]["spec"]["containers"][0]["image"] = "luksa/kubia:v2"
    live_before = copy.deepcopy(live)

    result = apply_patch(live, applied, "v1", "ReplicationController")

    assert live == live_before
    assert result["spec"]["replicas"] == 3
    assert result["metadata"]["uid"] == "u-1" and result["metadata"]["resourceVersion"] == "7"
    assert result["status"] == live["status"]
    assert result["spec"]["template"]["spec"]["containers"] == [
        {
            "name": "kubia",
            "image": "luksa/kubia:v2",
            "ports": [{"containerPort": 8080}],
            "imagePullPolicy": "Always",
            "terminationMessagePath": "/dev/termination-log",
        }
    ]


def test_apply_patch_strips_directives_on_create() -> None:
    manifest = {
        "metadata": {"name": "x", "labels": {"$patch": "replace", "a": "b"}},
        "spec": {"$setElementOrder/ports": [{"port": 1}], "ports": [{"port": 1}]},
    }
    result = apply_patch(None, manifest, "v1", "Service")
    assert result == {"metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {"ports": [{"port": 1}]}}
