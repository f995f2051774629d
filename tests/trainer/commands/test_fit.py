"""``helio-train fit`` end to end on tiny synthetic data (with keygen and sign around a
fitted bundle; evaluate has its own module, the default configuration's adaptation to the
data is in tests/trainer/test_config.py).

Each fit trains a 16-unit MLP for 3 epochs on 24 synthetic Abuja days: a few
seconds on 2 cores.
"""

# ruff: noqa: PLC0415  (TensorFlow-heavy modules are imported inside the tests that need them)

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from edge.forecasting.bundle import MODEL_FILE, BundleError, load_bundle
from tests.trainer.commands.helpers import cli, write_config

pytestmark = pytest.mark.tensorflow

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_fit_writes_blessed_signed_bundle_the_edge_loads(
    tmp_path: Path, lax_config: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle"
    assert cli("fit", "--config", str(lax_config), "--out", str(out), "--key", str(keys[0])) == 0
    captured = capsys.readouterr()
    assert "epoch 3/3" in captured.err  # progress while it works
    assert "blessed bundle written" in captured.out
    bundle = load_bundle(out, keys[1])
    m = bundle.manifest
    assert bundle.blessed and m["gate"]["passed"]
    assert m["horizons_min"] == [15, 30, 60] and m["seed"] == 7
    assert len(m["training_data"]["sha256"]) == 64
    assert {r["target"] for r in m["metrics"]} == {"ghi", "dni", "dhi", "pv_power"}
    assert m["model"]["size_bytes"] == len(bundle.model_bytes) < 64 * 1024
    assert (out / "model_card.md").read_text().startswith("# Model card: test-0.0.1")


@pytest.mark.slow
def test_gate_failure_exits_nonzero_and_force_writes_unblessed(
    tmp_path: Path, strict_config: Path, keys: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "bundle"
    args = ("fit", "--config", str(strict_config), "--out", str(out), "--key", str(keys[0]))
    assert cli(*args) == 1
    err = capsys.readouterr().err
    assert "FAIL  skill vs smart persistence, ghi 15 min" in err
    assert "no bundle written" in err
    assert not out.exists()
    assert cli(*args, "--force") == 1
    assert "UNBLESSED" in capsys.readouterr().err
    with pytest.raises(BundleError, match="NOT blessed"):
        load_bundle(out, keys[1])
    assert load_bundle(out, keys[1], allow_unblessed=True).manifest["blessed"] is False


@pytest.mark.slow
def test_same_data_config_and_seed_give_identical_model(tmp_path: Path, lax_config: Path) -> None:
    from trainer.config import load_train_config
    from trainer.fit import fit

    cfg = load_train_config(lax_config)
    a = fit(cfg, out_dir=tmp_path / "a")
    b = fit(cfg, out_dir=tmp_path / "b")
    assert (tmp_path / "a" / MODEL_FILE).read_bytes() == (tmp_path / "b" / MODEL_FILE).read_bytes()
    assert a.manifest["training_data"]["sha256"] == b.manifest["training_data"]["sha256"]
    other = load_train_config(write_config(tmp_path / "seed8.toml", seed=8))
    assert fit(other, out_dir=tmp_path / "c").model_bytes != a.model_bytes


@pytest.mark.slow
def test_gate_rejects_a_deliberately_broken_model(tmp_path: Path, lax_config: Path) -> None:
    """Random (untrained) weights through the real scoring path fail the default gate."""
    from edge.forecasting.bundle import Bundle, sha256_hex
    from trainer.config import GateSection, ModelSection, QuantizationSection, load_train_config
    from trainer.dataset import build_dataset
    from trainer.evaluation import int8_report, score_bundle
    from trainer.fit import _split, feature_spec
    from trainer.loading import load_data
    from trainer.model import FeatureScaling, build_model, seed_everything
    from trainer.quantize import to_float_tflite, to_int8_tflite
    from trainer.validate import run_gate

    cfg = load_train_config(lax_config)
    site = cfg.load_site()
    loaded = load_data(cfg, site, None, None)
    ds = build_dataset(loaded.frame, feature_spec(cfg), loaded.site)
    train, test = _split(ds, cfg, None)
    train = train.daytime()
    scaling = FeatureScaling.fit(train.X)
    seed_everything(0)
    broken = build_model(ds.X.shape[1], 3, ModelSection(hidden=(16,)))  # never trained
    z = scaling.apply(train.X)
    int8 = to_int8_tflite(broken, z, QuantizationSection(representative_samples=500))
    manifest = {"horizons_min": [15, 30, 60], "features": {"scaling": scaling.to_dict()}}
    bundle = Bundle("<memory>", manifest, b"", int8, sha256_hex(int8), to_float_tflite(broken))
    scored = score_bundle(bundle, test, train=train, frame=loaded.frame, site=site,
                          loc=loaded.site)
    gate = run_gate(scored.rows, int8_report(bundle, scored), len(int8), GateSection())
    assert not gate.passed
    failed = {c.name for c in gate.failures}
    assert "skill vs smart persistence, ghi 15 min" in failed


def test_fit_bad_input_is_a_clear_error(tmp_path: Path, lax_config: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(lax_config.read_text() + "\nunknown_key = 1\n")
    assert cli("fit", "--config", str(bad), "--out", str(tmp_path / "o")) == 2
    assert "unknown_key" in capsys.readouterr().err
    csv = tmp_path / "empty.csv"
    csv.write_text("when,ghi\n2025-01-01,1\n")
    assert cli("fit", "--config", str(lax_config), "--data", str(csv), "--format", "csv",
               "--out", str(tmp_path / "o")) == 2
    assert "timestamp" in capsys.readouterr().err


@pytest.mark.slow
def test_keygen_and_sign_commands(tmp_path: Path, keys: tuple[Path, Path], lax_config: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    assert cli("keygen", "--out", str(keys[0].parent)) == 1  # never overwrites silently
    out = tmp_path / "bundle"
    assert cli("fit", "--config", str(lax_config), "--out", str(out), "--key", str(keys[0])) == 0
    other = tmp_path / "other"
    assert cli("keygen", "--out", str(other)) == 0
    with pytest.raises(BundleError, match="signature"):
        load_bundle(out, other / "signing.pub")
    assert cli("sign", "--bundle", str(out), "--key", str(other / "signing.key")) == 0
    assert load_bundle(out, other / "signing.pub").blessed


def test_holdout_and_validation_split_are_chronological(tmp_path: Path) -> None:
    """Hold-out = the later part; validation = the latest part of training; nothing reaches over."""
    import pandas as pd

    from edge.forecasting.features import FeatureSpec
    from trainer.config import load_train_config
    from trainer.dataset import build_dataset, holdout_split, validation_split
    from trainer.loading import synthetic_frame

    cfg = load_train_config(write_config(tmp_path / "c.toml"))
    site = cfg.load_site().site
    frame = synthetic_frame(site, "2025-01-01", 120, seed=1, sample_minutes=60)
    spec = FeatureSpec(step_minutes=60, horizons_min=(60, 180), history_steps=3)
    ds = build_dataset(frame, spec, site)
    train, test = holdout_split(ds, split_date=None, fraction=0.25)
    fit_rows, val = validation_split(train, 0.2)
    reach = pd.Timedelta(minutes=180)
    assert train.times[-1] + reach <= test.times[0]
    assert fit_rows.times[-1] + reach <= val.times[0]
    assert val.times[-1] < test.times[0]
    assert len(test) / len(ds) == pytest.approx(0.25, abs=0.02)
    assert len(val) / len(train) == pytest.approx(0.2, abs=0.02)
    dated, held = holdout_split(ds, split_date="2025-03-01", fraction=0.25)
    assert held.times[0] == pd.Timestamp("2025-03-01", tz="UTC")
    assert dated.times[-1] + reach <= held.times[0]


@pytest.mark.slow
def test_fit_with_weighted_loss_and_early_stopping(tmp_path: Path) -> None:
    config = tmp_path / "es.toml"
    write_config(config)
    text = config.read_text().replace(
        "[model]\nhidden = [16]\nepochs = 3\n",
        '[model]\nhidden = [16]\nepochs = 6\nearly_stopping_patience = 2\npoint_weight = 2.0\n'
        'point_loss_weighting = "clear_sky_squared"\n')
    config.write_text(text)
    from trainer.config import load_train_config
    from trainer.fit import fit

    messages: list[str] = []
    result = fit(load_train_config(config), out_dir=tmp_path / "b", progress=messages.append)
    assert result.blessed
    assert any("early stopping: kept" in m for m in messages)
    assert any("validation split" in m and "carved out of the training" in m for m in messages)
    selection = result.manifest["selection"]
    assert set(selection["horizons"]) == {"15", "30", "60"}
    for h in selection["horizons"].values():
        assert sum(h["weights"].values()) == pytest.approx(1.0)
        assert h["rmse_ghi"]["chosen"] <= h["rmse_ghi"]["smart_persistence"] + 1e-9
    assert selection["validation"]["end"] < result.manifest["training_data"]["split"]
    assert set(result.manifest["holdout_outside_training_range"]) == set(
        result.manifest["features"]["names"])
    assert result.manifest["config"]["model"]["point_loss_weighting"] == "clear_sky_squared"


def _csv(tmp_path: Path, days: int, freq: str) -> Path:
    import pandas as pd

    from edge.forecasting.site import load_site
    from edge.simulation.sky import synthetic_weather

    site = load_site(REPO / "configs/sites/abuja.toml")
    times = pd.date_range("2025-02-01", periods=days * 24, freq=freq, tz="UTC")
    w = synthetic_weather(site.site, times, seed=4)[["ghi", "temp_air"]]
    path = tmp_path / f"weather_{days}d.csv"
    w.rename_axis("timestamp").reset_index().to_csv(path, index=False)
    return path


def test_fit_without_config_refuses_too_short_data_naming_the_minimum(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = _csv(tmp_path, 20, "1h")
    assert cli("fit", "--data", str(csv), "--format", "csv", "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert "at least 60 days" in err and "spans 19.8 days" in err
    assert cli("fit", "--out", str(tmp_path / "o")) == 2
    assert "--config" in capsys.readouterr().err


@pytest.mark.slow
def test_fit_without_config_and_evaluate_an_unsigned_unblessed_bundle(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Config-less fit on 80 days of hourly data; evaluate scores the result whatever it is."""
    csv = _csv(tmp_path, 80, "1h")
    out = tmp_path / "bundle"
    code = cli("fit", "--data", str(csv), "--format", "csv", "--out", str(out), "--force",
               "--key", str(tmp_path / "missing.key"))
    assert code == 2  # a key that does not exist is a clear error, nothing trained
    code = cli("fit", "--data", str(csv), "--format", "csv", "--out", str(out), "--force")
    captured = capsys.readouterr()
    assert "step 60 min, horizons [60, 120, 180] min" in captured.err
    assert "chosen on the validation split" in captured.out
    assert code in (0, 1)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["step_minutes"] == 60 and manifest["config"]["model_version"] == "default-1.0.0"
    (out / "manifest.sig").unlink(missing_ok=True)
    manifest["blessed"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert cli("evaluate", "--bundle", str(out), "--data", str(csv), "--format", "csv",
               "--since", "2025-04-01", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["blessed"] is False
    assert any(n.startswith("UNSIGNED") for n in result["notes"])
    assert any(n.startswith("UNBLESSED") for n in result["notes"])
    assert {r["target"] for r in result["metrics"]} >= {"ghi", "pv_power"}
    with pytest.raises(BundleError):
        load_bundle(out, REPO / "configs" / "keys" / "helio-default.pub", allow_unblessed=True)
