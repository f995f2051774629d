"""The training pipeline behind ``helio-train fit``: data to a signed bundle.

An orchestrator: it loads data (:mod:`trainer.loading`), builds the data
set with the edge's own feature code and splits it (:mod:`trainer.dataset`),
trains (:mod:`trainer.model`), converts to int8 (:mod:`trainer.quantize`),
scores the bundle on the hold-out through the real edge interpreter
(:mod:`trainer.scoring`), applies the gate (:mod:`trainer.validate`),
records provenance (:mod:`trainer.provenance`) and writes the bundle with
its model card (:mod:`trainer.bundle`).

Does NOT: parse command lines or print (the ``commands`` modules do; this
module reports progress through a callback).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.bundle import Bundle, sha256_hex
from edge.features import FeatureSpec
from trainer import provenance
from trainer.bundle import CardData, write_bundle
from trainer.config import TrainConfig
from trainer.dataset import Dataset, build_dataset, holdout_split, validation_split
from trainer.loading import load_data
from trainer.scoring import fan_days, int8_report, reliability, score_bundle
from trainer.validate import GateResult, Int8Report, MetricRow, run_gate

__all__ = [
    "FitResult",
    "feature_spec",
    "fit",
]

Progress = Callable[[str], None]

@dataclasses.dataclass(frozen=True)
class FitResult:
    """What :func:`fit` produced."""

    out_dir: Path
    blessed: bool
    gate: GateResult
    rows: list[MetricRow]
    int8: Int8Report
    model_bytes: bytes
    manifest: dict[str, Any]
    keras_model: Any = dataclasses.field(default=None, repr=False)
    bundle: Bundle | None = dataclasses.field(default=None, repr=False)


def _quiet(_: str) -> None:
    return None


def feature_spec(cfg: TrainConfig) -> FeatureSpec:
    """The :class:`edge.features.FeatureSpec` of a training config."""
    f = cfg.features
    return FeatureSpec(step_minutes=f.step_minutes, horizons_min=f.horizons_min,
                       history_steps=f.history_steps, use_temperature=f.use_temperature)


def _split(ds: Dataset, cfg: TrainConfig, split_date: str | None) -> tuple[Dataset, Dataset]:
    return holdout_split(ds, split_date=split_date, holdout=cfg.data.holdout,
                         fraction=cfg.data.holdout_fraction)


def _validation_split(train: Dataset, cfg: TrainConfig, split_date: str | None
                      ) -> tuple[Dataset, Dataset]:
    monthly = cfg.data.holdout == "monthly" and not split_date
    return validation_split(train, cfg.model.validation_fraction,
                            monthly_holdout_fraction=cfg.data.holdout_fraction if monthly
                            else None)


NOTES = (
    "Trained on local measurements only (no NWP, no sky images): skill falls towards "
    "climatology beyond a few hours and ramps (cloud edges) are not anticipated.",
    "Harmattan dust changes turbidity from year to year; the clear-sky model uses monthly "
    "Linke turbidity, so a dusty spell reads as cloud.",
    "PV power is modelled from the irradiance forecast (isotropic transposition, SAPM cell "
    "temperature at 25 C air, PVWatts, clipping); without measured PV in the data the PV "
    "scores measure the irradiance forecast through the same physics.",
    "int8 rounding can make neighbouring quantiles equal; the edge sorts each horizon's "
    "P10/P50/P90 so they never cross.",
)


def fit(
    cfg: TrainConfig,
    *,
    out_dir: str | Path,
    data: str | None = None,
    fmt: str | None = None,
    split_date: str | None = None,
    force: bool = False,
    key_path: str | Path | None = None,
    progress: Progress = _quiet,
    created: dt.datetime | None = None,
) -> FitResult:
    """Train, quantize, validate and write a (signed) bundle.

    Parameters
    ----------
    cfg : TrainConfig
    out_dir : str or Path
        Bundle directory to write.
    data, fmt : str, optional
        Weather file and its format; synthetic weather when ``data`` is None.
    split_date : str, optional
        ``YYYY-MM-DD``: train before, hold out from it on; default the
        config's ``holdout_fraction`` of the span.
    force : bool
        Write a bundle even when the gate fails (marked unblessed).
    key_path : str or Path, optional
        Ed25519 private key to sign with.
    progress : callable
        Receives one-line progress messages.
    created : datetime, optional
        Creation time for the manifest (default now).

    Returns
    -------
    FitResult
        With ``blessed`` False and no files written when the gate fails
        without ``force``.
    """
    from trainer.model import FeatureScaling  # noqa: PLC0415
    from trainer.quantize import to_float_tflite, to_int8_tflite  # noqa: PLC0415

    site = cfg.load_site()
    spec = feature_spec(cfg)
    loaded = load_data(cfg, site, data, fmt, progress)
    progress(f"building features ({spec.n_features} per row, step {spec.step_minutes} min)")
    ds = build_dataset(loaded.frame, spec, loaded.site)
    train, test = _split(ds, cfg, split_date)
    split = split_date or (f"last {cfg.data.holdout_fraction:.0%} of every month"
                           if cfg.data.holdout == "monthly" else str(test.times[0]))
    train_day = train.daytime()
    progress(f"{len(train_day)} daytime training rows, {len(test.daytime())} hold-out rows "
             f"from {split}")
    scaling = FeatureScaling.fit(train_day.X)
    z = scaling.apply(train_day.X)
    model = _train(cfg, train, train_day, scaling, split_date=split_date, progress=progress)
    progress("converting to int8 TFLite")
    int8_bytes = to_int8_tflite(model, z, cfg.quantization)
    float_bytes = to_float_tflite(model)
    manifest = provenance.manifest(cfg, spec, loaded, train=train, test=test,
                                   scaling=scaling.to_dict(),
                                   created=created or dt.datetime.now(dt.UTC), split=split)
    draft = Bundle("<memory>", manifest, b"", int8_bytes, sha256_hex(int8_bytes), float_bytes)
    progress("validating on the hold-out through the edge interpreter")
    scored = score_bundle(draft, test, train=train_day, frame=loaded.frame, site=site,
                          loc=loaded.site)
    int8 = int8_report(draft, scored)
    gate = run_gate(scored.rows, int8, len(int8_bytes), cfg.gate)
    manifest["blessed"] = gate.passed
    manifest["int8"] = int8.to_dict()
    result = FitResult(Path(out_dir), gate.passed, gate, scored.rows, int8, int8_bytes, manifest,
                       keras_model=model, bundle=draft)
    if not gate.passed and not force:
        return result
    j = _fan_horizon(spec)
    card = CardData(
        fan_horizon_min=spec.horizons_min[j],
        fan_days=fan_days(scored.test, scored.forecast["ghi"], scored.observed["ghi"], j),
        reliability=reliability(scored.kt_int8, scored.test.Y, scored.test.mask,
                                 spec.horizons_min),
        notes=NOTES,
    )
    progress(f"writing bundle to {out_dir}")
    write_bundle(out_dir, manifest=manifest, model_bytes=int8_bytes, float_model_bytes=float_bytes,
                 rows=scored.rows, gate=gate, card=card, key_path=key_path)
    return result


def _train(cfg: TrainConfig, train: Dataset, train_day: Dataset, scaling: Any, *,
           split_date: str | None, progress: Progress) -> Any:
    """Fit the model: on all training rows, or with early stopping on a validation split."""
    from trainer.model import fit_model  # noqa: PLC0415

    def report(e: int, loss: float) -> None:
        progress(f"epoch {e}/{cfg.model.epochs} loss {loss:.4f}")

    if cfg.model.early_stopping_patience == 0:
        return fit_model(scaling.apply(train_day.X), train_day.Y, train_day.mask, cfg.model,
                         seed=cfg.seed, progress=report, ghi_clear=train_day.ghi_clear)
    fit_rows, val_rows = (d.daytime() for d in _validation_split(train, cfg, split_date))
    progress(f"early stopping on {len(val_rows)} validation rows carved out of the training "
             f"period ({len(fit_rows)} rows fitted)")
    model = fit_model(scaling.apply(fit_rows.X), fit_rows.Y, fit_rows.mask, cfg.model,
                      seed=cfg.seed, progress=report, ghi_clear=fit_rows.ghi_clear,
                      validation=(scaling.apply(val_rows.X), val_rows.Y, val_rows.mask,
                                  val_rows.ghi_clear))
    progress(f"kept the weights of epoch {model.best_epoch} (lowest validation loss)")
    return model


def _fan_horizon(spec: FeatureSpec) -> int:
    for j, h in enumerate(spec.horizons_min):
        if h >= 60:
            return j
    return len(spec.horizons_min) - 1
