"""The per-day cloud and temperature processes: bounded, seeded, and wetter means darker."""

from __future__ import annotations

import numpy as np
import pytest

from edge.simulation.clouds import MINUTES, air_temperature, cloud_transmission, smooth_noise


def _days(wet: float, cloudiness: float, n: int = 60, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([cloud_transmission(rng, wet, cloudiness)[0] for _ in range(n)])


def test_transmission_is_a_day_on_the_minute_grid_and_bounded() -> None:
    trans, cover = cloud_transmission(np.random.default_rng(1), 0.8, 1.0)
    assert trans.shape == (MINUTES + 1,)
    assert 0.0 <= cover <= 1.0
    assert trans.min() >= 0.0
    assert trans.max() <= 1.3  # cloud-edge enhancement brightens a little, never a lot


def test_same_seed_same_day() -> None:
    a = cloud_transmission(np.random.default_rng(5), 0.5, 1.0)
    b = cloud_transmission(np.random.default_rng(5), 0.5, 1.0)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]


def test_wet_season_is_darker_than_dry_and_no_clouds_is_clear() -> None:
    dry, wet = _days(0.0, 1.0).mean(), _days(1.0, 1.0).mean()
    assert wet < dry - 0.1
    np.testing.assert_allclose(_days(1.0, 0.0, n=5), 1.0, atol=0.02)


def test_air_temperature_peaks_in_the_afternoon_and_clouds_cool() -> None:
    clear = np.ones(MINUTES + 1)
    t = air_temperature(np.random.default_rng(2), 34.0, 22.0, clear, 0.0)
    assert 12 <= int(np.argmax(t)) // 60 <= 16
    assert int(np.argmin(t)) // 60 <= 7
    overcast = air_temperature(np.random.default_rng(2), 34.0, 22.0, clear * 0.3, 1.0)
    assert overcast.max() < t.max() - 3.0


def test_smooth_noise_is_zero_mean_and_smoother_than_white() -> None:
    noise = smooth_noise(np.random.default_rng(3), 20_000, 1.0, 30)
    assert noise.shape == (20_000,)
    assert abs(noise.mean()) < 0.1
    assert np.abs(np.diff(noise)).mean() < 0.5 * noise.std()
    assert noise.std() == pytest.approx(1.0, rel=0.2)
