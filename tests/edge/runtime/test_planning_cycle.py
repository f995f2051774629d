"""The energy plan on the agent: periods from readings, one plan per forecast, nothing
without SOC or on an unsynchronised clock, the state across restarts and when corrupt,
the daily refresh on a worker thread adopted between forecasts."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.forecasting.engine import ForecastResult
from edge.planning import PlanConfig
from edge.planning.history import period_index
from edge.runtime.contract import Topics, check_body
from edge.runtime.messages import Message
from edge.runtime.planning_cycle import PlanningCycle
from edge.testkit.agent_rig import SITE, START, ManualClock, ManualRig
from firmware_bridge.readings import Reading

STEP = 900
TOPICS = Topics("abuja-01", "gateway")


class Harness:
    """The collaborator alone: readings and passes on a manual clock, messages kept."""

    def __init__(self, tmp_path: Path | None = None, *, devices: tuple[str, ...] = (
            "mppt", "bmv", "inverter"), background: bool = False,
            start: datetime = START) -> None:
        self.clock = ManualClock(start)
        self.messages: list[Message] = []
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.synced = True
        self.cycle = PlanningCycle(
            site=SITE, config=PlanConfig(scenarios=50, history_days=3), topics=TOPICS,
            devices=devices, pv_device="mppt", synced=lambda: self.synced,
            put=self.messages.append,
            emit=lambda level, code, message, **data: self.events.append((level, code, data)),
            state_path=None if tmp_path is None else tmp_path / "planner.json",
            background=background)

    def run(self, seconds: float, values: dict[str, dict[str, Any]], tick: float = 30.0) -> None:
        for _ in range(round(seconds / tick)):
            now = self.clock.now_utc()
            for dev, vals in values.items():
                self.cycle.on_reading(Reading(dev, now, vals))
            self.cycle.on_cycle(now)
            self.clock.sleep(tick)

    def forecast(self, issue: datetime) -> None:
        self.cycle.on_forecast(ForecastResult(
            issue_time=issue, horizons_min=(15, 30, 60),
            quantiles={"pv_power": [[800.0, 1000.0, 1200.0]] * 3}, inputs_stale=False,
            valid_fraction=1.0))

    def plans(self) -> list[dict[str, Any]]:
        return [json.loads(m.encode(i + 1, "e1")) for i, m in enumerate(self.messages)
                if m.stream == "plan"]

    def codes(self) -> list[str]:
        return [c for _, c, _ in self.events]


def test_periods_are_built_from_the_readings_of_each_source() -> None:
    """Load from the inverter, PV and curtailment from the PV device, SOC (the last of the
    period) from the BMV before the inverter's, battery power from the BMV."""
    h = Harness()
    first = h.clock.now_utc()
    # 09:59:00 .. 10:14:30: the periods ending 10:00 and 10:15
    for i in range(32):
        now = h.clock.now_utc()
        h.cycle.on_reading(Reading("mppt", now, {"pv_power": 1000.0 + 10 * i,
                                                 "charge_state": "float" if i > 20 else "bulk"}))
        h.cycle.on_reading(Reading("bmv", now, {"battery_soc": 70.0 + 0.1 * i,
                                                "battery_power": 300.0}))
        h.cycle.on_reading(Reading("inverter", now, {"ac_output_power": 400.0 + i,
                                                     "battery_soc": 50.0}))
        h.cycle.on_reading(Reading("stranger", now, {"ac_output_power": 9999.0}))
        h.cycle.on_cycle(now)
        h.clock.sleep(30.0)
    h.cycle.on_cycle(h.clock.now_utc() + timedelta(seconds=60))
    hist = h.cycle.planner.history
    k_end = period_index(datetime(2026, 6, 21, 10, 15, tzinfo=UTC), STEP)
    assert hist.last_k == k_end
    vals, cut = hist.window(k_end, 2)
    # period ending 10:00 (t - 15 min, t]: the readings of 09:59:00 .. 10:00:00 (i = 0..2)
    assert first == datetime(2026, 6, 21, 9, 59, tzinfo=UTC)
    np.testing.assert_allclose(vals[:, 0], [401.0, 1010.0, 0.702, 300.0])
    # period ending 10:15: i = 3..31; SOC is the last of the period (BMV), not the mean
    i = np.arange(3, 32)
    np.testing.assert_allclose(vals[:, 1], [np.mean(400.0 + i), np.mean(1000.0 + 10 * i),
                                            0.731, 300.0])
    assert list(cut) == [False, True]  # float at the end of the second period


def test_a_bmv_only_site_takes_the_load_as_pv_minus_battery_power() -> None:
    h = Harness(devices=("mppt", "bmv"))
    h.run(16 * 60, {"mppt": {"pv_power": 1200.0, "charge_state": "bulk"},
                    "bmv": {"battery_soc": 60.0, "battery_power": 700.0}})
    hist = h.cycle.planner.history
    vals, _ = hist.window(hist.last_k, 1)
    np.testing.assert_allclose(vals[:, 0], [500.0, 1200.0, 0.6, 700.0])


