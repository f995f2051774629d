"""Sun position, extraterrestrial irradiance, air mass and clear sky, numpy only.

Responsible for: the solar physics the device needs, vectorised over epoch
seconds (UTC), with no pandas, pvlib or SciPy: so the agent imports little
and the trainer computes the same numbers (it calls these functions too).

* :func:`solar_position`: NREL's Solar Position Algorithm, I. Reda and
  A. Andreas, "Solar Position Algorithm for Solar Radiation Applications",
  NREL/TP-560-34302 (revised 2008) and Solar Energy 76 (2004) 577-589,
  implemented from the paper's steps 3.1-3.15 with its periodic-term tables
  (:mod:`edge.forecasting.spa_tables`, Tables A4.2 and A4.3). Stated
  uncertainty +/-0.0003 degrees for years -2000 to 6000 given the right
  Delta T. Delta T only moves the ephemeris (the hour angle runs on UT),
  so the constant :data:`DELTA_T` (67 s, pvlib's default) costs about
  0.00001 degrees per second it is off: 0.0004 degrees at 33 s. Refraction is the paper's eq. 42
  (Bennett's formula scaled by pressure and temperature): ``de = P/1010 * 283/(273 + T) * 1.02 /
  (60 tan(e0 + 10.3/(e0 + 5.11)))`` [°], applied while the
  geometric elevation ``e0 >= -(0.26667 + 0.5667)`` degrees (sun radius
  plus refraction at the horizon); ``apparent_zenith = 90 - e0 - de``.
* :func:`extra_radiation`: Spencer (1971) Fourier series of the Earth-Sun
  distance on the day of year, times the solar constant 1366.1 W/m².
* :func:`pressure_from_altitude`: the standard-atmosphere barometric
  formula ``P = 100 ((44331.514 - h) / 11880.516) ** (1 / 0.1902632)`` [Pa]
  (Portland State Aerospace Society, "A quick derivation relating altitude
  to air pressure", 2004).
* :func:`relative_airmass`: Kasten and Young, Applied Optics 28 (1989)
  4735-4738, on the apparent zenith; :func:`absolute_airmass` scales it by
  ``P / 101325``.
* :func:`ineichen`: the Ineichen-Perez clear sky, P. Ineichen and R. Perez,
  Solar Energy 73 (2002) 151-157 (with the Perez enhancement off), with
  the direct-beam cap of the same paper.

Does NOT: read files (the Linke turbidity comes from the site file), know
sites or time zones, or use Python datetimes (callers pass epoch seconds).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from edge.forecasting.spa_tables import EARTH_TERMS, NUTATION_ABCD, NUTATION_Y

__all__ = [
    "DELTA_T",
    "SOLAR_CONSTANT",
    "SolarPosition",
    "absolute_airmass",
    "day_of_year",
    "extra_radiation",
    "ineichen",
    "month_index",
    "pressure_from_altitude",
    "relative_airmass",
    "solar_position",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Terrestrial minus universal time used by default. [s]
DELTA_T = 67.0
#: Solar constant of :func:`extra_radiation`. [W/m²]
SOLAR_CONSTANT = 1366.1
#: Refraction at the horizon assumed by the refraction switch. [°]
ATMOS_REFRACT = 0.5667
#: Air temperature assumed for refraction. [°C]
REFRACTION_TEMPERATURE = 12.0

_DAY_S = 86400
_TERMS = {name: np.asarray(rows, dtype=np.float64) for name, rows in EARTH_TERMS.items()}
_NUT_Y = np.asarray(NUTATION_Y, dtype=np.float64)  # (63, 5)
_NUT_ABCD = np.asarray(NUTATION_ABCD, dtype=np.float64)  # (63, 4)
_CHUNK = 16384  # rows per periodic-term block: bounds the temporary at ~8 MB


@dataclasses.dataclass(frozen=True, slots=True)
class SolarPosition:
    """Topocentric sun position (same shape as the times).

    Attributes
    ----------
    zenith : numpy.ndarray
        Geometric (not refraction-corrected) zenith. [°]
    apparent_zenith : numpy.ndarray
        Refraction-corrected zenith. [°]
    azimuth : numpy.ndarray
        Clockwise from north. [°]
    """

    zenith: FloatArray
    apparent_zenith: FloatArray
    azimuth: FloatArray


def _series(name: str, jme: FloatArray) -> FloatArray:
    """``sum A cos(B + C jme)`` over one table of Table A4.2."""
    t = _TERMS[name]
    out = np.empty_like(jme)
    for i in range(0, jme.shape[0], _CHUNK):
        x = jme[i: i + _CHUNK]
        out[i: i + _CHUNK] = np.cos(t[:, 1] + x[:, None] * t[:, 2]) @ t[:, 0]
    return out


def _earth(prefix: str, count: int, jme: FloatArray) -> FloatArray:
    """Heliocentric quantity ``(X0 + X1 jme + ... ) / 1e8`` (eqs. 10-11)."""
    total = np.zeros_like(jme)
    for i in range(count - 1, -1, -1):  # Horner in jme
        total = total * jme + _series(f"{prefix}{i}", jme)
    return total / 1e8


def _poly(x: FloatArray, *coef: float) -> FloatArray:
    """``coef[0] + coef[1] x + coef[2] x² + ...``."""
    out = np.full_like(x, coef[-1])
    for c in coef[-2::-1]:
        out = out * x + c
    return out


def _nutation(jce: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Nutation in longitude and obliquity (eqs. 15-23). [°]"""
    x = np.stack([
        _poly(jce, 297.85036, 445267.111480, -0.0019142, 1.0 / 189474.0),  # moon elongation
        _poly(jce, 357.52772, 35999.050340, -0.0001603, -1.0 / 300000.0),  # sun anomaly
        _poly(jce, 134.96298, 477198.867398, 0.0086972, 1.0 / 56250.0),  # moon anomaly
        _poly(jce, 93.27191, 483202.017538, -0.0036825, 1.0 / 327270.0),  # moon latitude arg
        _poly(jce, 125.04452, -1934.136261, 0.0020708, 1.0 / 450000.0),  # moon node
    ], axis=-1)
    dpsi, deps = np.empty_like(jce), np.empty_like(jce)
    a, b, c, d = _NUT_ABCD.T
    for i in range(0, jce.shape[0], _CHUNK):
        arg = np.radians(x[i: i + _CHUNK] @ _NUT_Y.T)  # (rows, 63)
        t = jce[i: i + _CHUNK, None]
        dpsi[i: i + _CHUNK] = ((a + b * t) * np.sin(arg)).sum(axis=1)
        deps[i: i + _CHUNK] = ((c + d * t) * np.cos(arg)).sum(axis=1)
    return dpsi / 36e6, deps / 36e6


