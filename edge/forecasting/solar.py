"""Solar geometry and clear-sky irradiance for a site, vectorised.

Responsible for: one vectorised call of the numpy solar core
(:mod:`edge.forecasting.sun`) per block of timestamps (a day at the
agent's time step, a year in the trainer), returning plain columns that
feature and simulator code look values up in: :func:`clear_sky_arrays`
(epoch seconds in, numpy arrays out; the device path) and
:func:`clear_sky` (the same as a pandas frame, for the trainer and the
laptop-side simulation; pandas is imported only when it is called).

The twelve monthly Linke turbidity values come from the site file; a site
without them raises :class:`LinkeTurbidityMissingError` (the device carries no
climatology file; ``trainer.linke.with_linke_turbidity`` fills them from
pvlib's for data sets without a site file).

Does NOT: call anything per reading, cache anything across calls, or do I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from edge.forecasting import sun
from edge.forecasting.site import SiteConfig

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GEOMETRY_COLUMNS", "LinkeTurbidityMissingError", "clear_sky", "clear_sky_arrays"]

FloatArray = npt.NDArray[np.float64]

#: Columns returned by :func:`clear_sky`.
GEOMETRY_COLUMNS = (
    "zenith",  # true solar zenith [°]
    "apparent_zenith",  # refraction-corrected zenith [°]
    "azimuth",  # solar azimuth, clockwise from north [°]
    "ghi_clear",  # clear-sky global horizontal irradiance [W/m²]
    "dni_clear",  # clear-sky direct normal irradiance [W/m²]
    "dhi_clear",  # clear-sky diffuse horizontal irradiance [W/m²]
    "dni_extra",  # extraterrestrial normal irradiance [W/m²]
)


class LinkeTurbidityMissingError(ValueError):
    """A site without its twelve monthly Linke turbidity values."""


def clear_sky_arrays(site: SiteConfig, epoch_s: npt.ArrayLike) -> dict[str, FloatArray]:
    """Solar position and Ineichen clear-sky irradiance at ``epoch_s``.

    Parameters
    ----------
    site : SiteConfig
        Location with its twelve monthly Linke turbidity values.
    epoch_s : array-like
        Times. [s since the Unix epoch, UTC]

    Returns
    -------
    dict
        :data:`GEOMETRY_COLUMNS` as float arrays shaped like ``epoch_s``;
        angles in [°], irradiance in [W/m²].

    Raises
    ------
    LinkeTurbidityMissingError
        When the site gives no Linke turbidity.
    """
    if not site.linke_turbidity:
        raise LinkeTurbidityMissingError(
            f"site {site.id!r} has no linke_turbidity: the site file's [site] linke_turbidity "
            "needs 12 monthly values (January first) for the clear-sky model"
        )
    t = np.asarray(epoch_s, dtype=np.float64)
    pos = sun.solar_position(t, site.latitude, site.longitude, site.altitude)
    pressure = sun.pressure_from_altitude(site.altitude)
    airmass = sun.absolute_airmass(sun.relative_airmass(pos.apparent_zenith), pressure)
    extra = sun.extra_radiation(t)
    linke = np.asarray(site.linke_turbidity, dtype=np.float64)[sun.month_index(t)]
    ghi, dni, dhi = sun.ineichen(pos.apparent_zenith, airmass, linke, site.altitude, extra)
    return {
        "zenith": pos.zenith,
        "apparent_zenith": pos.apparent_zenith,
        "azimuth": pos.azimuth,
        "ghi_clear": ghi,
        "dni_clear": dni,
        "dhi_clear": dhi,
        "dni_extra": extra,
    }


def clear_sky(site: SiteConfig, times: pd.DatetimeIndex) -> pd.DataFrame:
    """:func:`clear_sky_arrays` as a frame indexed by ``times`` (UTC).

    Parameters
    ----------
    site : SiteConfig
    times : pandas.DatetimeIndex
        Timezone-aware timestamps (converted to UTC).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``times`` in UTC, with :data:`GEOMETRY_COLUMNS`. Zenith and
        azimuth in [°], irradiance in [W/m²].
    """
    import pandas as pd  # noqa: PLC0415 - the trainer's and tests' form; not on the device

    if times.tz is None:
        raise ValueError("times must be timezone-aware (UTC)")
    times = pd.DatetimeIndex(times.tz_convert("UTC"))
    epoch = times.as_unit("ns").asi8.astype(np.float64) / 1e9
    return pd.DataFrame(clear_sky_arrays(site, epoch), index=times)
