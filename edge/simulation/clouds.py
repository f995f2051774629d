"""The per-day cloud and temperature processes of the sky model (pure numpy).

Responsible for: one solar day on a one-minute grid (``MINUTES + 1`` points,
midnight to midnight): the cloud transmission (broken cumulus as Poisson
arrivals with an hour-dependent rate, cloud-edge enhancement, convective
afternoon storms, stratiform overcast spells) and the air temperature
(diurnal shape, cloud cooling, a day anomaly), all drawn from the generator
the caller seeds.

Does NOT: know dates, sites or pvlib: :mod:`.sky` maps seasons onto the
``wet``/``cloudiness`` knobs and multiplies clear-sky irradiance.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MINUTES", "air_temperature", "cloud_transmission", "smooth_noise"]

#: minutes in a day; day grids have MINUTES + 1 points (both midnights)
MINUTES = 1440


def _soft_box(n: int, start: float, end: float, ramp: float) -> tuple[slice, np.ndarray]:
    """1 inside [start, end], 0 outside, linear ramps of ``ramp`` minutes.

    Returns the slice of the ``n``-point minute grid where the box is non-zero
    and its values there (events are short: touching only their window keeps
    a year of weather fast).
    """
    lo = min(max(int(np.floor(start - ramp)), 0), n)
    hi = min(max(int(np.ceil(end + ramp)) + 1, lo), n)
    m = np.arange(lo, hi, dtype=float)
    up = np.minimum(np.maximum((m - start) / ramp + 1.0, 0.0), 1.0)
    down = np.minimum(np.maximum((end - m) / ramp + 1.0, 0.0), 1.0)
    return slice(lo, hi), np.minimum(up, down)


def _boxes(starts: np.ndarray, ends: np.ndarray, ramp: float) -> np.ndarray:
    """:func:`_soft_box` of many events at once: shape (events, minutes)."""
    m = np.arange(MINUTES + 1, dtype=float)[None, :]
    up = np.clip((m - starts[:, None]) / ramp + 1.0, 0.0, 1.0)
    down = np.clip((ends[:, None] - m) / ramp + 1.0, 0.0, 1.0)
    return np.asarray(np.minimum(up, down))


def _dim(trans: np.ndarray, depth: float, start: float, end: float, ramp: float) -> None:
    """Multiply ``trans`` in place by ``1 - depth * box`` (``depth < 0`` brightens)."""
    where, box = _soft_box(trans.size, start, end, ramp)
    trans[where] *= 1.0 - depth * box


def _event_rate(hours: np.ndarray, wet: float, cover: float) -> np.ndarray:
    """Cloud arrivals per hour by local solar hour: convective afternoons when wet."""
    convective = np.exp(-(((hours - 15.0) / 2.5) ** 2))
    return 7.0 * cover * ((1.0 - 0.7 * wet) + 2.5 * wet * convective)


def cloud_transmission(
    rng: np.random.Generator, wet: float, cloudiness: float
) -> tuple[np.ndarray, float]:
    """One day's cloud transmission on the minute grid, and the day's cover."""
    mean_cover = float(np.clip((0.06 + 0.55 * wet) * cloudiness, 0.0, 0.95))
    cover = float(rng.beta(4.0 * mean_cover + 0.05, 4.0 * (1.0 - mean_cover) + 0.05))
    trans = np.ones(MINUTES + 1)
    # broken cumulus: Poisson arrivals with an hour-dependent rate (thinning)
    hours = np.arange(24) + 0.5
    rates = _event_rate(hours, wet, cover)
    n_max = rng.poisson(float(rates.max()) * 24.0)
    starts = rng.uniform(0.0, MINUTES, n_max)
    keep = rng.uniform(0.0, 1.0, n_max) < np.interp(starts / 60.0, hours, rates) / rates.max()
    starts = starts[keep]
    k = starts.size
    ends = starts + rng.lognormal(np.log(4.0 + 20.0 * cover), 0.8, k)
    depths = rng.beta(2.0, 2.0, k) * (0.45 + 0.45 * cover)
    # cloud-edge enhancement just after 40 % of the clouds
    bumps = rng.uniform(0.04, 0.18, k) * (rng.uniform(0.0, 1.0, k) < 0.4)
    trans *= np.prod(1.0 - depths[:, None] * _boxes(starts, ends, 1.5), axis=0)
    trans *= np.prod(1.0 + bumps[:, None] * _boxes(ends + 1.0, ends + 3.0, 1.0), axis=0)
    # convective storm in the wet-season afternoon
    if rng.uniform() < min(0.55 * wet * cloudiness, 0.95):
        start = float(rng.normal(15.5, 1.5)) * 60.0
        dur = float(rng.uniform(50.0, 180.0))
        _dim(trans, float(rng.uniform(0.7, 0.92)), start, start + dur, 15.0)
    # stratiform overcast spells (monsoon)
    if rng.uniform() < min(0.3 * wet * cover * cloudiness, 0.9):
        start = float(rng.uniform(0.0, 14.0)) * 60.0
        dur = float(rng.uniform(180.0, 600.0))
        _dim(trans, float(rng.uniform(0.35, 0.7)), start, start + dur, 30.0)
    return trans, cover


def smooth_noise(rng: np.random.Generator, n: int, sigma: float, span: int) -> np.ndarray:
    """Zero-mean noise low-pass filtered over ``span`` samples."""
    raw = rng.normal(0.0, sigma * np.sqrt(span), n + span)
    kernel = np.ones(span) / span
    return np.convolve(raw, kernel, mode="valid")[:n]


def air_temperature(
    rng: np.random.Generator, tmax: float, tmin: float, trans: np.ndarray, cover: float
) -> np.ndarray:
    """Air temperature on the minute grid: diurnal shape, cloud cooling, day anomaly."""
    h = np.arange(MINUTES + 1, dtype=float) / 60.0
    rise = 0.5 * (1.0 - np.cos(np.pi * (h - 6.0) / 9.0))
    fall_after = 0.5 * (1.0 + np.cos(np.pi * (h - 15.0) / 15.0))
    fall_before = 0.5 * (1.0 + np.cos(np.pi * (h + 9.0) / 15.0))
    shape = np.where(h < 6.0, fall_before, np.where(h <= 15.0, rise, fall_after))
    anomaly = float(rng.normal(0.0, 1.2))
    amplitude = (tmax - tmin) * (1.0 - 0.35 * cover)
    lag = np.convolve(1.0 - trans, np.ones(60) / 60.0, mode="full")[: trans.size]
    daylight = np.clip(np.sin(np.pi * (h - 6.0) / 12.0), 0.0, None)
    return np.asarray(tmin + anomaly + amplitude * shape - 3.0 * lag * daylight)
