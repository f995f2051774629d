"""Household AC load of an off-grid home: base load, morning and evening peaks, appliances.

Responsible for: the active power and power factor drawn from the inverter at
any instant, seeded per local calendar day so it is reproducible and does
not depend on the order of queries.

Does NOT: know about the battery or the inverter's limits (the plant cuts
the load when the inverter shuts down).
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from edge.forecasting.site import LoadConfig

__all__ = ["LoadProfile"]

#: (centre local hour, width [h], relative weight) of the daily peaks
_PEAKS = ((7.0, 1.0, 1.0), (13.0, 2.0, 0.35), (20.0, 1.6, 1.8))
_APPLIANCE_RATE = 5.0  # appliance events per day (kettle, iron, pump, microwave)
_APPLIANCE_POWER = (700.0, 2000.0)  # [W]
_APPLIANCE_MINUTES = (3.0, 20.0)


@dataclasses.dataclass(frozen=True, slots=True)
class _LoadDay:
    scale: float  # multiplier on the shape for this day [W]
    events: tuple[tuple[float, float, float], ...]  # (start hour, end hour, power W)


class LoadProfile:
    """Household load at a site.

    Parameters
    ----------
    cfg : LoadConfig
        Mean daily energy [Wh] and always-on base power [W].
    timezone : str
        IANA zone of the site (the peaks follow local clock time).
    seed : int
        Seed; equal seeds give equal load.
    """

    def __init__(self, cfg: LoadConfig, timezone: str, seed: int = 0) -> None:
        self.cfg = cfg
        self.zone = ZoneInfo(timezone)
        self.seed = seed
        self._days: dict[date, _LoadDay] = {}
        lo, hi = _APPLIANCE_POWER
        m0, m1 = _APPLIANCE_MINUTES
        appliance_wh = _APPLIANCE_RATE * 0.5 * (lo + hi) * 0.5 * (m0 + m1) / 60.0
        shape_area = sum(w * width * math.sqrt(2.0 * math.pi) for _, width, w in _PEAKS)
        variable = max(cfg.daily_energy - 24.0 * cfg.base_power - appliance_wh, 0.0)
        self._peak_scale = variable / shape_area

    def _day(self, day: date) -> _LoadDay:
        cached = self._days.get(day)
        if cached is None:
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, day.toordinal(), 0x10AD])
            n = int(rng.poisson(_APPLIANCE_RATE))
            events = []
            for _ in range(n):
                start = float(rng.uniform(6.0, 22.5))
                minutes = float(rng.uniform(*_APPLIANCE_MINUTES))
                events.append(
                    (start, start + minutes / 60.0, float(rng.uniform(*_APPLIANCE_POWER)))
                )
            cached = _LoadDay(
                scale=self._peak_scale * float(rng.lognormal(0.0, 0.12)), events=tuple(events)
            )
            if len(self._days) > 4:
                self._days.clear()
            self._days[day] = cached
        return cached

    def power(self, t: datetime) -> float:
        """Active power drawn at instant ``t`` (timezone-aware). [W]"""
        local = t.astimezone(self.zone)
        hour = local.hour + local.minute / 60.0 + local.second / 3600.0
        day = self._day(local.date())
        shape = sum(
            w * math.exp(-0.5 * ((hour - centre) / width) ** 2) for centre, width, w in _PEAKS
        )
        appliances = sum(p for start, end, p in day.events if start <= hour < end)
        fridge = 40.0 if (int(local.timestamp()) // 900) % 3 == 0 else 0.0  # compressor cycles
        return self.cfg.base_power + day.scale * shape + appliances + fridge

    @staticmethod
    def power_factor(power: float) -> float:
        """Load power factor: motors and SMPS at low load, resistive appliances high. [-]"""
        return min(0.97, 0.78 + power / 10000.0)
