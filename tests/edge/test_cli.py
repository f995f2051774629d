"""helio-edge run/check/predict from the command line (issue #4)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.tflite


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=timeout,
        cwd=REPO, check=False,
    )


def _config(tmp_path: Path, bundle: str, key: str, port: int = 1, extra: str = "") -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[agent]
site = "{REPO / 'configs/sites/abuja.toml'}"
state_dir = "{tmp_path / 'state'}"
{extra}
[model]
bundle = "{bundle}"
public_key = "{key}"

[mqtt]
host = "127.0.0.1"
port = {port}

[[devices]]
id = "mppt"
protocol = "vedirect"
port = "{tmp_path / 'no-such-tty'}"
""")
    return cfg


@pytest.mark.slow
def test_run_bad_config_exits_2_naming_file_and_key(tmp_path: Path, shipped_bundle) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path, *shipped_bundle, extra="heartbeat = 5\n")
    proc = _cli("run", "--config", str(cfg))
    assert proc.returncode == 2
    assert str(cfg) in proc.stderr and "agent.heartbeat" in proc.stderr
    cfg.write_text(cfg.read_text().replace("heartbeat = 5\n", "").replace(
        'protocol = "vedirect"', 'protocol = "modbus-tcp"'))
    proc = _cli("run", "--config", str(cfg))
    assert proc.returncode == 2 and "devices[0].protocol" in proc.stderr
    assert "vedirect" in proc.stderr  # the known ones are listed
    proc = _cli("run", "--config", str(tmp_path / "missing.toml"))
    assert proc.returncode == 2 and "missing.toml" in proc.stderr and "not found" in proc.stderr


@pytest.mark.parametrize("victim", ["model.tflite", "manifest.json"])
def test_run_refuses_tampered_bundle(tmp_path: Path, shipped_bundle, victim: str) -> None:  # type: ignore[no-untyped-def]
    bundle = tmp_path / "bundle"
    shutil.copytree(shipped_bundle[0], bundle)
    data = bytearray((bundle / victim).read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / victim).write_bytes(bytes(data))
    cfg = _config(tmp_path, str(bundle), shipped_bundle[1])
    proc = _cli("run", "--config", str(cfg))
    assert proc.returncode == 3
    assert "model refused" in proc.stderr and str(bundle) in proc.stderr
    check = _cli("check", "--config", str(cfg), "--skip", "devices", "--skip", "broker")
    assert check.returncode == 1
    assert any(ln.startswith("bundle") and "FAIL" in ln for ln in check.stdout.splitlines())


@pytest.mark.slow
@pytest.mark.broker
def test_check_reports_each_part(tmp_path: Path, shipped_bundle, mosquitto) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path, *shipped_bundle, port=mosquitto.port)
    proc = _cli("check", "--config", str(cfg), "--timeout", "1")
    lines = {ln.split()[0] + (" " + ln.split()[1] if ln.startswith("device") else ""): ln
             for ln in proc.stdout.splitlines() if ln.strip()}
    assert "OK" in lines["bundle"] and "blessed" in lines["bundle"]
    assert "OK" in lines["broker"]
    assert "FAIL" in lines["device mppt"]  # the port does not exist
    assert proc.returncode == 1
    mosquitto.stop()
    proc = _cli("check", "--config", str(cfg), "--skip", "devices", "--timeout", "1")
    assert proc.returncode == 1 and "broker" in proc.stdout.splitlines()[-1]
    assert not (tmp_path / "state").exists()  # check creates nothing


def test_predict_prints_one_forecast(tmp_path: Path, shipped_bundle) -> None:  # type: ignore[no-untyped-def]
    bundle, key = shipped_bundle
    proc = _cli("predict", "--bundle", bundle, "--public-key", key,
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
    proc = _cli("predict", "--bundle", bundle, "--public-key", key, "--at",
                "2026-06-21T11:00:00Z", "--history", str(hist))
    assert proc.returncode == 0, proc.stderr
    dark = json.loads(proc.stdout)
    assert dark["forecasts"][0]["ghi"]["p50"] < clear["forecasts"][0]["ghi"]["p50"]
    bad = tmp_path / "bad.csv"
    bad.write_text("when,watts\n1,2\n")
    proc = _cli("predict", "--bundle", bundle, "--public-key", key, "--at",
                "2026-06-21T11:00:00Z", "--history", str(bad))
    assert proc.returncode == 1 and "timestamp" in proc.stderr


def test_environment_never_imports_tensorflow(shipped_bundle) -> None:  # type: ignore[no-untyped-def]
    bundle, key = shipped_bundle
    code = (
        "import sys; from edge.commands.run import load_holder; "
        "from edge.runtime.config import *; from edge.forecasting.site import *; "
        "from edge.forecasting import bundle, engine, predictor; "
        f"h = engine.ModelHolder(lambda: bundle.load_bundle({bundle!r}, {key!r}), "
        "predictor.Predictor); import edge.runtime.agent, edge.demo.runner; "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip() == "False"
