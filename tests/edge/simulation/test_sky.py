"""The sky model: physical bounds, Abuja seasons, determinism, regime knob."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from edge.forecasting.site import SiteConfig, load_site
from edge.simulation.sky import (
    WEATHER_COLUMNS,
    SkyModel,
    SkyRegime,
    synthetic_weather,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return load_site(REPO / "configs/sites/abuja.toml").site


@pytest.fixture(scope="module")
def year(site: SiteConfig) -> pd.DataFrame:
    times = pd.date_range("2025-01-01", "2026-01-01", freq="20min", tz="UTC", inclusive="left")
    return synthetic_weather(site, times, seed=7)


def test_synthetic_weather_columns_and_finite(year: pd.DataFrame) -> None:
    assert tuple(year.columns) == WEATHER_COLUMNS
    assert np.isfinite(year.to_numpy()).all()


def test_synthetic_weather_zero_at_night(year: pd.DataFrame) -> None:
    night = year[year["zenith"] > 91.0]
    assert len(night) > 1000
    assert (night[["ghi", "dni", "dhi"]].to_numpy() == 0.0).all()


def test_synthetic_weather_never_above_extraterrestrial(year: pd.DataFrame) -> None:
    extra = pvlib.irradiance.get_extra_radiation(year.index).to_numpy()
    horizontal = extra * np.clip(np.cos(np.radians(year["zenith"].to_numpy())), 0, None)
    assert (year["ghi"].to_numpy() <= 1.1 * horizontal + 1e-6).all()
    assert (year[["ghi", "dni", "dhi"]].to_numpy() >= 0.0).all()


def test_synthetic_weather_closure(year: pd.DataFrame) -> None:
    cosz = np.cos(np.radians(year["zenith"].to_numpy()))
    closure = year["dhi"] + year["dni"] * np.clip(cosz, 0, None)
    np.testing.assert_allclose(closure, year["ghi"], atol=1e-6)


def test_clear_sky_index_by_abuja_season(year: pd.DataFrame) -> None:
    day = year[year["ghi_clear"] > 200.0]
    month = day.index.month
    harmattan = day["kt"][np.isin(month, [12, 1, 2])]
    wet = day["kt"][np.isin(month, [6, 7, 8, 9])]
    # Harmattan: hazy (clear-sky index below one) but few clouds, so narrow
    assert 0.7 < harmattan.median() < 0.95
    assert harmattan.quantile(0.1) > 0.5
    # wet season: broken clouds and storms, so a lower, much wider distribution
    assert 0.35 < wet.median() < 0.75
    assert wet.std() > 2.0 * harmattan.std()
    assert (wet < 0.3).mean() > 0.1
    # cloud-edge enhancement exists but stays physical
    assert day["kt"].max() < 1.4


def test_wet_season_afternoons_cloudier_than_mornings(year: pd.DataFrame) -> None:
    wet = year[np.isin(year.index.month, [6, 7, 8]) & (year["ghi_clear"] > 200.0)]
    solar_hour = (wet.index.hour + wet.index.minute / 60.0 + 7.3986 / 15.0) % 24
    morning = wet["kt"][(solar_hour > 8) & (solar_hour < 11)].mean()
    afternoon = wet["kt"][(solar_hour > 14) & (solar_hour < 17)].mean()
    assert afternoon < morning - 0.1


def test_temperature_plausible_for_abuja(year: pd.DataFrame) -> None:
    temp = year["temp_air"]
    assert temp.min() > 10.0 and temp.max() < 45.0
    local_hour = year.index.hour + 1  # Africa/Lagos, UTC+1
    assert temp[local_hour == 15].mean() > temp[local_hour == 6].mean() + 6.0
    assert temp[year.index.month == 3].mean() > temp[year.index.month == 8].mean()


def test_synthetic_weather_deterministic_and_chunking_safe(site: SiteConfig) -> None:
    times = pd.date_range("2025-07-01", periods=3 * 288, freq="5min", tz="UTC")
    whole = synthetic_weather(site, times, seed=3)
    parts = pd.concat(
        [synthetic_weather(site, times[i : i + 100], seed=3) for i in range(0, len(times), 100)]
    )
    pd.testing.assert_frame_equal(whole, parts)
    other = synthetic_weather(site, times, seed=4)
    assert not np.allclose(whole["ghi"], other["ghi"])


def test_synthetic_weather_rejects_naive_times(site: SiteConfig) -> None:
    with pytest.raises(ValueError, match="timezone"):
        synthetic_weather(site, pd.date_range("2025-01-01", periods=3, freq="h"), seed=0)


def test_regime_cloudiness_shifts_distribution(site: SiteConfig) -> None:
    times = pd.date_range("2025-01-01", periods=60 * 48, freq="30min", tz="UTC")
    base = synthetic_weather(site, times, seed=1)
    drift = synthetic_weather(site, times, seed=1, regime=SkyRegime(season="wet", cloudiness=1.5))
    up = base["ghi_clear"] > 200
    assert drift["kt"][up].mean() < base["kt"][up].mean() - 0.15


def test_sky_model_sample_matches_batch(site: SiteConfig) -> None:
    sky = SkyModel(site, seed=5)
    t0 = datetime(2025, 4, 10, 9, 30, tzinfo=UTC)
    times = [t0 + timedelta(minutes=7 * i) for i in range(60)]
    batch = synthetic_weather(site, pd.DatetimeIndex(times), seed=5)
    streamed = pd.DataFrame([sky.sample(t) for t in times], index=batch.index)
    np.testing.assert_allclose(streamed["kt"], batch["kt"], atol=0.02)
    np.testing.assert_allclose(streamed["ghi"], batch["ghi"], atol=15.0)
    np.testing.assert_allclose(streamed["temp_air"], batch["temp_air"], atol=0.05)
