"""helio-monitor export -> trainer.data.read_weather(format="helio"), and the status command."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from edge.forecasting.site import load_site
from edge.simulation.plant import Plant
from tests.trainer.monitor.conftest import reading, status
from trainer.data import HELIO_COLUMNS, read_weather
from trainer.monitor.cli import main
from trainer.monitor.ingest import parse_message
from trainer.monitor.store import Store

SITE = load_site(Path(__file__).resolve().parents[3] / "configs/sites/abuja.toml")
SID = SITE.site.id


@pytest.fixture
def plant_store(tmp_path: Path) -> tuple[Path, list[tuple[float, float]]]:
    """Six midday hours of charger + inverter readings every 20 s, stored."""
    db = tmp_path / "m.sqlite"
    store = Store(db)
    plant = Plant(SITE, seed=5, start=datetime(2026, 2, 3, 9, tzinfo=UTC), speed=0.0)
    msgs, truth = [], []
    for n in range(1, 6 * 180 + 1):
        s = plant.advance(20.0)
        t = s.time.timestamp()
        truth.append((t, s.pv_power))
        msgs.append(parse_message(*reading(SID, "mppt", n, t, **s.charger_values()), t))
        msgs.append(parse_message(*reading(SID, "inverter", n, t, **s.inverter_values()), t))
    msgs.append(parse_message(*status(SID, "gateway", t), t))
    store.write_batch(msgs)
    store.close()
    return db, truth


def test_export_is_read_back_by_trainer_data(plant_store, tmp_path: Path) -> None:
    db, truth = plant_store
    out = tmp_path / "abuja.csv"
    assert main(["export", "--store", str(db), "--site", SID, "--since", "2026-02-03T09:00Z",
                 "--out", str(out)]) == 0
    with out.open() as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == HELIO_COLUMNS
    assert len(rows) - 1 == 6 * 60  # one row per minute
    assert rows[1][0] == "2026-02-03T09:01:00Z" and rows[1][1] == SID
    assert {r[9] for r in rows[1:]} <= {"off", "bulk", "absorption", "float"}
    assert {r[10] for r in rows[1:]} == {"3"}  # three 20 s samples per minute

    frame, meta = read_weather(out, "helio", site=SITE)
    assert meta["site_id"] == SID and meta["ghi_source"] == "pv_power"
    assert meta["interval_minutes"] == pytest.approx(1.0)
    # the trainer sees the minute means of the charger's PV power, at interval centres
    t = np.array([x[0] for x in truth])
    pv = np.array([x[1] for x in truth])
    centre = frame.index[10].timestamp()
    expected = pv[(t > centre - 30) & (t <= centre + 30)].mean()
    assert frame["pv_power"].iloc[10] == pytest.approx(expected, rel=1e-5)
    ghi = frame["ghi"].dropna()  # curtailed minutes (absorption/float) give no GHI
    assert (ghi >= 0).all() and ghi.max() > 300


def test_export_window_and_empty_site(plant_store, tmp_path: Path, capsys) -> None:
    db, _ = plant_store
    out = tmp_path / "part.csv"
    assert main(["export", "--store", str(db), "--site", SID, "--since", "2026-02-03T10:00",
                 "--until", "2026-02-03T11:00", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 61 and lines[-1].startswith("2026-02-03T11:00:00Z")
    assert main(["export", "--store", str(db), "--site", "nowhere", "--since", "2026-01-01",
                 "--out", str(tmp_path / "x.csv")]) == 1
    assert "no readings" in capsys.readouterr().err


def test_status_command_prints_fleet_table(plant_store, capsys) -> None:
    db, _ = plant_store
    assert main(["status", "--store", str(db), "--offline-after", "1e12"]) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert header.split()[:3] == ["SITE", "GATEWAY", "STATE"]
    assert row.split()[:3] == [SID, "gateway", "online"]
    assert "mppt:ok" in row
