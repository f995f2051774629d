"""edge.runtime.signed_commands: what a signed rollout command must carry to be accepted."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.runtime.inbound import CommandError
from edge.runtime.signed_commands import SIGNATURE_FIELD, CommandVerifier, signing_bytes
from firmware_bridge.timestamps import parse_utc

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
