"""The Deployment controller's arithmetic (maxSurge/maxUnavailable, rolling steps, proportional
scaling, revisions, conditions) and its sync loop over a fake API and fake ReplicaSet manager."""

from __future__ import annotations

import copy
import itertools
from collections import defaultdict
from typing import Any

import pytest

from kubeloop.api import errors, times
from kubeloop.controllers import deployment as dc
from kubeloop.controllers.deployment import (
    DESIRED_REPLICAS, HASH_LABEL, MAX_REPLICAS, REVISION, REVISION_HISTORY, RSView, calculate_status,
    compute_hash, equal_ignore_hash, find_active_or_latest, max_surge, max_unavailable, new_rs_new_replicas,
    plan_old_scale_down, plan_scale, resolve_fenceposts, scaled_value, set_condition, set_new_rs_annotations,
)

Obj = dict[str, Any]


def deployment(replicas: int = 3, surge: Any = "25%", unavailable: Any = "25%", *, strategy: str = "RollingUpdate",
               name: str = "web", generation: int = 1, status: Obj | None = None, **spec: Any) -> Obj:
    strat: Obj = {"type": strategy}
    if strategy == "RollingUpdate":
        strat["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "generation": generation},
        "spec": {"replicas": replicas, "strategy": strat, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia"}]}},
                 **spec},
        "status": status or {},
    }


_seq = itertools.count()


def rs(name: str, replicas: int, available: int | None = None, *, pods: int | None = None, created: str = "",
       revision: int | None = None, annotations: Obj | None = None) -> RSView:
    ann = dict(annotations or {})
    if revision is not None:
        ann[REVISION] = str(revision)
    obj = {"metadata": {"name": name, "uid": f"uid-{name}", "annotations": ann,
                        "creationTimestamp": created or f"2024-01-01T00:00:{next(_seq) % 60:02d}Z"},
           "spec": {"replicas": replicas}}
    pods = replicas if pods is None else pods
    available = pods if available is None else available
    return RSView(obj, pods=pods, ready=available, available_pods=available)


# -- maxSurge / maxUnavailable ------------------------------------------------------------------

@pytest.mark.parametrize("value,total,up,expected", [
    ("25%", 3, True, 1), ("25%", 3, False, 0), ("25%", 4, True, 1), ("25%", 4, False, 1),
    ("25%", 10, True, 3), ("25%", 10, False, 2), ("50%", 5, True, 3), ("50%", 5, False, 2),
    ("100%", 7, False, 7), ("0%", 9, True, 0), ("1%", 1, True, 1), ("1%", 1, False, 0),
    (2, 10, True, 2), (0, 10, False, 0), ("3", 10, True, 3), ("25%", 0, True, 0), (None, 5, True, 0),
])
def test_scaled_value_rounds_like_intstr(value, total, up, expected):
    assert scaled_value(value, total, up) == expected


def test_scaled_value_rejects_garbage():
    with pytest.raises(ValueError):
        scaled_value("lots", 3, True)


@pytest.mark.parametrize("surge,unavailable,desired,expected", [
    ("25%", "25%", 3, (1, 0)),   # kubectl create deployment --replicas=3
    ("25%", "25%", 4, (1, 1)),
    ("25%", "25%", 10, (3, 2)),
    ("25%", "25%", 1, (1, 0)),
    (0, "10%", 5, (0, 1)),       # both zero after rounding: one may be unavailable
    ("0%", "0%", 5, (0, 1)),
    (0, 0, 0, (0, 1)),
    (3, 2, 10, (3, 2)),
])
def test_resolve_fenceposts(surge, unavailable, desired, expected):
    assert resolve_fenceposts(surge, unavailable, desired) == expected


