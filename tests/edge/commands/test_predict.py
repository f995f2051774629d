"""``helio-edge predict``: one forecast as JSON; a history moves it; a bad history is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.edge.commands.helpers import cli

pytestmark = pytest.mark.tflite


def test_predict_prints_one_forecast(tmp_path: Path, shipped_bundle) -> None:  # type: ignore[no-untyped-def]
    bundle, key = shipped_bundle
    proc = cli("predict", "--bundle", bundle, "--public-key", key,
                "--at", "2026-06-21T11:07:00Z")
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["issue_time"] == "2026-06-21T11:00:00Z"
    assert [f["horizon_min"] for f in body["forecasts"]] == [15, 30, 60, 120, 180]
    f = body["forecasts"][0]
    assert f["ghi"]["p10"] <= f["ghi"]["p50"] <= f["ghi"]["p90"]
    assert 0 < f["pv_power"]["p50"] <= 2900.0
    clear = body

    # a dark history (overcast) lowers the forecast against clear-sky inputs
    hist = tmp_path / "h.csv"
    rows = ["timestamp,ghi"] + [f"2026-06-21T{10 + m // 60:02d}:{m % 60:02d}:00Z,90"
                                for m in range(0, 60, 5)]
    hist.write_text("\n".join(rows) + "\n")
    proc = cli("predict", "--bundle", bundle, "--public-key", key, "--at",
                "2026-06-21T11:00:00Z", "--history", str(hist))
    assert proc.returncode == 0, proc.stderr
    dark = json.loads(proc.stdout)
    assert dark["forecasts"][0]["ghi"]["p50"] < clear["forecasts"][0]["ghi"]["p50"]
    bad = tmp_path / "bad.csv"
    bad.write_text("when,watts\n1,2\n")
    proc = cli("predict", "--bundle", bundle, "--public-key", key, "--at",
                "2026-06-21T11:00:00Z", "--history", str(bad))
    assert proc.returncode == 1 and "timestamp" in proc.stderr
