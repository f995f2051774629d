"""The plan stream in the SQLite store: kept compactly with the columns the queries need,
deduplicated and loss-accounted per (site, device, stream, epoch, seq) like forecasts, bad
plans kept in ``rejected``, and a version-1 store migrated with its data."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from edge.planning import EnergyPlan
from edge.runtime.contract import parse_time
from tests.trainer.monitor.conftest import reading
from tests.trainer.monitor.plan_helpers import RESERVE, make_plan, plan_message
from tests.trainer.monitor.sql_helpers import sql
from trainer.monitor.ingest import MessageError, parse_message
from trainer.monitor.store import FleetMessage, ReadOnlyStore, Store
from trainer.monitor.store.sqlite.schema import SCHEMA, SCHEMA_VERSION


def _msg(seq: int, plan: EnergyPlan, *, epoch: str = "e1") -> FleetMessage:
    m = parse_message(*plan_message("s1", "gateway", seq, plan, epoch=epoch),
                      plan.issued.timestamp() + 5.0)
    assert m is not None
    return m


@pytest.fixture(scope="module")
def plan() -> EnergyPlan:
    return make_plan(0.35)


@pytest.fixture(scope="module")
def body(plan: EnergyPlan) -> dict:
    return plan.to_body()


def test_a_plan_is_stored_with_its_times_and_body(tmp_path: Path, plan: EnergyPlan,
                                                  body: dict) -> None:
    store = Store(tmp_path / "m.sqlite")
    assert store.write_batch([_msg(1, plan)]).inserted == 1
    plan = store.latest_plan("s1")
    assert plan is not None
    assert plan.issued == parse_time(body["issued"])
    assert plan.horizon_end == parse_time(body["period_end"][-1])
    assert plan.body == body  # the plan's fields exactly; the envelope is not kept twice
    (row,) = sql(store, "SELECT reserve_soc, reserve_at, reserve_at_p50, epoch FROM plans")
    assert row == (RESERVE, parse_time(body["reserve_at"]), parse_time(body["reserve_at_p50"]),
                   "e1")
    stored = sql(store, "SELECT body FROM plans")[0][0]
    assert "site_id" not in json.loads(stored) and len(stored) < 12_000


def test_plans_are_deduplicated_and_gaps_count_as_loss(tmp_path: Path, plan: EnergyPlan) -> None:
    store = Store(tmp_path / "m.sqlite")
    res = store.write_batch([_msg(1, plan), _msg(1, plan), _msg(3, plan)])
    assert (res.inserted, res.duplicates) == (2, 1)
    assert store.write_batch([_msg(3, plan)]).duplicates == 1  # a redelivery, later
    # another outbox epoch is another sequence: seq 1 there is new
    assert store.write_batch([_msg(1, plan, epoch="e2")]).inserted == 1
    stats = {s.epoch: s for s in store.stream_stats("s1") if s.stream == "plan"}
    assert (stats["e1"].received, stats["e1"].duplicates, stats["e1"].lost) == (2, 2, 1)
    assert (stats["e2"].received, stats["e2"].lost) == (1, 0)
    assert sql(store, "SELECT count(*) FROM plans")[0][0] == 3


def test_a_plan_the_store_cannot_read_is_rejected_alone(
        tmp_path: Path, plan: EnergyPlan, body: dict) -> None:
    """The contract refuses such a plan at the monitor's door; the store guards itself too."""
    store = Store(tmp_path / "m.sqlite")
    good = _msg(2, plan)
    bad = dataclasses.replace(good, seq=1, body=dict(
        good.body, seq=1, soc={**body["soc"], "p10": body["soc"]["p10"][:-1]}))
    res = store.write_batch([bad, good])
    assert (res.inserted, res.rejected) == (1, 1)
    (reason,) = sql(store, "SELECT reason FROM rejected")[0]
    n = len(body["period_end"])
    assert f"soc.p10 has {n - 1} values for {n} period_end" in reason
    assert [p.issued for p in [store.latest_plan("s1")] if p] == [parse_time(body["issued"])]


def test_the_monitor_refuses_a_plan_stamped_far_ahead_or_breaking_the_contract(
        plan: EnergyPlan) -> None:
    issued = plan.issued.timestamp()
    with pytest.raises(MessageError, match="ahead"):
        parse_message(*plan_message("s1", "gateway", 1, plan), issued - 3600.0)
    topic, payload = plan_message("s1", "gateway", 1, plan)
    broken = json.loads(payload)
    broken["soc"]["p50"] = broken["soc"]["p50"][:-1]
    with pytest.raises(MessageError):
        parse_message(topic, json.dumps(broken).encode(), issued)


def test_a_version_1_store_is_migrated_keeping_its_data(tmp_path: Path, plan: EnergyPlan) -> None:
    db = tmp_path / "v1.sqlite"
    con = sqlite3.connect(db)
    v1 = SCHEMA[:SCHEMA.index("CREATE TABLE IF NOT EXISTS plans")]
    con.executescript(v1 + "PRAGMA user_version=1;")
    _, payload = reading("s1", "bmv", 7, 1_780_000_000.0, battery_soc=55.0)
    con.execute("INSERT INTO readings(site, device, seq, ts, received, body, epoch)"
                " VALUES ('s1', 'bmv', 7, 1780000000.0, 1780000000.0, ?, '')",
                (payload.decode(),))
    con.commit()
    con.close()
    store = Store(db)
    assert sql(store, "PRAGMA user_version")[0][0] == SCHEMA_VERSION == 2
    assert [r.values for r in store.reading_values("s1", ["battery_soc"], 0, 2e9)] == [(55.0,)]
    assert store.latest_plan("s1") is None
    assert store.write_batch([_msg(1, plan)]).inserted == 1
    assert store.latest_plan("s1") is not None
    store.close()


def test_reads_on_a_version_1_file_count_plans_as_empty(tmp_path: Path) -> None:
    db = tmp_path / "v1.sqlite"
    con = sqlite3.connect(db)
    con.executescript(SCHEMA[:SCHEMA.index("CREATE TABLE IF NOT EXISTS plans")])
    con.close()
    ro = ReadOnlyStore(db)
    assert ro.latest_plan("s1") is None
    assert ro.plan_error_stats(since=0, until=2e9) == []
    assert ro.plan_reserve_stats(since=0, until=2e9) == []
    assert ro.newest_plan_scores() == {}
    ro.close()