def solar_position(
    epoch_s: npt.ArrayLike,
    latitude: float,
    longitude: float,
    altitude: float = 0.0,
    *,
    pressure: float | None = None,
    temperature: float = REFRACTION_TEMPERATURE,
    delta_t: float = DELTA_T,
) -> SolarPosition:
    """NREL SPA sun position at ``epoch_s`` seen from a site.

    Parameters
    ----------
    epoch_s : array-like
        Times. [s since the Unix epoch, UTC]
    latitude, longitude : float
        North and east positive. [°]
    altitude : float
        Height above sea level. [m]
    pressure : float, optional
        Air pressure for refraction; default from ``altitude``
        (:func:`pressure_from_altitude`). [Pa]
    temperature : float
        Air temperature for refraction. [°C]
    delta_t : float
        Terrestrial time minus universal time. [s]

    Returns
    -------
    SolarPosition
        Zenith, apparent zenith and azimuth. [°]
    """
    t = np.atleast_1d(np.asarray(epoch_s, dtype=np.float64))
    shape = np.shape(np.asarray(epoch_s))
    t = t.ravel()
    if pressure is None:
        pressure = float(pressure_from_altitude(altitude))
    jd = t / _DAY_S + 2440587.5  # eq. 4 from Unix time
    jc = (jd - 2451545.0) / 36525.0
    jce = (jd + delta_t / _DAY_S - 2451545.0) / 36525.0
    jme = jce / 10.0
    # 3.2: Earth heliocentric longitude, latitude, radius
    lon_h = np.degrees(_earth("L", 6, jme)) % 360.0
    lat_h = np.degrees(_earth("B", 2, jme))
    radius = _earth("R", 5, jme)  # [AU]
    # 3.3: geocentric
    theta = (lon_h + 180.0) % 360.0
    beta = -lat_h
    # 3.4-3.5: nutation and obliquity
    dpsi, deps = _nutation(jce)
    u = jme / 10.0
    eps0 = _poly(u, 84381.448, -4680.93, -1.55, 1999.25, -51.38, -249.67, -39.05, 7.12,
                 27.87, 5.79, 2.45)  # eq. 24 [arcsec]
    eps = np.radians(eps0 / 3600.0 + deps)
    # 3.6-3.7: aberration, apparent longitude
    lam = np.radians(theta + dpsi - 20.4898 / (3600.0 * radius))
    # 3.8: apparent sidereal time at Greenwich
    nu0 = (280.46061837 + 360.98564736629 * (jd - 2451545.0) + 0.000387933 * jc**2
           - jc**3 / 38710000.0) % 360.0
    nu = nu0 + dpsi * np.cos(eps)
    # 3.9-3.10: geocentric right ascension and declination
    beta_r = np.radians(beta)
    alpha = np.degrees(np.arctan2(np.sin(lam) * np.cos(eps) - np.tan(beta_r) * np.sin(eps),
                                  np.cos(lam))) % 360.0
    delta = np.arcsin(np.sin(beta_r) * np.cos(eps)
                      + np.cos(beta_r) * np.sin(eps) * np.sin(lam))
    # 3.11: local hour angle
    h = np.radians((nu + longitude - alpha) % 360.0)
    # 3.12: topocentric right ascension parallax and declination
    xi = np.radians(8.794 / (3600.0 * radius))
    phi = np.radians(latitude)
    uu = np.arctan(0.99664719 * np.tan(phi))
    x = np.cos(uu) + altitude / 6378140.0 * np.cos(phi)
    y = 0.99664719 * np.sin(uu) + altitude / 6378140.0 * np.sin(phi)
    den = np.cos(delta) - x * np.sin(xi) * np.cos(h)
    dalpha = np.arctan2(-x * np.sin(xi) * np.sin(h), den)
    delta_p = np.arctan2((np.sin(delta) - y * np.sin(xi)) * np.cos(dalpha), den)
    h_p = h - dalpha
    # 3.13: elevation without and with refraction
    e0 = np.degrees(np.arcsin(np.sin(phi) * np.sin(delta_p)
                              + np.cos(phi) * np.cos(delta_p) * np.cos(h_p)))
    refr = ((pressure / 100.0) / 1010.0 * 283.0 / (273.0 + temperature) * 1.02
            / (60.0 * np.tan(np.radians(e0 + 10.3 / (e0 + 5.11)))))
    refr = np.where(e0 >= -1.0 * (0.26667 + ATMOS_REFRACT), refr, 0.0)
    # 3.15: azimuth, clockwise from north
    gamma = np.degrees(np.arctan2(np.sin(h_p), np.cos(h_p) * np.sin(phi)
                                  - np.tan(delta_p) * np.cos(phi)))
    return SolarPosition(
        zenith=(90.0 - e0).reshape(shape),
        apparent_zenith=(90.0 - e0 - refr).reshape(shape),
        azimuth=((gamma + 180.0) % 360.0).reshape(shape),
    )


