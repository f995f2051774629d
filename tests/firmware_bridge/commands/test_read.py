"""``helio-bridge read`` (a real subprocess) against the simulator of every registered protocol."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.firmware_bridge.helpers import (
    REPO,
    SimFactory,
)

pytestmark = pytest.mark.pty


READ = [sys.executable, "-m", "firmware_bridge", "read", "--interval", "0.2", "--timeout", "1",
        "--max-time", "20"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("protocol", "options", "extra", "expect"),
    [
        ("vedirect", {"profile": "bmv"}, [], {"battery_soc", "time_to_go", "deepest_discharge"}),
        ("pi30", {"usb": True}, [], {"battery_voltage", "inverter_mode"}),
        ("pi30", {"profile": "parallel2"}, ["--parallel", "2"], {"battery_voltage"}),
        ("srne", {}, [], {"battery_soc", "pv_power", "charge_state"}),
        ("growatt_spf", {}, [], {"battery_soc", "pv_power", "device_status"}),
        ("deye", {}, [], {"battery_soc", "battery_power", "yield_total"}),
    ],
    ids=["bmv", "axpert-usb", "axpert-parallel", "srne", "growatt-spf", "deye"],
)
def test_helio_bridge_read_against_each_simulator(
    simulator: SimFactory, protocol: str, options: dict[str, object], extra: list[str],
    expect: set[str],
) -> None:
    sim = simulator(protocol, **options)
    out = subprocess.run(
        [*READ, "--protocol", protocol, "--port", sim.url, "--count", "2", *extra],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    own = [line for line in lines if line["device_id"] == protocol]
    assert len(own) == 2
    seen = set().union(*(set(line["values"]) for line in own))
    assert expect - {"time_to_go"} <= seen  # TTG only while discharging
    if "--parallel" in extra:
        assert {line["device_id"] for line in lines} == {"pi30", "pi30_0", "pi30_1"}
    stats = json.loads(out.stderr.strip().splitlines()[-1])["stats"]
    assert stats["frames_good"] > 0 and stats["checksum_errors"] == 0
