"""A small, known truth for the planner's tests and benchmark.

Household load from :class:`edge.simulation.loadprofile.LoadProfile` (period
means of 3-min samples), PV as the site's clear-sky PV (the planner's own
chain) times a seeded daily clear-sky index with some intra-day noise, and a
battery integrated with a capacity and efficiencies the test chooses, so
that what the planner learns can be checked against what was put in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from edge.forecasting.site import Site, load_site
from edge.planning import PeriodObservation
from edge.planning.geometry import ClearSkyCache
from edge.simulation.loadprofile import LoadProfile
from tests.conftest import REPO

STEP = 900
START = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


def abuja() -> Site:
    """The reference site file."""
    return load_site(REPO / "configs/sites/abuja.toml")


@dataclasses.dataclass
class Truth:
    """Per-period truth of a simulated site (arrays over periods)."""

    ends: list[dt.datetime]
    load: np.ndarray  # [W]
    pv_potential: np.ndarray  # [W]
    pv: np.ndarray  # delivered [W]
    soc: np.ndarray  # [-]
    battery_power: np.ndarray  # [W]
    curtailed: np.ndarray
    kt_day: np.ndarray  # per day [-]

    def observations(self, *, soc_step: float = 0.001) -> list[PeriodObservation]:
        """As the planner would see them (SOC quantised to ``soc_step``)."""
        return [
            PeriodObservation(end=t, load_power=float(self.load[i]), pv_power=float(self.pv[i]),
                              soc=round(float(self.soc[i]) / soc_step) * soc_step,
                              battery_power=float(self.battery_power[i]),
                              curtailed=bool(self.curtailed[i]))
            for i, t in enumerate(self.ends)
        ]


def simulate(site: Site, days: int, *, start: dt.datetime = START, seed: int = 0,
             capacity_wh: float | None = None, charge_efficiency: float = 0.92,
             self_consumption_w: float = 50.0, inverter_efficiency: float = 0.93,
             soc0: float = 0.7, kt_mean: float = 0.7, kt_sd: float = 0.18,
             load_scale: float = 1.0) -> Truth:
    """Simulate ``days`` days at 15-min periods from ``start`` (a UTC midnight)."""
    rng = np.random.default_rng(seed)
    per = 86400 // STEP
    n = days * per
    k0 = int(start.timestamp()) // STEP + 1
    clear, _ = ClearSkyCache(site, STEP, keep_days=days + 2).get(k0, n)
    kt_day = np.clip(rng.normal(kt_mean, kt_sd, days), 0.1, 1.05)
    noise = np.clip(1.0 + 0.1 * rng.standard_normal(n), 0.5, 1.3)
    pot = np.minimum(clear * np.repeat(kt_day, per) * noise, site.array.ac_limit)
    profile = LoadProfile(site.load, site.site.timezone, seed=seed)
    ends = [start + dt.timedelta(seconds=STEP * (i + 1)) for i in range(n)]
    load = np.array([
        load_scale * np.mean([profile.power(t - dt.timedelta(seconds=STEP - 90 - 180 * j))
                              for j in range(5)])
        for t in ends])
    cap = capacity_wh if capacity_wh is not None else (
        site.battery.nominal_voltage * site.battery.capacity)
    soc = np.empty(n)
    pv = np.empty(n)
    bp = np.empty(n)
    cut = np.zeros(n, dtype=bool)
    s = soc0
    dt_h = STEP / 3600.0
    pmax, taper = site.array.ac_limit, 0.85
    for i in range(n):
        demand = load[i] / inverter_efficiency + self_consumption_w
        acc = pmax * min(max((1.0 - s) / (1.0 - taper), 0.0), 1.0)
        room = (1.0 - s) * cap / (charge_efficiency * dt_h)
        take = min(pot[i], demand + min(acc, room))
        cut[i] = take < pot[i] - 1.0
        net = max(take - demand, -s * cap / dt_h)
        s = min(max(s + (net * charge_efficiency if net > 0 else net) * dt_h / cap, 0.0), 1.0)
        soc[i], pv[i], bp[i] = s, take, net
    return Truth(ends, load, pot, pv, soc, bp, cut, kt_day)
