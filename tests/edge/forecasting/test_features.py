"""edge.forecasting.features: the spec, the precomputed geometry, and edge/trainer parity."""

from __future__ import annotations

import datetime as dt
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edge.forecasting.features import (
    KT_DEFAULT,
    DailyGeometry,
    FeatureError,
    FeatureSpec,
    compute_feature_matrix,
    compute_features,
)
from edge.forecasting.site import load_site
from edge.forecasting.solar import clear_sky
from edge.simulation.sky import synthetic_weather

ROOT = Path(__file__).resolve().parents[3]
UTC = dt.UTC


@pytest.fixture(scope="module")
def site():
    return load_site(ROOT / "configs/sites/abuja.toml").site


@pytest.fixture(scope="module")
def spec():
    return FeatureSpec(use_temperature=True)


def test_spec_names_order_and_roundtrip(spec):
    names = spec.names
    assert names[: spec.history_steps] == ("kt_lag3", "kt_lag2", "kt_lag1", "kt_lag0")
    assert names[-1] == "temp_air"
    assert len(set(names)) == len(names) == spec.n_features
    assert FeatureSpec.from_dict(spec.to_dict()) == spec


def test_spec_from_dict_rejects_other_feature_code(spec):
    data = spec.to_dict()
    data["names"] = [*data["names"][:-1], "humidity"]
    with pytest.raises(FeatureError, match="do not match"):
        FeatureSpec.from_dict(data)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step_minutes": 7}, "divide"),
        ({"horizons_min": (15, 20)}, "multiple"),
        ({"horizons_min": (30, 15)}, "increasing"),
        ({"history_steps": 0}, "at least 1"),
    ],
    ids=["step", "horizon-multiple", "horizon-order", "history"],
)
def test_spec_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FeatureSpec(**kwargs)


def test_geometry_for_day_covers_every_issue_time(site, spec):
    geo = DailyGeometry.for_day(site, dt.date(2026, 3, 1), spec)
    first = dt.datetime(2026, 3, 1, 0, 15, tzinfo=UTC)
    last = dt.datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert geo.covers_issue(first) and geo.covers_issue(last)
    assert not geo.covers_issue(last + dt.timedelta(minutes=15))
    assert not geo.covers_issue(first + dt.timedelta(minutes=1))  # off the grid


def test_geometry_is_period_centred(site, spec):
    """Clear-sky GHI of a period is the value at its centre, not its end."""
    geo = DailyGeometry.for_day(site, dt.date(2026, 6, 21), spec)
    k = geo.index(dt.datetime(2026, 6, 21, 12, 0, tzinfo=UTC))
    centre = pd.DatetimeIndex([pd.Timestamp("2026-06-21 11:52:30", tz="UTC")])
    assert geo.ghi_clear[k] == pytest.approx(clear_sky(site, centre)["ghi_clear"].iloc[0])


def test_features_history_fill_rules(site, spec):
    geo = DailyGeometry.for_day(site, dt.date(2026, 6, 21), spec)
    noon = dt.datetime(2026, 6, 21, 12, 0, tzinfo=UTC)
    k = geo.index(noon)
    clear = geo.ghi_clear[k - 3: k + 1]
    x = compute_features(spec, geo, [0.5 * clear[0], np.nan, 0.8 * clear[2], np.nan], noon)
    kt = x[:4]
    # missing values take the nearest older valid value
    np.testing.assert_allclose(kt, [0.5, 0.5, 0.8, 0.8], rtol=1e-6)
    assert x[4] == pytest.approx(0.5)  # half the history was valid
    # leading gaps take the nearest newer value; all missing -> default
    x = compute_features(spec, geo, [np.nan, np.nan, 0.6 * clear[2], 0.7 * clear[3]], noon)
    np.testing.assert_allclose(x[:4], [0.6, 0.6, 0.6, 0.7], rtol=1e-6)
    x = compute_features(spec, geo, [np.nan] * 4, noon)
    assert np.all(x[:4] == KT_DEFAULT) and x[4] == 0.0


def test_features_at_night_are_defaults_and_sun_is_down(site, spec):
    geo = DailyGeometry.for_day(site, dt.date(2026, 6, 21), spec)
    midnight = dt.datetime(2026, 6, 21, 23, 0, tzinfo=UTC)
    x = dict(zip(spec.names, compute_features(spec, geo, [0.0] * 4, midnight, temp_air=22.0),
                 strict=True))
    assert x["kt_lag0"] == KT_DEFAULT and x["kt_valid_frac"] == 0.0
    assert x["cosz_0"] == 0.0 and x["ghics_0"] == 0.0
    assert x["temp_air"] == pytest.approx((22.0 - 25.0) / 20.0)


def test_features_reject_bad_inputs(site, spec):
    geo = DailyGeometry.for_day(site, dt.date(2026, 6, 21), spec)
    noon = dt.datetime(2026, 6, 21, 12, 0, tzinfo=UTC)
    with pytest.raises(FeatureError, match="history has 3"):
        compute_features(spec, geo, [1.0, 2.0, 3.0], noon)
    with pytest.raises(FeatureError, match="off the"):
        compute_features(spec, geo, [1.0] * 4, noon + dt.timedelta(minutes=5))
    with pytest.raises(FeatureError, match="outside"):
        compute_features(spec, geo, [1.0] * 4, noon + dt.timedelta(days=2))
    with pytest.raises(FeatureError, match="timezone"):
        compute_features(spec, geo, [1.0] * 4, noon.replace(tzinfo=None))
    with pytest.raises(FeatureError, match="different FeatureSpec"):
        compute_features(FeatureSpec(history_steps=2), geo, [1.0] * 2, noon)


