"""edge.forecasting.forecast: clear-sky index quantiles -> irradiance and PV power quantiles."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.forecasting.features import DailyGeometry, FeatureSpec
from edge.forecasting.forecast import (
    ForecastPhysics,
    decompose,
    ghi_from_pv_power,
    pv_power,
    pv_power_from_poa,
    sort_quantiles,
)
from edge.forecasting.site import load_site
from edge.forecasting.solar import clear_sky

ROOT = Path(__file__).resolve().parents[3]
UTC = dt.UTC


@pytest.fixture(scope="module")
def site():
    return load_site(ROOT / "configs/sites/abuja.toml")


@pytest.fixture(scope="module")
def physics(site):
    spec = FeatureSpec()
    geo = DailyGeometry.for_day(site.site, dt.date(2026, 1, 15), spec)
    return ForecastPhysics(site.array, geo)


NOON = dt.datetime(2026, 1, 15, 11, 30, tzinfo=UTC)  # about solar noon in Abuja


def test_clear_sky_noon_gives_the_arrays_expected_output(site, physics):
    """kt = 1 at noon: PV near nameplate x irradiance/1000 x (1 - losses) x temperature."""
    f = physics.postprocess(np.ones(15), NOON, temp_air=25.0)
    geo = physics.geometry
    k = geo.index(NOON) + 1  # 15-min target, centre 11:37:30
    ghi, dni, dhi = geo.ghi_clear[k], geo.dni_clear[k], geo.dhi_clear[k]
    np.testing.assert_allclose(f.ghi[0], ghi, rtol=1e-9)  # kt x ghi_clear
    arr = site.array
    poa = pvlib.irradiance.get_total_irradiance(
        arr.tilt, arr.azimuth, geo.zenith[k], geo.azimuth[k], dni, ghi, dhi)["poa_global"]
    # rough physics: nameplate x POA/1000 x (1 - losses) x (1 + gamma (Tcell - 25)) x eta
    tcell = 25.0 + poa / 1000.0 * 30.0  # open rack, light wind: about +30 C at 1000 W/m2
    rough = (arr.dc_capacity * poa / 1000.0 * (1 - arr.losses_percent / 100.0)
             * (1 + arr.gamma_pdc * (tcell - 25.0)) * arr.inverter_efficiency)
    assert f.pv_power[0, 1] == pytest.approx(rough, rel=0.06)
    assert 1500.0 < f.pv_power[0, 1] < arr.ac_limit


def test_output_is_clipped_at_the_ac_limit(site):
    small_inverter = dataclasses.replace(site.array, ac_capacity=1200.0)
    p = pv_power_from_poa(np.array([0.0, 200.0, 600.0, 1000.0, 1400.0]), small_inverter)
    assert p[0] == 0.0
    assert p.max() == pytest.approx(1200.0)
    assert np.all(p <= 1200.0) and np.all(np.diff(p) >= 0.0)
    assert p[1] < 1200.0  # low light is not clipped


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-0.5, 2.5, allow_nan=False), min_size=15, max_size=15),
       st.floats(-10.0, 50.0))
def test_quantiles_never_cross(physics, raw, temp):
    f = physics.postprocess(np.array(raw), NOON, temp_air=temp)
    for name in ("kt", "ghi", "dni", "dhi", "pv_power"):
        q = getattr(f, name)
        assert q.shape == (5, 3)
        assert np.all(np.diff(q, axis=1) >= 0.0), name
        assert np.all(q >= 0.0), name
    for entry in f.entries():
        for name in ("ghi", "dni", "dhi", "pv_power"):
            v = entry[name]
            assert v["p10"] <= v["p50"] <= v["p90"]


def test_decomposition_keeps_the_closure():
    ghi = np.array([0.0, 50.0, 300.0, 700.0, 1000.0, 200.0])
    zen = np.array([30.0, 80.0, 45.0, 20.0, 10.0, 88.0])
    dni, dhi = decompose(ghi, zen, 1360.0)
    np.testing.assert_allclose(dhi + dni * np.cos(np.radians(zen)), ghi, atol=1e-9)
    assert np.all(dni >= 0.0) and np.all(dhi >= 0.0)
    assert dni[-1] == 0.0  # beyond 87 degrees all is diffuse
    assert dni[4] > dhi[4]  # bright sky near zenith is mostly beam


def test_forecast_payload_shape(physics):
    f = physics.postprocess(np.tile([0.7, 0.8, 0.9], 5), NOON)
    entries = f.entries()
    assert [e["horizon_min"] for e in entries] == [15, 30, 60, 120, 180]
    assert entries[2]["period_end"] == "2026-01-15T12:30:00Z"
    assert entries[0]["period"] == "PT15M"
    assert set(entries[0]) == {"horizon_min", "period_end", "period", "ghi", "dni", "dhi",
                               "pv_power"}
    assert f.quantiles["ghi"][0] == pytest.approx(list(f.ghi[0]))


def test_batch_matches_single_step(physics):
    rng = np.random.default_rng(2)
    ks = np.arange(40, 60)
    kt = rng.uniform(0.2, 1.1, size=(ks.size, 5, 3))
    batch = physics.physical(kt, ks, temp_air=np.full(ks.size, 28.0))
    for i, k in enumerate(ks):
        t = dt.datetime.fromtimestamp(int(physics.geometry.period_ends()[k]), tz=UTC)
        one = physics.postprocess(kt[i].ravel(), t, temp_air=28.0)
        np.testing.assert_allclose(one.pv_power, batch["pv_power"][i], rtol=1e-12)
        np.testing.assert_allclose(one.dhi, batch["dhi"][i], rtol=1e-12)


def test_pv_power_reference_and_inversion_round_trip(site):
    times = pd.date_range("2026-02-10 07:00", "2026-02-10 16:00", freq="10min", tz="UTC")
    geo = clear_sky(site.site, times)
    kt = np.linspace(0.3, 1.0, len(times))
    ghi = kt * geo["ghi_clear"].to_numpy()
    dni, dhi = decompose(ghi, geo["zenith"], geo["dni_extra"])
    power = pv_power(ghi, dni, dhi, geo["zenith"], geo["azimuth"], array=site.array,
                     temp_air=25.0)
    est = ghi_from_pv_power(power, geo, site.array, temp_air=25.0)
    assert np.isfinite(est).mean() > 0.8
    # PV clear-sky index is not exactly GHI's (beam/diffuse mix): within 15 % with the
    # sun above 20 degrees; lower, diffuse light reaches a tilted array less well
    ok = np.isfinite(est) & (geo["zenith"].to_numpy() < 70.0)
    np.testing.assert_allclose(est[ok], ghi[ok], rtol=0.15)


def test_inversion_refuses_clipped_samples(site):
    times = pd.date_range("2026-02-10 11:00", periods=3, freq="10min", tz="UTC")
    geo = clear_sky(site.site, times)
    power = np.array([site.array.ac_limit, math.nan, 100.0])
    est = ghi_from_pv_power(power, geo, site.array)
    assert math.isnan(est[0]) and math.isnan(est[1]) and est[2] > 0.0


def test_sort_quantiles_orders_last_axis():
    q = sort_quantiles([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    np.testing.assert_array_equal(q, [[1.0, 2.0, 3.0], [0.0, 4.0, 5.0]])
