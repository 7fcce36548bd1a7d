"""A py-evm key-value database on one SQLite file.

py-evm keeps every trie node, header, block body and receipt in a flat ``bytes -> bytes``
store (:class:`eth.db.backends.base.BaseDB`).  This store keeps them in one table,
``kv(key BLOB PRIMARY KEY, value BLOB)``.  Writes are buffered in memory and reach SQLite
only on :meth:`SQLiteKV.commit`, which the embedded backend calls once per mined block: a
process killed between two commits loses only the block it was building, never a mined
one, and the file always holds a consistent chain.  Reads go through a bounded cache
because py-evm reads the same trie nodes over and over.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from eth.db.backends.base import BaseDB

FORMAT_VERSION = "1"
_MISSING = object()


class SQLiteKV(BaseDB):
    """``bytes -> bytes`` store on SQLite with per-commit write batches and a read cache."""

    def __init__(self, path: Path, cache_entries: int = 250_000) -> None:
        self.path = path
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit survives the process being killed; only power loss can undo
        # the last few commits, which a development chain can afford.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS kv "
            "(key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID"
        )
        self._conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        self._conn.execute(
            "INSERT OR IGNORE INTO meta VALUES ('format', ?), ('created', ?)",
            (FORMAT_VERSION, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        )
        self._pending: dict[bytes, bytes | None] = {}
        self._cache: dict[bytes, object] = {}
        self._cache_entries = cache_entries
        self._mutex = threading.Lock()
        self.commits = 0

    # -- BaseDB -------------------------------------------------------------------------

    def __getitem__(self, key: bytes) -> bytes:
        value = self._lookup(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        if self._lookup(key) is None:
            raise KeyError(key)
        self._pending[key] = None

    def _exists(self, key: bytes) -> bool:
        return self._lookup(key) is not None

    # -- persistence --------------------------------------------------------------------

    def _lookup(self, key: bytes) -> bytes | None:
        if key in self._pending:
            return self._pending[key]
        cached = self._cache.get(key, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        with self._mutex:
            row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        value: bytes | None = None if row is None else bytes(row[0])
        if len(self._cache) >= self._cache_entries:
            self._cache.clear()  # cheaper than LRU bookkeeping on every hit
        self._cache[key] = value
        return value

    def commit(self) -> int:
        """Write every buffered change in one SQLite transaction; return how many."""
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        upserts = [(k, v) for k, v in pending.items() if v is not None]
        deletes = [(k,) for k, v in pending.items() if v is None]
        with self._mutex:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", upserts)
                if deletes:
                    self._conn.executemany("DELETE FROM kv WHERE key = ?", deletes)
            except BaseException:
                self._conn.execute("ROLLBACK")
                self._pending = {**pending, **self._pending}
                raise
            self._conn.execute("COMMIT")
        if len(self._cache) + len(pending) >= self._cache_entries:
            self._cache.clear()
        self._cache.update(pending)
        self.commits += 1
        return len(pending)

    def discard(self) -> None:
        """Drop the buffered changes (the block being built)."""
        self._pending.clear()

    def key_count(self) -> int:
        with self._mutex:
            return int(self._conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0])

    def close(self) -> None:
        with self._mutex:
            self._conn.close()