def test_max_surge_and_unavailable_of_a_deployment():
    assert (max_surge(deployment(10)), max_unavailable(deployment(10))) == (3, 2)
    assert max_unavailable(deployment(2, 0, "100%")) == 2
    assert max_unavailable(deployment(2, 0, 5)) == 2           # capped at replicas
    assert max_unavailable(deployment(0)) == 0                  # nothing to be unavailable
    assert (max_surge(deployment(5, strategy="Recreate")), max_unavailable(deployment(5, strategy="Recreate"))) == (0, 0)


# -- hashes, templates, revisions --------------------------------------------------------------

def test_pod_template_hash_is_stable_safe_and_template_specific():
    t = deployment()["spec"]["template"]
    h = compute_hash(t)
    assert h == compute_hash(copy.deepcopy(t))
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(h) <= 10
    t2 = copy.deepcopy(t)
    t2["spec"]["containers"][0]["image"] = "luksa/kubia:v2"
    assert compute_hash(t2) != h
    assert compute_hash(t, 1) != h and compute_hash(t, 1) != compute_hash(t, 2)
    assert compute_hash(t, 0) != h  # a zero collision count still counts (as in Kubernetes)


def test_templates_compare_ignoring_the_hash_label_and_zero_values():
    t = deployment()["spec"]["template"]
    hashed = copy.deepcopy(t)
    hashed["metadata"]["labels"][HASH_LABEL] = "abc"
    hashed["spec"]["containers"][0]["resources"] = {}
    hashed["metadata"]["annotations"] = {}
    assert equal_ignore_hash(t, hashed)
    other = copy.deepcopy(t)
    other["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": "now"}
    assert not equal_ignore_hash(t, other)


def test_new_replicaset_annotations_copy_revision_and_history():
    d = deployment(4)
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "v2", REVISION: "7",
                                    "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    new = {"metadata": {"name": "web-x"}}
    assert set_new_rs_annotations(d, new, 3, exists=False)
    assert new["metadata"]["annotations"] == {"kubernetes.io/change-cause": "v2", REVISION: "3",
                                              DESIRED_REPLICAS: "4", MAX_REPLICAS: "5"}
    assert not set_new_rs_annotations(d, new, 3, exists=True)
    # The same template again (rollout undo): the next revision, the old one remembered.
    assert set_new_rs_annotations(d, new, 5, exists=True)
    assert (new["metadata"]["annotations"][REVISION], new["metadata"]["annotations"][REVISION_HISTORY]) == ("5", "3")
    set_new_rs_annotations(d, new, 8, exists=True)
    assert new["metadata"]["annotations"][REVISION_HISTORY] == "3,5"
    assert not set_new_rs_annotations(d, new, 6, exists=True)   # never lowered


# -- rolling steps -----------------------------------------------------------------------------

def test_new_replicaset_grows_within_the_surge():
    d = deployment(3)                                   # surge 1
    old, new = rs("old", 3), rs("new", 0)
    assert new_rs_new_replicas(d, [old, new], new) == 1
    old2, new2 = rs("old", 2), rs("new", 1)
    assert new_rs_new_replicas(d, [old2, new2], new2) == 2
    # Pods the old ReplicaSet has not deleted yet still take room.
    lagging = rs("old", 2, pods=3)
    assert new_rs_new_replicas(d, [lagging, new2], new2) == 1
    # Never beyond the desired count.
    assert new_rs_new_replicas(deployment(3, 10), [rs("old", 1), rs("new", 2)], rs("new", 2)) == 3
    assert new_rs_new_replicas(deployment(3, strategy="Recreate"), [rs("new", 0)], rs("new", 0)) == 3


def test_old_replicasets_shrink_keeping_the_minimum_available():
    d = deployment(3)                                   # surge 1, unavailable 0
    old = rs("old", 3)
    # New pod not ready yet: nothing may go.
    assert plan_old_scale_down(d, rs("new", 1, 0), [old]) == []
    # New pod available: one old one may go.
    assert [(r.name, n) for r, n in plan_old_scale_down(d, rs("new", 1, 1), [old])] == [("old", 2)]


