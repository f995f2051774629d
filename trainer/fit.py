"""The training pipeline behind ``helio-train fit``: data to a signed bundle.

An orchestrator: it loads data (:mod:`trainer.loading`), builds the data
set with the edge's own feature code and splits it (:mod:`trainer.dataset`),
trains (:mod:`trainer.model`), converts to int8 (:mod:`trainer.quantize`),
scores the bundle on the hold-out through the real edge interpreter
(:mod:`trainer.evaluation`), applies the gate (:mod:`trainer.validate`),
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

import numpy as np
import pandas as pd

from edge.forecasting.bundle import Bundle, sha256_hex
from edge.forecasting.features import FeatureSpec
from trainer import provenance
from trainer.blend import (
    Blend,
    Ridge,
    build_blended_model,
    calibrate_spreads,
    choose_blend,
    fit_ridge,
)
from trainer.bundle import CardData, write_bundle
from trainer.config import TrainConfig, adapt_to_data
from trainer.data import DataError, median_spacing_minutes
from trainer.dataset import Dataset, build_dataset, holdout_split, validation_split
from trainer.evaluation import fan_days, int8_report, reliability, score_bundle
from trainer.loading import load_data
from trainer.validate import GateResult, Int8Report, MetricRow, feature_ranges, run_gate

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
    feature_ranges: dict[str, float] = dataclasses.field(default_factory=dict)


def _quiet(_: str) -> None:
    return None


def feature_spec(cfg: TrainConfig) -> FeatureSpec:
    """The :class:`edge.forecasting.features.FeatureSpec` of a training config."""
    f = cfg.features
    return FeatureSpec(step_minutes=f.step_minutes, horizons_min=f.horizons_min,
                       history_steps=f.history_steps, use_temperature=f.use_temperature,
                       time_features=f.time_features)


def _split(ds: Dataset, cfg: TrainConfig, split_date: str | None) -> tuple[Dataset, Dataset]:
    return holdout_split(ds, split_date=split_date, fraction=cfg.data.holdout_fraction)


def _validation_split(train: Dataset, cfg: TrainConfig) -> tuple[Dataset, Dataset]:
    return validation_split(train, cfg.model.validation_fraction)


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
    adapt: bool = False,
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
        Creation time for the manifest (default :func:`trainer.provenance.build_time`).
    adapt : bool
        Take the step, horizons and network size from the data
        (:func:`trainer.config.adapt_to_data`): what ``helio-train fit``
        does without ``--config``.

    Returns
    -------
    FitResult
        With ``blessed`` False and no files written when the gate fails
        without ``force``.
    """
    from trainer.model import FeatureScaling  # noqa: PLC0415
    from trainer.quantize import to_float_tflite, to_int8_tflite  # noqa: PLC0415

    site = cfg.load_site()
    loaded = load_data(cfg, site, data, fmt, progress)
    if adapt:
        cfg = _adapt(cfg, loaded.frame, progress)
    spec = feature_spec(cfg)
    progress(f"building features ({spec.n_features} per row, step {spec.step_minutes} min)")
    ds = build_dataset(loaded.frame, spec, loaded.site)
    _check_length(ds, cfg)
    train, test = _split(ds, cfg, split_date)
    split = split_date or str(test.times[0])
    train_day = train.daytime()
    progress(f"{len(train_day)} daytime training rows, {len(test.daytime())} hold-out rows "
             f"from {split} on (chronological)")
    scaling = FeatureScaling.fit(train_day.X)
    z = scaling.apply(train_day.X)
    fit_rows, val_rows = (d.daytime() for d in _validation_split(train, cfg))
    progress(f"validation split (early stopping, model choice, quantile calibration): "
             f"{len(val_rows)} rows from {val_rows.times[0]} on, carved out of the training "
             f"period; {len(fit_rows)} rows fitted")
    network = _train(cfg, fit_rows, val_rows, scaling, progress=progress)
    model, ridge, blend = _select(cfg, network, fit_rows, val_rows, scaling=scaling,
                                  progress=progress)
    progress("converting to int8 TFLite")
    int8_bytes = to_int8_tflite(model, z, cfg.quantization)
    float_bytes = to_float_tflite(model)
    manifest = provenance.manifest(cfg, spec, loaded, train=train, test=test,
                                   scaling=scaling.to_dict(),
                                   created=created or provenance.build_time(), split=split)
    manifest["selection"] = _selection_record(spec, ridge, blend, val_rows)
    draft = Bundle("<memory>", manifest, b"", int8_bytes, sha256_hex(int8_bytes), float_bytes)
    progress("validating on the hold-out through the edge interpreter")
    scored = score_bundle(
        draft, test, train=train_day, frame=loaded.frame, site=site, loc=loaded.site,
        linear=lambda d: ridge.predict(scaling.apply(d.X), d.persistence_kt))
    int8 = int8_report(draft, scored)
    ranges = feature_ranges(spec.names, train_day.X, scored.test.X)
    gate = run_gate(scored.rows, int8, len(int8_bytes), cfg.gate)
    manifest["blessed"] = gate.passed
    manifest["int8"] = int8.to_dict()
    manifest["holdout_outside_training_range"] = ranges
    result = FitResult(Path(out_dir), gate.passed, gate, scored.rows, int8, int8_bytes, manifest,
                       keras_model=model, bundle=draft, feature_ranges=ranges)
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


