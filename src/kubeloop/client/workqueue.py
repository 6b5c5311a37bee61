"""WorkQueue: a de-duplicating queue of keys for level-triggered controllers.

A key is never handed to two workers at once (the `processing` set); adding a key that is
already waiting is a no-op, and adding one that is being processed marks it dirty so it is
queued again when `done()` is called (client-go's workqueue). `retry()` re-adds a key after
an exponential delay (5 ms doubling to 30 s); `forget()` resets it after a success.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Awaitable, Callable


class WorkQueue:
    def __init__(self, *, base_delay: float = 0.005, max_delay: float = 30.0) -> None:
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._base, self._max = base_delay, max_delay
        self._wakeup = asyncio.Event()
        self._timers: set[asyncio.TimerHandle] = set()
        self._shutdown = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: str) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._wakeup.set()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            self.add(key)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def retry(self, key: str) -> None:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.add_after(key, min(self._base * (2**n), self._max))

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    async def get(self) -> str | None:
        """The next key, or None once the queue is shut down."""
        while not self._queue:
            if self._shutdown:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wakeup.set()

    def shutdown(self) -> None:
        self._shutdown = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self._wakeup.set()


async def run_workers(queue: WorkQueue, sync: Callable[[str], Awaitable[None]], workers: int = 1,
                      on_error: Callable[[str, BaseException], None] | None = None) -> None:
    """Run `sync(key)` for queued keys on `workers` tasks until the queue shuts down."""

    async def worker() -> None:
        while True:
            key = await queue.get()
            if key is None:
                return
            try:
                await sync(key)
                queue.forget(key)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if on_error is not None:
                    on_error(key, e)
                queue.retry(key)
            finally:
                queue.done(key)

    await asyncio.gather(*(worker() for _ in range(workers)))
