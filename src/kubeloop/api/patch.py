"""How a PATCH body changes an object: merge, JSON, strategic merge and apply patches.

This module owns the patch semantics of every PATCH content type kubectl and client libraries
send, as pure functions on JSON-shaped objects:

    application/merge-patch+json              merge_patch()            RFC 7386
    application/json-patch+json               json_patch()             RFC 6902
    application/strategic-merge-patch+json    strategic_merge_patch()  Kubernetes SMP
    application/apply-patch+yaml              apply_patch()            approximate server-side apply

Strategic merge patch needs to know which lists merge by which key. That knowledge lives in one
table, `MERGE_KEYS`: (apiVersion, kind) -> {field path -> merge key}, derived from the
`patchStrategy`/`patchMergeKey` struct tags of k8s.io/api 1.32. Paths are dotted field names,
`[]` stands for "every element of that list" (`spec.containers[].ports`), and the merge key `SET`
("") marks a list of scalars merged as a set (finalizers, podCIDRs). Lists not in the table are
replaced wholesale, as are all lists of kinds not in the table.

Every function returns a new object and never mutates its arguments, and no SMP directive
(`$patch`, `$retainKeys`, `$setElementOrder/…`, `$deleteFromPrimitiveList/…`) survives into a
result. Errors are kubeloop's Status exceptions: a patch that cannot be decoded is
`errors.BadRequest` (400); a well-formed JSON patch that cannot be applied (missing path, failed
`test`) is `UnprocessablePatch` (422 Invalid), as in kube-apiserver. No I/O.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from kubeloop.api import errors
from kubeloop.api.registry import Obj

__all__ = [
    "MERGE_KEYS",
    "SET",
    "UnprocessablePatch",
    "apply_patch",
    "json_patch",
    "merge_keys",
    "merge_patch",
    "strategic_merge_patch",
]


class UnprocessablePatch(errors.Invalid):
    """422 Invalid without field causes: a well-formed patch that cannot be applied.

    kube-apiserver answers a failing JSON patch with exactly this status (reason Invalid, the
    generic 422 message); kubeloop appends what went wrong so the user can tell why.
    """

    def __init__(self, detail: str) -> None:
        errors.APIError.__init__(self, f"the server rejected our request due to an error in our request: {detail}")
        self.errors = []


# --------------------------------------------------------------------------------------------
# Merge-key table (k8s.io/api 1.32 struct tags)
# --------------------------------------------------------------------------------------------

SET = ""
"""Merge key of a list of scalars that merges as a set (`patchStrategy:"merge"`, no key)."""


def _under(prefix: str, rules: Mapping[str, str]) -> dict[str, str]:
    """Re-root a rule table below `prefix` (`spec` + `containers` -> `spec.containers`)."""
    return {f"{prefix}.{path}": key for path, key in rules.items()}


# ObjectMeta: ownerReferences by uid, finalizers as a set.
_OBJECT_META = {"ownerReferences": "uid", "finalizers": SET}

# Container and EphemeralContainer (EphemeralContainerCommon is inlined, same tags).
_CONTAINER = {"ports": "containerPort", "env": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath"}

# PodSpec. `volumes` and `resourceClaims` are also `retainKeys`; the server honours a
# `$retainKeys` directive wherever it appears, so that needs no entry here.
_POD_SPEC = {
    "volumes": "name",
    "initContainers": "name",
    "containers": "name",
    "ephemeralContainers": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "schedulingGates": "name",
    "resourceClaims": "name",
    **_under("initContainers[]", _CONTAINER),
    **_under("containers[]", _CONTAINER),
    **_under("ephemeralContainers[]", _CONTAINER),
}

_POD_STATUS = {"conditions": "type", "podIPs": "ip", "hostIPs": "ip", "resourceClaimStatuses": "name"}

_META = _under("metadata", _OBJECT_META)
_CONDITIONS = {"status.conditions": "type"}

# ReplicationController, ReplicaSet, Deployment: a pod template under spec.template.
# (DeploymentSpec.strategy is `retainKeys` only: again nothing to record.)
_WORKLOAD = {
    **_META,
    **_under("spec.template.metadata", _OBJECT_META),
    **_under("spec.template.spec", _POD_SPEC),
    **_CONDITIONS,
}

MERGE_KEYS: dict[tuple[str, str], dict[str, str]] = {
    ("v1", "Pod"): {**_META, **_under("spec", _POD_SPEC), **_under("status", _POD_STATUS)},
    ("v1", "Service"): {**_META, "spec.ports": "port", **_CONDITIONS},
    ("v1", "ReplicationController"): _WORKLOAD,
    ("v1", "Endpoints"): _META,
    ("v1", "Node"): {**_META, "spec.podCIDRs": SET, **_CONDITIONS, "status.addresses": "type"},
    ("v1", "Namespace"): {**_META, **_CONDITIONS},
    ("v1", "Secret"): _META,
    ("v1", "ConfigMap"): _META,
    ("v1", "Event"): _META,
    ("v1", "ServiceAccount"): {**_META, "secrets": "name"},
    ("apps/v1", "ReplicaSet"): _WORKLOAD,
    ("apps/v1", "Deployment"): _WORKLOAD,
    ("networking.k8s.io/v1", "Ingress"): _META,
    ("networking.k8s.io/v1", "IngressClass"): _META,
    ("discovery.k8s.io/v1", "EndpointSlice"): _META,
    ("coordination.k8s.io/v1", "Lease"): _META,
}
"""(apiVersion, kind) -> {field path -> merge key}; the only place SMP list strategies live."""


def merge_keys(api_version: str, kind: str) -> Mapping[str, str]:
    """The merge-list rules of a kind; empty (every list replaced) for kinds not in the table."""
    return MERGE_KEYS.get((api_version, kind), {})


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------

_MISSING: Any = object()
"""Sentinel: no value here (a key that is absent, or a value that a directive deleted)."""


def _json_equal(a: Any, b: Any) -> bool:
    """JSON value equality: like ==, except that true/false never equal 1/0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _require_object(value: Any, what: str) -> Obj:
    if not isinstance(value, dict):
        raise errors.BadRequest(f"{what} must be a JSON object, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


# --------------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch
# --------------------------------------------------------------------------------------------


def merge_patch(target: Obj, patch: Obj) -> Obj:
    """Apply an RFC 7386 merge patch: objects merge recursively, null deletes, the rest replaces."""
    _require_object(patch, "a merge patch")
    result: Obj = _merge_value(copy.deepcopy(target), patch)
    return result


def _merge_value(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch(Target, Patch); `target` is owned by the caller and may be changed."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_value(result.get(key), value)
    return result


# --------------------------------------------------------------------------------------------
# RFC 6902 JSON patch
# --------------------------------------------------------------------------------------------

_OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_BAD_ESCAPE = re.compile(r"~(?![01])")


class _OpFailed(Exception):
    """Internal: why one operation failed; json_patch() adds which operation it was."""


def json_patch(target: Obj, ops: list[Any]) -> Obj:
    """Apply an RFC 6902 JSON patch atomically: all operations succeed or the target is unchanged.

    A body that is not an array of objects is a BadRequest (400); any operation that cannot be
    applied (unknown or incomplete op, bad pointer, missing path, failed `test`) is an
    UnprocessablePatch (422), which is how kube-apiserver answers both cases.
    """
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise errors.BadRequest("a JSON patch must be an array of operation objects")
    doc: Any = copy.deepcopy(target)
    for number, op in enumerate(ops):
        try:
            doc = _apply_operation(doc, op)
        except _OpFailed as exc:
            raise UnprocessablePatch(f"JSON patch operation {number} ({_describe(op)}): {exc}") from None
    if not isinstance(doc, dict):
        raise UnprocessablePatch(f"the patched document must be an object, got {_json_type(doc)}")
    return doc


def _describe(op: Obj) -> str:
    return f"{op.get('op', '?')} {op.get('path', '?')}"


def _apply_operation(doc: Any, op: Obj) -> Any:
    name = op.get("op")
    if name not in _OPERATIONS:
        raise _OpFailed(f"unknown op {name!r}: must be one of {', '.join(_OPERATIONS)}")
    path = _pointer(op, "path")
    if name in ("add", "replace", "test") and "value" not in op:
        raise _OpFailed('missing "value"')
    if name == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if name == "remove":
        return _remove(doc, path)[0]
    if name == "replace":
        return _replace(doc, path, copy.deepcopy(op["value"]))
    if name == "test":
        if not _json_equal(_get(doc, path), op["value"]):
            raise _OpFailed(f"testing value {op['path']} failed")
        return doc
    source = _pointer(op, "from")
    if name == "copy":
        return _add(doc, path, copy.deepcopy(_get(doc, source)))
    # move
    if path[: len(source)] == source and len(path) > len(source):
        raise _OpFailed('"from" must not be a prefix of "path"')
    if path == source:
        _get(doc, source)
        return doc
    doc, value = _remove(doc, source)
    return _add(doc, path, value)


def _pointer(op: Obj, field: str) -> list[str]:
    """Decode an RFC 6901 JSON pointer ("/a/b~1c" -> ["a", "b/c"])."""
    if field not in op:
        raise _OpFailed(f'missing "{field}"')
    text = op[field]
    if not isinstance(text, str):
        raise _OpFailed(f'"{field}" must be a string')
    if text == "":
        return []
    if not text.startswith("/"):
        raise _OpFailed(f'"{field}" {text!r} is not a JSON pointer: must start with "/"')
    if _BAD_ESCAPE.search(text):
        raise _OpFailed(f'"{field}" {text!r}: "~" must be followed by 0 or 1')
    return [token.replace("~1", "/").replace("~0", "~") for token in text[1:].split("/")]


def _index(token: str, length: int, *, end_ok: bool) -> int:
    """The array index a pointer token names; "-" (one past the end) only when adding."""
    if token == "-" and end_ok:
        return length
    if not _ARRAY_INDEX.fullmatch(token):
        raise _OpFailed(f"invalid array index {token!r}")
    index = int(token)
    if index > length or (index == length and not end_ok):
        raise _OpFailed(f"array index {index} out of bounds (length {length})")
    return index


def _get(doc: Any, path: list[str]) -> Any:
    for token in path:
        if isinstance(doc, dict):
            if token not in doc:
                raise _OpFailed(f"path not found: missing key {token!r}")
            doc = doc[token]
        elif isinstance(doc, list):
            doc = doc[_index(token, len(doc), end_ok=False)]
        else:
            raise _OpFailed(f"path not found: cannot descend into a {_json_type(doc)} at {token!r}")
    return doc


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent, last = _get(doc, path[:-1]), path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), end_ok=True), value)
    else:
        raise _OpFailed(f"cannot add {last!r} to a {_json_type(parent)}")
    return doc