def test_unhealthy_old_replicas_go_first():
    # Kubernetes' example: 10 replicas, maxUnavailable 2, maxSurge 3, new pods crash-looping.
    d = deployment(10, 3, 2)
    new = rs("new", 5, 0)
    old = rs("old", 8, 8)
    assert plan_old_scale_down(d, new, [old]) == []                  # 13 - 8 - 5 = 0
    # Roll-over to a third template: the new ReplicaSet starts at 0, unhealthy old ones go.
    newest = rs("newest", 0, 0)
    plan = plan_old_scale_down(d, newest, [rs("a", 8, 8, created="2024-01-01T00:00:00Z"),
                                           rs("b", 5, 0, created="2024-01-01T00:00:01Z")])
    assert [(r.name, n) for r, n in plan] == [("b", 0)]   # the 5 unhealthy first, no healthy one


def test_scale_down_is_limited_by_availability_and_oldest_first():
    d = deployment(4, 1, 1)
    a = rs("a", 2, 2, created="2024-01-01T00:00:00Z")
    b = rs("b", 2, 2, created="2024-01-01T00:00:01Z")
    new = rs("new", 1, 1)
    # available 5, minimum 3: two may go, from the oldest.
    assert [(r.name, n) for r, n in plan_old_scale_down(d, new, [b, a])] == [("a", 0)]
    # Pods beyond a ReplicaSet's size are about to go: they are no availability.
    shrinking = rs("a", 1, 2, pods=2, created="2024-01-01T00:00:00Z")
    assert [(r.name, n) for r, n in plan_old_scale_down(d, new, [shrinking, b])] == [("a", 0)]


def _simulate(d: Obj, start: int) -> list[tuple[int, int, int]]:
    """Roll from a fully available old ReplicaSet to a new one with the pure steps, pods ready
    one step after creation. Returns (old, new, available) per step."""
    old, new = rs("old", start, start, created="2024-01-01T00:00:00Z"), rs("new", 0, 0, created="2024-01-01T00:00:01Z")
    history = []
    for _ in range(200):
        if new.replicas != dc.replicas_of(d):
            new.obj["spec"]["replicas"] = new_rs_new_replicas(d, [old, new], new)
        for r, n in plan_old_scale_down(d, new, [old]):
            r.obj["spec"]["replicas"] = n
        # The ReplicaSet manager: surplus pods go at once, missing ones start unready.
        for r in (old, new):
            r.pods = r.replicas
            r.available_pods = min(r.available_pods, r.pods)
        history.append((old.replicas, new.replicas, old.available_pods + new.available_pods))
        if old.replicas == 0 and new.available_pods == dc.replicas_of(d):
            return history
        for r in (old, new):
            r.available_pods = r.pods   # ready by the next step
    raise AssertionError(f"rollout did not finish: {history[-5:]}")


@pytest.mark.parametrize("replicas,surge,unavailable", [
    (3, "25%", "25%"), (4, "25%", "25%"), (10, "25%", "25%"), (1, "25%", "25%"), (5, 0, 1), (5, 2, 0),
    (6, "50%", "50%"), (2, 0, "100%"), (7, 3, 2),
])
def test_rolling_update_respects_surge_and_availability(replicas, surge, unavailable):
    d = deployment(replicas, surge, unavailable)
    s, u = max_surge(d), max_unavailable(d)
    for old, new, available in _simulate(d, replicas):
        assert old + new <= replicas + s
        assert available >= replicas - u


def test_rolling_steps_for_kubectl_create_deployment_replicas_3():
    # 25%/25% of 3: one extra pod at a time, an old one goes only when a new one is ready.
    steps = _simulate(deployment(3), 3)
    assert steps == [(3, 1, 3), (2, 1, 3), (2, 2, 3), (1, 2, 3), (1, 3, 3), (0, 3, 3)]