def test_feature_parity_edge_and_trainer(site, spec):
    """The trainer's batch rows equal the edge's per-step vectors, bit for bit.

    The edge builds its geometry one day at a time; the trainer builds one
    geometry over the whole span. Real synthetic weather with gaps.
    """
    times = pd.date_range("2026-08-03 00:15", "2026-08-05 00:00", freq="15min", tz="UTC")
    wx = synthetic_weather(site, times - pd.Timedelta(minutes=7.5), seed=3)
    frame = pd.DataFrame({"ghi": wx["ghi"].to_numpy(), "temp_air": wx["temp_air"].to_numpy()},
                         index=times)
    rng = np.random.default_rng(0)
    frame.iloc[rng.choice(len(frame), 12, replace=False), 0] = np.nan
    frame.iloc[rng.choice(len(frame), 5, replace=False), 1] = np.nan
    batch = compute_feature_matrix(
        spec, frame, DailyGeometry.for_range(site, times[0], times[-1], spec)
    )
    days = {d: DailyGeometry.for_day(site, d, spec)
            for d in {(t - pd.Timedelta(minutes=15)).date() for t in times}}
    ghi = frame["ghi"]
    for i, t in enumerate(times):
        window = ghi.reindex(pd.date_range(end=t, periods=spec.history_steps, freq="15min"))
        geo = days[(t - pd.Timedelta(minutes=15)).date()]
        edge = compute_features(spec, geo, window.to_numpy(), t.to_pydatetime(),
                                temp_air=float(frame["temp_air"].iloc[i]))
        np.testing.assert_array_equal(edge, batch[i], err_msg=f"row {i} at {t}")
    assert np.isfinite(batch).all()
    assert 0.0 < batch[:, spec.names.index("kt_lag0")].mean() <= 1.5


def test_feature_matrix_needs_a_regular_grid(site, spec):
    times = pd.date_range("2026-08-03 06:00", periods=8, freq="15min", tz="UTC")
    frame = pd.DataFrame({"ghi": np.arange(8.0)}, index=times)
    geo = DailyGeometry.for_range(site, times[0], times[-1], spec)
    with pytest.raises(FeatureError, match="consecutive"):
        compute_feature_matrix(spec, frame.drop(times[3]), geo)
    with pytest.raises(FeatureError, match="'ghi'"):
        compute_feature_matrix(spec, frame.rename(columns={"ghi": "GHI"}), geo)


def test_new_specs_have_no_calendar_features_and_old_manifests_still_load(spec):
    """Physical features only by default; a manifest without time_features is a calendar one."""
    assert not {"tod_sin", "tod_cos", "doy_sin", "doy_cos"} & set(spec.names)
    assert spec.to_dict()["time_features"] == "physical"
    old = FeatureSpec(use_temperature=True, time_features="calendar").to_dict()
    del old["time_features"]  # what bundles made before the physical set carry
    restored = FeatureSpec.from_dict(old)
    assert restored.calendar and restored.names[-5:-1] == ("tod_sin", "tod_cos", "doy_sin",
                                                          "doy_cos")
    with pytest.raises(ValueError, match="physical/calendar"):
        FeatureSpec(time_features="lunar")


@pytest.mark.parametrize("time_features", ["physical", "calendar"])
def test_matrix_equals_single_rows_for_both_feature_sets(site, time_features):
    spec = FeatureSpec(time_features=time_features)
    times = pd.date_range("2026-01-05 06:00", periods=40, freq="15min", tz="UTC")
    w = synthetic_weather(site, times, seed=5)
    frame = pd.DataFrame({"ghi": w["ghi"].to_numpy()}, index=times)
    geo = DailyGeometry.for_range(site, times[0], times[-1], spec)
    batch = compute_feature_matrix(spec, frame, geo)
    assert batch.shape == (40, spec.n_features)
    ghi = np.concatenate([[np.nan] * 3, frame["ghi"].to_numpy()])
    for i in range(0, 40, 7):
        row = compute_features(spec, geo, ghi[i: i + 4], times[i].to_pydatetime())
        np.testing.assert_array_equal(row, batch[i])


def test_time_features_follow_solar_time(site):
    spec = FeatureSpec(use_temperature=True, time_features="calendar")
    geo = DailyGeometry.for_day(site, dt.date(2026, 6, 21), spec)
    names = spec.names
    # solar noon in Abuja: about 12:00 - 7.4/15 h = 11:30 UTC, tod angle ~ pi
    t = dt.datetime(2026, 6, 21, 11, 30, tzinfo=UTC)
    x = dict(zip(names, compute_features(spec, geo, [0.0] * 4, t), strict=True))
    angle = math.atan2(x["tod_sin"], x["tod_cos"]) % (2 * math.pi)
    assert angle == pytest.approx(math.pi, abs=0.02)


def test_compute_features_is_fast(site, spec):
    """The edge goal is a predict p50 under 50 us; features are a fraction of it."""
    geo = DailyGeometry.for_day(site, dt.date(2026, 6, 21), spec)
    t = dt.datetime(2026, 6, 21, 12, 0, tzinfo=UTC).timestamp()
    hist = [500.0, 510.0, 520.0, 530.0]
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(2000):
            compute_features(spec, geo, hist, t, temp_air=30.0)
        runs.append((time.perf_counter() - t0) / 2000)
    assert min(runs) < 200e-6  # generous: shared 2-core CI machines
