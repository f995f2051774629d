"""Monthly Linke turbidity from pvlib's climatology, for sites without a site file.

Responsible for: :func:`with_linke_turbidity`, which gives a
:class:`~edge.forecasting.site.SiteConfig` that has no ``linke_turbidity``
(a location read from a weather file's metadata) the twelve monthly values
of pvlib's Linke turbidity climatology (Remund et al. 2003, the
``LinkeTurbidities.h5`` that ships with pvlib), so the trainer can run the
same numpy clear-sky core as the device. The device never needs this: its
site file carries the twelve values.

Does NOT: change a site that already has values, or interpolate between
months (the device uses the month's value; so does this).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pvlib

from edge.forecasting.site import SiteConfig

__all__ = ["monthly_linke_turbidity", "with_linke_turbidity"]


def monthly_linke_turbidity(latitude: float, longitude: float) -> tuple[float, ...]:
    """pvlib's climatological Linke turbidity per month, January first. [-]

    Parameters
    ----------
    latitude, longitude : float
        [°]
    """
    mid_months = pd.DatetimeIndex([pd.Timestamp(2020, m, 15, tz="UTC") for m in range(1, 13)])
    values = pvlib.clearsky.lookup_linke_turbidity(mid_months, latitude, longitude,
                                                   interp_turbidity=False)
    return tuple(round(float(v), 4) for v in np.asarray(values, dtype=float))


def with_linke_turbidity(site: SiteConfig) -> SiteConfig:
    """``site`` with its monthly Linke turbidity filled from pvlib when it has none."""
    if site.linke_turbidity:
        return site
    return dataclasses.replace(
        site, linke_turbidity=monthly_linke_turbidity(site.latitude, site.longitude))
