"""Forecast scoring as the actual values arrive.

Responsible for: turning stored forecast points into scores (forecast,
smart-persistence reference and actual for the same period) once the
site's telemetry has passed the period end, daytime only, and the rolling
RMSE and skill queries built on them.

Does NOT: talk MQTT, raise alarms (see :mod:`trainer.monitor.drift`), or
decide which model is running.

What "actual" means for each target:

* ``pv_power``: the mean over the forecast period ``(period_end - step,
  period_end]`` of the ``pv_power`` reading, summed over the site's source
  devices that report it (each charge controller feeds its own array), in
  [W]. A period is scored only when every such device has samples in it.
  A charge controller that curtails a full battery (``charge_state`` in
  :data:`edge.forecasting.engine.CURTAILED_STATES`: absorption, float, ...)
  measures less than the array could give, which is the battery's doing,
  not the sky's: a period (target or issue) with any curtailed sample is not
  scored, as the device's own rollout comparison and the drift check do.
* ``ghi``: the period mean of a ``ghi`` reading (a pyranometer), in [W/m²];
  not scored at sites without one.
* ``dni``, ``dhi``: not measured at the edge, never scored.

Smart persistence and daytime are the gate's (:mod:`edge.forecasting.reference`,
the same functions :mod:`trainer.evaluation` measures a bundle with), so the
skill shown here is the skill the gate measured: the clear-sky index of the
period ending at the issue time (measured GHI over clear-sky GHI for
``ghi``; measured PV over the array's clear-sky PV through the one PV chain
for ``pv_power``, what :func:`edge.forecasting.forecast.ghi_from_pv_power`
gives the trainer), clipped to [0, ``KT_MAX``], held where the issue period
carries no index (dawn, clipped PV: ``KT_DEFAULT``), then turned into the
target period's GHI [W/m²] and PV power [W] through the forecast's own
chain (:func:`edge.forecasting.reference.physical_from_index`: Erbs
decomposition, transposition, cell temperature at 25 °C, inverter).
A period is scored when it is daytime (:func:`edge.forecasting.reference.is_daytime`:
zenith below ``daytime_zenith`` and enough clear-sky GHI at the period
midpoint) and, for ``pv_power``, its PV says something about the sky
(:func:`edge.forecasting.reference.pv_index_usable`: not clipped, sun high
enough), as the gate's rows are. At a site without a site file the
reference falls back to plain persistence and daytime means a non-zero
actual value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from edge.forecasting import reference
from edge.forecasting.engine import CURTAILED_STATES
from edge.forecasting.site import Site
from trainer.monitor.ingest import Alert
from trainer.monitor.store import MonitorStore, OpenPoint, ScoreRow

__all__ = [
    "SCORED_TARGETS",
    "Metric",
    "Scorer",
    "ScoringConfig",
    "period_means",
    "persistence_reference",
    "rolling_metrics",
]

#: target -> reading value that measures it
SCORED_TARGETS: Mapping[str, str] = {"pv_power": "pv_power", "ghi": "ghi"}


@dataclasses.dataclass(frozen=True, slots=True)
class ScoringConfig:
    """Scoring settings.

    Attributes
    ----------
    grace_s : float
        Telemetry must reach this long past a period end before the period
        is scored (late, out-of-order readings still count). [s]
    daytime_zenith : float
        Periods with a larger solar zenith are night and not scored; the
        gate's :data:`edge.forecasting.reference.ZENITH_LIMIT` unless set. [degrees]
    """

    grace_s: float = 900.0
    daytime_zenith: float = reference.ZENITH_LIMIT


@dataclasses.dataclass(frozen=True, slots=True)
class Metric:
    """Rolling error of one (device, target, horizon, model, shadow) over a window."""

    site: str
    device: str
    target: str
    horizon_min: int
    model_sha: str
    shadow: bool
    n: int
    rmse: float
    rmse_persistence: float

    @property
    def skill(self) -> float:
        """``1 - rmse / rmse_persistence`` (NaN when the reference is perfect). [-]"""
        if self.rmse_persistence <= 0:
            return math.nan
        return 1.0 - self.rmse / self.rmse_persistence


def period_means(
    ts: np.ndarray, values: np.ndarray, ends: np.ndarray, period_s: np.ndarray | float
) -> np.ndarray:
    """Mean of ``values`` sampled at ``ts`` over each ``(end - period_s, end]``.

    Parameters
    ----------
    ts : ndarray
        Sample times, epoch, sorted ascending. [s]
    values : ndarray
        Samples (NaN allowed: ignored).
    ends : ndarray
        Period ends, epoch. [s]
    period_s : ndarray or float
        Period lengths. [s]

    Returns
    -------
    ndarray
        One mean per period, NaN where the period has no sample.
    """
    ok = np.isfinite(values)
    ts, values = ts[ok], values[ok]
    csum = np.concatenate([[0.0], np.cumsum(values)])
    hi = np.searchsorted(ts, ends, side="right")
    lo = np.searchsorted(ts, np.asarray(ends) - period_s, side="right")
    n = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (csum[hi] - csum[lo]) / n
    return np.asarray(np.where(n > 0, out, np.nan), dtype=float)


def persistence_reference(
    target: str, site: Site, actual_now: np.ndarray, actual: np.ndarray, *,
    now: pd.DataFrame, then: pd.DataFrame, daytime_zenith: float = reference.ZENITH_LIMIT,
) -> tuple[np.ndarray, np.ndarray]:
    """Smart persistence of ``target`` and which periods are scored, as the gate does.

    Parameters
    ----------
    target : {"pv_power", "ghi"}
    site : Site
        Location and array.
    actual_now, actual : ndarray
        Measured period means ending at the issue time and at the target
        period end, in the target's unit ([W] or [W/m²]).
    now, then : pandas.DataFrame
        :func:`edge.forecasting.reference.clear_sky_reference` at the
        midpoints of the issue and the target periods, row for row.
    daytime_zenith : float
        Zenith above which a period is night. [degrees]

    Returns
    -------
    persistence : ndarray
        The reference forecast, in the target's unit; NaN where the issue
        period has no measurement.
    scored : ndarray of bool
        Target periods the gate would score: daytime, measured and (for
        PV) saying something about the sky.
    """
    def daytime(g: pd.DataFrame) -> np.ndarray:
        return np.asarray(g["daytime"].to_numpy(dtype=bool)
                          & (g["zenith"].to_numpy(dtype=float) < daytime_zenith))

    day_now, day = daytime(now), daytime(then)
    if target == "pv_power":
        clear_now = now["pv_clear"].to_numpy(dtype=float)
        carries = day_now & reference.pv_index_usable(actual_now, clear_now, site.array)
        day &= reference.pv_index_usable(actual, then["pv_clear"].to_numpy(dtype=float),
                                         site.array)
    else:
        clear_now = now["ghi_clear"].to_numpy(dtype=float)
        carries = day_now
    with np.errstate(invalid="ignore", divide="ignore"):
        index_now = actual_now / np.where(carries, clear_now, np.nan)
    kt = reference.smart_persistence(index_now, carries)
    kt = np.where(np.isfinite(actual_now), kt, np.nan)
    out = reference.physical_from_index(
        kt, ghi_clear=then["ghi_clear"].to_numpy(), zenith=then["zenith"].to_numpy(),
        azimuth=then["azimuth"].to_numpy(), dni_extra=then["dni_extra"].to_numpy(),
        array=site.array)
    persistence = np.where(np.isfinite(kt), out[target], np.nan)
    return np.asarray(persistence, dtype=float), np.asarray(day & np.isfinite(actual))


class Scorer:
    """Periodic task scoring every forecast point whose actual has arrived.

    Parameters
    ----------
    store : MonitorStore
        The monitor's store.
    sites : mapping
        site id -> :class:`edge.forecasting.site.Site` (for clear-sky references and
        daytime); sites missing here get plain persistence.
    config : ScoringConfig
        Grace period and daytime definition.
    """

    def __init__(
        self, store: MonitorStore, sites: Mapping[str, Site] | None = None,
        config: ScoringConfig = ScoringConfig(),
    ) -> None:
        self.store = store
        self.sites = dict(sites or {})
        self.config = config

    def __call__(self, now: float) -> Sequence[Alert]:
        """Score what can be scored (the monitor task interface); no alerts."""
        self.score_all()
        return ()

    def score_all(self) -> int:
        """Score every site; returns the number of scores written."""
        sites = self.store.unscored_sites()
        return sum(self.score_site(s) for s in sites)

    def _latest(self, site: str) -> float | None:
        return self.store.reading_span(site)[1]

    def _actuals(self, site: str, value: str, start: float, end: float) -> list[pd.Series]:
        rows = self.store.reading_values(site, [value], start, end)
        frame = pd.DataFrame([(r.device, r.ts, r.values[0]) for r in rows],
                             columns=["device", "ts", "v"])
        frame = frame[pd.to_numeric(frame["v"], errors="coerce").notna()]
        return [
            pd.Series(g["v"].to_numpy(dtype=float), index=g["ts"].to_numpy(dtype=float))
            for _, g in frame.groupby("device")
        ]

    def _curtailed(self, site: str, start: float, end: float) -> pd.Series:
        """1.0 at each reading whose ``charge_state`` curtails PV, else 0.0 (by time)."""
        rows = self.store.reading_values(site, ["charge_state"], start, end,
                                         require="charge_state")
        return pd.Series([float(r.values[0] in CURTAILED_STATES) for r in rows],
                         index=[float(r.ts) for r in rows], dtype=float)

    def score_site(self, site: str) -> int:
        """Score the open points of ``site`` whose period end plus grace has been reached."""
        latest = self._latest(site)
        if latest is None:
            return 0
        pts = pd.DataFrame(self.store.open_points(site, latest - self.config.grace_s),
                           columns=OpenPoint._fields)
        if pts.empty:
            return 0
        done: list[ScoreRow] = []
        written = 0
        for target, group in pts.groupby("target"):
            rows = self._score_target(site, str(target), group)
            written += len(rows)
            done.extend(rows)
        self.store.write_scores(done, [int(r) for r in pts["id"]])
        return written

    def _score_target(self, site: str, target: str, g: pd.DataFrame) -> list[ScoreRow]:
        value = SCORED_TARGETS.get(target)
        if value is None:
            return []
        period = g["period_s"].to_numpy(dtype=float)
        ends = g["period_end"].to_numpy(dtype=float)
        issues = g["issue"].to_numpy(dtype=float)
        series = self._actuals(site, value, float(issues.min() - period.max()), float(ends.max()))
        if not series:
            return []
        actual = _site_sum(series, ends, period)
        actual_now = _site_sum(series, issues, period)
        sky = self.sites.get(site)
        if sky is not None:
            mids, inv = np.unique(np.concatenate([ends - period / 2, issues - period / 2]),
                                  return_inverse=True)
            ref = reference.clear_sky_reference(sky, pd.to_datetime(mids, unit="s", utc=True))
            n = len(ends)
            geo = ref.iloc[inv].reset_index(drop=True)
            persistence, day = persistence_reference(
                target, sky, actual_now, actual, now=geo.iloc[n:].reset_index(drop=True),
                then=geo.iloc[:n], daytime_zenith=self.config.daytime_zenith)
        else:
            day = actual > 0
            persistence = actual_now
        keep = day & np.isfinite(actual) & np.isfinite(persistence) & g["p50"].notna().to_numpy()
        if target == "pv_power":
            flags = self._curtailed(site, float(issues.min() - period.max()), float(ends.max()))
            if not flags.empty:
                t, v = flags.index.to_numpy(), flags.to_numpy()
                curtailed = (period_means(t, v, ends, period) > 0) | (
                    period_means(t, v, issues, period) > 0)
                keep &= ~curtailed
        return [
            ScoreRow(site, r.device, target, int(r.horizon_min), float(r.issue), int(r.shadow),
                     r.model_sha, float(r.period_end), float(r.p50), float(p), float(a))
            for r, p, a, k in zip(g.itertuples(), persistence, actual, keep, strict=False) if k
        ]


def _site_sum(series: list[pd.Series], ends: np.ndarray, period: np.ndarray) -> np.ndarray:
    """Sum over devices of each device's period mean (NaN if any device has none)."""
    total = np.zeros(len(ends))
    for s in series:
        total = total + period_means(s.index.to_numpy(), s.to_numpy(), ends, period)
    return total


def rolling_metrics(
    store: MonitorStore,
    site: str | None = None,
    *,
    since: float = 0.0,
    until: float = math.inf,
    target: str | None = None,
    by_horizon: bool = True,
) -> list[Metric]:
    """RMSE of forecast and smart persistence per device, target, horizon, model, shadow.

    Parameters
    ----------
    store : MonitorStore
        Scores are read from here.
    site : str, optional
        One site (all when None).
    since, until : float
        Period-end window, epoch. [s]
    target : str, optional
        One target (all when None).
    by_horizon : bool
        False pools all horizons (``horizon_min`` is then 0).
    """
    rows = store.error_stats(site, since=since, until=until, target=target,
                             by_horizon=by_horizon)
    return [
        Metric(e.site, e.device, e.target, e.horizon_min, e.model_sha, e.shadow, e.n,
               math.sqrt(e.mse), math.sqrt(e.mse_persistence))
        for e in rows
    ]
