"""The training pipeline behind ``helio-train fit``: data to a signed bundle.

Responsible for: loading data (a weather file through :mod:`trainer.data`,
or synthetic weather for the config's site), building the data set with
the edge's own feature code (:mod:`trainer.dataset`), the chronological
split, training, int8 conversion, scoring on the hold-out through the real
edge interpreter and :mod:`edge.forecasting.forecast` post-processing, the gate, and
writing the bundle with its model card.

Does NOT: parse command lines or print (the ``commands`` modules do; this
module reports progress through a callback).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib.metadata
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edge.forecasting.bundle import Bundle, sha256_hex
from edge.forecasting.features import DailyGeometry, FeatureSpec
from edge.forecasting.forecast import ForecastPhysics
from edge.forecasting.predictor import Predictor
from edge.forecasting.site import Site, SiteConfig
from firmware_bridge.timestamps import isoformat_z
from trainer.bundle import CardData, FanDay, write_bundle
from trainer.config import TrainConfig
from trainer.dataset import Dataset, build_dataset, fit_cliper, season_labels, smart_persistence
from trainer.validate import GateResult, Int8Report, MetricRow, compare_int8, run_gate, score

__all__ = [
    "FitResult",
    "Loaded",
    "code_version",
    "data_digest",
    "evaluate_bundle",
    "feature_spec",
    "fit",
    "load_data",
    "synthetic_frame",
]

Progress = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Loaded:
    """Data ready for :func:`trainer.dataset.build_dataset`.

    Attributes
    ----------
    frame : pandas.DataFrame
        Canonical, quality-controlled frame.
    site : SiteConfig
        Where the data is (the file's location when it has one).
    source, fmt : str
        File name (or ``synthetic:<site>``) and format.
    sha256 : str
        Digest of the canonical frame (index and values).
    """

    frame: pd.DataFrame
    site: SiteConfig
    source: str
    fmt: str
    sha256: str


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
    """The :class:`edge.forecasting.features.FeatureSpec` of a training config."""
    f = cfg.features
    return FeatureSpec(step_minutes=f.step_minutes, horizons_min=f.horizons_min,
                       history_steps=f.history_steps, use_temperature=f.use_temperature)


def code_version() -> str:
    """Package version plus the git commit when run from a checkout."""
    try:
        version = importlib.metadata.version("helio-edge")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{version}+g{sha}" if sha else version


def data_digest(frame: pd.DataFrame) -> str:
    """SHA-256 over the frame's UTC index and numeric columns (sorted by name)."""
    h = hashlib.sha256()
    h.update(np.asarray(frame.index.as_unit("ns").asi8, dtype="<i8").tobytes())
    for col in sorted(frame.select_dtypes(include="number").columns):
        h.update(str(col).encode())
        h.update(np.asarray(frame[col], dtype="<f8").tobytes())
    return h.hexdigest()


def synthetic_frame(site: SiteConfig, start: str, days: int, seed: int,
                    sample_minutes: int = 5) -> pd.DataFrame:
    """Synthetic weather (instantaneous samples) from the shared sky model."""
    from edge.simulation.sky import synthetic_weather  # noqa: PLC0415

    times = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=days * 1440 // sample_minutes,
                          freq=f"{sample_minutes}min")
    frame = synthetic_weather(site, times, seed=seed)[["ghi", "dni", "dhi", "temp_air"]]
    frame.attrs = {"interval_minutes": 0.0, "interval_label": "center"}
    return frame


def _quality_control(frame: pd.DataFrame, loc: SiteConfig, site: Site,
                     progress: Progress) -> pd.DataFrame:
    """:func:`trainer.qc.quality_control`, reporting what it flagged."""
    from trainer.qc import quality_control  # noqa: PLC0415

    clean, report = quality_control(frame, loc, array=site.array)
    progress(f"QC: {report.summary()}")
    return clean


