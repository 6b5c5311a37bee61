"""LogStore: the revisioned log that every Backend shares, kept in memory.

Current state, a bounded window of recent events (the watch history) and the live watchers
all live here; a `Persistence` (SQLite, or none for the memory backend) makes each event
durable before it is applied and acknowledged. Writes are serialised by one lock so
revisions reach persistence, state and watchers in order. Watchers get a bounded buffer and
are cut off when they fall behind (kine's broadcaster): a slow reader never blocks writers;
it relists.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import deque
from typing import AsyncIterator, Protocol

from .base import (
    ADDED,
    DELETED,
    MODIFIED,
    Compacted,
    Event,
    KeyExists,
    KeyNotFound,
    Obj,
    RevisionMismatch,
)


class Persistence(Protocol):
    """Where a LogStore makes its events durable."""

    def load(self) -> tuple[dict[str, Obj], list[Event], int, int]:
        """(current objects by key, recent events oldest first, revision, compact revision)."""

    async def append(self, event: Event) -> None: ...

    async def compact(self, revision: int) -> None: ...

    async def close(self) -> None: ...


def _revision_of(obj: Obj) -> int:
    return int(obj["metadata"]["resourceVersion"])


def _stamp(obj: Obj, revision: int) -> Obj:
    meta = dict(obj.get("metadata") or {})
    meta["resourceVersion"] = str(revision)
    stamped = dict(obj)
    stamped["metadata"] = meta
    return stamped


class LogWatch:
    """One watcher: events pushed by the store into a bounded buffer, read with `async for`."""

    def __init__(self, store: "LogStore", prefix: str, limit: int) -> None:
        self._store = store
        self.prefix = prefix
        self._limit = limit
        self._buffer: deque[Event] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._closed = False
        self._overflowed = False

    @property
    def overflowed(self) -> bool:
        return self._overflowed

    def _push(self, event: Event) -> None:
        if self._closed:
            return
        if len(self._buffer) >= self._limit:
            # Too slow: cut it off rather than hold events (and writers) for it.
            self._overflowed = True
            self.close()
            return
        self._buffer.append(event)
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._store._unsubscribe(self)
            self._wake()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._buffer and not self._overflowed:
                return self._buffer.popleft()
            if self._closed:
                raise StopAsyncIteration
            self._wakeup = asyncio.get_running_loop().create_future()
            try:
                await self._wakeup
            finally:
                self._wakeup = None


class LogStore:
    """A Backend whose state lives in memory; `persistence` (optional) makes it durable."""

    def __init__(
        self,
        persistence: Persistence | None = None,
        *,
        history: int = 20_000,
        watch_buffer: int = 10_000,
    ) -> None:
        self._persistence = persistence
        self._objects: dict[str, Obj] = {}
        self._keys: list[str] = []  # sorted, for prefix ranges
        self._history: deque[Event] = deque()
        self._history_limit = history
        self._watch_buffer = watch_buffer
        self._watchers: set[LogWatch] = set()
        self._revision = 0
        self._compact_revision = 0
        self._lock = asyncio.Lock()
        if persistence is not None:
            objects, events, revision, compact = persistence.load()
            self._objects = objects
            self._keys = sorted(objects)
            self._revision = revision
            self._compact_revision = compact
            for event in events[-history:]:
                self._history.append(event)
            if len(events) > history:
                self._compact_revision = max(compact, self._history[0].revision - 1)

    # -- reads ---------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def compact_revision(self) -> int:
        return self._compact_revision

    async def get(self, key: str) -> Obj | None:
        return self._objects.get(key)

    def get_now(self, key: str) -> Obj | None:
        """Synchronous read, for callers already on the event loop."""
        return self._objects.get(key)

    async def list(self, prefix: str) -> tuple[list[Obj], int]:
        return self.list_now(prefix), self._revision

    def list_now(self, prefix: str) -> list[Obj]:
        lo = bisect.bisect_left(self._keys, prefix)
        hi = bisect.bisect_left(self._keys, prefix + "\U0010ffff")
        objects = self._objects
        return [objects[k] for k in self._keys[lo:hi]]

    # -- writes --------------------------------------------------------------------------

    async def create(self, key: str, obj: Obj) -> Obj:
        async with self._lock:
            if key in self._objects:
                raise KeyExists(key)
            return await self._commit(ADDED, key, obj)

    async def update(self, key: str, obj: Obj, expected_revision: int | None = None) -> Obj:
        async with self._lock:
            current = self._objects.get(key)
            if current is None:
                raise KeyNotFound(key)
            if expected_revision is not None and _revision_of(current) != expected_revision:
                raise RevisionMismatch(key)
            return await self._commit(MODIFIED, key, obj)

    async def delete(self, key: str, expected_revision: int | None = None) -> Obj:
        async with self._lock:
            current = self._objects.get(key)
            if current is None:
                raise KeyNotFound(key)
            if expected_revision is not None and _revision_of(current) != expected_revision:
                raise RevisionMismatch(key)
            return await self._commit(DELETED, key, current)

    async def _commit(self, type_: str, key: str, obj: Obj) -> Obj:
        revision = self._revision + 1
        stamped = _stamp(obj, revision)
        event = Event(type_, key, stamped, revision, self._objects.get(key))
        if self._persistence is not None:
            await self._persistence.append(event)
        self._revision = revision
        if type_ == DELETED:
            del self._objects[key]
            self._keys.pop(bisect.bisect_left(self._keys, key))
        else:
            if key not in self._objects:
                bisect.insort(self._keys, key)
            self._objects[key] = stamped
        self._history.append(event)
        if len(self._history) > self._history_limit:
            dropped = self._history.popleft()
            self._compact_revision = max(self._compact_revision, dropped.revision)
        for watcher in list(self._watchers):
            if key.startswith(watcher.prefix):
                watcher._push(event)
        return stamped

    # -- watch and compaction ------------------------------------------------------------

    def watch(self, prefix: str, after: int) -> LogWatch:
        if after < self._compact_revision:
            raise Compacted(after, self._compact_revision)
        watcher = LogWatch(self, prefix, self._watch_buffer)
        # Replay and subscribe in one step (no await between): nothing can slip in between.
        for event in self._history:
            if event.revision > after and event.key.startswith(prefix):
                watcher._push(event)
        self._watchers.add(watcher)
        return watcher

    def _unsubscribe(self, watcher: LogWatch) -> None:
        self._watchers.discard(watcher)

    async def compact(self, revision: int) -> None:
        async with self._lock:
            revision = min(revision, self._revision)
            if revision <= self._compact_revision:
                return
            while self._history and self._history[0].revision <= revision:
                self._history.popleft()
            self._compact_revision = revision
            if self._persistence is not None:
                await self._persistence.compact(revision)

    def close_watchers(self) -> None:
        """End every watch (their clients relist); used when the server shuts down."""
        for watcher in list(self._watchers):
            watcher.close()

    async def close(self) -> None:
        self.close_watchers()
        if self._persistence is not None:
            await self._persistence.close()


def memory_backend(**kwargs: int) -> LogStore:
    """The in-memory backend (tests, throwaway clusters)."""
    return LogStore(None, **kwargs)
