"""The year simulation's 15-min loop: truth -> measurements -> the device's plan -> record.

Responsible for: advancing the :class:`~trainer.yearsim.scenario.Scenario`
one period at a time, passing only its measurements
(:func:`~trainer.yearsim.scenario.measure`) to the :class:`DeviceSide`
(the shipped int8 bundle through :class:`edge.forecasting.engine.ForecastEngine`
and the real interpreter, called as the agent calls it, then
:class:`edge.planning.EnergyPlanner`), letting the policy act on each plan
(the hook the control work fills), and recording plans, the naive plan
and the truth in arrays for :mod:`.report`.

Does NOT: score (``report``) or print.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from edge.forecasting.bundle import load_bundle
from edge.forecasting.engine import ForecastEngine, ForecastResult, ModelHolder
from edge.forecasting.predictor import Predictor
from edge.forecasting.site import Site
from edge.planning import EnergyPlan, EnergyPlanner, PeriodObservation, PlanConfig
from edge.simulation.grid import GridConfig
from trainer.yearsim.naive import naive_soc
from trainer.yearsim.policy import Policy
from trainer.yearsim.scenario import STEP_S, Measured, Scenario, TruthPeriod, measure

__all__ = ["HORIZON_STEPS", "DeviceSide", "Record", "run"]

#: Plan steps recorded per issue and scored (24 h). [steps]
HORIZON_STEPS = 96
_DAY = 96  # periods per day


class DeviceSide:
    """What runs on the device, fed only :class:`Measured` periods.

    Parameters
    ----------
    site : Site
        The site file the device is configured with.
    holder : ModelHolder
        The bundle and its interpreter.
    config : PlanConfig
        The planner's settings.
    """

    def __init__(self, site: Site, holder: ModelHolder, config: PlanConfig) -> None:
        self.engine = ForecastEngine(site, holder)
        self.planner = EnergyPlanner(site, config)
        n = holder.spec.history_steps
        self._pv: deque[float] = deque([math.nan] * n, maxlen=n)
        self._curtailed: deque[bool] = deque([False] * n, maxlen=n)
        self.plan_cpu_ms = math.nan  # CPU time of the last observe + plan [ms]

    def forecast(self, m: Measured) -> ForecastResult:
        """The bundle's PV forecast at the end of period ``m``, as the agent makes it."""
        issue = int(m.end.timestamp())
        self._pv.append(m.pv_power)
        self._curtailed.append(m.curtailed)
        ghi = self.engine.ghi_history(issue, list(self._pv), list(self._curtailed))
        return self.engine.forecast(issue, ghi, inputs_stale=not math.isfinite(m.pv_power))

    def step(self, m: Measured) -> EnergyPlan:
        """Observe period ``m``, forecast, and plan from its end."""
        result = self.forecast(m)
        c0 = time.process_time()
        self.planner.observe(PeriodObservation(
            end=m.end, load_power=m.load_power, pv_power=m.pv_power, soc=m.soc,
            battery_power=m.battery_power, curtailed=m.curtailed,
        ))
        plan = self.planner.plan(m.end, m.soc, result)
        self.plan_cpu_ms = (time.process_time() - c0) * 1e3
        return plan


def load_holder(bundle: str | Path, public_key: str | Path) -> ModelHolder:
    """The verified bundle and its interpreter, as ``helio-edge run`` loads them."""
    return ModelHolder(lambda: load_bundle(bundle, public_key), Predictor)


