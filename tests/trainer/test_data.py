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
from trainer.linke import with_linke_turbidity

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
    site = with_linke_turbidity(site_from_metadata(meta))  # the file gives no turbidity
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
        values = [t.year, t.day_of_year, t.month, t.day, t.hour, t.minute,
                  f"{t.hour + t.minute / 60:.3f}", "45.00", f"{g:.3f}", 0]
        values += ["-9999.9", 0] * 19  # every other measurement missing
        lines.append(" ".join(str(v) for v in values))
    path.write_text("\n".join(lines) + "\n")


def _write_bsrn(path, stamps, ghi):
    """BSRN station-to-archive file (GCOS-174), at the columns pvlib.iotools.bsrn parses.

    LR0001 (station number, month, year, version), LR0004 (station: latitude
    + 90, longitude + 180, altitude), then LR0100: two lines per minute, day
    of month and minute of day (UTC, start of the minute), integer W/m2.
    """
    month = stamps[0].normalize().replace(day=1)
    lines = ["*U0001", f"{14:3d}{month.month:3d} {month.year:4d}{1:6d}",
             "*U0004",
             "-1 -1 -1",                          # station description changed
             " 11  2",                             # surface type, topography type
             "Abuja synthetic station",            # address
             f"{'0':<20}{'0':>20}",                # telephone (20 chars), fax
             f"{'0.0.0.0':<15} station@example.org",  # TCP/IP (15 chars), e-mail
             f"{9.0765 + 90:8.3f}{7.3986 + 180:8.3f}{476:5d} 65125",  # lat lon alt SYNOP
             "-1 -1 -1",                          # horizon changed
             "  -1  -1",                          # no horizon elevations
             "*U0100"]
    for t, value in zip(stamps, ghi, strict=True):
        day, minute, g = (t - month).days + 1, t.hour * 60 + t.minute, round(value)
        # cols (0,3) (4,9) (10,16) (16,22) (22,27) (27,32) (32,39) (39,45) (45,50) (50,55)
        lines.append(f"{day:3d} {minute:5d} {g:6d}{0.0:6.1f}{g:5d}{g:5d}"
                     f"{-999:7d}{-99.9:6.1f}{-999:5d}{-999:5d}")
        # dhi, lwd (same columns), then (55,64) temp_air, (64,70) rh, (70,75) pressure
        lines.append(f"{'':9} {-999:6d}{-99.9:6.1f}{-999:5d}{-999:5d}"
                     f"{-999:7d}{-99.9:6.1f}{-999:5d}{-999:5d}{30.0:9.1f}{40.0:6.1f}{960:5d}")
    path.write_text("\n".join(lines) + "\n")


def _write_solrad(path, stamps, ghi):
    """NOAA SOLRAD daily file (README_SOLRAD.txt): station line, 'lat lon elev tz'
    line, fixed-width records stamped in UTC, missing values -9999.9."""
    lines = [" Abuja synthetic", "    9.07650    7.39860  476  1  version 1"]
    for t, g in zip(stamps, ghi, strict=True):
        fields = [(t.year, 4), (t.day_of_year, 3), (t.month, 2), (t.day, 2), (t.hour, 2),
                  (t.minute, 2), (f"{t.hour + t.minute / 60:.3f}", 6), ("45.00", 6),
                  (f"{g:.1f}", 7), (0, 1), ("-9999.9", 7), (1, 1), ("-9999.9", 7), (1, 1),
                  ("-9999.9", 7), (1, 1), ("-9999.9", 7), (1, 1),
                  ("0.382", 9), ("2.280", 9), ("0.431", 9), ("0.066", 9)]
        lines.append("".join(" " + str(v).rjust(w) for v, w in fields))
    path.write_text("\n".join(lines) + "\n")


