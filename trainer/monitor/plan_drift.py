"""The plan's drift alarm: its SOC error or its band going wrong, judged on its own history.

Responsible for: the periodic :class:`PlanDriftWatch` task raising (and
clearing) ``plan_drift`` per site and gateway, with two keys:

* ``soc_mae/h720``: the mean absolute error of P50 SOC at 12 h over the
  recent window (:attr:`PlanDriftConfig.recent_s`, back from the site's
  newest plan score) is above ``mae_factor`` x the same error over the
  reference window before it (:attr:`PlanDriftConfig.reference_s`) plus
  ``mae_floor`` (two SOC points: a plan that was nearly perfect is not in
  drift for a few points of measurement noise). Judged only with at least
  ``min_plans`` scored plans in the recent window and twice that in the
  reference. The plan's own history is the reference because the plan has
  no validation figure of its own (the device calibrates it on the site).
* ``coverage``: the share of measured SOC inside P10-P90, pooled over the
  scored horizons of the recent window, is further than
  ``coverage_tolerance`` from the nominal 0.8; judged only with at least
  ``min_coverage_n`` plan horizons.

Consecutive plans (every 15 min) share most of their horizon and their
errors are strongly correlated, so ``N`` counts plans, not independent
trials: the minima are a day of plans (96) and more, not a statistical
significance. Without enough scores an open alarm is left as it is (neither
raised nor cleared). The thresholds are set from what the terms mean, not
fitted to a test.

Does NOT: score plans (see :mod:`trainer.monitor.plan_scoring`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from trainer.monitor.ingest import Alert, toggle_alert
from trainer.monitor.plan_scoring import PlanMetric, plan_metrics
from trainer.monitor.store import MonitorStore

__all__ = ["NOMINAL_COVERAGE", "PlanDriftConfig", "PlanDriftWatch"]

#: The nominal share of outcomes inside P10-P90. [-]
NOMINAL_COVERAGE = 0.8
#: The horizon whose SOC error is watched. [min]
DRIFT_HORIZON_MIN = 720


@dataclasses.dataclass(frozen=True, slots=True)
class PlanDriftConfig:
    """Windows and thresholds of ``plan_drift``.

    Attributes
    ----------
    recent_s, reference_s : float
        The recent window back from the newest score, and the reference
        window before it. [s]
    mae_factor : float
        Alarm when recent MAE > factor x reference MAE + ``mae_floor``. [-]
    mae_floor : float
        Absolute margin of SOC error. [-]
    min_plans : int
        Fewest scored plans (12-h horizon) in the recent window; the
        reference needs twice as many.
    coverage_tolerance : float
        Alarm when ``|coverage - 0.8|`` exceeds this. [-]
    min_coverage_n : int
        Fewest plan horizons with a measured SOC in the recent window.
    every_s : float
        Least time between two evaluations. [s]
    """

    recent_s: float = 3 * 86400.0
    reference_s: float = 14 * 86400.0
    mae_factor: float = 1.5
    mae_floor: float = 0.02
    min_plans: int = 96
    coverage_tolerance: float = 0.15
    min_coverage_n: int = 4 * 96
    every_s: float = 3600.0


def _pooled(ms: Sequence[PlanMetric]) -> tuple[int, float, float]:
    """(n, MAE, coverage) pooled over metrics, weighted by their N."""
    n = sum(m.n_soc for m in ms if m.n_soc)
    if not n:
        return 0, math.nan, math.nan
    mae = sum(m.soc_mae * m.n_soc for m in ms if m.n_soc) / n
    cov = sum(m.coverage * m.n_soc for m in ms if m.n_soc) / n
    return n, mae, cov


class PlanDriftWatch:
    """Periodic task: ``plan_drift`` for every site with plan scores.

    Parameters
    ----------
    store : MonitorStore
        Plan scores are read here, alarms written here.
    config : PlanDriftConfig
    """

    def __init__(self, store: MonitorStore, config: PlanDriftConfig = PlanDriftConfig()) -> None:
        self.store = store
        self.config = config
        self._last = -math.inf

    def __call__(self, now: float) -> Sequence[Alert]:
        """Alerts raised or cleared by this evaluation (none if run too recently)."""
        if now - self._last < self.config.every_s:
            return []
        self._last = now
        out: list[Alert] = []
        for site, newest in sorted(self.store.newest_plan_scores().items()):
            out += self.check(site, newest, now)
        return out

    def _set(self, active: bool, alert: Alert, key: str, now: float) -> list[Alert]:
        return toggle_alert(self.store, active, alert, key, now)

    def check(self, site: str, newest: float, now: float) -> list[Alert]:
        """Evaluate both keys of ``site``, windows back from its newest score ``newest`` [s]."""
        cfg = self.config
        split = newest - cfg.recent_s
        recent = [m for m in plan_metrics(self.store, site, since=split + 1e-6, until=newest)]
        ref = plan_metrics(self.store, site, since=split - cfg.reference_s, until=split)
        out: list[Alert] = []
        for device in sorted({m.device for m in recent}):
            mine = [m for m in recent if m.device == device]
            out += self._mae(site, device, mine, [m for m in ref if m.device == device], now)
            out += self._coverage(site, device, mine, now)
        return out

    def _mae(self, site: str, device: str, recent: list[PlanMetric], ref: list[PlanMetric],
             now: float) -> list[Alert]:
        cfg = self.config
        n, mae, _ = _pooled([m for m in recent if m.horizon_min == DRIFT_HORIZON_MIN])
        n_ref, mae_ref, _ = _pooled([m for m in ref if m.horizon_min == DRIFT_HORIZON_MIN])
        if n < cfg.min_plans or n_ref < 2 * cfg.min_plans:
            return []
        limit = cfg.mae_factor * mae_ref + cfg.mae_floor
        msg = (f"{site}/{device} plan SOC MAE at 12 h {100 * mae:.1f} points over the last"
               f" {cfg.recent_s / 86400:.0f} d > {cfg.mae_factor} x its earlier"
               f" {100 * mae_ref:.1f} + {100 * cfg.mae_floor:.0f} (n {n}, {n_ref})")
        data = {"horizon_min": DRIFT_HORIZON_MIN, "soc_mae": mae, "reference_soc_mae": mae_ref,
                "limit": limit, "n": n, "n_reference": n_ref}
        return self._set(mae > limit, Alert(site, device, "plan_drift", "warning", msg, now,
                                            data), f"soc_mae/h{DRIFT_HORIZON_MIN}", now)

    def _coverage(self, site: str, device: str, recent: list[PlanMetric],
                  now: float) -> list[Alert]:
        cfg = self.config
        n, _, cov = _pooled(recent)
        if n < cfg.min_coverage_n:
            return []
        off = abs(cov - NOMINAL_COVERAGE) > cfg.coverage_tolerance
        msg = (f"{site}/{device} plan P10-P90 coverage {cov:.2f} over the last"
               f" {cfg.recent_s / 86400:.0f} d is more than {cfg.coverage_tolerance} from"
               f" {NOMINAL_COVERAGE} (n {n})")
        data = {"coverage": cov, "nominal": NOMINAL_COVERAGE, "n": n}
        return self._set(off, Alert(site, device, "plan_drift", "warning", msg, now, data),
                         "coverage", now)
