"""trainer.dataset: resampling, targets, masks, splits and reference forecasts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from edge.forecasting.features import DailyGeometry, FeatureSpec, compute_features
from edge.forecasting.site import load_site
from edge.forecasting.solar import clear_sky
from edge.simulation.sky import synthetic_weather
from trainer.data import DataError, read_weather, site_from_metadata
from trainer.dataset import (
    build_dataset,
    fit_cliper,
    resample_to_step,
    season_labels,
    smart_persistence,
)
from trainer.qc import quality_control

ROOT = Path(__file__).resolve().parents[2]
SPEC = FeatureSpec(step_minutes=15, horizons_min=(15, 60, 180), history_steps=4,
                   use_temperature=True)


@pytest.fixture(scope="module")
def site():
    return load_site(ROOT / "configs/sites/abuja.toml").site


@pytest.fixture(scope="module")
def minute_frame(site):
    """Three days of 1-min synthetic Abuja weather, instantaneous samples."""
    times = pd.date_range("2026-07-01", "2026-07-04", freq="1min", tz="UTC", inclusive="left")
    wx = synthetic_weather(site, times, seed=5)
    frame = wx[["ghi", "dni", "dhi", "temp_air"]].copy()
    frame.attrs["interval_minutes"] = 0.0
    return frame


def test_resample_gives_period_means_labelled_at_the_end(minute_frame):
    grid = resample_to_step(minute_frame, 15)
    end = pd.Timestamp("2026-07-01 12:00", tz="UTC")
    window = minute_frame["ghi"][(minute_frame.index > end - pd.Timedelta(minutes=15))
                                 & (minute_frame.index <= end)]
    assert len(window) == 15
    assert grid.loc[end, "ghi"] == pytest.approx(window.mean())
    assert (np.diff(grid.index.as_unit("s").asi8) == 15 * 60).all()
    assert grid.attrs["interval_label"] == "end"


def test_resample_needs_enough_samples_and_fine_data(minute_frame):
    sparse = minute_frame.drop(minute_frame.between_time("11:46", "11:56").index)
    grid = resample_to_step(sparse, 15)
    assert np.isnan(grid.loc[pd.Timestamp("2026-07-01 12:00", tz="UTC"), "ghi"])
    assert np.isfinite(grid.loc[pd.Timestamp("2026-07-01 12:15", tz="UTC"), "ghi"])
    hourly = minute_frame.iloc[::60].copy()
    hourly.attrs["interval_minutes"] = 60.0
    with pytest.raises(DataError, match="coarser than the 15-min step"):
        resample_to_step(hourly, 15)


def test_dataset_rows_targets_and_masks(site, minute_frame):
    ds = build_dataset(minute_frame, SPEC, site)
    n_h = len(SPEC.horizons_min)
    assert ds.X.shape == (len(ds), SPEC.n_features) and ds.Y.shape == (len(ds), n_h)
    grid = resample_to_step(minute_frame, 15)
    i = ds.times.get_loc(pd.Timestamp("2026-07-02 10:00", tz="UTC"))
    for j, h in enumerate(SPEC.horizons_min):
        end = ds.times[i] + pd.Timedelta(minutes=h)
        centre = pd.DatetimeIndex([end - pd.Timedelta(minutes=7.5)])
        cs = clear_sky(site, centre)["ghi_clear"].iloc[0]
        assert ds.ghi[i, j] == pytest.approx(grid.loc[end, "ghi"])
        assert ds.Y[i, j] == pytest.approx(min(grid.loc[end, "ghi"] / cs, 1.5), rel=1e-6)
        assert ds.mask[i, j]
    night = ds.times.hour == 1
    assert not ds.mask[night].any()
    assert (ds.zenith[ds.mask] < 85.0).all()
    day = ds.daytime()
    assert 0 < len(day) < len(ds)


def test_dataset_features_equal_the_edge_function(site, minute_frame):
    ds = build_dataset(minute_frame, SPEC, site)
    grid = resample_to_step(minute_frame, 15)
    t = pd.Timestamp("2026-07-02 14:30", tz="UTC")
    geo = DailyGeometry.for_day(site, t.date(), SPEC)
    hist = grid["ghi"].loc[t - pd.Timedelta(minutes=45): t].to_numpy()
    edge = compute_features(SPEC, geo, hist, t.to_pydatetime(),
                            temp_air=float(grid.loc[t, "temp_air"]))
    np.testing.assert_array_equal(ds.X[ds.times.get_loc(t)], edge)


def test_chronological_split_has_no_leakage(site, minute_frame):
    ds = build_dataset(minute_frame, SPEC, site)
    train, test = ds.split_at("2026-07-03")
    cut = pd.Timestamp("2026-07-03", tz="UTC")
    assert (train.times + pd.Timedelta(minutes=180) <= cut).all()
    assert (test.times >= cut).all()
    a, b = ds.split_fraction(0.5)
    assert a.times[-1] < b.times[0]
    with pytest.raises(DataError, match="empty"):
        ds.split_at("2030-01-01")


def test_smart_persistence_holds_the_issue_index(site, minute_frame):
    ds = build_dataset(minute_frame, SPEC, site)
    sp = smart_persistence(ds)
    lag0 = ds.X[:, SPEC.names.index("kt_lag0")]
    np.testing.assert_array_equal(sp[:, 0], lag0)
    np.testing.assert_array_equal(sp[:, 2], lag0)
    # the issue period's own index is the target one step earlier
    prev = ds.Y[:-1, 0]
    ok = ds.mask[:-1, 0] & (ds.X[1:, SPEC.names.index("kt_valid_frac")] == 1.0)
    np.testing.assert_allclose(sp[1:, 0][ok], prev[ok], rtol=1e-6)


def _ar1_frame(site, rho=0.9, days=40):
    """GHI = kt x clear sky with kt an AR(1) process at the 15-min step."""
    ends = pd.date_range("2026-01-01 00:15", periods=days * 96, freq="15min", tz="UTC")
    rng = np.random.default_rng(1)
    kt = np.empty(len(ends))
    kt[0] = 0.7
    for i in range(1, len(ends)):
        kt[i] = 0.7 + rho * (kt[i - 1] - 0.7) + rng.normal(0.0, 0.12)
    cs = clear_sky(site, ends - pd.Timedelta(minutes=7.5))["ghi_clear"].to_numpy()
    frame = pd.DataFrame({"ghi": np.clip(kt, 0.05, 1.4) * cs}, index=ends)
    frame.attrs["interval_minutes"] = 15.0
    frame.index = frame.index - pd.Timedelta(minutes=7.5)  # canonical: centred
    return frame


def test_cliper_beats_persistence_at_long_horizons(site):
    ds = build_dataset(_ar1_frame(site), SPEC, site)
    train, test = ds.split_fraction(0.7)
    cl = fit_cliper(train)
    assert ((cl.weight >= 0) & (cl.weight <= 1)).all()
    assert cl.weight[0] > cl.weight[-1]  # correlation decays with the horizon
    assert cl.climatology == pytest.approx(0.7, abs=0.08)
    j = 2  # 180 min

    def rmse(pred):
        m = test.mask[:, j]
        return np.sqrt(np.mean((pred[m, j] - test.Y[m, j]) ** 2))

    assert rmse(cl.predict(test)) < 0.9 * rmse(smart_persistence(test))


def test_tmy_smart_persistence_error_grows_with_horizon():
    path = Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"
    frame, meta = read_weather(path, "tmy3")
    site = site_from_metadata(meta)
    clean, _ = quality_control(frame, site)
    spec = FeatureSpec(step_minutes=60, horizons_min=(60, 120, 180), history_steps=3)
    ds = build_dataset(clean, spec, site)
    sp = smart_persistence(ds)
    err = [np.sqrt(np.nanmean(((sp[:, j] - ds.Y[:, j]) * ds.ghi_clear[:, j])[ds.mask[:, j]] ** 2))
           for j in range(3)]
    assert 30.0 < err[0] < err[1] < err[2] < 250.0


def test_dataset_refuses_bad_input(site, minute_frame):
    with pytest.raises(DataError, match="no 'ghi' column"):
        build_dataset(minute_frame.drop(columns="ghi"), SPEC, site)
    with pytest.raises(DataError, match="longest horizon"):
        build_dataset(minute_frame.iloc[:90], SPEC, site)


def test_season_labels():
    t = pd.DatetimeIndex(["2026-01-15", "2026-07-15", "2026-11-15"], tz="UTC")
    assert list(season_labels(t, 9.07)) == ["dry", "wet", "dry"]
    assert list(season_labels(t, 36.1)) == ["DJF", "JJA", "SON"]
