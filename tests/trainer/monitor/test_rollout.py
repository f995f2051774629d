"""Device-side rollout: refuse bad bundles, shadow, promote or roll back."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from edge.forecasting.bundle import (
    SIGNATURE_FILE,
    archive_bytes,
    load_bundle,
    read_bundle_files,
    sha256_hex,
)
from edge.forecasting.features import FeatureSpec
from edge.runtime.inbound import CommandError
from tests.trainer.monitor.rollout_helpers import (
    GATEWAY,
    SITE_ID,
    Device,
    install,
    keypair,
    make_bundle,
    rollback,
    tamper,
)
from trainer.bundle_signing import load_private_key
from trainer.publishing import sign_command


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return keypair(tmp_path)


@pytest.fixture
def device(tmp_path: Path, keys) -> Device:
    return Device(tmp_path, *keys)


def _payload(files: dict[str, bytes], priv: Path, **override: Any) -> bytes:
    """A correctly signed command around ``files`` (the bundle check must catch them)."""
    archive = archive_bytes(files)
    body = {"schema_version": 1, "command": "install", "rollout_id": sha256_hex(archive)[:16],
            "site_id": SITE_ID, "device_id": GATEWAY, "issued": "2026-01-10T07:00:00Z",
            "expires": "2026-01-11T07:00:00Z", "archive_sha256": sha256_hex(archive),
            "archive_b64": base64.b64encode(archive).decode(), **override}
    return sign_command(body, load_private_key(priv))


def _bad(kind: str, tmp: Path, priv: Path) -> bytes:
    good = make_bundle(tmp / "v2", priv, version="v2", kt=0.8)
    if kind == "tampered":
        tamper(good)
    elif kind == "unblessed":
        good = make_bundle(tmp / "v2u", priv, version="v2u", kt=0.8, blessed=False)
    elif kind == "other-key":
        other_priv, _ = keypair(tmp / "other")
        good = make_bundle(tmp / "v2k", other_priv, version="v2k", kt=0.8)
    elif kind == "spec-change":
        good = make_bundle(tmp / "v2s", priv, version="v2s", kt=0.8,
                           spec=FeatureSpec(history_steps=8))
    files = read_bundle_files(good)
    if kind == "unsigned":
        del files[SIGNATURE_FILE]
    if kind == "corrupted":
        return _payload(files, priv, archive_sha256="0" * 64)
    if kind == "not-base64":
        return _payload(files, priv, archive_b64="%%%")
    return _payload(files, priv)


@pytest.mark.parametrize("kind", ["tampered", "unsigned", "unblessed", "other-key",
                                  "spec-change", "corrupted", "not-base64"])
def test_bad_bundle_refused_and_running_model_kept(device: Device, keys, tmp_path: Path,
                                                   kind: str) -> None:
    with pytest.raises(CommandError, match="keeping v1"):
        device.rollout.handle_payload(_bad(kind, tmp_path, keys[0]))
    assert device.holder.version == "v1" and device.rollout.candidate is None
    assert device.codes() == ["model_refused"]
    assert not list(device.models.glob("bundle-*"))  # nothing refused is kept
    device.run(1)  # and the running model keeps forecasting, nothing in shadow
    assert device.shadow_published == 0


def test_malformed_commands_refused(device: Device) -> None:
    for payload in (b"nope", b"[]", b'{"schema_version": 9, "command": "install"}',
                    b'{"schema_version": 1, "command": "format_disk"}'):
        with pytest.raises(CommandError):
            device.rollout.handle_payload(payload)
    assert device.holder.version == "v1"


def test_better_model_shadowed_then_promoted_and_kept_after_restart(device: Device, keys,
                                                                    tmp_path: Path) -> None:
    v2 = make_bundle(tmp_path / "v2", keys[0], version="v2", kt=0.8)
    out = device.rollout.handle_payload(install(v2, keys[0], public_key=keys[1]))
    assert out["state"] == "shadow" and device.holder.version == "v1"
    device.run(3)  # in shadow: v1 still forecasts, v2's forecasts go out tagged
    assert device.holder.version == "v1" and device.shadow_published == 12
    status = device.rollout.status()
    assert status["state"] == "shadow" and status["candidate"]["version"] == "v2"
    device.run(4)
    assert device.holder.version == "v2"
    assert device.codes() == ["model_received", "model_shadow_started", "model_promoted"]
    promoted = device.events[-1][2]
    assert promoted["rmse_shadow"] < promoted["rmse_active"] and promoted["pairs"] >= 8
    assert device.changes == 1 and device.rollout.status()["state"] == "idle"

    device.holder.swap(load_bundle(device.active_dir, keys[1]))  # a reboot loads the config
    device.rollout = device.new_rollout()
    assert device.holder.version == "v2"  # ... and the rollout state brings v2 back

    device.rollout.handle_payload(rollback(keys[0]))
    assert device.holder.version == "v1" and device.codes()[-1] == "model_rolled_back"


def test_worse_model_rolled_back_on_its_own(device: Device, keys, tmp_path: Path) -> None:
    v2 = make_bundle(tmp_path / "v2", keys[0], version="v2", kt=0.2)  # truth is 0.8, v1 0.5
    device.rollout.handle_payload(install(v2, keys[0]))
    device.run(8)
    assert device.holder.version == "v1"
    assert device.codes() == ["model_received", "model_shadow_started", "model_rolled_back"]
    assert "worse" in device.events[-1][2]["reason"]
    assert device.rollout.status() == {"state": "idle", "last": device.rollout.last_outcome}


def test_forced_rollback_during_shadow_drops_candidate(device: Device, keys,
                                                       tmp_path: Path) -> None:
    v2 = make_bundle(tmp_path / "v2", keys[0], version="v2", kt=0.8)
    device.rollout.handle_payload(install(v2, keys[0]))
    device.run(1)
    device.rollout.handle_payload(rollback(keys[0]))
    assert device.rollout.candidate is None and device.holder.version == "v1"
    device.run(8)
    assert device.holder.version == "v1"
    with pytest.raises(CommandError, match="no previous model"):
        device.rollout.handle_payload(rollback(keys[0]))


def test_newly_configured_bundle_wins_over_earlier_promotion(device: Device, keys,
                                                             tmp_path: Path) -> None:
    v2 = make_bundle(tmp_path / "v2", keys[0], version="v2", kt=0.8)
    device.rollout.handle_payload(install(v2, keys[0]))
    device.run(7)
    assert device.holder.version == "v2"
    assert len(list(device.models.glob("bundle-*.tar.gz"))) == 1  # v2's archive only
    # an operator deploys v3 through the config file; on restart v3 runs, not v2
    v3 = make_bundle(tmp_path / "v3", keys[0], version="v3", kt=0.7)
    device.holder.swap(load_bundle(v3, keys[1]))
    device.rollout = device.new_rollout()
    assert device.holder.version == "v3" and device.codes()[-1] == "rollout_state_reset"
    with pytest.raises(CommandError, match="no previous model"):
        device.rollout.handle_payload(rollback(keys[0]))
