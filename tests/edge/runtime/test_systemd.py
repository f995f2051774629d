"""configs/systemd/helio-edge.service: verified by systemd-analyze, hardened."""

from __future__ import annotations

import configparser
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from edge.runtime.sdnotify import Notifier
from edge.testkit.agent_rig import Rig

REPO = Path(__file__).resolve().parents[3]
UNIT = REPO / "configs/systemd/helio-edge.service"
EXEC = "/opt/helio-edge/current/venv/bin/helio-edge"


def _directives() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert f"ExecStart={EXEC} run --config /etc/helio-edge/config.toml" in text
    # verify fails on a missing binary: point ExecStart at one that exists
    copy = tmp_path / "helio-edge.service"
    copy.write_text(text.replace(EXEC, "/bin/true"))
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60,
        check=False,
    )
    complaints = [ln for ln in (proc.stdout + proc.stderr).splitlines() if copy.name in ln]
    assert proc.returncode == 0, proc.stderr
    assert complaints == []  # unknown keys or bad values are only warnings: fail on them too


def test_unit_is_notify_with_watchdog_and_restart() -> None:
    d = _directives()
    assert d["Type"] == ["notify"]
    assert int(d["WatchdogSec"][0]) > 0
    assert d["Restart"][0] in ("always", "on-failure")
    assert float(d["RestartSec"][0]) > 0
    assert d["RestartPreventExitStatus"] == ["2"]  # a bad config does not loop


def test_unit_runs_as_helio_in_dialout_with_state_dir() -> None:
    d = _directives()
    assert d["User"] == ["helio"]
    assert "dialout" in d["SupplementaryGroups"][0].split()
    assert d["StateDirectory"] == ["helio-edge"]
    assert d["ConfigurationDirectory"] == ["helio-edge"]


def test_unit_hardening() -> None:
    d = _directives()
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("PrivateDevices", "no")]:
        assert d[key] == [value], key
    assert set(d["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    allowed = " ".join(d["DeviceAllow"])
    assert "ttyUSB" in allowed and "ttyACM" in allowed
    assert d["CapabilityBoundingSet"] == [""]


def test_unit_parses_as_ini() -> None:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.read_string(UNIT.read_text())
    assert set(cp.sections()) == {"Unit", "Service", "Install"}
    assert cp["Install"]["WantedBy"] == "multi-user.target"


def test_sd_notify_datagrams(tmp_path: Path) -> None:
    """READY/WATCHDOG/STOPPING reach a real AF_UNIX datagram socket; no socket: no-op."""
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(2)
        n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"})
        assert n.enabled and n.watchdog_s == 30.0
        assert n.ready("polling 2 devices") and n.watchdog() and n.stopping()
        got = [server.recv(4096).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=polling 2 devices", "WATCHDOG=1", "STOPPING=1"]
    quiet = Notifier({})
    assert not quiet.enabled and not quiet.ready() and quiet.watchdog_s is None
    other = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other.watchdog_s is None  # the watchdog belongs to another process


def test_agent_notifies_systemd(tmp_path: Path) -> None:
    """The agent loop sends READY=1, keeps pinging WATCHDOG=1, and says STOPPING=1."""
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(5)
        rig = Rig(tmp_path)
        rig.agent.notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
        rig.start()
        got: list[str] = []
        deadline = time.monotonic() + 10
        while sum(m == "WATCHDOG=1" for m in got) < 3 and time.monotonic() < deadline:
            got.append(server.recv(4096).decode())
        rig.close()
        while not got or got[-1] != "STOPPING=1":
            got.append(server.recv(4096).decode())
        rig.outbox.close()
    assert got[0].startswith("READY=1")
    assert sum(m == "WATCHDOG=1" for m in got) >= 3


def test_unit_filtered_syscalls_fail_with_eperm_and_wait_for_time_sync() -> None:
    """A filtered call gets EPERM instead of SIGSYS killing the agent, and
    the unit starts after time-sync.target (the deploy enables systemd-time-wait-sync)."""
    d = _directives()
    assert d["SystemCallErrorNumber"] == ["EPERM"]
    assert "time-sync.target" in d["After"][0].split()
