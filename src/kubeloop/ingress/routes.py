"""Route table: the Ingress API's routing rules, resolved against Services and EndpointSlices.

Owns the meaning of an Ingress for this controller:
- which Ingresses are served (IngressClass selection: classes whose controller is ours, the
  legacy `kubernetes.io/ingress.class` annotation, and Ingresses without any class);
- host matching (exact names; `*.example.com` matches exactly one more DNS label);
- path matching (Exact; Prefix element-wise, `/foo` matches `/foo` and `/foo/bar` but not
  `/foobar`, a trailing slash ignored; ImplementationSpecific treated as Prefix), longest path
  first and Exact before Prefix at equal length, `defaultBackend` for everything unmatched;
- backends: service port by number or by name → the Service's port → the EndpointSlice port
  of that name → the ready endpoint addresses (pod IPs, never the cluster IP);
- TLS: which secret serves which host, and whether plain HTTP is redirected.

`match()` is the reference implementation of these rules; nginx_conf renders the same table
and the tests check that nginx answers as `match()` does. Pure: objects in, a RouteTable
out; no I/O, nothing about nginx syntax.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

Obj = dict[str, Any]

CONTROLLER = "kubeloop.dev/ingress-nginx"
CLASS_NAME = "kubeloop"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
SSL_REDIRECT_ANNOTATION = "nginx.ingress.kubernetes.io/ssl-redirect"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

EXACT = "Exact"
PREFIX = "Prefix"


# ---------------------------------------------------------------------------------------------
# IngressClass selection
# ---------------------------------------------------------------------------------------------

def ingress_class_object(name: str = CLASS_NAME, controller: str = CONTROLLER) -> Obj:
    """The IngressClass kubeloop creates at start-up, marked as the cluster's default."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": {"name": name, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"},
                     "labels": {"app.kubernetes.io/managed-by": "kubeloop"}},
        "spec": {"controller": controller},
    }