def load_data(cfg: TrainConfig, site: Site, data: str | None, fmt: str | None,
              progress: Progress = _quiet) -> Loaded:
    """Read ``data`` (format ``fmt``) or synthesise weather for the config's site."""
    if data is None:
        progress(f"synthesising {cfg.data.synthetic_days} days of weather for {site.site.id}")
        frame = synthetic_frame(site.site, cfg.data.synthetic_start, cfg.data.synthetic_days,
                                cfg.seed, sample_minutes=min(5, cfg.features.step_minutes))
        return Loaded(frame, site.site, f"synthetic:{site.site.id}", "synthetic",
                      data_digest(frame))
    from trainer.data import read_weather, site_from_metadata  # noqa: PLC0415

    if fmt is None:
        raise ValueError("--data needs --format")
    progress(f"reading {data} ({fmt})")
    frame, meta = read_weather(data, fmt, site=site)
    where = site_from_metadata(meta, site.site)
    frame = _quality_control(frame, where, site, progress)
    return Loaded(frame, where, str(data), fmt, data_digest(frame))


# --------------------------------------------------------------------------
# scoring: clear-sky index -> GHI/DNI/DHI/PV through edge.forecasting.forecast
# --------------------------------------------------------------------------


def _physics(ds: Dataset, site: Site, loc: SiteConfig) -> tuple[ForecastPhysics, np.ndarray]:
    geometry = DailyGeometry.for_range(loc, ds.times[0], ds.times[-1], ds.spec)
    epoch = ds.times.as_unit("s").asi8.astype(np.int64)
    issue_k = (epoch - geometry.t0) // ds.spec.step_seconds
    return ForecastPhysics(site.array, geometry), issue_k


def _physical(phys: ForecastPhysics, kt: np.ndarray, issue_k: np.ndarray) -> dict[str, np.ndarray]:
    """All targets for clear-sky index ``kt`` of shape (n, n_h, q)."""
    return phys.physical(kt, issue_k)


def _observed(ds: Dataset, frame: pd.DataFrame, phys: ForecastPhysics,
              issue_k: np.ndarray) -> dict[str, np.ndarray]:
    """Observed GHI, DNI/DHI (when measured) and PV (measured, else modelled from GHI)."""
    from trainer.dataset import resample_to_step  # noqa: PLC0415

    kt_obs = np.where(np.isfinite(ds.Y), ds.Y, np.nan).astype(np.float64)
    modelled = _physical(phys, np.nan_to_num(kt_obs)[..., None], issue_k)
    obs = {"ghi": ds.ghi.astype(np.float64)}
    cols = [c for c in ("dni", "dhi") if c in frame.columns and frame[c].notna().any()]
    if cols:
        grid = resample_to_step(frame[cols], ds.spec.step_minutes)
        for c in cols:
            series = grid[c]
            obs[c] = np.stack([series.reindex(ds.times + pd.Timedelta(minutes=h)).to_numpy(float)
                               for h in ds.spec.horizons_min], axis=1)
    pv = ds.pv_power if ds.pv_power is not None else modelled["pv_power"][..., 0]
    obs["pv_power"] = np.where(np.isfinite(kt_obs), pv, np.nan)
    return obs


def _reference(phys: ForecastPhysics, kt: np.ndarray, issue_k: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[..., 0] for k, v in _physical(phys, kt[..., None], issue_k).items()}


def _fan_days(ds: Dataset, q_ghi: np.ndarray, obs: np.ndarray, j: int, n_days: int = 3
              ) -> list[FanDay]:
    """Sample days spread over the hold-out for the fan chart (horizon index ``j``)."""
    targets = ds.times + pd.Timedelta(minutes=ds.spec.horizons_min[j])
    days = pd.Index(targets.normalize().unique())
    picks = days[np.linspace(0, len(days) - 1, min(n_days, len(days))).round().astype(int)]
    out = []
    for d in picks:
        m = np.asarray(targets.normalize() == d) & ds.mask[:, j]
        hours = (targets[m].hour + targets[m].minute / 60.0).to_numpy(float)
        out.append(FanDay(str(d.date()), hours, obs[m, j], q_ghi[m, j, 0], q_ghi[m, j, 1],
                          q_ghi[m, j, 2]))
    return out


def _reliability(q: np.ndarray, y: np.ndarray, mask: np.ndarray, horizons: tuple[int, ...]
                 ) -> dict[int, list[float]]:
    out = {}
    for j, h in enumerate(horizons):
        m = mask[:, j] & np.isfinite(y[:, j])
        out[h] = [float(np.mean(y[m, j] <= q[m, j, i])) if m.any() else float("nan")
                  for i in range(3)]
    return out


