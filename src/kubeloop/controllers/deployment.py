"""DeploymentController: Deployments roll their pods over through ReplicaSets, as Kubernetes does.

Each Deployment owns ReplicaSets named `<deployment>-<pod-template-hash>`; the hash (FNV-32a of
the pod template, plus the collision count, spelled in the apimachinery safe alphabet) is added
to the ReplicaSet's selector, labels and template labels, so each template's pods are told
apart. The ReplicaSet whose template equals the Deployment's (ignoring that label) is the new
one; all others are old. Revisions live in the `deployment.kubernetes.io/revision` annotation of
each ReplicaSet (and of the Deployment): a template seen again (`kubectl rollout undo`) takes the
next revision and remembers its former ones in `revision-history`. Old ReplicaSets scaled to zero
are pruned beyond `revisionHistoryLimit`.

Rolling updates follow pkg/controller/deployment: the new ReplicaSet grows while the pods of all
ReplicaSets stay within `replicas + maxSurge` (rounded up), old ones shrink while the available
pods stay at least `replicas - maxUnavailable` (rounded down), unhealthy old pods go first.
Recreate scales every old ReplicaSet to zero and waits for their pods to be gone before the new
one is scaled up. A change of `spec.replicas` during a rollout is spread proportionally over the
active ReplicaSets (the `desired-replicas`/`max-replicas` annotations remember the sizes they
were given for). Paused Deployments only scale.

Counts come from the pods themselves (the pod informer), not from the ReplicaSets' status: a pod
is available once Ready for `minReadySeconds`. For its decisions the controller counts a
ReplicaSet as at least as big as its pods (so pods not yet deleted still count against the surge)
and at most its size as available (pods about to be deleted no longer count as availability).

Status carries replicas, updated/ready/available/unavailable counts, observedGeneration and the
conditions Available and Progressing that `kubectl rollout status` reads, including
ProgressDeadlineExceeded once `progressDeadlineSeconds` pass without progress.

The module's top half is pure arithmetic over `RSView`s (unit-tested with fakes); the controller
below it reads the informer caches and writes ReplicaSets and Deployment status.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from kubeloop.api import times
from kubeloop.api import errors
from kubeloop.api.pods import is_active, is_ready
from kubeloop.api.registry import by_plural
from kubeloop.api.selectors import LabelSelector, selector_from_object
from kubeloop.client.events import EventRecorder
from kubeloop.client.informer import key_of

from .base import Controller, controller_of

Obj = dict[str, Any]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Deployment annotations that are not copied to its ReplicaSets.
SKIP_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
    MAX_REPLICAS, "deprecated.deployment.rollback.to",
})
MAX_REV_HISTORY_CHARS = 2000

# Condition types and reasons (k8s.io/kubernetes/pkg/controller/deployment/util).
AVAILABLE, PROGRESSING, REPLICA_FAILURE = "Available", "Progressing", "ReplicaFailure"
MIN_AVAILABLE, MIN_UNAVAILABLE = "MinimumReplicasAvailable", "MinimumReplicasUnavailable"
NEW_RS_CREATED, FOUND_NEW_RS, FAILED_RS_CREATE = "NewReplicaSetCreated", "FoundNewReplicaSet", "FailedRSCreate"
RS_UPDATED, NEW_RS_AVAILABLE, TIMED_OUT = "ReplicaSetUpdated", "NewReplicaSetAvailable", "ProgressDeadlineExceeded"
PAUSED, RESUMED = "DeploymentPaused", "DeploymentResumed"

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_MAX_INT32 = 2**31 - 1


# -- small facts ---------------------------------------------------------------------------

def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def replicas_of(obj: Obj) -> int:
    """spec.replicas (the API server defaults it to 1)."""
    value = _spec(obj).get("replicas")
    return 1 if value is None else int(value)


def _rv(obj: Obj) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


def compute_hash(template: Obj, collision_count: int | None = None) -> str:
    """The pod-template-hash: FNV-32a of the template (plus the collision count, little-endian),
    its decimal digits spelled in apimachinery's safe alphabet (rand.SafeEncodeString)."""
    data = orjson.dumps(template or {}, option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        data += int(collision_count & 0xFFFFFFFF).to_bytes(4, "little")
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in str(h))


