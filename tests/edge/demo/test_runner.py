"""``make demo``'s command end to end: simulators, a broker, the agent, the view."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MOSQUITTO

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.tflite


@pytest.mark.pty
@pytest.mark.slow
@pytest.mark.parametrize("broker", ["embedded", "mosquitto"])
def test_demo_runs_and_shows_forecasts(broker: str, shipped_bundle) -> None:  # type: ignore[no-untyped-def]
    """make demo's command, shortened: readings, forecasts and plans reach the live view."""
    if broker == "mosquitto" and MOSQUITTO is None:
        pytest.skip("mosquitto not installed")
    if broker == "embedded" and importlib.util.find_spec("amqtt") is None:
        pytest.skip("amqtt (the demo's fallback broker, extra 'demo') not installed")
    args = ["--duration", "15", "--speed", "900", "--refresh", "5",
            "--bundle", shipped_bundle[0], "--public-key", shipped_bundle[1]]
    if broker == "embedded":
        args.append("--embedded-broker")
    proc = subprocess.run([sys.executable, "-m", "edge.demo", *args], capture_output=True,
                          text=True, timeout=120, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "demo OK" in proc.stdout
    assert f"broker {broker}" in proc.stdout
    assert "forecast #" in proc.stdout and "reading  mppt" in proc.stdout
    assert "reading  battery" in proc.stdout and "battery_soc=" in proc.stdout  # the BMV
    # the energy plan, as it arrives
    assert "plan #" in proc.stdout, proc.stdout[-3000:]
    assert "battery reaches reserve 30 % at: P10 " in proc.stdout
    assert "night deficit to sunrise " in proc.stdout and "surplus today P50 " in proc.stdout
