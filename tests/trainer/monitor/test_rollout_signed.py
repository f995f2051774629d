"""Signed, bound, expiring, once-only rollout commands; archive caps.

The device side (:class:`edge.runtime.rollout.Rollout`) is driven with commands
built by the trainer side (:mod:`trainer.publishing`), real Ed25519 keys and real
bundle archives; only the interpreter is the test predictor.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from edge.forecasting.bundle import MAX_MEMBER_BYTES, sha256_hex
from edge.runtime.inbound import CommandError
from tests.trainer.monitor.rollout_helpers import (
    GATEWAY,
    SITE_ID,
    Device,
    bomb_tar,
    install,
    keypair,
    make_bundle,
    rollback,
    zeros_gzip,
)
from trainer.bundle_signing import load_private_key
from trainer.publishing import sign_command


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return keypair(tmp_path)


@pytest.fixture
def device(tmp_path: Path, keys) -> Device:
    return Device(tmp_path, *keys)


def _promote_v2(device: Device, keys, tmp_path: Path) -> None:
    v2 = make_bundle(tmp_path / "v2", keys[0], version="v2", kt=0.8,
                     created="2026-11-27T00:00:00Z")
    device.rollout.handle_payload(install(v2, keys[0]))
    device.run(7)
    assert device.holder.version == "v2"


def test_unsigned_rollback_is_refused_and_cannot_flip_models(device: Device, keys,
                                                             tmp_path: Path) -> None:
    """Before: ``{"schema_version":1,"command":"rollback"}`` from anyone flipped the models."""
    _promote_v2(device, keys, tmp_path)
    for _ in range(3):
        with pytest.raises(CommandError, match="unsigned"):
            device.rollout.handle_payload(b'{"schema_version":1,"command":"rollback"}')
    assert device.holder.version == "v2"
    # signed with another key: refused too
    other = keypair(tmp_path / "other")[0]
    with pytest.raises(CommandError, match="signature does not verify"):
        device.rollout.handle_payload(rollback(other))
    assert device.holder.version == "v2"


def test_a_signed_rollback_runs_once_and_its_replay_is_refused(device: Device, keys,
                                                               tmp_path: Path) -> None:
    """Before: repeating one rollback flipped active and previous each time."""
    _promote_v2(device, keys, tmp_path)
    cmd = rollback(keys[0], rollout_id="rb-1")
    device.rollout.handle_payload(cmd)
    assert device.holder.version == "v1"
    with pytest.raises(CommandError, match="replay"):
        device.rollout.handle_payload(cmd)
    assert device.holder.version == "v1"
    # also after a restart (the ledger is on disk)
    device.rollout = device.new_rollout()
    with pytest.raises(CommandError, match="replay"):
        device.rollout.handle_payload(cmd)
    assert device.holder.version == "v1"


def test_replayed_install_does_not_restart_the_shadow(device: Device, keys,
                                                      tmp_path: Path) -> None:
    v2 = make_bundle(tmp_path / "v2", keys[0], version="v2", kt=0.8)
    cmd = install(v2, keys[0])
    device.rollout.handle_payload(cmd)
    since = device.rollout.shadow_since
    device.clock.advance(3600)
    with pytest.raises(CommandError, match="replay"):
        device.rollout.handle_payload(cmd)
    assert device.rollout.shadow_since == since


@pytest.mark.parametrize(("field", "value", "match"), [
    ("site_id", "kano-02", "not abuja-01/gateway"),
    ("device_id", "gw-b", "not abuja-01/gateway"),
])
def test_command_for_another_gateway_is_refused(device: Device, keys, field: str, value: str,
                                                match: str) -> None:
    with pytest.raises(CommandError, match=match):
        device.rollout.handle_payload(rollback(keys[0], **{field.split("_", maxsplit=1)[0]: value}))


def test_expired_or_overlong_command_is_refused(device: Device, keys) -> None:
    now = device.clock.now_utc().timestamp()
    with pytest.raises(CommandError, match="expired"):
        device.rollout.handle_payload(rollback(keys[0], now=now - 7200, ttl_s=3600))
    body = json.loads(rollback(keys[0], now=now))
    body.pop("command_sig")
    body["expires"] = "2099-01-01T00:00:00Z"
    with pytest.raises(CommandError, match="validity"):
        device.rollout.handle_payload(sign_command(body, load_private_key(keys[0])))


def test_downgrade_needs_the_signed_flag(device: Device, keys, tmp_path: Path) -> None:
    old = make_bundle(tmp_path / "v0", keys[0], version="v0", kt=0.8,
                      created="2025-01-01T00:00:00Z")
    with pytest.raises(CommandError, match="downgrade"):
        device.rollout.handle_payload(install(old, keys[0]))
    assert device.rollout.candidate is None
    # setting the flag without the key breaks the signature
    body = json.loads(install(old, keys[0]))
    body["downgrade"] = True
    with pytest.raises(CommandError, match="signature does not verify"):
        device.rollout.handle_payload(json.dumps(body).encode())
    out = device.rollout.handle_payload(install(old, keys[0], downgrade=True))
    assert out["state"] == "shadow" and device.rollout.candidate is not None


def test_reload_model_does_not_undo_a_promotion(device: Device, keys, tmp_path: Path) -> None:
    """Before: ``reload_model`` (unsigned, on cmd) quietly went back to the configured v1."""
    _promote_v2(device, keys, tmp_path)
    with pytest.raises(CommandError, match="promoted by a rollout"):
        device.rollout.reload_configured(device.holder.load_configured)
    assert device.holder.version == "v2"
    # a bundle deployed since (another file at the configured path) is taken
    make_bundle(device.active_dir, keys[0], version="v3", kt=0.7)
    out = device.rollout.reload_configured(device.holder.load_configured)
    assert out["version"] == "v3" and device.holder.version == "v3"


def test_unsigned_reload_cannot_cancel_a_rollout_in_shadow(device: Device, keys,
                                                          tmp_path: Path) -> None:
    """Before: anyone who could write cmd ended a signed candidate's shadow with reload_model."""
    v2 = make_bundle(tmp_path / "v2", keys[0], version="v2", kt=0.8,
                     created="2026-11-27T00:00:00Z")
    device.rollout.handle_payload(install(v2, keys[0]))
    assert device.rollout.candidate is not None
    with pytest.raises(CommandError, match="rollout of v2 in progress"):
        device.rollout.reload_configured(device.holder.load_configured)
    assert device.rollout.candidate is not None and device.rollout.candidate.version == "v2"
    assert device.holder.version == "v1"
    # the signed rollback still ends it
    device.rollout.handle_payload(rollback(keys[0]))
    assert device.rollout.candidate is None


