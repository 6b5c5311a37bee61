"""Pod facts every component agrees on: readiness, activity, conditions. Pure."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def condition(obj: Obj, type_: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return c
    return None


def is_ready(pod: Obj) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_active(pod: Obj) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    return not is_terminal(pod) and not pod["metadata"].get("deletionTimestamp")


def set_condition(conditions: list[Obj], type_: str, status: str, now: str, reason: str = "",
                  message: str = "") -> list[Obj]:
    """Conditions with `type_` set; lastTransitionTime changes only when the status does."""
    out = []
    found = False
    for c in conditions:
        if c.get("type") == type_:
            found = True
            new = {"type": type_, "status": status, "lastProbeTime": None,
                   "lastTransitionTime": c.get("lastTransitionTime") if c.get("status") == status else now}
            if reason:
                new["reason"] = reason
            if message:
                new["message"] = message
            out.append(new)
        else:
            out.append(c)
    if not found:
        new = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": now}
        if reason:
            new["reason"] = reason
        if message:
            new["message"] = message
        out.append(new)
    return out
