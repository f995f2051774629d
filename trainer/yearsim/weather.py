"""A weather file as the year simulation's truth: read, relocated, stamped onto the run's years.

Responsible for: :func:`load_file_weather`, which reads a file with
:func:`trainer.data.read_weather` (units, interval centres, the TMY year
coercion exactly as ``helio-train fit`` reads it), builds the site at the
file's location (latitude, longitude, altitude and time zone from its
metadata, monthly Linke turbidity from :mod:`trainer.linke`) with the site
file's array, battery, inverter and load, and re-stamps the rows onto the
simulated years by UTC month, day and hour (typical-year files mix source
years); a leap day the file lacks repeats the day before.

Does NOT: interpolate to minutes (:class:`edge.simulation.sky.WeatherFileSky`)
or quality-control the values.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edge.forecasting.site import Site
from trainer.data import read_weather, site_from_metadata
from trainer.linke import with_linke_turbidity

__all__ = ["FileWeather", "load_file_weather"]


@dataclasses.dataclass(frozen=True, slots=True)
class FileWeather:
    """A weather file ready for :class:`~trainer.yearsim.scenario.Scenario`.

    Attributes
    ----------
    site : Site
        The site file's plant at the file's location.
    frame : pandas.DataFrame
        Canonical rows (``ghi``, ``dni``, ``dhi`` [W/m²], ``temp_air`` [°C])
        on the simulated years, UTC, at interval centres.
    path : Path
        The file.
    name : str
        The file's station name (or the file name).
    """

    site: Site
    frame: pd.DataFrame
    path: Path
    name: str


def _timezone(meta: dict[str, Any]) -> str:
    """The file's standard time as an ``Etc/GMT`` zone (the load's local clock), else UTC."""
    tz = meta.get("TZ")
    try:
        hours = float(tz)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "UTC"
    if not hours.is_integer() or hours == 0:
        return "UTC"
    return f"Etc/GMT{-int(hours):+d}"


def _onto_year(frame: pd.DataFrame, year: int) -> pd.DataFrame:
    idx = pd.DatetimeIndex(frame.index)
    stamps = pd.to_datetime(
        pd.DataFrame({"year": year, "month": idx.month, "day": idx.day, "hour": idx.hour,
                      "minute": idx.minute}),
        errors="coerce", utc=True,
    )
    ok = stamps.notna().to_numpy()  # a source Feb 29 has no place in a common year
    out = frame.iloc[np.flatnonzero(ok)].copy()
    out.index = pd.DatetimeIndex(stamps[ok], name="time")
    return out[~out.index.duplicated(keep="first")]


def load_file_weather(
    path: str | Path, fmt: str, site: Site, *, start: datetime, days: int
) -> FileWeather:
    """Read ``path`` and stamp it onto the years of a run of ``days`` from ``start``.

    Raises
    ------
    trainer.data.DataError
        The file cannot be read (see :func:`~trainer.data.read_weather`).
    """
    path = Path(path)
    frame, meta = read_weather(path, fmt)
    where = site_from_metadata(meta)
    where = dataclasses.replace(with_linke_turbidity(where), timezone=_timezone(meta))
    end = start + timedelta(days=days)
    years = [_onto_year(frame, y) for y in range(start.year - 1, end.year + 2)]
    stamped = pd.concat(years).sort_index()
    stamped = stamped[~stamped.index.duplicated(keep="first")]
    step = pd.Timedelta(minutes=float(meta["interval_minutes"]) or 60.0)
    grid = pd.date_range(stamped.index[0], stamped.index[-1], freq=step, name="time")
    full = stamped.reindex(grid)
    full = full.fillna(stamped.shift(freq=pd.Timedelta(days=1)).reindex(grid))
    full.attrs = dict(frame.attrs)
    name = where.name or path.name
    return FileWeather(site=dataclasses.replace(site, site=where), frame=full, path=path,
                       name=name)
