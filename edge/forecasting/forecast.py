"""Model output to a physical forecast: GHI, DNI, DHI and PV power quantiles.

Responsible for: turning clear-sky index quantiles per horizon (what the
model predicts) into period-mean GHI (``kt x ghi_clear`` at the target
period, see :mod:`edge.forecasting.features` for the time convention), DNI/DHI
by the smooth Erbs decomposition (Driesse et al. 2024,
:func:`edge.forecasting.pvmodel.erbs_driesse`) with the closure
``GHI = DHI + DNI cos z``, and AC PV power of the site's array (isotropic
transposition to the array plane, SAPM cell temperature, PVWatts DC,
system losses, PVWatts inverter with clipping at ``ArrayConfig.ac_limit``);
keeping quantiles from crossing; and the inverse, GHI estimated from
measured PV power for sites without a pyranometer.

Every model is a numpy function of :mod:`edge.forecasting.pvmodel` (no pvlib on
the device; the trainer's parity test holds them to pvlib's).

Does NOT: run the model, know the MQTT payload envelope (``edge.runtime.messages``
does), or compute solar position per step: :class:`ForecastPhysics`
precomputes transposition coefficients for a whole
:class:`~edge.forecasting.features.DailyGeometry` once (isotropic transposition is linear
in DNI, DHI and GHI).

Model output layout
-------------------
What :meth:`edge.forecasting.predictor.Predictor.predict` returns: ``float32[n_horizons * 3]``
(or ``(n_horizons, 3)``), horizon-major, quantiles :data:`QUANTILES` in order:
``[h0_p10, h0_p50, h0_p90, h1_p10, ...]``; values are clear-sky indices.
(The raw network output may be ordered otherwise; the predictor reorders it.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge.forecasting.limits import (
    CLIP_MARGIN,
    DEFAULT_TEMP_AIR,
    KT_MAX,
    QUANTILE_LEVELS,
    USABLE_FRACTION,
)
from edge.forecasting.pvmodel import (
    SAPM_OPEN_RACK_GLASS_GLASS,
    erbs_driesse,
    erbs_driesse_split,
    erbs_driesse_sun,
    isotropic_coefficients,
    pvwatts_ac,
    pvwatts_dc,
    sapm_cell,
)
from edge.forecasting.site import ArrayConfig
from firmware_bridge.timestamps import isoformat_z

if TYPE_CHECKING:
    from edge.forecasting.features import DailyGeometry

__all__ = [
    "DEFAULT_TEMP_AIR",
    "QUANTILES",
    "Forecast",
    "ForecastPhysics",
    "dc_power_from_poa",
    "decompose",
    "ghi_from_pv_power",
    "pv_power",
    "pv_power_from_poa",
    "sort_quantiles",
    "transposition_coefficients",
]

FloatArray = npt.NDArray[np.float64]

#: Quantile levels of the model output, in order (``limits.QUANTILE_LEVELS``). [-]
QUANTILES = QUANTILE_LEVELS
#: SAPM cell temperature parameters (open rack, glass/glass), as the simulators use.
SAPM_PARAMS: Mapping[str, float] = SAPM_OPEN_RACK_GLASS_GLASS
#: Wind speed assumed for cell temperature. [m/s]
WIND_SPEED = 1.5
#: Ground reflectance for transposition. [-]
ALBEDO = 0.25


def sort_quantiles(q: npt.ArrayLike) -> FloatArray:
    """Quantiles along the last axis in non-decreasing order (no crossing)."""
    return np.sort(np.asarray(q, dtype=np.float64), axis=-1)


def transposition_coefficients(
    array: ArrayConfig, zenith: npt.ArrayLike, azimuth: npt.ArrayLike
) -> FloatArray:
    """Linear isotropic transposition: ``poa = c[...,0] dni + c[...,1] dhi + c[...,2] ghi``.

    Parameters
    ----------
    array : ArrayConfig
        Tilt and azimuth of the array.
    zenith, azimuth : array-like
        Solar zenith and azimuth. [°]

    Returns
    -------
    numpy.ndarray
        Shape ``zenith.shape + (3,)``. [-]
    """
    return isotropic_coefficients(array.tilt, array.azimuth, zenith, azimuth, ALBEDO)


def dc_power_from_poa(
    poa: npt.ArrayLike, array: ArrayConfig, temp_air: npt.ArrayLike = DEFAULT_TEMP_AIR
) -> tuple[FloatArray, FloatArray]:
    """Cell temperature and DC power of the array after system losses.

    The DC half of the one PV model chain: SAPM cell temperature (open rack,
    glass/glass, wind :data:`WIND_SPEED`), PVWatts DC
