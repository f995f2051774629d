"""The plan end to end: SOC arithmetic, curtailment, quantiles, horizon, model blend, spread."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from edge.forecasting.engine import ForecastResult
from edge.planning import EnergyPlanner, PeriodObservation, PlanConfig
from edge.planning.battery import estimate_battery
from edge.planning.geometry import ClearSkyCache
from edge.planning.plan import propagate
from edge.planning.planner import SOC_TOLERANCE, SPREAD_GRID
from tests.edge.planning.sitesim import START, STEP, abuja, simulate

NAN = math.nan


def _constant_history(planner: EnergyPlanner, days: int, load: float, kt: float,
                      soc: float = NAN) -> dt.datetime:
    """``days`` of constant load [W] and PV = kt x clear-sky PV, ending at a UTC midnight."""
    per = 86400 // STEP
    k0 = int(START.timestamp()) // STEP + 1
    clear, _ = ClearSkyCache(planner.site, STEP).get(k0, days * per)
    end = START
    for i in range(days * per):
        end = START + dt.timedelta(seconds=STEP * (i + 1))
        planner.observe(PeriodObservation(end=end, load_power=load, pv_power=kt * clear[i],
                                          soc=soc))
    return end


def test_a_steady_deficit_reaches_the_reserve_where_arithmetic_puts_it() -> None:
    """No sun, 400 W of load: the inverter draws 400 / 0.93 + 50 W from 9600 Wh."""
    site = abuja()
    planner = EnergyPlanner(site, PlanConfig(reserve_soc=0.3))
    end = _constant_history(planner, 3, load=400.0, kt=0.0)
    plan = planner.plan(end, 0.8)
    draw = 400.0 / 0.93 + 50.0  # [W]
    hours = (0.8 - 0.3) * 9600.0 / draw  # 9.998 h
    steps = math.ceil(hours * 4)
    assert plan.battery.capacity_source == "site_file"
    assert plan.load_method == "persistence"  # every method is exact on a constant load
    assert plan.reserve_at == end + dt.timedelta(minutes=15 * steps)
    assert plan.reserve_at_p50 == plan.reserve_at
    expected = 0.8 - np.arange(1, len(plan.times) + 1) * 0.25 * draw / 9600.0
    np.testing.assert_allclose(plan.soc["p50"], np.maximum(expected, 0.0), atol=1e-9)
    to_sunrise_h = (plan.next_sunrise - end).total_seconds() / 3600.0
    assert math.isclose(plan.balance_to_sunrise_wh["p50"], -draw * to_sunrise_h, rel_tol=1e-9)
    assert math.isclose(plan.load_energy_wh["p50"], 400.0 * len(plan.times) / 4.0)
    assert plan.pv_energy_wh["p90"] == 0.0


def test_a_full_battery_curtails_pv() -> None:
    site = abuja()
    planner = EnergyPlanner(site)
    end = _constant_history(planner, 4, load=200.0, kt=0.8)
    noon = end + dt.timedelta(hours=11)  # 12:00 local in Abuja
    for i in range(44):  # the morning of the plan day, measured
        t = end + dt.timedelta(minutes=15 * (i + 1))
        planner.observe(PeriodObservation(end=t, load_power=200.0, pv_power=NAN, soc=1.0))
    plan = planner.plan(noon, 1.0)
    demand = 200.0 / 0.93 + 50.0
    first2h = slice(0, 8)
    assert plan.pv_potential_p50[first2h].min() > 1500.0
    np.testing.assert_allclose(plan.pv["p90"][first2h], demand, rtol=1e-6)
    assert plan.soc["p10"][first2h].min() > 0.999
    assert plan.reserve_at is None


def test_quantiles_never_cross_and_the_plan_reaches_past_sunrise() -> None:
    site = abuja()
    truth = simulate(site, 23, seed=11)
    planner = EnergyPlanner(site, PlanConfig(scenarios=200))
    obs = truth.observations()
    for o in obs[:21 * 96]:
        planner.observe(o)
    for o in obs[21 * 96:22 * 96 + 1]:
        planner.observe(o)
        if int(o.end.timestamp()) % (3 * 3600):
            continue
        plan = planner.plan(o.end, o.soc)
        for fan in (plan.soc, plan.pv, plan.load):
            assert np.all(fan["p10"] <= fan["p50"] + 1e-12)
            assert np.all(fan["p50"] <= fan["p90"] + 1e-12)
        assert np.all((plan.soc["p10"] >= 0.0) & (plan.soc["p90"] <= 1.0))
        assert len(plan.times) >= 96
        assert plan.times[0] == o.end + dt.timedelta(minutes=15)
        assert o.end < plan.next_sunrise <= o.end + dt.timedelta(hours=24)
        assert plan.times[-1] >= plan.next_sunrise + dt.timedelta(hours=3)
        if len(plan.times) > 96:
            assert plan.times[-1] == plan.next_sunrise + dt.timedelta(hours=3)
        assert plan.balance_to_sunrise_wh["p10"] <= plan.balance_to_sunrise_wh["p90"]


def test_the_bundle_forecast_leads_where_its_horizons_reach() -> None:
    """A storm the model sees (no PV for 3 h) overrides a sunny climatology, then fades."""
    site = abuja()
    planner = EnergyPlanner(site)
    end = _constant_history(planner, 4, load=200.0, kt=0.8)
    morning = end + dt.timedelta(hours=8)  # 09:00 local
    horizons = (15, 30, 60, 120, 180)
    storm = ForecastResult(issue_time=morning, horizons_min=horizons,
                           quantiles={"pv_power": [[0.0, 0.0, 0.0]] * 5},
                           inputs_stale=False, valid_fraction=1.0)
    with_model = planner.plan(morning, 0.5, storm)
    without = planner.plan(morning, 0.5)
    assert with_model.pv_method == "model+climatology"
    assert without.pv_method == "climatology"
    assert np.all(with_model.pv["p90"][:12] == 0.0)
    assert without.pv["p50"][:12].min() > 500.0
    # halfway through the fade (3.5 h) about half; past 4 h the climatology again
    assert 0.3 < with_model.pv_potential_p50[13] / without.pv_potential_p50[13] < 0.7
    np.testing.assert_allclose(with_model.pv_potential_p50[16:40], without.pv_potential_p50[16:40])
    assert with_model.soc["p50"][12] < without.soc["p50"][12]


def test_soc_quantiles_are_quantiles_of_whole_trajectories() -> None:
    """P10 SOC comes from scenario trajectories: a scenario cannot be sunny for P10 PV and
    heavy for P90 load at once, so the P10 trajectory sits above the per-step worst case."""
    site = abuja()
    battery = estimate_battery(site, 0.3, [], None)
    rng = np.random.default_rng(0)
    n, s = 96, 400
    pv = np.clip(rng.normal(800.0, 400.0, (n, s)), 0.0, None)
    load = np.clip(rng.normal(500.0, 200.0, (n, s)), 0.0, None)
    prop = propagate(0.6, pv, load, battery, STEP)
    p10 = np.quantile(prop.soc, 0.1, axis=1)
    naive = propagate(0.6, np.quantile(pv, 0.1, axis=1)[:, None],
                      np.quantile(load, 0.9, axis=1)[:, None], battery, STEP).soc[:, 0]
    assert np.all(p10 >= naive - 1e-12)
    assert p10[-1] - naive[-1] > 0.2


def test_the_spread_is_calibrated_on_the_sites_past_and_covers_held_out_days() -> None:
    """Plans issued every 6 h over a week none of them saw, scored on the measured SOC."""
    site = abuja()
    truth = simulate(site, 29, seed=21, capacity_wh=8000.0)
    obs = truth.observations()
    planner = EnergyPlanner(site, PlanConfig(scenarios=200))
    young = EnergyPlanner(site)
    for o in obs[:2 * 96]:
        young.observe(o)
    assert young.plan(obs[2 * 96 - 1].end, 0.5).spread_source == "default"
    for o in obs[:21 * 96]:
        planner.observe(o)
    inside = total = 0
    err12 = []
    for i in range(21 * 96, 28 * 96):
        o = obs[i]
        planner.observe(o)
        if int(o.end.timestamp()) % (6 * 3600):
            continue
        plan = planner.plan(o.end, o.soc)
        real = truth.soc[i + 1:i + 97]
        lo, hi = plan.soc["p10"][:96], plan.soc["p90"][:96]
        inside += int(np.count_nonzero((real >= lo - SOC_TOLERANCE) & (real <= hi + SOC_TOLERANCE)))
        total += 96
        err12.append(abs(plan.soc["p50"][47] - real[47]))
    coverage = inside / total
    assert planner.daily is not None
    print(f"spread {planner.daily.spread} ({planner.daily.spread_source}, "
          f"{planner.daily.calibration_plans} past plans, in-sample coverage "
          f"{planner.daily.calibration_coverage:.2f}); held-out SOC P10-P90 coverage "
          f"{coverage:.2f}, P50 MAE at 12 h {np.mean(err12):.3f}")
    assert planner.daily.spread_source == "calibrated"
    assert planner.daily.spread in SPREAD_GRID
    assert 0.55 <= coverage <= 0.98
    assert float(np.mean(err12)) < 0.12


def test_a_new_device_plans_from_the_site_file_and_says_so() -> None:
    site = abuja()
    planner = EnergyPlanner(site)
    now = START + dt.timedelta(hours=18)
    plan = planner.plan(now, math.nan)  # no SOC either: 0.5
    assert plan.load_method == "site_file"
    assert plan.pv_method == "clear_sky_prior"
    assert plan.battery.capacity_source == "site_file"
    assert plan.spread_source == "default"
    assert 0.45 < plan.soc["p50"][0] < 0.5  # evening: one step of discharge from 0.5
    day = slice(0, 96)
    assert math.isclose(float(plan.load["p50"][day].sum()) / 4.0, site.load.daily_energy,
                        rel_tol=1e-6)
    assert plan.soc["p10"][-1] < plan.soc["p50"][-1] < plan.soc["p90"][-1]
    json_body = plan.to_body()
    assert json_body["load_skill"] is None


def test_surplus_today_is_the_curtailed_pv_until_sunset_and_zero_after() -> None:
    """A full battery at noon and a small load: what the array could give beyond the load
    (potential minus delivered) over the rest of the local day; nothing left after sunset."""
    site = abuja()
    planner = EnergyPlanner(site)
    end = _constant_history(planner, 4, load=200.0, kt=0.8)
    for i in range(44):
        t = end + dt.timedelta(minutes=15 * (i + 1))
        planner.observe(PeriodObservation(end=t, load_power=200.0, pv_power=NAN, soc=1.0))
    noon = end + dt.timedelta(hours=11)  # 12:00 UTC, 13:00 local in Abuja (UTC+1)
    plan = planner.plan(noon, 1.0)
    midnight = noon + dt.timedelta(hours=11)  # the next local midnight (13:00 local now)
    today = sum(1 for t in plan.times if t <= midnight)
    assert today == 44
    spill = (plan.pv_potential_p50[:today] - plan.pv["p50"][:today]).sum() * STEP / 3600.0
    assert plan.surplus_today_wh["p50"] > 2000.0
    assert plan.surplus_today_wh["p10"] <= plan.surplus_today_wh["p50"] \
        <= plan.surplus_today_wh["p90"]
    # median of the scenario sums is near the sum of the per-step medians on a steady sky
    assert plan.surplus_today_wh["p50"] == pytest.approx(spill, rel=0.15)
    evening = noon + dt.timedelta(hours=8)  # 20:00 local, after sunset
    late = planner.plan(evening, 1.0)
    assert late.surplus_today_wh == {"p10": 0.0, "p50": 0.0, "p90": 0.0}
    # an empty battery takes what the array gives: no surplus
    empty = planner.plan(noon, 0.05)
    assert empty.surplus_today_wh["p90"] < plan.surplus_today_wh["p10"] / 2
