"""``helio-train synth``: synthetic CSV that the trainer's own readers accept, seeded, and
bad arguments named before anything is written."""

from __future__ import annotations

import pandas as pd
import pytest

from edge.forecasting.site import Site, load_site
from tests.conftest import REPO
from tests.trainer.commands.helpers import cli
from trainer.data import read_weather
from trainer.qc import quality_control

SITE_FILE = REPO / "configs/sites/abuja.toml"


def _synth(argv: list[str]) -> int:
    """Run the real subcommand through the real dispatcher."""
    return cli("synth", *argv)


@pytest.fixture(scope="module")
def abuja() -> Site:
    return load_site(SITE_FILE)


def test_synth_writes_a_csv_read_weather_and_qc_accept(tmp_path, abuja, capsys):
    out = tmp_path / "abuja.csv"
    rc = _synth(["--site", str(SITE_FILE), "--start", "2026-03-01", "--days", "2",
                 "--step", "15min", "--seed", "4", "--out", str(out)])
    assert rc == 0
    assert "192 rows of 15 min" in capsys.readouterr().out
    raw = pd.read_csv(out)
    assert list(raw.columns) == ["timestamp", "ghi", "dni", "dhi", "temp_air", "pv_power"]
    assert raw["timestamp"].iloc[0] == "2026-03-01T00:15:00Z"
    frame, meta = read_weather(out, "csv", site=abuja)
    assert meta["interval_minutes"] == 15.0 and meta["location_source"] == "site"
    clean, report = quality_control(frame, abuja.site, array=abuja.array)
    flagged = sum(v for k, v in report.counts.items() if k != "night")
    assert flagged <= 0.02 * len(frame)
    assert clean["pv_power"].max() <= abuja.array.ac_limit + 0.01
    assert clean["pv_power"].max() > 0.3 * abuja.array.dc_capacity


def test_synth_is_reproducible_and_seeded(tmp_path):
    paths = [tmp_path / n for n in ("a.csv", "b.csv", "c.csv")]
    for path, seed in zip(paths, ("7", "7", "8"), strict=True):
        assert _synth(["--start", "2026-08-10", "--days", "1", "--step", "5min",
                       "--seed", seed, "--site", str(SITE_FILE), "--out", str(path)]) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--step", "7min"], "whole minutes dividing a day"),
        (["--step", "90s"], "whole number of minutes"),
        (["--days", "0"], "at least 1"),
        (["--site", "/nonexistent.toml"], "nonexistent"),
    ],
    ids=["step-not-dividing", "sub-minute", "no-days", "missing-site"],
)
def test_synth_bad_arguments(tmp_path, capsys, argv, message):
    base = {"--start": "2026-01-01", "--out": str(tmp_path / "x.csv"),
            "--site": str(SITE_FILE)}
    for k, v in zip(argv[::2], argv[1::2], strict=True):
        base[k] = v
    flat = [x for kv in base.items() for x in kv]
    assert _synth(flat) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