# -- proportional scaling ----------------------------------------------------------------------

def _sizes(plan):
    return {r.name: n for r, n in plan}


def test_scaling_a_single_active_replicaset():
    d = deployment(5)
    only = rs("new", 3, revision=2)
    assert _sizes(plan_scale(d, only, [rs("old", 0)])) == {"new": 5}
    assert plan_scale(deployment(3), only, [rs("old", 0)]) == []
    assert find_active_or_latest(None, [rs("a", 0, created="2024-01-01T00:00:00Z"),
                                        rs("b", 0, created="2024-01-01T00:00:09Z")]).name == "b"


def test_proportional_scaling_during_a_rollout():
    ann = {MAX_REPLICAS: "5", DESIRED_REPLICAS: "4"}
    new = rs("new", 2, 0, annotations=ann, created="2024-01-01T00:00:02Z")
    olds = [rs("a", 1, 0, annotations=ann, created="2024-01-01T00:00:00Z"),
            rs("b", 2, 0, annotations=ann, created="2024-01-01T00:00:01Z")]
    # 4 -> 8 replicas: room for 8 + 2 = 10, spread by size.
    assert _sizes(plan_scale(deployment(8), new, olds)) == {"new": 4, "b": 4, "a": 2}
    # 4 -> 2: room for 2 + 1 = 3.
    assert sum(_sizes(plan_scale(deployment(2), new, olds)).values()) == 3
    # To zero: everything goes.
    assert set(_sizes(plan_scale(deployment(0), new, olds)).values()) == {0}


def test_saturated_new_replicaset_scales_old_ones_away():
    d = deployment(3)
    new = rs("new", 3, 3, annotations={DESIRED_REPLICAS: "3"})
    assert _sizes(plan_scale(d, new, [rs("old", 2)])) == {"old": 0}


# -- status ------------------------------------------------------------------------------------

def test_status_counts_and_available_condition():
    d = deployment(3)
    new, old = rs("new", 2, 1, pods=2), rs("old", 2, 2, pods=2)
    st = calculate_status(d, [old, new], new, "2024-01-01T00:00:00Z")
    assert {k: st[k] for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                               "unavailableReplicas", "observedGeneration")} == {
        "replicas": 4, "updatedReplicas": 2, "readyReplicas": 3, "availableReplicas": 3, "unavailableReplicas": 1,
        "observedGeneration": 1}
    assert st["conditions"][0]["reason"] == "MinimumReplicasAvailable"
    st2 = calculate_status(deployment(3, 1, 0), [rs("new", 3, 2)], None, "now")
    assert st2["conditions"][0]["reason"] == "MinimumReplicasUnavailable"
    assert "updatedReplicas" not in st2  # zero counts are omitted, as the API serializes them


def test_set_condition_keeps_transition_time_for_the_same_status():
    status: Obj = {}
    set_condition(status, dc.new_condition("Progressing", "True", "NewReplicaSetCreated", "m", "t1"))
    set_condition(status, dc.new_condition("Progressing", "True", "ReplicaSetUpdated", "m", "t2"))
    c = status["conditions"][0]
    assert (c["reason"], c["lastTransitionTime"], c["lastUpdateTime"]) == ("ReplicaSetUpdated", "t1", "t2")
    set_condition(status, dc.new_condition("Progressing", "False", "ProgressDeadlineExceeded", "m", "t3"))
    assert status["conditions"][0]["lastTransitionTime"] == "t3"


def test_progress_deadline():
    d = deployment(3, progressDeadlineSeconds=10)
    st = {"conditions": [dc.new_condition("Progressing", "True", "ReplicaSetUpdated", "m", "2024-01-01T00:00:00Z")]}
    t0 = times.parse("2024-01-01T00:00:00Z")
    assert not dc.deployment_timed_out(d, st, t0 + 10)
    assert dc.deployment_timed_out(d, st, t0 + 11)
    st["conditions"][0]["reason"] = "NewReplicaSetAvailable"
    assert not dc.deployment_timed_out(d, st, t0 + 100)


