"""From a quality-controlled weather frame to model rows, targets and baselines.

Responsible for: resampling a canonical frame (see :mod:`trainer.data`) to
the feature spec's step, building the feature matrix with
:func:`edge.forecasting.features.compute_feature_matrix` (the code the device runs),
the per-horizon targets and their daytime masks, chronological splits, and
the reference forecasts the validation gate compares against (smart
persistence and CLIPER), all on the same geometry.

Does NOT: read files, run QC, train or score models.

Conventions
-----------
* Rows are issue times ``t`` on the step grid (period ends, UTC).
* The target for horizon ``h`` is the clear-sky index of the *period
  average* GHI over ``(t + h - step, t + h]`` divided by clear-sky GHI at
  that period's centre: ``Y = ghi_mean / ghi_clear(centre)``, clipped to
  ``[0, KT_MAX]``. Multiplying a forecast index by ``ghi_clear`` gives the
  period-average GHI (``edge.forecasting.forecast`` does exactly that).
* ``mask[i, j]`` is True when target ``j`` of row ``i`` is measured and
  the target period is daytime by :func:`edge.forecasting.reference.is_daytime`
  (zenith below :data:`~edge.forecasting.reference.ZENITH_LIMIT`, clear-sky GHI
  at least :data:`~edge.forecasting.reference.GHI_CLEAR_MIN`: the "daytime
  only" rule the gate and the monitor share). ``Y`` is NaN where the target is
  not measured.
* Smart persistence holds the issue period's clear-sky index (feature
  ``kt_lag0``, with the feature's fill rules; the rule of
  :func:`edge.forecasting.reference.smart_persistence`); CLIPER blends it with the
  training climatology, weighted by the lag-h correlation (Yang 2019).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from edge.forecasting.features import (
    DailyGeometry,
    FeatureSpec,
    clearsky_index,
    compute_feature_matrix,
)
from edge.forecasting.reference import ZENITH_LIMIT
from trainer.data import DataError, median_spacing_minutes
from trainer.linke import with_linke_turbidity

__all__ = [
    "Cliper",
    "Dataset",
    "build_dataset",
    "fit_cliper",
    "holdout_split",
    "resample_to_step",
    "season_labels",
    "smart_persistence",
    "validation_split",
]


def resample_to_step(
    frame: pd.DataFrame,
    step_minutes: int,
    *,
    interval_minutes: float | None = None,
    min_fraction: float = 0.5,
) -> pd.DataFrame:
    """Period means over ``(t - step, t]`` labelled by period end ``t``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Canonical frame: UTC index labelling interval centres (or instants),
        numeric columns.
    step_minutes : int
        Target step. [minutes]
    interval_minutes : float, optional
        Averaging interval of the source rows; 0 for instantaneous samples.
        Default: ``frame.attrs["interval_minutes"]``, else the median
        spacing of the index.
    min_fraction : float
        A period is NaN unless at least this share of its expected samples
        is present (per column).

    Returns
    -------
    pandas.DataFrame
        Regular grid of period ends from the first to the last period with
        data; NaN where missing.

    Raises
    ------
    DataError
        Empty frame, index not UTC-aware, or source resolution coarser
        than the step.
    """
    if frame.empty:
        raise DataError("no rows to resample")
    idx = frame.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise DataError("frame index must be a timezone-aware DatetimeIndex")
    spacing = median_spacing_minutes(idx)
    if interval_minutes is None:
        interval_minutes = float(frame.attrs.get("interval_minutes", spacing))
    resolution = max(spacing, interval_minutes)
    if resolution > step_minutes + 1e-9:
        raise DataError(
            f"data resolution {resolution:g} min is coarser than the {step_minutes}-min step"
        )
    ends = idx.tz_convert("UTC") + pd.Timedelta(minutes=interval_minutes / 2.0)
    numeric = frame.select_dtypes(include="number").set_axis(ends)
    rule = f"{step_minutes}min"
    grouped = numeric.resample(rule, closed="right", label="right")
    means, counts = grouped.mean(), grouped.count()
    expected = step_minutes / spacing if spacing > 0 else 1.0
    out = means.where(counts >= max(1.0, min_fraction * expected))
    out = out.dropna(how="all")
    if out.empty:
        raise DataError("no complete periods after resampling")
    grid = pd.date_range(out.index[0], out.index[-1], freq=rule, tz="UTC")
    out = out.reindex(grid)
    out.attrs = {**frame.attrs, "interval_minutes": float(step_minutes),
                 "interval_label": "end"}
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Model rows for a span of issue times.

    Attributes
    ----------
    spec : FeatureSpec
    times : pandas.DatetimeIndex
        Issue times (UTC period ends), one per row.
    X : numpy.ndarray
        float32 ``(n, spec.n_features)``.
    Y : numpy.ndarray
        float32 ``(n, n_horizons)`` target clear-sky index; NaN when the
        target period is not measured.
    mask : numpy.ndarray of bool
        ``(n, n_horizons)``: target measured and daytime
        (:func:`edge.forecasting.reference.is_daytime`).
    ghi, ghi_clear, zenith : numpy.ndarray
        ``(n, n_horizons)`` measured period-mean GHI [W/m²], clear-sky GHI
        [W/m²] and zenith [°] of each target period.
    pv_power : numpy.ndarray or None
        ``(n, n_horizons)`` measured period-mean PV power (NaN where missing
        or curtailed) when the data has it. [W]
    """

    spec: FeatureSpec
    times: pd.DatetimeIndex
    X: np.ndarray
    Y: np.ndarray
    mask: np.ndarray
    ghi: np.ndarray
    ghi_clear: np.ndarray
    zenith: np.ndarray
    pv_power: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def take(self, rows: Any) -> Dataset:
        """Subset by a boolean mask or integer index array over rows."""
        rows = np.asarray(rows)
        return dataclasses.replace(
            self,
            times=self.times[rows],
            X=self.X[rows],
            Y=self.Y[rows],
            mask=self.mask[rows],
            ghi=self.ghi[rows],
            ghi_clear=self.ghi_clear[rows],
            zenith=self.zenith[rows],
            pv_power=None if self.pv_power is None else self.pv_power[rows],
        )

    def daytime(self) -> Dataset:
        """Only rows with at least one daytime, measured target."""
        return self.take(self.mask.any(axis=1))

    def split_at(self, when: dt.date | str | pd.Timestamp) -> tuple[Dataset, Dataset]:
        """Chronological split: issue times before ``when`` (UTC) / from it on.

        Training rows whose targets reach past ``when`` are dropped, so no
        hold-out period leaks into training.
        """
        cut = pd.Timestamp(when)
        cut = cut.tz_localize("UTC") if cut.tz is None else cut.tz_convert("UTC")
        last_h = pd.Timedelta(minutes=max(self.spec.horizons_min))
        train = np.asarray(self.times + last_h <= cut)
        test = np.asarray(self.times >= cut)
        if not train.any() or not test.any():
            raise DataError(f"split date {cut:%Y-%m-%d} leaves an empty training or hold-out set"
                            f" (data spans {self.times[0]} .. {self.times[-1]})")
        return self.take(train), self.take(test)

    def split_fraction(self, train_fraction: float) -> tuple[Dataset, Dataset]:
        """Chronological split with the first ``train_fraction`` of time for training."""
        if not 0.0 < train_fraction < 1.0:
            raise ValueError("train_fraction must be within (0, 1)")
        span = self.times[-1] - self.times[0]
        return self.split_at(self.times[0] + span * train_fraction)

    @property
    def persistence_kt(self) -> np.ndarray:
        """Clear-sky index at the issue time (feature ``kt_lag0``), shape ``(n,)``."""
        return self.X[:, self.spec.names.index("kt_lag0")].astype(np.float64)


