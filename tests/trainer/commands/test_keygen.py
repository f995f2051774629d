"""``helio-train keygen`` through the real dispatcher: a private key only its owner reads,
never overwritten unless asked."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.trainer.commands.helpers import cli


def test_keygen_writes_a_private_key_only_its_owner_reads(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("keygen", "--out", str(tmp_path / "keys")) == 0
    priv, pub = tmp_path / "keys" / "signing.key", tmp_path / "keys" / "signing.pub"
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in priv.read_bytes() and b"PUBLIC KEY" in pub.read_bytes()
    out = capsys.readouterr().out
    assert str(priv) in out and str(pub) in out


def test_keygen_never_overwrites_unless_asked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys"
    assert cli("keygen", "--out", str(keys)) == 0
    before = (keys / "signing.key").read_bytes()
    assert cli("keygen", "--out", str(keys)) == 1
    assert "helio-train keygen:" in capsys.readouterr().err
    assert (keys / "signing.key").read_bytes() == before
    assert cli("keygen", "--out", str(keys), "--overwrite") == 0
    assert (keys / "signing.key").read_bytes() != before
