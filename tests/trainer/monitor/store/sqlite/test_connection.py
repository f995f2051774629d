"""The SQLite connection: durable write settings, all-or-nothing transactions, readers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from trainer.monitor.store.sqlite.connection import SqliteConnection


def test_writer_runs_wal_with_full_sync(tmp_path: Path) -> None:
    con = SqliteConnection(str(tmp_path / "c.sqlite"), timeout_s=1.0)
    assert con._scalar("PRAGMA journal_mode") == "wal"
    assert con._scalar("PRAGMA synchronous") == 2  # FULL


def test_a_transaction_is_rolled_back_on_an_exception(tmp_path: Path) -> None:
    con = SqliteConnection(str(tmp_path / "c.sqlite"), timeout_s=1.0)
    with con.transaction() as db:
        db.execute("CREATE TABLE t(x INTEGER)")
    with pytest.raises(RuntimeError), con.transaction() as db:
        db.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("half way")
    assert con._read("SELECT x FROM t") == []
    assert not con.db.in_transaction


def test_a_reader_cannot_write_and_missing_tables_read_as_empty(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    SqliteConnection(path, timeout_s=1.0).close()
    ro = SqliteConnection(path, timeout_s=1.0, read_only=True)
    assert ro._read("SELECT x FROM nowhere") == []
    assert ro._scalar("SELECT max(x) FROM nowhere") is None
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.db.execute("CREATE TABLE t(x INTEGER)")
    with pytest.raises(sqlite3.OperationalError, match="syntax"):
        ro._read("SELEC 1")  # other errors are not hidden