(:func:`edge.forecasting.pvmodel.pvwatts_dc`),
    then ``losses_percent``. The forecast adds an inverter
    (:func:`pv_power_from_poa`); the site simulation adds a charge controller.

    Parameters
    ----------
    poa : array-like
        Plane-of-array global irradiance; NaN and negatives count as 0. [W/m²]
    array : ArrayConfig
    temp_air : array-like
        Air temperature, broadcast against ``poa``; NaN means the default. [°C]

    Returns
    -------
    tcell : numpy.ndarray
        Cell temperature. [°C]
    pdc : numpy.ndarray
        DC power at the maximum power point, after losses, ``>= 0``. [W]
    """
    poa = np.asarray(poa, dtype=np.float64)
    poa = np.where(poa > 0.0, poa, 0.0)  # also NaN -> 0
    temp = np.asarray(temp_air, dtype=np.float64)
    temp = np.where(np.isfinite(temp), temp, DEFAULT_TEMP_AIR)
    tcell = sapm_cell(poa, temp, WIND_SPEED, **SAPM_PARAMS)
    pdc = pvwatts_dc(poa, tcell, array.dc_capacity, array.gamma_pdc)
    pdc = np.maximum(pdc, 0.0)
    return tcell, pdc * (1.0 - array.losses_percent / 100.0)


def pv_power_from_poa(
    poa: npt.ArrayLike, array: ArrayConfig, temp_air: npt.ArrayLike = DEFAULT_TEMP_AIR
) -> FloatArray:
    """AC power of the array from plane-of-array irradiance.

    SAPM cell temperature, PVWatts DC, system losses ``losses_percent``, then
    the PVWatts inverter (:func:`edge.forecasting.pvmodel.pvwatts_ac`) sized so the
    output clips at ``array.ac_limit``.

    Parameters
    ----------
    poa : array-like
        Plane-of-array global irradiance. [W/m²]
    array : ArrayConfig
    temp_air : array-like
        Air temperature, broadcast against ``poa``; NaN means the default.
        [°C]

    Returns
    -------
    numpy.ndarray
        AC (charge controller output) power, ``0 <= P <= ac_limit``. [W]
    """
    _, pdc = dc_power_from_poa(poa, array, temp_air)
    eta = array.inverter_efficiency
    pac = pvwatts_ac(pdc, array.ac_limit / eta, eta_inv_nom=eta)
    return np.minimum(np.maximum(pac, 0.0), array.ac_limit)


def decompose(
    ghi: npt.ArrayLike, zenith: npt.ArrayLike, dni_extra: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """DNI and DHI from GHI (smooth Erbs), with closure ``ghi = dhi + dni cos z`` exact.

    Parameters
    ----------
    ghi : array-like
        [W/m²]
    zenith : array-like
        True solar zenith, broadcast against ``ghi``. [°]
    dni_extra : array-like
        Extraterrestrial normal irradiance. [W/m²]

    Returns
    -------
    dni, dhi : numpy.ndarray
        [W/m²]
    """
    ghi = np.maximum(np.asarray(ghi, dtype=np.float64), 0.0)
    zen = np.asarray(zenith, dtype=np.float64)
    extra = np.asarray(dni_extra, dtype=np.float64)
    if zen.shape != ghi.shape:
        zen = np.broadcast_to(zen, ghi.shape)
    if extra.shape != ghi.shape:
        extra = np.broadcast_to(extra, ghi.shape)
    raw, _ = erbs_driesse(ghi, zen, extra)
    dni = np.where(raw > 0.0, raw, 0.0)  # also NaN -> 0
    cosz = np.cos(np.radians(zen))
    dhi = ghi - dni * cosz  # the closure, exactly (all diffuse when the beam is dropped)
    return dni, dhi


def pv_power(
    ghi: npt.ArrayLike,
    dni: npt.ArrayLike,
    dhi: npt.ArrayLike,
    zenith: npt.ArrayLike,
    azimuth: npt.ArrayLike,
    *,
    array: ArrayConfig,
    temp_air: npt.ArrayLike = DEFAULT_TEMP_AIR,
) -> FloatArray:
    """AC power of the array for irradiance at given sun positions. [W]

    Used by ``helio-train synth`` and as the reference in tests; the edge
    uses :class:`ForecastPhysics` (same functions, coefficients cached).
    """
    c = transposition_coefficients(array, zenith, azimuth)
    poa = (c[..., 0] * np.asarray(dni, dtype=np.float64) + c[..., 1] * np.asarray(dhi, float)
           + c[..., 2] * np.asarray(ghi, dtype=np.float64))
    return pv_power_from_poa(poa, array, temp_air)


def ghi_from_pv_power(
    power: npt.ArrayLike,
    geometry: Mapping[str, npt.ArrayLike],
    array: ArrayConfig,
    *,
    temp_air: npt.ArrayLike | None = None,
    clip_margin: float = CLIP_MARGIN,
) -> FloatArray:
    """GHI estimated from measured PV power (devices without a pyranometer).

    The PV clear-sky index ``P / P_clear`` (``P_clear`` from the array model
    on clear-sky irradiance) times clear-sky GHI.

    Parameters
    ----------
    power : array-like
        Measured AC (charge controller output) power. [W]
    geometry : mapping
        :func:`edge.forecasting.solar.clear_sky` (a frame) or
        :func:`edge.forecasting.solar.clear_sky_arrays` at the same times:
        ``zenith``, ``azimuth`` [°], ``ghi_clear``, ``dni_clear``,
        ``dhi_clear`` [W/m²].
    array : ArrayConfig
    temp_air : array-like, optional
        [°C]
    clip_margin : float
        Samples at or above ``clip_margin x ac_limit`` are clipped: NaN.

    Returns
    -------
    numpy.ndarray
        [W/m²]; NaN where the sun is too low, the power is clipped or NaN.
    """
    p = np.asarray(power, dtype=np.float64)
    def col(name: str) -> FloatArray:
        return np.asarray(geometry[name], dtype=np.float64)

    ghi_clear = col("ghi_clear")
    clear = pv_power(
        ghi_clear, col("dni_clear"), col("dhi_clear"), col("zenith"), col("azimuth"),
        array=array, temp_air=DEFAULT_TEMP_AIR if temp_air is None else temp_air,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        kt = np.clip(p / clear, 0.0, KT_MAX)
    usable = (clear > USABLE_FRACTION * array.dc_capacity) & (p < clip_margin * array.ac_limit)
    night = (ghi_clear <= 0.0) & np.isfinite(p)
    return np.where(night, 0.0, np.where(usable, kt * ghi_clear, np.nan))


@dataclasses.dataclass(frozen=True, slots=True)
class Forecast:
    """One issued forecast (the ``forecasts`` list of the MQTT payload).

    Attributes
    ----------
    issue_time : datetime
        End of the last measured period (UTC).
    step_minutes : int
        Length of each forecast period. [minutes]
    horizons_min : tuple of int
        [minutes]
    period_end : tuple of datetime
        ``issue_time + horizon`` per horizon (UTC).
    kt, ghi, dni, dhi, pv_power : numpy.ndarray
        ``(n_horizons, 3)``: P10, P50, P90 of the clear-sky index [-],
        period-mean irradiance [W/m²] and AC PV power [W]; never crossing.
    """

    issue_time: dt.datetime
    step_minutes: int
    horizons_min: tuple[int, ...]
    period_end: tuple[dt.datetime, ...]
    kt: FloatArray
    ghi: FloatArray
    dni: FloatArray
    dhi: FloatArray
    pv_power: FloatArray

    @property
    def quantiles(self) -> dict[str, list[list[float]]]:
        """``{name: [[p10, p50, p90] per horizon]}`` (``edge.runtime.messages.ForecastLike``)."""
        return {name: getattr(self, name).tolist() for name in ("ghi", "dni", "dhi", "pv_power")}

    def entries(self) -> list[dict[str, Any]]:
        """The payload's ``forecasts`` list (values rounded to 0.1)."""
        out = []
        for i, h in enumerate(self.horizons_min):
            entry: dict[str, Any] = {
                "horizon_min": h,
                "period_end": isoformat_z(self.period_end[i]),
                "period": f"PT{self.step_minutes}M",
            }
            for name in ("ghi", "dni", "dhi", "pv_power"):
                row = getattr(self, name)[i]
                entry[name] = {f"p{round(q * 100)}": round(float(v), 1)
                               for q, v in zip(QUANTILES, row, strict=True)}
            out.append(entry)
        return out