def _adapt(cfg: TrainConfig, frame: pd.DataFrame, progress: Progress) -> TrainConfig:
    """:func:`trainer.config.adapt_to_data` for a loaded frame."""
    spacing = median_spacing_minutes(frame.index)
    resolution = max(spacing, float(frame.attrs.get("interval_minutes", 0.0) or 0.0))
    days = (frame.index[-1] - frame.index[0]) / pd.Timedelta(days=1)
    try:
        out = adapt_to_data(cfg, resolution, days)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    f = out.features
    progress(f"{resolution:g}-min data over {days:.0f} days: step {f.step_minutes} min, "
             f"horizons {list(f.horizons_min)} min, network {list(out.model.hidden)}")
    return out


def _check_length(ds: Dataset, cfg: TrainConfig) -> None:
    """Refuse data too short to train, validate and hold out honestly."""
    days = (ds.times[-1] - ds.times[0]) / pd.Timedelta(days=1)
    if days < cfg.data.min_days:
        raise DataError(
            f"the data spans {days:.1f} days; training, a validation split and a "
            f"chronological hold-out need at least {cfg.data.min_days:g} days")


def _train(cfg: TrainConfig, fit_rows: Dataset, val_rows: Dataset, scaling: Any, *,
           progress: Progress) -> Any:
    """Fit the network on the fitting rows; early stopping on the validation split."""
    from trainer.model import fit_model  # noqa: PLC0415

    def report(e: int, loss: float) -> None:
        progress(f"epoch {e}/{cfg.model.epochs} loss {loss:.4f}")

    stop = cfg.model.early_stopping_patience > 0
    model = fit_model(scaling.apply(fit_rows.X), fit_rows.Y, fit_rows.mask, cfg.model,
                      seed=cfg.seed, progress=report, ghi_clear=fit_rows.ghi_clear,
                      validation=(scaling.apply(val_rows.X), val_rows.Y, val_rows.mask,
                                  val_rows.ghi_clear) if stop else None)
    if stop:
        progress(f"early stopping: kept the weights of epoch {model.best_epoch} "
                 "(lowest validation loss)")
    return model


def _select(cfg: TrainConfig, network: Any, fit_rows: Dataset, val_rows: Dataset, *,
            scaling: Any, progress: Progress) -> tuple[Any, Ridge, Blend]:
    """Ridge model, per-horizon blend and spread calibration, all on the validation split."""
    from trainer.model import predict_quantiles  # noqa: PLC0415

    def arrays(d: Dataset) -> tuple[np.ndarray, ...]:
        use = d.mask & np.isfinite(d.Y)
        return (scaling.apply(d.X), np.nan_to_num(d.Y.astype(np.float64)), use,
                d.ghi_clear.astype(np.float64), d.persistence_kt)

    fz, fy, fuse, fclear, fkt = arrays(fit_rows)
    vz, vy, vuse, vclear, vkt = arrays(val_rows)
    ridge = fit_ridge(fz, fy, fuse, fclear, fkt, val=(vz, vy, vuse, vclear, vkt))
    q = predict_quantiles(network, vz).astype(np.float64)
    linear = ridge.predict(vz, vkt)
    weights, report = choose_blend(vkt, linear, q[:, :, 1], vy, use=vuse, clear=vclear,
                                   step=cfg.model.blend_step)
    provisional = Blend(weights, np.ones(len(weights)), np.ones(len(weights)), report)
    p50 = provisional.p50(vkt, linear, q[:, :, 1])
    down, up = q[:, :, 1] - q[:, :, 0], q[:, :, 2] - q[:, :, 1]
    if cfg.model.calibrate_quantiles:
        a, b = calibrate_spreads(p50, down, up, vy, vuse)
    else:
        a, b = np.ones(len(weights)), np.ones(len(weights))
    blend = Blend(weights, a, b, report)
    for h, r in zip(fit_rows.spec.horizons_min, report, strict=True):
        w = r["weights"]
        progress(f"{h} min: persistence {w['smart_persistence']:.1f} / linear {w['linear']:.1f}"
                 f" / network {w['network']:.1f}; validation GHI RMSE {r['rmse_ghi']['chosen']:.1f}"
                 f" (persistence {r['rmse_ghi']['smart_persistence']:.1f}, linear "
                 f"{r['rmse_ghi']['linear']:.1f}, network {r['rmse_ghi']['network']:.1f}) W/m2")
    k = fit_rows.spec.names.index("kt_lag0")
    model = build_blended_model(network, n_hidden=len(cfg.model.hidden), kt_index=k,
                                kt_scale=float(scaling.scale[k]),
                                kt_offset=float(scaling.offset[k]), ridge=ridge, blend=blend)
    return model, ridge, blend


def _selection_record(spec: FeatureSpec, ridge: Ridge, blend: Blend, val_rows: Dataset
                      ) -> dict[str, Any]:
    """What was chosen per horizon and why (validation scores), for the manifest."""
    per = {}
    for j, h in enumerate(spec.horizons_min):
        per[str(h)] = {**blend.validation[j], "ridge_alpha": float(ridge.alpha[j]),
                       "spread_scale": {"down": float(blend.spread_down[j]),
                                        "up": float(blend.spread_up[j])}}
    return {
        "criterion": "lowest daytime GHI RMSE on the validation split",
        "validation": {"start": str(val_rows.times[0]), "end": str(val_rows.times[-1]),
                       "rows": len(val_rows)},
        "quantiles": "P10/P90 spreads scaled so 10 % of validation targets fall outside each",
        "horizons": per,
    }


def _fan_horizon(spec: FeatureSpec) -> int:
    for j, h in enumerate(spec.horizons_min):
        if h >= 60:
            return j
    return len(spec.horizons_min) - 1
