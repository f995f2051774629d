"""The device's numpy solar core against pvlib: a year at 1-minute steps, five sites.

The device computes sun position, clear sky and the PV chain without pvlib
(:mod:`edge.forecasting.sun`, :mod:`edge.forecasting.pvmodel`); pvlib stays on
the trainer side, and here it is the reference. Tolerances (issue: a
lighter device):

* zenith, apparent zenith: within 0.01 degrees at every minute;
* clear-sky GHI (and DNI, DHI): within 0.5 W/m² or 0.1 % of pvlib's value,
  whichever is larger, at every minute (at night both are 0);
* PV power: within 0.1 % of pvlib's value plus an absolute floor of one
  millionth of the nameplate (3 mW for 3 kWp): a relative tolerance means
  nothing on the milliwatts at dawn, and the floor keeps it from demanding
  bit-identical results there.

Clear sky and the PV chain are compared on the same (pvlib) sun position,
so each model is held to its own tolerance, and once end to end.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from edge.forecasting import sun
from edge.forecasting.forecast import (
    ALBEDO,
    SAPM_PARAMS,
    WIND_SPEED,
    decompose,
    pv_power,
)
from edge.forecasting.site import SiteConfig, load_site
from edge.forecasting.solar import clear_sky_arrays
from trainer.linke import with_linke_turbidity

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ABUJA = load_site(REPO / "configs/sites/abuja.toml")

SITES = [
    ABUJA.site,
    SiteConfig(id="greensboro", latitude=36.1, longitude=-79.95, altitude=270.0, timezone="UTC"),
    SiteConfig(id="sand-point", latitude=55.3, longitude=-160.5, altitude=7.0, timezone="UTC"),
    SiteConfig(id="miami", latitude=25.8, longitude=-80.3, altitude=2.0, timezone="UTC"),
    SiteConfig(id="johannesburg", latitude=-26.2, longitude=28.05, altitude=1750.0,
               timezone="UTC"),
]
TIMES = pd.date_range("2025-01-01", "2026-01-01", freq="1min", tz="UTC", inclusive="left")
EPOCH = TIMES.as_unit("s").asi8.astype(np.float64)


def _array(site: SiteConfig):
    """Abuja's array, tilted to the latitude and facing the equator."""
    return dataclasses.replace(ABUJA.array, tilt=min(abs(site.latitude), 60.0),
                               azimuth=180.0 if site.latitude >= 0 else 0.0)


def _pvlib_pv(array, zenith, azimuth, ghi, dni, dhi):
    """The forecast's chain in pvlib: isotropic POA, SAPM cell, PVWatts DC and inverter."""
    poa = pvlib.irradiance.get_total_irradiance(
        array.tilt, array.azimuth, zenith, azimuth, dni, ghi, dhi, albedo=ALBEDO,
        model="isotropic")["poa_global"]
    poa = np.nan_to_num(np.asarray(poa, dtype=float))
    poa = np.where(poa > 0.0, poa, 0.0)
    tcell = pvlib.temperature.sapm_cell(poa, 25.0, WIND_SPEED, **SAPM_PARAMS)
    pdc = np.clip(pvlib.pvsystem.pvwatts_dc(poa, tcell, array.dc_capacity, array.gamma_pdc),
                  0.0, None) * (1.0 - array.losses_percent / 100.0)
    eta = array.inverter_efficiency
    pac = pvlib.inverter.pvwatts(pdc, array.ac_limit / eta, eta_inv_nom=eta)
    return np.clip(np.asarray(pac, dtype=float), 0.0, array.ac_limit)


def _within(ours, ref, absolute, relative):
    ours, ref = np.asarray(ours, dtype=float), np.asarray(ref, dtype=float)
    assert np.isfinite(ours).all() and np.isfinite(ref).all()
    err = np.abs(ours - ref)
    bad = err > np.maximum(absolute, relative * np.abs(ref))
    assert not bad.any(), (f"{bad.sum()} of {bad.size} outside; worst {err.max():.3g} "
                           f"at reference {ref[np.argmax(err)]:.6g}")


