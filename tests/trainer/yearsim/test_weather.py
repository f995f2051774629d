"""The year simulation on a real weather file: pvlib's Greensboro TMY3 as the truth's sky."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from edge.forecasting.site import Site, load_site
from edge.simulation.plant import Plant
from edge.simulation.sky import SkyRegime, WeatherFileSky
from trainer.cli import main
from trainer.data import read_weather
from trainer.yearsim.scenario import Scenario
from trainer.yearsim.weather import load_file_weather

REPO = Path(__file__).resolve().parents[3]
DATA = Path(pvlib.__file__).parent / "data"
GREENSBORO = DATA / "723170TYA.CSV"
START = datetime(2025, 4, 5, tzinfo=UTC)  # clear and overcast days mixed (file: 2.7-6.6 kWh/m²)


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(REPO / "configs/sites/abuja.toml")


def file_daily_ghi(start: datetime, days: int) -> np.ndarray:
    """The file's own daily GHI on the same month/days, straight from its reader. [Wh/m²]"""
    frame, _ = read_weather(GREENSBORO, "tmy3")
    lo = pd.Timestamp(start.replace(year=1990))
    daily = frame["ghi"].resample("1D").sum()
    return daily.loc[lo: lo + pd.Timedelta(days=days - 1)].to_numpy()


def test_the_plant_moves_to_the_files_location(site: Site) -> None:
    w = load_file_weather(GREENSBORO, "tmy3", site, start=START, days=5)
    assert (w.site.site.latitude, w.site.site.longitude, w.site.site.altitude) == (
        36.1, -79.95, 273.0)
    assert w.site.site.timezone == "Etc/GMT+5"  # the file's TZ -5: the load's local clock
    assert len(w.site.site.linke_turbidity) == 12
    assert w.site.array == site.array and w.site.battery == site.battery
    assert w.site.load == site.load and w.site.inverter == site.inverter
    # rows re-stamped by month/day/hour onto the run's year, hourly without gaps
    row = w.frame.loc["2025-04-07 17:30"]
    src, _ = read_weather(GREENSBORO, "tmy3")
    assert row["ghi"] == src.loc["1990-04-07 17:30", "ghi"]
    assert (np.diff(w.frame.index.asi8) == 3600 * 10**6).all()
    assert not w.frame[["ghi", "dni", "dhi", "temp_air"]].isna().any().any()


def test_a_leap_day_the_file_lacks_repeats_the_day_before(site: Site) -> None:
    w = load_file_weather(GREENSBORO, "tmy3", site, start=datetime(2024, 2, 27, tzinfo=UTC),
                          days=4)
    feb29 = w.frame.loc["2024-02-29", "ghi"].to_numpy()
    assert feb29.size == 24 and feb29.sum() > 0
    np.testing.assert_array_equal(feb29, w.frame.loc["2024-02-28", "ghi"].to_numpy())


def test_minutes_follow_the_sun_and_keep_the_files_hours(site: Site) -> None:
    w = load_file_weather(GREENSBORO, "tmy3", site, start=START, days=5)
    sky = WeatherFileSky(w.site.site, w.frame)
    start, frame = sky.day(START + timedelta(hours=17))
    cosz = np.clip(np.cos(np.radians(frame["zenith"].to_numpy())), 0.0, None)
    closure = frame["dhi"] + frame["dni"] * cosz
    np.testing.assert_allclose(closure, frame["ghi"], atol=1e-6)
    assert (frame.loc[frame["zenith"] > 91.0, "ghi"] == 0.0).all()  # night (refraction: 90-91°)
    assert frame.index[0].timestamp() == start
    # hourly means of the minute GHI against the file's hours, over the daylit hours
    hourly = frame["ghi"].iloc[:-1].groupby(frame.index[:-1].floor("1h")).mean()
    src = w.frame["ghi"]
    src.index = src.index.floor("1h")
    both = pd.concat([hourly, src], axis=1, join="inner").dropna()
    both = both[both.iloc[:, 1] > 50.0]
    assert len(both) >= 8
    rel = np.abs(both.iloc[:, 0] - both.iloc[:, 1]).sum() / both.iloc[:, 1].sum()
    assert rel < 0.1


def test_a_day_the_file_does_not_cover_is_refused(site: Site) -> None:
    frame, _ = read_weather(GREENSBORO, "tmy3")  # 1990 stamps: 2025 is outside them
    sky = WeatherFileSky(load_file_weather(GREENSBORO, "tmy3", site, start=START,
                                           days=2).site.site, frame)
    with pytest.raises(ValueError, match="does not cover 2025-04-05"):
        sky.day(START + timedelta(hours=12))
    with pytest.raises(ValueError, match="no regime"):
        sky.set_regime(SkyRegime(cloudiness=2.0))
    with pytest.raises(ValueError, match="no regime"):
        Plant(site, start=START, speed=0.0, weather=frame, regime=SkyRegime())


def test_truth_pv_follows_the_files_daily_ghi(site: Site) -> None:
    days = 8
    w = load_file_weather(GREENSBORO, "tmy3", site, start=START, days=days)
    world = Scenario(w.site, START, weather=w.frame)
    potential = np.array([np.mean([world.advance().pv_potential for _ in range(96)]) * 24.0
                          for _ in range(days)])  # [Wh/d]
    ghi = file_daily_ghi(START, days)
    assert ghi.min() < 0.5 * ghi.max()  # the window holds dull and bright days
    assert np.corrcoef(potential, ghi)[0, 1] > 0.9
    # and not the sky model's: the same site without the file gives other days
    model = Scenario(w.site, START)
    own = np.array([np.mean([model.advance().pv_potential for _ in range(96)]) * 24.0
                    for _ in range(days)])
    assert np.abs(own - potential).max() > 0.2 * potential.max()


@pytest.mark.tflite
def test_cli_on_the_greensboro_tmy3(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate-year", "--weather", str(GREENSBORO), "--format", "tmy3",
            "--start", "2025-04-05", "--days", "5"]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "greensboro-piedmont-triad-int" in table
    assert "the plant sits at the file's location 36.10, -79.95, 273 m" in table
    assert "out of their training climate" in table
    assert "SOC P50 MAE 12h" in table and "PV potential MAE" in table

    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["days"] == 5 and report["scored_issues"] == 4 * 96
    assert report["weather"]["format"] == "tmy3"
    assert report["weather"]["latitude"] == 36.1 and report["weather"]["longitude"] == -79.95
    assert report["site"] == "greensboro-piedmont-triad-int"
    assert report["pv_day_ahead"]["potential"]["plan_mae_w"] is not None


def test_cli_refuses_an_unreadable_weather_file(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,tmy3\n1,2,3\n")
    assert main(["simulate-year", "--weather", str(bad), "--format", "tmy3", "--days", "3"]) == 2
    err = capsys.readouterr().err
    assert "helio-train simulate-year:" in err and "bad.csv" in err
    assert main(["simulate-year", "--weather", str(tmp_path / "missing.csv"), "--days", "3"]) == 2
    assert "no such file" in capsys.readouterr().err
