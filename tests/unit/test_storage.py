"""Contract tests every storage backend must pass, plus SQLite durability."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from kubeloop.storage.base import ADDED, DELETED, MODIFIED, Compacted, KeyExists, KeyNotFound, RevisionMismatch
from kubeloop.storage.log import memory_backend
from kubeloop.storage.sqlite import sqlite_backend


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request, tmp_path):
    def make(**kw):
        if request.param == "memory":
            s = memory_backend(**kw)
        else:
            s = sqlite_backend(tmp_path / "state.db", **kw)
        return s

    return make


def obj(name: str, **extra) -> dict:
    return {"metadata": {"name": name}, **extra}


async def test_create_get_list_revisions(make_store):
    s = make_store()
    a = await s.create("/core/pods/default/a", obj("a"))
    b = await s.create("/core/pods/default/b", obj("b"))
    await s.create("/core/pods/other/c", obj("c"))
    assert a["metadata"]["resourceVersion"] == "1"
    assert b["metadata"]["resourceVersion"] == "2"
    assert (await s.get("/core/pods/default/a"))["metadata"]["name"] == "a"
    items, rev = await s.list("/core/pods/default/")
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    assert rev == 3 == s.revision
    items, _ = await s.list("/core/pods/")
    assert len(items) == 3
    with pytest.raises(KeyExists):
        await s.create("/core/pods/default/a", obj("a"))
    await s.close()


async def test_update_delete_conflicts(make_store):
    s = make_store()
    await s.create("/k/x", obj("x"))
    u = await s.update("/k/x", obj("x", spec=1), expected_revision=1)
    assert u["metadata"]["resourceVersion"] == "2"
    with pytest.raises(RevisionMismatch):
        await s.update("/k/x", obj("x", spec=2), expected_revision=1)
    with pytest.raises(RevisionMismatch):
        await s.delete("/k/x", expected_revision=1)
    d = await s.delete("/k/x")
    assert d["metadata"]["resourceVersion"] == "3"
    assert await s.get("/k/x") is None
    with pytest.raises(KeyNotFound):
        await s.update("/k/x", obj("x"))
    with pytest.raises(KeyNotFound):
        await s.delete("/k/x")
    await s.close()


async def test_watch_replays_then_tails(make_store):
    s = make_store()
    await s.create("/k/a", obj("a"))
    await s.create("/j/z", obj("z"))
    await s.update("/k/a", obj("a", v=2))
    w = s.watch("/k/", after=1)
    await s.delete("/k/a")
    await s.create("/k/b", obj("b"))
    seen = []
    async for ev in w:
        seen.append((ev.type, ev.key, ev.revision))
        if len(seen) == 3:
            break
    w.close()
    assert seen == [(MODIFIED, "/k/a", 3), (DELETED, "/k/a", 4), (ADDED, "/k/b", 5)]
    await s.close()


async def test_slow_watcher_is_cut_off_not_blocking(make_store):
    s = make_store(watch_buffer=5)
    w = s.watch("/k/", after=0)
    for i in range(10):
        await s.create(f"/k/{i}", obj(str(i)))
    assert w.overflowed
    assert [e async for e in w] == []
    assert s.revision == 10
    await s.close()


async def test_compaction_expires_old_watches(make_store):
    s = make_store()
    for i in range(5):
        await s.create(f"/k/{i}", obj(str(i)))
    await s.compact(3)
    with pytest.raises(Compacted):
        s.watch("/k/", after=2)
    w = s.watch("/k/", after=3)
    ev = await asyncio.wait_for(w.__anext__(), 1)
    assert ev.revision == 4
    w.close()
    await s.close()


async def test_history_window_bounds_replay(make_store):
    s = make_store(history=3)
    for i in range(6):
        await s.create(f"/k/{i}", obj(str(i)))
    assert s.compact_revision == 3
    with pytest.raises(Compacted):
        s.watch("/k/", after=1)
    await s.close()


async def test_sqlite_restart_keeps_objects_and_revisions(tmp_path):
    path = tmp_path / "state.db"
    s = sqlite_backend(path)
    await s.create("/k/a", obj("a"))
    await s.create("/k/b", obj("b"))
    await s.update("/k/a", obj("a", v=2))
    await s.delete("/k/b")
    await s.compact(2)
    await s.close()
    s2 = sqlite_backend(path)
    assert s2.revision == 4
    items, rev = await s2.list("/k/")
    assert [(i["metadata"]["name"], i["metadata"]["resourceVersion"], i.get("v")) for i in items] == [("a", "3", 2)]
    created = await s2.create("/k/c", obj("c"))
    assert created["metadata"]["resourceVersion"] == "5"
    w = s2.watch("/k/", after=2)
    types = [(await w.__anext__()).type for _ in range(3)]
    assert types == [MODIFIED, DELETED, ADDED]
    w.close()
    await s2.close()


WRITER = r"""
import asyncio, sys
from kubeloop.storage.sqlite import sqlite_backend
async def main():
    s = sqlite_backend(sys.argv[1])
    i = 0
    while True:
        o = await s.create(f"/k/{i:08d}", {"metadata": {"name": str(i)}})
        print(o["metadata"]["resourceVersion"], flush=True)
        i += 1
asyncio.run(main())
"""


async def test_sqlite_kill_9_loses_no_acknowledged_write(tmp_path):
    path = tmp_path / "state.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    acked = []
    assert proc.stdout is not None
    for line in proc.stdout:
        acked.append(int(line))
        if len(acked) >= 300:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    acked.extend(int(line) for line in proc.stdout.read().split())
    s = sqlite_backend(path)
    items, rev = await s.list("/k/")
    assert rev >= max(acked)
    stored = {int(i["metadata"]["resourceVersion"]) for i in items}
    assert set(acked) <= stored
    await s.close()
