"""PV beyond the bundle's horizons: the site's clear-sky index climatology, blended with the model.

Responsible for: the clear-sky index ``kt = delivered PV / clear-sky PV``
of the site's own measured periods (clear-sky PV from the project's one PV
chain, :mod:`edge.planning.geometry`; periods curtailed by a full battery,
clipped at the charger limit or with the sun too low carry no index, as in
``edge.forecasting.engine``); :class:`KtClimatology`, the history of daily kt
rows by local time of day, with P10/P50/P90 per local hour; sampling PV
scenarios as whole-day kt blocks (a cloudy day stays cloudy all day, so the
scenarios carry the day-to-day correlation that makes a night short of
energy); without history a stated prior kt distribution
(:data:`PRIOR_KT`); and :func:`blend_model`, which puts the bundle's
P10/P50/P90 forecast on the scenarios where its horizons reach, fading
linearly to the climatology over the :data:`BLEND_MIN` minutes after its
last horizon.

Season: the planner keeps ``history_days`` (28 by default) of history, so
the climatology is a rolling window that follows the season rather than a
per-season table.

Does NOT: decide how much PV the battery takes (``edge.planning.plan``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edge.forecasting.features import KT_MAX

__all__ = [
    "BLEND_MIN",
    "PRIOR_KT",
    "KtClimatology",
    "blend_model",
    "clear_sky_index",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Clear-sky PV below this share of the DC capacity gives no index (as the engine). [-]
USABLE_FRACTION = 0.02
#: PV at or above this share of the charger limit is clipped: no index. [-]
CLIP = 0.98
#: Days with at least this many valid daylight periods count for the climatology.
MIN_VALID_PERIODS = 8
#: Days of climatology needed before leaving the prior.
MIN_DAYS = 3
#: Prior daily clear-sky index without history, as (quantile level, kt) knots of a
#: piecewise-linear distribution; a wide tropical prior (P10 0.35, P50 0.70, P90 0.90),
#: not calibrated on any site. [-]
PRIOR_KT = ((0.0, 0.15), (0.1, 0.35), (0.5, 0.70), (0.9, 0.90), (1.0, 1.0))
#: Minutes after the model's last horizon over which it fades to the climatology.
BLEND_MIN = 60.0


def clear_sky_index(pv: FloatArray, clear: FloatArray, curtailed: BoolArray,
                    dc_capacity: float, ac_limit: float) -> FloatArray:
    """Clear-sky index of measured periods, NaN where the period says nothing about the sky.

    Parameters
    ----------
    pv, clear : numpy.ndarray
        Delivered and clear-sky PV power. [W]
    curtailed : numpy.ndarray of bool
    dc_capacity, ac_limit : float
        [W]

    Returns
    -------
    numpy.ndarray
        ``kt`` in ``[0, KT_MAX]``. [-]
    """
    ok = (np.isfinite(pv) & ~curtailed & (clear > USABLE_FRACTION * dc_capacity)
          & (pv < CLIP * ac_limit))
    with np.errstate(divide="ignore", invalid="ignore"):
        kt = np.clip(pv / np.where(ok, clear, 1.0), 0.0, KT_MAX)
    return np.where(ok, kt, np.nan)


@dataclasses.dataclass(frozen=True, slots=True)
class KtClimatology:
    """Daily kt rows of the site by local period of day, and their per-hour quantiles.

    Attributes
    ----------
    rows : numpy.ndarray
        ``(days, per_day)`` kt per local-day period (column 0 is the period
        after local midnight); gaps inside a day filled from that day's
        mean index; empty when there is no usable history. [-]
    quantiles : numpy.ndarray
        ``(24, 3)`` P10/P50/P90 of kt per local hour (the prior's where
        a hour has no data). [-]
    method : str
        ``"climatology"`` or ``"clear_sky_prior"``.
    """

    rows: FloatArray
    quantiles: FloatArray
    method: str

    @classmethod
    def build(cls, kt: FloatArray, hours: IntArray) -> KtClimatology:
        """From ``kt`` of shape ``(days, per_day)`` in local-day rows and their local hours."""
        prior_q = np.array([_prior_inv(u) for u in (0.1, 0.5, 0.9)])
        valid = np.isfinite(kt)
        good = valid.sum(axis=1) >= MIN_VALID_PERIODS
        q = np.tile(prior_q, (24, 1))
        if int(good.sum()) < MIN_DAYS:
            return cls(np.zeros((0, kt.shape[1])), q, "clear_sky_prior")
        rows = kt[good]
        for hr in range(24):
            v = rows[(hours[good] == hr) & np.isfinite(rows)]
            if v.size >= 4:
                q[hr] = np.quantile(v, (0.1, 0.5, 0.9))
        day_mean = np.nanmean(rows, axis=1, keepdims=True)
        filled = np.where(np.isfinite(rows), rows, day_mean)
        return cls(filled, q, "climatology")

    def sample(self, rng: np.random.Generator, slots: IntArray, day_of_step: IntArray,
               n_scenarios: int) -> FloatArray:
        """kt scenarios ``(steps, n_scenarios)``: one history day (or prior draw) per local day.

        Parameters
        ----------
        slots : numpy.ndarray
            Local period-of-day column of each plan step.
        day_of_step : numpy.ndarray
            0, 1, 2 ... the local day each plan step falls in.
        """
        n_days = int(day_of_step.max()) + 1
        if self.method == "clear_sky_prior":
            u = rng.random((n_days, n_scenarios))
            day_kt = np.interp(u, [p for p, _ in PRIOR_KT], [k for _, k in PRIOR_KT])
            return np.asarray(day_kt[day_of_step], dtype=np.float64)
        pick = rng.integers(0, self.rows.shape[0], size=(n_days, n_scenarios))
        return np.asarray(self.rows[pick[day_of_step], slots[:, None]], dtype=np.float64)


def _prior_inv(u: float) -> float:
    return float(np.interp(u, [p for p, _ in PRIOR_KT], [k for _, k in PRIOR_KT]))


def _model_quantiles(minutes: FloatArray, horizons_min: Sequence[int],
                     rows: Sequence[Sequence[float]], clear: FloatArray) -> FloatArray:
    """Model P10/P50/P90 [W] at plan steps ``minutes`` after its issue time.

    Linear in the horizon between the model's horizons; past the last one,
    its clear-sky index held (the last horizon's power scaled by clear sky).
    """
    hz = np.asarray(horizons_min, dtype=np.float64)
    q = np.sort(np.asarray(rows, dtype=np.float64).reshape(len(hz), 3), axis=1)
    out = np.stack([np.interp(minutes, hz, q[:, i]) for i in range(3)], axis=1)
    beyond = minutes > hz[-1]
    if beyond.any():
        at_last = np.flatnonzero(minutes == hz[-1])
        ref = float(clear[at_last[0]]) if at_last.size else 0.0
        # sun (nearly) down at the last horizon: nothing to hold, the climatology takes over
        ratio = clear / ref if ref > 0.02 * max(float(clear.max()), 1.0) else clear * np.nan
        out[beyond] = q[-1] * ratio[beyond, None]
    return out


def blend_model(potential: FloatArray, clear: FloatArray, step_minutes_after_issue: FloatArray,
                horizons_min: Sequence[int], rows: Sequence[Sequence[float]], *,
                ac_limit: float) -> tuple[FloatArray, int]:
    """Put the bundle's forecast on the PV scenarios where its horizons reach.

    Each scenario keeps its rank among the scenarios at a step (so the
    whole-day correlation of the climatology survives) and takes the value
    of the model's distribution at that rank (piecewise linear through its
    P10/P50/P90, tails extended with the neighbouring slope); the weight on
    the model is 1 up to its last horizon and falls linearly to 0 over
    :data:`BLEND_MIN` minutes.

    Parameters
    ----------
    potential : numpy.ndarray
        ``(steps, scenarios)`` climatology PV scenarios. [W]
    clear : numpy.ndarray
        ``(steps,)`` clear-sky PV. [W]
    step_minutes_after_issue : numpy.ndarray
        ``(steps,)`` minutes from the model's issue time to each step's end.
    horizons_min, rows :
        The ``ForecastResult``'s horizons [min] and ``pv_power`` rows [W].

    Returns
    -------
    blended : numpy.ndarray
        Same shape as ``potential``. [W]
    steps : int
        Number of leading steps the model touched.
    """
    last = float(max(horizons_min))
    m = step_minutes_after_issue
    w = np.clip(1.0 - (m - last) / BLEND_MIN, 0.0, 1.0) * (m > 0)
    if not np.any(m == last):
        w = np.where(m > last, 0.0, w)  # no step at the last horizon to hold its index from
    n = int(np.count_nonzero(w > 0))
    if n == 0:
        return potential, 0
    sel = np.flatnonzero(w > 0)
    q = _model_quantiles(m[sel], horizons_min, rows, clear[sel])
    block = potential[sel]
    s = block.shape[1]
    ranks = np.argsort(np.argsort(block, axis=1, kind="stable"), axis=1)
    u = (ranks + 0.5) / s
    w_sel = np.where(np.isfinite(q[:, 1]), w[sel], 0.0)
    q = np.nan_to_num(q)
    p10, p50, p90 = q[:, 0:1], q[:, 1:2], q[:, 2:3]
    lo = p10 + (u - 0.1) * (p50 - p10) / 0.4
    hi = p50 + (u - 0.5) * (p90 - p50) / 0.4
    model = np.where(u < 0.5, lo, hi)
    model = np.clip(model, 0.0, ac_limit)
    out = potential.copy()
    ws = w_sel[:, None]
    out[sel] = ws * model + (1.0 - ws) * block
    return out, n


def no_history_quantiles() -> tuple[float, float, float]:
    """The prior's P10/P50/P90 daily kt. [-]"""
    return _prior_inv(0.1), _prior_inv(0.5), _prior_inv(0.9)