def _semantic(value: Any) -> Any:
    """A value with Go's zero values dropped from objects, so that `{}`, `[]`, `""`, 0, false
    and absent compare equal (apimachinery's semantic equality of API structs)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = _semantic(v)
            if v not in (None, False, 0, "", [], {}):
                out[k] = v
        return out
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def without_hash(template: Obj | None) -> Obj:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return t


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    """Whether two pod templates are the same but for the pod-template-hash label."""
    return _semantic(without_hash(a)) == _semantic(without_hash(b))


def revision_of(obj: Obj) -> int:
    """The revision annotation; 0 when absent, -1 when not a number."""
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    if text is None or text == "":
        return 0
    try:
        return int(text)
    except ValueError:
        return -1


# -- maxSurge / maxUnavailable -----------------------------------------------------------------

def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of total rounded up or down."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.endswith("%"):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}")
    percent = int(text[:-1])
    scaled = percent * total
    return -(-scaled // 100) if round_up else scaled // 100


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None,
                       desired: int) -> tuple[int, int]:
    """(surge, unavailable): surge rounds up, unavailable down; both zero means unavailable 1."""
    surge = scaled_value(max_surge if max_surge is not None else 0, desired, True)
    unavailable = scaled_value(max_unavailable if max_unavailable is not None else 0, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling(d: Obj) -> bool:
    return (_spec(d).get("strategy") or {}).get("type", "RollingUpdate") != "Recreate"


def _rolling_params(d: Obj) -> Obj:
    return (_spec(d).get("strategy") or {}).get("rollingUpdate") or {}


def max_surge(d: Obj) -> int:
    if not is_rolling(d):
        return 0
    p = _rolling_params(d)
    return resolve_fenceposts(p.get("maxSurge", "25%"), p.get("maxUnavailable", "25%"), replicas_of(d))[0]


def max_unavailable(d: Obj) -> int:
    desired = replicas_of(d)
    if not is_rolling(d) or desired == 0:
        return 0
    p = _rolling_params(d)
    return min(resolve_fenceposts(p.get("maxSurge", "25%"), p.get("maxUnavailable", "25%"), desired)[1], desired)


# -- ReplicaSets as the controller sees them ----------------------------------------------------

@dataclass
class RSView:
    """A ReplicaSet and counts of the pods it controls (from the pod cache)."""

    obj: Obj
    pods: int = 0                 # active pods (not finished, not being deleted): status.replicas
    ready: int = 0
    available_pods: int = 0       # active pods Ready for minReadySeconds
    all_pods: list[Obj] = field(default_factory=list)  # every pod it controls, terminating ones too

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]

    @property
    def uid(self) -> str:
        return self.obj["metadata"].get("uid", "")

    @property
    def replicas(self) -> int:
        return replicas_of(self.obj)

    @property
    def created(self) -> str:
        return self.obj["metadata"].get("creationTimestamp") or ""

    @property
    def revision(self) -> int:
        return revision_of(self.obj)

    @property
    def template(self) -> Obj:
        return _spec(self.obj).get("template") or {}

    @property
    def available(self) -> int:
        """Available replicas for scaling decisions: pods beyond the size are about to go."""
        return min(self.available_pods, self.replicas)

    @property
    def footprint(self) -> int:
        """Pods this ReplicaSet has or will have: pods not yet deleted still take room."""
        return max(self.replicas, self.pods)


def by_creation(rs: RSView) -> tuple[str, str]:
    return (rs.created, rs.name)


def active(rss: list[RSView | None]) -> list[RSView]:
    return [rs for rs in rss if rs is not None and rs.replicas > 0]


def max_revision(rss: list[RSView]) -> int:
    return max((rs.revision for rs in rss), default=0)


def find_new(d: Obj, rss: list[RSView]) -> RSView | None:
    """The oldest ReplicaSet whose template is the Deployment's."""
    template = _spec(d).get("template")
    for rs in sorted(rss, key=by_creation):
        if equal_ignore_hash(rs.template, template):
            return rs
    return None


def new_rs_new_replicas(d: Obj, all_rss: list[RSView], new_rs: RSView) -> int:
    """How big the new ReplicaSet may be now (NewRSNewReplicas)."""
    desired = replicas_of(d)
    if not is_rolling(d):
        return desired
    surge = scaled_value(_rolling_params(d).get("maxSurge", "25%"), desired, True)
    current = sum(rs.footprint for rs in all_rss)
    max_total = desired + surge
    if current >= max_total:
        return new_rs.replicas
    return new_rs.replicas + max(0, min(max_total - current, desired - new_rs.replicas))


def plan_old_scale_down(d: Obj, new_rs: RSView, old_rss: list[RSView]) -> list[tuple[RSView, int]]:
    """reconcileOldReplicaSets: the new sizes of old ReplicaSets, oldest first. Unhealthy
    replicas go first (they cost no availability), then available ones while the available
    pods stay above replicas - maxUnavailable."""
    olds = sorted(active(old_rss), key=by_creation)
    if not olds:
        return []
    desired = replicas_of(d)
    min_available = desired - max_unavailable(d)
    all_count = sum(rs.replicas for rs in olds) + new_rs.replicas
    new_unavailable = new_rs.replicas - new_rs.available
    allowed = all_count - min_available - new_unavailable
    if allowed <= 0:
        return []
    sizes = {rs.name: rs.replicas for rs in olds}
    # Unhealthy replicas first.
    removed = 0
    for rs in olds:
        if removed >= allowed:
            break
        size = sizes[rs.name]
        if size == 0 or size == rs.available:
            continue
        n = min(allowed - removed, size - rs.available)
        sizes[rs.name] = size - n
        removed += n
    # Then available ones, keeping the minimum available.
    available = new_rs.available + sum(min(rs.available_pods, sizes[rs.name]) for rs in olds)
    if available > min_available:
        budget, taken = available - min_available, 0
        for rs in olds:
            if taken >= budget:
                break
            size = sizes[rs.name]
            if size == 0:
                continue
            n = min(size, budget - taken)
            sizes[rs.name] = size - n
            taken += n
    return [(rs, sizes[rs.name]) for rs in olds if sizes[rs.name] != rs.replicas]