def test_the_inverter_soc_is_taken_when_no_bmv_measures_the_battery() -> None:
    h = Harness(devices=("mppt", "inverter"))
    h.run(16 * 60, {"mppt": {"pv_power": 1200.0}, "inverter": {"ac_output_power": 300.0,
                                                                "battery_soc": 55.0}})
    vals, _ = h.cycle.planner.history.window(h.cycle.planner.history.last_k, 1)
    assert vals[2, 0] == pytest.approx(0.55)


def test_one_plan_per_forecast_that_follows_the_contract() -> None:
    h = Harness()
    vals = {"mppt": {"pv_power": 1500.0, "charge_state": "bulk"},
            "bmv": {"battery_soc": 80.0, "battery_power": 900.0},
            "inverter": {"ac_output_power": 400.0}}
    issues = []
    for _ in range(3):
        h.run(15 * 60, vals)
        issue = datetime.fromtimestamp(h.clock.now_utc().timestamp() // STEP * STEP, UTC)
        h.forecast(issue)
        issues.append(issue)
    plans = h.plans()
    assert [p["issued"] for p in plans] == [i.strftime("%Y-%m-%dT%H:%M:%SZ") for i in issues]
    for p in plans:
        check_body("abuja-01", "gateway", "plan", p)
        assert 0.75 < p["soc"]["p50"][0] < 0.85 and len(p["period_end"]) >= 96
        assert p["load_method"] == "site_file"  # three periods are no history yet
        assert p["pv_method"].startswith("model+")  # the forecast was blended in
    assert h.cycle.published == 3
    assert "plan_held" not in h.codes()


def test_no_plan_without_soc_and_the_reason_is_said_once() -> None:
    h = Harness()
    vals: dict[str, dict[str, Any]] = {"mppt": {"pv_power": 1500.0},
                                       "inverter": {"ac_output_power": 400.0}}
    for _ in range(3):
        h.run(15 * 60, vals)
        h.forecast(datetime.fromtimestamp(h.clock.now_utc().timestamp() // STEP * STEP, UTC))
    assert h.plans() == []
    assert h.codes() == ["plan_held"]
    assert h.events[0][2] == {"reason": "no_soc"}
    # SOC arrives: plans resume; SOC lost again: said again
    vals["bmv"] = {"battery_soc": 70.0}
    h.run(15 * 60, vals)
    h.forecast(datetime.fromtimestamp(h.clock.now_utc().timestamp() // STEP * STEP, UTC))
    assert len(h.plans()) == 1
    del vals["bmv"]
    h.run(90 * 60, vals)  # the last SOC is then over an hour old
    h.forecast(datetime.fromtimestamp(h.clock.now_utc().timestamp() // STEP * STEP, UTC))
    assert len(h.plans()) == 1
    assert h.codes() == ["plan_held", "plan_held"]


def test_nothing_is_measured_or_planned_on_an_unsynchronised_clock() -> None:
    h = Harness()
    h.synced = False
    vals = {"mppt": {"pv_power": 1500.0}, "bmv": {"battery_soc": 80.0, "battery_power": 1.0}}
    h.run(30 * 60, vals)
    h.forecast(datetime.fromtimestamp(h.clock.now_utc().timestamp() // STEP * STEP, UTC))
    assert h.cycle.planner.history.last_k == -1  # those readings' periods cannot be trusted
    assert h.plans() == []
    assert h.events == [("info", "plan_held", {"reason": "clock_unsynchronised"})]
    h.synced = True
    h.run(16 * 60, vals)
    h.forecast(datetime.fromtimestamp(h.clock.now_utc().timestamp() // STEP * STEP, UTC))
    assert len(h.plans()) == 1


def test_the_daily_refresh_runs_on_a_worker_and_is_adopted_between_forecasts() -> None:
    """Across a local midnight the first plan still uses yesterday's models; the refresh
    runs on another thread, and the next plan uses the new day's."""
    start = datetime(2026, 6, 21, 21, 59, tzinfo=UTC)  # 22:59 in Abuja (UTC+1)
    h = Harness(background=True, start=start)
    vals = {"mppt": {"pv_power": 0.0}, "bmv": {"battery_soc": 80.0, "battery_power": -400.0},
            "inverter": {"ac_output_power": 400.0}}
    ran_on: list[str] = []
    planner_refresh = type(h.cycle.planner).refresh

    def spy(self: Any, now: datetime) -> None:
        ran_on.append(threading.current_thread().name)
        planner_refresh(self, now)

    type(h.cycle.planner).refresh = spy  # type: ignore[method-assign]
    try:
        h.run(120.0, vals)  # 22:00 observed (23:00 local): the first refresh starts
        h.cycle.wait_refresh()
        assert ran_on == ["plan-refresh"]
        first_day = h.cycle.planner.daily
        assert first_day is not None and str(first_day.local_day) == "2026-06-21"
        h.run(60 * 60 - 120, vals)  # to 22:59 UTC
        h.forecast(datetime(2026, 6, 21, 23, 0, tzinfo=UTC))  # 00:00 local
        assert h.cycle.planner.daily is first_day  # the plan did not refresh inline
        assert len(h.plans()) == 1
        h.run(60.0, vals)
        h.cycle.wait_refresh()
        assert ran_on == ["plan-refresh", "plan-refresh"]
        daily = h.cycle.planner.daily
        assert daily is not None and str(daily.local_day) == "2026-06-22"
        assert threading.current_thread().name not in ran_on
    finally:
        type(h.cycle.planner).refresh = planner_refresh  # type: ignore[method-assign]


def _soc_rig(tmp_path: Path) -> ManualRig:
    rig = ManualRig(tmp_path)
    rig.inverter.values = lambda: {"ac_output_power": 400.0, "battery_soc": 80.0}
    return rig


def test_the_agent_publishes_one_plan_per_forecast(tmp_path: Path) -> None:
    rig = _soc_rig(tmp_path).start()
    try:
        rig.advance(120.0)  # the first period is observed; its refresh runs
        assert rig.agent.planning is not None
        rig.agent.planning.wait_refresh()
        rig.advance(2 * 3600.0)
        forecasts = [f["issue_time"] for f in rig.messages("/forecast")]
        plans = rig.messages("/gateway/plan")
        assert len(forecasts) == 9  # 10:00 .. 12:00
        # the first forecast came before the first refresh was done: no plan for it
        assert [p["issued"] for p in plans] == forecasts[1:]
        for p in plans:
            check_body("abuja-01", "gateway", "plan", p)
        assert [p["seq"] for p in plans] == list(range(1, 9))
    finally:
        rig.close()


def test_the_planner_state_survives_a_restart(tmp_path: Path) -> None:
    rig = _soc_rig(tmp_path).start()
    rig.advance(3 * 3600.0)
    assert rig.agent.planning is not None
    before = rig.agent.planning.planner.state()
    rig.close()  # a clean stop writes the state
    assert (tmp_path / "planner.json").stat().st_mode & 0o777 == 0o600
    again = _soc_rig(tmp_path)
    try:
        assert again.agent.planning is not None
        assert again.agent.planning.planner.state() == before
        assert len(before["history"]["k"]) == 12
    finally:
        again.close()


@pytest.mark.parametrize("content", [b"{not json", b'{"version": 99, "step_s": 900}',
                                     b'{"version": 1, "step_s": 900, "history": {"k": [1]}}'])
def test_a_state_file_that_cannot_be_read_is_moved_aside_and_reported(
        tmp_path: Path, content: bytes) -> None:
    (tmp_path / "planner.json").write_bytes(content)
    rig = _soc_rig(tmp_path)
    try:
        assert rig.agent.planning is not None
        assert rig.agent.planning.planner.history.last_k == -1
        moved = list(tmp_path.glob("planner.json.corrupt-*"))
        assert len(moved) == 1 and moved[0].read_bytes() == content
        assert not (tmp_path / "planner.json").exists()
        events = [e for e in rig.messages("/events") if e["code"] == "state_recovered"]
        assert len(events) == 1
        assert events[0]["data"]["moved_to"] == str(moved[0])
        rig.start()
        rig.advance(120.0)
        rig.agent.planning.wait_refresh()
        rig.advance(3600.0)  # and the agent plans on from a fresh planner
        assert len(rig.messages("/gateway/plan")) == 4
    finally:
        rig.close()


def test_plan_disabled_means_no_collaborator_no_plan_and_no_plan_entities(
        tmp_path: Path) -> None:
    import dataclasses  # noqa: PLC0415

    from edge.runtime.config import PlanSection  # noqa: PLC0415

    rig = _soc_rig(tmp_path)
    rig.config = dataclasses.replace(rig.config, plan=PlanSection(enabled=False))
    rig.agent = rig._make_agent()
    rig.start()
    try:
        rig.advance(3600.0)
        assert rig.agent.planning is None
        assert rig.messages("/forecast") and not rig.messages("/gateway/plan")
        gateway = [json.loads(p) for t, p in rig.publisher.live
                   if t == "homeassistant/device/helio_abuja-01_gateway_gateway/config"]
        assert gateway and not any("surplus_today" in json.dumps(g) for g in gateway)
        assert not (tmp_path / "planner.json").exists()
    finally:
        rig.close()


def test_plan_entities_are_announced_with_the_forecasts(tmp_path: Path) -> None:
    rig = _soc_rig(tmp_path).start()
    try:
        rig.advance(60.0)
        [gateway] = {p for t, p in rig.publisher.live
                     if t == "homeassistant/device/helio_abuja-01_gateway_gateway/config"}
        comps = json.loads(gateway)["components"]
        assert "helio_abuja-01_gateway_surplus_today" in comps
        assert "helio_abuja-01_gateway_forecast_pv_power_15min" in comps
    finally:
        rig.close()
