"""``helio-train sign`` through the real dispatcher: a re-signed bundle verifies with the
new key only; a missing bundle is an error, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.forecasting.bundle import BundleError, load_bundle
from tests.trainer.commands.helpers import cli
from tests.trainer.monitor.rollout_helpers import keypair, make_bundle


def test_sign_replaces_the_signature(tmp_path: Path) -> None:
    old_priv, old_pub = keypair(tmp_path / "old")
    new_priv, new_pub = keypair(tmp_path / "new")
    bundle = make_bundle(tmp_path / "bundle", old_priv, version="v1", kt=0.8)
    assert load_bundle(bundle, old_pub).blessed
    with pytest.raises(BundleError, match="signature"):
        load_bundle(bundle, new_pub)
    assert cli("sign", "--bundle", str(bundle), "--key", str(new_priv)) == 0
    assert load_bundle(bundle, new_pub).manifest["model_version"] == "v1"
    with pytest.raises(BundleError, match="signature"):
        load_bundle(bundle, old_pub)


def test_sign_names_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    priv, _ = keypair(tmp_path)
    assert cli("sign", "--bundle", str(tmp_path / "nothing"), "--key", str(priv)) == 1
    assert "helio-train sign:" in capsys.readouterr().err