def build_dataset(
    frame: pd.DataFrame,
    spec: FeatureSpec,
    site: Any,
    *,
    interval_minutes: float | None = None,
) -> Dataset:
    """Rows for every issue time of a QC'd canonical frame.

    Parameters
    ----------
    frame : pandas.DataFrame
        Output of :func:`trainer.qc.quality_control` (or any canonical
        frame): UTC index, column ``ghi`` [W/m²]; optional ``temp_air`` [°C]
        and ``pv_power`` [W].
    spec : FeatureSpec
    site : edge.forecasting.site.SiteConfig
        Location for the geometry.
    interval_minutes : float, optional
        See :func:`resample_to_step`.

    Raises
    ------
    DataError
        No ``ghi`` column, or too little data for one row with targets.
    """
    if "ghi" not in frame.columns:
        raise DataError(f"frame has no 'ghi' column (columns: {list(frame.columns)})")
    grid = resample_to_step(frame, spec.step_minutes, interval_minutes=interval_minutes)
    hs = spec.horizon_steps
    if len(grid) <= max(hs):
        raise DataError(f"only {len(grid)} periods: fewer than the longest horizon needs")
    geometry = DailyGeometry.for_range(with_linke_turbidity(site), grid.index[0],
                                       grid.index[-1], spec)
    features = compute_feature_matrix(spec, grid, geometry)
    n = len(grid) - max(hs)  # issue rows with every target inside the data
    k0 = geometry.index(grid.index[0])
    tk = k0 + np.arange(n)[:, None] + np.asarray(hs)[None, :]
    ghi_all = grid["ghi"].to_numpy(dtype=np.float64)
    rows = np.arange(n)[:, None] + np.asarray(hs)[None, :]
    ghi = ghi_all[rows]
    ghi_clear = geometry.ghi_clear[tk]
    zenith = geometry.zenith[tk]
    measured = np.isfinite(ghi)
    target = np.where(measured, clearsky_index(np.where(measured, ghi, 0.0), ghi_clear), np.nan)
    mask = measured & (zenith < ZENITH_LIMIT) & geometry.kt_ok[tk]
    pv = None
    if "pv_power" in grid.columns:
        pv = grid["pv_power"].to_numpy(dtype=np.float64)[rows]
    return Dataset(
        spec=spec,
        times=grid.index[:n],
        X=features[:n],
        Y=target.astype(np.float32),
        mask=mask,
        ghi=ghi,
        ghi_clear=ghi_clear,
        zenith=zenith,
        pv_power=pv,
    )