def _write_srml(path, stamps, ghi):
    """UO SRML archival file (solardata.uoregon.edu/ArchivalFiles.html), tab separated.

    Header: station id, year, element numbers each followed by a 0 flag
    placeholder (1000 GHI, 9300 air temperature). Rows: day of year, then
    the ENDING time of the interval as HHMM from 1 to 2400 in local standard
    time (pvlib takes Pacific, UTC-8), then value/flag pairs (integer W/m2).
    """
    local = stamps.tz_convert("Etc/GMT+8")
    lines = [f"94999\t{local[0].year}\t1000\t0\t9300\t0"]
    for t, g in zip(local, ghi, strict=True):
        doy, hhmm = t.day_of_year, t.hour * 100 + t.minute
        if hhmm == 0:  # an interval ending at midnight is 2400 of the day it ends
            doy, hhmm = (t - pd.Timedelta(days=1)).day_of_year, 2400
        lines.append(f"{doy}\t{hhmm}\t{round(g)}\t12\t30.0\t12")
    path.write_text("\n".join(lines) + "\n")


# format: (writer, step [min], does the file carry the location, what the stamps
# the writer puts in the file mean according to the FORMAT'S OWN documentation
# (not READERS), resolution of the written GHI [W/m²])
ROUND_TRIPS = {
    "nsrdb_psm4": (_write_nsrdb_psm4, 30, True, "instant", 1e-3),
    "cams": (_write_cams, 15, True, "start", 1e-3),  # 'start/end' periods; stamps = starts
    "midc": (_write_midc, 15, False, "end", 1e-3),
    "solaranywhere": (_write_solaranywhere, 30, True, "center", 1e-3),
    "pvgis_hourly": (_write_pvgis_hourly, 60, True, "instant", 1e-3),
    "pvgis_tmy": (_write_pvgis_tmy, 60, True, "instant", 1e-3),
    "surfrad": (_write_surfrad, 3, True, "end", 1e-3),
    # GCOS-174: "All time labels in the station-to-archive files denote the start"
    "bsrn": (_write_bsrn, 1, True, "start", 0.5),
    # SOLRAD stamps end the minute: in NOAA's own files (pvlib's abq19056.dat) the
    # solar zenith printed on a row is the sun's 30-60 s before the stamp
    "solrad": (_write_solrad, 1, True, "end", 0.05),
    # ArchivalFiles.html: the time column is "the ending time of the measurement"
    "srml": (_write_srml, 15, False, "end", 0.5),
}
#: File name suffixes the readers infer the layout from.
_SUFFIX = {"pvgis_hourly": ".json", "pvgis_tmy": ".json", "solrad": ".dat", "srml": ".txt"}


@pytest.mark.parametrize("fmt", sorted(ROUND_TRIPS))
def test_synthetic_file_round_trips_to_the_interval_centre(tmp_path, fmt):
    """Values written for the intended centres come back stamped at those centres.

    The file holds clear-sky GHI of each interval's centre, stamped as the
    format's documentation says its stamps lie in the interval (start, end,
    centre or instant; for SRML that is the end although pvlib relabels it
    to the start, which ``READERS`` records); after reading, every row's time
    must be that centre and its value unchanged.
    """
    writer, step, has_location, file_label, resolution = ROUND_TRIPS[fmt]
    spec = READERS[fmt]
    site = _site()
    # 22:00 to 04:00 Pacific standard time: SRML rows cross local midnight (2400)
    stamps = pd.date_range("2026-02-02 06:00", periods=24, freq=f"{step}min", tz="UTC")
    interval = 0.0 if file_label == "instant" else float(spec.interval_minutes or step)
    shift = {"start": interval / 2, "end": -interval / 2}.get(file_label, 0.0)
    centres = stamps + pd.Timedelta(minutes=shift)
    ghi = clear_sky(site, centres)["ghi_clear"].to_numpy()
    path = tmp_path / f"synthetic{_SUFFIX.get(fmt, '.' + fmt)}"
    writer(path, stamps, ghi)
    frame, meta = read_weather(path, fmt, site=load_site(ROOT / "configs/sites/abuja.toml"))
    assert meta["source_interval_label"] == spec.interval_label
    assert meta["interval_minutes"] == interval
    pd.testing.assert_index_equal(frame.index, centres, check_names=False, check_freq=False)
    np.testing.assert_allclose(frame["ghi"].to_numpy(), ghi, atol=resolution)
    assert meta["location_source"] == ("file" if has_location else "site")
    assert (meta["latitude"], meta["longitude"]) == pytest.approx((9.0765, 7.3986), abs=1e-3)
