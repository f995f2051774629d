"""Energy-plan scoring as what the plans foresaw happens.

Responsible for: the periodic :class:`PlanScorer` task that scores every
stored plan whose whole horizon has passed against the site's telemetry,
and :func:`plan_metrics`, the rolling per-site figures built on the scores.

Does NOT: talk MQTT, raise alarms (see :mod:`trainer.monitor.plan_drift`)
or make plans (the device does, :mod:`edge.planning`).

What is scored, per plan:

* **SOC at +1, +3, +12 and +24 h** (:data:`HORIZONS_MIN`): the plan's
  P10/P50/P90 SOC at the period end ``issued + h`` against the *measured
  SOC*: the mean of the ``battery_soc`` readings in ``(t - step/2, t +
  step/2]`` around that time ``t`` (the plan's SOC is the state at the step
  end, a reading is an instant), of one device, chosen as the device's
  planner does (:mod:`edge.runtime.planning_cycle`): one that also measures
  ``battery_power`` (a battery monitor) before an inverter's estimate, the
  first by name among equals (two SOC estimates of one battery are not
  added). ``battery_soc`` is in percent
  (:data:`firmware_bridge.readings.QUANTITIES`) and is divided by 100; a
  plan's SOC is a fraction [-]. The absolute error of P50 and whether the
  measured SOC lies inside ``[P10, P90]`` (coverage) are what the metrics
  pool.
* **Load at the same horizons**: the plan's P50 AC load of the step ending
  at ``issued + h`` against the measured AC load, the mean over that step
  of what the device's planner takes as the load: ``total_ac_output_power``
  (a parallel system), else ``ac_output_power``, of the first device by name
  reporting it (a BMV-only site, whose planner takes PV minus battery
  power, is not load-scored here); the reference is persistence of
  yesterday: the measured load of the same step 24 h earlier. Skill is
  ``1 - MAE / MAE(persistence)`` over the same plan horizons.
* **Time to reserve**, once per plan: the *predicted* time is the plan's
  ``reserve_at`` (the first step end whose P10 SOC is at or below
  ``reserve_soc``) and ``reserve_at_p50`` (the same for P50), None when the
  plan did not reach the reserve within its horizon; the *measured* time is
  the first plan step end, within the plan's horizon, whose measured SOC
  (the period mean above) is at or below ``reserve_soc``, None when the SOC
  stayed above. The error is measured minus predicted [s] (positive: the
  reserve came later than the plan said), for plans where both exist; a
  predicted time without a measured one is a false alarm, a measured time
  without a prediction a miss. A plan's reserve is judged only when the SOC
  was measured at :data:`MIN_SOC_COVERAGE` of its step ends or more
  (otherwise "never reached" could be a data gap).

A plan is scored once the site's newest reading is ``grace_s`` past its
horizon end (late, out-of-order readings still count).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from edge.runtime.contract import parse_time
from firmware_bridge.readings import QUANTITIES
from trainer.monitor.ingest import Alert
from trainer.monitor.scoring import period_means
from trainer.monitor.store import MonitorStore, PlanOutcome, PlanScoreRow, StoredPlan

__all__ = [
    "HORIZONS_MIN",
    "LOAD_VALUES",
    "MIN_SOC_COVERAGE",
    "PlanMetric",
    "PlanScorer",
    "plan_metrics",
    "soc_device",
    "soc_fraction",
]

#: Horizons at which a plan is scored. [min]
HORIZONS_MIN = (60, 180, 720, 1440)
#: Reading values tried, in order, as the measured AC load (the device planner's). [W]
LOAD_VALUES = ("total_ac_output_power", "ac_output_power")
#: Share of a plan's step ends with a measured SOC before its reserve is judged. [-]
MIN_SOC_COVERAGE = 0.9

_DAY_S = 86400.0


def soc_fraction(values: np.ndarray) -> np.ndarray:
    """``battery_soc`` readings as a fraction [-], from the unit the vocabulary gives them."""
    unit = QUANTITIES["battery_soc"].unit
    return np.asarray(values, dtype=float) / (100.0 if unit == "%" else 1.0)


def soc_device(store: MonitorStore, site: str, since: float, until: float) -> str | None:
    """The device whose ``battery_soc`` is the site's SOC in ``(since, until]``.

    One that also reports ``battery_power`` (a battery monitor) before the
    others (an inverter's estimate), the first by name among equals; None
    when no device reports SOC.
    """
    span = max(until - since, 1.0)
    anyone = sorted({m.device for m in store.reading_means(site, "battery_soc", since, until,
                                                           span)})
    power = {m.device for m in store.reading_means(site, "battery_power", since, until, span)}
    found = [d for d in anyone if d in power] or anyone
    return found[0] if found else None


@dataclasses.dataclass(frozen=True, slots=True)
class PlanMetric:
    """Rolling plan errors of one (site, device, horizon) over a window.

    Attributes
    ----------
    n_soc : int
        Plan horizons with a measured SOC.
    soc_mae : float
        Mean absolute error of P50 SOC (NaN without). [-]
    coverage : float
        Share of measured SOC inside P10-P90 (NaN without). [-]
    n_load : int
        Plan horizons with a measured load and yesterday's.
    load_mae, load_mae_persistence : float
        Mean absolute error of the P50 load and of persistence of yesterday. [W]
    """

    site: str
    device: str
    horizon_min: int
    n_soc: int
    soc_mae: float
    coverage: float
    n_load: int
    load_mae: float
    load_mae_persistence: float

    @property
    def load_skill(self) -> float:
        """``1 - MAE / MAE(persistence)`` of the load (NaN without a reference). [-]"""
        if not self.n_load or not self.load_mae_persistence > 0:
            return math.nan
        return 1.0 - self.load_mae / self.load_mae_persistence


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def plan_metrics(store: MonitorStore, site: str | None = None, *, since: float = 0.0,
                 until: float = math.inf) -> list[PlanMetric]:
    """Plan errors per site, device and horizon, target times in ``[since, until]`` [s]."""
    return [PlanMetric(e.site, e.device, e.horizon_min, e.n_soc, _nan(e.soc_mae),
                       _nan(e.coverage), e.n_load, _nan(e.load_mae),
                       _nan(e.load_mae_persistence))
            for e in store.plan_error_stats(site, since=since, until=until)]


@dataclasses.dataclass(frozen=True, slots=True)
class _Series:
    """Samples of one measured quantity, by time."""

    ts: np.ndarray
    values: np.ndarray

    def around(self, t: np.ndarray, step_s: float) -> np.ndarray:
        """Means over ``(t - step/2, t + step/2]`` (NaN where none)."""
        return period_means(self.ts, self.values, np.asarray(t) + step_s / 2, step_s)


class PlanScorer:
    """Periodic task scoring every plan whose horizon has passed.

    Parameters
    ----------
    store : MonitorStore
        Plans and readings are read here, scores written here.
    grace_s : float
        The site's telemetry must reach this long past a plan's horizon end. [s]
    """

    def __init__(self, store: MonitorStore, *, grace_s: float = 900.0) -> None:
        self.store = store
        self.grace_s = grace_s

    def __call__(self, now: float) -> Sequence[Alert]:
        """Score what can be scored (the monitor task interface); no alerts."""
        self.score_all()
        return ()

    def score_all(self) -> int:
        """Score every site; returns the number of plans scored."""
        return sum(self.score_site(s) for s in self.store.unscored_plan_sites())

    # ------------------------------------------------------------- readings

    def _soc(self, site: str, start: float, end: float) -> _Series | None:
        device = soc_device(self.store, site, start, end)
        if device is None:
            return None
        mine = self.store.reading_values(site, ["battery_soc"], start, end,
                                         require="battery_soc", device=device)
        vals = np.array([_num(r.values[0]) for r in mine], dtype=float)
        return _Series(np.array([r.ts for r in mine], dtype=float), soc_fraction(vals))

    def _load(self, site: str, start: float, end: float) -> list[_Series]:
        for name in LOAD_VALUES:
            devices = sorted({m.device for m in self.store.reading_means(
                site, name, start, end, max(end - start, 1.0))})
            if devices:
                mine = self.store.reading_values(site, [name], start, end, require=name,
                                                 device=devices[0])
                return [_Series(np.array([float(r.ts) for r in mine]),
                                np.array([_num(r.values[0]) for r in mine]))]
        return []

    # -------------------------------------------------------------- scoring

    def score_site(self, site: str) -> int:
        """Score the open plans of ``site`` whose horizon end plus grace has been reached."""
        latest = self.store.reading_span(site)[1]
        if latest is None:
            return 0
        plans = self.store.open_plans(site, latest - self.grace_s)
        if not plans:
            return 0
        first = min(p.issued for p in plans)
        end = max(p.horizon_end for p in plans) + 3600.0
        soc = self._soc(site, first - 3600.0, end)
        load = self._load(site, first - _DAY_S - 3600.0, end)
        rows: list[PlanScoreRow] = []
        outcomes: list[PlanOutcome] = []
        for plan in plans:
            r, outcome = self._score_plan(plan, soc, load)
            rows += r
            outcomes.append(outcome)
        self.store.write_plan_scores(rows, outcomes)
        return len(plans)

    def _score_plan(self, plan: StoredPlan, soc: _Series | None,
                    load: list[_Series]) -> tuple[list[PlanScoreRow], PlanOutcome]:
        body = plan.body
        step = float(body.get("step_s") or 900)
        ends = np.array([parse_time(t) or math.nan for t in body.get("period_end") or []])
        q = {k: _floats((body.get("soc") or {}).get(k), len(ends)) for k in ("p10", "p50", "p90")}
        load_p50 = _floats((body.get("load_power") or {}).get("p50"), len(ends))
        measured = soc.around(ends, step) if soc is not None else np.full(len(ends), math.nan)
        actual_load = _summed(load, ends, step)
        yesterday = _summed(load, ends - _DAY_S, step)
        rows = []
        for h in HORIZONS_MIN:
            hit = np.flatnonzero(np.abs(ends - (plan.issued + 60.0 * h)) < 1.0)
            if not hit.size:
                continue
            j = int(hit[0])
            row = PlanScoreRow(
                plan.site, plan.device, plan.issued, h, float(ends[j]),
                _opt(q["p10"][j]), _opt(q["p50"][j]), _opt(q["p90"][j]), _opt(measured[j]),
                _opt(load_p50[j]), _opt(actual_load[j]), _opt(yesterday[j]))
            if row.soc_actual is not None or row.load_actual is not None:
                rows.append(row)
        ok = np.isfinite(measured)
        if len(ends) and ok.mean() >= MIN_SOC_COVERAGE:
            reserve = float(body.get("reserve_soc") or 0.0)
            below = np.flatnonzero(ok & (measured <= reserve + 1e-9))
            at = float(ends[int(below[0])]) if below.size else None
            return rows, PlanOutcome(plan.id, 1, at)
        return rows, PlanOutcome(plan.id, 2, None)


def _num(x: object) -> float:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else math.nan


def _floats(values: object, n: int) -> np.ndarray:
    """A plan's list as floats (None -> NaN), padded with NaN to ``n``."""
    seq = values if isinstance(values, list) else []
    out = np.full(n, math.nan)
    for i, v in enumerate(seq[:n]):
        out[i] = _num(v)
    return out


def _opt(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _summed(series: list[_Series], ends: np.ndarray, step: float) -> np.ndarray:
    """Sum over devices of each one's mean over ``(end - step, end]`` (NaN if one has none)."""
    if not series:
        return np.full(len(ends), math.nan)
    total = np.zeros(len(ends))
    for s in series:
        total = total + period_means(s.ts, s.values, ends, step)
    return total
