"""Forecast features, computed the same way on the device and in the trainer.

Responsible for: the model's input vector. :class:`FeatureSpec` names the
features and their order; :class:`DailyGeometry` precomputes solar geometry,
clear-sky irradiance and every feature that depends only on time, in ONE
vectorised call of the numpy solar core per block of timestamps (a day on the device, the
whole data set in the trainer); :func:`compute_features` (one issue time,
the edge hot path, numpy only) and :func:`compute_feature_matrix` (many issue
times, the trainer) share the same core functions so they give identical
rows.

Does NOT: import TensorFlow, use pandas in the per-step path, scale features
for int8 (the bundle's quantization parameters do that), aggregate raw
readings to the step (``edge.runtime.window`` does), or read files.

Time convention
---------------
Everything lives on a grid of *period ends* ``t = k * step`` (UTC, aligned to
the Unix epoch, so to midnight for any step dividing a day). A measurement
for period ``t`` is the mean over ``(t - step, t]``; solar geometry and
clear-sky irradiance for that period are evaluated at its centre
``t - step / 2``. The issue time is the end of the last complete measured
period. The target for horizon ``h`` is the period ending at ``issue + h``
(the ``period_end`` of the forecast payload), so every horizon must be a
multiple of the step.

Feature vector (in :attr:`FeatureSpec.names` order)
---------------------------------------------------
``kt_lag{j}`` for ``j = history_steps-1 .. 0``
    Clear-sky index ``ghi / ghi_clear`` of the period ending ``j`` steps
    before the issue time (oldest first, so the vector mirrors the history
    array), clipped to [0, :data:`KT_MAX`]. Periods with the sun below
    :data:`ZENITH_LIMIT`, ``ghi_clear`` under :data:`GHI_CLEAR_MIN` or a
    missing measurement are filled from the nearest older valid period in
    the window, else the nearest newer one, else :data:`KT_DEFAULT`.
``kt_valid_frac``
    Share of the history periods that held a valid measurement. [-]
``cosz_0``, ``ghics_0``
    Cosine of the solar zenith (0 when the sun is down) and clear-sky GHI
    divided by :data:`GHI_SCALE`, for the issue period.
``cosz_h{h}``, ``ghics_h{h}``
    The same for each target period, horizons in spec order. [minutes]
``tod_sin``, ``tod_cos``, ``doy_sin``, ``doy_cos`` (only ``time_features = "calendar"``)
    Mean solar time of day and fraction of the (365.25-day) year at the
    issue time, as angles. Bundles made before the physical feature set
    carry them (a manifest without ``time_features`` means ``"calendar"``,
    so those bundles still load); new models do not: a day-of-year angle
    takes values in a season the model never trained on (data from March
    to September, forecasting October) and the network extrapolates. Every
    remaining time-dependent feature is physical (sun position and
    clear-sky irradiance) and stays in the range any few months of
    training data cover.
``temp_air`` (only when ``FeatureSpec.use_temperature``)
    ``(temp_air - 25) / 20``; 0 when missing. [-]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.forecasting.limits import GHI_CLEAR_MIN, KT_DEFAULT, KT_MAX, ZENITH_LIMIT
from edge.forecasting.solar import clear_sky_arrays

__all__ = [
    "GHI_CLEAR_MIN",
    "GHI_SCALE",
    "KT_DEFAULT",
    "KT_MAX",
    "ZENITH_LIMIT",
    "DailyGeometry",
    "FeatureError",
    "FeatureSpec",
    "clearsky_index",
    "compute_feature_matrix",
    "compute_features",
]

FloatArray = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

# KT_MAX, KT_DEFAULT, ZENITH_LIMIT and GHI_CLEAR_MIN are the reference science's
# (edge.forecasting.limits, re-exported by edge.forecasting.reference).
#: Clear-sky GHI is divided by this to give ``ghics_*`` features. [W/m²]
GHI_SCALE = 1000.0
#: Reference and scale of the temperature feature. [°C]
TEMP_REF, TEMP_SCALE = 25.0, 20.0

_COS_ZENITH_LIMIT = math.cos(math.radians(ZENITH_LIMIT))
_YEAR_S = 365.25 * 86400.0
_DAY_S = 86400


class FeatureError(ValueError):
    """Feature inputs do not fit the spec or the precomputed geometry."""


@dataclasses.dataclass(frozen=True, slots=True)
class FeatureSpec:
    """What the model sees and forecasts.

    Attributes
    ----------
    step_minutes : int
        Time step of history and targets; must divide a day. [minutes]
    horizons_min : tuple of int
        Forecast horizons, each a positive multiple of the step. [minutes]
    history_steps : int
        Number of past periods of clear-sky index in the features.
    use_temperature : bool
        Add the ``temp_air`` feature.
    time_features : {"physical", "calendar"}
        ``"physical"``: only sun position and clear-sky irradiance.
        ``"calendar"``: also time-of-day and day-of-year angles (bundles
        made before the physical set; kept so they still load and run).
    """

    step_minutes: int = 15
    horizons_min: tuple[int, ...] = (15, 30, 60, 120, 180)
    history_steps: int = 4
    use_temperature: bool = False
    time_features: str = "physical"

    def __post_init__(self) -> None:
        if self.step_minutes <= 0 or (24 * 60) % self.step_minutes:
            raise ValueError(f"step_minutes {self.step_minutes} must divide 1440")
        if not self.horizons_min:
            raise ValueError("horizons_min must not be empty")
        if list(self.horizons_min) != sorted(set(self.horizons_min)):
            raise ValueError("horizons_min must be strictly increasing")
        for h in self.horizons_min:
            if h <= 0 or h % self.step_minutes:
                raise ValueError(f"horizon {h} min is not a positive multiple of the step")
        if self.history_steps < 1:
            raise ValueError("history_steps must be at least 1")
        if self.time_features not in ("physical", "calendar"):
            raise ValueError(f"time_features {self.time_features!r} is not physical/calendar")

    @property
    def calendar(self) -> bool:
        """Whether the time-of-day and day-of-year angles are features."""
        return self.time_features == "calendar"

    @property
    def step_seconds(self) -> int:
        """The step. [s]"""
        return self.step_minutes * 60

    @property
    def horizon_steps(self) -> tuple[int, ...]:
        """Horizons in steps."""
        return tuple(h // self.step_minutes for h in self.horizons_min)

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names in vector order."""
        out = [f"kt_lag{j}" for j in range(self.history_steps - 1, -1, -1)]
        out += ["kt_valid_frac", "cosz_0", "ghics_0"]
        for h in self.horizons_min:
            out += [f"cosz_h{h}", f"ghics_h{h}"]
        if self.calendar:
            out += ["tod_sin", "tod_cos", "doy_sin", "doy_cos"]
        if self.use_temperature:
            out.append("temp_air")
        return tuple(out)

    @property
    def n_features(self) -> int:
        """Length of the feature vector."""
        return len(self.names)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the bundle manifest), including ``names``."""
        return {
            "step_minutes": self.step_minutes,
            "horizons_min": list(self.horizons_min),
            "history_steps": self.history_steps,
            "use_temperature": self.use_temperature,
            "time_features": self.time_features,
            "names": list(self.names),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`; a ``names`` entry must match the code.

        A mapping without ``time_features`` is a bundle made before the
        physical feature set: ``"calendar"``.

        Raises
        ------
        FeatureError
            When ``names`` differs from what this code computes (a bundle
            built by other feature code).
        """
        spec = cls(
            step_minutes=int(data["step_minutes"]),
            horizons_min=tuple(int(h) for h in data["horizons_min"]),
            history_steps=int(data["history_steps"]),
            use_temperature=bool(data.get("use_temperature", False)),
            time_features=str(data.get("time_features", "calendar")),
        )
        names = data.get("names")
        if names is not None and tuple(names) != spec.names:
            raise FeatureError(
                f"feature names {list(names)} do not match this code's {list(spec.names)}"
            )
        return spec


