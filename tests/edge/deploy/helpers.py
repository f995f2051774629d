"""Inputs for deploy tests: the shipped bundle, the real unit, agent config templates,
releases staged as the installer would (for the device-side steps)."""

from __future__ import annotations

import hashlib
import json
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


def staged_release(root: Path, rid: str, files: dict[str, tuple[bytes, str, str]],
             *, installed: bool = True, reqs: tuple[str, ...] = ("pvlib>=0.11",)) -> Path:
    """Write releases/<rid> as the installer's side would stage it."""
    rel = root / "opt/helio-edge/releases" / rid
    entries = []
    for path, (data, mode, owner) in files.items():
        dest = rel / "files" / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        entries.append({"path": path, "sha256": hashlib.sha256(data).hexdigest(),
                        "mode": mode, "owner": owner})
    manifest = {"id": rid, "content_sha256": rid * 4, "wheel": "x.whl",
                "requirements": list(reqs), "wheelhouse": [], "files": entries}
    (rel / "release.json").write_text(json.dumps(manifest))
    if installed:
        (rel / "venv").mkdir()
        (rel / "venv" / ".complete").write_text(rid)
    return rel


FILES_A = {
    "etc/helio-edge/config.toml": (b"[agent]\nid='a'\n", "0640", "root"),
    "etc/helio-edge/credentials.toml": (b"username='u'\npassword='p'\n", "0600", "service"),
    "var/lib/helio-edge/bundle/model.tflite": (b"model-a", "0644", "root"),
    "var/lib/helio-edge/bundle/old_extra.bin": (b"only in a", "0644", "root"),
}
FILES_B = {
    "etc/helio-edge/config.toml": (b"[agent]\nid='b'\n", "0640", "root"),
    "etc/helio-edge/credentials.toml": (b"username='u'\npassword='p'\n", "0600", "service"),
    "var/lib/helio-edge/bundle/model.tflite": (b"model-b", "0644", "root"),
}
