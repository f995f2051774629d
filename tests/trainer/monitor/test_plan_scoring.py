"""Plan scoring on the real store with real plans (the device's planner), against readings
written so that each figure is known by hand: SOC MAE by horizon, P10-P90 coverage, the
load's MAE and skill against yesterday, and the time-to-reserve error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edge.planning import EnergyPlan
from edge.runtime.contract import parse_time
from tests.trainer.monitor.conftest import reading
from tests.trainer.monitor.plan_helpers import RESERVE, SITE, make_plan, plan_message, write_site
from trainer.monitor.ingest import parse_message
from trainer.monitor.plan_scoring import HORIZONS_MIN, PlanScorer, plan_metrics
from trainer.monitor.store import Store


@pytest.fixture(scope="module")
def evening() -> EnergyPlan:
    return make_plan(0.6)


@pytest.fixture(scope="module")
def low() -> EnergyPlan:
    plan = make_plan(0.35)
    assert plan.reserve_at is not None and plan.reserve_at_p50 is not None
    return plan


def test_soc_and_load_errors_by_horizon_are_the_hand_computed_ones(
        tmp_path: Path, evening: EnergyPlan) -> None:
    """Measured SOC = P50 + 0.05 at every step end; AC load 800 W up to the issue, 500 W
    after: SOC MAE 0.05, load MAE |P50 - 500|, persistence MAE 300 W at every horizon."""
    store = Store(tmp_path / "m.sqlite")
    issued = evening.issued.timestamp()
    ends = np.array([t.timestamp() for t in evening.times])
    body = evening.to_body()
    p50 = np.array(body["soc"]["p50"])

    def soc(t: float) -> float:
        hit = np.flatnonzero(np.abs(ends - t) < 1)
        return float(p50[hit[0]] + 0.05) if hit.size else 0.6

    write_site(store, evening, soc, lambda t: 800.0 if t <= issued else 500.0)
    assert PlanScorer(store).score_all() == 1
    metrics = {m.horizon_min: m for m in plan_metrics(store, SITE)}
    assert sorted(metrics) == list(HORIZONS_MIN)
    for h, m in metrics.items():
        j = int(np.flatnonzero(np.abs(ends - (issued + 60 * h)) < 1)[0])
        assert (m.n_soc, m.n_load) == (1, 1)
        assert m.soc_mae == pytest.approx(0.05, abs=1e-9)
        inside = body["soc"]["p10"][j] <= p50[j] + 0.05 <= body["soc"]["p90"][j]
        assert m.coverage == (1.0 if inside else 0.0)
        assert m.load_mae == pytest.approx(abs(body["load_power"]["p50"][j] - 500.0))
        assert m.load_mae_persistence == pytest.approx(300.0)
        assert m.load_skill == pytest.approx(1 - m.load_mae / 300.0)
    # scored once: a second pass finds nothing open
    assert PlanScorer(store).score_all() == 0


def test_a_plan_is_scored_only_once_its_whole_horizon_has_passed(
        tmp_path: Path, evening: EnergyPlan) -> None:
    store = Store(tmp_path / "m.sqlite")
    horizon_end = evening.times[-1].timestamp()
    write_site(store, evening, lambda t: 0.5, lambda t: 300.0, until=horizon_end)
    scorer = PlanScorer(store, grace_s=900.0)
    assert scorer.score_all() == 0
    assert store.unscored_plan_sites() == [SITE]
    late = parse_message(*reading(SITE, "inverter", 10_000, horizon_end + 900.0,
                                  ac_output_power=300.0), horizon_end + 900.0)
    assert late is not None
    store.write_batch([late])
    assert scorer.score_all() == 1
    assert store.unscored_plan_sites() == []


def test_coverage_counts_measured_soc_outside_the_band(tmp_path: Path,
                                                       evening: EnergyPlan) -> None:
    """Measured SOC 0.01 under P10 at every step end: nothing inside, MAE = P50 - P10 + 0.01."""
    store = Store(tmp_path / "m.sqlite")
    body = evening.to_body()
    ends = np.array([t.timestamp() for t in evening.times])
    p10, p50 = np.array(body["soc"]["p10"]), np.array(body["soc"]["p50"])

    def soc(t: float) -> float:
        hit = np.flatnonzero(np.abs(ends - t) < 1)
        return float(p10[hit[0]] - 0.01) if hit.size else 0.6

    write_site(store, evening, soc, lambda t: 400.0)
    PlanScorer(store).score_all()
    issued = evening.issued.timestamp()
    for m in plan_metrics(store, SITE):
        j = int(np.flatnonzero(np.abs(ends - (issued + 60 * m.horizon_min)) < 1)[0])
        assert m.coverage == 0.0
        assert m.soc_mae == pytest.approx(p50[j] - p10[j] + 0.01, abs=1e-9)
        assert math.isnan(m.load_skill)  # yesterday's load was the same: no reference error


def test_time_to_reserve_error_is_measured_minus_predicted(tmp_path: Path,
                                                          low: EnergyPlan) -> None:
    """Measured SOC 0.40 until 5 h after the issue, then 0.29 (< the 0.3 reserve)."""
    store = Store(tmp_path / "m.sqlite")
    issued = low.issued.timestamp()
    write_site(store, low, lambda t: 0.40 if t < issued + 5 * 3600 else 0.29, lambda t: 300.0)
    PlanScorer(store).score_all()
    assert low.reserve_at is not None and low.reserve_at_p50 is not None
    (r,) = store.plan_reserve_stats(SITE, since=0, until=math.inf)
    assert (r.n, r.both, r.false_alarms, r.misses) == (1, 1, 0, 0)
    error = issued + 5 * 3600 - low.reserve_at.timestamp()
    assert r.bias_s == pytest.approx(error) and r.mae_s == pytest.approx(abs(error))
    assert r.bias_p50_s == pytest.approx(issued + 5 * 3600 - low.reserve_at_p50.timestamp())
    assert low.reserve_soc == RESERVE


def test_a_reserve_foreseen_but_not_reached_is_a_false_alarm(tmp_path: Path,
                                                            low: EnergyPlan) -> None:
    store = Store(tmp_path / "m.sqlite")
    write_site(store, low, lambda t: 0.5, lambda t: 300.0)
    PlanScorer(store).score_all()
    (r,) = store.plan_reserve_stats(SITE, since=0, until=math.inf)
    assert (r.n, r.both, r.false_alarms, r.misses, r.mae_s) == (1, 0, 1, 0, None)


def test_a_plan_with_soc_gaps_is_not_judged_on_its_reserve(tmp_path: Path,
                                                          low: EnergyPlan) -> None:
    """SOC measured only every other hour: 'never reached' could be a gap, so no verdict;
    the horizons that were measured still count."""
    store = Store(tmp_path / "m.sqlite")
    write_site(store, low, lambda t: 0.5 if int(t // 3600) % 2 == 0 else None, lambda t: 300.0)
    assert PlanScorer(store).score_all() == 1
    assert store.plan_reserve_stats(SITE, since=0, until=math.inf) == []
    assert store.unscored_plan_sites() == []
    issued = low.issued.timestamp()
    measured = {m.horizon_min for m in plan_metrics(store, SITE) if m.n_soc}
    expected = {h for h in HORIZONS_MIN if int((issued + 60 * h) // 3600) % 2 == 0}
    assert measured == expected


def test_a_site_without_soc_or_load_readings_scores_nothing_but_closes_its_plans(
        tmp_path: Path, evening: EnergyPlan) -> None:
    store = Store(tmp_path / "m.sqlite")
    horizon_end = evening.times[-1].timestamp()
    msgs = [parse_message(*plan_message(SITE, "gateway", 1, evening),
                          evening.issued.timestamp() + 1),
            parse_message(*reading(SITE, "mppt", 1, horizon_end + 3600, pv_power=0.0),
                          horizon_end + 3600)]
    store.write_batch([m for m in msgs if m is not None])
    assert PlanScorer(store).score_all() == 1
    assert plan_metrics(store, SITE) == []
    assert parse_time(evening.to_body()["issued"]) == evening.issued.timestamp()


def test_the_battery_monitor_s_soc_wins_over_an_inverter_estimate(
        tmp_path: Path, evening: EnergyPlan) -> None:
    """As on the device: the SOC of a device that measures battery power (the BMV) is the
    site's, though the inverter (first by name) reports a SOC too."""
    store = Store(tmp_path / "m.sqlite")
    write_site(store, evening, lambda t: 0.5, lambda t: 300.0)
    issued = evening.issued.timestamp()
    decoys = [parse_message(*reading(SITE, "a-inverter", i + 1, t, battery_soc=90.0), t)
              for i, t in enumerate(np.arange(issued - 3600, issued + 26 * 3600, 900.0))]
    store.write_batch([m for m in decoys if m is not None])
    PlanScorer(store).score_all()
    p50 = evening.to_body()["soc"]["p50"]
    ends = [t.timestamp() for t in evening.times]
    for m in plan_metrics(store, SITE):
        j = ends.index(issued + 60 * m.horizon_min)
        assert m.soc_mae == pytest.approx(abs(p50[j] - 0.5), abs=1e-9)
