"""edge.forecasting.sun / solar / pvmodel: the numpy solar core on its own.

The year-long comparison with pvlib is the trainer's (tests/trainer/test_solar_parity.py);
these check the published reference case and the device-side contracts.
"""

from __future__ import annotations

import calendar
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from edge.forecasting import pvmodel, sun
from edge.forecasting.site import load_site
from edge.forecasting.solar import LinkeTurbidityMissingError, clear_sky_arrays
from firmware_bridge.config import ConfigError

ROOT = Path(__file__).resolve().parents[3]
ABUJA = load_site(ROOT / "configs/sites/abuja.toml")


def test_spa_reproduces_the_papers_worked_example():
    """Reda & Andreas (2008), Table A5.1: Golden CO, 2003-10-17 12:30:30 MST (UTC-7)."""
    t = calendar.timegm((2003, 10, 17, 19, 30, 30))
    pos = sun.solar_position([t], 39.742476, -105.1786, 1830.14, pressure=82000.0,
                             temperature=11.0, delta_t=67.0)
    assert pos.apparent_zenith[0] == pytest.approx(50.11162, abs=2e-5)
    assert pos.azimuth[0] == pytest.approx(194.34024, abs=2e-5)
    assert pos.zenith[0] > pos.apparent_zenith[0]  # refraction lifts the sun


def test_clear_sky_is_zero_at_night_and_positive_at_noon():
    day = calendar.timegm((2025, 3, 21, 0, 0, 0))
    t = day + np.arange(0, 86400, 600, dtype=np.float64)
    geo = clear_sky_arrays(ABUJA.site, t)
    night = geo["zenith"] > 91.0
    assert night.any() and (~night).any()
    for col in ("ghi_clear", "dni_clear", "dhi_clear"):
        assert np.isfinite(geo[col]).all()
        assert (geo[col][night] == 0.0).all()
    noon = int(np.argmin(geo["zenith"]))
    assert 850.0 < geo["ghi_clear"][noon] < 1100.0
    closure = geo["dhi_clear"] + geo["dni_clear"] * np.maximum(
        np.cos(np.radians(geo["apparent_zenith"])), 0.0)
    np.testing.assert_allclose(closure, geo["ghi_clear"], atol=1e-9)


def test_month_and_day_of_year_follow_the_utc_calendar():
    t = np.array([calendar.timegm((2024, 12, 31, 23, 59, 59)),
                  calendar.timegm((2025, 1, 1, 0, 0, 0)),
                  calendar.timegm((2024, 2, 29, 12, 0, 0))], dtype=np.float64)
    assert sun.day_of_year(t).tolist() == [366, 1, 60]
    assert sun.month_index(t).tolist() == [11, 0, 1]


def test_a_site_without_linke_turbidity_is_refused_with_the_reason():
    bare = dataclasses.replace(ABUJA.site, linke_turbidity=())
    with pytest.raises(LinkeTurbidityMissingError, match="linke_turbidity needs 12 monthly"):
        clear_sky_arrays(bare, [0.0])


def test_the_device_loader_names_the_file_and_key_of_missing_turbidity(tmp_path):
    text = (ROOT / "configs/sites/abuja.toml").read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith("linke_turbidity")]
    path = tmp_path / "site.toml"
    path.write_text("\n".join(lines) + "\n")
    assert load_site(path).site.linke_turbidity == ()  # the trainer may fill them
    with pytest.raises(ConfigError) as err:
        load_site(path, require_linke_turbidity=True)
    assert err.value.path == str(path) and err.value.key == "site.linke_turbidity"


def test_pvwatts_inverter_is_zero_without_dc_and_clips_at_its_rating():
    ac = pvmodel.pvwatts_ac(np.array([0.0, -5.0, 1000.0, 5000.0]), 3000.0, eta_inv_nom=0.96)
    assert ac[0] == 0.0 and ac[1] == 0.0
    assert 0.0 < ac[2] < 1000.0
    assert ac[3] == pytest.approx(0.96 * 3000.0)


def test_erbs_driesse_keeps_the_closure_and_drops_the_beam_near_the_horizon():
    ghi = np.array([50.0, 300.0, 800.0, 20.0])
    zen = np.array([60.0, 40.0, 20.0, 88.0])
    extra = np.full(4, 1360.0)
    dni, dhi = pvmodel.erbs_driesse(ghi, zen, extra)
    np.testing.assert_allclose(dhi + dni * np.cos(np.radians(zen)), ghi)
    assert dni[-1] == 0.0 and dhi[-1] == ghi[-1]
    assert (dni[:3] > 0.0).all()
