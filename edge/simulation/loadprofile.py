"""Household AC load of a Nigerian home: daily shape, week, day-to-day level, appliances.

Responsible for: the active power and power factor drawn from the inverter at
any instant, and its mean over periods (:meth:`LoadProfile.period_means`,
for the year simulation), reproducible from a seed and independent of the
order of queries. The pieces:

- a daily shape: an always-on base (fridge, router, security light), a
  morning peak, a low midday (higher at weekends, when people are home) and
  the evening peak after dark (lighting, TV, fans), the largest of the day;
- a weekly pattern: Saturday and Sunday use more energy and later mornings;
- a day-to-day level: a log-normal AR(1) process on the daily scale
  (persistent multi-day changes: guests, travel, a hot spell), mean one;
- occasional large appliances as Poisson events with their own hours:
  water pump, pressing iron, washing machine, air conditioner (mostly in the
  hot months), and short kitchen loads (kettle, microwave, blender).

The site file's ``[load] daily_energy`` stays the mean energy per day: the
shape of each day is scaled to that day's target energy after the base and
the *expected* appliance energy, so the long-run mean is ``daily_energy``
(the appliances only add variance).

Sources: the shape (evening peak as the largest, low midday use on
weekdays, weekend days different) follows the time-of-use based household
profiles for Abuja in D. Oluwole, A. Collin, H. van der Weijde, A. Kiprakis,
G. Harrison, "A Bottom-Up Weather-Sensitive Residential Demand Model for
Developing Countries. A Case Study of Abuja, Nigeria", 2020
(https://www.research.ed.ac.uk/en/publications/a-bottom-up-weather-sensitive-residential-demand-model-for-develo),
and the appliance list follows the household appliance-ownership data of
"Estimating Residential Electricity Consumption in Nigeria to Support Energy
Transitions", Sustainability 10(5) 1440, 2018
(https://doi.org/10.3390/su10051440). The numbers below (peak times and
widths, weekend factors, AR(1) coefficients, appliance powers, durations and
rates) are this project's assumptions, not values taken from those papers.

Does NOT: know about the battery or the inverter's limits (the plant cuts
the load when the inverter shuts down).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from edge.forecasting.site import LoadConfig

__all__ = ["APPLIANCES", "Appliance", "LoadProfile"]

# Assumptions (see the module docstring): (centre local hour, width [h], weight [-])
_WEEKDAY_PEAKS = ((6.8, 0.9, 1.0), (13.0, 2.0, 0.25), (20.3, 1.5, 2.6))
_WEEKEND_PEAKS = ((8.3, 1.3, 1.0), (13.5, 2.5, 0.7), (20.3, 1.6, 2.6))
#: energy of a day relative to the week's mean, Monday first [-]
_WEEK = (0.96, 0.95, 0.95, 0.96, 0.98, 1.10, 1.10)
_AR_PHI = 0.8  # day-to-day persistence of the log level [-]
_AR_SIGMA = 0.15  # stationary standard deviation of the log level [-]
_AR_MEMORY = 40  # days of innovations summed (0.8**40 ~ 1e-4)
_FRIDGE_W = 40.0  # compressor on one period in three [W]
_FRIDGE_MEAN_W = _FRIDGE_W / 3.0
_HOT_MONTHS = frozenset({3, 4, 5})  # Abuja's hottest months, before the rains


@dataclasses.dataclass(frozen=True, slots=True)
class Appliance:
    """A large or occasional appliance, switched on as Poisson events.

    Attributes
    ----------
    name : str
    power : tuple of float
        Uniform range of its draw. [W]
    minutes : tuple of float
        Uniform range of one use. [min]
    weekday_rate, weekend_rate : float
        Mean uses per day. [1/day]
    hours : tuple of float
        Uniform range of local start hours. [h]
    hot_rate : float
        Mean uses per day in the hot months (replaces the weekday and
        weekend rates there when > 0). [1/day]
    """

    name: str
    power: tuple[float, float]
    minutes: tuple[float, float]
    weekday_rate: float
    weekend_rate: float
    hours: tuple[float, float]
    hot_rate: float = 0.0

    def rate(self, day: date) -> float:
        """Expected uses on local ``day``. [1/day]"""
        if self.hot_rate > 0.0 and day.month in _HOT_MONTHS:
            return self.hot_rate
        return self.weekend_rate if day.weekday() >= 5 else self.weekday_rate

    def mean_energy(self) -> float:
        """Expected energy of one use. [Wh]"""
        return 0.5 * sum(self.power) * 0.5 * sum(self.minutes) / 60.0


#: The appliances of a middle-income Abuja home on a 3 kWp / 5 kVA system
#: (assumptions; see the module docstring).
APPLIANCES: tuple[Appliance, ...] = (
    Appliance("kitchen", (600.0, 1800.0), (3.0, 10.0), 2.0, 2.5, (6.0, 21.5)),
    Appliance("water_pump", (750.0, 1100.0), (20.0, 40.0), 0.5, 0.6, (6.0, 18.5)),
    Appliance("pressing_iron", (1000.0, 1400.0), (15.0, 40.0), 0.25, 0.7, (6.0, 21.0)),
    Appliance("washing_machine", (400.0, 700.0), (60.0, 90.0), 0.1, 0.6, (8.0, 16.0)),
    Appliance("air_conditioner", (900.0, 1300.0), (90.0, 240.0), 0.03, 0.08, (13.0, 22.0),
              hot_rate=0.25),
)


@dataclasses.dataclass(frozen=True, slots=True)
class _LoadDay:
    scale: float  # multiplier on the day's shape [W]
    peaks: tuple[tuple[float, float, float], ...]
    events: tuple[tuple[float, float, float], ...]  # (start hour, end hour, power W)


def _shape_area(peaks: Sequence[tuple[float, float, float]]) -> float:
    """Integral of the Gaussian peaks over the day. [h]"""
    return sum(w * width * math.sqrt(2.0 * math.pi) for _, width, w in peaks)


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
    appliances : sequence of Appliance
        The occasional appliances (default :data:`APPLIANCES`).
    """

    def __init__(
        self,
        cfg: LoadConfig,
        timezone: str,
        seed: int = 0,
        appliances: Sequence[Appliance] = APPLIANCES,
    ) -> None:
        self.cfg = cfg
        self.zone = ZoneInfo(timezone)
        self.seed = seed
        self.appliances = tuple(appliances)
        self._days: dict[date, _LoadDay] = {}
        self._innovations: dict[int, float] = {}

    # ------------------------------------------------------------ the day
    def _innovation(self, ordinal: int) -> float:
        value = self._innovations.get(ordinal)
        if value is None:
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, ordinal, 0xA1])
            value = float(rng.standard_normal())
            if len(self._innovations) > 4 * _AR_MEMORY:
                self._innovations.clear()
            self._innovations[ordinal] = value
        return value

    def level(self, day: date) -> float:
        """Day-to-day level of local ``day`` (log-normal AR(1), mean 1). [-]

        The AR(1) ``x_d = phi x_(d-1) + sqrt(1 - phi^2) sigma e_d`` written as
        its moving-average sum over the last ``_AR_MEMORY`` days, so each day
        is computed on its own.
        """
        d = day.toordinal()
        scale = math.sqrt(1.0 - _AR_PHI**2) * _AR_SIGMA
        x = scale * sum(_AR_PHI**k * self._innovation(d - k) for k in range(_AR_MEMORY))
        return math.exp(x - 0.5 * _AR_SIGMA**2)

    def expected_energy(self, day: date) -> float:
        """Expected energy of local ``day`` before its level and appliance draws. [Wh]"""
        return self.cfg.daily_energy * _WEEK[day.weekday()] / (sum(_WEEK) / 7.0)

    def _day(self, day: date) -> _LoadDay:
        cached = self._days.get(day)
        if cached is not None:
            return cached
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, day.toordinal(), 0x10AD])
        events = []
        appliance_wh = 0.0
        for appliance in self.appliances:
            rate = appliance.rate(day)
            appliance_wh += rate * appliance.mean_energy()
            for _ in range(int(rng.poisson(rate))):
                start = float(rng.uniform(*appliance.hours))
                minutes = float(rng.uniform(*appliance.minutes))
                events.append((start, start + minutes / 60.0, float(rng.uniform(*appliance.power))))
        peaks = _WEEKEND_PEAKS if day.weekday() >= 5 else _WEEKDAY_PEAKS
        always_on = 24.0 * (self.cfg.base_power + _FRIDGE_MEAN_W)
        target = self.expected_energy(day) * self.level(day)
        variable = max(target - always_on - appliance_wh, 0.0)
        cached = _LoadDay(scale=variable / _shape_area(peaks), peaks=peaks, events=tuple(events))
        if len(self._days) > 8:
            self._days.clear()
        self._days[day] = cached
        return cached

    def _at_hours(self, day: date, hours: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Power at local ``hours`` of ``day``, without the fridge. [W]"""
        d = self._day(day)
        out = np.full(hours.shape, self.cfg.base_power)
        for centre, width, w in d.peaks:
            out += d.scale * w * np.exp(-0.5 * ((hours - centre) / width) ** 2)
        for start, end, p in d.events:
            out += np.where((hours >= start) & (hours < end), p, 0.0)
        return out

    # ------------------------------------------------------------- public
    def power(self, t: datetime) -> float:
        """Active power drawn at instant ``t`` (timezone-aware). [W]"""
        local = t.astimezone(self.zone)
        hour = local.hour + local.minute / 60.0 + local.second / 3600.0
        fridge = _FRIDGE_W if (int(local.timestamp()) // 900) % 3 == 0 else 0.0
        return float(self._at_hours(local.date(), np.array([hour]))[0]) + fridge

    def period_means(
        self, start: datetime, periods: int, step_s: int = 900, samples: int = 15
    ) -> npt.NDArray[np.float64]:
        """Mean power of ``periods`` periods ``(t - step, t]`` after ``start``. [W]

        Each mean is over ``samples`` instants evenly inside the period (one
        a minute for 15-min periods). ``start`` is the start of the first
        period (UTC-aware). The zone's UTC offset at ``start`` holds
        throughout: exact for zones without daylight saving time (Africa/Lagos).
        """
        dt = step_s / samples
        offsets = (np.arange(periods * samples) + 0.5) * dt
        epoch = start.astimezone(UTC).timestamp() + offsets
        out = np.empty(offsets.size)
        utc_offset = start.astimezone(self.zone).utcoffset() or timedelta(0)
        local = epoch + utc_offset.total_seconds()
        days = np.floor(local / 86400.0).astype(np.int64)
        hours = (local - days * 86400.0) / 3600.0
        epoch0 = date(1970, 1, 1).toordinal()
        for key in np.unique(days):
            sel = days == key
            out[sel] = self._at_hours(date.fromordinal(int(key) + epoch0), hours[sel])
        fridge = np.where((np.floor(epoch).astype(np.int64) // 900) % 3 == 0, _FRIDGE_W, 0.0)
        return np.asarray((out + fridge).reshape(periods, samples).mean(axis=1))

    @staticmethod
    def power_factor(power: float) -> float:
        """Load power factor: motors and SMPS at low load, resistive appliances high. [-]"""
        return min(0.97, 0.78 + power / 10000.0)