@dataclasses.dataclass(frozen=True)
class Scored:
    """Hold-out scores of a bundle."""

    rows: list[MetricRow]
    kt_int8: np.ndarray
    forecast: dict[str, np.ndarray]
    observed: dict[str, np.ndarray]
    test: Dataset


def score_bundle(bundle: Bundle, test: Dataset, *, train: Dataset | None, frame: pd.DataFrame,
                 site: Site, loc: SiteConfig) -> Scored:
    """Score ``bundle``'s int8 model on ``test`` rows through the edge interpreter.

    CLIPER is fitted on ``train`` (on ``test`` itself when no training rows
    are given, as ``helio-train evaluate`` does: an optimistic reference).
    """
    test = test.daytime()
    kt_int8 = Predictor(bundle).predict_batch(test.X)
    phys, issue_k = _physics(test, site, loc)
    fc = _physical(phys, kt_int8.astype(np.float64), issue_k)
    obs = _observed(test, frame, phys, issue_k)
    sp = _reference(phys, smart_persistence(test), issue_k)
    cl = _reference(phys, fit_cliper(train if train is not None else test).predict(test), issue_k)
    seasons = season_labels(test.times, loc.latitude)
    days = np.asarray(test.times.normalize().asi8)
    rows = score(forecast=fc, observed=obs, smart_persistence=sp, cliper=cl, mask=test.mask,
                 horizons_min=test.spec.horizons_min, seasons=seasons, groups=days)
    return Scored(rows, kt_int8, fc, obs, test)


def _split(ds: Dataset, cfg: TrainConfig, split_date: str | None) -> tuple[Dataset, Dataset]:
    if split_date:
        return ds.split_at(split_date)
    if cfg.data.holdout == "monthly":
        return monthly_split(ds, cfg.data.holdout_fraction)
    return ds.split_fraction(1.0 - cfg.data.holdout_fraction)


def monthly_split(ds: Dataset, fraction: float) -> tuple[Dataset, Dataset]:
    """Hold out the last ``fraction`` of every calendar month (chronological blocks).

    Training rows whose feature history or targets reach into a hold-out
    block are dropped, so nothing of a hold-out block is seen in training.
    """
    return _block_split(ds, _month_position(ds) >= 1.0 - fraction)


def _month_position(ds: Dataset) -> np.ndarray:
    """Position of each issue time within its calendar month, in [0, 1)."""
    t = ds.times
    day_of_month = (t.day - 1) + (t.hour * 60 + t.minute) / 1440.0
    return np.asarray(day_of_month / t.days_in_month, dtype=np.float64)