def day_of_year(epoch_s: npt.ArrayLike) -> IntArray:
    """Day of the year, 1 on 1 January (UTC). [-]"""
    days = np.floor(np.asarray(epoch_s, dtype=np.float64) / _DAY_S).astype("datetime64[D]")
    years = days.astype("datetime64[Y]")
    return np.asarray((days - years).astype(np.int64) + 1, dtype=np.int64)


def month_index(epoch_s: npt.ArrayLike) -> IntArray:
    """Month of the year, 0 for January (UTC). [-]"""
    days = np.floor(np.asarray(epoch_s, dtype=np.float64) / _DAY_S).astype("datetime64[D]")
    return np.asarray(days.astype("datetime64[M]").astype(np.int64) % 12, dtype=np.int64)


def extra_radiation(epoch_s: npt.ArrayLike, solar_constant: float = SOLAR_CONSTANT
                    ) -> FloatArray:
    """Extraterrestrial normal irradiance, Spencer (1971) on the UTC day of year. [W/m²]

    ``I0 = S (1.00011 + 0.034221 cos B + 0.00128 sin B + 0.000719 cos 2B
    + 0.000077 sin 2B)`` with ``B = 2 pi (doy - 1) / 365``.
    """
    b = 2.0 * np.pi * (day_of_year(epoch_s) - 1) / 365.0
    return np.asarray(solar_constant * (1.00011 + 0.034221 * np.cos(b) + 0.00128 * np.sin(b)
                                        + 0.000719 * np.cos(2 * b) + 0.000077 * np.sin(2 * b)),
                      dtype=np.float64)


