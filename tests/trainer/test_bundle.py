"""Writing and signing bundles; keys; what the edge then accepts or refuses."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.forecasting.bundle import (
    CARD_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    BundleError,
    load_bundle,
)
from edge.forecasting.features import FeatureSpec
from trainer.bundle import CardData, FanDay, write_bundle
from trainer.bundle_signing import SigningError, generate_keypair, load_private_key, sign_bundle_dir
from trainer.validate import GateResult, MetricRow

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "edge" / "data" / "bundles" / "abuja"


def _write(out: Path, key: Path | None, *, blessed: bool = True) -> Path:
    """A bundle from the shipped model bytes and a synthetic manifest/card."""
    shipped = json.loads((SHIPPED / MANIFEST_FILE).read_text())
    spec = FeatureSpec.from_dict(shipped["features"])
    manifest = {k: shipped[k] for k in ("model_version", "created", "site", "step_minutes",
                                         "horizons_min", "features", "training_data",
                                         "code_version", "seed", "int8", "model")}
    manifest["features"] = {**spec.to_dict(), "scaling": shipped["features"]["scaling"]}
    manifest["blessed"] = blessed
    rows = [MetricRow("ghi", h, "all", 100, 50.0, 30.0, 1.0, 0.2, 0.1, 0.8)
            for h in spec.horizons_min]
    hours = np.arange(6.0, 18.0, 0.25)
    day = FanDay("2025-01-01", hours, hours * 10, hours * 8, hours * 10, hours * 12)
    card = CardData(60, [day], {60: [0.1, 0.5, 0.9]}, ["a note"])
    return write_bundle(out, manifest=manifest, model_bytes=(SHIPPED / "model.tflite").read_bytes(),
                        float_model_bytes=(SHIPPED / "model_float32.tflite").read_bytes(),
                        rows=rows, gate=GateResult(()), card=card, key_path=key)


def test_keygen_writes_private_key_0600_and_refuses_overwrite(tmp_path: Path) -> None:
    priv, pub = generate_keypair(tmp_path / "keys")
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert b"PUBLIC KEY" in pub.read_bytes()
    load_private_key(priv)
    with pytest.raises(SigningError, match="refusing to overwrite"):
        generate_keypair(tmp_path / "keys")


def test_written_bundle_has_card_plots_and_loads_signed(tmp_path: Path) -> None:
    priv, pub = generate_keypair(tmp_path / "keys")
    out = _write(tmp_path / "b", priv)
    names = {p.name for p in out.iterdir()}
    assert {"model.tflite", "model_float32.tflite", MANIFEST_FILE, "manifest.sig", CARD_FILE,
            "skill_by_horizon.png", "fan_chart.png", "reliability.png"} <= names
    card = (out / CARD_FILE).read_text()
    assert "![fan](fan_chart.png)" in card and "| ghi | 60 | all |" in card
    assert (out / "fan_chart.png").read_bytes()[:4] == b"\x89PNG"
    bundle = load_bundle(out, pub)
    assert bundle.blessed and bundle.manifest["schema_version"] == 1


def test_unsigned_bundle_refused_until_signed(tmp_path: Path) -> None:
    priv, pub = generate_keypair(tmp_path / "keys")
    _write(tmp_path / "b", priv)
    out = _write(tmp_path / "b", None)  # rewritten unsigned: no stale signature left behind
    with pytest.raises(BundleError, match=r"manifest\.sig is missing"):
        load_bundle(out, pub)
    sign_bundle_dir(out, priv)
    assert load_bundle(out, pub).blessed


def test_unblessed_bundle_refused_unless_allowed(tmp_path: Path) -> None:
    priv, pub = generate_keypair(tmp_path / "keys")
    out = _write(tmp_path / "b", priv, blessed=False)
    with pytest.raises(BundleError, match="NOT blessed"):
        load_bundle(out, pub)
    assert not load_bundle(out, pub, allow_unblessed=True).blessed
    assert "NOT BLESSED" in (out / CARD_FILE).read_text()


def test_sign_refuses_non_bundle_and_bad_key(tmp_path: Path) -> None:
    priv, _ = generate_keypair(tmp_path / "keys")
    with pytest.raises(SigningError, match=r"no manifest\.json"):
        sign_bundle_dir(tmp_path, priv)
    bad = tmp_path / "bad.key"
    bad.write_text("nope")
    with pytest.raises(SigningError, match="not an unencrypted PEM key"):
        load_private_key(bad)


_REPRO_CONFIG = """site = "abuja.toml"
seed = 7
model_version = "repro-0.0.1"
[features]
step_minutes = 15
horizons_min = [15, 30, 60]
history_steps = 4
[data]
holdout_fraction = 0.25
[model]
hidden = [16]
epochs = 3
batch_size = 128
[quantization]
representative_samples = 500
representative_batch = 100
[gate]
targets = ["ghi"]
min_skill = -10.0
min_season_skill = -10.0
min_cliper_skill = -10.0
coverage_min = 0.0
coverage_max = 1.0
max_int8_rmse_increase = 0.5
max_rail_share = 0.5
max_linear_shortfall = -1.0
"""


def _fit_in(checkout: Path, src: Path) -> Path:
    """Copy the inputs into ``checkout``; run ``helio-train fit`` there in a fresh interpreter."""
    checkout.mkdir(parents=True)
    for name in ("abuja.toml", "train.toml", "weather.csv"):
        (checkout / name).write_bytes((src / name).read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    out = checkout / "bundle"
    done = subprocess.run(
        [sys.executable, "-m", "trainer", "fit", "--config", str(checkout / "train.toml"),
         "--data", str(checkout / "weather.csv"), "--format", "csv", "--out", str(out)],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.mark.slow
@pytest.mark.tensorflow
def test_two_checkouts_build_byte_identical_bundles(tmp_path: Path) -> None:
    """Same commit, data and config in two directories: the same model and manifest bytes."""
    from edge.forecasting.site import load_site  # noqa: PLC0415
    from trainer.synth import synthesize  # noqa: PLC0415

    src = tmp_path / "src"
    src.mkdir()
    site_file = REPO / "configs" / "sites" / "abuja.toml"
    (src / "abuja.toml").write_bytes(site_file.read_bytes())
    (src / "train.toml").write_text(_REPRO_CONFIG)
    frame = synthesize(load_site(site_file), dt.date(2025, 3, 1), 24, step_minutes=15, seed=7)
    (src / "weather.csv").write_text(
        frame.to_csv(float_format="%.2f", date_format="%Y-%m-%dT%H:%M:%SZ"))
    a = _fit_in(tmp_path / "a", src)
    b = _fit_in(tmp_path / "second" / "checkout" / "b", src)
    assert (a / MODEL_FILE).read_bytes() == (b / MODEL_FILE).read_bytes()
    assert (a / MANIFEST_FILE).read_bytes() == (b / MANIFEST_FILE).read_bytes()
    text = (a / MANIFEST_FILE).read_text()
    assert str(tmp_path) not in text and str(REPO) not in text  # no machine path at all


def test_build_time_is_source_date_epoch_else_the_commit_time() -> None:
    from trainer.provenance import build_time  # noqa: PLC0415

    assert build_time({"SOURCE_DATE_EPOCH": "1700000000"}) == dt.datetime(
        2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    assert build_time({}) == build_time({})  # the checkout's commit time: stable
