"""A container's environment, exactly as the kubelet builds it.

Order and precedence follow Kubernetes: service variables first (the `{SVC}_SERVICE_HOST`
family and the docker-link `{SVC}_PORT_...` family for every service of the pod's namespace
that exists when the container starts, when `enableServiceLinks` is on; `KUBERNETES_*` from
`default/kubernetes` always), then `envFrom`, then `env` (which wins), with `$(VAR)`
references expanded. Lookups of Secrets and ConfigMaps go through the `lookup` callback.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Awaitable, Callable

Obj = dict[str, Any]
Lookup = Callable[[str, str, str], Awaitable[Obj | None]]  # (plural, namespace, name) -> object


class EnvError(Exception):
    """A variable's source is missing (Kubernetes reports CreateContainerConfigError)."""


def _env_name(service_name: str) -> str:
    return service_name.upper().replace("-", "_")


def service_variables(services: list[Obj]) -> dict[str, str]:
    out: dict[str, str] = {}
    for svc in sorted(services, key=lambda s: s["metadata"]["name"]):
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if not ip or ip == "None" or spec.get("type") == "ExternalName":
            continue
        ports = spec.get("ports") or []
        if not ports:
            continue
        name = _env_name(svc["metadata"]["name"])
        out[f"{name}_SERVICE_HOST"] = ip
        out[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
        for p in ports:
            if p.get("name"):
                out[f"{name}_SERVICE_PORT_{_env_name(p['name'])}"] = str(p["port"])
        first = ports[0]
        out[f"{name}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"
        for p in ports:
            proto = p.get("protocol", "TCP")
            prefix = f"{name}_PORT_{p['port']}_{proto.upper()}"
            out[prefix] = f"{proto.lower()}://{ip}:{p['port']}"
            out[f"{prefix}_PROTO"] = proto.lower()
            out[f"{prefix}_PORT"] = str(p["port"])
            out[f"{prefix}_ADDR"] = ip
    return out


_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)|\$\$")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: unknown references stay as written, `$$` escapes."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _REF.sub(sub, text)


def _field(pod: Obj, path: str) -> str:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"),
        "status.podIP": status.get("podIP"),
        "status.podIPs": ",".join(p["ip"] for p in status.get("podIPs") or []),
        "status.hostIPs": ",".join(p["ip"] for p in status.get("hostIPs") or []),
    }
    if path not in simple:
        raise EnvError(f"unsupported fieldRef path {path!r}")
    return str(simple[path] or "")


def _decode(obj: Obj, key: str) -> str | None:
    if obj.get("kind") == "Secret":
        data = obj.get("data") or {}
        if key in data:
            return base64.b64decode(data[key]).decode("utf-8", "replace")
        return (obj.get("stringData") or {}).get(key)
    return (obj.get("data") or {}).get(key)


async def container_env(pod: Obj, container: Obj, services: list[Obj], lookup: Lookup,
                        base: dict[str, str] | None = None) -> dict[str, str]:
    ns = pod["metadata"].get("namespace", "default")
    spec = pod.get("spec") or {}
    env: dict[str, str] = dict(base or {})
    own = [s for s in services if s["metadata"].get("namespace") == ns]
    if spec.get("enableServiceLinks", True):
        env.update(service_variables(own))
    master = [s for s in services if s["metadata"].get("namespace") == "default" and s["metadata"]["name"] == "kubernetes"]
    env.update({k: v for k, v in service_variables(master).items()})
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        ref, plural = (src.get("configMapRef"), "configmaps") if src.get("configMapRef") else (src.get("secretRef"), "secrets")
        if not ref:
            continue
        obj = await lookup(plural, ns, ref["name"])
        if obj is None:
            if ref.get("optional"):
                continue
            raise EnvError(f'{plural[:-1]} "{ref["name"]}" not found')
        for key in list((obj.get("data") or {})) + list((obj.get("stringData") or {})):
            value = _decode(obj, key)
            if value is not None:
                env[prefix + key] = value
    for var in container.get("env") or []:
        name = var["name"]
        if "value" in var:
            env[name] = expand(str(var["value"]), env)
            continue
        source = var.get("valueFrom") or {}
        if "fieldRef" in source:
            env[name] = _field(pod, source["fieldRef"]["fieldPath"])
        elif "secretKeyRef" in source or "configMapKeyRef" in source:
            ref, plural = ((source["secretKeyRef"], "secrets") if "secretKeyRef" in source
                           else (source["configMapKeyRef"], "configmaps"))
            obj = await lookup(plural, ns, ref["name"])
            value = _decode(obj, ref["key"]) if obj is not None else None
            if value is None:
                if ref.get("optional"):
                    continue
                what = "secret" if plural == "secrets" else "configmap"
                if obj is None:
                    raise EnvError(f'{what} "{ref["name"]}" not found')
                raise EnvError(f"couldn't find key {ref['key']} in {what.capitalize()} {ns}/{ref['name']}")
            env[name] = value
        elif "resourceFieldRef" in source:
            env[name] = "0"
        else:
            env[name] = ""
    return env
