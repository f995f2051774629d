"""The SQLite backend of the monitor store (one file, shared by monitors and the dashboard).

Responsible for: :class:`SqliteStore`, which implements
:class:`~trainer.monitor.store.interface.MonitorStore` from its parts (the
connection, the schema and its migrations, the batched writer, alarms and
the read queries), and :class:`ReadOnlyStore` for readers beside a running
writer.

Does NOT: talk MQTT or check payloads (see :mod:`trainer.monitor.ingest`).

Several monitor processes may share the file (WAL mode; each batch is one
``BEGIN IMMEDIATE`` transaction, so SQLite serialises the writers).

Must not import: another backend, or :mod:`trainer.monitor` outside the store
package (the store rule).
"""

from __future__ import annotations

from pathlib import Path

from trainer.monitor.store.sqlite.alerts import SqliteAlerts
from trainer.monitor.store.sqlite.reads import SqliteReads
from trainer.monitor.store.sqlite.schema import SCHEMA_VERSION, create_or_migrate
from trainer.monitor.store.sqlite.writer import MAX_REJECTED_BYTES, SqliteWriter

__all__ = ["MAX_REJECTED_BYTES", "SCHEMA_VERSION", "ReadOnlyStore", "SqliteStore"]


class SqliteStore(SqliteWriter, SqliteAlerts, SqliteReads):
    """The SQLite database of one monitor (or several sharing the file).

    Parameters
    ----------
    path : str or Path
        Database file; created with its schema when missing (an older
        schema is migrated). ``":memory:"`` works for tests.
    timeout_s : float
        How long a writer waits for another process's transaction. [s]
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        super().__init__(str(path), timeout_s=timeout_s)
        with self.transaction() as db:
            create_or_migrate(db)


class ReadOnlyStore(SqliteWriter, SqliteAlerts, SqliteReads):
    """A connection to an existing store that never writes (``PRAGMA query_only``).

    Opening it creates no schema and takes no write lock, so the dashboard
    can read while ``helio-monitor run`` writes the same file.

    Parameters
    ----------
    path : str or Path
        An existing store file.
    timeout_s : float
        Busy timeout. [s]
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 10.0) -> None:
        if not Path(path).exists():
            raise FileNotFoundError(f"no monitor store at {path}")
        super().__init__(str(path), timeout_s=timeout_s, read_only=True)
