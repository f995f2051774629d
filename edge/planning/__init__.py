"""The site's energy plan: battery SOC over the next day from forecasts and the site's own history.

Holds: measured-period history (``history``), clear-sky PV on the plan grid
(``geometry``), the load forecast and its walk-forward selection
(``load``), PV past the bundle's horizons (``pv``), the battery learned
from the site (``battery``), the scenario propagation and the plan
(``plan``), and :class:`EnergyPlanner` (``planner``). Sans-IO: no clock, no
files, no logging; runs on the Pi inside the forecast cycle.

Must not import: ``edge.runtime``, ``edge.deploy``, ``edge.demo``,
``edge.simulation``, ``trainer``, TensorFlow, pandas, pvlib, scipy (it uses
the PV chain through ``edge.forecasting``).
"""

from edge.planning.battery import BatteryEstimate
from edge.planning.history import PeriodObservation
from edge.planning.plan import EnergyPlan
from edge.planning.planner import EnergyPlanner, PlanConfig

__all__ = ["BatteryEstimate", "EnergyPlan", "EnergyPlanner", "PeriodObservation", "PlanConfig"]
