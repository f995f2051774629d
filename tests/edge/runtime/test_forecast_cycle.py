"""The forecast issuer alone on a manual clock: a forecast per step from the window,
stale when the PV device is down or silent, held while the clock is unsynchronised,
the shadow hand-off after each forecast, and a model with another step."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from edge.forecasting.engine import ForecastEngine, ForecastResult, ModelHolder
from edge.forecasting.features import FeatureSpec
from edge.forecasting.site import load_site
from edge.runtime.contract import Topics
from edge.runtime.forecast_cycle import ForecastIssuer
from edge.runtime.messages import Message
from edge.runtime.scheduling import ClockSync
from edge.testkit.agent_rig import START, ManualClock
from edge.testkit.fakes import ConstPredictor, stub_bundle
from firmware_bridge.readings import Reading

SITE = load_site(Path(__file__).resolve().parents[3] / "configs/sites/abuja.toml")


class Harness:
    def __init__(self, *, synced: bool = True, rollout: Any = None) -> None:
        self.clock = ManualClock(START)
        self.holder = ModelHolder(stub_bundle, ConstPredictor)
        self.messages: list[Message] = []
        self.results: list[ForecastResult] = []
        self.down = False
        self.synced = synced
        self.sync = ClockSync(self.clock, lambda: self.synced, lambda *a, **k: None)
        self.issuer = ForecastIssuer(
            engine=ForecastEngine(SITE, self.holder), topics=Topics("abuja-01", "gateway"),
            pv_device="mppt", sync=self.sync, is_down=lambda _dev: self.down,
            put=self.messages.append, rollout=rollout, on_forecast=self.results.append)
        self.issuer.start(self.clock.now_utc())

    def run(self, seconds: float, pv: float | None = 1500.0, tick: float = 30.0) -> None:
        for _ in range(round(seconds / tick)):
            now = self.clock.now_utc()
            if pv is not None:
                self.issuer.on_reading(Reading("mppt", now, {"pv_power": pv,
                                                             "charge_state": "bulk"}))
            self.issuer.on_cycle(now)
            self.clock.sleep(tick)

    def forecasts(self) -> list[dict[str, Any]]:
        return [json.loads(m.encode(i + 1, "")) for i, m in enumerate(self.messages)
                if m.stream == "forecast"]


def issue_times(fcs: list[dict[str, Any]]) -> list[datetime]:
    return [datetime.fromisoformat(f["issue_time"].replace("Z", "+00:00")) for f in fcs]


def test_one_forecast_per_step_from_fresh_inputs() -> None:
    h = Harness()
    h.run(3 * 900 + 60)
    fcs = h.forecasts()
    assert len(fcs) == 3 == h.issuer.issued == len(h.results)
    assert [t.strftime("%H:%M") for t in issue_times(fcs)] == ["10:00", "10:15", "10:30"]
    assert fcs[-1]["inputs_stale"] is False and fcs[-1]["model"]["version"] == "stub-1"
    assert all(f.get("shadow") is not True for f in fcs)


def test_stale_when_the_pv_device_is_down_or_silent() -> None:
    h = Harness()
    h.run(900 + 60)
    h.down = True
    h.run(900)
    assert h.forecasts()[-1]["inputs_stale"] is True  # flagged, still issued
    h.down = False
    h.run(1800, pv=None)  # connected, but no pv_power in the last step
    assert h.forecasts()[-1]["inputs_stale"] is True
    h.run(1800)
    assert h.forecasts()[-1]["inputs_stale"] is False


def test_held_while_the_clock_is_unsynchronised() -> None:
    h = Harness(synced=False)
    h.run(2 * 900 + 60)
    assert h.forecasts() == [] and h.sync.held == 2
    h.synced = True
    h.run(900)
    assert len(h.forecasts()) == 1 and h.sync.held == 2


class ShadowRollout:
    """Hands back the active forecast as the candidate's (what a rollout in shadow does)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.candidate = type("Cand", (), {"version": "cand-2", "sha256": "ab" * 32})()

    def after_forecast(self, active: ForecastResult, ghi: list[float], **kw: Any) -> Any:
        self.calls.append({"issue": active.issue_time, "n_ghi": len(ghi), **kw})
        return active


def test_the_shadow_gets_each_forecast_and_its_candidate_forecast_goes_out() -> None:
    rollout = ShadowRollout()
    h = Harness(rollout=rollout)
    h.run(2 * 900 + 60)
    fcs = h.forecasts()
    assert [f.get("shadow", False) for f in fcs] == [False, True, False, True]
    assert fcs[1]["model"]["version"] == "cand-2" and fcs[1]["issue_time"] == fcs[0]["issue_time"]
    assert len(rollout.calls) == 2 and rollout.calls[-1]["pv"] == 1500.0
    assert rollout.calls[-1]["curtailed"] is False
    assert h.issuer.issued == 2  # shadow forecasts are not counted as issued


def test_a_model_with_another_step_gets_its_own_window_and_schedule() -> None:
    h = Harness()
    h.run(900 + 60)
    h.holder.swap(stub_bundle(FeatureSpec(step_minutes=30, horizons_min=(30, 60),
                                          history_steps=2), version="stub-2"))
    h.issuer.model_changed(h.clock.now_utc())
    assert h.issuer.window.step_s == 1800
    h.run(timedelta(hours=1).total_seconds())
    last = h.forecasts()[-1]
    assert last["step_minutes"] == 30 and last["issue_time"][14:16] in ("00", "30")
