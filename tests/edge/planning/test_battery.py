"""The battery learned from the site: capacity by charge counting, efficiency, self-consumption."""

from __future__ import annotations

import math

import numpy as np

from edge.planning import EnergyPlanner
from edge.planning.battery import (
    CAPACITY_BOUNDS,
    CapacitySample,
    capacity_samples,
    estimate_battery,
)
from tests.edge.planning.sitesim import STEP, abuja, simulate


def _learned(days: int, **kw: float) -> EnergyPlanner:
    site = abuja()
    truth = simulate(site, days, seed=5, **kw)
    planner = EnergyPlanner(site)
    for obs in truth.observations():
        planner.observe(obs)
    planner.refresh(truth.ends[-1])
    return planner


def test_a_battery_smaller_than_the_site_file_is_learned_within_five_percent() -> None:
    """Site file 48 V x 200 Ah = 9600 Wh; the bank really holds 7200 Wh (aged)."""
    planner = _learned(21, capacity_wh=7200.0)
    est = planner.daily.battery if planner.daily else None
    assert est is not None
    print(f"learned {est.capacity_wh:.0f} Wh from {est.capacity_samples} segments "
          f"(true 7200, site file {est.capacity_prior_wh:.0f})")
    assert est.capacity_source == "learned"
    assert est.capacity_samples >= 10
    assert abs(est.capacity_wh - 7200.0) / 7200.0 < 0.05


def test_charge_efficiency_and_self_consumption_are_learned() -> None:
    planner = _learned(21, charge_efficiency=0.85, self_consumption_w=70.0,
                       inverter_efficiency=0.90)
    assert planner.daily is not None
    est = planner.daily.battery
    assert est.efficiency_source == "learned"
    assert abs(est.charge_efficiency - 0.85) < 0.03
    assert est.self_consumption_source == "learned"
    assert abs(est.self_consumption_w - 70.0) < 10.0
    assert abs(est.inverter_efficiency - 0.90) < 0.02


def test_without_measurements_the_site_file_and_typical_values_hold() -> None:
    site = abuja()
    est = estimate_battery(site, 0.3, [], None)
    assert est.capacity_source == "site_file"
    assert est.capacity_wh == 9600.0
    assert est.charge_efficiency == 0.92  # lead-acid
    assert est.self_consumption_w == 50.0  # 1 % of 5 kW
    assert est.reserve_soc == 0.3


def test_few_samples_are_shrunk_toward_the_site_file_and_bounded() -> None:
    site = abuja()
    one = [CapacitySample(0, -0.5, 0.0, 2400.0)]  # says 4800 Wh
    est = estimate_battery(site, 0.3, one, None)
    assert 4800.0 < est.capacity_wh < 9600.0
    assert math.isclose(est.capacity_wh, (4800.0 + 3 * 9600.0) / 4)
    huge = [CapacitySample(i, -0.2, 0.0, 20_000.0) for i in range(50)]  # says 100 kWh
    est = estimate_battery(site, 0.3, huge, None)
    assert 1.4 * 9600.0 < est.capacity_wh <= CAPACITY_BOUNDS[1] * 9600.0


def test_segments_need_a_gap_free_window() -> None:
    soc = np.linspace(0.9, 0.4, 21)
    power = np.full(21, -1200.0)
    whole = capacity_samples(soc, power, 1000, STEP)
    assert whole and all(s.dsoc < 0 for s in whole)
    power[5] = np.nan
    broken = capacity_samples(soc, power, 1000, STEP)
    assert all(s.end_k - 1000 < 5 or s.end_k - 1000 - 4 > 5 for s in broken)
    assert len(broken) < len(whole)


def test_charge_acceptance_tapers_near_full() -> None:
    est = estimate_battery(abuja(), 0.3, [], None)
    acc = est.charge_acceptance(np.array([0.2, 0.85, 0.925, 1.0]))
    np.testing.assert_allclose(acc, [2900.0, 2900.0, 1450.0, 0.0])
