"""The SQLite connection shared by the writer, alert and read parts of the store.

Responsible for: opening the database file (WAL, ``synchronous=FULL``,
``PRAGMA query_only`` for readers), write transactions (``BEGIN IMMEDIATE``)
and reads that count a table or column an older file lacks as empty.

Does NOT: know the tables (see :mod:`trainer.monitor.store.sqlite.schema`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["SqliteConnection"]


class SqliteConnection:
    """One ``sqlite3`` connection in autocommit mode with explicit transactions.

    Parameters
    ----------
    path : str
        Database file (``":memory:"`` works for tests).
    timeout_s : float
        How long a writer waits for another process's transaction. [s]
    read_only : bool
        ``PRAGMA query_only``: no schema, no write lock, nothing written.
    """

    def __init__(self, path: str, *, timeout_s: float, read_only: bool = False) -> None:
        self.path = path
        self.db = sqlite3.connect(path, timeout=timeout_s, isolation_level=None,
                                  check_same_thread=False)
        if read_only:
            self.db.execute("PRAGMA query_only=ON")
            return
        self.db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on the disk (WAL fsynced) before it returns, so an
        # acknowledged message survives a power cut (NORMAL only survives a crash)
        self.db.execute("PRAGMA synchronous=FULL")

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on an exception)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read; a table or column an older store lacks reads as no rows."""
        try:
            return list(self.db.execute(sql, tuple(params)))
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc) or "no such column" in str(exc):
                return []
            raise

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row (None without rows)."""
        rows = self._read(sql, params)
        return rows[0][0] if rows else None
