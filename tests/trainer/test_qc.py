"""trainer.qc: flags counted on constructed bad rows, clear errors on unusable data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from edge.forecasting.forecast import decompose
from edge.forecasting.site import load_site
from edge.forecasting.solar import clear_sky
from trainer.data import DataError, read_weather, site_from_metadata
from trainer.qc import FLAGS, quality_control

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def abuja():
    return load_site(ROOT / "configs/sites/abuja.toml")


def _clean_day(site, freq="10min"):
    """A consistent clear-ish day: GHI, DNI, DHI with the closure exact."""
    times = pd.date_range("2026-02-01 00:05", "2026-02-01 23:55", freq=freq, tz="UTC")
    geo = clear_sky(site, times)
    ghi = 0.8 * geo["ghi_clear"].to_numpy()
    dni, dhi = decompose(ghi, geo["zenith"], geo["dni_extra"])
    return pd.DataFrame({"ghi": ghi, "dni": dni, "dhi": dhi, "temp_air": 30.0,
                         "pv_power": 2.0 * ghi}, index=times)


def test_clean_data_passes_untouched(abuja):
    frame = _clean_day(abuja.site)
    out, report = quality_control(frame, abuja.site, array=abuja.array)
    assert report.rows_in == report.rows_out == len(frame)
    assert all(report.counts[f] == 0 for f in FLAGS if f != "night")
    assert report.counts["night"] > 0 and report.daytime_rows > 0
    day = frame["ghi"] > 0
    pd.testing.assert_frame_equal(out[day], frame[day])
    assert report.gaps == 0 and report.spacing_minutes == 10.0


def test_constructed_bad_rows_are_flagged_and_counted(abuja):
    frame = _clean_day(abuja.site)
    noon = frame.index.get_indexer([pd.Timestamp("2026-02-01 11:35", tz="UTC")])[0]
    frame.iloc[noon, frame.columns.get_loc("ghi")] = -50.0  # negative GHI
    frame.iloc[noon + 1, frame.columns.get_loc("ghi")] = 3000.0  # above physical limit
    frame.iloc[noon + 2, frame.columns.get_loc("dni")] *= 0.5  # closure broken
    frame.iloc[noon + 3, frame.columns.get_loc("dhi")] = 2000.0  # DHI limit
    frame.iloc[noon + 4, frame.columns.get_loc("temp_air")] = 85.0
    frame.iloc[noon + 5, frame.columns.get_loc("pv_power")] = 9000.0  # > 1.2 x 3 kWp
    frame.iloc[noon + 6, frame.columns.get_loc("ghi")] = -2.0  # small negative: zeroed
    dup = frame.iloc[[noon + 7, noon + 8]]
    frame = pd.concat([frame, dup])  # two duplicated timestamps, out of order
    out, report = quality_control(frame, abuja.site, array=abuja.array)
    c = report.counts
    assert c["duplicate"] == 2 and report.rows_out == report.rows_in - 2
    assert c["ghi_limits"] == 2 and c["dhi_limits"] == 1
    assert c["closure"] == 1 and c["temp_limits"] == 1 and c["pv_limits"] == 1
    assert out.index.is_monotonic_increasing and out.index.is_unique
    assert math.isnan(out["ghi"].iloc[noon]) and math.isnan(out["ghi"].iloc[noon + 1])
    assert out.iloc[noon + 2][["ghi", "dni", "dhi"]].isna().all()  # can't tell which
    assert math.isnan(out["temp_air"].iloc[noon + 4])
    assert out["ghi"].iloc[noon + 6] == 0.0
    text = "\n".join(report.lines())
    assert "closure: 1" in text and "duplicate: 2" in text


def test_night_irradiance_is_zeroed(abuja):
    frame = _clean_day(abuja.site)
    night = frame.index.hour == 2
    frame.loc[night, "ghi"] = 15.0  # sensor offset at night
    out, report = quality_control(frame, abuja.site)
    assert (out.loc[night, "ghi"] == 0.0).all()
    assert report.counts["night"] >= night.sum()


def test_curtailed_pv_is_excluded_but_irradiance_kept(abuja):
    frame, _ = read_weather(DATA / "helio_abuja_1day.csv", "helio", site=abuja)
    out, report = quality_control(frame, abuja.site, array=abuja.array)
    curtailing = frame["charge_state"].isin(["absorption", "float"])
    assert report.counts["curtailed"] == int(curtailing.sum()) > 0
    assert out.loc[curtailing, "pv_power"].isna().all()
    assert out.loc[~curtailing, "pv_power"].notna().all()
    assert out.loc[curtailing, "ghi"].notna().all()


def test_gaps_are_counted(abuja):
    frame = _clean_day(abuja.site)
    frame = frame.drop(frame.index[60:66])
    _, report = quality_control(frame, abuja.site)
    assert report.gaps == 1 and report.missing_rows == 6


def test_time_zones_are_converted(abuja):
    frame = _clean_day(abuja.site)
    local = frame.tz_convert("Africa/Lagos")
    out, _ = quality_control(local, abuja.site)
    assert str(out.index.tz) == "UTC"
    assert out.index[0] == frame.index[0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda f: f.reset_index(drop=True), "no timestamps"),
        (lambda f: f.tz_localize(None), "no time zone"),
        (lambda f: f.rename(columns={"ghi": "global"}), "no 'ghi' column"),
        (lambda f: f.iloc[:0], "no rows"),
        (lambda f: f[f.index.hour < 5], "all night"),
        (lambda f: f.assign(ghi="bright"), "not numeric"),
    ],
    ids=["no-timestamps", "naive", "wrong-columns", "empty", "all-night", "text"],
)
def test_unusable_data_is_refused_clearly(abuja, make, message):
    with pytest.raises(DataError, match=message):
        quality_control(make(_clean_day(abuja.site)), abuja.site)


def test_report_is_json_ready(abuja):
    _, report = quality_control(_clean_day(abuja.site), abuja.site)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["rows_in"] == 144 and set(data["counts"]) == set(FLAGS)


def test_real_tmy_data_has_few_flags():
    path = Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"
    frame, meta = read_weather(path, "tmy3")
    out, report = quality_control(frame, site_from_metadata(meta))
    flagged = sum(v for k, v in report.counts.items() if k != "night")
    assert flagged < 0.02 * len(frame)
    assert np.isfinite(out["ghi"]).mean() > 0.98
