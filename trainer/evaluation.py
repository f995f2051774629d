"""Scoring a bundle on data rows, through the edge's own interpreter and physics.

Responsible for: running a bundle's int8 (and float32) model on a
:class:`trainer.dataset.Dataset` with :class:`edge.forecasting.predictor.Predictor`,
turning clear-sky index into GHI/DNI/DHI/PV with :mod:`edge.forecasting.forecast`
(forecast, observations and the two references, smart persistence and
CLIPER, on the same geometry), the metric rows of :func:`trainer.validate.score`,
the int8-vs-float32 report, the quantile reliability and fan-chart days
for the model card, and ``helio-train evaluate``'s scoring of any bundle on
any data file.

Does NOT: train, decide the verdict (:func:`trainer.validate.run_gate`),
or write bundles.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd

from edge.forecasting import reference
from edge.forecasting.bundle import Bundle
from edge.forecasting.features import DailyGeometry, FeatureSpec
from edge.forecasting.forecast import ForecastPhysics
from edge.forecasting.predictor import Predictor
from edge.forecasting.site import Site, SiteConfig
from trainer.bundle import FanDay
from trainer.dataset import (
    Dataset,
    build_dataset,
    fit_cliper,
    resample_to_step,
    season_labels,
    smart_persistence,
)
from trainer.linke import with_linke_turbidity
from trainer.validate import Int8Report, MetricRow, compare_int8, score

__all__ = [
    "Scored",
    "evaluate_bundle",
    "fan_days",
    "int8_report",
    "reliability",
    "score_bundle",
    "score_forecast",
]


def _physics(ds: Dataset, site: Site, loc: SiteConfig) -> tuple[ForecastPhysics, np.ndarray]:
    geometry = DailyGeometry.for_range(with_linke_turbidity(loc), ds.times[0], ds.times[-1],
                                       ds.spec)
    epoch = ds.times.as_unit("s").asi8.astype(np.int64)
    issue_k = (epoch - geometry.t0) // ds.spec.step_seconds
    return ForecastPhysics(site.array, geometry), issue_k


def _physical(phys: ForecastPhysics, kt: np.ndarray, issue_k: np.ndarray) -> dict[str, np.ndarray]:
    """All targets for clear-sky index ``kt`` of shape (n, n_h, q)."""
    return phys.physical(kt, issue_k)


def _observed(ds: Dataset, frame: pd.DataFrame, phys: ForecastPhysics,
              issue_k: np.ndarray) -> dict[str, np.ndarray]:
    """Observed GHI, DNI/DHI (when measured) and PV (measured, else modelled from GHI)."""
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
    """A reference forecast's targets for its clear-sky index ``kt`` of shape (n, n_h).

    Through :func:`edge.forecasting.reference.physical_from_index`, the
    function the fleet monitor's scoring calls for its smart persistence.
    """
    g = phys.geometry
    tk = phys.target_index(issue_k)
    return reference.physical_from_index(
        kt, ghi_clear=g.ghi_clear[tk], zenith=g.zenith[tk], azimuth=g.azimuth[tk],
        dni_extra=g.dni_extra[tk], array=phys.array)


def fan_days(ds: Dataset, q_ghi: np.ndarray, obs: np.ndarray, j: int, n_days: int = 3
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


def reliability(q: np.ndarray, y: np.ndarray, mask: np.ndarray, horizons: tuple[int, ...]
                ) -> dict[int, list[float]]:
    """Observed share below each of P10/P50/P90, per horizon (daytime, measured)."""
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
                 site: Site, loc: SiteConfig,
                 linear: Callable[[Dataset], np.ndarray] | None = None) -> Scored:
    """Score ``bundle``'s int8 model on ``test`` rows through the edge interpreter.

    CLIPER is fitted on ``train`` (on ``test`` itself when no training rows
    are given, as ``helio-train evaluate`` does: an optimistic reference).
    ``linear`` maps rows to the linear baseline's clear-sky index
    ``(n, n_h)``; its skill is then reported beside the model's.
    """
    test = test.daytime()
    kt_int8 = Predictor(bundle).predict_batch(test.X)
    return score_forecast(kt_int8, test, train=train, frame=frame, site=site, loc=loc,
                          linear=linear)


def score_forecast(kt: np.ndarray, test: Dataset, *, train: Dataset | None,
                   frame: pd.DataFrame, site: Site, loc: SiteConfig,
                   linear: Callable[[Dataset], np.ndarray] | None = None) -> Scored:
    """Score clear-sky index quantiles ``kt`` (n, n_h, 3) of the daytime rows ``test``.

    What :func:`score_bundle` does after running the model: the forecast,
    the observations and the references through the same physics, then
    :func:`trainer.validate.score`.
    """
    phys, issue_k = _physics(test, site, loc)
    fc = _physical(phys, np.asarray(kt, dtype=np.float64), issue_k)
    obs = _observed(test, frame, phys, issue_k)
    sp = _reference(phys, smart_persistence(test), issue_k)
    cl = _reference(phys, fit_cliper(train if train is not None else test).predict(test), issue_k)
    seasons = season_labels(test.times, loc.latitude)
    days = np.asarray(test.times.normalize().asi8)
    lin = None if linear is None else _reference(phys, linear(test), issue_k)
    rows = score(forecast=fc, observed=obs, smart_persistence=sp, cliper=cl, mask=test.mask,
                 horizons_min=test.spec.horizons_min, seasons=seasons, groups=days, linear=lin)
    return Scored(rows, np.asarray(kt), fc, obs, test)


def int8_report(bundle: Bundle, scored: Scored) -> Int8Report:
    """int8 against float32 on the scored rows, both through the edge interpreter."""
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
    from trainer.loading import read_and_check  # noqa: PLC0415

    spec = FeatureSpec.from_dict(bundle.manifest["features"])
    frame, loc = read_and_check(data, fmt, site)
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
