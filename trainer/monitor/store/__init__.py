"""The monitor's store: readings, forecasts, plans, status, events, scores, alarms.

Responsible for: the monitor's one interface to its database,
:class:`MonitorStore` (:mod:`.interface`), its value types (:mod:`.records`),
the mapping of each stream's message body to what is stored
(:mod:`.bodies`), and the backends: :class:`SqliteStore` (:mod:`.sqlite`).
All SQL of the monitor lives in this package.

Does NOT: talk MQTT, parse topics or check payloads (see
:mod:`trainer.monitor.ingest` and :mod:`edge.runtime.contract`), or
compute scores (see :mod:`trainer.monitor.scoring`).

``Store`` is the default backend (SQLite), what ``helio-monitor`` opens.

Must not import: the rest of :mod:`trainer.monitor` (ingest, scoring, drift,
fleet, dashboard depend on the store, not the other way round), nor
``edge.deploy``, ``edge.demo`` or ``edge.simulation`` (the trainer rule).
"""

from __future__ import annotations

from trainer.monitor.store.interface import MonitorStore
from trainer.monitor.store.records import (
    AlertRow,
    BatchResult,
    FleetMessage,
    OpenPlan,
    OpenPoint,
    PlanErrorStats,
    PlanOutcome,
    PlanScoreRow,
    Reject,
    ReserveStats,
    ScoredPoint,
    ScoreRow,
    StoreBusy,
    StoredPlan,
    StreamStat,
)
from trainer.monitor.store.sqlite import ReadOnlyStore, SqliteStore

__all__ = [
    "AlertRow",
    "BatchResult",
    "FleetMessage",
    "MonitorStore",
    "OpenPlan",
    "OpenPoint",
    "PlanErrorStats",
    "PlanOutcome",
    "PlanScoreRow",
    "ReadOnlyStore",
    "Reject",
    "ReserveStats",
    "ScoreRow",
    "ScoredPoint",
    "SqliteStore",
    "Store",
    "StoreBusy",
    "StoredPlan",
    "StreamStat",
]

#: the default backend
Store = SqliteStore