def test_pod_availability_waits_for_min_ready_seconds():
    pod = {"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}
    t0 = times.parse("2024-01-01T00:00:00Z")
    assert dc.pod_availability(pod, 0, t0) == (True, None)
    assert dc.pod_availability(pod, 5, t0 + 2) == (False, 3)
    assert dc.pod_availability(pod, 5, t0 + 6) == (True, None)
    assert dc.pod_availability({"status": {}}, 0, t0) == (False, None)


# -- the controller's sync over a fake API -------------------------------------------------------

class FakeInformer:
    def __init__(self) -> None:
        self.objs: dict[str, Obj] = {}
        self.handlers: list[Any] = []

    def get(self, key: str) -> Obj | None:
        return self.objs.get(key)

    def list(self, namespace: str | None = None) -> list[Obj]:
        return [o for o in self.objs.values() if namespace is None or o["metadata"].get("namespace") == namespace]

    def add_handler(self, handler: Any) -> None:
        self.handlers.append(handler)

    def put(self, key: str, obj: Obj | None) -> None:
        old = self.objs.get(key)
        if obj is None:
            self.objs.pop(key, None)
        else:
            self.objs[key] = obj
        for h in self.handlers:
            h(key, old, obj)


class FakeInformers:
    def __init__(self) -> None:
        self.by: dict[str, FakeInformer] = defaultdict(FakeInformer)

    def get(self, plural: str) -> FakeInformer:
        return self.by[plural]


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


class FakeAPI:
    """Just enough of the API server: resourceVersion preconditions, generation, status."""

    def __init__(self, informers: FakeInformers) -> None:
        self.inf = informers
        self.rv = itertools.count(1)
        self.clock = itertools.count()
        self.writes: list[tuple[str, str, str]] = []

    def _key(self, ns: str, name: str) -> str:
        return f"{ns}/{name}"

    async def create(self, resource, ns, obj):
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        if not meta.get("name"):
            meta["name"] = meta["generateName"] + f"{next(self.clock):05d}"
        key = self._key(ns, meta["name"])
        store = self.inf.get(resource.plural)
        if key in store.objs:
            raise errors.AlreadyExists.of(resource.plural, meta["name"])
        meta.update(namespace=ns, uid=f"uid-{meta['name']}", resourceVersion=str(next(self.rv)), generation=1,
                    creationTimestamp=times.format(1_700_000_000 + next(self.clock)))
        store.put(key, obj)
        self.writes.append(("create", resource.plural, meta["name"]))
        return obj

    async def get(self, resource, ns, name, subresource=""):
        obj = self.inf.get(resource.plural).get(self._key(ns, name))
        if obj is None:
            raise errors.NotFound.of(resource.plural, name)
        return copy.deepcopy(obj)

    async def update(self, resource, obj, subresource=""):
        meta = obj["metadata"]
        store = self.inf.get(resource.plural)
        key = self._key(meta["namespace"], meta["name"])
        old = store.get(key)
        if old is None:
            raise errors.NotFound.of(resource.plural, meta["name"])
        if meta.get("resourceVersion") != old["metadata"]["resourceVersion"]:
            raise errors.Conflict.modified(resource.plural, meta["name"])
        if subresource == "status":
            new = copy.deepcopy(old)
            new["status"] = copy.deepcopy(obj["status"])
        else:
            new = copy.deepcopy(obj)
            new["status"] = copy.deepcopy(old.get("status", {}))
            if new.get("spec") != old.get("spec"):
                new["metadata"]["generation"] = old["metadata"]["generation"] + 1
        new["metadata"]["resourceVersion"] = str(next(self.rv))
        store.put(key, new)
        self.writes.append(("update" + ("/status" if subresource else ""), resource.plural, meta["name"]))
        return copy.deepcopy(new)

    async def patch(self, resource, ns, name, patch, *, patch_type="merge", subresource=""):
        old = await self.get(resource, ns, name)
        want = (patch.get("metadata") or {}).get("resourceVersion")
        if want and want != old["metadata"]["resourceVersion"]:
            raise errors.Conflict.modified(resource.plural, name)
        new = _merge(old, patch)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        return await self.update(resource, new)

    async def delete(self, resource, ns, name, **options):
        store = self.inf.get(resource.plural)
        if store.get(self._key(ns, name)) is None:
            raise errors.NotFound.of(resource.plural, name)
        store.put(self._key(ns, name), None)
        self.writes.append(("delete", resource.plural, name))
        return {}


class World:
    """A fake cluster: the API, the deployment controller, and a ReplicaSet manager whose new
    pods become Ready one step after they are created."""

    def __init__(self, ready_age: float = 60) -> None:
        self.ready_age = ready_age
        self.informers = FakeInformers()
        self.api = FakeAPI(self.informers)
        self.now = 1_700_000_000.0
        self.ctrl = dc.DeploymentController(self.api, self.informers, clock=lambda: self.now)
        self.ctrl.setup()

    @property
    def pods(self) -> FakeInformer:
        return self.informers.get("pods")

    def replicasets(self) -> list[Obj]:
        return sorted(self.informers.get("replicasets").list(), key=lambda r: r["metadata"]["creationTimestamp"])

    def deployment(self, name: str = "web") -> Obj:
        return self.informers.get("deployments").get(f"default/{name}")

    async def rs_manager(self) -> None:
        for r in self.replicasets():
            mine = [p for p in self.pods.list() if p["metadata"]["ownerReferences"][0]["uid"] == r["metadata"]["uid"]]
            want = r["spec"]["replicas"]
            for p in mine:   # last step's pods are ready now
                if not p["status"]["conditions"]:
                    self.pods.put(f"default/{p['metadata']['name']}", dict(p, status={"phase": "Running", "conditions": [
                        {"type": "Ready", "status": "True", "lastTransitionTime": times.format(self.now - self.ready_age)}]}))
            mine = sorted(mine, key=lambda p: bool(p["status"]["conditions"]))
            for p in mine[: max(0, len(mine) - want)]:
                self.pods.put(f"default/{p['metadata']['name']}", None)
            for _ in range(want - len(mine)):
                name = f"{r['metadata']['name']}-{next(self.api.clock):05d}"
                self.pods.put(f"default/{name}", {"metadata": {
                    "name": name, "namespace": "default", "labels": r["spec"]["template"]["metadata"]["labels"],
                    "ownerReferences": [{"kind": "ReplicaSet", "name": r["metadata"]["name"],
                                         "uid": r["metadata"]["uid"], "controller": True}]},
                    "status": {"phase": "Pending", "conditions": []}})
            if (r.get("status") or {}).get("observedGeneration") != r["metadata"]["generation"]:
                observed = copy.deepcopy(r)
                observed["status"] = {"observedGeneration": r["metadata"]["generation"]}
                observed["metadata"]["resourceVersion"] = str(next(self.api.rv))
                self.informers.get("replicasets").put(f"default/{r['metadata']['name']}", observed)

    def counts(self) -> tuple[int, int]:
        pods = self.pods.list()
        ready = sum(1 for p in pods if p["status"]["conditions"])
        return len(pods), ready

    async def settle(self, steps: int = 60, *, check=None) -> None:
        for _ in range(steps):
            before = self.api.writes[:]
            await self.ctrl.sync("default/web")
            await self.rs_manager()
            if check:
                check()
            self.now += 1
            if self.api.writes == before and self._converged():
                return
        raise AssertionError("did not converge")

    def _converged(self) -> bool:
        return all(len([p for p in self.pods.list() if p["metadata"]["ownerReferences"][0]["uid"] == r["metadata"]["uid"]])
                   == r["spec"]["replicas"] for r in self.replicasets())


async def test_controller_creates_hashed_replicaset_and_rolls_over():
    w = World()
    d = deployment(3)
    await w.api.create(dc.by_plural("deployments"), "default", d)
    await w.settle()
    (r,) = w.replicasets()
    h = r["metadata"]["labels"][HASH_LABEL]
    assert h == compute_hash(w.deployment()["spec"]["template"])
    assert r["metadata"]["name"] == f"web-{h}"
    assert r["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: h}
    assert r["spec"]["template"]["metadata"]["labels"] == {"app": "web", HASH_LABEL: h}
    ref = r["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("Deployment", "web", "uid-web", True)
    assert r["metadata"]["annotations"] == {REVISION: "1", DESIRED_REPLICAS: "3", MAX_REPLICAS: "4"}
    dep = w.deployment()
    assert dep["metadata"]["annotations"][REVISION] == "1"
    st = dep["status"]
    assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"]) == (3, 3, 3, 3)
    conds = {c["type"]: c["reason"] for c in st["conditions"]}
    assert conds == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}

    # A new image: at most one extra pod, never fewer than 3 ready.
    new = copy.deepcopy(dep)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "luksa/kubia:v2"
    await w.api.update(dc.by_plural("deployments"), new)

    def check() -> None:
        total, ready = w.counts()
        assert total <= 4 and ready >= 3, (total, ready)

    await w.settle(check=check)
    old_rs, new_rs = w.replicasets()
    assert (old_rs["spec"]["replicas"], new_rs["spec"]["replicas"]) == (0, 3)
    assert new_rs["metadata"]["annotations"][REVISION] == "2"
    assert w.deployment()["metadata"]["annotations"][REVISION] == "2"
    st = w.deployment()["status"]
    assert (st["replicas"], st["updatedReplicas"], st["availableReplicas"], st["observedGeneration"]) == (3, 3, 3, 2)
    await w.ctrl.recorder.flush()
    events = [e["message"] for e in w.informers.get("events").list()]
    assert f"Scaled up replica set {new_rs['metadata']['name']} from 0 to 1" in events

    # Back to the first template: the old ReplicaSet becomes new again with revision 3.
    back = copy.deepcopy(w.deployment())
    back["spec"]["template"]["spec"]["containers"][0]["image"] = "luksa/kubia"
    await w.api.update(dc.by_plural("deployments"), back)
    await w.settle(check=check)
    old_rs, new_rs = w.replicasets()
    assert (old_rs["spec"]["replicas"], new_rs["spec"]["replicas"]) == (3, 0)
    assert old_rs["metadata"]["annotations"][REVISION] == "3"
    assert old_rs["metadata"]["annotations"][REVISION_HISTORY] == "1"


async def test_controller_recreate_scales_old_to_zero_before_new():
    w = World()
    await w.api.create(dc.by_plural("deployments"), "default", deployment(2, strategy="Recreate"))
    await w.settle()
    dep = copy.deepcopy(w.deployment())
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "luksa/kubia:v2"
    await w.api.update(dc.by_plural("deployments"), dep)

    def check() -> None:
        owners = {p["metadata"]["ownerReferences"][0]["name"] for p in w.pods.list()}
        assert len(owners) <= 1, owners   # never old and new pods at once

    await w.settle(check=check)
    assert [r["spec"]["replicas"] for r in w.replicasets()] == [0, 2]


async def test_controller_history_limit_prunes_old_replicasets():
    w = World()
    await w.api.create(dc.by_plural("deployments"), "default", deployment(1, revisionHistoryLimit=1))
    await w.settle()
    for tag in ("v2", "v3", "v4"):
        dep = copy.deepcopy(w.deployment())
        dep["spec"]["template"]["spec"]["containers"][0]["image"] = f"luksa/kubia:{tag}"
        await w.api.update(dc.by_plural("deployments"), dep)
        await w.settle()
    revisions = sorted(int(r["metadata"]["annotations"][REVISION]) for r in w.replicasets())
    assert revisions == [3, 4]


async def test_controller_adopts_orphan_replicaset_with_the_same_template():
    w = World()
    d = deployment(2)
    orphan = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "handmade", "labels": {"app": "web"}},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                       "template": copy.deepcopy(d["spec"]["template"])}}
    await w.api.create(dc.by_plural("replicasets"), "default", orphan)
    await w.api.create(dc.by_plural("deployments"), "default", d)
    await w.settle()
    (r,) = w.replicasets()
    assert r["metadata"]["name"] == "handmade"
    assert r["metadata"]["ownerReferences"][0]["name"] == "web"
    assert r["metadata"]["annotations"][REVISION] == "1"


