"""The SQLite schema of the monitor store and its migrations.

Responsible for: the tables and indexes, their version (``PRAGMA
user_version``) and bringing an older file up to date in place, its data
kept.

Does NOT: open connections or run transactions (the caller does, see
:class:`trainer.monitor.store.sqlite.SqliteStore`).

Versions: 0 had no outbox epoch; 1 added ``epoch`` to the key of the
sequenced tables (their rows from version 0 land in the legacy epoch ``""``)
and ``epoch``/``seq`` to ``status``; 2 added the energy plans (``plans``:
one row per plan message, its body verbatim plus the columns the queries
need, and ``plan_scores``: one row per plan and scored horizon), new tables
only, so a version-1 file keeps everything it had.
"""

from __future__ import annotations

import sqlite3

__all__ = ["SCHEMA", "SCHEMA_VERSION", "create_or_migrate"]

#: ``PRAGMA user_version`` of the current schema (1: the epoch column, 2: plans)
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings(
    site TEXT, device TEXT, seq INTEGER, ts REAL, received REAL, body TEXT,
    epoch TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(site, device, epoch, seq));
CREATE INDEX IF NOT EXISTS readings_ts ON readings(site, ts);
CREATE TABLE IF NOT EXISTS forecasts(
    site TEXT, device TEXT, seq INTEGER, ts REAL, issue REAL, model_version TEXT,
    model_sha TEXT, shadow INTEGER, inputs_stale INTEGER, received REAL,
    epoch TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(site, device, epoch, seq));
CREATE TABLE IF NOT EXISTS forecast_points(
    site TEXT, device TEXT, target TEXT, horizon_min INTEGER, issue REAL, shadow INTEGER,
    model_sha TEXT, period_end REAL, period_s REAL, p10 REAL, p50 REAL, p90 REAL,
    scored INTEGER DEFAULT 0,
    PRIMARY KEY(site, device, target, horizon_min, issue, shadow, model_sha));
CREATE INDEX IF NOT EXISTS points_open ON forecast_points(site, scored, period_end);
CREATE TABLE IF NOT EXISTS events(
    site TEXT, device TEXT, seq INTEGER, ts REAL, level TEXT, code TEXT, message TEXT,
    data TEXT, received REAL, epoch TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(site, device, epoch, seq));
CREATE TABLE IF NOT EXISTS status(
    site TEXT, device TEXT, state TEXT, ts REAL, received REAL, payload TEXT,
    epoch TEXT, seq INTEGER,
    PRIMARY KEY(site, device));
CREATE TABLE IF NOT EXISTS models(
    site TEXT, device TEXT, version TEXT, sha256 TEXT, blessed INTEGER, role TEXT,
    received REAL, payload TEXT, PRIMARY KEY(site, device, role));
CREATE TABLE IF NOT EXISTS manifests(sha256 TEXT PRIMARY KEY, version TEXT, manifest TEXT);
CREATE TABLE IF NOT EXISTS streams(
    site TEXT, device TEXT, stream TEXT, first_seq INTEGER, max_seq INTEGER,
    received INTEGER DEFAULT 0, duplicates INTEGER DEFAULT 0, last_seen REAL,
    epoch TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(site, device, stream, epoch));
CREATE TABLE IF NOT EXISTS rejected(
    id INTEGER PRIMARY KEY, topic TEXT, payload BLOB, reason TEXT, received REAL);
CREATE TABLE IF NOT EXISTS scores(
    site TEXT, device TEXT, target TEXT, horizon_min INTEGER, issue REAL, shadow INTEGER,
    model_sha TEXT, period_end REAL, forecast REAL, persistence REAL, actual REAL,
    PRIMARY KEY(site, device, target, horizon_min, issue, shadow, model_sha));
CREATE INDEX IF NOT EXISTS scores_time ON scores(site, period_end);
CREATE TABLE IF NOT EXISTS alerts(
    id INTEGER PRIMARY KEY, site TEXT, device TEXT, code TEXT, key TEXT, level TEXT,
    raised REAL, cleared REAL, message TEXT, data TEXT);
CREATE INDEX IF NOT EXISTS alerts_open ON alerts(site, device, code, key, cleared);
CREATE TABLE IF NOT EXISTS plans(
    site TEXT, device TEXT, seq INTEGER, ts REAL, issued REAL, horizon_end REAL,
    reserve_soc REAL, reserve_at REAL, reserve_at_p50 REAL, received REAL, body TEXT,
    epoch TEXT NOT NULL DEFAULT '', scored INTEGER DEFAULT 0,
    reserve_measured REAL,
    PRIMARY KEY(site, device, epoch, seq));
CREATE INDEX IF NOT EXISTS plans_issued ON plans(site, issued);
CREATE INDEX IF NOT EXISTS plans_open ON plans(site, scored, horizon_end);
CREATE TABLE IF NOT EXISTS plan_scores(
    site TEXT, device TEXT, issued REAL, horizon_min INTEGER, target_time REAL,
    soc_p10 REAL, soc_p50 REAL, soc_p90 REAL, soc_actual REAL,
    load_p50 REAL, load_actual REAL, load_persistence REAL,
    PRIMARY KEY(site, device, issued, horizon_min));
CREATE INDEX IF NOT EXISTS plan_scores_time ON plan_scores(site, target_time);
"""

#: Tables whose primary key gained ``epoch`` in schema 1 (rebuilt on migration).
_EPOCH_TABLES = ("readings", "forecasts", "events", "streams")


def create_or_migrate(db: sqlite3.Connection) -> None:
    """Bring the database to :data:`SCHEMA_VERSION`; call inside a write transaction."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version < SCHEMA_VERSION and _has_table(db, "readings"):
        _migrate_epoch(db)
    _create(db)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _create(db: sqlite3.Connection) -> None:
    for stmt in SCHEMA.split(";"):
        if stmt.strip():
            db.execute(stmt)


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                      (name,)).fetchone() is not None


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def _migrate_epoch(db: sqlite3.Connection) -> None:
    """Schema 0 -> 1: rebuild the sequenced tables with ``epoch`` in their key."""
    for table in _EPOCH_TABLES:
        if _has_table(db, table) and "epoch" not in _columns(db, table):
            db.execute(f"ALTER TABLE {table} RENAME TO {table}_v0")
    db.execute("DROP INDEX IF EXISTS readings_ts")
    _create(db)
    for table in _EPOCH_TABLES:
        if _has_table(db, f"{table}_v0"):
            names = ", ".join(_columns(db, f"{table}_v0"))
            db.execute(f"INSERT INTO {table}({names}) SELECT {names} FROM {table}_v0")
            db.execute(f"DROP TABLE {table}_v0")
    cols = _columns(db, "status")
    for col, kind in (("epoch", "TEXT"), ("seq", "INTEGER")):
        if col not in cols:
            db.execute(f"ALTER TABLE status ADD COLUMN {col} {kind}")
