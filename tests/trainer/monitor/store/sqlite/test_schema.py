"""The SQLite schema: a fresh file gets the current version, an older one is migrated in
place with its data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.trainer.monitor.conftest import reading
from tests.trainer.monitor.sql_helpers import sql
from trainer.monitor.ingest import parse_message
from trainer.monitor.store import Store
from trainer.monitor.store.sqlite.schema import SCHEMA_VERSION

T0 = 1_780_000_000.0


def test_a_new_store_has_the_current_schema_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    assert sql(store, "PRAGMA user_version")[0][0] == SCHEMA_VERSION == 2
    tables = {r[0] for r in sql(store, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"readings", "forecasts", "forecast_points", "events", "status", "models",
            "manifests", "streams", "rejected", "scores", "alerts", "plans",
            "plan_scores"} <= tables


def test_schema_0_store_is_migrated_with_its_data_in_the_legacy_epoch(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.executescript("""
        CREATE TABLE readings(site TEXT, device TEXT, seq INTEGER, ts REAL, received REAL,
            body TEXT, PRIMARY KEY(site, device, seq));
        CREATE INDEX readings_ts ON readings(site, ts);
        CREATE TABLE streams(site TEXT, device TEXT, stream TEXT, first_seq INTEGER,
            max_seq INTEGER, received INTEGER DEFAULT 0, duplicates INTEGER DEFAULT 0,
            last_seen REAL, PRIMARY KEY(site, device, stream));
        CREATE TABLE status(site TEXT, device TEXT, state TEXT, ts REAL, received REAL,
            payload TEXT, PRIMARY KEY(site, device));
        INSERT INTO readings VALUES ('s1', 'mppt', 1, 1.0, 1.0, '{}'), ('s1', 'mppt', 2, 2.0,
            2.0, '{}');
        INSERT INTO streams VALUES ('s1', 'mppt', 'reading', 1, 2, 2, 0, 2.0);
    """)
    con.commit()
    con.close()
    store = Store(db)
    assert sql(store, "PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert sql(store, "SELECT seq, epoch FROM readings ORDER BY seq") == [(1, ""), (2, "")]
    (row,) = store.stream_stats("s1")
    assert (row.epoch, row.received, row.lost) == ("", 2, 0)
    dup = parse_message(*reading("s1", "mppt", 2, T0, pv_power=1.0), T0)
    new = parse_message(*reading("s1", "mppt", 2, T0, epoch="e2", pv_power=1.0), T0)
    assert dup is not None and new is not None
    assert store.write_batch([dup, new]).duplicates == 1
    store.close()
    Store(db).close()  # reopening an up-to-date store changes nothing


def test_schema_0_events_and_forecasts_keep_their_rows(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.executescript("""
        CREATE TABLE readings(site TEXT, device TEXT, seq INTEGER, ts REAL, received REAL,
            body TEXT, PRIMARY KEY(site, device, seq));
        CREATE TABLE events(site TEXT, device TEXT, seq INTEGER, ts REAL, level TEXT,
            code TEXT, message TEXT, data TEXT, received REAL, PRIMARY KEY(site, device, seq));
        CREATE TABLE status(site TEXT, device TEXT, state TEXT, ts REAL, received REAL,
            payload TEXT, PRIMARY KEY(site, device));
        INSERT INTO events VALUES ('s1', 'gw', 1, 5.0, 'info', 'model_promoted', 'ok', '{}', 5.0);
    """)
    con.commit()
    con.close()
    store = Store(db)
    (event,) = store.events(site="s1")
    assert (event.code, event.ts) == ("model_promoted", 5.0)
    assert sql(store, "SELECT epoch FROM events") == [("",)]
    cols = [r[1] for r in sql(store, "PRAGMA table_info(status)")]
    assert cols[-2:] == ["epoch", "seq"]
