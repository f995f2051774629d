"""The simulated world: truth bookkeeping, curtailment, grid bypass, the measurement channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from edge.forecasting.site import Site, load_site
from edge.simulation.grid import GridConfig
from edge.simulation.loadprofile import LoadProfile
from trainer.yearsim.scenario import NO_ACTION, Action, Scenario, TruthPeriod, measure

REPO = Path(__file__).resolve().parents[3]
JAN = datetime(2025, 1, 10, tzinfo=UTC)  # Harmattan: clear days, a full battery by noon


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(REPO / "configs/sites/abuja.toml")


def periods(world: Scenario, days: float) -> list[TruthPeriod]:
    return [world.advance() for _ in range(int(days * 96))]


def test_scenario_truth_is_period_means_of_the_plant(site: Site) -> None:
    world = Scenario(site, JAN, seed=4, soc=0.9)
    truth = periods(world, 2)
    assert [t.end for t in truth] == [JAN + timedelta(minutes=15 * (i + 1)) for i in range(192)]
    pv = np.array([t.pv_power for t in truth])
    potential = np.array([t.pv_potential for t in truth])
    assert np.all(potential >= pv - 1.0)  # delivered never exceeds what the array could give
    curtailed = [t for t in truth if t.charge_state in ("absorption", "float")]
    assert curtailed and max(t.pv_potential - t.pv_power for t in curtailed) > 500.0
    load = np.array([t.load_power for t in truth])
    expected = LoadProfile(site.load, site.site.timezone, 4).period_means(JAN, 192)
    np.testing.assert_allclose(load.sum(), expected.sum(), rtol=0.03)  # 1-min samples
    assert all(0.0 <= t.soc <= 1.0 and t.grid_share == 0.0 for t in truth)


def test_scenario_grid_carries_the_load_while_it_is_up(site: Site) -> None:
    off_grid = periods(Scenario(site, JAN, seed=4, soc=0.9), 1)
    hybrid = periods(Scenario(site, JAN, seed=4, soc=0.9,
                              grid=GridConfig(supply_hours=23.5, mean_outage_hours=0.5)), 1)
    up = [t for t in hybrid if t.grid_share == 1.0 and t.pv_power == 0.0]
    assert up and all(t.battery_power >= -1.0 for t in up)  # the battery does not give
    assert min(t.soc for t in hybrid) > min(t.soc for t in off_grid) + 0.1


def test_measure_reports_readings_at_device_resolution() -> None:
    t = TruthPeriod(JAN, 412.37, 1503.6, 1890.0, 0.73456, -820.4, 0.0, "bulk")
    m = measure(t)
    assert (m.load_power, m.pv_power, m.soc, m.battery_power) == (412.0, 1504.0, 0.735, -820.0)
    assert m.end == JAN and not m.curtailed
    assert measure(TruthPeriod(JAN, 0, 0, 0, 1.0, 0, 0, "float")).curtailed


def test_scenario_carries_out_only_no_action(site: Site) -> None:
    world = Scenario(site, JAN, seed=1)
    world.apply(NO_ACTION)

    class Generator(Action):
        pass

    with pytest.raises(NotImplementedError):
        world.apply(Generator())
    with pytest.raises(ValueError, match="15-min grid"):
        Scenario(site, JAN + timedelta(minutes=5))