def clearsky_index(ghi: FloatArray, ghi_clear: FloatArray) -> FloatArray:
    """Clear-sky index, clipped to [0, KT_MAX]; NaN where ``ghi`` is NaN.

    Parameters
    ----------
    ghi : numpy.ndarray
        Measured global horizontal irradiance. [W/m²]
    ghi_clear : numpy.ndarray
        Clear-sky GHI, same shape. [W/m²]
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        kt = ghi / np.maximum(ghi_clear, GHI_CLEAR_MIN)
    return np.clip(kt, 0.0, KT_MAX)


# --------------------------------------------------------------------------
# precomputed geometry
# --------------------------------------------------------------------------


def _to_epoch(t: Any) -> int:
    """Epoch seconds of an aware datetime / pandas Timestamp / number."""
    if isinstance(t, dt.datetime):
        if t.tzinfo is None:
            raise FeatureError(f"time {t!r} must be timezone-aware (UTC)")
        return math.floor(t.timestamp())
    if isinstance(t, int | float | np.integer | np.floating):
        return math.floor(float(t))
    raise FeatureError(f"cannot use {t!r} as a time")


@dataclasses.dataclass(frozen=True, eq=False)
class DailyGeometry:
    """Geometry and time features on the period-end grid, precomputed once.

    Build with :meth:`for_day` (the device, once a day) or :meth:`for_range`
    (the trainer, whole data set). All arrays are indexed by ``k`` where
    the period end is ``t0 + k * step``; values are for the period centre.

    Attributes
    ----------
    spec : FeatureSpec
    t0 : int
        Period end of index 0. [s since the Unix epoch, UTC]
    zenith, azimuth : numpy.ndarray
        True solar zenith and azimuth at period centres. [°]
    cos_zenith : numpy.ndarray
        ``max(cos(zenith), 0)``. [-]
    ghi_clear, dni_clear, dhi_clear, dni_extra : numpy.ndarray
        Clear-sky and extraterrestrial irradiance at period centres. [W/m²]
    kt_ok : numpy.ndarray of bool
        Whether a measurement in that period gives a valid clear-sky index.
    static : numpy.ndarray, float32, (n, n_static)
        Time-only features (``cosz_0`` up to the last ``ghics_h*``, or
        ``doy_cos`` with calendar features) per issue index.
    """

    spec: FeatureSpec
    t0: int
    zenith: FloatArray
    azimuth: FloatArray
    cos_zenith: FloatArray
    ghi_clear: FloatArray
    dni_clear: FloatArray
    dhi_clear: FloatArray
    dni_extra: FloatArray
    kt_ok: BoolArray
    static: F32Array
    ghi_clear_list: list[float] = dataclasses.field(init=False, repr=False)
    kt_ok_list: list[bool] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        # plain lists for the per-step path: indexing numpy scalars is slow
        object.__setattr__(self, "ghi_clear_list", [float(v) for v in self.ghi_clear])
        object.__setattr__(self, "kt_ok_list", [bool(v) for v in self.kt_ok])

    @classmethod
    def for_day(cls, site: Any, day: dt.date, spec: FeatureSpec) -> DailyGeometry:
        """Geometry for every issue time in ``(day 00:00, next day 00:00]`` UTC.

        Parameters
        ----------
        site : edge.forecasting.site.SiteConfig
        day : datetime.date
            The UTC day.
        spec : FeatureSpec
        """
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        step = dt.timedelta(minutes=spec.step_minutes)
        return cls.for_range(site, start + step, start + dt.timedelta(days=1), spec)

    @classmethod
    def for_range(cls, site: Any, first: Any, last: Any, spec: FeatureSpec) -> DailyGeometry:
        """Geometry for every issue time from ``first`` to ``last`` inclusive.

        Covers the history before ``first`` and the horizons after ``last``.
        One vectorised :func:`edge.forecasting.solar.clear_sky_arrays` call.

        Parameters
        ----------
        site : edge.forecasting.site.SiteConfig
        first, last : datetime or pandas.Timestamp
            Issue times (UTC, aware); rounded down to the grid.
        spec : FeatureSpec
        """
        step = spec.step_seconds
        k_first, k_last = _to_epoch(first) // step, _to_epoch(last) // step
        if k_last < k_first:
            raise FeatureError("last issue time is before the first")
        k0 = k_first - (spec.history_steps - 1)
        k1 = k_last + max(spec.horizon_steps)
        ends = np.arange(k0, k1 + 1, dtype=np.int64) * step
        geo = clear_sky_arrays(site, ends - step // 2)
        zen = geo["zenith"]
        cosz = np.maximum(np.cos(np.radians(zen)), 0.0)
        ghi_clear = geo["ghi_clear"]
        kt_ok = (cosz >= _COS_ZENITH_LIMIT) & (ghi_clear >= GHI_CLEAR_MIN)
        static = _static_table(spec, ends, cosz, ghi_clear, float(site.longitude))
        return cls(
            spec=spec,
            t0=int(ends[0]),
            zenith=zen,
            azimuth=geo["azimuth"],
            cos_zenith=cosz,
            ghi_clear=ghi_clear,
            dni_clear=geo["dni_clear"],
            dhi_clear=geo["dhi_clear"],
            dni_extra=geo["dni_extra"],
            kt_ok=kt_ok,
            static=static,
        )

    @property
    def size(self) -> int:
        """Number of grid periods held."""
        return int(self.zenith.shape[0])

    def period_ends(self) -> npt.NDArray[np.int64]:
        """Period end of every index. [s since the Unix epoch, UTC]"""
        return self.t0 + np.arange(self.size, dtype=np.int64) * self.spec.step_seconds

    def index(self, t: Any) -> int:
        """Grid index of period end ``t`` (aware datetime or epoch seconds).

        Raises
        ------
        FeatureError
            When ``t`` is off the grid or outside the precomputed range.
        """
        sec = _to_epoch(t)
        k, rem = divmod(sec - self.t0, self.spec.step_seconds)
        if rem or not 0 <= k < self.size:
            raise FeatureError(f"time {t!r} is off the {self.spec.step_minutes}-min grid "
                               "or outside the precomputed geometry")
        return int(k)

    def issue_range(self) -> tuple[int, int]:
        """First and last index usable as an issue time (inclusive)."""
        return self.spec.history_steps - 1, self.size - 1 - max(self.spec.horizon_steps)

    def covers_issue(self, t: Any) -> bool:
        """Whether ``t`` can be an issue time with this geometry."""
        try:
            k = self.index(t)
        except FeatureError:
            return False
        lo, hi = self.issue_range()
        return lo <= k <= hi


def _static_table(
    spec: FeatureSpec, ends: npt.NDArray[np.int64], cosz: FloatArray, ghi_clear: FloatArray,
    longitude: float,
) -> F32Array:
    """Time-only features for every grid index (rows past the end are NaN)."""
    n = ends.shape[0]
    hs = spec.horizon_steps
    cols = 2 + 2 * len(hs) + (4 if spec.calendar else 0)
    out = np.full((n, cols), np.nan, dtype=np.float64)
    out[:, 0], out[:, 1] = cosz, ghi_clear / GHI_SCALE
    for i, s in enumerate(hs):
        out[: n - s, 2 + 2 * i] = cosz[s:]
        out[: n - s, 3 + 2 * i] = ghi_clear[s:] / GHI_SCALE
    if not spec.calendar:
        return out.astype(np.float32)
    tod = 2.0 * np.pi * (((ends % _DAY_S) / 3600.0 + longitude / 15.0) % 24.0) / 24.0
    doy = 2.0 * np.pi * ((ends - 946728000) % _YEAR_S) / _YEAR_S  # from 2000-01-01 12:00
    out[:, -4], out[:, -3] = np.sin(tod), np.cos(tod)
    out[:, -2], out[:, -1] = np.sin(doy), np.cos(doy)
    return out.astype(np.float32)


# --------------------------------------------------------------------------
# the shared core
# --------------------------------------------------------------------------


def _kt_block(
    ghi: FloatArray, ghi_clear: FloatArray, ok: BoolArray
) -> tuple[FloatArray, FloatArray]:
    """Filled clear-sky index rows and valid fraction; inputs (rows, n), oldest first."""
    valid = ok & np.isfinite(ghi)
    kt = np.where(valid, clearsky_index(np.where(valid, ghi, 0.0), ghi_clear), np.nan)
    n = kt.shape[1]
    pos = np.arange(n)
    last = np.maximum.accumulate(np.where(valid, pos, -1), axis=1)  # nearest older valid
    nxt = np.minimum.accumulate(np.where(valid, pos, n)[:, ::-1], axis=1)[:, ::-1]
    src = np.where(last >= 0, last, nxt)
    rows = np.arange(kt.shape[0])[:, None]
    filled = np.where(src < n, kt[rows, np.minimum(src, n - 1)], KT_DEFAULT)
    frac = valid.sum(axis=1) / n
    return filled, frac


def _temp_feature(temp: FloatArray) -> FloatArray:
    return np.where(np.isfinite(temp), (temp - TEMP_REF) / TEMP_SCALE, 0.0)


def compute_features(
    spec: FeatureSpec,
    geometry: DailyGeometry,
    history: Sequence[float] | FloatArray,
    issue_time: Any,
    *,
    temp_air: float = math.nan,
) -> F32Array:
    """The feature vector for one issue time (the edge, every step).

    Parameters
    ----------
    spec : FeatureSpec
        Must be the spec ``geometry`` was built with.
    geometry : DailyGeometry
        Covering ``issue_time`` (see :meth:`DailyGeometry.covers_issue`).
    history : sequence of float
        Mean measured GHI of the last ``history_steps`` periods, oldest
        first, the last one ending at ``issue_time``; NaN where missing.
        [W/m²]
    issue_time : datetime or float
        End of the last measured period, on the grid (aware datetime or
        epoch seconds).
    temp_air : float
        Air temperature at the issue time; NaN when unknown. [°C]

    Returns
    -------
    numpy.ndarray
        float32, shape ``(spec.n_features,)``, in ``spec.names`` order.

    Raises
    ------
    FeatureError
        Wrong history length, spec mismatch, or ``issue_time`` outside the
        geometry.
    """
    if geometry.spec is not spec and geometry.spec != spec:
        raise FeatureError("geometry was built for a different FeatureSpec")
    n = spec.history_steps
    values = [float(v) for v in history]
    if len(values) != n:
        raise FeatureError(f"history has {len(values)} values, the spec needs {n}")
    k = geometry.index(issue_time)
    lo, hi = geometry.issue_range()
    if not lo <= k <= hi:
        raise FeatureError(f"issue time {issue_time!r} is outside the precomputed geometry")
    kt, frac = _kt_row(values, geometry.ghi_clear_list[k - n + 1: k + 1],
                       geometry.kt_ok_list[k - n + 1: k + 1])
    out = np.empty(spec.n_features, dtype=np.float32)
    out[:n] = kt
    out[n] = frac
    out[n + 1: n + 1 + geometry.static.shape[1]] = geometry.static[k]
    if spec.use_temperature:
        out[-1] = (temp_air - TEMP_REF) / TEMP_SCALE if math.isfinite(temp_air) else 0.0
    return out


def _kt_row(ghi: list[float], ghi_clear: list[float], ok: list[bool]) -> tuple[list[float], float]:
    """Scalar twin of :func:`_kt_block` for one row (same IEEE operations)."""
    n = len(ghi)
    kt: list[float | None] = [None] * n
    for i in range(n):
        g = ghi[i]
        if ok[i] and math.isfinite(g):
            kt[i] = min(max(g / max(ghi_clear[i], GHI_CLEAR_MIN), 0.0), KT_MAX)
    good = [v for v in kt if v is not None]
    if not good:
        return [KT_DEFAULT] * n, 0.0
    out: list[float] = []
    prev: float | None = None
    for v in kt:
        if v is not None:
            prev = v
        out.append(prev if prev is not None else good[0])
    return out, len(good) / n


def compute_feature_matrix(
    spec: FeatureSpec,
    frame: Any,
    geometry: DailyGeometry,
) -> F32Array:
    """Feature rows for every row of ``frame`` as an issue time (the trainer).

    Identical, row by row, to :func:`compute_features` on the same window.

    Parameters
    ----------
    spec : FeatureSpec
    frame : pandas.DataFrame
        On the spec's grid: UTC index of period ends, one row per step with
        no gaps in the index (missing values are NaN), columns ``ghi``
        [W/m²] and, with ``use_temperature``, ``temp_air`` [°C]. History
        before the first row counts as missing.
    geometry : DailyGeometry
        Built with :meth:`DailyGeometry.for_range` over ``frame``'s index.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(len(frame), spec.n_features)``.
    """
    if geometry.spec != spec:
        raise FeatureError("geometry was built for a different FeatureSpec")
    if "ghi" not in frame.columns:
        raise FeatureError("frame has no 'ghi' column")
    rows = len(frame)
    if rows == 0:
        return np.empty((0, spec.n_features), dtype=np.float32)
    ks = _frame_indices(frame, geometry)
    lo, hi = geometry.issue_range()
    if ks[0] < lo or ks[-1] > hi:
        raise FeatureError("frame reaches outside the precomputed geometry")
    n = spec.history_steps
    ghi = np.concatenate([np.full(n - 1, np.nan), frame["ghi"].to_numpy(dtype=np.float64)])
    win = np.lib.stride_tricks.sliding_window_view(ghi, n)
    gidx = ks[:, None] + np.arange(-n + 1, 1)[None, :]
    kt, frac = _kt_block(np.ascontiguousarray(win), geometry.ghi_clear[gidx],
                         geometry.kt_ok[gidx])
    out = np.empty((rows, spec.n_features), dtype=np.float32)
    out[:, :n] = kt
    out[:, n] = frac
    ns = geometry.static.shape[1]
    out[:, n + 1: n + 1 + ns] = geometry.static[ks]
    if spec.use_temperature:
        temp = (frame["temp_air"].to_numpy(dtype=np.float64) if "temp_air" in frame.columns
                else np.full(rows, np.nan))
        out[:, -1] = _temp_feature(temp)
    return out


def _frame_indices(frame: Any, geometry: DailyGeometry) -> npt.NDArray[np.int64]:
    """Grid indices of a regular frame's period ends."""
    idx = frame.index
    if getattr(idx, "tz", None) is None:
        raise FeatureError("frame index must be timezone-aware UTC")
    sec = idx.tz_convert("UTC").as_unit("s").asi8.astype(np.int64)
    step = geometry.spec.step_seconds
    ks = (sec - geometry.t0) // step
    if np.any((sec - geometry.t0) % step) or np.any(np.diff(ks) != 1):
        raise FeatureError(
            f"frame index must be consecutive {geometry.spec.step_minutes}-min period ends"
        )
    return np.asarray(ks, dtype=np.int64)
