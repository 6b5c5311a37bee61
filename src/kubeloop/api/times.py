"""Kubernetes timestamps (metav1.Time): RFC 3339 in UTC, whole seconds, ``Z``. Pure.

``now()`` and ``format(t)`` write them as the API serializes them; ``parse(text)`` reads
them (and finer RFC 3339, e.g. MicroTime) back to POSIX seconds, None for a missing or
unreadable one.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any


def format(t: float) -> str:  # noqa: A001 -- times.format reads well at the call sites
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> str:
    return format(time.time())


def parse(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
