"""Inputs for deploy tests: the shipped bundle, the real unit, agent config templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.deploy.release import dump_toml
from tests.conftest import REPO

BUNDLE = REPO / "edge" / "data" / "bundles" / "abuja"
PUBLIC_KEY = next(
    (p for p in (REPO / "configs/keys/helio-default.pub", BUNDLE.with_suffix(".pub"))
     if p.is_file()),
    REPO / "configs/keys/helio-default.pub",
)
UNIT = REPO / "configs" / "systemd" / "helio-edge.service"
SITE = REPO / "configs" / "sites" / "abuja.toml"

needs_bundle = pytest.mark.skipif(
    not (BUNDLE.is_dir() and PUBLIC_KEY.is_file() and UNIT.is_file()),
    reason="shipped bundle, default public key or systemd unit not in the tree yet",
)


def write_template(
    path: Path,
    *,
    port: int,
    heartbeat_s: float = 2.0,
    credentials_file: str = "",
    devices: list[dict[str, Any]] | None = None,
) -> Path:
    """An agent config template like configs/edge/*.toml, for a test broker."""
    mqtt: dict[str, Any] = {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.2,
                            "reconnect_max_s": 2.0}
    if credentials_file:
        mqtt["credentials_file"] = credentials_file
    data: dict[str, Any] = {
        "agent": {"id": "gateway", "site": str(SITE), "heartbeat_s": heartbeat_s},
        "model": {"bundle": str(BUNDLE), "public_key": str(PUBLIC_KEY)},
        "mqtt": mqtt,
        "outbox": {"synchronous": "normal"},
        "discovery": {"enabled": False},
    }
    if devices:
        data["devices"] = devices
    path.write_text(dump_toml(data))
    return path