def _nan(shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    return np.full(shape, np.nan, dtype=np.float32)


@dataclasses.dataclass
class Record:
    """Everything a run leaves for scoring; arrays indexed by period ``i``.

    Period ``i`` ends at ``start + (i + 1) x 15 min``; a plan issued at the
    end of period ``i`` has its step ``k`` (1-based) at the end of period
    ``i + k``, stored in column ``k - 1``.
    """

    start: datetime
    n: int
    reserve_soc: float
    truth_soc: npt.NDArray[np.float64]
    truth_load: npt.NDArray[np.float64]
    truth_pv: npt.NDArray[np.float64]
    truth_pv_potential: npt.NDArray[np.float64]
    truth_grid: npt.NDArray[np.float64]
    meas_load: npt.NDArray[np.float64]
    meas_pv: npt.NDArray[np.float64]
    soc: dict[str, npt.NDArray[np.float32]]
    load_p50: npt.NDArray[np.float32]
    pv_p50: npt.NDArray[np.float32]
    pv_potential_p50: npt.NDArray[np.float32]
    naive: npt.NDArray[np.float32]
    reserve_k: dict[str, npt.NDArray[np.int32]]  # first step at/below reserve, 0 = none in 24 h
    load_methods: Counter[str]
    pv_methods: Counter[str]
    capacity_wh: npt.NDArray[np.float64]
    capacity_source: str = ""
    plan_cpu_ms: list[float] = dataclasses.field(default_factory=list)
    wall_s: float = 0.0

    @classmethod
    def empty(cls, start: datetime, n: int, reserve_soc: float) -> Record:
        """Arrays for ``n`` periods, all missing."""
        h = (n, HORIZON_STEPS)
        return cls(
            start=start, n=n, reserve_soc=reserve_soc,
            truth_soc=np.full(n, np.nan), truth_load=np.full(n, np.nan),
            truth_pv=np.full(n, np.nan), truth_pv_potential=np.full(n, np.nan),
            truth_grid=np.zeros(n), meas_load=np.full(n, np.nan), meas_pv=np.full(n, np.nan),
            soc={q: _nan(h) for q in ("p10", "p50", "p90")}, load_p50=_nan(h), pv_p50=_nan(h),
            pv_potential_p50=_nan(h), naive=_nan(h),
            reserve_k={q: np.zeros(n, dtype=np.int32) for q in ("p10", "p50")},
            load_methods=Counter(), pv_methods=Counter(), capacity_wh=np.full(n, np.nan),
        )

    def add_truth(self, i: int, t: TruthPeriod, m: Measured) -> None:
        """Store period ``i``'s truth and its measurement."""
        self.truth_soc[i], self.truth_load[i] = t.soc, t.load_power
        self.truth_pv[i], self.truth_pv_potential[i] = t.pv_power, t.pv_potential
        self.truth_grid[i] = t.grid_share
        self.meas_load[i], self.meas_pv[i] = m.load_power, m.pv_power

    def add_plan(self, i: int, plan: EnergyPlan, soc0: float) -> None:
        """Store the plan issued at the end of period ``i`` and its naive twin."""
        ks = np.array([round((t - plan.issued).total_seconds() / STEP_S) for t in plan.times])
        cols = ks - 1
        ok = (cols >= 0) & (cols < HORIZON_STEPS)
        c, j = cols[ok], np.flatnonzero(ok)
        for q in ("p10", "p50", "p90"):
            self.soc[q][i, c] = plan.soc[q][j]
        self.load_p50[i, c] = plan.load["p50"][j]
        self.pv_p50[i, c] = plan.pv["p50"][j]
        self.pv_potential_p50[i, c] = plan.pv_potential_p50[j]
        for q, at in (("p10", plan.reserve_at), ("p50", plan.reserve_at_p50)):
            k = 0 if at is None else round((at - plan.issued).total_seconds() / STEP_S)
            self.reserve_k[q][i] = k if 0 < k <= HORIZON_STEPS else 0
        self.load_methods[plan.load_method] += 1
        self.pv_methods[plan.pv_method] += 1
        self.capacity_wh[i] = plan.battery.capacity_wh
        self.capacity_source = plan.battery.capacity_source
        if i >= _DAY - 1:  # yesterday's measured load and PV, repeated
            past = slice(i + 1 - _DAY, i + 1)
            self.naive[i] = naive_soc(plan.battery, soc0, self.meas_load[past],
                                      self.meas_pv[past], STEP_S)


def run(
    site: Site,
    holder: ModelHolder,
    *,
    start: datetime,
    days: int,
    seed: int,
    policy: Policy,
    grid: GridConfig | None = None,
    config: PlanConfig | None = None,
    observe: Callable[[TruthPeriod], Measured] = measure,
    progress: Callable[[int, int], None] | None = None,
    weather: pd.DataFrame | None = None,
) -> Record:
    """Simulate ``days`` days from ``start`` and record every plan.

    Parameters
    ----------
    site, holder
        The site file and the bundle the device runs.
    start : datetime
        UTC-aware, on the 15-min grid.
    days : int
        Length of the run. [d]
    seed : int
        Seed of the world (sky, load, grid) and of the planner's scenarios.
    policy : Policy
        Acts on each plan (``none``: never).
    grid : GridConfig, optional
        A hybrid site's grid; None is off-grid.
    config : PlanConfig, optional
        Default ``PlanConfig(seed=seed)``.
    observe : callable
        The measurement channel, truth -> :class:`Measured` (default
        :func:`~trainer.yearsim.scenario.measure`); the only way anything of
        the truth reaches the device side.
    progress : callable, optional
        ``progress(done, total)`` once a simulated day.
    weather : pandas.DataFrame, optional
        The truth's weather from a file (:class:`Scenario`'s ``weather``).
    """
    t0 = time.perf_counter()
    config = config or PlanConfig(seed=seed)
    world = Scenario(site, start, seed=seed, grid=grid, weather=weather)
    device = DeviceSide(site, holder, config)
    n = days * _DAY
    rec = Record.empty(start, n, config.reserve_soc)
    for i in range(n):
        truth = world.advance()
        m = observe(truth)
        rec.add_truth(i, truth, m)
        plan = device.step(m)
        rec.plan_cpu_ms.append(device.plan_cpu_ms)
        world.apply(policy.act(plan, m))
        rec.add_plan(i, plan, m.soc)
        if progress is not None and (i + 1) % _DAY == 0:
            progress(i + 1, n)
    rec.wall_s = time.perf_counter() - t0
    return rec

