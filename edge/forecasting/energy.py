"""Expected PV energy from a power forecast: next hours and the rest of the day.

Responsible for: turning the P10/P50/P90 PV power of the forecast horizons
into energy [Wh] over the next ``ahead_min`` minutes and until the end of
the site's local day, for energy-management tools (EMHASS, Predbat-style
automations) that plan with energy, not power.

Does NOT: run the model or publish anything.

Method. The model forecasts a few horizons (e.g. 15, 30, 60, 120, 180 min).
Between them, and after the last one, each quantile's *PV clear-sky index*
(forecast power over the array's clear-sky power for the same period) is
interpolated linearly in time and held after the last horizon; times the
clear-sky power of every step period, clipped to the inverter limit, it
gives a power per period, summed as energy. The index is capped at
:data:`edge.forecasting.reference.PV_INDEX_HOLD_MAX` (1.3, not the 1.5 of
one period's clip: an index held for hours is not a brief cloud
enhancement); a period with clear-sky power below
:data:`~edge.forecasting.reference.USABLE_FRACTION` of the DC capacity
defines no index. Beyond the last horizon this is
persistence of the clear-sky index: the further ahead, the less it knows.
Quantiles are summed period by period, which treats errors as fully
correlated across periods: the P10-P90 band of the sum is wide, not narrow
(conservative for planning). When no horizon has enough sun to define an
index (before dawn) while the rest of the day has sun, the energy is
unknown (None) rather than guessed.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import numpy as np

from edge.forecasting.reference import (
    PV_INDEX_HOLD_MAX,
    QUANTILE_NAMES,
    USABLE_FRACTION,
    clear_sky_pv,
)
from edge.forecasting.site import Site
from edge.forecasting.solar import clear_sky_arrays

__all__ = ["QUANTILES", "energy_outlook", "local_day_end"]

#: Quantile names of the result (:data:`edge.forecasting.reference.QUANTILE_NAMES`).
QUANTILES = QUANTILE_NAMES


def local_day_end(issue_time: dt.datetime, timezone: str) -> dt.datetime:
    """The next local midnight after ``issue_time`` at the site, in UTC."""
    local = issue_time.astimezone(ZoneInfo(timezone))
    nxt = (local + dt.timedelta(days=1)).date()
    midnight = dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=ZoneInfo(timezone))
    return midnight.astimezone(dt.UTC)


def energy_outlook(
    site: Site,
    issue_time: dt.datetime,
    horizons_min: Sequence[int],
    pv_quantiles: Sequence[Sequence[float]],
    step_minutes: int,
    *,
    ahead_min: int = 180,
) -> dict[str, object]:
    """Expected PV energy for the next ``ahead_min`` and for the rest of the local day.

    Parameters
    ----------
    site : Site
        Location (timezone) and array.
    issue_time : datetime
        End of the last measured period (UTC).
    horizons_min : sequence of int
        Forecast horizons: horizon ``h`` is the period ending ``h`` minutes
        after ``issue_time``. [min]
    pv_quantiles : sequence of (p10, p50, p90)
        Mean PV power of each horizon's period. [W]
    step_minutes : int
        Period length. [min]
    ahead_min : int
        Length of the near-term window. [min]

    Returns
    -------
    dict
        ``{"next_3h": {p10, p50, p90}, "rest_of_today": {p10, p50, p90},
        "day_end": datetime}``; energies in [Wh], None where unknown. The
        first key is named after ``ahead_min`` (``next_<n>h``, or
        ``next_<n>min`` when not whole hours).
    """
    if issue_time.tzinfo is None:
        raise ValueError("issue_time must be timezone-aware (UTC)")
    step = dt.timedelta(minutes=step_minutes)
    day_end = local_day_end(issue_time, site.site.timezone)
    n_day = max(int((day_end - issue_time) / step), 0)
    n_ahead = max(ahead_min // step_minutes, 0)
    n = max(n_day, n_ahead)
    key = f"next_{ahead_min // 60}h" if ahead_min % 60 == 0 else f"next_{ahead_min}min"
    empty = dict.fromkeys(QUANTILES, 0.0)
    if n == 0:
        return {key: empty, "rest_of_today": dict(empty), "day_end": day_end}
    issue_s = issue_time.timestamp()
    centres = issue_s + (np.arange(n, dtype=np.float64) + 0.5) * step.total_seconds()
    geo = clear_sky_arrays(site.site, centres)
    clear = np.nan_to_num(clear_sky_pv(site, geo))
    minutes = np.arange(1, n + 1) * step_minutes
    floor = USABLE_FRACTION * site.array.dc_capacity
    power = np.full((n, 3), np.nan)
    for qi in range(3):
        xs, ys = [], []
        for h, q in zip(horizons_min, pv_quantiles, strict=True):
            j = int(h) // step_minutes - 1
            if 0 <= j < n and clear[j] > floor and math.isfinite(q[qi]):
                xs.append(float(h))
                ys.append(min(max(float(q[qi]), 0.0) / clear[j], PV_INDEX_HOLD_MAX))
        if xs:
            power[:, qi] = np.interp(minutes, xs, ys) * clear
    power = np.sort(np.clip(power, 0.0, site.array.ac_limit), axis=1)  # keep p10 <= p50 <= p90
    wh = power * step_minutes / 60.0

    def total(rows: int) -> dict[str, float | None]:
        part, sky = wh[:rows], clear[:rows]
        if np.isnan(part).any():
            if float(sky[np.isnan(part[:, 1])].sum()) <= floor:  # only darkness is unknown
                part = np.nan_to_num(part)
            else:
                return dict.fromkeys(QUANTILES, None)
        return {q: round(float(v), 1) for q, v in zip(QUANTILES, part.sum(axis=0), strict=True)}

    return {key: total(n_ahead), "rest_of_today": total(n_day), "day_end": day_end}
