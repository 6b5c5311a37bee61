"""IngressController: Ingresses, Services, EndpointSlices and Secrets → a running nginx.

The ingress-nginx design with kubeloop's pieces. Informers on ingresses, ingressclasses,
services, endpointslices and secrets; any change marks the state dirty and one loop, after a
short debounce, rebuilds the whole route table (routes.py), validates and writes the TLS
material it needs (tls.py; key files mode 0600 in a 0700 directory), renders nginx.conf
(nginx_conf.py) and hands it to the supervised nginx (nginx.py), which tests it before loading
it. Level-triggered: every pass starts from the caches, so a missed event costs nothing.

It also keeps the cluster's view of the ingress current:
- the IngressClass `kubeloop` (default class) exists;
- the LoadBalancer Service `kube-system/ingress-nginx-controller` (http 80, https 443, no
  selector) and its Endpoints point at nginx's address (`advertise_address`; never loopback,
  the Endpoints API refuses it), so the service data plane maps the LB address to nginx;
- every served Ingress carries that Service's `status.loadBalancer.ingress` (kubectl's ADDRESS);
- problems become Events on the Ingress: a missing backend, a bad TLS Secret (the host then
  gets the default certificate), a configuration nginx rejected (the last good one stays).

It reads the API only through the client; it never imports the apiserver or storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import resource
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

from kubeloop.api import errors
from kubeloop.api.registry import by_plural
from kubeloop.client.events import EventRecorder
from kubeloop.client.informer import Informer
from kubeloop.client.rest import Client

from .nginx import NginxError, NginxProcess
from .nginx_conf import Layout, Settings, render
from .routes import CLASS_NAME, CONTROLLER, RouteTable, build_table, ingress_class_object, ingress_hosts, is_served
from .tls import TLSSecretError, default_certificate, pem_from_secret

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SERVICE_NAMESPACE = "kube-system"
SERVICE_NAME = "ingress-nginx-controller"
COMPONENT = "ingress-controller"


def lb_ingress(svc: Obj | None) -> list[Obj]:
    """A Service's load-balancer ingress points as Ingress status entries (ip / hostname)."""
    out = []
    for point in (((svc or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        entry = {k: point[k] for k in ("ip", "hostname") if point.get(k)}
        if entry:
            out.append(entry)
    return out


def hosts_lines(ingresses: Iterable[Obj], address: str) -> list[str]:
    """/etc/hosts lines mapping every ingress host to address (for `kubeloop hosts`).

    Wildcard hosts cannot be written in /etc/hosts; they become comments."""
    lines = []
    for host in ingress_hosts(ingresses):
        if host.startswith("*."):
            lines.append(f"# {host}: wildcard hosts cannot be listed in /etc/hosts")
        else:
            lines.append(f"{address}\t{host}")
    return lines


def _key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}" if meta.get("namespace") else meta["name"]


def _spec_digest(ing: Obj) -> str:
    """What of an Ingress shapes the configuration (its status, which we write, does not)."""
    meta = ing["metadata"]
    return hashlib.sha256(json.dumps([ing.get("spec"), meta.get("annotations"), meta.get("uid")],
                                     sort_keys=True, default=str).encode()).hexdigest()


def _write_private(path: Path, data: bytes) -> None:
    """A file only root can read, written whole or not at all."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _traversable(path: Path) -> bool:
    """Can any user reach inside path (every directory on the way searchable by others)?"""
    path = path.resolve()
    try:
        return all(os.stat(p).st_mode & 0o001 for p in (path, *path.parents))
    except OSError:
        return False


def _worker_connections(workers: int) -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(256, min(4096, soft // 2))


class IngressController:
    """The ingress controller and its nginx.

    state_dir: nginx.conf, pid, logs and (0700) tls/ with the key files; listen_host, http_port,
    https_port: where nginx listens (kubeloop: the host bridge, 80/443 or unprivileged ports);
    advertise_address: the Endpoints address of the LoadBalancer Service (the bridge address;
    None: no Service is managed, as in unit tests); public_http_port / public_https_port: the
    ports clients use when they differ from the listen ports (redirects, X-Forwarded-Port;
    kubeloop behind the LB Service passes 80/443). `start()` raises NginxError (one line) when
    nginx is missing or cannot start.
    """

    def __init__(self, client: Client, *, state_dir: str | Path, listen_host: str = "172.30.0.1",
                 http_port: int = 80, https_port: int = 443, advertise_address: str | None = None,
                 public_http_port: int | None = None, public_https_port: int | None = None,
                 nginx_binary: str | None = None, class_name: str = CLASS_NAME, controller_name: str = CONTROLLER,
                 service_namespace: str = SERVICE_NAMESPACE, service_name: str = SERVICE_NAME,
                 worker_processes: int = 2, access_log: bool = False, debounce: float = 0.1) -> None:
        if advertise_address is not None:
            ip = ipaddress.ip_address(advertise_address)
            if ip.is_loopback or ip.is_unspecified or ip.is_link_local:
                raise ValueError(f"advertise_address {advertise_address} cannot be an Endpoints address")
        self.client = client
        self.state_dir = Path(state_dir)
        self.listen_host = listen_host
        self.http_port = http_port
        self.https_port = https_port
        self.advertise_address = advertise_address
        self.public_http_port = public_http_port
        self.public_https_port = public_https_port
        self.nginx_binary = nginx_binary
        self.class_name = class_name
        self.controller_name = controller_name
        self.service_namespace = service_namespace
        self.service_name = service_name
        self.worker_processes = worker_processes
        self.access_log = access_log
        self.debounce = debounce
        self.recorder = EventRecorder(client, COMPONENT)
        self.informers = {plural: Informer(client, by_plural(plural)) for plural in
                          ("ingresses", "ingressclasses", "services", "endpointslices", "secrets")}
        self.nginx: NginxProcess | None = None
        self.layout: Layout | None = None
        self.table: RouteTable | None = None
        self.reloads = 0
        self.last_error = ""
        self._temp_dir: Path | None = None
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._applied: str | None = None
        self._rejected: str | None = None
        self._applied_versions: dict[str, str] = {}
        self._reported: set[tuple[str, str, str]] = set()
        self._pem_cache: dict[tuple[str, str], bytes | str] = {}  # (secret, resourceVersion) → PEM or error
        self._cert_files: set[Path] = set()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving: class, Service, informers, nginx with the current configuration.

        Raises NginxError when nginx is missing or cannot start (e.g. its ports are taken)."""
        self.nginx = NginxProcess(self.state_dir / "nginx.conf", self.state_dir / "nginx.pid",
                                  prefix=self.state_dir, binary=self.nginx_binary,
                                  error_log=self.state_dir / "error.log")
        try:
            await asyncio.to_thread(self._prepare_dirs)
            await self._ensure_class()
            if self.advertise_address is not None:
                await self._ensure_service()
            for informer in self.informers.values():
                informer.add_handler(self._on_change)
                informer.start()
            await asyncio.wait_for(asyncio.gather(*(i.wait_synced() for i in self.informers.values())), 30)
            await self._sync(initial=True)
        except BaseException:
            await self.stop()
            raise
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ingress-controller")

    async def stop(self) -> None:
        """Stop nginx gracefully and remove the key files; the Ingresses keep their status."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for informer in self.informers.values():
            await informer.stop()
        if self.nginx is not None:
            await self.nginx.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.recorder.flush(), 5)
        await asyncio.to_thread(self._remove_private_files)

    def _prepare_dirs(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # Temp files (large request bodies) are written by the workers, which drop root to
        # nobody: they need a directory they can reach. nginx creates and chowns the subdirectories.
        if _traversable(self.state_dir):
            self._temp_dir = self.state_dir / "tmp"
            self._temp_dir.mkdir(mode=0o711, exist_ok=True)
        else:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="kubeloop-nginx-"))
        os.chmod(self._temp_dir, 0o711)
        self.layout = Layout(self.state_dir, self._temp_dir)
        tls_dir = self.layout.tls_dir
        tls_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(tls_dir, 0o700)
        _write_private(self.layout.default_cert, default_certificate())

    def _remove_private_files(self) -> None:
        if self.layout is not None:
            shutil.rmtree(self.layout.tls_dir, ignore_errors=True)
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
        self._cert_files.clear()
        self._pem_cache.clear()

    def _settings(self) -> Settings:
        assert self.layout is not None
        return Settings(listen_host=self.listen_host, http_port=self.http_port, https_port=self.https_port,
                        layout=self.layout, public_http_port=self.public_http_port,
                        public_https_port=self.public_https_port, worker_processes=self.worker_processes,
                        worker_connections=_worker_connections(self.worker_processes), access_log=self.access_log)

    # -- the loop ------------------------------------------------------------------------

    def _on_change(self, key: str, old: Obj | None, new: Obj | None) -> None:
        self._dirty.set()

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.debounce)  # let a burst of changes land in one reload
            self._dirty.clear()
            try:
                await self._sync()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.exception("ingress sync failed; retrying in %.1fs", backoff)
                self.last_error = str(e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                self._dirty.set()

    async def _sync(self, initial: bool = False) -> None:
        assert self.nginx is not None
        inf = self.informers
        classes = inf["ingressclasses"].list()
        all_ingresses = inf["ingresses"].list()
        served = [i for i in all_ingresses if is_served(i, classes, self.controller_name)]
        table = build_table(served, inf["services"].list(), inf["endpointslices"].list())
        problems = [(p.ingress, p.reason, p.message) for p in table.problems]
        certs, tls_problems = await self._certificates(table, served)
        problems += tls_problems
        text = render(table, self._settings(), certs)
        versions = {_key(i): _spec_digest(i) for i in served}
        if text != self._applied and text != self._rejected:
            ok, message = await self.nginx.apply(text)
            if ok:
                self._applied, self._rejected = text, None
                self._applied_versions = versions
                self.reloads += 1
                self.table = table
                self.last_error = ""
                await asyncio.to_thread(self._remove_unused_certs, set(certs.values()))
            else:
                if initial or not self.nginx.running:
                    raise NginxError(f"nginx rejected the configuration: {message}")
                self._rejected = text
                self.last_error = message
                log.error("nginx rejected the new configuration, keeping the last good one: %s", message)
                changed = [k for k, v in versions.items() if self._applied_versions.get(k) != v] or list(versions)
                for key in changed:
                    problems.append((key, "ConfigurationRejected",
                                     f"nginx rejected the new configuration; the previous one stays loaded: {message}"))
        elif text == self._applied:
            self.table = table
        self._report(problems, {_key(i): i for i in served})
        if self.advertise_address is not None and \
                inf["services"].get(f"{self.service_namespace}/{self.service_name}") is None and not initial:
            await self._ensure_service()
        await self._update_status(all_ingresses, served)

    # -- TLS -----------------------------------------------------------------------------

    async def _certificates(self, table: RouteTable, served: list[Obj]) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
        """secret key → PEM file for the valid Secrets the table uses; problems for the others."""
        assert self.layout is not None
        users: dict[str, list[str]] = {}
        for ing in served:
            ns = ing["metadata"].get("namespace", "")
            for tls in (ing.get("spec") or {}).get("tls") or []:
                if tls.get("secretName"):
                    users.setdefault(f"{ns}/{tls['secretName']}", []).append(_key(ing))
        certs: dict[str, str] = {}
        problems: list[tuple[str, str, str]] = []
        for key in sorted(table.secrets()):
            secret = self.informers["secrets"].get(key)
            if secret is None:
                result: bytes | str = f"secret {key} not found"
            else:
                cache_key = (key, secret["metadata"].get("resourceVersion", ""))
                cached = self._pem_cache.get(cache_key)
                if cached is None:
                    try:
                        cached = pem_from_secret(secret)
                    except TLSSecretError as e:
                        cached = f"secret {key}: {e}"
                    self._pem_cache = {k: v for k, v in self._pem_cache.items() if k[0] != key}
                    self._pem_cache[cache_key] = cached
                result = cached
            if isinstance(result, str):
                for ing in users.get(key, []):
                    problems.append((ing, "InvalidTLSSecret", f"{result}; serving the default certificate instead"))
                continue
            digest = hashlib.sha256(result).hexdigest()[:16]
            path = self.layout.tls_dir / f"{key.replace('/', '_')}-{digest}.pem"
            if path not in self._cert_files or not path.exists():
                await asyncio.to_thread(_write_private, path, result)
                self._cert_files.add(path)
            certs[key] = str(path)
        return certs, problems

    def _remove_unused_certs(self, used: set[str]) -> None:
        for path in list(self._cert_files):
            if str(path) not in used:
                with contextlib.suppress(OSError):
                    path.unlink()
                self._cert_files.discard(path)

    # -- cluster objects -----------------------------------------------------------------

    def _report(self, problems: list[tuple[str, str, str]], served: dict[str, Obj]) -> None:
        """An Event for each problem not already reported; a problem that goes away and comes back is new."""
        current = set(problems)
        for key, reason, message in problems:
            if (key, reason, message) in self._reported or key not in served:
                continue
            log.warning("ingress %s: %s: %s", key, reason, message)
            self.recorder.record(served[key], "Warning", reason, message)
        self._reported = current

    async def _ensure_class(self) -> None:
        body = ingress_class_object(self.class_name, self.controller_name)
        try:
            await self.client.create(by_plural("ingressclasses"), None, body)
        except errors.AlreadyExists:
            pass

    async def _ensure_service(self) -> None:
        """The LoadBalancer Service fronting nginx, and its Endpoints pointing at nginx."""
        assert self.advertise_address is not None
        ns, name = self.service_namespace, self.service_name
        labels = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller",
                  "app.kubernetes.io/managed-by": "kubeloop"}
        ports = [{"name": "http", "port": 80, "targetPort": self.http_port, "protocol": "TCP"},
                 {"name": "https", "port": 443, "targetPort": self.https_port, "protocol": "TCP"}]
        services = by_plural("services")
        try:
            svc = await self.client.get(services, ns, name)
        except errors.NotFound:
            svc = None
        if svc is None:
            with contextlib.suppress(errors.AlreadyExists):
                await self.client.create(services, ns, {
                    "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": labels},
                    "spec": {"type": "LoadBalancer", "ports": ports}})
        else:
            spec = svc.get("spec") or {}
            current = [{k: p.get(k) for k in ("name", "port", "targetPort", "protocol")} for p in spec.get("ports") or []]
            if spec.get("type") != "LoadBalancer" or current != ports or spec.get("selector"):
                node_ports = {p.get("name"): p.get("nodePort") for p in spec.get("ports") or []}
                new_spec = dict(spec, type="LoadBalancer",
                                ports=[dict(p, **({"nodePort": node_ports[p["name"]]} if node_ports.get(p["name"]) else {}))
                                       for p in ports])
                new_spec.pop("selector", None)
                await self.client.update(services, dict(svc, spec=new_spec))
        endpoints = by_plural("endpoints")
        subsets = [{"addresses": [{"ip": self.advertise_address}],
                    "ports": [{"name": "http", "port": self.http_port, "protocol": "TCP"},
                              {"name": "https", "port": self.https_port, "protocol": "TCP"}]}]
        try:
            ep = await self.client.get(endpoints, ns, name)
        except errors.NotFound:
            ep = None
        if ep is None:
            with contextlib.suppress(errors.AlreadyExists):
                await self.client.create(endpoints, ns, {"apiVersion": "v1", "kind": "Endpoints",
                                                         "metadata": {"name": name, "namespace": ns, "labels": labels},
                                                         "subsets": subsets})
        elif ep.get("subsets") != subsets:
            await self.client.update(endpoints, dict(ep, subsets=subsets))

    async def _update_status(self, all_ingresses: list[Obj], served: list[Obj]) -> None:
        """Served Ingresses show the LB Service's address; ones we stopped serving lose it."""
        desired = lb_ingress(self.informers["services"].get(f"{self.service_namespace}/{self.service_name}"))
        served_keys = {_key(i) for i in served}
        resource = by_plural("ingresses")
        for ing in all_ingresses:
            current = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if _key(ing) in served_keys:
                want = desired
            elif desired and current == desired:
                want = []
            else:
                continue
            if current == want:
                continue
            meta = ing["metadata"]
            try:
                await self.client.patch(resource, meta["namespace"], meta["name"],
                                        {"status": {"loadBalancer": {"ingress": want or None}}},
                                        subresource="status")
            except (errors.NotFound, errors.Conflict):
                pass
