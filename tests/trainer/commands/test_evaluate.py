"""``helio-train evaluate`` on a fitted bundle and CSV data: metrics per target and horizon
as JSON, and the text table."""

# ruff: noqa: PLC0415  (TensorFlow-heavy modules are imported inside the tests that need them)

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from tests.trainer.commands.helpers import cli

pytestmark = pytest.mark.tensorflow


@pytest.mark.slow
def test_evaluate_json_on_csv_data(
    tmp_path: Path, lax_config: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    from edge.forecasting.site import load_site
    from edge.simulation.sky import synthetic_weather

    out = tmp_path / "bundle"
    assert cli("fit", "--config", str(lax_config), "--out", str(out), "--key", str(keys[0])) == 0
    site = load_site(REPO / "configs/sites/abuja.toml")
    times = pd.date_range("2025-06-01", periods=6 * 96, freq="15min", tz="UTC")
    w = synthetic_weather(site.site, times, seed=3)[["ghi", "dni", "dhi", "temp_air"]]
    csv = tmp_path / "data.csv"
    w.rename_axis("timestamp").reset_index().to_csv(csv, index=False)
    capsys.readouterr()
    code = cli("evaluate", "--bundle", str(out), "--data", str(csv), "--format", "csv",
               "--since", "2025-06-03", "--json", "--public-key", str(keys[1]))
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    rows = [r for r in result["metrics"] if r["season"] == "all"]
    assert {r["target"] for r in rows} == {"ghi", "dni", "dhi", "pv_power"}
    for r in rows:
        assert {"target", "horizon_min", "n", "rmse", "mae", "mbe",
                "skill_vs_smart_persistence"} <= set(r)
        assert r["n"] > 50 and np.isfinite(r["rmse"])
    assert cli("evaluate", "--bundle", str(out), "--data", str(csv), "--format", "csv",
               "--public-key", str(keys[1])) == 0
    assert "skill_vs_smart_persistence" in capsys.readouterr().out
