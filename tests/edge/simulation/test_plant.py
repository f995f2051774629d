"""The plant model: charge stages, curtailment, energy bookkeeping, clock, cut-off."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.forecasting.site import Site, load_site
from edge.simulation.plant import Plant, PlantState
from edge.simulation.sky import SkyRegime
from firmware_bridge.readings import check_values

REPO = Path(__file__).resolve().parents[3]
# 00:00 UTC is 01:00 in Abuja; January is the clear Harmattan season
JAN = datetime(2025, 1, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(REPO / "configs/sites/abuja.toml")


def run_day(plant: Plant, hours: float = 24.0, step: float = 300.0) -> list[PlantState]:
    return [plant.advance(step) for _ in range(int(hours * 3600 / step))]


def test_plant_reaches_absorption_then_float_and_curtails(site: Site) -> None:
    plant = Plant(site, seed=2, start=JAN, speed=0.0, soc=0.7)
    states = run_day(plant)
    stages = [s.charge_state for s in states]
    assert stages[0] == "off"  # night
    first = {st: stages.index(st) for st in ("bulk", "absorption", "float")}
    assert first["bulk"] < first["absorption"] < first["float"]
    absorbing = [s for s in states if s.charge_state == "absorption"]
    target = site.battery.absorption_voltage
    assert all(abs(s.battery_voltage - target) < 0.05 for s in absorbing[1:])
    floating = [s for s in states if s.charge_state == "float" and s.pv_available > 800]
    assert floating, "no sunny float period"
    for s in floating:
        assert s.pv_power < 0.6 * s.pv_available  # battery full: PV curtailed
        assert s.curtailed > 300.0
        assert s.battery_voltage == pytest.approx(site.battery.float_voltage, abs=0.05)
        assert s.pv_voltage > 90.0  # operating point moved towards Voc
    bulk = [s for s in states if s.charge_state == "bulk" and s.pv_available > 300]
    for s in bulk:  # not full: everything the array gives goes in
        assert s.pv_power == pytest.approx(
            min(s.pv_available, site.array.ac_limit / 0.97), rel=0.01
        )


def test_plant_clips_at_charge_controller_limit(site: Site) -> None:
    small = dataclasses.replace(site, array=dataclasses.replace(site.array, ac_capacity=800.0))
    plant = Plant(small, seed=2, start=JAN, speed=0.0, soc=0.2)
    states = run_day(plant)
    out = max(s.charger_current * s.battery_voltage for s in states)
    assert out == pytest.approx(800.0, rel=0.01)
    assert max(s.pv_available for s in states) > 1200.0


def test_plant_night_is_dark_and_discharging(site: Site) -> None:
    plant = Plant(site, seed=1, start=JAN, speed=0.0, soc=0.8)
    for s in run_day(plant, hours=4):  # 01:00 to 05:00 local
        assert s.pv_power == 0.0 and s.pv_voltage == 0.0
        assert s.charge_state == "off"
        assert s.battery_current < 0.0
        assert s.load_power >= site.load.base_power


def test_plant_energy_bookkeeping(site: Site) -> None:
    plant = Plant(site, seed=4, start=JAN, speed=0.0, soc=0.5)
    step = 60.0
    states = run_day(plant, hours=22.0, step=step)  # up to 23:00 local
    out_wh = sum(s.charger_current * s.battery_voltage for s in states) * step / 3600.0
    assert states[-1].yield_today == pytest.approx(out_wh, rel=0.02)
    assert states[-1].max_power_today == pytest.approx(
        max(s.charger_current * s.battery_voltage for s in states), rel=0.02
    )
    used_wh = sum(s.load_power for s in states) * step / 3600.0
    assert states[-1].consumed_today == pytest.approx(used_wh, rel=0.02)
    assert 0.5 * site.load.daily_energy < used_wh < 1.5 * site.load.daily_energy
    # past local midnight the day's counters roll over
    after = plant.advance(3 * 3600)
    assert after.day_sequence == 1
    assert after.yield_yesterday == pytest.approx(states[-1].yield_today, rel=1e-6)
    assert after.yield_today == 0.0
    assert after.yield_total >= after.yield_yesterday


def test_plant_soc_follows_current(site: Site) -> None:
    plant = Plant(site, seed=4, start=JAN, speed=0.0, soc=0.5)
    step = 60.0
    states = run_day(plant, hours=6, step=step)  # night only: no charge efficiency
    ah = sum(s.battery_current for s in states) * step / 3600.0
    expected = 50.0 + 100.0 * ah / site.battery.capacity
    assert states[-1].battery_soc == pytest.approx(expected, abs=0.5)


def test_plant_inverter_cuts_off_on_low_battery(site: Site) -> None:
    plant = Plant(site, seed=1, start=JAN, speed=0.0, soc=0.02)
    states = run_day(plant, hours=4)
    off = [s for s in states if not s.inverter_on]
    assert off, "inverter never cut off"
    values = off[-1].inverter_values()
    assert values["inverter_mode"] == "standby"
    assert values["ac_output_power"] == 0.0 and values["ac_output_voltage"] == 0.0


def test_plant_runs_faster_than_real_time(site: Site) -> None:
    now = [100.0]
    plant = Plant(site, seed=1, start=JAN, speed=600.0, clock=lambda: now[0])
    now[0] += 6.0
    assert plant.now() == JAN + timedelta(hours=1)
    assert plant.state().time == JAN + timedelta(hours=1)
    plant.advance(60.0)  # manual steps move the clock-driven time as well
    now[0] += 1.0
    assert plant.now() == JAN + timedelta(hours=1, minutes=11)


def test_plant_values_use_the_vocabulary(site: Site) -> None:
    plant = Plant(site, seed=1, start=JAN + timedelta(hours=12), speed=0.0)
    state = plant.advance(60.0)
    check_values(state.charger_values())
    check_values(state.inverter_values())
    assert state.inverter_values()["battery_voltage"] == state.charger_values()["battery_voltage"]


def test_plant_regime_change_lowers_yield(site: Site) -> None:
    sunny = Plant(site, seed=3, start=JAN, speed=0.0, soc=0.1)
    cloudy = Plant(site, seed=3, start=JAN, speed=0.0, soc=0.1)
    cloudy.set_regime(SkyRegime(season="wet", cloudiness=2.0))
    assert run_day(cloudy)[-1].yield_yesterday < 0.8 * run_day(sunny)[-1].yield_yesterday