# --------------------------------------------------------------------------
# splits: the gate's hold-out and the validation split carved out of training
# --------------------------------------------------------------------------


def holdout_split(ds: Dataset, *, split_date: str | None, fraction: float
                  ) -> tuple[Dataset, Dataset]:
    """The gate's chronological hold-out: from ``split_date`` on, else the latest ``fraction``.

    Always the later part of the data: with a year or more, a season the
    model never trained on is scored. Training rows whose targets reach
    into the hold-out are dropped.
    """
    if split_date:
        return ds.split_at(split_date)
    return ds.split_fraction(1.0 - fraction)


def validation_split(train: Dataset, fraction: float) -> tuple[Dataset, Dataset]:
    """Carve the validation split out of the TRAINING rows: their latest ``fraction`` of time.

    Used for early stopping, the per-horizon model choice and the quantile
    calibration; never the hold-out. Fitting rows whose targets reach into
    the validation split are dropped.
    """
    return train.split_fraction(1.0 - fraction)


# --------------------------------------------------------------------------
# reference forecasts
# --------------------------------------------------------------------------


def smart_persistence(ds: Dataset) -> np.ndarray:
    """Smart-persistence clear-sky index per row and horizon, ``(n, n_h)``.

    GHI forecast = this x ``ds.ghi_clear``.
    """
    return np.repeat(ds.persistence_kt[:, None], len(ds.spec.horizons_min), axis=1)


@dataclasses.dataclass(frozen=True)
class Cliper:
    """Convex blend of persistence and climatology, fitted per horizon.

    Attributes
    ----------
    climatology : numpy.ndarray
        Mean daytime target clear-sky index per horizon (training data).
    weight : numpy.ndarray
        Persistence weight per horizon, the lag-h correlation in [0, 1].
    """

    climatology: np.ndarray
    weight: np.ndarray

    def predict(self, ds: Dataset) -> np.ndarray:
        """CLIPER clear-sky index per row and horizon, ``(n, n_h)``."""
        p = smart_persistence(ds)
        w = self.weight[None, :]
        return np.asarray(w * p + (1.0 - w) * self.climatology[None, :], dtype=np.float64)


def fit_cliper(train: Dataset) -> Cliper:
    """Fit CLIPER on training rows (daytime targets only).

    Raises
    ------
    DataError
        When a horizon has fewer than 10 daytime targets.
    """
    p = smart_persistence(train)
    clim, weight = [], []
    for j, h in enumerate(train.spec.horizons_min):
        m = train.mask[:, j]
        if m.sum() < 10:
            raise DataError(f"too few daytime targets at {h} min to fit CLIPER")
        y, x = train.Y[m, j].astype(np.float64), p[m, j]
        clim.append(float(y.mean()))
        sx, sy = x.std(), y.std()
        rho = float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy)) if sx * sy > 0 else 0.0
        weight.append(min(max(rho, 0.0), 1.0))
    return Cliper(climatology=np.asarray(clim), weight=np.asarray(weight))


def season_labels(times: pd.DatetimeIndex, latitude: float) -> np.ndarray:
    """Season name per timestamp, for per-season scores.

    Within the tropics (|latitude| < 23.44): ``"dry"`` (November to March)
    and ``"wet"`` (April to October), the West African monsoon seasons
    (Harmattan in the dry season). Elsewhere the meteorological seasons
    ``"DJF"``, ``"MAM"``, ``"JJA"``, ``"SON"``.
    """
    month = np.asarray(times.month)
    if abs(latitude) < 23.44:
        return np.where((month >= 4) & (month <= 10), "wet", "dry")
    names = np.array(["DJF", "DJF", "MAM", "MAM", "MAM", "JJA", "JJA", "JJA", "SON", "SON",
                      "SON", "DJF"])
    return np.asarray(names[month - 1])
