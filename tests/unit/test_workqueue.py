"""WorkQueue: de-duplication, no concurrent processing of one key, retries with backoff."""

import asyncio

from kubeloop.client.workqueue import WorkQueue, run_workers


async def test_dedupes_waiting_keys():
    q = WorkQueue()
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"


async def test_key_added_while_processing_is_requeued_after_done():
    q = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")
    assert len(q) == 0  # not handed out twice at once
    q.done(key)
    assert len(q) == 1


async def test_workers_retry_failures_then_forget():
    q = WorkQueue(base_delay=0.001)
    calls: list[str] = []

    async def sync(key: str) -> None:
        calls.append(key)
        if len(calls) < 3:
            raise RuntimeError("transient")
        q.shutdown()

    q.add("k")
    await asyncio.wait_for(run_workers(q, sync, workers=2), 5)
    assert calls == ["k", "k", "k"]
