"""Raw SQL on a monitor test store, for tests that look inside the SQLite file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainer.monitor.store import SqliteStore


def sql(store: SqliteStore | str | Path, query: str,
        params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``query`` on an open SQLite store, or on the store at a path (opened as
    the monitor opens it: created or migrated first)."""
    if isinstance(store, SqliteStore):
        return list(store.db.execute(query, tuple(params)))
    opened = SqliteStore(store)
    try:
        return list(opened.db.execute(query, tuple(params)))
    finally:
        opened.close()
