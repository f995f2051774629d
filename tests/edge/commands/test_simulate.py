"""``helio-edge simulate`` serving and ``helio-bridge read`` reading, as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.pty

BRIDGE = [sys.executable, "-m", "firmware_bridge"]
SIMULATE = [sys.executable, "-m", "edge", "simulate"]
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def serve() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start(procs: list[subprocess.Popen[str]], *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*SIMULATE, "--start", "2025-01-10T11:30Z", "--speed", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    procs.append(proc)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()  # printed and flushed before serving
    assert line, proc.stderr.read() if proc.stderr else ""
    return proc, line


def read(url: str, protocol: str, count: int) -> list[dict[str, object]]:
    out = subprocess.run(
        [
            *BRIDGE,
            "read",
            "--protocol",
            protocol,
            "--port",
            url,
            "--count",
            str(count),
            "--interval",
            "0.1",
            "--timeout",
            "1",
            "--max-time",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stderr.strip().splitlines()[-1])["stats"]
    assert stats["frames_good"] >= count
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_simulate_pty_then_read_json_lines(serve: list[subprocess.Popen[str]]) -> None:
    proc, path = start(serve, "--protocol", "vedirect", "--time-scale", "0.2")
    assert os.path.islink(path) and os.readlink(path).startswith("/dev/pts/")
    lines = read(path, "vedirect", 2)
    assert len(lines) == 2
    for line in lines:
        assert line["device_id"] == "vedirect"
        assert str(line["timestamp"]).endswith("Z")
        values = line["values"]
        assert isinstance(values, dict)
        assert values["charge_state"] == "bulk" and 40.0 < values["battery_voltage"] < 60.0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert not os.path.exists(path)  # the link goes with the simulator


def test_simulate_tcp_then_read(serve: list[subprocess.Popen[str]]) -> None:
    port = free_port()
    proc, url = start(
        serve, "--protocol", "pi30", "--listen", f"127.0.0.1:{port}", "--time-scale", "0.1"
    )
    assert url == f"socket://127.0.0.1:{port}"
    (line,) = read(url, "pi30", 1)
    values = line["values"]
    assert isinstance(values, dict)
    assert values["inverter_mode"] == "battery" and values["rated_battery_voltage"] == 48.0
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0


def test_simulate_rejects_unknown_fault() -> None:
    out = subprocess.run(
        [*SIMULATE, "--protocol", "pi30", "--fault", "meteor"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert out.returncode == 2 and "unknown fault" in out.stderr
