"""The household load: reproducible per day, its daily energy as configured, evening peak,
weekly pattern, persistent day level, large appliances, period means."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from edge.forecasting.site import LoadConfig, load_site
from edge.simulation.loadprofile import APPLIANCES, LoadProfile

CFG = LoadConfig(daily_energy=6000.0, base_power=120.0)
DAY = datetime(2026, 6, 21, tzinfo=UTC)  # Abuja is UTC+1
REPO = Path(__file__).resolve().parents[3]
# 23:00 UTC is local midnight in Abuja (UTC+1); 2024-12-30 is a Monday
START = datetime(2024, 12, 29, 23, tzinfo=UTC)
WEEKS = 52


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


@pytest.fixture(scope="module")
def cfg() -> LoadConfig:
    return load_site(REPO / "configs/sites/abuja.toml").load


@pytest.fixture(scope="module")
def year(cfg: LoadConfig) -> np.ndarray:
    """A year of 15-min means, (days, 96), local days from Monday 2024-12-30."""
    lp = LoadProfile(cfg, "Africa/Lagos", seed=11)
    return lp.period_means(START, WEEKS * 7 * 96).reshape(-1, 96)


def test_load_mean_daily_energy_is_the_site_file_value(cfg: LoadConfig, year: np.ndarray) -> None:
    daily = year.sum(axis=1) / 4.0  # [Wh]
    # a year of AR(1) days with sigma 0.15: the standard error of the mean is ~2.5 %
    assert daily.mean() == pytest.approx(cfg.daily_energy, rel=0.05)
    assert daily.std() > 0.1 * cfg.daily_energy  # days differ


def test_load_has_its_peak_in_the_evening(year: np.ndarray) -> None:
    hourly = year.mean(axis=0).reshape(24, 4).mean(axis=1)  # local hours
    assert 19 <= int(np.argmax(hourly)) <= 21
    assert hourly[19:22].mean() > 1.5 * hourly[10:16].mean()  # evening over midday
    assert hourly[19:22].mean() > 2.5 * hourly[1:5].mean()  # and over the night


def test_load_weekends_differ_from_weekdays(year: np.ndarray) -> None:
    days = year.reshape(WEEKS, 7, 96)
    energy = days.sum(axis=2) / 4.0
    weekday, weekend = energy[:, :5].mean(), energy[:, 5:].mean()
    assert weekend > 1.08 * weekday
    midday = days[:, :, 40:60].mean(axis=(0, 2))  # 10:00-15:00 local
    assert midday[5:].mean() > 1.2 * midday[:5].mean()  # people at home


def test_load_day_level_persists_over_days(cfg: LoadConfig) -> None:
    lp = LoadProfile(cfg, "Africa/Lagos", seed=5)
    levels = np.array([lp.level(date(2025, 1, 1) + timedelta(days=d)) for d in range(2000)])
    lag1 = np.corrcoef(levels[:-1], levels[1:])[0, 1]
    assert 0.7 < lag1 < 0.9  # AR(1) with phi 0.8
    assert levels.mean() == pytest.approx(1.0, abs=0.05)


def test_load_large_appliances_show_as_spikes(cfg: LoadConfig) -> None:
    lp = LoadProfile(cfg, "Africa/Lagos", seed=3)
    minutes = lp.period_means(START, 60 * 24 * 60, step_s=60, samples=1)
    big = min(a.power[0] for a in APPLIANCES if a.name != "kitchen")
    assert (minutes > cfg.base_power + big).mean() > 0.005  # a few % of minutes
    assert minutes.max() > 1500.0


def test_load_period_means_are_means_of_instants(cfg: LoadConfig) -> None:
    t = datetime(2025, 3, 14, 19, 30, tzinfo=UTC)
    a = LoadProfile(cfg, "Africa/Lagos", seed=8)
    mean = a.period_means(t - timedelta(minutes=15), 1)[0]
    instants = [a.power(t - timedelta(minutes=15) + timedelta(seconds=30 + 60 * j))
                for j in range(15)]
    assert mean == pytest.approx(np.mean(instants))
