"""CPU time of one energy-plan update, as the agent's loop runs it (printed in milliseconds).

Run by the aarch64 job inside the emulated device (the installed release's interpreter)
and on this machine: ``python plan_figure.py SITE.toml``. Device-side imports only
(``edge.planning``, ``edge.forecasting.site``, numpy); 28 days of synthetic history
(a household evening peak, a half-sine PV day scaled by a random clear-sky index, a
SOC walk); the daily refresh runs first, off the timing, as it runs on a worker thread
in the agent. Prints ``p50_ms p99_ms n``.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import time

import numpy as np

from edge.forecasting.site import load_site
from edge.planning import EnergyPlanner, PeriodObservation, PlanConfig


def main(site_path: str, n: int = 40) -> None:
    site = load_site(site_path)
    planner = EnergyPlanner(site, PlanConfig())
    rng = np.random.default_rng(1)
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    soc = 0.7
    kt = 0.7
    for k in range(28 * 96):
        end = start + dt.timedelta(minutes=15 * (k + 1))
        hour = (end.hour + end.minute / 60.0 + 1.0) % 24.0  # Abuja is UTC+1
        if k % 96 == 0:
            kt = float(rng.uniform(0.3, 1.0))
        day = 6.5 < hour < 18.5
        pv = max(0.0, 2600.0 * kt * math.sin(math.pi * (hour - 6.5) / 12.0)) if day else 0.0
        peak = 600.0 * math.exp(-0.5 * ((hour - 20.0) / 1.5) ** 2)
        load = 150.0 + peak + float(rng.normal(0, 30))
        soc = min(1.0, max(0.05, soc + (pv - load) * 0.25 / 9600.0))
        planner.observe(PeriodObservation(end, load, pv, soc))
    now = start + dt.timedelta(days=28)
    planner.refresh(now)
    times = []
    for i in range(n):
        t = now + dt.timedelta(minutes=15 * i)
        c0 = time.process_time()
        planner.plan(t, soc, None, refresh=False).to_body()
        times.append(time.process_time() - c0)
    times.sort()
    p50, p99 = times[len(times) // 2], times[int(0.99 * (len(times) - 1))]
    print(round(1e3 * p50, 2), round(1e3 * p99, 2), len(times))  # noqa: T201 - a script


if __name__ == "__main__":
    main(sys.argv[1])
