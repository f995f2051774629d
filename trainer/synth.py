"""Synthetic site data in the ``csv`` format: the one sky model plus the array.

Responsible for: sampling :func:`edge.simulation.sky.synthetic_weather`
(the sky model the device simulators use) on a one-minute grid, adding the
site's AC PV power from :func:`edge.forecasting.forecast.pv_power` (the forecast physics),
and averaging both to the requested step, labelled at the END of each period
(the ``csv`` convention of :mod:`trainer.data`).

Does NOT: model the battery or curtailment (PV is what the array could
give), write files (the ``synth`` command does), or hold state.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from edge.forecasting.forecast import pv_power
from edge.forecasting.site import Site
from edge.simulation.sky import synthetic_weather

__all__ = ["SYNTH_COLUMNS", "synthesize"]

#: Columns written, after ``timestamp``.
SYNTH_COLUMNS = ("ghi", "dni", "dhi", "temp_air", "pv_power")


def synthesize(
    site: Site, start: dt.date, days: int, *, step_minutes: int = 1, seed: int = 0
) -> pd.DataFrame:
    """Period means of synthetic weather and PV power.

    Parameters
    ----------
    site : edge.forecasting.site.Site
        Location, turbidity and array.
    start : datetime.date
        First UTC day.
    days : int
        Number of days (>= 1).
    step_minutes : int
        Output step; must divide a day. [minutes]
    seed : int
        Seed of the cloud process.

    Returns
    -------
    pandas.DataFrame
        Indexed by period end (UTC), columns :data:`SYNTH_COLUMNS`: ``ghi``,
        ``dni``, ``dhi`` [W/m²], ``temp_air`` [°C], ``pv_power`` [W].
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    if step_minutes < 1 or 1440 % step_minutes:
        raise ValueError(f"step {step_minutes} min must be whole minutes dividing a day")
    begin = pd.Timestamp(start, tz="UTC")
    minutes = pd.date_range(begin, periods=days * 1440, freq="1min") + pd.Timedelta(seconds=30)
    wx = synthetic_weather(site.site, minutes, seed=seed)
    frame = wx[["ghi", "dni", "dhi", "temp_air"]].copy()
    frame["pv_power"] = pv_power(
        wx["ghi"], wx["dni"], wx["dhi"], wx["zenith"], wx["azimuth"],
        array=site.array, temp_air=wx["temp_air"],
    )
    # minute centres -> period ends: every minute lies inside one period
    out = frame.resample(f"{step_minutes}min", closed="right", label="right",
                         origin=begin).mean()
    out.index.name = "timestamp"
    return out