@pytest.mark.parametrize("site", SITES, ids=lambda s: s.id)
def test_numpy_core_matches_pvlib_for_a_year_of_minutes(site):
    site = with_linke_turbidity(site)
    array = _array(site)
    loc = pvlib.location.Location(site.latitude, site.longitude, tz="UTC",
                                  altitude=site.altitude)
    ref_pos = loc.get_solarposition(TIMES)
    linke = pd.Series(np.asarray(site.linke_turbidity)[TIMES.month - 1], index=TIMES)
    ref_cs = loc.get_clearsky(TIMES, model="ineichen", solar_position=ref_pos,
                              linke_turbidity=linke)
    ref_extra = np.asarray(pvlib.irradiance.get_extra_radiation(TIMES), dtype=float)
    ours = clear_sky_arrays(site, EPOCH)

    # sun position
    for col in ("zenith", "apparent_zenith"):
        _within(ours[col], ref_pos[col], 0.01, 0.0)
    dazi = (ours["azimuth"] - ref_pos["azimuth"].to_numpy() + 180.0) % 360.0 - 180.0
    assert np.abs(dazi[ours["zenith"] < 89.9]).max() < 0.01
    _within(ours["dni_extra"], ref_extra, 1e-6, 0.0)

    # clear sky, end to end (our sun) and model only (pvlib's sun)
    for col in ("ghi", "dni", "dhi"):
        _within(ours[f"{col}_clear"], ref_cs[col], 0.5, 1e-3)
    am = sun.absolute_airmass(sun.relative_airmass(ref_pos["apparent_zenith"].to_numpy()),
                              sun.pressure_from_altitude(site.altitude))
    model_only = sun.ineichen(ref_pos["apparent_zenith"].to_numpy(), am, linke.to_numpy(),
                              site.altitude, ref_extra)
    for col, value in zip(("ghi", "dni", "dhi"), model_only, strict=True):
        _within(value, ref_cs[col], 0.5, 1e-3)

    # the PV chain: clear sky, and a cloudy sky through the decomposition
    zen, azi = ref_pos["zenith"].to_numpy(), ref_pos["azimuth"].to_numpy()
    ghi_c, dni_c, dhi_c = (ref_cs[c].to_numpy() for c in ("ghi", "dni", "dhi"))
    floor = 1e-6 * array.dc_capacity
    _within(pv_power(ghi_c, dni_c, dhi_c, zen, azi, array=array),
            _pvlib_pv(array, zen, azi, ghi_c, dni_c, dhi_c), floor, 1e-3)
    kt = 0.05 + 1.2 * (0.5 + 0.5 * np.sin(EPOCH / 2351.0))  # sweeps every Erbs branch
    ghi = kt * ghi_c
    dni, dhi = decompose(ghi, zen, ref_extra)
    with np.errstate(divide="ignore", invalid="ignore"):
        erbs = pvlib.irradiance.erbs_driesse(ghi, zen, dni_extra=ref_extra)
    ref_dni = np.where(np.asarray(erbs["dni"]) > 0.0, erbs["dni"], 0.0)
    _within(dni, ref_dni, 1e-6, 1e-9)
    _within(pv_power(ghi, dni, dhi, zen, azi, array=array),
            _pvlib_pv(array, zen, azi, ghi, ref_dni, ghi - ref_dni * np.cos(np.radians(zen))),
            floor, 1e-3)

    # end to end: our sun, our clear sky, our chain against pvlib's throughout
    _within(pv_power(ours["ghi_clear"], ours["dni_clear"], ours["dhi_clear"], ours["zenith"],
                     ours["azimuth"], array=array),
            _pvlib_pv(array, zen, azi, ghi_c, dni_c, dhi_c), floor, 1e-3)