async def test_controller_sees_its_own_writes_before_the_cache_does():
    """A second sync right after the first (cache not updated) must not create or scale twice."""
    w = World()
    await w.api.create(dc.by_plural("deployments"), "default", deployment(3))
    rs_inf = w.informers.get("replicasets")
    real_put = rs_inf.put
    delayed: list[tuple[str, Obj | None]] = []
    rs_inf.put = lambda key, obj: delayed.append((key, obj))  # the watch is slow
    await w.ctrl.sync("default/web")
    await w.ctrl.sync("default/web")
    assert [op[0] for op in w.api.writes if op[1] == "replicasets"] == ["create"]
    rs_inf.put = real_put
    for key, obj in delayed:
        real_put(key, obj)
    assert not w.ctrl._written.get(("replicasets", delayed[0][0]))


async def test_paused_deployment_only_scales():
    w = World()
    await w.api.create(dc.by_plural("deployments"), "default", deployment(2))
    await w.settle()
    dep = copy.deepcopy(w.deployment())
    dep["spec"]["paused"] = True
    dep["spec"]["replicas"] = 4
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "luksa/kubia:v2"
    await w.api.update(dc.by_plural("deployments"), dep)
    await w.settle()
    (r,) = w.replicasets()
    assert r["spec"]["replicas"] == 4 and r["metadata"]["annotations"][DESIRED_REPLICAS] == "4"
    prog = next(c for c in w.deployment()["status"]["conditions"] if c["type"] == "Progressing")
    assert (prog["status"], prog["reason"]) == ("Unknown", "DeploymentPaused")