# --------------------------------------------------------------------- archives


def _install_body(archive: bytes) -> dict:
    return {"schema_version": 1, "command": "install", "rollout_id": sha256_hex(archive)[:16],
            "site_id": SITE_ID, "device_id": GATEWAY, "issued": "2026-01-10T07:00:00Z",
            "expires": "2026-01-11T07:00:00Z", "archive_sha256": sha256_hex(archive),
            "archive_bytes": len(archive), "archive_b64": base64.b64encode(archive).decode()}


def test_hostile_archive_is_refused_before_inflating(device: Device, keys) -> None:
    """Before: 1 GiB of zeros in ~1 MB took about 3 s to refuse, and was written to the card."""
    archive = zeros_gzip(1 << 30)
    assert len(archive) < 2 << 20
    payload = json.dumps(_install_body(archive)).encode()  # not signed: a hostile publisher
    t0 = time.perf_counter()
    with pytest.raises(CommandError, match="unsigned"):
        device.rollout.handle_payload(payload)
    assert time.perf_counter() - t0 < 0.5
    assert not list(device.models.glob("bundle-*"))


def test_signed_bomb_stops_at_the_member_cap(device: Device, keys) -> None:
    """Even a correctly signed command cannot make the device inflate past the caps."""
    archive = bomb_tar(4 * MAX_MEMBER_BYTES)
    payload = sign_command(_install_body(archive), load_private_key(keys[0]))
    t0 = time.perf_counter()
    with pytest.raises(CommandError, match="over"):
        device.rollout.handle_payload(payload)
    assert time.perf_counter() - t0 < 1.0
    assert device.holder.version == "v1"
    assert not list(device.models.glob("bundle-*"))


def test_oversized_payload_is_refused_unread(device: Device) -> None:
    with pytest.raises(CommandError, match="over"):
        device.rollout.handle_payload(b"{" + b" " * (64 << 20) + b"}")