def find_active_or_latest(new_rs: RSView | None, old_rss: list[RSView]) -> RSView | None:
    """The only active ReplicaSet, or the newest one if none is active; None if several are."""
    if new_rs is None and not old_rss:
        return None
    olds = sorted(old_rss, key=by_creation, reverse=True)
    live = active(olds + [new_rs])
    if not live:
        return new_rs if new_rs is not None else olds[0]
    if len(live) == 1:
        return live[0]
    return None


def _annotation_int(rs: RSView, key: str) -> int | None:
    text = (rs.obj["metadata"].get("annotations") or {}).get(key)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def is_saturated(d: Obj, rs: RSView | None) -> bool:
    if rs is None:
        return False
    desired = replicas_of(d)
    return (rs.replicas == desired and _annotation_int(rs, DESIRED_REPLICAS) == desired
            and rs.available == desired)


def _fraction(rs: RSView, d: Obj) -> int:
    desired = replicas_of(d)
    if desired == 0:
        return -rs.replicas
    deployment_max = desired + max_surge(d)
    before = _annotation_int(rs, MAX_REPLICAS)
    if not before:
        before = int((d.get("status") or {}).get("replicas") or 0)
    if not before:
        return 0
    return math.floor(rs.replicas * deployment_max / before + 0.5) - rs.replicas


def _proportion(rs: RSView, d: Obj, to_add: int, added: int) -> int:
    if rs.replicas == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def plan_scale(d: Obj, new_rs: RSView | None, old_rss: list[RSView]) -> list[tuple[RSView, int]]:
    """The scale step of a paused Deployment or of a change of spec.replicas: the sizes of the
    ReplicaSets to (re)write, proportionally spread when several are active."""
    desired = replicas_of(d)
    only = find_active_or_latest(new_rs, old_rss)
    if only is not None:
        return [] if only.replicas == desired else [(only, desired)]
    if is_saturated(d, new_rs):
        return [(rs, 0) for rs in active(old_rss)]
    if not is_rolling(d):
        return []
    live = active(old_rss + [new_rs])
    allowed = desired + max_surge(d) if desired > 0 else 0
    to_add = allowed - sum(rs.replicas for rs in live)
    if to_add > 0:   # bigger first; among equals the newer grows first
        live.sort(key=by_creation, reverse=True)
        live.sort(key=lambda rs: rs.replicas, reverse=True)
    elif to_add < 0:  # bigger first; among equals the older shrinks first
        live.sort(key=by_creation)
        live.sort(key=lambda rs: rs.replicas, reverse=True)
    sizes: dict[str, int] = {}
    added = 0
    for rs in live:
        if to_add:
            p = _proportion(rs, d, to_add, added)
            sizes[rs.name] = rs.replicas + p
            added += p
        else:
            sizes[rs.name] = rs.replicas
    if live and to_add:
        sizes[live[0].name] = max(0, sizes[live[0].name] + to_add - added)
    return [(rs, sizes[rs.name]) for rs in live]


# -- conditions and status ----------------------------------------------------------------------

def get_condition(status: Obj, type_: str) -> Obj | None:
    for c in status.get("conditions") or ():
        if c.get("type") == type_:
            return c
    return None


