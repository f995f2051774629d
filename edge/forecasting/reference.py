"""The reference science every scorer shares: clear-sky PV, smart persistence, daytime.

Responsible for: the constants and small functions that define what a
forecast is measured against, in one place, so that the dataset
(:mod:`trainer.dataset`), the validation gate (:mod:`trainer.evaluation`,
:mod:`trainer.validate`), the fleet monitor's scoring and drift check
(:mod:`trainer.monitor.scoring`, :mod:`trainer.monitor.drift`), the
dashboard and the device's engine (:mod:`edge.forecasting.engine`) measure
the same skill:

* the clear-sky PV power of a site through the one PV model chain of
  :mod:`edge.forecasting.forecast` (isotropic transposition, SAPM cell
  temperature at :data:`~edge.forecasting.forecast.DEFAULT_TEMP_AIR`,
  PVWatts DC, system losses, PVWatts inverter clipped at the output limit);
* the clear-sky index clip :data:`KT_MAX`, the index held when a period
  carries none (:data:`KT_DEFAULT`), and when a period carries one
  (:func:`is_daytime`: :data:`ZENITH_LIMIT`, :data:`GHI_CLEAR_MIN`; for an
  index read from PV power also :data:`USABLE_FRACTION` and
  :data:`CLIP_MARGIN`);
* smart persistence (:func:`smart_persistence`): the clear-sky index of
  the period ending at the issue time, held over every horizon and turned
  into GHI [W/m²] and PV power [W] through the same chain as the model's
  own forecast (:func:`physical_from_index`);
* the quantile levels of the model output (:data:`QUANTILE_LEVELS`,
  named :data:`QUANTILE_NAMES` on the wire).

Does NOT: read data, talk to a store, compute features (that is
:mod:`edge.forecasting.features`, which takes its constants from here), or
run a model.

The numbers themselves are defined in :mod:`edge.forecasting.limits` and
re-exported here: the feature code and the PV chain, which this module
calls, read them from there (no import cycle).

Two clips, two meanings. :data:`KT_MAX` (1.5) bounds the clear-sky index of
ONE period: cloud enhancement at the edge of a cumulus can lift a short mean
above clear sky, and the model's features and targets have always been
clipped there (changing it would change the features of shipped bundles).
:data:`PV_INDEX_HOLD_MAX` (1.3) bounds a PV clear-sky index that
:func:`edge.forecasting.energy.energy_outlook` carries forward for HOURS:
enhancement does not last, so a sustained index stays closer to clear sky.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from edge.forecasting.forecast import decompose, pv_power
from edge.forecasting.limits import (
    CLIP_MARGIN,
    DEFAULT_TEMP_AIR,
    GHI_CLEAR_MIN,
    KT_DEFAULT,
    KT_MAX,
    PV_INDEX_HOLD_MAX,
    QUANTILE_LEVELS,
    QUANTILE_NAMES,
    USABLE_FRACTION,
    ZENITH_LIMIT,
)
from edge.forecasting.site import ArrayConfig, Site, SiteConfig
from edge.forecasting.solar import clear_sky_arrays

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CLIP_MARGIN",
    "DEFAULT_TEMP_AIR",
    "GHI_CLEAR_MIN",
    "KT_DEFAULT",
    "KT_MAX",
    "PV_INDEX_HOLD_MAX",
    "QUANTILE_LEVELS",
    "QUANTILE_NAMES",
    "USABLE_FRACTION",
    "ZENITH_LIMIT",
    "clear_sky_pv",
    "clear_sky_reference",
    "clip_index",
    "is_daytime",
    "physical_from_index",
    "pv_index_usable",
    "smart_persistence",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_COS_ZENITH_LIMIT = math.cos(math.radians(ZENITH_LIMIT))


def is_daytime(zenith: npt.ArrayLike, ghi_clear: npt.ArrayLike) -> BoolArray:
    """Whether a period carries a clear-sky index (and is scored).

    Parameters
    ----------
    zenith : array-like
        Solar zenith at the period centre. [°]
    ghi_clear : array-like
        Clear-sky GHI at the period centre. [W/m²]

    Returns
    -------
    numpy.ndarray of bool
        ``zenith < ZENITH_LIMIT`` (compared as cosines, as the features do)
        and ``ghi_clear >= GHI_CLEAR_MIN``.
    """
    cosz = np.maximum(np.cos(np.radians(np.asarray(zenith, dtype=np.float64))), 0.0)
    return np.asarray((cosz >= _COS_ZENITH_LIMIT)
                      & (np.asarray(ghi_clear, dtype=np.float64) >= GHI_CLEAR_MIN))


def clip_index(kt: npt.ArrayLike) -> FloatArray:
    """A clear-sky index clipped to ``[0, KT_MAX]``; NaN stays NaN. [-]"""
    return np.clip(np.asarray(kt, dtype=np.float64), 0.0, KT_MAX)


def pv_index_usable(power: npt.ArrayLike, clear_pv: npt.ArrayLike, array: ArrayConfig
                    ) -> BoolArray:
    """Whether measured PV power says something about the sky.

    Parameters
    ----------
    power : array-like
        Measured AC (charge controller output) power. [W]
    clear_pv : array-like
        Clear-sky PV power at the same time (:func:`clear_sky_pv`). [W]
    array : ArrayConfig

    Returns
    -------
    numpy.ndarray of bool
        Clear-sky PV above :data:`USABLE_FRACTION` of the DC capacity (sun
        high enough for the ratio to mean something) and the power below
        :data:`CLIP_MARGIN` of the output limit (not clipped); False for NaN.
    """
    p = np.asarray(power, dtype=np.float64)
    clear = np.asarray(clear_pv, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.asarray((clear > USABLE_FRACTION * array.dc_capacity)
                          & (p < CLIP_MARGIN * array.ac_limit))


def clear_sky_pv(site: Site, geometry: object) -> FloatArray:
    """Clear-sky AC power of the site's array at every period of a geometry. [W]

    Parameters
    ----------
    site : Site
    geometry : DailyGeometry, mapping or pandas.DataFrame
        Anything with ``ghi_clear``, ``dni_clear``, ``dhi_clear`` [W/m²],
        ``zenith`` and ``azimuth`` [°] as attributes or keys (a
        :class:`~edge.forecasting.features.DailyGeometry`, the dict of
        :func:`edge.forecasting.solar.clear_sky_arrays` or the frame of
        :func:`edge.forecasting.solar.clear_sky`).

    Returns
    -------
    numpy.ndarray
        :func:`edge.forecasting.forecast.pv_power` on the clear-sky
        components at :data:`~edge.forecasting.forecast.DEFAULT_TEMP_AIR`. [W]
    """
    g: Mapping[str, npt.ArrayLike] | object = geometry

    def col(name: str) -> FloatArray:
        v = g[name] if hasattr(g, "__getitem__") else getattr(g, name)  # type: ignore[index]
        return np.asarray(v, dtype=np.float64)

    return pv_power(col("ghi_clear"), col("dni_clear"), col("dhi_clear"), col("zenith"),
                    col("azimuth"), array=site.array, temp_air=DEFAULT_TEMP_AIR)


def clear_sky_reference(site: Site | SiteConfig, mid_times: pd.DatetimeIndex) -> pd.DataFrame:
    """Geometry and clear-sky values at period centres, for scorers without a grid.

    Parameters
    ----------
    site : Site or SiteConfig
        With an array (a :class:`Site`) the frame also holds clear-sky PV.
    mid_times : pandas.DatetimeIndex
        Period centres (UTC).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``mid_times``: ``zenith``, ``azimuth`` [°], ``ghi_clear``,
        ``dni_extra`` [W/m²] and ``daytime`` (:func:`is_daytime`); with a
        :class:`Site` also ``pv_clear`` [W] (:func:`clear_sky_pv`).
    """
    import pandas as pd  # noqa: PLC0415 - scorers' form; the device never calls it

    loc = site.site if isinstance(site, Site) else site
    utc = pd.DatetimeIndex(mid_times).tz_convert("UTC")
    geo = clear_sky_arrays(loc, utc.as_unit("ns").asi8.astype(np.float64) / 1e9)
    out = pd.DataFrame({name: geo[name] for name in ("zenith", "azimuth", "ghi_clear",
                                                      "dni_extra")}, index=mid_times)
    out["daytime"] = is_daytime(out["zenith"], out["ghi_clear"])
    if isinstance(site, Site):
        out["pv_clear"] = clear_sky_pv(site, geo)
    return out


def physical_from_index(
    kt: npt.ArrayLike,
    *,
    ghi_clear: npt.ArrayLike,
    zenith: npt.ArrayLike,
    azimuth: npt.ArrayLike,
    dni_extra: npt.ArrayLike,
    array: ArrayConfig,
    temp_air: npt.ArrayLike = DEFAULT_TEMP_AIR,
) -> dict[str, FloatArray]:
    """GHI and PV power for a clear-sky index, through the forecast's own chain.

    ``ghi = clip_index(kt) x ghi_clear``, DNI/DHI by
    :func:`edge.forecasting.forecast.decompose`, PV by
    :func:`edge.forecasting.forecast.pv_power`: what
    :meth:`edge.forecasting.forecast.ForecastPhysics.physical` does for one
    quantile.

    Parameters
    ----------
    kt : array-like
        Clear-sky index. [-]
    ghi_clear, dni_extra : array-like
        Clear-sky GHI and extraterrestrial normal irradiance of the period. [W/m²]
    zenith, azimuth : array-like
        Sun position at the period centre. [°]
    array : ArrayConfig
    temp_air : array-like
        Air temperature; NaN means the default. [°C]

    Returns
    -------
    dict
        ``{"ghi": [W/m²], "dni": [W/m²], "dhi": [W/m²], "pv_power": [W]}``.
    """
    ghi = clip_index(kt) * np.asarray(ghi_clear, dtype=np.float64)
    dni, dhi = decompose(ghi, zenith, dni_extra)
    pac = pv_power(ghi, dni, dhi, zenith, azimuth, array=array, temp_air=temp_air)
    return {"ghi": ghi, "dni": dni, "dhi": dhi, "pv_power": pac}


def smart_persistence(index_now: npt.ArrayLike, carries_index: npt.ArrayLike) -> FloatArray:
    """Smart-persistence clear-sky index: the issue period's index, held. [-]

    Parameters
    ----------
    index_now : array-like
        Measured clear-sky index of the period ending at the issue time
        (GHI over clear-sky GHI, or PV over clear-sky PV). [-]
    carries_index : array-like of bool
        Whether that period carries an index (:func:`is_daytime`, and for PV
        :func:`pv_index_usable`).

    Returns
    -------
    numpy.ndarray
        :func:`clip_index` of ``index_now`` where the period carries one
        (NaN stays NaN: a caller without a history window does not score
        it), :data:`KT_DEFAULT` where it does not (dawn, clipped PV). The
        gate's rows take the index from feature ``kt_lag0``, which applies
        the same rule and, having the history window, first looks for the
        nearest older valid period; at dawn there is none, so with complete
        data the two agree.
    """
    ok = np.asarray(carries_index, dtype=bool)
    return np.asarray(np.where(ok, clip_index(index_now), KT_DEFAULT), dtype=np.float64)
