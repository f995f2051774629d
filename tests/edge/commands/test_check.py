"""``helio-edge check``: one line per part (bundle, broker, each device), and it creates
nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.edge.commands.helpers import agent_config, cli

pytestmark = pytest.mark.tflite


@pytest.mark.slow
@pytest.mark.broker
def test_check_reports_each_part(tmp_path: Path, shipped_bundle, mosquitto) -> None:  # type: ignore[no-untyped-def]
    cfg = agent_config(tmp_path, *shipped_bundle, port=mosquitto.port)
    proc = cli("check", "--config", str(cfg), "--timeout", "1")
    lines = {ln.split()[0] + (" " + ln.split()[1] if ln.startswith("device") else ""): ln
             for ln in proc.stdout.splitlines() if ln.strip()}
    assert "OK" in lines["bundle"] and "blessed" in lines["bundle"]
    assert "OK" in lines["broker"]
    assert "FAIL" in lines["device mppt"]  # the port does not exist
    assert proc.returncode == 1
    mosquitto.stop()
    proc = cli("check", "--config", str(cfg), "--skip", "devices", "--timeout", "1")
    assert proc.returncode == 1 and "broker" in proc.stdout.splitlines()[-1]
    assert not (tmp_path / "state").exists()  # check creates nothing
