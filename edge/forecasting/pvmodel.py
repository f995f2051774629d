"""The PV model chain's equations, numpy only: transposition to cell to AC.

Responsible for: the published models the forecast chain
(:mod:`edge.forecasting.forecast`) strings together, each a plain function
of arrays, so the device needs no pvlib:

* :func:`isotropic_coefficients`: isotropic-sky transposition (Liu and
  Jordan 1963): ``poa = max(dni cos(aoi), 0) + dhi (1 + cos tilt) / 2 +
  ghi albedo (1 - cos tilt) / 2`` with ``cos(aoi) = cos z cos tilt + sin z
  sin tilt cos(azimuth - surface_azimuth)`` (clipped to [-1, 1]); linear in
  DNI, DHI and GHI, so returned as the three coefficients.
* :func:`erbs_driesse`: the smooth Erbs diffuse fraction of A. Driesse,
  A. Jensen and R. Perez, Solar Energy 267 (2024) 112093: Erbs et al.
  (1982) ``df = 1 - 0.09 kt`` below ``kt = 0.216``, 0.165 above 0.792, and
  between them the fourth-order polynomial of that paper that joins the two
  smoothly; ``kt = ghi / (I0 max(cos z, 0.065))`` clipped to [0, 1]; no
  beam above zenith 87 degrees.
* :func:`sapm_cell`: the Sandia cell temperature (King et al., SAND2004-3535,
  eqs. 11-12): ``Tm = E exp(a + b ws) + Ta``, ``Tc = Tm + E / 1000 dT``.
* :func:`pvwatts_dc`: PVWatts v5 DC power (Dobos, NREL/TP-6A20-62641, 2014):
  ``P = pdc0 E / 1000 (1 + gamma (Tc - 25))``.
* :func:`pvwatts_ac`: the PVWatts v5 inverter of the same manual:
  ``eta = eta_nom / 0.9637 (-0.0162 z - 0.0059 / z + 0.9858)``, ``z = P_dc /
  P_dc0``, ``P_ac = min(eta P_dc, eta_nom P_dc0)``, at least 0.

Does NOT: know the site schema's defaults (:mod:`edge.forecasting.forecast`
does), sort quantiles, or handle NaN beyond what the equations give.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "SAPM_OPEN_RACK_GLASS_GLASS",
    "erbs_driesse",
    "erbs_driesse_split",
    "erbs_driesse_sun",
    "isotropic_coefficients",
    "pvwatts_ac",
    "pvwatts_dc",
    "sapm_cell",
]

FloatArray = npt.NDArray[np.float64]

#: SAPM cell temperature parameters ``a [-], b [s/m], deltaT [°C]``, open rack,
#: glass/glass (King et al. 2004, Table 1).
SAPM_OPEN_RACK_GLASS_GLASS = {"a": -3.47, "b": -0.0594, "deltaT": 3.0}

# Driesse et al. (2024), the polynomial between the Erbs pieces, highest power first
_DRIESSE_POLY = (12.26911439571261, -16.470508424697307, 4.246926715218317,
                 -0.11390583806313881, 0.946296633571001)
_MIN_COS_ZENITH = 0.065
_MAX_ZENITH = 87.0
_PVWATTS_ETA_REF = 0.9637


def isotropic_coefficients(
    surface_tilt: float, surface_azimuth: float, zenith: npt.ArrayLike,
    azimuth: npt.ArrayLike, albedo: float,
) -> FloatArray:
    """Isotropic transposition ``poa = c[..., 0] dni + c[..., 1] dhi + c[..., 2] ghi``.

    Parameters
    ----------
    surface_tilt, surface_azimuth : float
        Array tilt from horizontal and azimuth clockwise from north. [°]
    zenith, azimuth : array-like
        Solar zenith and azimuth. [°]
    albedo : float
        Ground reflectance. [-]

    Returns
    -------
    numpy.ndarray
        Shape ``zenith.shape + (3,)``; the beam coefficient is ``max(cos(aoi),
        0)``, NaN positions give 0. [-]
    """
    zen = np.radians(np.asarray(zenith, dtype=np.float64))
    azi = np.radians(np.asarray(azimuth, dtype=np.float64))
    tilt = math.radians(surface_tilt)
    proj = (np.cos(zen) * math.cos(tilt)
            + np.sin(zen) * math.sin(tilt) * np.cos(azi - math.radians(surface_azimuth)))
    beam = np.nan_to_num(np.maximum(np.clip(proj, -1.0, 1.0), 0.0))
    sky = np.full_like(beam, (1.0 + math.cos(tilt)) * 0.5)
    ground = np.full_like(beam, albedo * (1.0 - math.cos(tilt)) * 0.5)
    return np.stack([beam, sky, ground], axis=-1)


def erbs_driesse(
    ghi: npt.ArrayLike, zenith: npt.ArrayLike, dni_extra: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """DNI and DHI from GHI, the smooth Erbs model. [W/m²]

    Parameters
    ----------
    ghi : array-like
        [W/m²]; negatives count as 0.
    zenith : array-like
        True solar zenith. [°]
    dni_extra : array-like
        Extraterrestrial normal irradiance. [W/m²]

    Returns
    -------
    dni, dhi : numpy.ndarray
        Zero DNI (all diffuse) above zenith 87 degrees or where the beam
        would be negative.
    """
    g = np.maximum(np.asarray(ghi, dtype=np.float64), 0.0)
    cosz, i0h, beam_ok = erbs_driesse_sun(zenith, dni_extra)
    dni, dhi = erbs_driesse_split(g, cosz, i0h, beam_ok)
    bad = ~beam_ok | (dni < 0.0)
    return np.where(bad, 0.0, dni), np.where(bad, g, dhi)


def erbs_driesse_sun(zenith: npt.ArrayLike, dni_extra: npt.ArrayLike
                     ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """The sun-only part of :func:`erbs_driesse`, computed once per geometry.

    Returns
    -------
    cos_zenith : numpy.ndarray
        [-]
    i0h : numpy.ndarray
        Extraterrestrial horizontal irradiance with ``cos z >= 0.065``. [W/m²]
    beam_ok : numpy.ndarray of bool
        Zenith at most 87 degrees (and the cosine not 0): a beam is defined.
    """
    z = np.asarray(zenith, dtype=np.float64)
    cosz = np.cos(np.radians(z))
    i0h = np.asarray(dni_extra, dtype=np.float64) * np.maximum(cosz, _MIN_COS_ZENITH)
    return cosz, i0h, ~(z > _MAX_ZENITH) & (cosz != 0.0)


def erbs_driesse_split(ghi: FloatArray, cos_zenith: FloatArray, i0h: FloatArray,
                       beam_ok: npt.NDArray[np.bool_]) -> tuple[FloatArray, FloatArray]:
    """The per-step part of :func:`erbs_driesse`: DNI (0 where no beam is
    defined, possibly negative) and DHI ``df ghi`` [W/m²] for ``ghi >= 0`` [W/m²]
    and :func:`erbs_driesse_sun` of the same times."""
    # plain ufuncs, no np.clip/np.polyval/errstate: this runs every forecast step
    kt = np.minimum(np.maximum(ghi / i0h, 0.0), 1.0)
    p0, p1, p2, p3, p4 = _DRIESSE_POLY
    df = np.where(kt > 0.216, (((p0 * kt + p1) * kt + p2) * kt + p3) * kt + p4,
                  1.0 - 0.09 * kt)
    df = np.where(kt > 0.792, 0.165, df)
    dhi = df * ghi
    dni = np.divide(ghi - dhi, cos_zenith, out=np.zeros_like(ghi), where=beam_ok)
    return dni, dhi


def sapm_cell(poa: npt.ArrayLike, temp_air: npt.ArrayLike, wind_speed: float,
              *, a: float, b: float, deltaT: float) -> FloatArray:  # noqa: N803 - the paper's name
    """SAPM cell temperature from plane-of-array irradiance [W/m²] and air [°C]. [°C]"""
    e = np.asarray(poa, dtype=np.float64)
    module = e * math.exp(a + b * wind_speed) + np.asarray(temp_air, dtype=np.float64)
    return np.asarray(module + e / 1000.0 * deltaT, dtype=np.float64)


def pvwatts_dc(poa: npt.ArrayLike, temp_cell: npt.ArrayLike, pdc0: float, gamma_pdc: float
               ) -> FloatArray:
    """PVWatts DC power [W] from effective irradiance [W/m²], cell temperature [°C],
    nameplate ``pdc0`` [W] and temperature coefficient ``gamma_pdc`` [1/°C]."""
    e = np.asarray(poa, dtype=np.float64)
    tc = np.asarray(temp_cell, dtype=np.float64)
    return np.asarray(e * 0.001 * pdc0 * (1.0 + gamma_pdc * (tc - 25.0)), dtype=np.float64)


def pvwatts_ac(pdc: npt.ArrayLike, pdc0: float, eta_inv_nom: float = 0.96) -> FloatArray:
    """PVWatts inverter AC power [W] from DC power [W], DC rating ``pdc0`` [W]
    and nominal efficiency [-]; 0 at zero DC power, capped at ``eta_inv_nom pdc0``."""
    p = np.asarray(pdc, dtype=np.float64)
    zeta = p / pdc0
    nonzero = p != 0.0
    inv = np.divide(0.0059, zeta, out=np.zeros_like(zeta), where=nonzero)
    eta = eta_inv_nom / _PVWATTS_ETA_REF * (-0.0162 * zeta - inv + 0.9858)
    return np.asarray(np.maximum(np.minimum(eta_inv_nom * pdc0, eta * p), 0.0),
                      dtype=np.float64)
