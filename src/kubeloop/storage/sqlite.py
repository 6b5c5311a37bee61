"""SQLite persistence for the LogStore: one append-only table whose row id is the revision.

An event is acknowledged only after its row is committed (WAL journal; a crash of the
process loses nothing committed). Writes run on one dedicated thread, so the event loop
never blocks on disk and rows land in revision order. Compaction deletes rows that a newer
row of the same key supersedes (and deleted keys), up to the compacted revision; the newest
row is always kept so the revision counter survives a restart.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from .base import ADDED, DELETED, MODIFIED, Event, Obj
from .log import LogStore

_TYPES = {ADDED: 0, MODIFIED: 1, DELETED: 2}
_NAMES = {v: k for k, v in _TYPES.items()}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    rev   INTEGER PRIMARY KEY,
    key   TEXT    NOT NULL,
    type  INTEGER NOT NULL,
    value BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key ON log (key, rev);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SqlitePersistence:
    def __init__(self, path: Path, *, history: int = 20_000) -> None:
        self._path = Path(path)
        self._history = history
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kubeloop-sqlite")
        self._db = sqlite3.connect(str(self._path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def load(self) -> tuple[dict[str, Obj], list[Event], int, int]:
        db = self._db
        row = db.execute("SELECT value FROM meta WHERE name='compact'").fetchone()
        compact = int(row[0]) if row else 0
        row = db.execute("SELECT MAX(rev) FROM log").fetchone()
        revision = int(row[0]) if row and row[0] is not None else 0
        objects: dict[str, Obj] = {}
        query = (
            "SELECT l.key, l.value FROM log l JOIN (SELECT key, MAX(rev) AS m FROM log GROUP BY key) x "
            "ON l.key = x.key AND l.rev = x.m WHERE l.type != ?"
        )
        for key, value in db.execute(query, (_TYPES[DELETED],)):
            objects[key] = orjson.loads(value)
        events = [
            Event(_NAMES[t], k, orjson.loads(v), r)
            for r, k, t, v in db.execute(
                "SELECT rev, key, type, value FROM (SELECT * FROM log WHERE rev > ? ORDER BY rev DESC LIMIT ?) "
                "ORDER BY rev",
                (compact, self._history),
            )
        ]
        return objects, events, revision, compact

    def _append(self, event: Event) -> None:
        self._db.execute(
            "INSERT INTO log (rev, key, type, value) VALUES (?, ?, ?, ?)",
            (event.revision, event.key, _TYPES[event.type], orjson.dumps(event.object)),
        )

    async def append(self, event: Event) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._append, event)

    def _compact(self, revision: int) -> None:
        db = self._db
        db.execute("BEGIN")
        try:
            db.execute(
                "DELETE FROM log WHERE rev <= ? AND rev < (SELECT MAX(rev) FROM log) AND ("
                " type = ? OR EXISTS (SELECT 1 FROM log n WHERE n.key = log.key AND n.rev > log.rev))",
                (revision, _TYPES[DELETED]),
            )
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('compact', ?)", (revision,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def compact(self, revision: int) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._compact, revision)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._db.close)
        self._executor.shutdown(wait=True)


def sqlite_backend(path: Path, *, history: int = 20_000, watch_buffer: int = 10_000) -> LogStore:
    """The embedded default backend: state in memory, every event durable in SQLite."""
    return LogStore(SqlitePersistence(path, history=history), history=history, watch_buffer=watch_buffer)