def _is_default_class(cls: Obj) -> bool:
    return ((cls.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"


def ingress_class_of(ing: Obj) -> str | None:
    """spec.ingressClassName, else the legacy annotation, else None."""
    name = (ing.get("spec") or {}).get("ingressClassName")
    if name:
        return str(name)
    legacy = ((ing.get("metadata") or {}).get("annotations") or {}).get(LEGACY_CLASS_ANNOTATION)
    return str(legacy) if legacy else None


def is_served(ing: Obj, classes: Iterable[Obj], controller: str = CONTROLLER) -> bool:
    """Ours: its class is one of our controller's classes; or it has no class at all, unless
    another controller's class is the cluster default and none of ours is."""
    classes = list(classes)
    ours = {c["metadata"]["name"] for c in classes if (c.get("spec") or {}).get("controller") == controller}
    name = ingress_class_of(ing)
    if name is not None:
        return name in ours
    defaults = [c for c in classes if _is_default_class(c)]
    return not defaults or any(c["metadata"]["name"] in ours for c in defaults)


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Upstream:
    """One service port as a set of ready endpoints; no endpoints means 503."""

    name: str  # unique, nginx-safe: namespace_service_port
    namespace: str
    service: str
    port: str  # as the Ingress names it: "80" or "http"
    endpoints: tuple[tuple[str, int], ...] = ()
    problem: str = ""  # why it can have no endpoints (service or port missing), for Events


@dataclass(frozen=True)
class Route:
    path: str  # normalized: Prefix paths without a trailing slash ("/" stays "/")
    path_type: str  # EXACT or PREFIX
    upstream: str
    source: str  # namespace/name of the Ingress
    ssl_redirect: bool = True


@dataclass(frozen=True)
class VirtualHost:
    host: str  # "" for the default server (rules without a host, unknown hosts)
    routes: tuple[Route, ...] = ()  # in precedence order: the first that matches wins
    fallback: str | None = None  # upstream for requests no route matches; None: 404
    tls: bool = False  # a `tls` section covers this host (plain HTTP is redirected)
    tls_secret: str | None = None  # namespace/name of its certificate's Secret
    ssl_redirect: bool = True  # for the fallback location
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    ingress: str  # namespace/name
    reason: str
    message: str


@dataclass(frozen=True)
class RouteTable:
    default: VirtualHost
    hosts: tuple[VirtualHost, ...] = ()  # exact names first, then wildcards, each sorted
    upstreams: Mapping[str, Upstream] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    def upstream(self, name: str | None) -> Upstream | None:
        return None if name is None else self.upstreams.get(name)

    def secrets(self) -> set[str]:
        return {h.tls_secret for h in self.hosts if h.tls_secret}


# ---------------------------------------------------------------------------------------------
# Matching: the reference semantics
# ---------------------------------------------------------------------------------------------

def normalize_host(host: str) -> str:
    """What a Host header names: lower case, without port and trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host.split("]", 1)[0] + "]"
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def host_matches(pattern: str, host: str) -> bool:
    """Exact, or `*.suffix` covering exactly one label in front of suffix."""
    host = normalize_host(host)
    if not pattern.startswith("*."):
        return pattern == host
    label, _, rest = host.partition(".")
    return bool(label) and bool(rest) and rest == pattern[2:]


def path_matches(route_path: str, path_type: str, path: str) -> bool:
    if path_type == EXACT:
        return path == route_path
    if route_path == "/":
        return True
    return path == route_path or path.startswith(route_path + "/")


def precedence(route: Route) -> tuple[int, int, str]:
    """Longest path first; at equal length Exact before Prefix; then by path for stability."""
    return (-len(route.path), 0 if route.path_type == EXACT else 1, route.path)


def select_host(table: RouteTable, host: str) -> VirtualHost:
    host = normalize_host(host)
    for vh in table.hosts:
        if vh.host == host:
            return vh
    for vh in table.hosts:
        if vh.host.startswith("*.") and host_matches(vh.host, host):
            return vh
    return table.default


def match_path(vhost: VirtualHost, path: str) -> Route | None:
    for route in vhost.routes:
        if path_matches(route.path, route.path_type, path):
            return route
    return None


def match(table: RouteTable, host: str, path: str) -> str | None:
    """The upstream that serves host and path, or None for 404."""
    vhost = select_host(table, host)
    route = match_path(vhost, path)
    return route.upstream if route is not None else vhost.fallback


# ---------------------------------------------------------------------------------------------
# Building the table from API objects
# ---------------------------------------------------------------------------------------------

def upstream_name(namespace: str, service: str, port: str | int) -> str:
    # Namespaces, service names and port names are DNS labels: "_" cannot occur in them.
    return f"{namespace}_{service}_{port}"


def _key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _age_key(obj: Obj) -> tuple[str, str]:
    return (str(obj["metadata"].get("creationTimestamp") or ""), _key(obj))


def _ready(endpoint: Obj) -> bool:
    ready = (endpoint.get("conditions") or {}).get("ready")
    return ready is None or bool(ready)  # nil means ready (EndpointConditions)


def resolve_backend(namespace: str, backend: Obj | None, services: Mapping[str, Obj],
                    slices_by_service: Mapping[str, list[Obj]]) -> Upstream:
    """IngressBackend → Upstream with the ready endpoints of that service port."""
    svc_ref = (backend or {}).get("service")
    if not svc_ref:
        kind = ((backend or {}).get("resource") or {}).get("kind", "resource")
        name = upstream_name(namespace, "_resource", str(kind).lower())
        return Upstream(name, namespace, "", "", problem=f"{kind} backends are not supported, only services")
    svc_name = str(svc_ref.get("name") or "")
    port_ref = svc_ref.get("port") or {}
    port = str(port_ref.get("name") or port_ref.get("number") or "")
    name = upstream_name(namespace, svc_name, port)
    svc = services.get(f"{namespace}/{svc_name}")
    if svc is None:
        return Upstream(name, namespace, svc_name, port, problem=f"service {namespace}/{svc_name} not found")
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return Upstream(name, namespace, svc_name, port,
                        problem=f"service {namespace}/{svc_name} is of type ExternalName, which is not supported")
    svc_port = None
    for p in spec.get("ports") or []:
        if (port_ref.get("name") and p.get("name") == port_ref["name"]) or \
                (port_ref.get("number") and p.get("port") == port_ref["number"]):
            svc_port = p
            break
    if svc_port is None:
        return Upstream(name, namespace, svc_name, port,
                        problem=f"service {namespace}/{svc_name} has no port {port}")
    port_name = svc_port.get("name") or ""
    endpoints: set[tuple[str, int]] = set()
    for sl in slices_by_service.get(f"{namespace}/{svc_name}", []):
        if sl.get("addressType", "IPv4") not in ("IPv4", "IPv6"):
            continue
        number = next((p.get("port") for p in sl.get("ports") or [] if (p.get("name") or "") == port_name), None)
        if not number:
            continue
        for ep in sl.get("endpoints") or []:
            addresses = ep.get("addresses") or []
            if addresses and _ready(ep):
                endpoints.add((str(addresses[0]), int(number)))
    return Upstream(name, namespace, svc_name, port, tuple(sorted(endpoints)))


def _normalize_path(path: str | None, path_type: str | None) -> tuple[str, str] | None:
    """(path, EXACT|PREFIX) as matched, or None when the path is unusable."""
    path_type = path_type or "ImplementationSpecific"
    if path_type == "ImplementationSpecific":
        path_type, path = PREFIX, path or "/"
    if not path or not path.startswith("/") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return None
    if path_type == PREFIX:
        stripped = path.rstrip("/")
        path = stripped or "/"
    elif path_type != EXACT:
        return None
    return path, path_type


class _HostBuilder:
    def __init__(self, host: str) -> None:
        self.host = host
        self.routes: dict[tuple[str, str], Route] = {}
        self.fallback: str | None = None
        self.tls = False
        self.tls_secret: str | None = None
        self.ssl_redirect: bool | None = None
        self.sources: list[str] = []

    def build(self, global_fallback: str | None) -> VirtualHost:
        return VirtualHost(
            host=self.host, routes=tuple(sorted(self.routes.values(), key=precedence)),
            fallback=self.fallback if self.fallback is not None else global_fallback,
            tls=self.tls, tls_secret=self.tls_secret,
            ssl_redirect=True if self.ssl_redirect is None else self.ssl_redirect, sources=tuple(self.sources))


def _tls_secret_for(host: str, tls: list[Obj], rule_hosts: set[str]) -> tuple[bool, str | None]:
    """Does this Ingress's `tls` cover host, and with which secret name ('' or None: default certificate)."""
    wildcard: tuple[bool, str | None] | None = None
    for entry in tls:
        hosts = [str(h).lower() for h in entry.get("hosts") or []]
        secret = entry.get("secretName") or None
        if host in hosts:
            return True, secret
        if wildcard is None and any(h.startswith("*.") and host_matches(h, host) for h in hosts):
            wildcard = (True, secret)
        if wildcard is None and not hosts and host in rule_hosts:
            wildcard = (True, secret)  # no hosts: the entry applies to every host of the Ingress
    return wildcard or (False, None)


def build_table(ingresses: Iterable[Obj], services: Iterable[Obj], slices: Iterable[Obj]) -> RouteTable:
    """The route table of the served Ingresses; the oldest Ingress wins conflicts."""
    svc_by_key = {_key(s): s for s in services}
    slices_by_service: dict[str, list[Obj]] = {}
    for sl in slices:
        svc = ((sl.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL)
        if svc:
            slices_by_service.setdefault(f"{sl['metadata'].get('namespace', '')}/{svc}", []).append(sl)
    upstreams: dict[str, Upstream] = {}
    problems: list[Problem] = []
    hosts: dict[str, _HostBuilder] = {"": _HostBuilder("")}
    global_fallback: str | None = None

    def backend(ing_key: str, namespace: str, ref: Obj | None) -> str:
        up = resolve_backend(namespace, ref, svc_by_key, slices_by_service)
        upstreams.setdefault(up.name, up)
        if up.problem:
            problem = Problem(ing_key, "BackendNotFound", up.problem)
            if problem not in problems:
                problems.append(problem)
        return up.name

    for ing in sorted(ingresses, key=_age_key):
        ing_key = _key(ing)
        ns = ing["metadata"].get("namespace", "default")
        spec = ing.get("spec") or {}
        annotations = ing["metadata"].get("annotations") or {}
        redirect = str(annotations.get(SSL_REDIRECT_ANNOTATION, "true")).lower() != "false"
        own_default = backend(ing_key, ns, spec["defaultBackend"]) if spec.get("defaultBackend") else None
        if own_default is not None and global_fallback is None:
            global_fallback = own_default
        tls = list(spec.get("tls") or [])
        rules = list(spec.get("rules") or [])
        rule_hosts = {str(r.get("host") or "").lower() for r in rules}
        for rule in rules:
            host = str(rule.get("host") or "").lower()
            hb = hosts.setdefault(host, _HostBuilder(host))
            if ing_key not in hb.sources:
                hb.sources.append(ing_key)
            if host and own_default is not None and hb.fallback is None:
                hb.fallback = own_default
            if host:
                covered, secret = _tls_secret_for(host, tls, rule_hosts)
                if covered and not hb.tls:
                    hb.tls = True
                    hb.tls_secret = f"{ns}/{secret}" if secret else None
            if hb.ssl_redirect is None:
                hb.ssl_redirect = redirect  # the fallback follows the host's oldest Ingress
            for p in ((rule.get("http") or {}).get("paths") or []):
                normalized = _normalize_path(p.get("path"), p.get("pathType"))
                if normalized is None:
                    problems.append(Problem(ing_key, "InvalidPath",
                                            f"path {p.get('path')!r} ({p.get('pathType')}) cannot be served"))
                    continue
                path, path_type = normalized
                up = backend(ing_key, ns, p.get("backend"))
                existing = hb.routes.get((path, path_type))
                if existing is not None:
                    if existing.source != ing_key or existing.upstream != up:
                        problems.append(Problem(
                            ing_key, "PathConflict",
                            f"{host or '*'}{path} ({path_type}) is already served by {existing.source}"))
                    continue
                hb.routes[(path, path_type)] = Route(path, path_type, up, ing_key, redirect)

    built = {h: b.build(global_fallback) for h, b in hosts.items()}
    default = built.pop("")
    exact = sorted(h for h in built if not h.startswith("*."))
    wild = sorted(h for h in built if h.startswith("*."))
    return RouteTable(default=default, hosts=tuple(built[h] for h in exact + wild),
                      upstreams=dict(sorted(upstreams.items())), problems=tuple(problems))


def ingress_hosts(ingresses: Iterable[Obj]) -> list[str]:
    """Every host named by the Ingresses' rules and TLS sections, sorted, without duplicates."""
    found: set[str] = set()
    for ing in ingresses:
        spec = ing.get("spec") or {}
        for rule in spec.get("rules") or []:
            if rule.get("host"):
                found.add(str(rule["host"]).lower())
        for tls in spec.get("tls") or []:
            found.update(str(h).lower() for h in tls.get("hosts") or [])
    return sorted(found)
