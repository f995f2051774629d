"""What a simulated device needs of the site it pretends to sit in.

Responsible for: :class:`PlantState`, a snapshot of the site's electrical
state in canonical reading names and SI units; :class:`PlantRatings`, the
nameplate values a device reports as settings; and :class:`PlantSource`, the
small interface the byte-level simulators are driven through.

Does NOT: model anything. The physical model of a site (sky, PV array,
battery, inverter, household load) lives in :mod:`edge.simulation`, which
implements :class:`PlantSource`; tests may pass anything of that shape.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Protocol

__all__ = ["PlantRatings", "PlantSource", "PlantState"]


@dataclasses.dataclass(frozen=True, slots=True)
class PlantRatings:
    """Nameplate values of the site's equipment, as devices report them.

    Attributes
    ----------
    array_dc_capacity : float
        PV array DC rating at STC. [W]
    charger_output_limit : float
        Largest output of the charge controller. [W]
    battery_nominal_voltage : float
        [V]
    battery_capacity : float
        [Ah]
    battery_absorption_voltage, battery_float_voltage : float
        Charge set points. [V]
    inverter_rated_power : float
        [W]
    inverter_rated_apparent_power : float
        [VA]
    inverter_output_voltage : float
        [V]
    inverter_output_frequency : float
        [Hz]
    """

    array_dc_capacity: float
    charger_output_limit: float
    battery_nominal_voltage: float
    battery_capacity: float
    battery_absorption_voltage: float
    battery_float_voltage: float
    inverter_rated_power: float
    inverter_rated_apparent_power: float
    inverter_output_voltage: float
    inverter_output_frequency: float


class PlantSource(Protocol):
    """The site as the simulators see it (thread-safe: one per site, shared)."""

    @property
    def ratings(self) -> PlantRatings:
        """Nameplate values."""
        ...

    def state(self) -> PlantState:
        """The state at the present simulated time."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class PlantState:
    """A snapshot of the site. Units in brackets; canonical names where they exist."""

    time: datetime
    ghi: float  # [W/m²]
    poa_global: float  # [W/m²]
    temp_air: float  # [°C]
    temp_cell: float  # [°C]
    pv_available: float  # DC power the array could give at its MPP [W]
    pv_power: float  # [W]
    pv_voltage: float  # [V]
    pv_current: float  # [A]
    charger_current: float  # charge controller output current [A]
    charge_state: str  # off, bulk, absorption, float
    battery_voltage: float  # [V]
    battery_current: float  # net, + charging [A]
    battery_soc: float  # [%]
    battery_temperature: float  # [°C]
    load_power: float  # AC load [W]
    ac_output_apparent_power: float  # [VA]
    ac_output_voltage: float  # [V]
    ac_output_frequency: float  # [Hz]
    inverter_dc_current: float  # [A]
    inverter_on: bool
    load_percent: float  # [%]
    bus_voltage: float  # [V]
    heatsink_temperature: float  # inverter [°C]
    charger_temperature: float  # charge controller heat sink [°C]
    yield_today: float  # [Wh]
    yield_yesterday: float  # [Wh]
    yield_total: float  # [Wh]
    max_power_today: float  # [W]
    max_power_yesterday: float  # [W]
    consumed_today: float  # inverter AC energy today [Wh]
    consumed_total: float  # [Wh]
    day_sequence: int  # days since the plant started (VE.Direct HSDS)
    curtailed: float  # PV power not taken because the battery is full [W]

    def charger_values(self) -> dict[str, float | int | str]:
        """Canonical readings of the MPPT charge controller."""
        return {
            "battery_voltage": self.battery_voltage,
            "battery_current": self.charger_current,
            "pv_voltage": self.pv_voltage,
            "pv_current": self.pv_current,
            "pv_power": self.pv_power,
            "load_current": 0.0,
            "load_power": 0.0,
            "charge_state": self.charge_state,
            "error_code": 0,
            "yield_today": self.yield_today,
            "yield_total": self.yield_total,
            "max_power_today": self.max_power_today,
            "battery_soc": self.battery_soc,
            "battery_temperature": self.battery_temperature,
            "heatsink_temperature": self.charger_temperature,
        }

    def inverter_values(self) -> dict[str, float | int | str]:
        """Canonical readings of the PI30 hybrid inverter (no grid connected)."""
        on = self.inverter_on
        return {
            "grid_voltage": 0.0,
            "grid_frequency": 0.0,
            "ac_output_voltage": self.ac_output_voltage if on else 0.0,
            "ac_output_frequency": self.ac_output_frequency if on else 0.0,
            "ac_output_apparent_power": self.ac_output_apparent_power,
            "ac_output_power": self.load_power,
            "load_percent": self.load_percent,
            "bus_voltage": self.bus_voltage,
            "battery_voltage": self.battery_voltage,
            "battery_charge_current": max(self.battery_current, 0.0),
            "battery_discharge_current": max(-self.battery_current, 0.0),
            "battery_soc": self.battery_soc,
            "heatsink_temperature": self.heatsink_temperature,
            "pv_current": 0.0,
            "pv_voltage": 0.0,
            "pv_power": 0.0,
            "inverter_mode": "battery" if on else "standby",
        }