def _remove(doc: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        raise _OpFailed("cannot remove the whole document")
    parent, last = _get(doc, path[:-1]), path[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _OpFailed(f"path not found: missing key {last!r}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(last, len(parent), end_ok=False))
    raise _OpFailed(f"cannot remove {last!r} from a {_json_type(parent)}")


def _replace(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent, last = _get(doc, path[:-1]), path[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _OpFailed(f"path not found: missing key {last!r}")
        parent[last] = value
    elif isinstance(parent, list):
        parent[_index(last, len(parent), end_ok=False)] = value
    else:
        raise _OpFailed(f"cannot replace {last!r} in a {_json_type(parent)}")
    return doc


# --------------------------------------------------------------------------------------------
# Strategic merge patch
# --------------------------------------------------------------------------------------------

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"


def strategic_merge_patch(target: Obj, patch: Obj, api_version: str, kind: str) -> Obj:
    """Apply a Kubernetes strategic merge patch to an object of the given kind.

    Maps merge recursively and `null` deletes a key. Lists named in `MERGE_KEYS` merge element
    by element (maps by their merge key, scalars as a set); every other list is replaced.
    Directives, as kube-apiserver applies them:

    * `{"$patch": "replace", ...}` in a map: the map becomes the rest of this patch map;
      `{"$patch": "delete"}` removes the map (the whole result is `{}` at the top level);
      `{"$patch": "merge"}` is the default and only stripped.
    * in a merge list, `{"$patch": "delete", <key>: v}` removes the elements with that key and
      a `{"$patch": "replace"}` element makes the other elements the whole list; a bare
      `{"$patch": "merge"}` element is dropped.
    * `"$setElementOrder/<list>": [...]` gives the order of the listed elements; elements only
      the server has keep their place relative to them.
    * `"$deleteFromPrimitiveList/<list>": [...]` removes those values from the list.
    * `"$retainKeys": [...]` drops every key of the live map not named in it.

    Without `$setElementOrder`, elements the patch adds go before the server-only elements that
    follow them in the live list, as upstream (`kubectl patch` adding a container puts it first).
    Kinds not in `MERGE_KEYS` get JSON-merge-patch behaviour, still with the directives applied.
    Deviations from upstream, all on the lenient side: `$patch: merge` is accepted (upstream
    rejects it in lists and maps), `$patch: delete` on an existing map removes the key (upstream
    leaves `{}`, which the typed round trip then drops for omitempty fields), and directives
    inside replaced lists are applied rather than stored.
    """
    _require_object(patch, "a strategic merge patch")
    result = _Strategic(merge_keys(api_version, kind)).merge_map(copy.deepcopy(target), patch, "")
    return {} if result is _MISSING else result


def apply_patch(live: Obj | None, applied: Obj, api_version: str, kind: str) -> Obj:
    """Server-side apply (`application/apply-patch+yaml`), approximated by a strategic merge.

    The result is the applied manifest strategically merged onto the live object, or the
    manifest itself (directives stripped) when there is no live object. kubeloop keeps no
    managedFields, so unlike real server-side apply there are no field-manager conflicts and a
    field dropped from the manifest is not removed from the live object (send `null` to delete,
    as with a strategic merge patch). For the kubectl flows this is what matters: create on
    first apply, and changed fields, labels, replicas and list elements updated on re-apply.
    """
    _require_object(applied, "an apply configuration")
    return strategic_merge_patch({} if live is None else live, applied, api_version, kind)


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Strategic:
    """One strategic merge under a kind's rules. Works in place on a copy of the target that
    the caller hands over; never changes (or aliases) the patch."""

    def __init__(self, rules: Mapping[str, str]) -> None:
        self.rules = rules

    # -- maps ---------------------------------------------------------------------------------

    def merge_map(self, original: Obj, patch: Obj, path: str) -> Any:
        """Merge a patch map into `original`; _MISSING when a `$patch: delete` removes it."""
        if _PATCH in patch:
            directive = patch[_PATCH]
            patch = {k: v for k, v in patch.items() if k != _PATCH}
            if directive == "delete":
                return _MISSING
            if directive == "replace":
                original = {}
            elif directive != "merge":
                raise errors.BadRequest(f"unknown patch type: {directive!r} in map at {path or '<root>'}")

        fields: dict[str, Any] = {}
        orders: dict[str, list[Any]] = {}
        deletions: dict[str, list[Any]] = {}
        for key, value in patch.items():
            if key.startswith(_SET_ORDER) and len(key) > len(_SET_ORDER):
                orders[key[len(_SET_ORDER) :]] = self._directive_list(value, key, path)
            elif key.startswith(_DELETE_FROM) and len(key) > len(_DELETE_FROM):
                deletions[key[len(_DELETE_FROM) :]] = self._directive_list(value, key, path)
            elif key != _RETAIN_KEYS:
                fields[key] = value
        if _RETAIN_KEYS in patch:
            self._retain_keys(original, fields, patch[_RETAIN_KEYS], path)

        for key, value in fields.items():
            if value is None:
                original.pop(key, None)
                continue
            merged = self._merge_field(original.get(key, _MISSING), value, _child(path, key), orders.get(key))
            if merged is _MISSING:
                original.pop(key, None)
            else:
                original[key] = merged
        for key, order in orders.items():
            self._order_only(original, key, order, _child(path, key), key in fields)
        for key, values in deletions.items():
            current = original.get(key)
            if isinstance(current, list):
                original[key] = [v for v in current if not any(_json_equal(v, d) for d in values)]
        return original

    @staticmethod
    def _directive_list(value: Any, key: str, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise errors.BadRequest(f"invalid patch: {key} at {path or '<root>'} must be a list")
        return value

    @staticmethod
    def _retain_keys(original: Obj, fields: Obj, retain: Any, path: str) -> None:
        """`$retainKeys`: clear live keys not listed; the patch itself may only set listed keys."""
        if not isinstance(retain, list):
            raise errors.BadRequest(f"invalid patch format of retainKeys at {path or '<root>'}: must be a list")
        keep = {k for k in retain if isinstance(k, str)}
        stray = sorted(k for k, v in fields.items() if v is not None and k not in keep)
        if stray:
            raise errors.BadRequest(
                f"invalid patch format of retainKeys at {path or '<root>'}: {', '.join(stray)} not in $retainKeys"
            )
        for key in [k for k in original if k not in keep]:
            del original[key]

    def _merge_field(self, current: Any, value: Any, path: str, order: list[Any] | None) -> Any:
        """The new value of one field; _MISSING to remove it."""
        if isinstance(value, dict):
            return self.merge_map(current if isinstance(current, dict) else {}, value, path)
        if isinstance(value, list):
            key = self.rules.get(path)
            if key is None:
                return self._clean_list(value, path)
            return self._merge_list(current if isinstance(current, list) else [], value, key, path, order)
        return value

    def _order_only(self, original: Obj, key: str, order: list[Any], path: str, merged: bool) -> None:
        """`$setElementOrder` for a merge list the patch does not otherwise touch."""
        merge_key = self.rules.get(path)
        current = original.get(key)
        if merged or merge_key is None or not isinstance(current, list):
            return
        self._check_order_entries(order, merge_key, path)
        original[key] = _arrange(current, order, current, merge_key)

    # -- lists --------------------------------------------------------------------------------

    def _clean_list(self, items: list[Any], path: str) -> list[Any]:
        """A replaced list: taken from the patch, with directives applied to its elements."""
        cleaned: list[Any] = []
        for item in items:
            if isinstance(item, dict):
                item = self.merge_map({}, item, f"{path}[]")
            elif isinstance(item, list):
                item = self._clean_list(item, f"{path}[]")
            if item is not _MISSING:
                cleaned.append(item)
        return cleaned

    def _merge_list(
        self, original: list[Any], patch: list[Any], key: str, path: str, order: list[Any] | None
    ) -> list[Any]:
        if key == SET:
            return self._merge_set(original, patch, path, order)
        if not all(isinstance(item, dict) for item in patch):
            raise errors.BadRequest(f"invalid patch: {path} must be a list of objects (merge key {key!r})")
        live = list(original)
        entries: list[Obj] = []
        replace = False
        for item in patch:
            directive = item.get(_PATCH, _MISSING)
            if directive is _MISSING or (directive == "merge" and key in item):
                entries.append(item)
            elif directive == "delete":
                if key not in item:
                    raise errors.BadRequest(f"invalid patch: {path}: $patch delete element has no merge key {key!r}")
                original = [o for o in original if not _same_key(o, item, key)]
            elif directive == "replace":
                replace = True
            elif directive != "merge":
                raise errors.BadRequest(f"unknown patch type: {directive!r} in list {path}")
        if replace:
            original = []
        server_order = list(original)
        for item in entries:
            if key not in item:
                raise errors.BadRequest(f"invalid patch: an element of {path} does not contain merge key {key!r}")
            at = next((i for i, o in enumerate(original) if _same_key(o, item, key)), None)
            base = original[at] if at is not None else {}
            merged = self.merge_map(base, item, f"{path}[]")
            if at is None:
                original.append(merged)
            else:
                original[at] = merged
        if order is not None:
            self._check_order_entries(order, key, path)
            _check_order(entries, order, key, path)
            return _arrange(original, order, live, key)
        return _arrange(original, entries, server_order, key)

    def _merge_set(self, original: list[Any], patch: list[Any], path: str, order: list[Any] | None) -> list[Any]:
        """A list of scalars with merge strategy: union, keeping the live order where possible."""
        if any(isinstance(item, (dict, list)) for item in patch):
            raise errors.BadRequest(f"invalid patch: {path} must be a list of scalars")
        merged: list[Any] = []
        for item in original + patch:
            if not any(_json_equal(item, seen) for seen in merged):
                merged.append(item)
        if order is not None:
            _check_order(patch, order, SET, path)
            return _arrange(merged, order, original, SET)
        return _arrange(merged, patch, original, SET)

    @staticmethod
    def _check_order_entries(order: list[Any], key: str, path: str) -> None:
        if key != SET and not all(isinstance(o, dict) and key in o for o in order):
            raise errors.BadRequest(f"invalid patch format of setElementOrder list {path}: every entry needs {key!r}")


def _identity(item: Any, key: str) -> Any:
    """What identifies a list element: its merge key value, or the scalar itself for sets."""
    if key == SET:
        return item
    return item.get(key, _MISSING) if isinstance(item, dict) else _MISSING


def _same_key(a: Any, b: Any, key: str) -> bool:
    ia, ib = _identity(a, key), _identity(b, key)
    return ia is not _MISSING and ib is not _MISSING and _json_equal(ia, ib)


def _position(items: list[Any], item: Any, key: str) -> int:
    """Index of the element of `items` with the same identity as `item`, or -1."""
    return next((i for i, other in enumerate(items) if _same_key(other, item, key)), -1)


def _check_order(entries: list[Any], order: list[Any], key: str, path: str) -> None:
    """The patch's own elements must appear in `$setElementOrder`, in the same relative order."""
    at = 0
    for entry in entries:
        while at < len(order) and not _same_key(order[at], entry, key):
            at += 1
        if at == len(order):
            raise errors.BadRequest(f"invalid patch: the order of {path} does not match its $setElementOrder list")
        at += 1


def _arrange(items: list[Any], order: list[Any], server_order: list[Any], key: str) -> list[Any]:
    """Order merged list elements the way apimachinery does.

    Elements named in `order` (the patch list or `$setElementOrder`) come in that order;
    server-only elements keep their live order; the two runs are then interleaved, a server-only
    element going first only when it stood before the next patch element in the live list.
    """
    in_order = sorted((i for i in items if _position(order, i, key) >= 0), key=lambda i: _position(order, i, key))
    server_only = [i for i in items if _position(order, i, key) < 0]
    server_only.sort(key=lambda i: p if (p := _position(server_order, i, key)) >= 0 else len(server_order))
    result: list[Any] = []
    left = right = 0
    while left < len(server_only) and right < len(in_order):
        lp = _position(server_order, server_only[left], key)
        rp = _position(server_order, in_order[right], key)
        if lp >= 0 and rp >= 0 and lp < rp:
            result.append(server_only[left])
            left += 1
        else:
            result.append(in_order[right])
            right += 1
    return result + server_only[left:] + in_order[right:]
