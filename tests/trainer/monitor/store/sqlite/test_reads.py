"""The SQLite store's read queries, on small hand-made data, and the read-only connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.trainer.monitor.conftest import envelope, forecast, reading, status
from trainer.monitor.ingest import parse_message
from trainer.monitor.store import FleetMessage, ReadOnlyStore, Store
from trainer.monitor.store.records import BucketMean, BucketValue, ValuesRow

T0 = 1_780_000_000.0


def _msg(topic_payload: tuple[str, bytes], received: float = T0) -> FleetMessage:
    msg = parse_message(*topic_payload, received)
    assert msg is not None
    return msg


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "m.sqlite")
    s.write_batch([
        _msg(reading("s1", "mppt", 1, T0 + 10, pv_power=100, charge_state="bulk")),
        _msg(reading("s1", "mppt", 2, T0 + 70, pv_power="n/a")),
        _msg(reading("s1", "inv", 1, T0 + 20, pv_power=50, battery_voltage=50.0,
                     battery_charge_current=3.0, battery_discharge_current=1.0)),
        _msg(reading("s1", "inv", 2, T0 + 80, battery_voltage=52.0, battery_current=-2.0)),
        _msg(reading("s2", "mppt", 1, T0, pv_power=1)),
        _msg(status("s3", "gw", T0)),
    ])
    return s


def test_sites_come_from_streams_and_status(store: Store) -> None:
    assert store.sites() == ["s1", "s2", "s3"]
    assert sorted(store.reading_sites()) == ["s1", "s2"]
    assert store.reading_span("s1") == (T0 + 10, T0 + 80)
    assert store.reading_span("nowhere") == (None, None)


def test_reading_values_by_time_and_the_required_value(store: Store) -> None:
    rows = store.reading_values("s1", ["pv_power", "charge_state"], T0, T0 + 80)
    assert rows == [ValuesRow("mppt", T0 + 10, (100, "bulk")),
                    ValuesRow("inv", T0 + 20, (50, None)),
                    ValuesRow("mppt", T0 + 70, ("n/a", None)),
                    ValuesRow("inv", T0 + 80, (None, None))]
    assert store.reading_values("s1", ["pv_power"], T0 + 10, T0 + 80,
                                require="pv_power") == [
        ValuesRow("inv", T0 + 20, (50,)), ValuesRow("mppt", T0 + 70, ("n/a",))]
    assert sorted(store.reading_counts("s1", T0, T0 + 60)) == [1, 1]


def test_bucket_means_take_numbers_only(store: Store) -> None:
    bucket = 3600.0
    b = int((T0 + 10) // bucket)
    assert store.reading_means("s1", "pv_power", T0, T0 + 80, bucket) == [
        BucketMean("inv", b, 50.0), BucketMean("mppt", b, 100.0)]


def test_battery_power_uses_charge_minus_discharge_without_a_battery_current(
        store: Store) -> None:
    bucket = 60.0
    b1, b2 = int((T0 + 20) // bucket), int((T0 + 80) // bucket)
    assert store.battery_power("s1", "inv", T0, T0 + 80, bucket) == [
        BucketValue(b1, 50.0 * (3.0 - 1.0)), BucketValue(b2, 52.0 * -2.0)]


def test_events_filtered_by_code_newest_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    store.write_batch([FleetMessage("s1", "gw", "events", n, T0 + n, T0,
                                    envelope("s1", "gw", "events", T0 + n, n, level="info",
                                             code=code, message=code, data={"n": n}))
                       for n, code in ((1, "model_received"), (2, "boot"),
                                       (3, "model_promoted"))])
    rows = store.events(site="s1", codes=("model_received", "model_promoted"))
    assert [(e.code, e.data) for e in rows] == [("model_promoted", {"n": 3}),
                                                 ("model_received", {"n": 1})]
    assert [e.code for e in store.events(site="s1", device="gw", limit=1)] == ["model_promoted"]
    assert store.events(site="s1", device="other") == []


def test_latest_live_forecast_and_band(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    store.write_batch([
        _msg(forecast("s1", "gw", 1, T0, {15: 100.0, 60: 50.0}), T0 + 1),
        _msg(forecast("s1", "gw", 2, T0 + 900, {15: 110.0, 60: 55.0}), T0 + 901),
        _msg(forecast("s1", "gw", 3, T0 + 1800, {15: 1.0}, shadow=True, sha="sha-b"),
             T0 + 1801),
    ])
    latest = store.latest_forecast("s1", "pv_power", 30)
    assert latest is not None and (latest.device, latest.issue) == ("gw", T0 + 900)
    assert [(p.horizon_min, p.p50) for p in latest.points] == [(15, 110.0)]
    assert store.latest_forecast("s1", "nothing", 30) is None
    assert store.forecast_horizons("s1") == [15, 60]
    band = store.forecast_band("s1", "pv_power", 15, T0, T0 + 7200)
    assert [(p.period_end, p.p50) for p in band] == [(T0 + 900, 100.0), (T0 + 1800, 110.0)]
    assert store.gateway("s1") == "gw" and store.gateway("s9") is None


def test_fleet_state_reads(store: Store) -> None:
    (st,) = store.statuses()
    assert (st.site, st.device, st.state, st.received) == ("s3", "gw", "online", T0)
    assert st.payload["model"]["version"] == "v1"
    assert store.statuses("s1") == []
    assert store.rejected_count() == 0
    assert store.newest_score("s1") is None and store.newest_scores() == {}


def test_read_only_store_reads_never_writes_and_needs_the_file(store: Store,
                                                              tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ReadOnlyStore(tmp_path / "missing.sqlite")
    ro = ReadOnlyStore(store.path)
    try:
        assert ro.sites() == ["s1", "s2", "s3"]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro.raise_alert(site="s1", device="gw", code="x", key="", level="info", ts=0.0,
                           message="", data={})
    finally:
        ro.close()


def test_a_table_an_older_store_lacks_reads_as_empty(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE status(site TEXT, device TEXT, state TEXT, ts REAL,"
                " received REAL, payload TEXT)")
    con.commit()
    con.close()
    ro = ReadOnlyStore(db)
    try:
        assert ro.rejected_count() == 0
        assert ro.sites() == [] and ro.stream_stats() == [] and ro.alerts() == []
        assert ro.reading_span("s1") == (None, None)
    finally:
        ro.close()
