"""The SQLite store's batched writer: dedup and loss accounting per epoch, isolation of a
message it cannot bind, durability settings, lock contention, manifests and scores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.trainer.monitor.conftest import envelope, forecast, reading, status
from tests.trainer.monitor.sql_helpers import sql
from trainer.monitor.ingest import parse_message
from trainer.monitor.store import FleetMessage, ScoreRow, Store, StoreBusy

T0 = 1_780_000_000.0


def _msg(topic_payload: tuple[str, bytes], received: float = T0) -> FleetMessage:
    msg = parse_message(*topic_payload, received)
    assert msg is not None
    return msg


def test_store_counts_duplicates_and_gaps_that_fill_later(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    batch = [_msg(reading("s1", "mppt", n, T0 + n, pv_power=n)) for n in (1, 2, 3, 5, 6, 9)]
    res = store.write_batch([*batch, batch[1]])
    assert (res.inserted, res.duplicates) == (6, 1)
    (row,) = store.stream_stats("s1")
    assert (row.received, row.duplicates, row.lost) == (6, 1, 3)  # 4, 7, 8 missing
    # 4 and 7 arrive late (out-of-order redelivery): no longer lost
    store.write_batch([_msg(reading("s1", "mppt", n, T0 + n, pv_power=n)) for n in (4, 7)])
    (row,) = store.stream_stats("s1")
    assert (row.received, row.lost) == (8, 1)
    assert sql(store, "SELECT count(*) FROM readings")[0][0] == 8


def test_store_keeps_rejected_payloads(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    res = store.write_batch([], [("helio/s/d/reading", b"garbage", "not JSON", T0)])
    assert res.rejected == 1
    assert sql(store, "SELECT topic, payload FROM rejected") == [("helio/s/d/reading",
                                                                   b"garbage")]


def test_store_isolates_a_message_it_cannot_bind(tmp_path: Path) -> None:
    """A message the contract missed (here built by hand) is rolled back alone, kept in
    ``rejected``, and the rest of its batch is stored (a bind error must not make the
    monitor retry the batch forever)."""
    store = Store(tmp_path / "m.sqlite")
    good = [parse_message(*reading("s1", "mppt", n, T0 + n, pv_power=1.0), T0)
            for n in (1, 2, 3)]
    evil = FleetMessage("s1", "gateway", "events", 2**64, T0, T0,
                        envelope("s1", "gateway", "events", T0, 1, level="info", code="x"),
                        topic="helio/s1/gateway/events")
    evil_reading = FleetMessage("s1", "mppt", "reading", 4, T0, T0, {}, b"\xff\xfe",
                                topic="helio/s1/mppt/reading")
    res = store.write_batch([*[m for m in good if m], evil, evil_reading])
    assert (res.inserted, res.rejected) == (3, 2)
    assert sql(store, "SELECT count(*) FROM readings")[0][0] == 3
    assert sql(store, "SELECT count(*) FROM events")[0][0] == 0
    reasons = sorted(r[0] for r in sql(store, "SELECT reason FROM rejected"))
    assert reasons[0].startswith("store: OverflowError")
    assert reasons[1].startswith("store: UnicodeDecodeError")


def test_store_commits_with_synchronous_full(tmp_path: Path) -> None:
    """An acknowledged batch must survive a power cut (NORMAL in WAL does not)."""
    store = Store(tmp_path / "m.sqlite")
    assert sql(store, "PRAGMA synchronous")[0][0] == 2  # FULL
    assert sql(store, "PRAGMA journal_mode")[0][0] == "wal"


def test_new_outbox_epoch_is_new_data_not_duplicates(tmp_path: Path) -> None:
    """After an outbox loss seq restarts at 1 in a new epoch: new data, not copies."""
    store = Store(tmp_path / "m.sqlite")

    def batch(seqs: range, epoch: str | None, base: float) -> list[FleetMessage]:
        out = []
        for n in seqs:
            m = parse_message(*reading("s1", "mppt", n, base + n, epoch=epoch, pv_power=1.0),
                              base + n)
            assert m is not None
            out.append(m)
        return out

    assert store.write_batch(batch(range(1, 101), None, T0)).inserted == 100  # legacy agent
    assert store.write_batch(batch(range(1, 51), "ep-a", T0 + 200)).inserted == 50  # upgraded
    res = store.write_batch(batch(range(1, 31), "ep-b", T0 + 300))  # SD card replaced
    assert (res.inserted, res.duplicates) == (30, 0)
    res = store.write_batch(batch(range(20, 36), "ep-b", T0 + 300))  # redelivery + new
    assert (res.inserted, res.duplicates) == (5, 11)
    rows = {r.epoch: r for r in store.stream_stats("s1")}
    assert set(rows) == {"", "ep-a", "ep-b"}
    assert [(rows[e].received, rows[e].lost) for e in ("", "ep-a", "ep-b")] == [
        (100, 0), (50, 0), (35, 0)]
    assert sql(store, "SELECT count(*) FROM readings")[0][0] == 185


def test_unsequenced_streams_are_counted_in_the_legacy_epoch(tmp_path: Path) -> None:
    """Status and model messages go through the same accounting: received, last seen,
    never duplicates or loss, whatever epoch they carry."""
    store = Store(tmp_path / "m.sqlite")
    store.write_batch([_msg(status("s1", "gw", T0, seq=1, epoch="e1"), received=T0)])
    store.write_batch([_msg(status("s1", "gw", T0 + 60, seq=2, epoch="e1"), received=T0 + 60)])
    (row,) = store.stream_stats("s1")
    assert (row.stream, row.epoch, row.received, row.duplicates, row.lost, row.last_seen) == (
        "status", "", 2, 0, 0, T0 + 60)


def test_a_redelivered_forecast_is_a_duplicate_and_adds_no_points(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    msg = _msg(forecast("s1", "gw", 1, T0, {15: 100.0, 30: 90.0}))
    assert store.write_batch([msg]).inserted == 1
    res = store.write_batch([msg])
    assert (res.inserted, res.duplicates) == (0, 1)
    assert sql(store, "SELECT count(*) FROM forecast_points")[0][0] == 8  # 2 horizons x 4
    (row,) = store.stream_stats("s1")
    assert (row.received, row.duplicates, row.lost) == (1, 1, 0)


def test_a_locked_database_raises_store_busy_and_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite"
    store = Store(db, timeout_s=0.1)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(StoreBusy):
            store.write_batch([_msg(reading("s1", "mppt", 1, T0, pv_power=1.0))])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.stream_stats() == []
    assert store.write_batch([_msg(reading("s1", "mppt", 1, T0, pv_power=1.0))]).inserted == 1


def test_manifests_are_kept_by_model_sha_and_from_model_commands(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    store.add_manifest({"model_version": "v1", "model": {"sha256": "aa"}, "metrics": {"x": 1}})
    store.add_manifest({"model_version": "v0", "model": {}})  # no SHA: nothing to key it by
    cmd = FleetMessage("s1", "gw", "cmd/model", None, None, T0,
                       {"manifest": {"model_version": "v2", "model": {"sha256": "bb"}}})
    store.write_batch([cmd])
    assert store.manifest("aa") == {"model_version": "v1", "model": {"sha256": "aa"},
                                    "metrics": {"x": 1}}
    assert store.model_versions() == {"aa": "v1", "bb": "v2"}
    assert store.manifest("cc") is None


def test_write_scores_stores_them_and_closes_their_points(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    store.write_batch([_msg(forecast("s1", "gw", 1, T0, {15: 100.0}))])
    points = store.open_points("s1", T0 + 3600)
    assert sorted(p.target for p in points) == ["dhi", "dni", "ghi", "pv_power"]
    pv = next(p for p in points if p.target == "pv_power")
    row = ScoreRow("s1", "gw", "pv_power", 15, pv.issue, 0, pv.model_sha, pv.period_end,
                   100.0, 80.0, 90.0)
    store.write_scores([row], [p.id for p in points])
    store.write_scores([row], [])  # scoring twice keeps one score
    assert store.open_points("s1", T0 + 3600) == []
    assert store.unscored_sites() == []
    (stats,) = store.error_stats("s1", since=0.0, until=float("inf"))
    assert (stats.n, stats.mse, stats.mse_persistence) == (1, 100.0, 100.0)
