"""Fixtures of the helio-train command tests: configs with a lax or strict gate, a key pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trainer.commands.helpers import STRICT_GATE, cli, write_config


@pytest.fixture
def lax_config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "lax.toml")


@pytest.fixture
def strict_config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "strict.toml", STRICT_GATE)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    assert cli("keygen", "--out", str(tmp_path / "keys")) == 0
    return tmp_path / "keys" / "signing.key", tmp_path / "keys" / "signing.pub"
