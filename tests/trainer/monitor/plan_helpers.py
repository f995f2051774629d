"""Real energy plans for the monitor's tests: the device's planner on a small simulated site.

The plans come from :class:`edge.planning.EnergyPlanner` fed a few days of the
planner tests' simulated Abuja site (:mod:`tests.edge.planning.sitesim`), so
their bodies are exactly what a gateway publishes (``EnergyPlan.to_body``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from edge.planning import EnergyPlanner, PlanConfig
from tests.edge.planning.sitesim import START, abuja, simulate
from tests.trainer.monitor.conftest import iso

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


def plan_body(soc: float = 0.6, *, hours_after: float = 18.0, days: int = 3,
              seed: int = 0) -> dict[str, Any]:
    """A plan's fields issued ``hours_after`` the end of ``days`` simulated days (UTC), from
    SOC ``soc`` [-]; 18 h is 19:00 in Abuja, so the plan runs through the night."""
    planner, end = _planner(days, seed)
    issued = end + dt.timedelta(hours=hours_after)
    return planner.plan(issued, soc).to_body()


def plan_message(site: str, gw: str, seq: int, body: dict[str, Any], *,
                 epoch: str | None = None) -> tuple[str, bytes]:
    """A plan message (topic, payload): the envelope around ``body``."""
    from edge.runtime.contract import parse_time
    issued = parse_time(body["issued"])
    assert issued is not None
    msg: dict[str, Any] = {"schema_version": 1, "site_id": site, "device_id": gw,
                           "stream": "plan", "seq": seq, "timestamp": iso(issued), **body}
    if epoch is not None:
        msg["epoch"] = epoch
    return f"helio/{site}/{gw}/plan", json.dumps(msg).encode()
