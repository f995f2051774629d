"""trainer.data: readers, timestamp conventions, location, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from edge.forecasting.site import load_site
from edge.forecasting.solar import clear_sky
from trainer.data import FORMATS, READERS, DataError, read_weather, site_from_metadata

ROOT = Path(__file__).resolve().parents[2]
PVLIB_DATA = Path(pvlib.__file__).parent / "data"
DATA = Path(__file__).parent / "data"
TMY_FILES = [
    pytest.param(PVLIB_DATA / "723170TYA.CSV", "tmy3", (36.1, -79.95), id="tmy3-greensboro"),
    pytest.param(PVLIB_DATA / "703165TY.csv", "tmy3", (55.317, -160.517), id="tmy3-sandpoint"),
    pytest.param(PVLIB_DATA / "12839.tm2", "tmy2", (25.8, -80.267), id="tmy2-miami"),
]


@pytest.fixture(scope="module")
def abuja():
    return load_site(ROOT / "configs/sites/abuja.toml")


def test_every_pvlib_reader_is_known():
    names = {n[len("read_"):] for n in dir(pvlib.iotools) if n.startswith("read_")}
    names -= {"panond", "midc_raw_data_from_nrel"}  # not weather time series
    assert names <= set(READERS)
    assert {"csv", "helio"} <= set(FORMATS)
    for spec in READERS.values():
        assert callable(getattr(pvlib.iotools, spec.function))


@pytest.mark.parametrize(("path", "fmt", "latlon"), TMY_FILES)
def test_tmy_files_read_to_the_canonical_frame(path, fmt, latlon):
    frame, meta = read_weather(path, fmt)
    assert len(frame) == 8760
    assert str(frame.index.tz) == "UTC"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert {"ghi", "dni", "dhi", "temp_air"} <= set(frame.columns)
    assert (meta["latitude"], meta["longitude"]) == pytest.approx(latlon, abs=1e-3)
    assert meta["location_source"] == "file"
    assert meta["interval_minutes"] == 60.0 and meta["interval_label"] == "center"
    assert (frame.index.minute == 30).all()  # hourly means, centred on the half hour
    assert -40.0 < frame["temp_air"].min() < frame["temp_air"].max() < 45.0
    assert frame["ghi"].max() > 700.0
    assert frame.attrs["interval_minutes"] == 60.0


@pytest.mark.parametrize(("path", "fmt", "latlon"), TMY_FILES)
def test_timestamp_convention_matches_the_sun(path, fmt, latlon):
    """Measured GHI lines up with computed clear-sky GHI best with no shift.

    Getting a convention wrong by half or one hour moves the best match away
    from zero; also, on clear days the GHI-weighted centre of the day (the
    data's solar noon) is within half a step of the clear-sky model's.
    """
    frame, meta = read_weather(path, fmt)
    site = site_from_metadata(meta)
    ghi = frame["ghi"].to_numpy()
    corr = {}
    for shift in (-60, -30, 0, 30, 60):
        cs = clear_sky(site, frame.index + pd.Timedelta(minutes=shift))["ghi_clear"]
        corr[shift] = np.corrcoef(ghi, cs.to_numpy())[0, 1]
    assert max(corr, key=corr.get) == 0, corr
    cs = clear_sky(site, frame.index)
    kt = frame["ghi"] / cs["ghi_clear"].where(cs["ghi_clear"] > 50)
    daily = kt.groupby(frame.index.floor("D")).mean()
    clear_days = daily[daily > 0.7].index[:20]
    assert len(clear_days) >= 5
    # averaged over clear days the peak sits within half a step of solar noon
    offsets = []
    for day in clear_days:
        sel = frame.index.floor("D") == day
        weights = frame["ghi"][sel].to_numpy()
        centre = np.average(frame.index[sel].asi8, weights=weights)
        weights_cs = cs["ghi_clear"][sel].to_numpy()
        offsets.append((centre - np.average(frame.index[sel].asi8, weights=weights_cs)) / 6e10)
    assert abs(float(np.mean(offsets))) < 30.0


def test_epw_and_tmy3_agree_on_time():
    """The EPW fixture holds two TMY3 days: same UTC centres, same values."""
    epw, meta = read_weather(DATA / "greensboro_2days.epw", "epw")
    tmy, _ = read_weather(PVLIB_DATA / "723170TYA.CSV", "tmy3")
    assert len(epw) == 48
    assert meta["interval_minutes"] == 60.0 and meta["source_interval_label"] == "start"
    joined = tmy.loc[epw.index]
    np.testing.assert_allclose(epw[["ghi", "dni", "dhi"]], joined[["ghi", "dni", "dhi"]])
    np.testing.assert_allclose(epw["temp_air"], joined["temp_air"], atol=0.06)


def test_csv_reader_end_labelled(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text(
        "timestamp,ghi,temp_air,pv_power,comment\n"
        "2026-01-01T10:15:00Z,500,30,1000,a\n"
        "2026-01-01T10:30:00Z,510,31,1010,b\n"
        "2026-01-01T11:45:00+01:00,520,,1020,c\n"
    )
    frame, meta = read_weather(path, "csv", site=load_site(ROOT / "configs/sites/abuja.toml"))
    assert list(frame.columns) == ["ghi", "temp_air", "pv_power"]
    assert frame.index[0] == pd.Timestamp("2026-01-01 10:07:30", tz="UTC")
    assert frame.index[2] == pd.Timestamp("2026-01-01 10:37:30", tz="UTC")  # from +01:00
    assert meta["location_source"] == "site" and meta["latitude"] == pytest.approx(9.0765)
    assert np.isnan(frame["temp_air"].iloc[2])


def test_interval_label_override(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("timestamp,ghi\n2026-01-01T10:00:00Z,1\n2026-01-01T10:10:00Z,2\n")
    start, _ = read_weather(path, "csv", site=_site(), interval_label="start")
    inst, _ = read_weather(path, "csv", site=_site(), interval_label="instant")
    assert start.index[0] == pd.Timestamp("2026-01-01 10:05", tz="UTC")
    assert inst.index[0] == pd.Timestamp("2026-01-01 10:00", tz="UTC")


def test_helio_telemetry(abuja):
    frame, meta = read_weather(DATA / "helio_abuja_1day.csv", "helio", site=abuja)
    assert meta["site_id"] == "abuja-01" and meta["ghi_source"] == "pyranometer"
    assert {"ghi", "pv_power", "charge_state", "battery_voltage"} <= set(frame.columns)
    assert frame["charge_state"].isin(["off", "bulk", "absorption", "float"]).all()
    assert frame.index[0] == pd.Timestamp("2026-03-10 00:07:30", tz="UTC")


def test_helio_without_pyranometer_derives_ghi_from_pv(abuja, tmp_path):
    raw = pd.read_csv(DATA / "helio_abuja_1day.csv")
    raw[["ghi", "dni", "dhi"]] = np.nan
    path = tmp_path / "nopyr.csv"
    raw.to_csv(path, index=False)
    frame, meta = read_weather(path, "helio", site=abuja)
    assert meta["ghi_source"] == "pv_power"
    truth, _ = read_weather(DATA / "helio_abuja_1day.csv", "helio", site=abuja)
    bulk = (frame["charge_state"] == "bulk") & (truth["ghi"] > 300)
    assert bulk.sum() > 10
    np.testing.assert_allclose(frame["ghi"][bulk], truth["ghi"][bulk], rtol=0.15)
    curtailed = frame["charge_state"].isin(["absorption", "float"])
    assert frame.loc[curtailed, "ghi"].isna().all()  # throttled PV is no sky measurement
    with pytest.raises(DataError, match="full Site"):
        read_weather(path, "helio", site=abuja.site)


def _site():
    return load_site(ROOT / "configs/sites/abuja.toml").site


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,ghi\n2026-01-01T10:00:00Z,1\n", "no 'timestamp' column"),
        ("timestamp,ghi\nyesterday,1\nlater,2\n", "unparseable timestamps"),
        ("timestamp,ghi\n", "no data rows"),
        ("timestamp,GHI_wrong\n2026-01-01T10:00:00Z,1\n", "no GHI"),
        ("timestamp,ghi\n2026-01-01T10:00:00Z,\n2026-01-01T10:01:00Z,\n", "no GHI"),
    ],
    ids=["no-timestamp-column", "bad-timestamps", "empty", "wrong-columns", "ghi-all-missing"],
)
def test_bad_csv_is_refused_clearly(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_weather(path, "csv", site=_site())


def test_unknown_format_missing_file_and_no_location(tmp_path):
    with pytest.raises(DataError, match="unknown format 'tmy4'"):
        read_weather(PVLIB_DATA / "723170TYA.CSV", "tmy4")
    with pytest.raises(DataError, match="no such file"):
        read_weather(tmp_path / "nope.csv", "csv")
    path = tmp_path / "w.csv"
    path.write_text("timestamp,ghi\n2026-01-01T10:00:00Z,1\n")
    with pytest.raises(DataError, match="no location"):
        read_weather(path, "csv")


def test_pvlib_reader_failure_is_a_data_error(tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_text("this is not a TMY3 file\n1,2,3\n")
    with pytest.raises(DataError, match="read_tmy3 cannot read it"):
        read_weather(path, "tmy3")


def test_site_from_metadata_prefers_the_file_location(abuja):
    _, meta = read_weather(PVLIB_DATA / "723170TYA.CSV", "tmy3")
    site = site_from_metadata(meta, abuja)
    assert site.latitude == pytest.approx(36.1) and site.linke_turbidity == ()
    assert site.id == "greensboro-piedmont-triad-int"
    _, meta = read_weather(DATA / "helio_abuja_1day.csv", "helio", site=abuja)
    assert site_from_metadata(meta, abuja) is abuja.site


def _crn_line(end: pd.Timestamp, ghi: float, temp: float) -> str:
    """One USCRN sub-hourly record (fixed width, as pvlib.iotools.crn.WIDTHS)."""
    hhmm = end.strftime("%H%M").lstrip("0") or "0"
    fields = [("23801", 5), (end.strftime("%Y%m%d"), 8), (hhmm, 4),
              (end.strftime("%Y%m%d"), 8), (end.strftime("%H%M"), 4), ("2.623", 6),
              ("7.40", 7), ("9.08", 7), (f"{temp:.1f}", 7), ("0.00", 7), (f"{ghi:.0f}", 6),
              ("0", 1), (f"{temp:.1f}", 7), ("C", 1), ("0", 1), ("50", 5), ("0", 1),
              ("-99.000", 7), ("-9999.0", 7), ("964", 5), ("0", 1), ("1.66", 6), ("0", 1)]
    return " ".join(v.rjust(w) for v, w in fields)


def test_crn_five_minute_means_end_labelled_location_from_columns(tmp_path):
    """A USCRN file: location comes from its columns, stamps move back 2.5 min."""
    site = _site()
    ends = pd.date_range("2026-02-02 11:05", periods=12, freq="5min", tz="UTC")
    cs = clear_sky(site, ends - pd.Timedelta(minutes=2.5))["ghi_clear"].to_numpy()
    path = tmp_path / "CRNS0101-05-2026-Abuja.txt"
    path.write_text("\n".join(_crn_line(t, g, 30.0) for t, g in zip(ends, cs, strict=True))
                    + "\n")
    frame, meta = read_weather(path, "crn")
    assert meta["location_source"] == "file"
    assert (meta["latitude"], meta["longitude"]) == pytest.approx((9.08, 7.40))
    assert meta["interval_minutes"] == 5.0 and meta["source_interval_label"] == "end"
    assert frame.index[0] == pd.Timestamp("2026-02-02 11:02:30", tz="UTC")
    np.testing.assert_allclose(frame["ghi"], np.round(cs))
    assert (frame["temp_air"] == 30.0).all()


# --------------------------------------------------------------------------
# synthetic files in other readers' formats round-trip to the interval centre
# --------------------------------------------------------------------------


def _write_nsrdb_psm4(path, stamps, ghi):
    """NSRDB PSM4 CSV: two metadata lines, then Year..Minute columns in local standard time."""
    local = stamps.tz_convert("Etc/GMT-1")  # UTC+1, like Abuja
    lines = ["Source,Location ID,City,State,Country,Latitude,Longitude,Time Zone,Elevation,"
             "Local Time Zone",
             "NSRDB,1,-,-,-,9.0765,7.3986,1,476,1",
             "Year,Month,Day,Hour,Minute,GHI,Temperature"]
    lines += [f"{t.year},{t.month},{t.day},{t.hour},{t.minute},{g:.3f},30.0"
              for t, g in zip(local, ghi, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def _write_cams(path, stamps, ghi):
    """CAMS radiation CSV: '#' metadata, observation periods 'start/end', energy per period."""
    lines = ["# Latitude (positive North, ranges from -90 to 90): 9.0765",
             "# Longitude (positive East, ranges from -180 to 180): 7.3986",
             "# Altitude (m): 476.0",
             "# Summarization (integration) period: 0 year 0 month 0 day 0 h 15 min 0 s",
             "# Observation period;TOA;Clear sky GHI;GHI;DHI;BNI"]
    for t, g in zip(stamps, ghi, strict=True):
        end = t + pd.Timedelta(minutes=15)
        wh = g * 0.25  # W/m2 over a quarter hour -> Wh/m2
        lines.append(f"{t:%Y-%m-%dT%H:%M:%S}.0/{end:%Y-%m-%dT%H:%M:%S}.0;0;0;{wh:.4f};0;0")
    path.write_text("\n".join(lines) + "\n")


def _write_midc(path, stamps, ghi):
    """NREL MIDC CSV: 'DATE (MM/DD/YYYY)' and a time column named after its time zone."""
    lines = ["DATE (MM/DD/YYYY),UTC,Global Horizontal [W/m^2]"]
    lines += [f"{t:%m/%d/%Y},{t:%H:%M},{g:.3f}" for t, g in zip(stamps, ghi, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def _write_solaranywhere(path, stamps, ghi):
    """SolarAnywhere CSV: one metadata line (TMY3-like plus key: value pairs), LST stamps."""
    local = stamps.tz_convert("Etc/GMT-1")
    lines = ["0,Abuja,FC,1.0,9.0765,7.3986,476,Data Version: 3.4 / LatLon Resolution: 0.1",
             "ObservationTime(LST),Global Horizontal Irradiance (GHI) W/m2,"
             "AmbientTemperature (deg C)"]
    lines += [f"{t:%m/%d/%Y %H:%M},{g:.3f},30.0" for t, g in zip(local, ghi, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def _write_pvgis_hourly(path, stamps, ghi):
    """PVGIS hourly radiation JSON: location under inputs, 'YYYYmmdd:HHMM' UTC stamps."""
    hourly = [{"time": f"{t:%Y%m%d:%H%M}", "G(h)": float(g), "T2m": 30.0, "Int": 0}
              for t, g in zip(stamps, ghi, strict=True)]
    path.write_text(json.dumps({
        "inputs": {"location": {"latitude": 9.0765, "longitude": 7.3986, "elevation": 476.0}},
        "outputs": {"hourly": hourly},
        "meta": {"inputs": {}},
    }))


def _write_pvgis_tmy(path, stamps, ghi):
    """PVGIS TMY JSON: 'tmy_hourly' records with 'time(UTC)' stamps, months_selected."""
    hourly = [{"time(UTC)": f"{t:%Y%m%d:%H%M}", "G(h)": float(g), "T2m": 30.0}
              for t, g in zip(stamps, ghi, strict=True)]
    path.write_text(json.dumps({
        "inputs": {"location": {"latitude": 9.0765, "longitude": 7.3986, "elevation": 476.0}},
        "outputs": {"months_selected": [], "tmy_hourly": hourly},
        "meta": {"inputs": {}},
    }))


def _write_surfrad(path, stamps, ghi):
    """NOAA SURFRAD daily file: station line, 'lat lon elev ... version' line, 48 columns."""
    lines = ["Abuja synthetic", "   9.0765   7.3986  476 m version 1"]
    for t, g in zip(stamps, ghi, strict=True):
        values = [t.year, t.dayofyear, t.month, t.day, t.hour, t.minute,
                  f"{t.hour + t.minute / 60:.3f}", "45.00", f"{g:.3f}", 0]
        values += ["-9999.9", 0] * 19  # every other measurement missing
        lines.append(" ".join(str(v) for v in values))
    path.write_text("\n".join(lines) + "\n")


ROUND_TRIPS = {
    # format: (writer, step [min], does the file carry the location)
    "nsrdb_psm4": (_write_nsrdb_psm4, 30, True),
    "cams": (_write_cams, 15, True),
    "midc": (_write_midc, 15, False),
    "solaranywhere": (_write_solaranywhere, 30, True),
    "pvgis_hourly": (_write_pvgis_hourly, 60, True),
    "pvgis_tmy": (_write_pvgis_tmy, 60, True),
    "surfrad": (_write_surfrad, 3, True),
}
#: File name suffixes the readers infer the layout from.
_SUFFIX = {"pvgis_hourly": ".json", "pvgis_tmy": ".json"}


@pytest.mark.parametrize("fmt", sorted(ROUND_TRIPS))
def test_synthetic_file_round_trips_to_the_interval_centre(tmp_path, fmt):
    """Values written for the intended centres come back stamped at those centres.

    The file holds clear-sky GHI of each interval's centre, stamped as the
    format labels it (start, end or instant, see ``READERS``); after reading,
    every row's time must be that centre and its value unchanged.
    """
    writer, step, has_location = ROUND_TRIPS[fmt]
    spec = READERS[fmt]
    site = _site()
    stamps = pd.date_range("2026-02-02 06:00", periods=24, freq=f"{step}min", tz="UTC")
    interval = 0.0 if spec.interval_label == "instant" else float(spec.interval_minutes or step)
    shift = {"start": interval / 2, "end": -interval / 2}.get(spec.interval_label, 0.0)
    centres = stamps + pd.Timedelta(minutes=shift)
    ghi = clear_sky(site, centres)["ghi_clear"].to_numpy()
    path = tmp_path / f"synthetic{_SUFFIX.get(fmt, '.' + fmt)}"
    writer(path, stamps, ghi)
    frame, meta = read_weather(path, fmt, site=load_site(ROOT / "configs/sites/abuja.toml"))
    assert meta["source_interval_label"] == spec.interval_label
    pd.testing.assert_index_equal(frame.index, centres, check_names=False)
    np.testing.assert_allclose(frame["ghi"].to_numpy(), ghi, atol=1e-3)
    assert meta["location_source"] == ("file" if has_location else "site")
    assert (meta["latitude"], meta["longitude"]) == pytest.approx((9.0765, 7.3986), abs=1e-3)
