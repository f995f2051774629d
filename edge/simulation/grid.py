"""Grid availability of a hybrid site: alternating supply and outage spells.

Responsible for: a seeded random process of supply and outage spells (an
alternating renewal process with gamma-distributed spell lengths) whose
long-run share of supply is the configured hours of supply per day, and
whether the grid is up at any instant after the process start.

Abuja defaults (:data:`ABUJA_GRID`): the National Bureau of Statistics'
General Household Survey Panel, Wave 5 (with the World Bank, 2024), found
urban households see 6.4 outages a week lasting 12.0 h on average, with the
northern zones (Abuja is in the north-central zone) under 11 h
(reported in "Nigerians experience electricity blackouts six times weekly",
News Central, https://newscentral.africa/nigerians-experience-electricity-blackouts-six-times-weekly).
6.4 outages of 11 h a week leave 97.6 h of supply: 13.9 h a day, just under
the 16 h a day NERC's service-based tariff promises Band B feeders (Band A
20 h; NERC vice-chairman M. Oseni on Channels TV, 2024-04-04,
https://www.channelstv.com/2024/04/04/video-what-to-know-about-electricity-service-bands-nerc/).
The spread of the spell lengths (the gamma shape) is an assumption.

An off-grid site (the reference ``configs/sites/abuja.toml``) has no grid:
it simply has no :class:`GridProcess`.

Does NOT: model voltage, frequency or brown-outs; decide what the inverter
does with the grid (:mod:`.plant` does).
"""

from __future__ import annotations

import bisect
import dataclasses
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

__all__ = ["ABUJA_GRID", "GridConfig", "GridProcess"]


@dataclasses.dataclass(frozen=True, slots=True)
class GridConfig:
    """Parameters of the supply/outage process.

    Attributes
    ----------
    supply_hours : float
        Long-run mean hours of supply per day, in (0, 24). [h]
    mean_outage_hours : float
        Mean length of one outage. [h]
    shape : float
        Gamma shape of both spell lengths (1 = exponential; larger is more
        regular). [-]
    """

    supply_hours: float = 13.9
    mean_outage_hours: float = 11.0
    shape: float = 1.5

    def __post_init__(self) -> None:
        if not 0.0 < self.supply_hours < 24.0:
            raise ValueError("supply_hours must be within (0, 24)")
        if self.mean_outage_hours <= 0.0 or self.shape <= 0.0:
            raise ValueError("mean_outage_hours and shape must be positive")

    @property
    def mean_supply_hours(self) -> float:
        """Mean length of one supply spell, from the share of supply. [h]"""
        return self.mean_outage_hours * self.supply_hours / (24.0 - self.supply_hours)


#: Abuja (hybrid homes on the AEDC network); sources in the module docstring.
ABUJA_GRID = GridConfig(supply_hours=13.9, mean_outage_hours=11.0, shape=1.5)


class GridProcess:
    """Supply and outage spells from ``start`` on, reproducible from ``seed``.

    Parameters
    ----------
    cfg : GridConfig
        Hours of supply per day and outage lengths.
    start : datetime
        Start of the process (UTC-aware); it starts in a spell drawn with the
        long-run probabilities.
    seed : int
        Seed; equal seeds give equal spells.
    """

    def __init__(self, cfg: GridConfig, start: datetime, seed: int = 0) -> None:
        self.cfg = cfg
        self._start = start.astimezone(UTC).timestamp()
        self._rng = np.random.default_rng([seed & 0xFFFFFFFF, 0x6121D])
        self._up0 = bool(self._rng.uniform() < cfg.supply_hours / 24.0)
        self._edges = [self._start]  # spell i covers [edges[i], edges[i + 1])

    def _extend(self, until: float) -> None:
        cfg = self.cfg
        while self._edges[-1] <= until:
            up = self._up0 == (len(self._edges) % 2 == 1)
            mean = cfg.mean_supply_hours if up else cfg.mean_outage_hours
            hours = float(self._rng.gamma(cfg.shape, mean / cfg.shape))
            self._edges.append(self._edges[-1] + max(hours, 1.0 / 60.0) * 3600.0)

    def available(self, t: datetime) -> bool:
        """Whether the grid supplies at instant ``t`` (not before the start)."""
        epoch = t.astimezone(UTC).timestamp()
        if epoch < self._start:
            raise ValueError("t is before the start of the grid process")
        self._extend(epoch)
        i = bisect.bisect_right(self._edges, epoch) - 1
        return self._up0 == (i % 2 == 0)

    def share(self, start: datetime, periods: int, step_s: int = 900) -> npt.NDArray[np.float64]:
        """Share of each period ``(t - step, t]`` after ``start`` with supply. [-]"""
        t0 = start.astimezone(UTC).timestamp()
        if t0 < self._start:
            raise ValueError("start is before the start of the grid process")
        t1 = t0 + periods * step_s
        self._extend(t1)
        edges = np.asarray(self._edges)
        up = np.array([self._up0 == (i % 2 == 0) for i in range(edges.size)])
        grid = t0 + np.arange(periods + 1) * float(step_s)
        # supplied seconds since the process start at each grid point
        spell = np.diff(edges) * up[:-1]
        cum = np.concatenate([[0.0], np.cumsum(spell)])
        i = np.searchsorted(edges, grid, side="right") - 1
        inside = np.where(up[i], grid - edges[i], 0.0)
        supplied = cum[i] + inside
        return np.asarray(np.diff(supplied) / step_s)
