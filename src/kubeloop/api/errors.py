"""kubeloop's exception tree, one class per Kubernetes Status reason.

Every layer raises these; the API server turns them into a `Status` body at its boundary
(`APIError.status()`), so kubectl prints them exactly as it prints a real cluster's errors.

    APIError (code, reason)
     ├── BadRequest 400            ├── Conflict 409
     ├── Unauthorized 401          ├── Gone / Expired 410
     ├── Forbidden 403             ├── RequestEntityTooLarge 413
     ├── NotFound 404              ├── UnsupportedMediaType 415
     ├── MethodNotSupported 405    ├── Invalid 422 (field causes)
     ├── NotAcceptable 406         ├── InternalError 500
     ├── AlreadyExists 409         └── ServiceUnavailable 503

Field errors (`FieldError`) carry Kubernetes' wording (`Invalid value: 0: must be between 1
and 65535, inclusive`), because kubectl rebuilds an Invalid message from the causes alone.
This module does no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable


def _go_value(value: Any) -> str:
    """Render a value the way apimachinery's field errors do (strings quoted, numbers bare)."""
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class FieldError:
    """One cause of an Invalid error: a field path, a Kubernetes cause reason and a message."""

    field: str
    reason: str
    message: str

    def cause(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def required(field: str, detail: str = "") -> FieldError:
    return FieldError(field, "FieldValueRequired", "Required value" + (f": {detail}" if detail else ""))


def invalid(field: str, value: Any, detail: str = "") -> FieldError:
    msg = f"Invalid value: {_go_value(value)}" + (f": {detail}" if detail else "")
    return FieldError(field, "FieldValueInvalid", msg)


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError(field, "FieldValueDuplicate", f"Duplicate value: {_go_value(value)}")


def not_supported(field: str, value: Any, supported: Iterable[str]) -> FieldError:
    opts = ", ".join(json.dumps(s) for s in supported)
    return FieldError(field, "FieldValueNotSupported", f"Unsupported value: {_go_value(value)}: supported values: {opts}")


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError(field, "FieldValueForbidden", f"Forbidden: {detail}")


def too_many(field: str, actual: int, limit: int) -> FieldError:
    return FieldError(field, "FieldValueTooMany", f"Too many: {actual}: must have at most {limit} items")


class APIError(Exception):
    """Base of every error that becomes a Kubernetes Status."""

    code = 500
    reason = "InternalError"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


class BadRequest(APIError):
    code, reason = 400, "BadRequest"


class Unauthorized(APIError):
    code, reason = 401, "Unauthorized"


class Forbidden(APIError):
    code, reason = 403, "Forbidden"


class NotFound(APIError):
    code, reason = 404, "NotFound"

    @classmethod
    def of(cls, resource: str, name: str, group: str = "") -> "NotFound":
        qualified = f"{resource}.{group}" if group else resource
        return cls(f'{qualified} "{name}" not found', details={"name": name, "group": group, "kind": resource})


class MethodNotSupported(APIError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(APIError):
    code, reason = 406, "NotAcceptable"


class AlreadyExists(APIError):
    code, reason = 409, "AlreadyExists"

    @classmethod
    def of(cls, resource: str, name: str, group: str = "") -> "AlreadyExists":
        qualified = f"{resource}.{group}" if group else resource
        return cls(f'{qualified} "{name}" already exists', details={"name": name, "group": group, "kind": resource})


class Conflict(APIError):
    code, reason = 409, "Conflict"

    @classmethod
    def modified(cls, resource: str, name: str, group: str = "") -> "Conflict":
        qualified = f"{resource}.{group}" if group else resource
        return cls(
            f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
            details={"name": name, "group": group, "kind": resource},
        )


class Gone(APIError):
    """A watch or list from a revision that compaction already removed."""

    code, reason = 410, "Expired"

    @classmethod
    def too_old(cls, requested: int, oldest: int) -> "Gone":
        return cls(f"too old resource version: {requested} ({oldest})")


class RequestEntityTooLarge(APIError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(APIError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(APIError):
    code, reason = 422, "Invalid"

    def __init__(self, kind: str, name: str, errors: list[FieldError], group: str = "") -> None:
        qualified = f"{kind}.{group}" if group else kind
        text = "; ".join(str(e) for e in errors) if len(errors) != 1 else str(errors[0])
        if len(errors) > 1:
            text = "[" + ", ".join(str(e) for e in errors) + "]"
        super().__init__(
            f'{qualified} "{name}" is invalid: {text}',
            details={"name": name, "group": group, "kind": kind, "causes": [e.cause() for e in errors]},
        )
        self.errors = errors


class InternalError(APIError):
    code, reason = 500, "InternalError"


class ServiceUnavailable(APIError):
    code, reason = 503, "ServiceUnavailable"


def raise_if(kind: str, name: str, errors: list[FieldError], group: str = "") -> None:
    """Raise Invalid when a validator collected any field errors."""
    if errors:
        raise Invalid(kind, name, errors, group)
