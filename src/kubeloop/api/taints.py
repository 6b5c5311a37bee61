"""Taints and tolerations: which pods a node's taints keep away or evict. Pure.

The rules are Kubernetes' (``k8s.io/api/core/v1`` ``Toleration.ToleratesTaint``): a toleration
with an empty effect matches every effect; an empty key with operator ``Exists`` matches
every taint; ``Exists`` ignores the value, ``Equal`` (the default) compares it.
``default_tolerations`` is the DefaultTolerationSeconds admission plugin: every new pod
tolerates ``not-ready`` and ``unreachable`` for 300 s unless it says otherwise, which is
why a pod on a dead node is evicted five minutes after the node stops answering.
"""

from __future__ import annotations

from typing import Any, Iterable

from . import times

Obj = dict[str, Any]

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
DEFAULT_TOLERATION_SECONDS = 300


def tolerates(toleration: Obj, taint: Obj) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if key and key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated(taints: Iterable[Obj], tolerations: Iterable[Obj], effects: tuple[str, ...]) -> list[Obj]:
    """The taints with one of ``effects`` that no toleration matches."""
    tolerations = list(tolerations)
    return [t for t in taints if t.get("effect") in effects and not any(tolerates(x, t) for x in tolerations)]


def describe(taint: Obj) -> str:
    """As the scheduler names a taint in its messages: ``{key: value}``."""
    return f"{{{taint.get('key', '')}: {taint.get('value') or ''}}}"


def eviction_delay(taints: Iterable[Obj], tolerations: Iterable[Obj]) -> float | None:
    """Seconds a pod may stay on a node with these taints: 0 if one NoExecute taint is not
    tolerated, the smallest ``tolerationSeconds`` among the tolerations that match, or None
    when every NoExecute taint is tolerated forever (or there is none)."""
    tolerations = list(tolerations)
    delay: float | None = None
    for taint in taints:
        if taint.get("effect") != "NoExecute":
            continue
        matching = [x for x in tolerations if tolerates(x, taint)]
        if not matching:
            return 0.0
        bounded = [x["tolerationSeconds"] for x in matching if x.get("tolerationSeconds") is not None]
        if len(bounded) == len(matching):  # a forever-toleration wins over bounded ones
            seconds = max(float(min(bounded)), 0.0)
            delay = seconds if delay is None else min(delay, seconds)
    return delay


def taint_added(taint: Obj) -> float | None:
    """The taint's ``timeAdded`` as a POSIX timestamp, when it has one."""
    return times.parse(taint.get("timeAdded"))


def default_tolerations(pod: Obj) -> None:
    """Add 300 s tolerations of not-ready/unreachable NoExecute taints to a new pod that has
    no toleration of its own for them."""
    spec = pod.setdefault("spec", {})
    tolerations = list(spec.get("tolerations") or [])
    for key in (NOT_READY, UNREACHABLE):
        # The plugin's own test: any toleration naming this key (or every key) for NoExecute
        # (or every effect) counts, whatever its operator and value.
        if any((x.get("key") or "") in ("", key) and (x.get("effect") or "") in ("", "NoExecute")
               for x in tolerations):
            continue
        tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                            "tolerationSeconds": DEFAULT_TOLERATION_SECONDS})
    spec["tolerations"] = tolerations