def pressure_from_altitude(altitude: npt.ArrayLike) -> FloatArray:
    """Standard-atmosphere air pressure at a height above sea level [m]. [Pa]"""
    h = np.asarray(altitude, dtype=np.float64)
    return np.asarray(100.0 * ((44331.514 - h) / 11880.516) ** (1.0 / 0.1902632),
                      dtype=np.float64)


def relative_airmass(apparent_zenith: npt.ArrayLike) -> FloatArray:
    """Kasten-Young (1989) relative air mass; NaN with the sun below the horizon. [-]

    ``AM = 1 / (cos z + 0.50572 (96.07995 - z) ** -1.6364)``, ``z`` the
    apparent zenith [°].
    """
    z = np.asarray(apparent_zenith, dtype=np.float64)
    z = np.where(z > 90.0, np.nan, z)
    return np.asarray(1.0 / (np.cos(np.radians(z)) + 0.50572 * (96.07995 - z) ** -1.6364),
                      dtype=np.float64)


def absolute_airmass(airmass_relative: npt.ArrayLike, pressure: npt.ArrayLike) -> FloatArray:
    """Pressure-corrected air mass ``AM P / 101325`` (pressure [Pa]). [-]"""
    return np.asarray(np.asarray(airmass_relative, dtype=np.float64)
                      * np.asarray(pressure, dtype=np.float64) / 101325.0, dtype=np.float64)


def ineichen(
    apparent_zenith: npt.ArrayLike,
    airmass_abs: npt.ArrayLike,
    linke_turbidity: npt.ArrayLike,
    altitude: float,
    dni_extra: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Ineichen-Perez clear-sky GHI, DNI and DHI. [W/m²]

    With ``fh1 = exp(-h/8000)``, ``fh2 = exp(-h/1250)``, ``cg1 = 5.09e-5 h +
    0.868``, ``cg2 = 3.92e-5 h + 0.0387`` (``h`` altitude [m]):
    ``GHI = cg1 I0 cos z exp(-cg2 AM (fh1 + fh2 (TL - 1)))``;
    ``DNI = min(b I0 exp(-0.09 AM (TL - 1)), GHI (1 - (0.1 - 0.2 exp(-TL))
    / (0.1 + 0.882 / fh1)) / cos z)`` with ``b = 0.664 + 0.163 / fh1``;
    ``DHI = GHI - DNI cos z``. Zero where the air mass is undefined (sun
    down); NaN in the turbidity propagates.

    Parameters
    ----------
    apparent_zenith : array-like
        [°]
    airmass_abs : array-like
        Absolute air mass; NaN at night. [-]
    linke_turbidity : array-like
        [-]
    altitude : float
        [m]
    dni_extra : array-like
        [W/m²]
    """
    cosz = np.maximum(np.cos(np.radians(np.asarray(apparent_zenith, dtype=np.float64))), 0.0)
    am = np.asarray(airmass_abs, dtype=np.float64)
    tl = np.asarray(linke_turbidity, dtype=np.float64)
    i0 = np.asarray(dni_extra, dtype=np.float64)
    fh1, fh2 = np.exp(-altitude / 8000.0), np.exp(-altitude / 1250.0)
    cg1, cg2 = 5.09e-05 * altitude + 0.868, 3.92e-05 * altitude + 0.0387
    night = ~np.isfinite(am)
    am0 = np.where(night, 0.0, am)
    ghi = cg1 * i0 * cosz * np.exp(-cg2 * am0 * (fh1 + fh2 * (tl - 1.0)))
    ghi = np.where(night & np.isfinite(tl), 0.0, ghi)
    bnci = (0.664 + 0.163 / fh1) * i0 * np.exp(-0.09 * am0 * (tl - 1.0))
    bnci = np.where(night & np.isfinite(tl), 0.0, bnci)
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = (1.0 - (0.1 - 0.2 * np.exp(-tl)) / (0.1 + 0.882 / fh1)) / cosz
    cap = ghi * np.fmin(np.fmax(cap, 0.0), 1e20)
    dni = np.minimum(bnci, cap)
    dhi = ghi - dni * cosz
    return (np.asarray(ghi, dtype=np.float64), np.asarray(dni, dtype=np.float64),
            np.asarray(dhi, dtype=np.float64))
