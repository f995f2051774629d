"""The household load: reproducible per day, its daily energy as configured, evening peak."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edge.forecasting.site import LoadConfig
from edge.simulation.loadprofile import LoadProfile

CFG = LoadConfig(daily_energy=6000.0, base_power=120.0)
DAY = datetime(2026, 6, 21, tzinfo=UTC)  # Abuja is UTC+1


def _day_energy(load: LoadProfile, day: datetime, step_min: int = 1) -> float:
    times = [day + timedelta(minutes=m) for m in range(0, 1440, step_min)]
    return float(sum(load.power(t) for t in times) * step_min / 60.0)


def test_same_seed_same_load_whatever_the_query_order() -> None:
    t = DAY + timedelta(hours=19, minutes=30)
    a = LoadProfile(CFG, "Africa/Lagos", seed=7)
    b = LoadProfile(CFG, "Africa/Lagos", seed=7)
    b.power(DAY + timedelta(days=3))  # another day first
    assert a.power(t) == b.power(t)
    other = LoadProfile(CFG, "Africa/Lagos", seed=8)
    assert _day_energy(other, DAY, 10) != _day_energy(a, DAY, 10)


def test_mean_daily_energy_is_the_configured_one() -> None:
    load = LoadProfile(CFG, "Africa/Lagos", seed=1)
    energies = [_day_energy(load, DAY + timedelta(days=d), step_min=5) for d in range(20)]
    assert np.mean(energies) == pytest.approx(CFG.daily_energy, rel=0.15)


def test_never_below_base_and_peaks_follow_local_evening() -> None:
    load = LoadProfile(CFG, "Africa/Lagos", seed=3)
    start = DAY - timedelta(hours=1)  # local midnight
    powers = [[load.power(start + timedelta(days=d, minutes=m)) for m in range(0, 1440, 10)]
              for d in range(10)]
    by_hour = np.array(powers).reshape(10, 24, 6).mean(axis=(0, 2))  # local hour
    assert np.array(powers).min() >= CFG.base_power
    assert 18 <= int(np.argmax(by_hour)) <= 21
    assert by_hour[20] > 3 * by_hour[3]
    assert by_hour[7] > 2 * by_hour[3]  # the morning peak


@pytest.mark.parametrize(("power", "pf"), [(0.0, 0.78), (1000.0, 0.88), (5000.0, 0.97)])
def test_power_factor_rises_with_load_to_a_cap(power: float, pf: float) -> None:
    assert LoadProfile.power_factor(power) == pytest.approx(pf)
