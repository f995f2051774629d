"""Real energy plans for the monitor's tests: the device's planner on a small simulated site.

The plans come from :class:`edge.planning.EnergyPlanner` fed a few days of the
planner tests' simulated Abuja site (:mod:`tests.edge.planning.sitesim`), so
their bodies are exactly what a gateway publishes (``EnergyPlan.to_body``).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from edge.planning import EnergyPlan, EnergyPlanner, PlanConfig
from edge.runtime import messages
from edge.runtime.contract import Topics
from tests.edge.planning.sitesim import START, abuja, simulate
from tests.trainer.monitor.conftest import reading
from trainer.monitor.ingest import parse_message
from trainer.monitor.store import FleetMessage, Store

#: the reserve of the test plans [-]
RESERVE = 0.3
#: the site of :func:`write_site`
SITE = "s1"
STEP = 900.0


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


def write_site(store: Store, plan: EnergyPlan, soc: Callable[[float], float | None],
               load: Callable[[float], float], *, until: float | None = None) -> None:
    """The plan, then one BMV SOC [%] (with battery power) and one inverter AC load [W]
    reading per period end from 25 h before the issue to ``until`` (default: 1 h past the
    horizon)."""
    issued = plan.issued.timestamp()
    end = until if until is not None else plan.times[-1].timestamp() + 3600.0
    msgs: list[FleetMessage | None] = [parse_message(
        *plan_message(SITE, "gateway", 1, plan, epoch="e"), issued + 1)]
    for i, t in enumerate(np.arange(issued - 25 * 3600.0, end + 1, STEP)):
        s = soc(float(t))
        if s is not None:
            msgs.append(parse_message(*reading(SITE, "bmv", i + 1, t, battery_soc=100 * s,
                                               battery_power=-100.0), t))
        msgs.append(parse_message(*reading(SITE, "inverter", i + 1, t,
                                           ac_output_power=load(float(t))), t))
    assert store.write_batch([m for m in msgs if m is not None]).rejected == 0
