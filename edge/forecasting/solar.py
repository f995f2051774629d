"""Solar geometry and clear-sky irradiance for a site, vectorised.

Responsible for: one vectorised pvlib call per block of timestamps (a day
at the agent's time step, a year in the trainer), returning plain columns
that feature and simulator code look values up in.

Does NOT: call pvlib per reading (about 5 ms a call), cache anything across
calls, or do I/O beyond pvlib's own turbidity lookup when the site gives no
monthly Linke turbidity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pvlib

from edge.forecasting.site import SiteConfig

__all__ = ["GEOMETRY_COLUMNS", "clear_sky", "location"]

#: Columns returned by :func:`clear_sky`.
GEOMETRY_COLUMNS = (
    "zenith",  # true solar zenith [degrees]
    "apparent_zenith",  # refraction-corrected zenith [degrees]
    "azimuth",  # solar azimuth, clockwise from north [degrees]
    "ghi_clear",  # clear-sky global horizontal irradiance [W/m2]
    "dni_clear",  # clear-sky direct normal irradiance [W/m2]
    "dhi_clear",  # clear-sky diffuse horizontal irradiance [W/m2]
    "dni_extra",  # extraterrestrial normal irradiance [W/m2]
)


def location(site: SiteConfig) -> pvlib.location.Location:
    """The pvlib Location of ``site`` (UTC; data in this project is UTC)."""
    return pvlib.location.Location(
        site.latitude, site.longitude, tz="UTC", altitude=site.altitude, name=site.id
    )


def _linke(site: SiteConfig, times: pd.DatetimeIndex) -> pd.Series | None:
    if not site.linke_turbidity:
        return None  # pvlib looks it up in its climatology file
    monthly = np.asarray(site.linke_turbidity, dtype=float)
    return pd.Series(monthly[times.month.to_numpy() - 1], index=times)


def clear_sky(site: SiteConfig, times: pd.DatetimeIndex) -> pd.DataFrame:
    """Solar position and Ineichen clear-sky irradiance at ``times``.

    Parameters
    ----------
    site : SiteConfig
        Location; its twelve monthly Linke turbidity values are used when
        given.
    times : pandas.DatetimeIndex
        Timezone-aware timestamps (converted to UTC).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``times`` in UTC, with :data:`GEOMETRY_COLUMNS`. Zenith and
        azimuth in [degrees], irradiance in [W/m2].
    """
    if times.tz is None:
        raise ValueError("times must be timezone-aware (UTC)")
    times = times.tz_convert("UTC")
    loc = location(site)
    solpos = loc.get_solarposition(times)
    linke = _linke(site, times)
    # pvlib looks turbidity up only when the keyword is absent (None is not "absent")
    extra = {} if linke is None else {"linke_turbidity": linke}
    cs = loc.get_clearsky(times, model="ineichen", solar_position=solpos, **extra)
    dni_extra = pvlib.irradiance.get_extra_radiation(times)
    return pd.DataFrame(
        {
            "zenith": solpos["zenith"].to_numpy(dtype=float),
            "apparent_zenith": solpos["apparent_zenith"].to_numpy(dtype=float),
            "azimuth": solpos["azimuth"].to_numpy(dtype=float),
            "ghi_clear": cs["ghi"].to_numpy(dtype=float),
            "dni_clear": cs["dni"].to_numpy(dtype=float),
            "dhi_clear": cs["dhi"].to_numpy(dtype=float),
            "dni_extra": np.asarray(dni_extra, dtype=float),
        },
        index=times,
    )
