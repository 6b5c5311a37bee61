"""Admission: defaulting, validation and allocation that every write goes through.

The per-kind rules live in kubeloop.api (pure); this module strings them together in
Kubernetes' order (defaults → allocation → validation) and owns the one piece of mutable
state admission needs: the Service allocator (cluster IPs and node ports), rebuilt from the
stored Services at start-up so allocations survive restarts.
"""

from __future__ import annotations

from typing import Any, Callable

from kubeloop.api import defaults, endpoints, services, taints, validation
from kubeloop.api.errors import FieldError, Invalid
from kubeloop.api.registry import ResourceType

Obj = dict[str, Any]


class Admission:
    def __init__(self, *, service_cidr: str, node_port_range: tuple[int, int]) -> None:
        self.service_cidr = service_cidr
        self.allocator = services.ServiceAllocator(service_cidr, node_port_range)

    def restore(self, existing_services: list[Obj]) -> None:
        self.allocator.restore(existing_services)

    def default(self, resource: ResourceType, obj: Obj) -> None:
        if resource.kind == "Service":
            services.default_service(obj)
        elif resource.kind == "Endpoints":
            endpoints.default_endpoints(obj)
        else:
            defaults.apply_defaults(resource, obj)

    def _errors(self, resource: ResourceType, obj: Obj, old: Obj | None) -> list[FieldError]:
        kind = resource.kind
        if kind == "Service":
            errs = validation.validate(resource, obj)  # object metadata rules
            errs += services.validate_service(obj, self.service_cidr)
            if old is not None:
                errs += services.validate_service_update(obj, old, self.service_cidr)
            return _dedupe(errs)
        if kind == "Endpoints":
            return _dedupe(validation.validate(resource, obj) + endpoints.validate_endpoints(obj, self.service_cidr))
        if kind == "EndpointSlice":
            return _dedupe(validation.validate(resource, obj) + endpoints.validate_endpoint_slice(obj))
        if old is None:
            return validation.validate(resource, obj)
        return validation.validate(resource, obj) + validation.validate_update(resource, obj, old)

    def admit_create(self, resource: ResourceType, obj: Obj, *, dry_run: bool = False) -> None:
        """Default, validate and (for Services) allocate; raises Invalid with field causes."""
        self.default(resource, obj)
        if resource.kind == "Pod":
            taints.default_tolerations(obj)  # DefaultTolerationSeconds admits creations only
        name = obj["metadata"].get("name", "")
        errs = self._errors(resource, obj, None)
        if errs:
            raise Invalid(resource.kind, name, errs, resource.group)
        if resource.kind == "Service" and not dry_run:
            self.allocator.allocate(obj)

    def admit_update(self, resource: ResourceType, obj: Obj, old: Obj, *, dry_run: bool = False
                     ) -> Callable[[], None]:
        """Default, validate and re-allocate; returns what undoes the allocation if the write fails."""
        self.default(resource, obj)
        name = obj["metadata"].get("name", "")
        if resource.kind == "Service":
            # Keep allocated values the client left out; drop what the new type no longer uses.
            services.prepare_for_update(obj, old)
        errs = self._errors(resource, obj, old)
        if errs:
            raise Invalid(resource.kind, name, errs, resource.group)
        if resource.kind == "Service" and not dry_run:
            return self.allocator.update(obj, old).undo
        return _nothing

    def release(self, resource: ResourceType, obj: Obj) -> None:
        if resource.kind == "Service":
            self.allocator.release(obj)


def _nothing() -> None:
    pass


def _dedupe(errs: list[FieldError]) -> list[FieldError]:
    seen: set[tuple[str, str]] = set()
    out = []
    for e in errs:
        if (e.field, e.message) not in seen:
            seen.add((e.field, e.message))
            out.append(e)
    return out
