"""PV past the bundle: clear-sky PV on the plan grid, kt climatology, analogs, model blend."""

from __future__ import annotations

import datetime as dt

import numpy as np

from edge.forecasting.engine import clear_sky_pv
from edge.forecasting.features import DailyGeometry, FeatureSpec
from edge.planning.analog import FLOOR, analog_weights
from edge.planning.geometry import ClearSkyCache
from edge.planning.pv import HALF_LIFE_DAYS, KtClimatology, blend_model, clear_sky_index
from tests.edge.planning.sitesim import STEP, abuja

PER = 96


def test_clear_sky_pv_is_the_engines_own_chain() -> None:
    site = abuja()
    day = dt.date(2025, 6, 1)
    geo = DailyGeometry.for_day(site.site, day, FeatureSpec(horizons_min=(15,), history_steps=1))
    engine = clear_sky_pv(site, geo)[:PER]
    k0 = int(dt.datetime(2025, 6, 1, 0, 15, tzinfo=dt.UTC).timestamp()) // STEP
    ours, up = ClearSkyCache(site, STEP).get(k0, PER)
    np.testing.assert_allclose(ours, engine)
    assert not up[0] and up[48]  # 00:15 UTC is night in Abuja, 12:00 UTC is day
    again, _ = ClearSkyCache(site, STEP).get(k0 + 40, 3 * PER)  # across UTC days
    np.testing.assert_allclose(again[:PER - 40], engine[40:])


def test_periods_that_say_nothing_about_the_sky_carry_no_index() -> None:
    clear = np.array([0.0, 1000.0, 1000.0, 1000.0, 2000.0])
    pv = np.array([0.0, 600.0, 600.0, np.nan, 2890.0])
    cut = np.array([False, False, True, False, False])
    kt = clear_sky_index(pv, clear, cut, dc_capacity=3000.0, ac_limit=2900.0)
    assert np.isnan(kt[0]) and kt[1] == 0.6
    assert np.isnan(kt[2]) and np.isnan(kt[3]) and np.isnan(kt[4])  # curtailed, missing, clipped


def _rows(values: list[float]) -> tuple[np.ndarray, np.ndarray]:
    kt = np.full((len(values), PER), np.nan)
    kt[:, 28:72] = np.asarray(values)[:, None]  # daylight 07:00-18:00
    hours = np.tile(np.arange(PER) // 4, (len(values), 1))
    return kt, hours


def test_without_history_the_prior_holds_and_with_it_the_sites_days() -> None:
    kt, hours = _rows([0.5, 0.6])
    assert KtClimatology.build(kt, hours).method == "clear_sky_prior"
    kt, hours = _rows([0.6] * 5)
    clim = KtClimatology.build(kt, hours)
    assert clim.method == "climatology"
    np.testing.assert_allclose(clim.quantiles[12], 0.6)


def test_scenarios_are_whole_days_drawn_more_often_when_recent() -> None:
    values = [0.2 + 0.02 * i for i in range(28)]  # each day its own index, newest last
    kt, hours = _rows(values)
    clim = KtClimatology.build(kt, hours)
    assert clim.weights[-1] > clim.weights[0]
    np.testing.assert_allclose(clim.weights[-1] / clim.weights[-8], 2.0 ** (7 / HALF_LIFE_DAYS))
    slots = np.r_[np.arange(40, PER), np.arange(0, PER)]
    day = np.r_[np.zeros(PER - 40, dtype=np.int64), np.ones(PER, dtype=np.int64)]
    draw = clim.sample(np.random.default_rng(0), slots, day, 500)
    daylight0 = draw[(slots >= 28) & (slots < 72) & (day == 0)]
    daylight1 = draw[(slots >= 28) & (slots < 72) & (day == 1)]
    assert np.all(daylight0 == daylight0[0]) and np.all(daylight1 == daylight1[0])  # one day each
    assert not np.all(daylight0[0] == daylight1[0])  # days drawn independently
    assert np.mean(daylight0[0]) > np.mean(values)  # recency: recent (sunnier) days likelier


def test_a_cloudy_morning_makes_a_cloudy_afternoon_likelier() -> None:
    values = [0.3] * 10 + [0.9] * 10
    kt, hours = _rows(values)
    clim = KtClimatology.build(kt, hours)
    morning = np.arange(28, 44)
    today = (morning, np.full(morning.size, 0.32))
    slots = np.arange(44, PER)
    day = np.zeros(slots.size, dtype=np.int64)
    cloudy = clim.sample(np.random.default_rng(1), slots, day, 2000, today=today)[0]
    sunny = clim.sample(np.random.default_rng(1), slots, day, 2000, today=None)[0]
    assert np.mean(cloudy < 0.5) > 0.7 > np.mean(sunny < 0.5)
    w = analog_weights(np.array([[0.3] * 8, [0.9] * 8, [0.6] * 8]), np.full(8, 0.3))
    assert w is not None and w[0] > w[2] > w[1] >= FLOOR / 3 - 1e-12
    assert analog_weights(np.ones((5, 3)), np.ones(3)) is None  # too few periods


def test_the_model_leads_within_its_horizons_and_fades_after() -> None:
    rng = np.random.default_rng(2)
    n, s = 24, 200
    clear = np.full(n, 2000.0)
    pot = np.sort(rng.uniform(0.0, 2000.0, (n, s)), axis=1)
    minutes = 15.0 * np.arange(1, n + 1)
    rows = [[100.0, 200.0, 300.0]] * 5
    out, steps = blend_model(pot, clear, minutes, (15, 30, 60, 120, 180), rows, ac_limit=2900.0)
    assert steps == 15  # to 180 min, then 195-225 min fading (240 min has weight 0)
    q = np.quantile(out[:12], (0.1, 0.5, 0.9), axis=1)
    np.testing.assert_allclose(q[1], 200.0, atol=3.0)
    np.testing.assert_allclose(q[0], 100.0, atol=8.0)
    np.testing.assert_allclose(q[2], 300.0, atol=8.0)
    assert np.all(np.diff(out[:12], axis=1) >= 0)  # each scenario keeps its rank
    np.testing.assert_array_equal(out[16:], pot[16:])
    assert 0.0 < np.median(out[13]) < np.median(pot[13])


def test_the_clear_sky_cache_serves_spans_longer_than_it_keeps() -> None:
    site = abuja()
    cache = ClearSkyCache(site, STEP, keep_days=3)
    k0 = int(dt.datetime(2025, 6, 1, 0, 15, tzinfo=dt.UTC).timestamp()) // STEP
    far, _ = cache.get(k0 + 8 * PER, PER)  # newest first, then a long span back
    long, _ = cache.get(k0, 9 * PER)
    np.testing.assert_allclose(long[8 * PER:], far)
    assert long.shape == (9 * PER,) and len(cache._days) <= 9
