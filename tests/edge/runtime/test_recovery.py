"""The agent's start-up findings: a crash of the previous run is reported with what it lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.runtime.config import load_agent_config
from edge.runtime.outbox import Outbox
from edge.runtime.recovery import startup_findings

REPO = Path(__file__).resolve().parents[3]


def _unclosed(path: Path) -> float:
    """An outbox a process had open when it died: the running mark is still set."""
    box = Outbox(path)
    box.put("mppt", "reading", "t", lambda s: b"x")
    box._db.close()  # the process dies: close() never runs
    return Path(path).stat().st_mtime


def test_a_clean_previous_stop_gives_no_finding(tmp_path: Path) -> None:
    Outbox(tmp_path / "o.sqlite").close()
    cfg = load_agent_config(REPO / "configs/edge/abuja.toml")
    with Outbox(tmp_path / "o.sqlite") as box:
        assert startup_findings(box, cfg, 900.0, 1e9) == []


def test_an_unclean_stop_reports_the_time_without_storage_and_what_it_costs(
        tmp_path: Path) -> None:
    last = _unclosed(tmp_path / "o.sqlite")
    cfg = load_agent_config(REPO / "configs/edge/abuja.toml")
    with Outbox(tmp_path / "o.sqlite") as box:
        (level, code, text, data), = startup_findings(box, cfg, 900.0, last + 3600.0)
    assert (level, code) == ("warning", "unclean_stop")
    assert 3599.0 <= data["down_s"] <= 3601.0 and data["missing_periods"] == 4
    assert data["commit_window_s"] == cfg.outbox.commit_window_s
    for dev in cfg.devices:
        assert data["missing_readings"][dev.id] == int(data["down_s"] // dev.poll_interval)
    assert "did not stop cleanly" in text


def test_a_damaged_outbox_is_reported_with_what_was_carried_over(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        for _ in range(300):
            box.put("mppt", "reading", "t", lambda s: b"x" * 200)
    data = bytearray(path.read_bytes())
    data[4096:8192] = bytes(range(256)) * 16  # the pointer-map page
    path.write_bytes(bytes(data))
    assert sqlite3.connect(path).execute("SELECT count(*) FROM outbox").fetchone() == (300,)
    cfg = load_agent_config(REPO / "configs/edge/abuja.toml")
    with Outbox(path) as box:
        findings = startup_findings(box, cfg, 900.0, 1e9)
    (level, code, _text, info), = findings
    assert (level, code) == ("error", "outbox_recovered") and info["salvaged"] == 300
