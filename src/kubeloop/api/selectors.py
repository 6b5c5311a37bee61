"""Label and field selectors: parsing the query-string forms and matching objects.

Label selectors follow apimachinery's syntax (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) and
the structured LabelSelector (matchLabels/matchExpressions) of workloads. Field selectors
accept `path=value`, `path==value` and `path!=value` on dotted paths (`metadata.name`,
`spec.nodeName`, `involvedObject.uid`). Pure; raises BadRequest on syntax errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from .errors import BadRequest

Matcher = Callable[[dict[str, str]], bool]


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # =, !=, in, notin, exists, !
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!":
            return self.key not in labels
        if self.op in ("=", "in"):
            return self.key in labels and labels[self.key] in self.values
        # != and notin match when the key is absent, as Kubernetes does.
        return labels.get(self.key) not in self.values


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        parts = []
        for r in self.requirements:
            if r.op == "exists":
                parts.append(r.key)
            elif r.op == "!":
                parts.append("!" + r.key)
            elif r.op in ("=", "!="):
                parts.append(f"{r.key}{r.op}{r.values[0]}")
            else:
                parts.append(f"{r.key} {r.op} ({','.join(r.values)})")
        return ",".join(parts)


_SET_RE = re.compile(r"^\s*([^\s!=,()]+)\s+(in|notin)\s+\(([^)]*)\)\s*")
_EQ_RE = re.compile(r"^\s*([^\s!=,()]+)\s*(==|!=|=)\s*([^\s,()]*)\s*")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([^\s!=,()]+)\s*")


def parse_label_selector(text: str | None) -> LabelSelector:
    if not text or not text.strip():
        return LabelSelector()
    reqs: list[Requirement] = []
    rest = text
    while rest.strip():
        m = _SET_RE.match(rest)
        if m:
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append(Requirement(m.group(1), m.group(2), values))
        else:
            m = _EQ_RE.match(rest)
            if m:
                op = "=" if m.group(2) in ("=", "==") else "!="
                reqs.append(Requirement(m.group(1), op, (m.group(3),)))
            else:
                m = _EXISTS_RE.match(rest)
                if not m:
                    raise BadRequest(f"unable to parse requirement: {rest!r}")
                reqs.append(Requirement(m.group(2), "!" if m.group(1) else "exists"))
        rest = rest[m.end():]
        if rest.strip():
            if not rest.lstrip().startswith(","):
                raise BadRequest(f"unable to parse requirement: found '{rest.strip()}', expected: ','")
            rest = rest.lstrip()[1:]
    return LabelSelector(tuple(reqs))


def selector_from_object(selector: dict[str, Any] | None) -> LabelSelector:
    """A structured LabelSelector (matchLabels/matchExpressions) as a matcher."""
    if not selector:
        return LabelSelector()
    reqs = [Requirement(k, "=", (str(v),)) for k, v in sorted((selector.get("matchLabels") or {}).items())]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        op = ops.get(expr.get("operator", ""))
        if op is None:
            raise BadRequest(f"{expr.get('operator')!r} is not a valid label selector operator")
        reqs.append(Requirement(expr["key"], op, tuple(expr.get("values") or ())))
    return LabelSelector(tuple(reqs))


def selector_from_map(labels: dict[str, str] | None) -> LabelSelector:
    """A plain map selector (Service, ReplicationController): every key must equal."""
    return LabelSelector(tuple(Requirement(k, "=", (str(v),)) for k, v in sorted((labels or {}).items())))


@dataclass(frozen=True)
class FieldRequirement:
    path: tuple[str, ...]
    negate: bool
    value: str

    def matches(self, obj: dict[str, Any]) -> bool:
        cur: Any = obj
        for part in self.path:
            cur = cur.get(part) if isinstance(cur, dict) else None
        actual = "" if cur is None else (str(cur).lower() if isinstance(cur, bool) else str(cur))
        return (actual == self.value) != self.negate


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def exact(self, path: str) -> str | None:
        """The value required for `path` by an equality requirement, if any (to narrow a scan)."""
        want = tuple(path.split("."))
        for r in self.requirements:
            if r.path == want and not r.negate:
                return r.value
        return None


def parse_field_selector(text: str | None) -> FieldSelector:
    if not text or not text.strip():
        return FieldSelector()
    reqs = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*)$", part)
        if not m:
            raise BadRequest(f"invalid field selector: {part!r}")
        reqs.append(FieldRequirement(tuple(m.group(1).split(".")), m.group(2) == "!=", m.group(3)))
    return FieldSelector(tuple(reqs))