async def test_hash_collision_raises_the_collision_count():
    w = World()
    d = deployment(1)
    taken = f"web-{compute_hash(d['spec']['template'])}"
    await w.api.create(dc.by_plural("replicasets"), "default", {
        "metadata": {"name": taken, "labels": {"app": "other"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "other"}}, "template": {}}})
    await w.api.create(dc.by_plural("deployments"), "default", d)
    with pytest.raises(errors.Conflict):
        await w.ctrl.sync("default/web")
    assert w.deployment()["status"]["collisionCount"] == 1
    await w.settle()
    mine = [r for r in w.replicasets() if r["metadata"]["name"] != taken]
    assert [r["metadata"]["name"] for r in mine] == [f"web-{compute_hash(w.deployment()['spec']['template'], 1)}"]


async def test_min_ready_seconds_delays_availability():
    w = World(ready_age=0)
    await w.api.create(dc.by_plural("deployments"), "default", deployment(2, minReadySeconds=5))
    for _ in range(3):   # created, then Ready one step later
        await w.ctrl.sync("default/web")
        await w.rs_manager()
    await w.ctrl.sync("default/web")
    st = w.deployment()["status"]
    assert (st.get("readyReplicas"), st.get("availableReplicas")) == (2, None)
    w.now += 6
    await w.ctrl.sync("default/web")
    assert w.deployment()["status"]["availableReplicas"] == 2
