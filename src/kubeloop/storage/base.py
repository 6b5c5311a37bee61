"""The storage Backend protocol: a revisioned key-value log (the design of k3s' kine).

Every write appends one event with the next global revision; that revision becomes the
object's `metadata.resourceVersion`. A watch replays the events after a revision and then
tails live ones. Compaction forgets history older than a revision; a watch from before it
gets `Compacted`. Storage knows keys and revisions, never Kubernetes resources: the API
server translates these errors into Statuses.

Objects handed to a Backend become the Backend's; objects it hands out are shared and must
be treated as immutable (copy before changing them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator, Protocol

Obj = dict[str, Any]

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


class StorageError(Exception):
    """Base of the storage layer's own errors."""


class KeyExists(StorageError):
    pass


class KeyNotFound(StorageError):
    pass


class RevisionMismatch(StorageError):
    """An update or delete named a revision that is no longer the key's current one."""


class Compacted(StorageError):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"revision {requested} is compacted (oldest available {oldest})")
        self.requested = requested
        self.oldest = oldest


@dataclass(frozen=True)
class Event:
    type: str  # ADDED | MODIFIED | DELETED
    key: str
    object: Obj  # for DELETED: the last state, stamped with the deletion revision
    revision: int
    prev: Obj | None = None  # the state before this event, when known (not after a restart)


class Watch(Protocol):
    """An event stream. Ends (StopAsyncIteration) when closed or when it fell behind."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def __anext__(self) -> Event: ...

    def close(self) -> None: ...

    @property
    def overflowed(self) -> bool: ...


class Backend(Protocol):
    @property
    def revision(self) -> int:
        """The newest revision written."""

    @property
    def compact_revision(self) -> int:
        """Events at or below this revision are gone; watching from before it raises Compacted."""

    async def get(self, key: str) -> Obj | None: ...

    def list_now(self, prefix: str) -> list[Obj]:
        """Synchronous list (in-memory state; for in-process scans such as garbage collection)."""

    async def list(self, prefix: str) -> tuple[list[Obj], int]:
        """Objects whose key starts with prefix, in key order, and the revision they were read at."""

    async def create(self, key: str, obj: Obj) -> Obj: ...

    async def update(self, key: str, obj: Obj, expected_revision: int | None = None) -> Obj: ...

    async def delete(self, key: str, expected_revision: int | None = None) -> Obj: ...

    def watch(self, prefix: str, after: int) -> Watch:
        """Events for keys under prefix with revision > after (raises Compacted)."""

    async def compact(self, revision: int) -> None: ...

    def close_watchers(self) -> None: ...

    async def close(self) -> None: ...
