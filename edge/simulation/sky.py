"""The one sky model: clear-sky irradiance times a seeded stochastic cloud process.

Responsible for: synthetic weather (GHI, DNI, DHI, air temperature, clear-sky
index) at any site and any time step, reproducible from a seed. Clear-sky
values come from :func:`edge.forecasting.solar.clear_sky` (pvlib Ineichen with the site's
monthly Linke turbidity); a per-day cloud process with seasons multiplies
them; DNI/DHI come from the Erbs decomposition with closure
``GHI = DHI + DNI cos(zenith)``. Used by the device simulators (through
:class:`SkyModel`) and by ``helio-train synth``.

Does NOT: read weather files (:class:`WeatherFileSky` takes a frame already
read by the trainer), keep global state, or call pvlib per sample:
the streaming form computes a whole day in one vectorised call and
interpolates.

Determinism: the cloud process of each *solar day* (local mean solar
midnight to midnight) is drawn from a random generator keyed by
``(seed, day number)`` and rendered on a one-minute grid, so the value at a
time does not depend on which other times were requested (chunking-safe).

The default climate is that of the West African savanna (Abuja): Harmattan
haze December to February (lower clear-sky index, few clouds), a hot
transition in March, the wet season April to October (broken cumulus and
convective afternoon storms, cloudiest in August) and a short transition in
November.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd
import pvlib

from edge.forecasting.site import SiteConfig
from edge.forecasting.solar import clear_sky, clear_sky_arrays
from edge.simulation.clouds import (
    MINUTES,
    air_temperature,
    cloud_transmission,
    smooth_noise,
)

__all__ = [
    "ABUJA_CLIMATE",
    "WEATHER_COLUMNS",
    "SkyClimate",
    "SkyModel",
    "SkyRegime",
    "WeatherFileSky",
    "synthetic_weather",
]

#: Columns of :func:`synthetic_weather` (irradiance [W/m²], temp_air [°C], kt [-]),
#: followed by the geometry columns zenith, azimuth [°] and ghi_clear [W/m²].
WEATHER_COLUMNS = ("ghi", "dni", "dhi", "temp_air", "kt", "zenith", "azimuth", "ghi_clear")

_MINUTES = MINUTES
_DAY_S = 86400.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Season = Literal["harmattan", "dry", "wet", "transition"]

#: wetness, dust for a forced season (regime change knob)
_SEASON_PRESETS: Mapping[str, tuple[float, float]] = {
    "harmattan": (0.0, 1.0),
    "dry": (0.1, 0.3),
    "transition": (0.45, 0.2),
    "wet": (1.0, 0.0),
}


@dataclasses.dataclass(frozen=True, slots=True)
class SkyClimate:
    """Monthly climatology driving the cloud process (January first).

    Attributes
    ----------
    wetness : tuple of float
        Wet-season index per month, 0 (dry) to 1 (peak monsoon). [-]
    dust : tuple of float
        Harmattan dust/haze index per month, 0 to 1. [-]
    temp_max, temp_min : tuple of float
        Mean daily maximum and minimum air temperature. [°C]
    """

    wetness: tuple[float, ...]
    dust: tuple[float, ...]
    temp_max: tuple[float, ...]
    temp_min: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in ("wetness", "dust", "temp_max", "temp_min"):
            if len(getattr(self, name)) != 12:
                raise ValueError(f"{name} needs 12 monthly values")

    def at(self, doy: float) -> tuple[float, float, float, float]:
        """Values interpolated (cyclically, mid-month anchors) at day of year ``doy``."""
        anchors = (np.arange(12) + 0.5) * 365.25 / 12.0
        xp = np.concatenate([anchors - 365.25, anchors, anchors + 365.25])
        out = []
        for series in (self.wetness, self.dust, self.temp_max, self.temp_min):
            fp = np.tile(np.asarray(series, dtype=float), 3)
            out.append(float(np.interp(doy, xp, fp)))
        return out[0], out[1], out[2], out[3]


#: Abuja (Guinea savanna) climatology: approximate monthly means.
ABUJA_CLIMATE = SkyClimate(
    wetness=(0.0, 0.05, 0.2, 0.5, 0.75, 0.9, 1.0, 1.0, 0.9, 0.6, 0.15, 0.0),
    dust=(1.0, 0.9, 0.5, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.05, 0.35, 0.8),
    temp_max=(33.0, 35.0, 36.0, 34.0, 31.0, 29.0, 27.0, 27.0, 28.0, 30.0, 33.0, 33.0),
    temp_min=(18.0, 21.0, 24.0, 24.0, 23.0, 22.0, 21.0, 21.0, 21.0, 21.0, 19.0, 17.0),
)


@dataclasses.dataclass(frozen=True, slots=True)
class SkyRegime:
    """Knobs that shift the weather away from the climatology (drift tests).

    Attributes
    ----------
    cloudiness : float
        Multiplier on cloud frequency and cover (1 = climatology, 0 = no
        clouds). [-]
    haze : float
        Multiplier on the Harmattan haze loss. [-]
    season : str or None
        Force every day into one season (``harmattan``, ``dry``,
        ``transition``, ``wet``) regardless of the date.
    """

    cloudiness: float = 1.0
    haze: float = 1.0
    season: Season | None = None

    def __post_init__(self) -> None:
        if self.cloudiness < 0 or self.haze < 0:
            raise ValueError("cloudiness and haze must be >= 0")
        if self.season is not None and self.season not in _SEASON_PRESETS:
            raise ValueError(f"season must be one of {sorted(_SEASON_PRESETS)}")


# --------------------------------------------------------------------------
# the per-day cloud process (pure numpy, one-minute grid)
# --------------------------------------------------------------------------


def _solar_day_offset(site: SiteConfig) -> float:
    """Seconds from UTC midnight to local mean solar midnight (may be negative)."""
    return -site.longitude / 15.0 * 3600.0


def _day_keys(site: SiteConfig, epoch_s: np.ndarray) -> np.ndarray:
    return np.floor((epoch_s - _solar_day_offset(site)) / _DAY_S).astype(np.int64)


def _day_start(site: SiteConfig, key: int) -> float:
    return key * _DAY_S + _solar_day_offset(site)


@dataclasses.dataclass(frozen=True, slots=True)
class _Day:
    kt: np.ndarray  # clear-sky index on the minute grid
    temp_air: np.ndarray  # [°C]


def _render_day(key: int, doy: float, *, seed: int, climate: SkyClimate, regime: SkyRegime) -> _Day:
    rng = np.random.default_rng([seed & 0xFFFFFFFF, key + 10_000_000, 0x5C1])
    wet, dust, tmax, tmin = climate.at(doy)
    if regime.season is not None:
        wet, dust = _SEASON_PRESETS[regime.season]
    trans, cover = cloud_transmission(rng, wet, regime.cloudiness)
    haze_loss = dust * regime.haze * float(rng.beta(2.0, 5.0)) * 0.45
    haze = (1.0 - haze_loss) * (1.0 + smooth_noise(rng, _MINUTES + 1, 0.01 + 0.02 * dust, 90))
    flicker = 1.0 + smooth_noise(rng, _MINUTES + 1, 0.01, 3)
    kt = np.clip(haze * trans * flicker, 0.05, 1.35)
    return _Day(kt=kt, temp_air=air_temperature(rng, tmax, tmin, trans, cover))


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------


def _epoch_seconds(times: pd.DatetimeIndex) -> np.ndarray:
    ns = times.tz_convert("UTC").as_unit("ns").asi8
    return np.asarray(ns, dtype=np.int64) / 1e9


def _cloud_columns(
    site: SiteConfig,
    times: pd.DatetimeIndex,
    *,
    seed: int,
    climate: SkyClimate,
    regime: SkyRegime,
) -> tuple[np.ndarray, np.ndarray]:
    """Clear-sky index and air temperature at ``times`` from the per-day grids."""
    secs = _epoch_seconds(times)
    keys = _day_keys(site, secs)
    kt = np.empty(secs.size)
    temp = np.empty(secs.size)
    grid = np.arange(_MINUTES + 1, dtype=float)
    for key in np.unique(keys):
        sel = keys == key
        start = _day_start(site, int(key))
        doy = (datetime.fromtimestamp(start + _DAY_S / 2, tz=UTC)).timetuple().tm_yday
        day = _render_day(int(key), float(doy), seed=seed, climate=climate, regime=regime)
        minute = (secs[sel] - start) / 60.0
        kt[sel] = np.interp(minute, grid, day.kt)
        temp[sel] = np.interp(minute, grid, day.temp_air)
    return kt, temp


def synthetic_weather(
    site: SiteConfig,
    times: pd.DatetimeIndex,
    *,
    seed: int,
    regime: SkyRegime | None = None,
    climate: SkyClimate = ABUJA_CLIMATE,
) -> pd.DataFrame:
    """Synthetic irradiance and air temperature at ``times``.

    Parameters
    ----------
    site : SiteConfig
        Location and monthly Linke turbidity.
    times : pandas.DatetimeIndex
        Timezone-aware timestamps, any spacing (instantaneous values).
    seed : int
        Seed of the cloud process; equal seeds give equal weather.
    regime : SkyRegime, optional
        Shift the weather (cloudiness, haze, forced season) for drift tests.
    climate : SkyClimate
        Monthly climatology; Abuja by default.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``times`` (UTC) with :data:`WEATHER_COLUMNS`: ``ghi``,
        ``dni``, ``dhi`` [W/m²], ``temp_air`` [°C], ``kt`` (clear-sky index
        ghi/ghi_clear; the latent cloud index at night) [-], ``zenith``,
        ``azimuth`` [°], ``ghi_clear`` [W/m²].
    """
    if times.tz is None:
        raise ValueError("times must be timezone-aware (UTC)")
    regime = regime or SkyRegime()
    times = times.tz_convert("UTC")
    geo = clear_sky(site, times)
    kt, temp = _cloud_columns(site, times, seed=seed, climate=climate, regime=regime)
    zenith = geo["zenith"].to_numpy()
    cosz = np.cos(np.radians(zenith))
    ghi_clear = geo["ghi_clear"].to_numpy()
    ceiling = 1.1 * geo["dni_extra"].to_numpy() * np.clip(cosz, 0.0, None)
    ghi = np.clip(np.minimum(kt * ghi_clear, ceiling), 0.0, None)
    parts = pvlib.irradiance.erbs(ghi, zenith, times.day_of_year.to_numpy())
    dni = np.nan_to_num(np.asarray(parts["dni"], dtype=float), nan=0.0)
    dni = np.where(cosz > 0.0, np.minimum(dni, ghi / np.maximum(cosz, 1e-6)), 0.0)
    dhi = np.clip(ghi - dni * np.clip(cosz, 0.0, None), 0.0, None)
    kt_out = np.where(ghi_clear > 1.0, ghi / np.maximum(ghi_clear, 1e-9), kt)
    return pd.DataFrame(
        {
            "ghi": ghi,
            "dni": dni,
            "dhi": dhi,
            "temp_air": temp,
            "kt": kt_out,
            "zenith": zenith,
            "azimuth": geo["azimuth"].to_numpy(),
            "ghi_clear": ghi_clear,
        },
        index=times,
    )


class SkyModel:
    """Streaming form of :func:`synthetic_weather` for simulators.

    Computes one solar day on a one-minute grid per pvlib call and
    interpolates any instant in it; keeps the two most recent days.

    Parameters
    ----------
    site : SiteConfig
        Location.
    seed : int
        Seed of the cloud process.
    regime : SkyRegime, optional
        Weather shift; may be changed later with :meth:`set_regime`.
    climate : SkyClimate
        Monthly climatology.
    """

    def __init__(
        self,
        site: SiteConfig,
        seed: int = 0,
        *,
        regime: SkyRegime | None = None,
        climate: SkyClimate = ABUJA_CLIMATE,
    ) -> None:
        self.site = site
        self.seed = seed
        self.climate = climate
        self._regime = regime or SkyRegime()
        self._days: dict[int, tuple[float, pd.DataFrame, np.ndarray]] = {}

    @property
    def regime(self) -> SkyRegime:
        """The weather shift in force."""
        return self._regime

    def set_regime(self, regime: SkyRegime) -> None:
        """Change the weather regime from now on (drops cached days)."""
        self._regime = regime
        self._days.clear()

    def day(self, t: datetime) -> tuple[float, pd.DataFrame]:
        """(start epoch seconds, one-minute frame) of the solar day holding ``t``."""
        start, frame, _ = self._day(t)
        return start, frame

    def _day(self, t: datetime) -> tuple[float, pd.DataFrame, np.ndarray]:
        key = int(_day_keys(self.site, np.array([_to_epoch(t)]))[0])
        cached = self._days.get(key)
        if cached is None:
            start = _day_start(self.site, key)
            index = pd.date_range(
                _EPOCH + timedelta(seconds=start), periods=_MINUTES + 1, freq="1min"
            )
            frame = synthetic_weather(
                self.site, index, seed=self.seed, regime=self._regime, climate=self.climate
            )
            az = np.radians(frame["azimuth"].to_numpy())  # interpolated as a unit vector
            table = np.vstack([frame.to_numpy(dtype=float).T, np.sin(az), np.cos(az)])
            cached = (start, frame, table)
            self._days = {k: v for k, v in self._days.items() if abs(k - key) <= 1}
            self._days[key] = cached
        return cached

    def sample(self, t: datetime) -> dict[str, float]:
        """All :data:`WEATHER_COLUMNS` at instant ``t`` (UTC-aware), interpolated."""
        start, frame, table = self._day(t)
        minute = min(max((_to_epoch(t) - start) / 60.0, 0.0), float(_MINUTES))
        i = min(int(minute), _MINUTES - 1)
        w = minute - i
        row = table[:, i] * (1.0 - w) + table[:, i + 1] * w
        out = dict(zip(frame.columns, row[:-2].tolist(), strict=True))
        out["azimuth"] = float(np.degrees(np.arctan2(row[-2], row[-1])) % 360.0)
        return out


def _to_epoch(t: datetime) -> float:
    if t.tzinfo is None:
        raise ValueError("datetime must be timezone-aware (UTC)")
    return (t - _EPOCH).total_seconds()


class WeatherFileSky:
    """A sky read from a weather file, with the interface :class:`SkyModel` gives the plant.

    Interpolation onto the one-minute grid: each source row's clear-sky index
    ``kt = GHI / mean(GHI_clear over the row's interval)`` and diffuse
    fraction ``DHI / GHI`` are interpolated linearly between interval
    centres (held flat beyond the first and last daylit row) and applied to
    the minute's own clear sky, so a minute's GHI follows the sun and an
    hour's mean stays close to the file's. DNI closes
    ``GHI = DHI + DNI cos(zenith)`` (capped by the extraterrestrial DNI);
    without a DHI column the split is Erbs'. Air temperature is
    interpolated linearly (20 °C when the file has none).

    Parameters
    ----------
    site : SiteConfig
        The file's location with its monthly Linke turbidity.
    weather : pandas.DataFrame
        Canonical weather frame (:func:`trainer.data.read_weather`: UTC index
        at interval centres, ``ghi`` and optionally ``dni``, ``dhi``
        [W/m²], ``temp_air`` [°C]) already stamped onto the simulated
        years; must cover every day asked for.
    interval_minutes : float, optional
        The rows' averaging interval; default ``weather.attrs`` or the row
        spacing. [min]
    """

    def __init__(
        self, site: SiteConfig, weather: pd.DataFrame, *, interval_minutes: float | None = None
    ) -> None:
        if "ghi" not in weather.columns:
            raise ValueError("the weather frame has no 'ghi' column")
        frame = weather.sort_index()
        self.site = site
        self._t = _epoch_seconds(pd.DatetimeIndex(frame.index))
        if self._t.size < 2:
            raise ValueError("the weather frame needs at least two rows")
        spacing = float(np.median(np.diff(self._t))) / 60.0
        iv = interval_minutes if interval_minutes is not None else frame.attrs.get(
            "interval_minutes", spacing)
        self._half = max(float(iv), 1.0) * 30.0  # half the averaging interval [s]

        def col(name: str, default: float) -> np.ndarray:
            if name not in frame.columns:
                return np.full(self._t.size, default)
            return np.asarray(frame[name].to_numpy(dtype=float), dtype=float)

        self._ghi = col("ghi", np.nan)
        self._dhi = col("dhi", np.nan)
        self._temp = col("temp_air", 20.0)
        self._days: dict[int, tuple[float, pd.DataFrame]] = {}

    @property
    def regime(self) -> SkyRegime:
        """Always the climatology: a file's weather is not shifted."""
        return SkyRegime()

    def set_regime(self, regime: SkyRegime) -> None:
        """Refused: the weather comes from the file."""
        raise ValueError("a weather file's sky has no regime to change")

    def day(self, t: datetime) -> tuple[float, pd.DataFrame]:
        """(start epoch seconds, one-minute frame) of the solar day holding ``t``."""
        key = int(_day_keys(self.site, np.array([_to_epoch(t)]))[0])
        cached = self._days.get(key)
        if cached is None:
            start = _day_start(self.site, key)
            cached = (start, self._render(start))
            self._days = {k: v for k, v in self._days.items() if abs(k - key) <= 1}
            self._days[key] = cached
        return cached

    def _render(self, start: float) -> pd.DataFrame:
        margin = 3.0 * self._half + 3600.0
        rows = np.flatnonzero((self._t > start - margin) & (self._t < start + _DAY_S + margin))
        if rows.size == 0 or self._t[rows[0]] > start or self._t[rows[-1]] < start + _DAY_S:
            day = datetime.fromtimestamp(start + _DAY_S / 2, tz=UTC).date()
            raise ValueError(f"the weather file does not cover {day}")
        tc = self._t[rows]
        # clear sky on a minute grid over the rows' intervals, averaged per row
        fine = np.arange(tc[0] - self._half + 30.0, tc[-1] + self._half, 60.0)
        cs_fine = clear_sky_arrays(self.site, fine)["ghi_clear"]
        owner = np.searchsorted(tc - self._half, fine, side="right") - 1
        inside = (owner >= 0) & (fine < tc[np.clip(owner, 0, None)] + self._half)
        sums = np.bincount(owner[inside], weights=cs_fine[inside], minlength=tc.size)
        counts = np.bincount(owner[inside], minlength=tc.size)
        cs_mean = sums / np.maximum(counts, 1)
        ghi, dhi = self._ghi[rows], self._dhi[rows]
        lit = (cs_mean > 5.0) & np.isfinite(ghi)
        kt_rows = np.clip(ghi[lit] / cs_mean[lit], 0.0, 1.5)
        fd_ok = lit & np.isfinite(dhi) & (ghi > 1.0)
        fd_rows = np.clip(dhi[fd_ok] / ghi[fd_ok], 0.0, 1.0)
        temp_ok = np.isfinite(self._temp[rows])

        index = pd.date_range(_EPOCH + timedelta(seconds=start), periods=_MINUTES + 1,
                              freq="1min")
        secs = start + 60.0 * np.arange(_MINUTES + 1)
        geo = clear_sky_arrays(self.site, secs)
        zenith, ghi_clear = geo["zenith"], geo["ghi_clear"]
        cosz = np.cos(np.radians(zenith))
        kt = np.interp(secs, tc[lit], kt_rows) if kt_rows.size else np.zeros(secs.size)
        out_ghi = np.clip(kt * ghi_clear, 0.0, None)
        if fd_rows.size:
            fd = np.interp(secs, tc[fd_ok], fd_rows)
            dni = np.where(cosz > 0.0, (1.0 - fd) * out_ghi / np.maximum(cosz, 1e-6), 0.0)
        else:
            parts = pvlib.irradiance.erbs(out_ghi, zenith, index.day_of_year.to_numpy())
            dni = np.nan_to_num(np.asarray(parts["dni"], dtype=float), nan=0.0)
        dni = np.clip(np.minimum(dni, geo["dni_extra"]), 0.0, None)
        dni = np.where(cosz > 0.0, np.minimum(dni, out_ghi / np.maximum(cosz, 1e-6)), 0.0)
        out_dhi = np.clip(out_ghi - dni * np.clip(cosz, 0.0, None), 0.0, None)
        temp = (np.interp(secs, tc[temp_ok], self._temp[rows][temp_ok]) if temp_ok.any()
                else np.full(secs.size, 20.0))
        return pd.DataFrame(
            {
                "ghi": out_ghi,
                "dni": dni,
                "dhi": out_dhi,
                "temp_air": temp,
                "kt": kt,
                "zenith": zenith,
                "azimuth": geo["azimuth"],
                "ghi_clear": ghi_clear,
            },
            index=index,
        )
