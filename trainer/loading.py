"""Data loading for training and evaluation: a file or synthetic weather to a QC'd frame.

Responsible for: reading a weather or telemetry file through
:func:`trainer.data.read_weather` and quality-controlling it
(:func:`trainer.qc.quality_control`), or synthesising weather for a site
from the shared sky model; the location the data belongs to; and the
data set's digest for provenance.

Does NOT: parse formats itself (:mod:`trainer.data`), resample or build
features (:mod:`trainer.dataset`), train or score.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

from edge.forecasting.site import Site, SiteConfig
from trainer.provenance import data_digest

if TYPE_CHECKING:
    from trainer.config import TrainConfig

__all__ = ["Loaded", "load_data", "read_and_check", "synthetic_frame"]

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


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


def synthetic_frame(site: SiteConfig, start: str, days: int, seed: int,
                    sample_minutes: int = 5) -> pd.DataFrame:
    """Synthetic weather (instantaneous samples) from the shared sky model."""
    from edge.simulation.sky import synthetic_weather  # noqa: PLC0415

    times = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=days * 1440 // sample_minutes,
                          freq=f"{sample_minutes}min")
    frame = synthetic_weather(site, times, seed=seed)[["ghi", "dni", "dhi", "temp_air"]]
    frame.attrs = {"interval_minutes": 0.0, "interval_label": "center"}
    return frame


def read_and_check(data: str, fmt: str, site: Site, progress: Progress = _quiet
                   ) -> tuple[pd.DataFrame, SiteConfig]:
    """Read ``data`` (format ``fmt``) and quality-control it.

    Returns the QC'd canonical frame and the location of the data (from the
    file's metadata when it has one, else the site's).
    """
    from trainer.data import read_weather, site_from_metadata  # noqa: PLC0415
    from trainer.linke import with_linke_turbidity  # noqa: PLC0415
    from trainer.qc import quality_control  # noqa: PLC0415

    frame, meta = read_weather(data, fmt, site=site)
    where = with_linke_turbidity(site_from_metadata(meta, site.site))
    clean, report = quality_control(frame, where, array=site.array)
    progress(f"QC: {report.summary()}")
    return clean, where


def load_data(cfg: TrainConfig, site: Site, data: str | None, fmt: str | None,
              progress: Progress = _quiet) -> Loaded:
    """Read ``data`` (format ``fmt``) or synthesise weather for the config's site."""
    if data is None:
        progress(f"synthesising {cfg.data.synthetic_days} days of weather for {site.site.id}")
        frame = synthetic_frame(site.site, cfg.data.synthetic_start, cfg.data.synthetic_days,
                                cfg.seed, sample_minutes=min(5, cfg.features.step_minutes))
        return Loaded(frame, site.site, f"synthetic:{site.site.id}", "synthetic",
                      data_digest(frame))
    if fmt is None:
        raise ValueError("--data needs --format")
    progress(f"reading {data} ({fmt})")
    frame, where = read_and_check(data, fmt, site, progress)
    return Loaded(frame, where, str(data), fmt, data_digest(frame))
