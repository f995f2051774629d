"""The store interface is what a second backend implements: the SQLite backend has exactly
its methods, with its signatures, and the monitor needs nothing beyond it."""

from __future__ import annotations

import inspect

import pytest

from trainer.monitor.store import MonitorStore, ReadOnlyStore, SqliteStore

MEMBERS = sorted(name for name, value in vars(MonitorStore).items()
                 if callable(value) and not name.startswith("_"))


def test_the_interface_lists_reads_and_writes() -> None:
    assert {"write_batch", "write_scores", "raise_alert", "stream_stats",
            "reading_values", "error_stats", "close"} <= set(MEMBERS)
    assert "query" not in MEMBERS and "transaction" not in MEMBERS


@pytest.mark.parametrize("backend", [SqliteStore, ReadOnlyStore])
@pytest.mark.parametrize("name", MEMBERS)
def test_backend_implements_the_member_with_its_signature(backend: type, name: str) -> None:
    assert inspect.signature(getattr(backend, name)) == inspect.signature(
        getattr(MonitorStore, name))


def test_the_sqlite_backend_offers_no_sql_passthrough() -> None:
    assert not hasattr(SqliteStore, "query")