def _block_split(ds: Dataset, in_block: np.ndarray) -> tuple[Dataset, Dataset]:
    """Rows outside the blocks (minus those reaching into one) and rows inside."""
    t = ds.times
    step = ds.spec.step_minutes
    reach = np.arange(-ds.spec.history_steps + 1, max(ds.spec.horizon_steps) + 1)
    epoch = (t.as_unit("s").asi8 // 60 // step).astype(np.int64)
    touches = np.isin(epoch[:, None] + reach[None, :], epoch[in_block]).any(axis=1)
    train, test = ds.take(~in_block & ~touches), ds.take(in_block)
    if len(train) == 0 or len(test) == 0:
        raise ValueError("monthly hold-out leaves an empty training or hold-out set")
    return train, test


def validation_split(train: Dataset, cfg: TrainConfig, split_date: str | None
                     ) -> tuple[Dataset, Dataset]:
    """Carve a chronological validation split out of the TRAINING rows (early stopping).

    With the monthly hold-out, the latest ``model.validation_fraction`` of
    every month's training block; otherwise the latest share of the
    training span. Rows reaching into the validation blocks are dropped
    from the fitting rows, as for the hold-out.
    """
    v = cfg.model.validation_fraction
    if cfg.data.holdout == "monthly" and not split_date:
        start = (1.0 - cfg.data.holdout_fraction) * (1.0 - v)
        return _block_split(train, _month_position(train) >= start)
    return train.split_fraction(1.0 - v)


def _manifest(cfg: TrainConfig, spec: FeatureSpec, loaded: Loaded, *, train: Dataset,
              test: Dataset, scaling: dict[str, list[float]], created: dt.datetime,
              split: str) -> dict[str, Any]:
    loc = loaded.site
    return {
        "model_version": cfg.model_version,
        "created": isoformat_z(created.replace(microsecond=0)),
        "site": {"id": loc.id, "name": loc.name, "latitude": loc.latitude,
                 "longitude": loc.longitude, "altitude": loc.altitude},
        "step_minutes": spec.step_minutes,
        "horizons_min": list(spec.horizons_min),
        "quantiles": [0.1, 0.5, 0.9],
        "output": {"quantity": "clear_sky_index", "layout": "quantile_major",
                   "note": ("edge.forecasting.predictor returns horizon-major"
                            " [h][P10,P50,P90], sorted")},
        "features": {**spec.to_dict(), "scaling": scaling},
        "model": {"hidden": list(cfg.model.hidden), "epochs": cfg.model.epochs},
        "training_data": {
            "source": loaded.source, "format": loaded.fmt, "sha256": loaded.sha256,
            "start": str(train.times[0]), "end": str(test.times[-1]), "split": split,
            "train_rows": len(train), "holdout_rows": len(test),
        },
        "code_version": code_version(),
        "seed": cfg.seed,
        "config": dataclasses.asdict(cfg),
        "runtime": _runtime_versions(),
    }


def _runtime_versions() -> dict[str, str]:
    out = {}
    for pkg in ("tensorflow", "keras", "ai-edge-litert", "pvlib", "numpy"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


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
    manifest = _manifest(cfg, spec, loaded, train=train, test=test, scaling=scaling.to_dict(),
                         created=created or dt.datetime.now(dt.UTC), split=split)
    draft = Bundle("<memory>", manifest, b"", int8_bytes, sha256_hex(int8_bytes), float_bytes)
    progress("validating on the hold-out through the edge interpreter")
    scored = score_bundle(draft, test, train=train_day, frame=loaded.frame, site=site,
                          loc=loaded.site)
    int8 = _int8_report(draft, scored)
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
        fan_days=_fan_days(scored.test, scored.forecast["ghi"], scored.observed["ghi"], j),
        reliability=_reliability(scored.kt_int8, scored.test.Y, scored.test.mask,
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
    fit_rows, val_rows = (d.daytime() for d in validation_split(train, cfg, split_date))
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


def _int8_report(bundle: Bundle, scored: Scored) -> Int8Report:
    p8 = Predictor(bundle)
    q8 = p8.predict_batch(scored.test.X)
    qf = Predictor(bundle, variant="float32").predict_batch(scored.test.X)
    rails = p8.outputs_at_rails / max(p8.outputs_total, 1)
    return compare_int8(q8, qf, scored.test.Y, scored.test.mask, rail_share=rails)


def evaluate_bundle(bundle: Bundle, site: Site, data: str, fmt: str,
                    since: str | None = None) -> list[MetricRow]:
    """Score a loaded bundle on any data file (``helio-train evaluate``).

    The bundle's feature spec is used; rows with issue times from ``since``
    on are scored. CLIPER is fitted on the rows before ``since`` when there
    are any, else on the scored rows themselves.
    """
    from trainer.data import read_weather, site_from_metadata  # noqa: PLC0415

    spec = FeatureSpec.from_dict(bundle.manifest["features"])
    frame, meta = read_weather(data, fmt, site=site)
    loc = site_from_metadata(meta, site.site)
    frame = _quality_control(frame, loc, site, _quiet)
    ds = build_dataset(frame, spec, loc)
    train: Dataset | None = None
    if since:
        cut = pd.Timestamp(since, tz="UTC")
        if (ds.times < cut).any() and (ds.times >= cut).any():
            train, ds = ds.split_at(since)
            train = train.daytime()
        else:
            ds = ds.take(np.asarray(ds.times >= cut))
    if len(ds) == 0 or not ds.mask.any():
        raise ValueError("no daytime rows to score in the data (check --since)")
    return score_bundle(bundle, ds, train=train, frame=frame, site=site, loc=loc).rows
