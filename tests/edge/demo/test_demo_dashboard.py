"""``make demo`` prints the fleet dashboard's address, and the demo's data appears there.

The real demo (``python -m edge.demo``) runs as a subprocess: simulators on ptys,
mosquitto, the agent with the shipped model, and ``helio-monitor run --dashboard``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import MOSQUITTO, free_port

REPO = Path(__file__).resolve().parents[3]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


@pytest.mark.slow
@pytest.mark.pty
@pytest.mark.tflite
@pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto not installed")
def test_demo_prints_dashboard_address_and_its_data_appears_there(tmp_path: Path) -> None:
    # the monitor is the trainer side: absent from the edge-only (legacy) environment
    pytest.importorskip("prometheus_client")
    pytest.importorskip("pandas")
    port = free_port()
    store = tmp_path / "fleet.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.demo", "--speed", "600", "--duration", "60",
         "--dashboard-port", str(port), "--store", str(store), "--refresh", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env)
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()
        url = re.match(r"fleet dashboard: (http://127\.0\.0\.1:\d+/)", first)
        assert url, first
        assert url.group(1) == f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 55
        site = fleet = None
        while time.monotonic() < deadline:
            fleet = _get(url.group(1) + "api/fleet")["gateways"]
            if fleet and fleet[0]["state"] == "online":
                site = _get(url.group(1) + "api/site/abuja-01?days=1")
                if (site["pv"]["measured"] and site["pv"]["latest"]["points"]
                        and site["battery"]["soc"]):
                    break
            time.sleep(2)
        assert fleet and fleet[0]["site"] == "abuja-01" and fleet[0]["received"] > 0
        assert fleet[0]["model_version"] == "abuja-1.0.0"
        assert site is not None and site["pv"]["measured"], "no PV reading on the dashboard"
        assert site["pv"]["latest"]["points"], "no forecast on the dashboard"
        assert site["battery"]["soc"]
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "fleet dashboard http://127.0.0.1" in out  # also in the live view's header
    assert "demo OK" in out
    assert store.exists()
