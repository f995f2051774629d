"""``helio-bridge decode`` run as a subprocess on the constructed captures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_bridge.readings import check_values
from tests.firmware_bridge.helpers import DATA as CAPTURES_DIR

DATA = CAPTURES_DIR


def _decode(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "firmware_bridge", "decode", *args],
        input=stdin, capture_output=True, timeout=60, check=False,
    )


def _lines(result: subprocess.CompletedProcess[bytes]) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


def test_vedirect_file() -> None:
    result = _decode("--protocol", "vedirect", "--device-id", "mppt",
                     str(DATA / "vedirect" / "smartsolar_mppt.bin"))
    assert result.returncode == 0, result.stderr
    objects = _lines(result)
    assert len(objects) == 12
    for obj in objects:
        assert obj["device_id"] == "mppt"
        assert str(obj["timestamp"]).endswith("Z")
        check_values(obj["values"])  # type: ignore[arg-type]
    assert objects[0]["values"]["battery_voltage"] == 51.2  # type: ignore[index]
    assert "frames_ok=12 rejected=1 (checksum_errors=1" in result.stderr.decode()


def test_vedirect_stdin_with_start_time() -> None:
    data = (DATA / "vedirect" / "noisy.bin").read_bytes()
    result = _decode("--protocol", "vedirect", "--start", "2026-03-01T06:00:00Z",
                     "--interval", "1", "-", stdin=data)
    assert result.returncode == 0
    objects = _lines(result)
    assert [o["timestamp"] for o in objects] == [
        f"2026-03-01T06:00:0{i}Z" for i in range(4)]
    assert objects[0]["device_id"] == "vedirect"
    assert "rejected=3 (checksum_errors=2 format_errors=1" in result.stderr.decode()


@pytest.mark.parametrize(
    ("capture", "command", "ok", "rejected"),
    [("qpigs.bin", "QPIGS", 7, 3), ("qpigs_max.bin", "QPIGS", 4, 0),
     ("qpiri.bin", "QPIRI", 2, 0), ("qmod.bin", "QMOD", 7, 1), ("qpiws.bin", "QPIWS", 3, 0)],
    ids=["qpigs", "qpigs-max", "qpiri", "qmod", "qpiws"],
)
def test_pi30_captures(capture: str, command: str, ok: int, rejected: int) -> None:
    result = _decode("--protocol", "pi30", "--command", command, str(DATA / "pi30" / capture))
    assert result.returncode == 0
    objects = _lines(result)
    assert len(objects) == ok
    for obj in objects:
        check_values(obj["values"])  # type: ignore[arg-type]
    assert f"frames_ok={ok} rejected={rejected} " in result.stderr.decode()


def test_pi30_wrong_command_rejects_every_reply() -> None:
    result = _decode("--protocol", "pi30", "--command", "QMOD", str(DATA / "pi30" / "qpigs.bin"))
    assert result.returncode == 1 and result.stdout == b""
    assert "frames_ok=0 rejected=10 " in result.stderr.decode()


def test_pi30_requires_command() -> None:
    result = _decode("--protocol", "pi30", str(DATA / "pi30" / "qmod.bin"))
    assert result.returncode == 2 and b"--command is required" in result.stderr


def test_missing_file() -> None:
    result = _decode("--protocol", "vedirect", "/nonexistent/capture.bin")
    assert result.returncode == 2 and b"cannot read /nonexistent/capture.bin" in result.stderr


def test_console_script_if_installed() -> None:
    script = Path(sys.executable).with_name("helio-bridge")
    if not script.exists():
        pytest.skip("helio-bridge console script not installed in this environment")
    result = subprocess.run(
        [str(script), "decode", "--protocol", "pi30", "--command", "QMOD",
         str(DATA / "pi30" / "qmod.bin")], capture_output=True, timeout=60, check=False)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 7