class ForecastPhysics:
    """Post-processing for one site and one precomputed geometry.

    Parameters
    ----------
    array : ArrayConfig
        The site's array.
    geometry : DailyGeometry
        The same geometry the features were computed with.

    Notes
    -----
    Construction computes the transposition coefficients for the whole
    geometry once; :meth:`postprocess` then costs a few tens of
    microseconds per step.
    """

    def __init__(self, array: ArrayConfig, geometry: DailyGeometry) -> None:
        self.array = array
        self.geometry = geometry
        self._coef = transposition_coefficients(array, geometry.zenith, geometry.azimuth)
        self._steps = np.asarray(geometry.spec.horizon_steps, dtype=np.int64)
        # the decomposition's sun-only terms, once per geometry (what decompose() computes)
        self._cosz, self._i0h, self._beam_ok = erbs_driesse_sun(geometry.zenith,
                                                                geometry.dni_extra)

    def target_index(self, issue_k: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Geometry indices of the target periods, shape ``issue_k.shape + (n_h,)``."""
        k = np.asarray(issue_k, dtype=np.int64)
        return np.asarray(k[..., None] + self._steps, dtype=np.int64)

    def physical(
        self, kt: npt.ArrayLike, issue_k: npt.ArrayLike, temp_air: npt.ArrayLike = math.nan
    ) -> dict[str, FloatArray]:
        """Vectorised core: ``kt`` of shape ``issue_k.shape + (n_h, 3)``.

        Returns ``{"kt", "ghi", "dni", "dhi", "pv_power"}`` arrays of that
        shape, each sorted along the quantile axis. ``temp_air`` broadcasts
        against ``issue_k`` (one value per issue time). [°C]
        """
        g = self.geometry
        tk = self.target_index(issue_k)[..., None]  # (..., n_h, 1)
        k = np.minimum(np.maximum(sort_quantiles(kt), 0.0), KT_MAX)
        ghi = k * g.ghi_clear[tk]
        cosz = self._cosz[tk]
        raw, _ = erbs_driesse_split(ghi, cosz, self._i0h[tk], self._beam_ok[tk])
        dni = np.where(raw > 0.0, raw, 0.0)  # as decompose(): also NaN -> 0
        dhi = ghi - dni * cosz
        c = self._coef[tk]
        poa = c[..., 0] * dni + c[..., 1] * dhi + c[..., 2] * ghi
        temp = np.asarray(temp_air, dtype=np.float64)[..., None, None]
        pac = pv_power_from_poa(poa, self.array, temp)
        return {"kt": k, "ghi": ghi, "dni": sort_quantiles(dni), "dhi": sort_quantiles(dhi),
                "pv_power": sort_quantiles(pac)}

    def postprocess(
        self, model_output: npt.ArrayLike, issue_time: dt.datetime,
        *, temp_air: float = math.nan,
    ) -> Forecast:
        """One step on the edge: model output -> :class:`Forecast`.

        Parameters
        ----------
        model_output : array-like
            ``n_h * 3`` clear-sky index quantiles (see the module docstring).
        issue_time : datetime
            Aware UTC issue time on the geometry's grid.
        temp_air : float
            Air temperature now, used for every horizon; NaN = 25 C. [°C]
        """
        spec = self.geometry.spec
        n_h = len(spec.horizons_min)
        kt = np.asarray(model_output, dtype=np.float64).reshape(n_h, 3)
        out = self.physical(kt, self.geometry.index(issue_time), temp_air)
        return Forecast(
            issue_time=issue_time,
            step_minutes=spec.step_minutes,
            horizons_min=spec.horizons_min,
            period_end=tuple(issue_time + dt.timedelta(minutes=h) for h in spec.horizons_min),
            **out,
        )
