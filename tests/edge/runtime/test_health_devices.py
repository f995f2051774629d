"""The post-deploy health check judges devices without opening their ports."""

from __future__ import annotations

import json
from pathlib import Path

from edge.runtime.config import AgentConfig, AgentSection, ModelConfig
from edge.runtime.health import disconnected, missing_ports, wait_online
from firmware_bridge.config import DeviceConfig


def _cfg(tmp_path: Path, port: str) -> AgentConfig:
    return AgentConfig(agent=AgentSection(site=str(tmp_path / "site.toml")),
                       model=ModelConfig("-", "-"),
                       devices=(DeviceConfig("mppt", "vedirect", port),
                                DeviceConfig("inverter", "pi30", "socket://127.0.0.1:9")))


def test_missing_serial_device_fails_without_opening_anything(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, str(tmp_path / "ttyUSB-gone"))
    assert missing_ports(cfg) == [f"device mppt: {tmp_path / 'ttyUSB-gone'} does not exist"]
    code, message = wait_online(cfg, since=0.0, timeout=1.0)
    assert code == 1 and "device mppt" in message
    held = tmp_path / "ttyUSB0"  # a tty the agent holds: only looked up
    held.write_bytes(b"")
    assert missing_ports(_cfg(tmp_path, str(held))) == []


def test_status_must_report_every_configured_device_connected(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "/dev/null")
    up = {"state": "online", "devices": {"mppt": {"connected": True},
                                         "inverter": {"connected": True}}}
    assert disconnected(json.dumps(up).encode(), cfg) == []
    up["devices"]["inverter"]["connected"] = False
    assert disconnected(json.dumps(up).encode(), cfg) == ["inverter"]
    assert disconnected(b"not json", cfg) == ["mppt", "inverter"]
