"""Provenance of a bundle: which code, data, settings and runtimes made it.

Responsible for: the code version (package version plus git commit), the
digest of the training data, the versions of the training runtimes, and
the manifest dictionary that records all of it with the split and the
feature scaling.

Reproducible: the manifest holds nothing of the machine or the checkout
it was built in, so two builds of the same commit, data and config in two
different directories give the same bytes: no absolute path (the config's
``base_dir`` is left out, the data source is recorded by file name beside
its digest), a fixed-length commit id, and a creation time taken from
``SOURCE_DATE_EPOCH`` (https://reproducible-builds.org/specs/source-date-epoch/)
or else the commit time of the code (:func:`build_time`).

Does NOT: score models or decide the verdict (the caller adds ``blessed``,
``gate`` and ``int8`` entries), or write files (:mod:`trainer.bundle`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib.metadata
import os
import subprocess
from collections.abc import Mapping
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

__all__ = [
    "DataSource",
    "build_time",
    "code_version",
    "config_record",
    "data_digest",
    "manifest",
    "runtime_versions",
]

#: Length of the commit id in ``code_version`` (``--short`` alone grows with the
#: repository's object count, so two clones of one commit could differ).
COMMIT_ID_LENGTH = 12


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


def _git(*args: str) -> str:
    """Output of a git command in the code's own checkout; empty outside one."""
    try:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def code_version() -> str:
    """Package version plus the git commit (12 hex digits) when run from a checkout."""
    try:
        version = importlib.metadata.version("helio-edge")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    sha = _git("rev-parse", f"--short={COMMIT_ID_LENGTH}", "HEAD")
    return f"{version}+g{sha}" if sha else version


def build_time(environ: Mapping[str, str] | None = None) -> dt.datetime:
    """The creation time a bundle records (UTC, whole seconds).

    ``SOURCE_DATE_EPOCH`` [s since the epoch] when set; else the commit time
    of the code's checkout; else now (a build outside a checkout is not
    reproducible in time anyway).
    """
    env = os.environ if environ is None else environ
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        raw = _git("log", "-1", "--format=%ct", "HEAD")
    try:
        return dt.datetime.fromtimestamp(int(raw), dt.UTC)
    except ValueError:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _source_name(source: str) -> str:
    """The data source without the build machine's directories."""
    if ":" in source and not Path(source).exists():
        return source  # e.g. "synthetic:abuja-01"
    return Path(source).name


def config_record(cfg: TrainConfig) -> dict[str, Any]:
    """The training config as the manifest records it (no ``base_dir``: a machine path)."""
    out = dataclasses.asdict(cfg)
    out.pop("base_dir", None)
    return out


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
            "source": _source_name(loaded.source), "format": loaded.fmt, "sha256": loaded.sha256,
            "start": str(train.times[0]), "end": str(test.times[-1]), "split": split,
            "train_rows": len(train), "holdout_rows": len(test),
        },
        "code_version": code_version(),
        "seed": cfg.seed,
        "config": config_record(cfg),
        "runtime": runtime_versions(),
    }
