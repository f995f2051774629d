"""edge.runtime.signed_commands: what a signed rollout command must carry to be accepted."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.runtime.inbound import CommandError
from edge.runtime.signed_commands import SIGNATURE_FIELD, CommandVerifier, signing_bytes
from firmware_bridge.timestamps import isoformat_z, parse_utc

KEY = Ed25519PrivateKey.generate()
NOW = parse_utc("2026-06-01T12:00:00Z").timestamp()


def _signed(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"schema_version": 1, "command": "rollback", "rollout_id": "r-1",
                            "site_id": "abuja-01", "device_id": "gateway",
                            "issued": "2026-06-01T11:00:00Z", "expires": "2026-06-02T11:00:00Z"}
    body.update(changes)
    body[SIGNATURE_FIELD] = base64.b64encode(KEY.sign(signing_bytes(body))).decode()
    return body


def _verifier(tmp_path: Path) -> CommandVerifier:
    return CommandVerifier(KEY.public_key(), site_id="abuja-01", device_id="gateway",
                           ledger=tmp_path / "commands.json")


def test_a_signed_command_with_utc_times_is_accepted_once(tmp_path: Path) -> None:
    verifier = _verifier(tmp_path)
    assert verifier.verify(_signed(), now=NOW) == "r-1"
    with pytest.raises(CommandError, match="replay refused"):
        verifier.verify(_signed(), now=NOW)


def test_an_offset_time_means_the_same_instant(tmp_path: Path) -> None:
    body = _signed(issued="2026-06-01T12:00:00+01:00", expires="2026-06-02T12:00:00+01:00")
    assert _verifier(tmp_path).verify(body, now=NOW) == "r-1"


@pytest.mark.parametrize("key", ["issued", "expires"])
def test_a_naive_time_is_refused_naming_the_field(tmp_path: Path, key: str) -> None:
    """Taken as UTC before, a naive time shifted a command's validity by the sender's offset."""
    body = _signed(**{key: "2026-06-01T23:00:00"})
    verifier = _verifier(tmp_path)
    with pytest.raises(CommandError, match=rf"{key} .*no timezone"):
        verifier.verify(body, now=NOW)
    assert not verifier.seen("r-1")  # refused before it was recorded


# ---------------------------------------------- a damaged ledger never lets a replay through


def _damage(path: Path) -> None:
    path.write_bytes(b"\x00\x00\x7b torn")


def test_a_damaged_ledger_copy_is_replaced_by_the_other(tmp_path: Path) -> None:
    assert _verifier(tmp_path).verify(_signed(), now=NOW) == "r-1"
    _damage(tmp_path / "commands.json")
    verifier = CommandVerifier(KEY.public_key(), site_id="abuja-01", device_id="gateway",
                               ledger=tmp_path / "commands.json", now=NOW + 60)
    assert len(verifier.recoveries) == 1 and not verifier.lost
    with pytest.raises(CommandError, match="replay refused"):
        verifier.verify(_signed(), now=NOW + 60)
    assert CommandVerifier(KEY.public_key(), site_id="abuja-01", device_id="gateway",
                           ledger=tmp_path / "commands.json").recoveries == []  # repaired


def test_a_lost_ledger_refuses_every_command_issued_before_the_loss(tmp_path: Path) -> None:
    """Before: a corrupt ledger raised at start and the agent exited on every restart."""
    assert _verifier(tmp_path).verify(_signed(), now=NOW) == "r-1"
    for name in ("commands.json", "commands.json.bak"):
        _damage(tmp_path / name)
    loss = NOW + 3600
    verifier = CommandVerifier(KEY.public_key(), site_id="abuja-01", device_id="gateway",
                               ledger=tmp_path / "commands.json", now=loss)
    assert verifier.lost and verifier.not_before >= loss
    assert all(Path(r.moved_to).exists() for r in verifier.recoveries)  # kept
    with pytest.raises(CommandError, match="before the replay ledger was lost"):
        verifier.verify(_signed(), now=loss)  # the replay
    with pytest.raises(CommandError, match="before the replay ledger was lost"):
        verifier.verify(_signed(rollout_id="r-2"), now=loss)  # any old command
    # the operator re-issues: a new id, issued after the loss (the not-before time is the
    # later of the device clock and the damaged files' modification times)
    later = verifier.not_before + 60
    fresh = _signed(rollout_id="r-3", issued=_iso(later), expires=_iso(later + 86400))
    assert verifier.verify(fresh, now=later) == "r-3"
    # the not-before time is kept across restarts
    again = CommandVerifier(KEY.public_key(), site_id="abuja-01", device_id="gateway",
                            ledger=tmp_path / "commands.json", now=later + 60)
    assert again.not_before == verifier.not_before and not again.recoveries
    with pytest.raises(CommandError, match="before the replay ledger was lost"):
        again.verify(_signed(rollout_id="r-4", issued=_iso(verifier.not_before - 60),
                             expires=_iso(later + 86400)), now=later + 60)


def _iso(epoch: float) -> str:
    return isoformat_z(datetime.fromtimestamp(epoch, UTC))