def new_condition(type_: str, status: str, reason: str, message: str, now: str) -> Obj:
    return {"type": type_, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def set_condition(status: Obj, cond: Obj) -> None:
    """SetDeploymentCondition: no change for the same status and reason; the transition time
    survives a change of reason only; the condition moves to the end."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = dict(cond, lastTransitionTime=current.get("lastTransitionTime", cond["lastTransitionTime"]))
    status["conditions"] = [c for c in status.get("conditions") or () if c.get("type") != cond["type"]] + [cond]


def remove_condition(status: Obj, type_: str) -> None:
    if "conditions" in status:
        status["conditions"] = [c for c in status["conditions"] if c.get("type") != type_]
        if not status["conditions"]:
            del status["conditions"]


def calculate_status(d: Obj, all_rss: list[RSView], new_rs: RSView | None, now: str) -> Obj:
    """The Deployment's status from its ReplicaSets' pods, with the Available condition."""
    old = d.get("status") or {}
    available = sum(rs.available_pods for rs in all_rss)
    unavailable = max(0, sum(rs.replicas for rs in all_rss) - available)
    status: Obj = {
        "observedGeneration": d["metadata"].get("generation", 1),
        "replicas": sum(rs.pods for rs in all_rss),
        "updatedReplicas": new_rs.pods if new_rs is not None else 0,
        "readyReplicas": sum(rs.ready for rs in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
    }
    status = {k: v for k, v in status.items() if v}  # omitempty, as the API serializes them
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = [dict(c) for c in old["conditions"]]
    if available >= replicas_of(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.", now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                            "Deployment does not have minimum availability.", now))
    return status


def has_progress_deadline(d: Obj) -> bool:
    value = _spec(d).get("progressDeadlineSeconds")
    return value is not None and int(value) != _MAX_INT32


def deployment_complete(d: Obj, status: Obj) -> bool:
    desired = replicas_of(d)
    return (status.get("updatedReplicas", 0) == desired and status.get("replicas", 0) == desired
            and status.get("availableReplicas", 0) == desired
            and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 1))


def deployment_progressing(d: Obj, status: Obj) -> bool:
    old = d.get("status") or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = status.get("replicas", 0) - status.get("updatedReplicas", 0)
    return (status.get("updatedReplicas", 0) > old.get("updatedReplicas", 0) or new_old < old_old
            or status.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or status.get("availableReplicas", 0) > old.get("availableReplicas", 0))


def deployment_timed_out(d: Obj, status: Obj, now: float) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = times.parse(cond.get("lastUpdateTime"))
    return since is not None and since + int(_spec(d)["progressDeadlineSeconds"]) < now


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if ann.get(key) != value:
            ann[key] = value
            changed = True
    return changed


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, exists: bool) -> bool:
    """Copy the Deployment's annotations (but the skipped ones), raise the revision to
    new_revision (remembering the former one in revision-history), and for a ReplicaSet about to
    be created set desired-replicas and max-replicas. Whether anything changed."""
    ann = rs["metadata"].setdefault("annotations", {})
    changed = False
    for k, v in (d["metadata"].get("annotations") or {}).items():
        if k in SKIP_ANNOTATIONS or ann.get(k) == v:
            continue
        ann[k] = v
        changed = True
    old_text = ann.get(REVISION)
    try:
        old_revision = int(old_text) if old_text else 0
    except ValueError:
        return changed
    if old_revision < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if old_text:
            history = ann.get(REVISION_HISTORY, "")
            parts = history.split(",") if history else []
            total = len(history) + len(old_text) + 1
            start = 0
            while total > MAX_REV_HISTORY_CHARS and start < len(parts):
                total -= len(parts[start]) + 1
                start += 1
            if total <= MAX_REV_HISTORY_CHARS:
                ann[REVISION_HISTORY] = ",".join(parts[start:] + [old_text])
    if not exists and set_replicas_annotations(rs, replicas_of(d), replicas_of(d) + max_surge(d)):
        changed = True
    return changed


def pod_availability(pod: Obj, min_ready: int, now: float) -> tuple[bool, float | None]:
    """(available, seconds until it will be) for a pod: Ready for at least min_ready seconds."""
    if not is_ready(pod):
        return False, None
    if min_ready <= 0:
        return True, None
    cond = next((c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"), {})
    since = times.parse(cond.get("lastTransitionTime"))
    if since is None:
        return False, None
    remaining = since + min_ready - now
    return (True, None) if remaining < 0 else (False, remaining)


# -- the controller ----------------------------------------------------------------------------

@dataclass
class _Run:
    """One sync of one Deployment: the Deployment as last written and its ReplicaSets."""

    key: str
    d: Obj
    views: list[RSView]
    now: float
    next_check: float | None = None

    @property
    def now_text(self) -> str:
        return times.format(self.now)


class DeploymentController(Controller):
    name = "deployment"
    workers = 2

    def __init__(self, client: Any, informers: Any, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(client, informers)
        self.deployments = informers.get("deployments")
        self.replicasets = informers.get("replicasets")
        self.pods = informers.get("pods")
        self.d_resource = by_plural("deployments")
        self.rs_resource = by_plural("replicasets")
        self.recorder = EventRecorder(client, "deployment-controller")
        self.clock = clock
        # What this controller wrote that the informers have not shown yet (client-go's
        # mutation cache): a second sync must not act on the state before its own writes.
        self._written: dict[tuple[str, str], Obj] = {}

    def setup(self) -> None:
        self.deployments.add_handler(self._on_deployment)
        self.replicasets.add_handler(self._on_replicaset)
        self.pods.add_handler(self._on_pod)

    # -- informer handlers -----------------------------------------------------------------

    def _caught_up(self, plural: str, key: str, obj: Obj | None) -> None:
        written = self._written.get((plural, key))
        if written is not None and (obj is None or _rv(obj) >= _rv(written)):
            del self._written[(plural, key)]

    def _on_deployment(self, key: str, old: Obj | None, new: Obj | None) -> None:
        self._caught_up("deployments", key, new)
        self.queue.add(key)

    def _on_replicaset(self, key: str, old: Obj | None, new: Obj | None) -> None:
        self._caught_up("replicasets", key, new)
        rs = new or old
        assert rs is not None
        ns = rs["metadata"].get("namespace", "")
        old_ref = controller_of(old) if old is not None else None
        new_ref = controller_of(new) if new is not None else None
        if old_ref is not None and old_ref.get("kind") == "Deployment" and (
                new_ref is None or new_ref.get("uid") != old_ref.get("uid")):
            self.queue.add(f"{ns}/{old_ref['name']}")
        ref = new_ref if new is not None else old_ref
        if ref is not None:
            if ref.get("kind") == "Deployment":
                self.queue.add(f"{ns}/{ref['name']}")
            return
        # An orphan: every Deployment that selects it may adopt it.
        labels = rs["metadata"].get("labels") or {}
        for d in self.deployments.list(ns):
            sel = _selector(d)
            if sel is not None and sel.matches(labels):
                self.queue.add(key_of(d))

    def _on_pod(self, key: str, old: Obj | None, new: Obj | None) -> None:
        pod = new or old
        assert pod is not None
        if old is not None and new is not None and _pod_facts(old) == _pod_facts(new):
            return
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        ns = pod["metadata"].get("namespace", "")
        rs = self._get("replicasets", f"{ns}/{ref['name']}")
        if rs is None:
            return
        owner = controller_of(rs)
        if owner is not None and owner.get("kind") == "Deployment":
            self.queue.add(f"{ns}/{owner['name']}")

    # -- cache reads through our own writes ------------------------------------------------

    def _informer(self, plural: str) -> Any:
        return self.deployments if plural == "deployments" else self.replicasets

    def _get(self, plural: str, key: str) -> Obj | None:
        cached = self._informer(plural).get(key)
        written = self._written.get((plural, key))
        if written is not None and (cached is None or _rv(written) > _rv(cached)):
            return written
        return cached

    def _remember(self, plural: str, obj: Obj) -> Obj:
        self._written[(plural, key_of(obj))] = obj
        return obj

    def _replicasets_in(self, ns: str) -> list[Obj]:
        found = {key_of(o): o for o in self.replicasets.list(ns)}
        for (plural, key), obj in list(self._written.items()):
            if plural == "replicasets" and obj["metadata"].get("namespace") == ns:
                if key not in found or _rv(obj) > _rv(found[key]):
                    found[key] = obj
        return list(found.values())

    # -- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        cached = self._get("deployments", key)
        if cached is None:
            return
        d = copy.deepcopy(cached)
        run = _Run(key, d, [], self.clock())
        selector = _selector(d)
        if selector is None:
            self.recorder.record(d, "Warning", "SelectingAll",
                                 "This deployment is selecting all pods. A non-empty selector is required.")
            status = d.get("status") or {}
            if status.get("observedGeneration", 0) < d["metadata"].get("generation", 1):
                await self._write_status(run, {**status, "observedGeneration": d["metadata"].get("generation", 1)})
            return
        rs_objs = await self._claim(d, selector)
        run.views = self._views(run, rs_objs)
        try:
            if d["metadata"].get("deletionTimestamp"):
                new_rs, old_rss = await self._get_all(run, create=False)
                await self._sync_status(run, new_rs, old_rss)
                return
            await self._check_paused(run)
            if _spec(run.d).get("paused"):
                await self._sync_scale(run)
                return
            if await self._is_scaling_event(run):
                await self._sync_scale(run)
                return
            if is_rolling(run.d):
                await self._rollout_rolling(run)
            else:
                await self._rollout_recreate(run)
        finally:
            if run.next_check is not None:
                self.queue.add_after(key, run.next_check + 0.05)

    def _views(self, run: _Run, rs_objs: list[Obj]) -> list[RSView]:
        views = {rs["metadata"]["uid"]: RSView(rs) for rs in rs_objs}
        min_ready = int(_spec(run.d).get("minReadySeconds") or 0)
        ns = run.d["metadata"].get("namespace", "")
        for pod in self.pods.list(ns):
            ref = controller_of(pod)
            view = views.get(ref.get("uid", "")) if ref is not None else None
            if view is None:
                continue
            view.all_pods.append(pod)
            if not is_active(pod):
                continue
            view.pods += 1
            if is_ready(pod):
                view.ready += 1
            available, wait = pod_availability(pod, min_ready, run.now)
            if available:
                view.available_pods += 1
            elif wait is not None:
                run.next_check = wait if run.next_check is None else min(run.next_check, wait)
        return list(views.values())

    async def _claim(self, d: Obj, selector: LabelSelector) -> list[Obj]:
        """The ReplicaSets this Deployment controls: adopt matching orphans, release those
        whose labels no longer match (ClaimReplicaSets)."""
        meta = d["metadata"]
        ns, uid = meta.get("namespace", ""), meta["uid"]
        deleting = bool(meta.get("deletionTimestamp"))
        claimed: list[Obj] = []
        checked = False
        for rs in self._replicasets_in(ns):
            rs_meta = rs["metadata"]
            labels = rs_meta.get("labels") or {}
            ref = controller_of(rs)
            if ref is not None:
                if ref.get("uid") != uid:
                    continue
                if selector.matches(labels):
                    claimed.append(rs)
                elif not deleting and not rs_meta.get("deletionTimestamp"):
                    refs = [r for r in rs_meta.get("ownerReferences") or () if r.get("uid") != uid]
                    await self._patch_owner_refs(rs, refs)
                continue
            if deleting or rs_meta.get("deletionTimestamp") or not selector.matches(labels):
                continue
            if not checked:  # adopt only for a Deployment that still exists as we saw it
                fresh = await self.client.get(self.d_resource, ns, meta["name"])
                if fresh["metadata"]["uid"] != uid or fresh["metadata"].get("deletionTimestamp"):
                    return claimed
                checked = True
            refs = list(rs_meta.get("ownerReferences") or []) + [_owner_ref(d)]
            adopted = await self._patch_owner_refs(rs, refs)
            if adopted is not None:
                claimed.append(adopted)
        return claimed

    async def _patch_owner_refs(self, rs: Obj, refs: list[Obj]) -> Obj | None:
        meta = rs["metadata"]
        try:
            updated = await self.client.patch(self.rs_resource, meta["namespace"], meta["name"], {
                "metadata": {"ownerReferences": refs or None, "resourceVersion": meta["resourceVersion"]}})
        except errors.NotFound:
            return None
        return self._remember("replicasets", updated)

    # -- the new and old ReplicaSets ---------------------------------------------------------

    async def _get_all(self, run: _Run, create: bool) -> tuple[RSView | None, list[RSView]]:
        """getAllReplicaSetsAndSyncRevision: the new ReplicaSet (created if asked and missing)
        with its revision and annotations synced, and the old ones."""
        d = run.d
        new_rs = find_new(d, run.views)
        old_rss = [rs for rs in run.views if rs is not new_rs]
        new_revision = max_revision(old_rss) + 1
        if new_rs is not None:
            rs_copy = copy.deepcopy(new_rs.obj)
            changed = set_new_rs_annotations(d, rs_copy, new_revision, exists=True)
            min_ready = int(_spec(d).get("minReadySeconds") or 0)
            if int(_spec(rs_copy).get("minReadySeconds") or 0) != min_ready:
                _set_min_ready(rs_copy, min_ready)
                changed = True
            if changed:
                new_rs.obj = await self._update_rs(rs_copy)
            await self._set_deployment_revision(run, (new_rs.obj["metadata"].get("annotations") or {}).get(REVISION))
            status = copy.deepcopy(run.d.get("status") or {})
            if has_progress_deadline(run.d) and get_condition(status, PROGRESSING) is None:
                set_condition(status, new_condition(PROGRESSING, "True", FOUND_NEW_RS,
                                                    f'Found new replica set "{new_rs.name}"', run.now_text))
                await self._write_status(run, status)
            return new_rs, old_rss
        if not create:
            return None, old_rss
        return await self._create_new(run, old_rss, new_revision), old_rss

    async def _create_new(self, run: _Run, old_rss: list[RSView], new_revision: int) -> RSView:
        d = run.d
        meta, spec = d["metadata"], _spec(d)
        status = d.get("status") or {}
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = compute_hash(template, status.get("collisionCount"))
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: pod_hash}
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
        name = f"{meta['name']}-{pod_hash}"
        rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": meta["namespace"], "labels": dict(tmeta["labels"]),
                         "ownerReferences": [_owner_ref(d)]},
            "spec": {"replicas": 0, "selector": selector, "template": template},
        }
        _set_min_ready(rs, int(spec.get("minReadySeconds") or 0))
        view = RSView(rs)
        size = new_rs_new_replicas(d, old_rss + [view], view)
        rs["spec"]["replicas"] = size
        set_new_rs_annotations(d, rs, new_revision, exists=False)
        already = False
        try:
            created = await self.client.create(self.rs_resource, meta["namespace"], rs)
        except errors.AlreadyExists:
            existing = await self.client.get(self.rs_resource, meta["namespace"], name)
            ref = controller_of(existing)
            if ref is None or ref.get("uid") != meta["uid"] or not equal_ignore_hash(
                    spec.get("template"), _spec(existing).get("template")):
                # A hash collision: the next name comes from a bigger collision count.
                new_status = copy.deepcopy(status)
                new_status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
                await self._write_status(run, new_status)
                raise errors.Conflict(f"replica set {name} already exists with another template; "
                                      f"collision count raised to {new_status['collisionCount']}")
            created, already = existing, True
        except errors.APIError as e:
            if has_progress_deadline(d):
                new_status = copy.deepcopy(status)
                set_condition(new_status, new_condition(PROGRESSING, "False", FAILED_RS_CREATE,
                                                        f'Failed to create new replica set "{name}": {e}',
                                                        run.now_text))
                await self._write_status(run, new_status)
            raise
        self._remember("replicasets", created)
        view = RSView(created)
        run.views.append(view)
        if not already and size > 0:
            self.recorder.record(run.d, "Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {size}")
        await self._set_deployment_revision(run, str(new_revision))
        if not already and has_progress_deadline(run.d):
            new_status = copy.deepcopy(run.d.get("status") or {})
            set_condition(new_status, new_condition(PROGRESSING, "True", NEW_RS_CREATED,
                                                    f'Created new replica set "{name}"', run.now_text))
            await self._write_status(run, new_status)
        return view

    # -- writes ----------------------------------------------------------------------------

    async def _update_rs(self, rs: Obj) -> Obj:
        return self._remember("replicasets", await self.client.update(self.rs_resource, rs))

    async def _write_status(self, run: _Run, status: Obj) -> None:
        body = dict(run.d, status=status)
        run.d = self._remember("deployments", await self.client.update(self.d_resource, body, subresource="status"))

    async def _set_deployment_revision(self, run: _Run, revision: str | None) -> None:
        if revision is None or (run.d["metadata"].get("annotations") or {}).get(REVISION) == revision:
            return
        meta = run.d["metadata"]
        updated = await self.client.patch(self.d_resource, meta["namespace"], meta["name"], {
            "metadata": {"annotations": {REVISION: revision}, "resourceVersion": meta["resourceVersion"]}})
        run.d = self._remember("deployments", updated)

    async def _scale_rs(self, run: _Run, rs: RSView, size: int, *, always_annotate: bool = False) -> bool:
        """Set a ReplicaSet's size (and its desired/max-replicas annotations); whether the size
        changed. Without always_annotate an unchanged size writes nothing
        (scaleReplicaSetAndRecordEvent); with it the annotations are refreshed (scaleReplicaSet)."""
        d = run.d
        if rs.replicas == size and not always_annotate:
            return False
        body = copy.deepcopy(rs.obj)
        annotated = set_replicas_annotations(body, replicas_of(d), replicas_of(d) + max_surge(d))
        if rs.replicas == size and not annotated:
            return False
        before = rs.replicas
        body["spec"]["replicas"] = size
        rs.obj = await self._update_rs(body)
        if before != size:
            direction = "up" if before < size else "down"
            self.recorder.record(d, "Normal", "ScalingReplicaSet",
                                 f"Scaled {direction} replica set {rs.name} from {before} to {size}")
            return True
        return False

    # -- strategies ------------------------------------------------------------------------

    async def _rollout_rolling(self, run: _Run) -> None:
        new_rs, old_rss = await self._get_all(run, create=True)
        assert new_rs is not None
        all_rss = old_rss + [new_rs]
        # Scale up, if we can.
        desired = replicas_of(run.d)
        if new_rs.replicas != desired:
            size = desired if new_rs.replicas > desired else new_rs_new_replicas(run.d, all_rss, new_rs)
            if await self._scale_rs(run, new_rs, size):
                await self._sync_rollout_status(run, new_rs, old_rss)
                return
        # Scale down, if we can.
        scaled = False
        for rs, size in plan_old_scale_down(run.d, new_rs, old_rss):
            scaled = await self._scale_rs(run, rs, size) or scaled
        if not scaled and deployment_complete(run.d, run.d.get("status") or {}):
            await self._cleanup(run, old_rss)
        await self._sync_rollout_status(run, new_rs, old_rss)

    async def _rollout_recreate(self, run: _Run) -> None:
        new_rs, old_rss = await self._get_all(run, create=False)
        scaled = False
        for rs in active(old_rss):
            scaled = await self._scale_rs(run, rs, 0) or scaled
        if scaled or _old_pods_running(new_rs, old_rss):
            await self._sync_rollout_status(run, new_rs, old_rss)
            return
        if new_rs is None:
            new_rs, old_rss = await self._get_all(run, create=True)
            assert new_rs is not None
        await self._scale_rs(run, new_rs, replicas_of(run.d))
        if deployment_complete(run.d, run.d.get("status") or {}):
            await self._cleanup(run, old_rss)
        await self._sync_rollout_status(run, new_rs, old_rss)

    async def _is_scaling_event(self, run: _Run) -> bool:
        new_rs, old_rss = await self._get_all(run, create=False)
        desired = replicas_of(run.d)
        for rs in active(old_rss + [new_rs]):
            annotated = _annotation_int(rs, DESIRED_REPLICAS)
            if annotated is not None and annotated != desired:
                return True
        return False

    async def _sync_scale(self, run: _Run) -> None:
        """sync(): scale (proportionally) for paused Deployments and replica changes."""
        new_rs, old_rss = await self._get_all(run, create=False)
        planned = plan_scale(run.d, new_rs, old_rss)
        for rs, size in planned:
            await self._scale_rs(run, rs, size, always_annotate=True)
        # An active ReplicaSet already of the right size still learns the Deployment's size, or
        # every later sync would take it for a scaling event.
        for rs in active(old_rss + [new_rs]):
            if all(rs is not p for p, _ in planned):
                await self._scale_rs(run, rs, rs.replicas, always_annotate=True)
        if _spec(run.d).get("paused"):
            await self._cleanup(run, old_rss)
        await self._sync_status(run, new_rs, old_rss)

    async def _check_paused(self, run: _Run) -> None:
        if not has_progress_deadline(run.d):
            return
        status = copy.deepcopy(run.d.get("status") or {})
        cond = get_condition(status, PROGRESSING)
        if cond is not None and cond.get("reason") == TIMED_OUT:
            return
        paused_cond = cond is not None and cond.get("reason") == PAUSED
        paused = bool(_spec(run.d).get("paused"))
        if paused and not paused_cond:
            set_condition(status, new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", run.now_text))
        elif not paused and paused_cond:
            set_condition(status, new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", run.now_text))
        else:
            return
        await self._write_status(run, status)

    async def _cleanup(self, run: _Run, old_rss: list[RSView]) -> None:
        """Delete the oldest revisions beyond revisionHistoryLimit (only ReplicaSets with no pods)."""
        limit = _spec(run.d).get("revisionHistoryLimit")
        if limit is None or int(limit) == _MAX_INT32:
            return
        alive = [rs for rs in old_rss if not rs.obj["metadata"].get("deletionTimestamp")]
        excess = len(alive) - int(limit)
        if excess <= 0:
            return
        alive.sort(key=lambda rs: (rs.revision, by_creation(rs)))
        for rs in alive[:excess]:
            observed = (rs.obj.get("status") or {}).get("observedGeneration", 0)
            if rs.pods or rs.replicas or rs.obj["metadata"].get("generation", 1) > observed:
                continue
            try:
                await self.client.delete(self.rs_resource, rs.obj["metadata"]["namespace"], rs.name,
                                         preconditions={"uid": rs.uid})
            except errors.NotFound:
                pass
            self._written.pop(("replicasets", key_of(rs.obj)), None)
            run.views = [v for v in run.views if v is not rs]

    # -- status ----------------------------------------------------------------------------

    async def _sync_status(self, run: _Run, new_rs: RSView | None, old_rss: list[RSView]) -> None:
        status = calculate_status(run.d, old_rss + ([new_rs] if new_rs else []), new_rs, run.now_text)
        if status != (run.d.get("status") or {}):
            await self._write_status(run, status)

    async def _sync_rollout_status(self, run: _Run, new_rs: RSView | None, old_rss: list[RSView]) -> None:
        d = run.d
        all_rss = old_rss + ([new_rs] if new_rs else [])
        status = calculate_status(d, all_rss, new_rs, run.now_text)
        if not has_progress_deadline(d):
            remove_condition(status, PROGRESSING)
        current = get_condition(d.get("status") or {}, PROGRESSING)
        complete = (status.get("replicas", 0) == status.get("updatedReplicas", 0) and current is not None
                    and current.get("reason") == NEW_RS_AVAILABLE)
        subject = f'ReplicaSet "{new_rs.name}"' if new_rs is not None else f'Deployment "{d["metadata"]["name"]}"'
        if has_progress_deadline(d) and not complete:
            if deployment_complete(d, status):
                set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE,
                                                    f"{subject} has successfully progressed.", run.now_text))
            elif deployment_progressing(d, status):
                cond = new_condition(PROGRESSING, "True", RS_UPDATED, f"{subject} is progressing.", run.now_text)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime", cond["lastTransitionTime"])
                    remove_condition(status, PROGRESSING)
                set_condition(status, cond)
            elif deployment_timed_out(d, status, run.now):
                set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT,
                                                    f"{subject} has timed out progressing.", run.now_text))
        failure = _replica_failure(new_rs, old_rss)
        if failure is not None:
            set_condition(status, failure)
        else:
            remove_condition(status, REPLICA_FAILURE)
        if status == (d.get("status") or {}):
            self._requeue_stuck(run, status)
            return
        await self._write_status(run, status)

    def _requeue_stuck(self, run: _Run, status: Obj) -> None:
        """Come back when the progress deadline would pass, to report it."""
        cond = get_condition(run.d.get("status") or {}, PROGRESSING)
        if not has_progress_deadline(run.d) or cond is None:
            return
        if deployment_complete(run.d, status) or cond.get("reason") == TIMED_OUT:
            return
        since = times.parse(cond.get("lastUpdateTime"))
        if since is None:
            return
        after = since + int(_spec(run.d)["progressDeadlineSeconds"]) - run.now
        wait = 0.5 if after < 1 else after + 1
        run.next_check = wait if run.next_check is None else min(run.next_check, wait)


# -- helpers for the controller -------------------------------------------------------------------

def _selector(d: Obj) -> LabelSelector | None:
    """The Deployment's selector; None for an empty one (it would select everything)."""
    sel = _spec(d).get("selector") or {}
    if not sel.get("matchLabels") and not sel.get("matchExpressions"):
        return None
    try:
        return selector_from_object(sel)
    except errors.APIError:
        return None


def _owner_ref(d: Obj) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": d["metadata"]["name"],
            "uid": d["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _set_min_ready(rs: Obj, seconds: int) -> None:
    if seconds:
        rs["spec"]["minReadySeconds"] = seconds
    else:
        rs["spec"].pop("minReadySeconds", None)


def _pod_facts(pod: Obj) -> tuple[Any, ...]:
    meta = pod["metadata"]
    ready = next((c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"), None)
    return (bool(meta.get("deletionTimestamp")), (pod.get("status") or {}).get("phase"),
            None if ready is None else (ready.get("status"), ready.get("lastTransitionTime")),
            str((controller_of(pod) or {}).get("uid")))


def _old_pods_running(new_rs: RSView | None, old_rss: list[RSView]) -> bool:
    """Recreate waits until no pod of an old ReplicaSet is left running (or being deleted)."""
    if sum(rs.pods for rs in old_rss) > 0:
        return True
    for rs in old_rss:
        for pod in rs.all_pods:
            if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
    return False


def _replica_failure(new_rs: RSView | None, old_rss: list[RSView]) -> Obj | None:
    for rs in ([new_rs] if new_rs else []) + old_rss:
        for c in (rs.obj.get("status") or {}).get("conditions") or ():
            if c.get("type") == REPLICA_FAILURE:
                return {"type": REPLICA_FAILURE, "status": c.get("status"),
                        "lastUpdateTime": c.get("lastTransitionTime"), "lastTransitionTime": c.get("lastTransitionTime"),
                        "reason": c.get("reason", ""), "message": c.get("message", "")}
    return None
