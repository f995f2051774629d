"""Real energy plans for the monitor's tests: the device's planner on a small simulated site.

The plans come from :class:`edge.planning.EnergyPlanner` fed a few days of the
planner tests' simulated Abuja site (:mod:`tests.edge.planning.sitesim`), so
their bodies are exactly what a gateway publishes (``EnergyPlan.to_body``).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from edge.planning import EnergyPlan, EnergyPlanner, PlanConfig
from edge.runtime import messages
from edge.runtime.contract import Topics
from tests.edge.planning.sitesim import START, abuja, simulate

#: the reserve of the test plans [-]
RESERVE = 0.3


@functools.cache
def _planner(days: int, seed: int) -> tuple[EnergyPlanner, dt.datetime]:
    site = abuja()
    truth = simulate(site, days, seed=seed)
    planner = EnergyPlanner(site, PlanConfig(reserve_soc=RESERVE, scenarios=100))
    for obs in truth.observations():
        planner.observe(obs)
    return planner, START + dt.timedelta(days=days)


def make_plan(soc: float = 0.6, *, hours_after: float = 18.0, days: int = 3,
              seed: int = 0) -> EnergyPlan:
    """A plan issued ``hours_after`` the end of ``days`` simulated days (UTC), from SOC
    ``soc`` [-]; 18 h is 19:00 in Abuja, so the plan runs through the night."""
    planner, end = _planner(days, seed)
    return planner.plan(end + dt.timedelta(hours=hours_after), soc)


def plan_body(soc: float = 0.6, **kw: Any) -> dict[str, Any]:
    """The plan fields of :func:`make_plan` (what ``EnergyPlan.to_body`` gives)."""
    return make_plan(soc, **kw).to_body()


def plan_message(site: str, gw: str, seq: int, plan: EnergyPlan, *,
                 epoch: str = "") -> tuple[str, bytes]:
    """The device's plan message (topic, payload), through ``messages.plan_message``."""
    msg = messages.plan_message(Topics(site, gw), plan)
    return msg.topic, msg.encode(seq, epoch)
