"""Provenance of a bundle: which code, data, settings and runtimes made it.

Responsible for: the code version (package version plus git commit), the
digest of the training data, the versions of the training runtimes, and
the manifest dictionary that records all of it with the split and the
feature scaling.

Does NOT: score models or decide the verdict (the caller adds ``blessed``,
``gate`` and ``int8`` entries), or write files (:mod:`trainer.bundle`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib.metadata
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from edge.forecasting.features import FeatureSpec
from edge.forecasting.reference import QUANTILE_LEVELS
from firmware_bridge.timestamps import isoformat_z

if TYPE_CHECKING:
    from edge.forecasting.site import SiteConfig
    from trainer.config import TrainConfig
    from trainer.dataset import Dataset

__all__ = ["DataSource", "code_version", "data_digest", "manifest", "runtime_versions"]


class DataSource(Protocol):
    """What the manifest records of the training data (:class:`trainer.loading.Loaded`)."""

    @property
    def site(self) -> SiteConfig: ...
    @property
    def source(self) -> str: ...
    @property
    def fmt(self) -> str: ...
    @property
    def sha256(self) -> str: ...


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


def runtime_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the model."""
    out = {}
    for pkg in ("tensorflow", "keras", "ai-edge-litert", "pvlib", "numpy"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def manifest(cfg: TrainConfig, spec: FeatureSpec, loaded: DataSource, *, train: Dataset,
             test: Dataset, scaling: dict[str, list[float]], created: dt.datetime,
             split: str) -> dict[str, Any]:
    """The bundle manifest's provenance entries (everything but the verdict)."""
    loc = loaded.site
    return {
        "model_version": cfg.model_version,
        "created": isoformat_z(created.replace(microsecond=0)),
        "site": {"id": loc.id, "name": loc.name, "latitude": loc.latitude,
                 "longitude": loc.longitude, "altitude": loc.altitude},
        "step_minutes": spec.step_minutes,
        "horizons_min": list(spec.horizons_min),
        "quantiles": list(QUANTILE_LEVELS),
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
        "runtime": runtime_versions(),
    }
