"""``helio-edge run`` from the command line: config errors name file and key, a tampered
bundle is refused, and the agent's imports never pull in TensorFlow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.edge.commands.helpers import agent_config, cli

pytestmark = pytest.mark.tflite


@pytest.mark.slow
def test_run_bad_config_exits_2_naming_file_and_key(tmp_path: Path, shipped_bundle) -> None:  # type: ignore[no-untyped-def]
    cfg = agent_config(tmp_path, *shipped_bundle, extra="heartbeat = 5\n")
    proc = cli("run", "--config", str(cfg))
    assert proc.returncode == 2
    assert str(cfg) in proc.stderr and "agent.heartbeat" in proc.stderr
    cfg.write_text(cfg.read_text().replace("heartbeat = 5\n", "").replace(
        'protocol = "vedirect"', 'protocol = "modbus-tcp"'))
    proc = cli("run", "--config", str(cfg))
    assert proc.returncode == 2 and "devices[0].protocol" in proc.stderr
    assert "vedirect" in proc.stderr  # the known ones are listed
    proc = cli("run", "--config", str(tmp_path / "missing.toml"))
    assert proc.returncode == 2 and "missing.toml" in proc.stderr and "not found" in proc.stderr


@pytest.mark.parametrize("victim", ["model.tflite", "manifest.json"])
def test_run_refuses_tampered_bundle(tmp_path: Path, shipped_bundle, victim: str) -> None:  # type: ignore[no-untyped-def]
    bundle = tmp_path / "bundle"
    shutil.copytree(shipped_bundle[0], bundle)
    data = bytearray((bundle / victim).read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / victim).write_bytes(bytes(data))
    cfg = agent_config(tmp_path, str(bundle), shipped_bundle[1])
    proc = cli("run", "--config", str(cfg))
    assert proc.returncode == 3
    assert "model refused" in proc.stderr and str(bundle) in proc.stderr
    check = cli("check", "--config", str(cfg), "--skip", "devices", "--skip", "broker")
    assert check.returncode == 1
    assert any(ln.startswith("bundle") and "FAIL" in ln for ln in check.stdout.splitlines())


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
