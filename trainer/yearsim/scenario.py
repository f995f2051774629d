"""The simulated world of the year simulation: truth, and what the devices measure.

Responsible for: running the project's own site model (sky and clouds,
PV chain, MPPT charger with bulk/absorption/float and curtailment, battery,
inverter with its low-voltage cut-off, household load, optional grid) in
15-minute periods, and splitting each period into

- :class:`TruthPeriod`: what really happened (for scoring only), and
- :class:`Measured`: what the site's devices report, the only thing the
  device side is given (:func:`measure`).

The sky is the project's stochastic model, or a weather file's hours
(``weather=``, :class:`edge.simulation.sky.WeatherFileSky`). The plant is
:class:`edge.simulation.plant.Plant` itself, integrated with a
60 s step (the demo uses 10 s; the battery, charger and inverter physics are
the same code), sampled once a minute for the period means.

Does NOT: forecast, plan or score (:mod:`.runner`, :mod:`.report`).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pandas as pd

from edge.forecasting.engine import CURTAILED_STATES
from edge.forecasting.site import Site
from edge.simulation.grid import GridConfig, GridProcess
from edge.simulation.plant import Plant

__all__ = ["NO_ACTION", "STEP_S", "Action", "Measured", "Scenario", "TruthPeriod", "measure"]

STEP_S = 900  # the plan step and the bundle's step [s]
_SAMPLE_S = 60  # plant sample interval inside a period [s]
_CC_EFFICIENCY = 0.97  # as edge.simulation.plant: DC array power -> charger output


@dataclasses.dataclass(frozen=True, slots=True)
class TruthPeriod:
    """What happened in one 15-min period (means over ``(end - 15 min, end]``).

    Attributes
    ----------
    end : datetime
        Period end (UTC).
    load_power : float
        AC load served. [W]
    pv_power : float
        Delivered PV (charger input). [W]
    pv_potential : float
        What the array could have delivered without curtailment (DC array
        power up to the charger's limit). [W]
    soc : float
        State of charge at the period end. [-]
    battery_power : float
        Mean battery power, + charging. [W]
    grid_share : float
        Share of the period with grid supply (0 off-grid). [-]
    charge_state : str
        Charger stage at the period end.
    """

    end: datetime
    load_power: float
    pv_power: float
    pv_potential: float
    soc: float
    battery_power: float
    grid_share: float
    charge_state: str


@dataclasses.dataclass(frozen=True, slots=True)
class Measured:
    """One period as the site's devices report it (the device side's only input).

    The readings a BMV/MPPT/inverter give: powers in whole watts, SOC in
    steps of 0.1 % (the BMV's resolution), the charger stage at the period end.

    Attributes
    ----------
    end : datetime
        Period end (UTC).
    load_power : float
        Inverter AC output power. [W]
    pv_power : float
        Charger PV input power. [W]
    soc : float
        Battery state of charge at the period end. [-]
    battery_power : float
        + charging. [W]
    charge_state : str
        Charger stage (``bulk``, ``absorption``, ``float``, ``off``).
    """

    end: datetime
    load_power: float
    pv_power: float
    soc: float
    battery_power: float
    charge_state: str

    @property
    def curtailed(self) -> bool:
        """The charger limited PV at the period end (as the agent judges it)."""
        return self.charge_state in CURTAILED_STATES


@dataclasses.dataclass(frozen=True, slots=True)
class Action:
    """What a policy asks of the plant for the next period (nothing yet).

    The control work adds its fields (generator start, grid charging, load
    shedding) and :meth:`Scenario.apply` carries them out.
    """


#: The only action there is so far.
NO_ACTION = Action()


def measure(truth: TruthPeriod) -> Measured:
    """The measurement channel: what the devices report of ``truth``."""
    return Measured(
        end=truth.end,
        load_power=float(round(truth.load_power)),
        pv_power=float(round(truth.pv_power)),
        soc=round(truth.soc, 3),
        battery_power=float(round(truth.battery_power)),
        charge_state=truth.charge_state,
    )


class Scenario:
    """The site's plant in simulated time, advanced one 15-min period at a time.

    Parameters
    ----------
    site : Site
        The site file.
    start : datetime
        Start (UTC-aware, on the 15-min grid).
    seed : int
        Seed of the sky, load and grid processes.
    soc : float
        Initial state of charge. [-]
    grid : GridConfig, optional
        Grid availability of a hybrid site; None (default) is off-grid.
    weather : pandas.DataFrame, optional
        Irradiance and air temperature from a weather file
        (:func:`trainer.yearsim.weather.load_file_weather`) instead of the
        sky model; ``site`` must then be at the file's location.
    """

    def __init__(
        self,
        site: Site,
        start: datetime,
        *,
        seed: int = 0,
        soc: float = 0.8,
        grid: GridConfig | None = None,
        weather: pd.DataFrame | None = None,
    ) -> None:
        if start.tzinfo is None or start.timestamp() % STEP_S:
            raise ValueError("start must be timezone-aware and on the 15-min grid")
        self.site = site
        process = GridProcess(grid, start, seed) if grid is not None else None
        self.grid = process
        self.plant = Plant(site, seed=seed, start=start.astimezone(UTC), speed=0.0, soc=soc,
                           grid=process, max_step=float(_SAMPLE_S), weather=weather)
        self.now = start.astimezone(UTC)
        self._limit = site.array.ac_limit / _CC_EFFICIENCY  # largest charger input [W]

    def advance(self) -> TruthPeriod:
        """Run the next period and return what happened in it."""
        n = STEP_S // _SAMPLE_S
        load = pv = potential = battery = grid = 0.0
        state = None
        for _ in range(n):
            state = self.plant.advance(_SAMPLE_S)
            load += state.load_power
            pv += state.pv_power
            potential += min(state.pv_available, self._limit)
            battery += state.battery_current * state.battery_voltage
            if self.grid is not None:
                grid += float(self.grid.available(state.time))
        assert state is not None
        self.now += timedelta(seconds=STEP_S)
        return TruthPeriod(
            end=self.now,
            load_power=load / n,
            pv_power=pv / n,
            pv_potential=potential / n,
            soc=state.battery_soc / 100.0,
            battery_power=battery / n,
            grid_share=grid / n,
            charge_state=state.charge_state,
        )

    def apply(self, action: Action) -> None:
        """Carry out a policy's action on the plant (none exist yet: only "no action")."""
        if action != NO_ACTION:
            raise NotImplementedError(f"the plant cannot carry out {action!r} yet")

