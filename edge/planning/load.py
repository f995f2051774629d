"""Load forecast from the site's own 15-min history, chosen per site by walk-forward validation.

Responsible for: three candidates on a history matrix ``H`` of shape
``(days, periods_per_day)`` whose rows are consecutive 24-h blocks ending at
the issue time (row ``-1`` ends at the issue time, column ``c`` of every row
is the same time of day):

``persistence``
    the same time yesterday (the most recent day that measured that period);
``multiday``
    a weighted same-time average of the last :data:`MULTIDAY_DAYS` days,
    weights falling by :data:`MULTIDAY_DECAY` per day back (Predbat's
    ``days_previous`` / ``days_previous_weight`` approach,
    https://springfall2008.github.io/batpred/);
``median``
    the same-time median of the last :data:`MEDIAN_DAYS` days (the P50 is a
    median, and a kettle that ran at 07:10 yesterday should not be
    forecast today: appliance spikes pull a mean toward them);
``weekday``
    the same-time median over past days of the same kind (Monday-Friday or
    Saturday-Sunday, local time) of up to four weeks (EMHASS's "typical"
    profile idea, https://emhass.readthedocs.io/).

The median forecasts carry less energy than a mean when loads are spiky;
the plan's load scenarios add whole days of residuals, which put it back.

:func:`select` scores each on the last :data:`VALIDATION_DAYS` days, each
day forecast from the days before it only, picks the lowest MAE and
reports its skill against persistence (``1 - MAE / MAE_persistence``). The
P10/P90 come from the chosen method's walk-forward residuals per local hour
of day. With fewer than :data:`MIN_DAYS` usable days the site file's
``[load]`` (daily energy, base power, :func:`site_file_profile`'s evening
peak shape) is the forecast, method ``"site_file"``.

Does NOT: hold the history (``edge.planning.history``) or read a clock.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import numpy.typing as npt

from edge.forecasting.site import LoadConfig

__all__ = [
    "METHODS",
    "LoadModel",
    "forecast",
    "local_slots",
    "select",
    "site_file_profile",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

METHODS = ("persistence", "multiday", "median", "weekday")
#: Days averaged by ``multiday`` and the weight ratio from one day to the one before.
MULTIDAY_DAYS, MULTIDAY_DECAY = 7, 0.8
#: Days of the ``median`` profile.
MEDIAN_DAYS = 14
#: Days searched for same-kind days by ``weekday``.
WEEKDAY_DAYS = 28
#: Days scored in the walk-forward selection.
VALIDATION_DAYS = 14
#: Usable days (at least half the periods measured) needed before leaving the site file.
MIN_DAYS = 2
#: Log-normal spread of the site-file fallback (per day and per period). [-]
SITE_FILE_SIGMA_DAY, SITE_FILE_SIGMA_STEP = 0.25, 0.25
#: Daily peaks of the site-file shape: (local hour, width [h], weight).
_SITE_FILE_PEAKS = ((7.0, 1.0, 0.6), (13.0, 2.5, 0.25), (20.0, 1.5, 1.0))
_Z90 = 1.2815515655446004


def local_slots(k: IntArray, step_s: int, utc_offset_s: int) -> tuple[IntArray, IntArray]:
    """Local hour of day [h] and weekend flag (1 Saturday/Sunday) of period ends ``k``.

    The hour is that of the period's middle.
    """
    mid = k * step_s - step_s // 2 + utc_offset_s
    hour = (mid % 86400) // 3600
    weekday = (mid // 86400 + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    return hour.astype(np.int64), (weekday >= 5).astype(np.int64)


def site_file_profile(cfg: LoadConfig, hours: FloatArray) -> FloatArray:
    """Load from the site file's ``[load]`` at local hours ``hours``. [W]

    ``base_power`` always, plus an evening-peak shape (small morning and
    midday bumps) scaled so a whole day draws ``daily_energy``; a day
    energy below ``24 x base_power`` gives a flat profile.
    """
    grid = np.asarray((np.arange(96) + 0.5) / 4.0, dtype=np.float64)
    shape_grid = _shape(grid)
    variable = cfg.daily_energy - 24.0 * cfg.base_power
    if variable <= 0.0:
        return np.full(hours.shape, cfg.daily_energy / 24.0)
    scale = variable / (float(shape_grid.sum()) * 0.25)
    return np.asarray(cfg.base_power + scale * _shape(hours), dtype=np.float64)


def _shape(hours: FloatArray) -> FloatArray:
    out = np.zeros_like(hours, dtype=np.float64)
    for centre, width, weight in _SITE_FILE_PEAKS:
        d = (hours - centre + 12.0) % 24.0 - 12.0
        out += weight * np.exp(-0.5 * (d / width) ** 2)
    return out


def _nan_weighted_mean(rows: FloatArray, weights: FloatArray) -> FloatArray:
    ok = np.isfinite(rows)
    w = np.where(ok, weights[:, None], 0.0)
    tot = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, (np.where(ok, rows, 0.0) * w).sum(axis=0) / tot, np.nan)


def _nan_median(rows: FloatArray) -> FloatArray:
    ok = np.isfinite(rows)
    if ok.all():
        return np.asarray(np.median(rows, axis=0), dtype=np.float64)
    out = np.full(rows.shape[1], np.nan)
    cols = ok.any(axis=0)
    if cols.any():
        with np.errstate(all="ignore"):
            out[cols] = np.nanmedian(rows[:, cols], axis=0)
    return out


def forecast(method: str, h: FloatArray, weekend: IntArray, avail: int,
             target_weekend: IntArray) -> FloatArray:
    """One 24-h block forecast by ``method`` from rows ``h[:avail]``. [W]

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    h : numpy.ndarray
        ``(days, per_day)`` load history [W], NaN where missing.
    weekend : numpy.ndarray
        ``(days, per_day)`` weekend flags of the history periods.
    avail : int
        Rows usable (the days before the target).
    target_weekend : numpy.ndarray
        ``(per_day,)`` weekend flags of the target periods.

    Returns
    -------
    numpy.ndarray
        ``(per_day,)``; NaN where no past day measured that period.
    """
    past = h[:avail]
    if method == "persistence":
        out = np.full(h.shape[1], np.nan)
        for r in range(avail - 1, max(avail - MULTIDAY_DAYS, 0) - 1, -1):
            out = np.where(np.isfinite(out), out, past[r])
            if np.isfinite(out).all():
                break
        return out
    if method == "multiday":
        rows = past[max(avail - MULTIDAY_DAYS, 0):]
        w = MULTIDAY_DECAY ** np.arange(rows.shape[0] - 1, -1, -1, dtype=np.float64)
        return _nan_weighted_mean(rows, w)
    if method == "median":
        return _nan_median(past[max(avail - MEDIAN_DAYS, 0):])
    if method == "weekday":
        lo = max(avail - WEEKDAY_DAYS, 0)
        same = weekend[lo:avail] == target_weekend[None, :]
        out = _nan_median(np.where(same, past[lo:], np.nan))
        # no day of the same kind yet: the median of all days
        return np.where(np.isfinite(out), out, forecast("median", h, weekend, avail,
                                                        target_weekend))
    raise ValueError(f"unknown load method {method!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class LoadModel:
    """The chosen load method of a site and its walk-forward record.

    Attributes
    ----------
    method : str
        ``persistence`` | ``multiday`` | ``weekday`` | ``site_file``.
    mae : dict
        Walk-forward MAE per candidate method. [W]
    skill : float
        ``1 - MAE / MAE_persistence`` of the chosen method (0 for persistence,
        NaN for the site file). [-]
    residual_q : numpy.ndarray
        ``(24, 2)``: P10 and P90 of ``measured - forecast`` per local hour. [W]
    residuals : numpy.ndarray
        ``(days, per_day)`` walk-forward residuals of the chosen method,
        rows aligned like the history at ``issue_k`` (0 where unknown). [W]
    issue_k : int
        Grid index of the issue time the residual rows end at.
    validation_days : int
        Days scored.
    """

    method: str
    mae: dict[str, float]
    skill: float
    residual_q: FloatArray
    residuals: FloatArray
    issue_k: int
    validation_days: int


def usable_days(h: FloatArray) -> int:
    """Rows with at least half their periods measured."""
    return int(np.count_nonzero(np.isfinite(h).mean(axis=1) >= 0.5))


def select(h: FloatArray, weekend: IntArray, hours: IntArray, issue_k: int,
           methods: tuple[str, ...] = METHODS) -> LoadModel:
    """Walk-forward selection of the load method on a site's own history.

    Each of the last :data:`VALIDATION_DAYS` rows (with at least one row before
    it) is forecast from the rows before it only; the method with the lowest
    MAE over all scored periods wins (ties go to the earlier method).

    Parameters
    ----------
    h, weekend, hours : numpy.ndarray
        ``(days, per_day)`` load [W], weekend flags and local hours.
    issue_k : int
        Grid index of the end of the last row.
    """
    per_day = h.shape[1]
    if usable_days(h) < MIN_DAYS:
        return LoadModel("site_file", {}, math.nan, np.zeros((24, 2)),
                         np.zeros((1, per_day)), issue_k, 0)
    first = max(1, h.shape[0] - VALIDATION_DAYS)
    rows = range(first, h.shape[0])
    preds = {m: np.stack([forecast(m, h, weekend, r, weekend[r]) for r in rows])
             for m in methods}
    actual = h[first:]
    mae: dict[str, float] = {}
    for m, p in preds.items():
        err = np.abs(actual - p)
        mae[m] = float(np.nanmean(err)) if np.isfinite(err).any() else math.inf
    best = min(methods, key=lambda m: mae[m])
    resid = actual - preds[best]
    q = np.zeros((24, 2))
    hrs = hours[first:]
    for hr in range(24):
        v = resid[(hrs == hr) & np.isfinite(resid)]
        if v.size >= 4:
            q[hr] = np.quantile(v, (0.1, 0.9))
    base = mae.get("persistence", math.nan)
    skill = 1.0 - mae[best] / base if base > 0 and math.isfinite(base) else math.nan
    return LoadModel(best, mae, skill, q, np.nan_to_num(resid), issue_k, len(rows))


def site_file_sigma() -> float:
    """Total log-normal spread of the site-file fallback per period. [-]"""
    return math.hypot(SITE_FILE_SIGMA_DAY, SITE_FILE_SIGMA_STEP)


def site_file_quantiles(p50: FloatArray) -> tuple[FloatArray, FloatArray]:
    """P10 and P90 of the site-file fallback around its median ``p50``. [W]"""
    s = site_file_sigma()
    return p50 * math.exp(-_Z90 * s), p50 * math.exp(_Z90 * s)
