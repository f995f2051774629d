"""Drift alarms: forecast error, skill, and input distribution shift.

Responsible for: the periodic :class:`DriftWatch` task that raises (and
clears) three kinds of alarm per site and gateway, stores them and returns
them for publication:

* ``rmse_drift``: rolling daytime RMSE of P50 over ``rmse_window_s`` worse
  than ``rmse_factor`` x the validation RMSE recorded in the bundle's
  manifest (per horizon when the manifest has it, pooled otherwise);
* ``negative_skill``: daily skill against smart persistence below zero on
  each of the last ``skill_days`` days;
* ``input_drift``: the distribution of the clear-sky index (PV power over
  clear-sky PV power, 15-minute means, daytime) or of the air temperature in
  the last ``input_window_s`` moved away from a *season-matched* reference
  (the same site's earlier data from the same season): population stability
  index above ``psi_threshold`` and a two-sample KS test rejecting equality
  at ``ks_pvalue``. Periods in which the charge controller curtailed PV
  (absorption/float: battery full) are left out of the clear-sky index.

Does NOT: retrain anything (an alarm is the trigger for a person or a
pipeline to run ``helio-monitor export`` and ``helio-train fit``).

The PSI rule of thumb (< 0.1 stable, 0.1-0.25 moderate, > 0.25 shift) is an
industry convention, not a statistical test.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from edge.forecasting import reference
from edge.forecasting.engine import CURTAILED_STATES
from edge.forecasting.site import Site
from trainer.monitor.ingest import Alert, toggle_alert
from trainer.monitor.scoring import period_means, rolling_metrics
from trainer.monitor.store import MonitorStore

#: The input-drift check compares clear-sky index distributions only with the
#: sun this high (a stricter daytime than the scoring's
#: :data:`edge.forecasting.reference.ZENITH_LIMIT`: the index of a low sun is
#: dominated by the clear-sky model's own error, which would read as drift). [degrees]
DRIFT_ZENITH_LIMIT = 75.0
#: ... and clear-sky PV above this share of the output limit. [-]
DRIFT_CLEAR_FRACTION = 0.05

__all__ = [
    "ABUJA_SEASONS",
    "DriftConfig",
    "DriftWatch",
    "manifest_of",
    "psi",
    "validation_rmse",
]

#: month (1-12) -> season: Abuja's dry (Harmattan) season November-March, wet April-October
ABUJA_SEASONS: Mapping[int, str] = {m: ("wet" if 4 <= m <= 10 else "dry") for m in range(1, 13)}


#: reading value tried, in order, as the air temperature
TEMPERATURE_VALUES = ("ambient_temperature", "temp_air")


@dataclasses.dataclass(frozen=True, slots=True)
class DriftConfig:
    """Alarm thresholds and windows.

    Attributes
    ----------
    rmse_factor : float
        Alarm when rolling RMSE > factor x validation RMSE. [-]
    rmse_window_s : float
        Rolling window of the RMSE check, back from the newest score. [s]
    min_scores : int
        Fewest scored periods in the window before judging.
    skill_days : int
        Consecutive days of negative skill before the alarm.
    input_window_s : float
        Recent window of the input-distribution check. [s]
    reference_s : float
        Longest stretch of same-season history used as the reference. [s]
    psi_threshold : float
        Population stability index that raises ``input_drift`` (six bins). [-]
    ks_pvalue : float
        The two-sample KS test must also reject equal distributions at this
        level (PSI alone is biased upwards on small samples; 15-minute
        samples are autocorrelated, so the nominal p-value is optimistic and
        the default is strict). [-]
    min_samples : int
        Fewest 15-minute samples in each window before judging.
    seasons : mapping
        Month -> season name for season matching.
    every_s : float
        Least time between two evaluations (they read weeks of readings per
        site; the monitor's task period is shorter). [s]
    """

    rmse_factor: float = 1.2
    rmse_window_s: float = 7 * 86400.0
    min_scores: int = 30
    skill_days: int = 3
    input_window_s: float = 3 * 86400.0
    reference_s: float = 60 * 86400.0
    psi_threshold: float = 0.25
    ks_pvalue: float = 0.001
    min_samples: int = 48
    seasons: Mapping[int, str] = dataclasses.field(default_factory=lambda: dict(ABUJA_SEASONS))
    every_s: float = 3600.0


def manifest_of(files: Mapping[str, bytes]) -> dict[str, Any]:
    """The parsed ``manifest.json`` among a bundle's files (ValueError if absent)."""
    if "manifest.json" not in files:
        raise ValueError("bundle has no manifest.json")
    manifest = json.loads(files["manifest.json"])
    if not isinstance(manifest, dict):
        raise ValueError("manifest.json is not an object")
    return manifest


def validation_rmse(
    manifest: Mapping[str, Any], target: str, season: str | None = None
) -> dict[int, float]:
    """Hold-out RMSE of ``target`` per horizon from a manifest: horizon [min] -> RMSE.

    ``manifest["metrics"]`` is the list of metric rows ``helio-train fit``
    writes (``target``, ``horizon_min``, ``season``, ``n``, ``rmse``, ...).
    The rows of ``season`` are used when the manifest has them (a
    season-matched limit), else those of season ``"all"``.
    """
    rows = manifest.get("metrics")
    if not isinstance(rows, list):
        return {}
    by_season: dict[str, dict[int, float]] = {}
    for r in rows:
        if not isinstance(r, Mapping) or r.get("target") != target:
            continue
        rmse = r.get("rmse")
        if isinstance(rmse, int | float) and math.isfinite(rmse) and r.get("n", 1):
            by_season.setdefault(str(r.get("season", "all")), {})[int(r["horizon_min"])] = float(
                rmse)
    if season is not None and season in by_season:
        return by_season[season]
    return by_season.get("all", {})


def psi(reference: np.ndarray, recent: np.ndarray, edges: np.ndarray,
        pseudo: float = 0.5) -> float:
    """Population stability index of ``recent`` against ``reference`` over bins ``edges``. [-]

    Bin shares are smoothed with ``pseudo`` counts per bin (Krichevsky-Trofimov,
    0.5): with a few dozen daytime periods per window a bin holding two
    samples on one side and none on the other is chance, and a hard floor on
    the empty share (the usual 1e-4) turns it into a PSI above the alarm
    threshold on its own.
    """
    ref = np.histogram(reference, edges)[0].astype(float) + pseudo
    cur = np.histogram(recent, edges)[0].astype(float) + pseudo
    ref, cur = ref / ref.sum(), cur / cur.sum()
    return float(np.sum((cur - ref) * np.log(cur / ref)))


class DriftWatch:
    """Periodic task: evaluate the three drift alarms for every site.

    Parameters
    ----------
    store : MonitorStore
        Scores, readings, manifests; alarms are written here.
    sites : mapping
        site id -> Site (needed for the clear-sky index).
    config : DriftConfig
        Thresholds.
    """

    def __init__(self, store: MonitorStore, sites: Mapping[str, Site] | None = None,
                 config: DriftConfig = DriftConfig()) -> None:
        self.store = store
        self.sites = dict(sites or {})
        self.config = config
        self._last = -math.inf

    def __call__(self, now: float) -> Sequence[Alert]:
        """Alerts raised or cleared by this evaluation (none if run too recently)."""
        if now - self._last < self.config.every_s:
            return []
        self._last = now
        out: list[Alert] = []
        for site in self.store.reading_sites():
            out += self.check_errors(site, now)
            out += self.check_inputs(site, now)
        return out

    # -------------------------------------------------------------- helpers

    def _set(self, active: bool, alert: Alert, key: str, now: float) -> list[Alert]:
        return toggle_alert(self.store, active, alert, key, now)

    def _gateway(self, site: str) -> str:
        return self.store.gateway(site) or "site"

    # ---------------------------------------------------------- error drift

    def check_errors(self, site: str, now: float) -> list[Alert]:
        """``rmse_drift`` and ``negative_skill`` for one site."""
        newest = self.store.newest_score(site)
        if newest is None:
            return []
        cfg = self.config
        out: list[Alert] = []
        metrics = [m for m in rolling_metrics(self.store, site, since=newest - cfg.rmse_window_s)
                   if not m.shadow]
        season = self._season(newest)
        for sha in sorted({m.model_sha for m in metrics}):
            manifest = self.store.manifest(sha) or {}
            for m in (m for m in metrics if m.model_sha == sha):
                out += self._rmse(m, validation_rmse(manifest, m.target, season), now)
        out += self._skill(site, now)
        return out

    def _rmse(self, m: Any, limits: Mapping[int, float], now: float) -> list[Alert]:
        limit = limits.get(m.horizon_min)
        if limit is None or m.n < self.config.min_scores:
            return []
        worse = m.rmse > self.config.rmse_factor * limit
        key = f"{m.target}/h{m.horizon_min}/{m.model_sha[:12]}"
        msg = (f"{m.site}/{m.device} {m.target} h={m.horizon_min} min: rolling RMSE "
               f"{m.rmse:.1f} > {self.config.rmse_factor} x validation {limit:.1f}")
        data = {"target": m.target, "horizon_min": m.horizon_min, "rmse": m.rmse,
                "validation_rmse": limit, "n": m.n, "model_sha256": m.model_sha}
        return self._set(worse, Alert(m.site, m.device, "rmse_drift", "warning", msg, now, data),
                         key, now)

    def _skill(self, site: str, now: float) -> list[Alert]:
        rows = self.store.daily_errors(site)
        frame = pd.DataFrame(rows, columns=["device", "target", "day", "n", "mf", "mp"])
        out: list[Alert] = []
        need = self.config.skill_days
        for (device, target), group in frame.groupby(["device", "target"]):
            g = group[group["n"] >= 4].tail(need)
            ref = np.sqrt(np.maximum(g["mp"].to_numpy(), 1e-9))
            skill = 1.0 - np.sqrt(g["mf"].to_numpy()) / ref
            days = g["day"].to_numpy()
            consecutive = len(g) == need and bool(np.all(np.diff(days) == 1))
            bad = consecutive and bool(np.all(skill < 0))
            msg = (f"{site}/{device} {target}: skill below zero for {need} days "
                   f"({', '.join(f'{s:+.2f}' for s in skill)})")
            alert = Alert(site, str(device), "negative_skill", "warning", msg, now,
                          {"target": str(target), "daily_skill": [float(s) for s in skill]})
            out += self._set(bad, alert, str(target), now)
        return out

    # ---------------------------------------------------------- input drift

    def _series(self, site: str, value: str, start: float, end: float,
                step: float) -> tuple[np.ndarray, np.ndarray]:
        """Period means of a reading; periods with any curtailment are NaN."""
        rows = self.store.reading_values(site, [value, "charge_state"], start, end,
                                         require=value)
        if not rows:
            return np.empty(0), np.empty(0)
        ts = np.array([r.ts for r in rows], dtype=float)
        vals = pd.to_numeric(pd.Series([r.values[0] for r in rows]),
                             errors="coerce").to_numpy(float)
        curtailed = np.array([r.values[1] in CURTAILED_STATES for r in rows], dtype=float)
        ends = np.arange(math.ceil(ts[0] / step) * step, ts[-1] + 1e-9, step)
        means = period_means(ts, vals, ends, step)
        if value == "pv_power":
            means[period_means(ts, curtailed, ends, step) > 0] = np.nan
        return ends, means

    def inputs(self, site: str, start: float, end: float) -> dict[str, pd.Series]:
        """15-minute daytime clear-sky index and air temperature of ``site`` in (start, end]."""
        out: dict[str, pd.Series] = {}
        sky = self.sites.get(site)
        ends, pv = self._series(site, "pv_power", start, end, 900.0)
        if sky is not None and len(ends):
            ref = reference.clear_sky_reference(
                sky, pd.to_datetime(ends - 450.0, unit="s", utc=True))
            clear = ref["pv_clear"].to_numpy()
            day = (ref["daytime"].to_numpy(dtype=bool)
                   & (ref["zenith"].to_numpy() < DRIFT_ZENITH_LIMIT)
                   & (clear > DRIFT_CLEAR_FRACTION * sky.array.ac_limit))
            kcs = pv / np.where(day, clear, np.nan)
            ok = np.isfinite(kcs)
            out["kcs"] = pd.Series(reference.clip_index(kcs[ok]), index=ends[ok])
        for name in TEMPERATURE_VALUES:
            t_ends, temp = self._series(site, name, start, end, 900.0)
            ok = np.isfinite(temp)
            if ok.any():
                out["temp_air"] = pd.Series(temp[ok], index=t_ends[ok])
                break
        return out

    def _season(self, t: float) -> str:
        return self.config.seasons.get(datetime.fromtimestamp(t, UTC).month, "")

    def check_inputs(self, site: str, now: float) -> list[Alert]:
        """``input_drift`` for one site (recent window vs same-season history)."""
        cfg = self.config
        latest = self.store.reading_span(site)[1]
        if latest is None:
            return []
        split = latest - cfg.input_window_s
        series = self.inputs(site, split - cfg.reference_s, latest)
        season = self._season(latest)
        out: list[Alert] = []
        gw = self._gateway(site)
        for name, s in series.items():
            t = s.index.to_numpy()
            same = np.array([self._season(x) == season for x in t], dtype=bool)
            ref = s.to_numpy()[(t <= split) & same]
            cur = s.to_numpy()[t > split]
            if len(ref) < cfg.min_samples or len(cur) < cfg.min_samples:
                continue
            edges = (np.linspace(0.0, 1.2, 7) if name == "kcs"
                     else np.unique(np.quantile(ref, np.linspace(0, 1, 7))))
            edges = np.concatenate([[-np.inf], edges[1:-1], [np.inf]])
            value = psi(ref, cur, edges)
            ks = stats.ks_2samp(ref, cur)
            msg = (f"{site}: {name} distribution moved from the {season}-season reference "
                   f"(PSI {value:.2f} > {cfg.psi_threshold}, KS {ks.statistic:.2f})")
            data = {"input": name, "psi": value, "ks": float(ks.statistic),
                    "ks_pvalue": float(ks.pvalue), "season": season, "n_reference": len(ref),
                    "n_recent": len(cur), "reference_mean": float(np.mean(ref)),
                    "recent_mean": float(np.mean(cur))}
            alert = Alert(site, gw, "input_drift", "warning", msg, now, data)
            shifted = value > cfg.psi_threshold and ks.pvalue < cfg.ks_pvalue
            out += self._set(shifted, alert, name, now)
        return out
