"""The one vocabulary of readings, and the :class:`Reading` record.

Responsible for: the names, units and meanings of every quantity the bridge
emits (:data:`QUANTITIES`), and the immutable :class:`Reading` that carries them
with a device id and a UTC timestamp. Vendor labels never appear here; protocol
modules map their labels onto these names in their field tables.

Does NOT: convert units, parse bytes, or know about any protocol.

Kinds
-----
``numeric``  int or float in the SI unit given (booleans are 0/1 with unit "").
``enum``     one lower-case name from :attr:`Quantity.choices`.
``flags``    comma-separated lower-case names (empty string when none are set).
``text``     free text copied from the device (serial numbers, firmware).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

from firmware_bridge.timestamps import isoformat_z

__all__ = [
    "CHARGE_STATES",
    "DEVICE_STATUSES",
    "INVERTER_MODES",
    "QUANTITIES",
    "Quantity",
    "Reading",
    "Value",
    "check_values",
    "unknown_names",
]

#: A reading value: a number in SI units, or an enum/flags/text string.
Value = float | int | str

Kind = Literal["numeric", "enum", "flags", "text"]

#: charge_state names (Victron CS codes, EPEver charging status, plus generic ones).
CHARGE_STATES: tuple[str, ...] = (
    "off", "low_power", "fault", "bulk", "absorption", "float", "storage", "equalize",
    "inverting", "power_supply", "starting_up", "repeated_absorption", "recondition",
    "battery_safe", "external_control",
)

#: inverter_mode names (PI30 QMOD letters and Victron Phoenix MODE values).
INVERTER_MODES: tuple[str, ...] = (
    "power_on", "standby", "line", "battery", "fault", "power_saving", "bypass",
    "charger", "inverter", "off", "eco", "hibernate",
)

#: device_status names (run-state registers of Modbus inverters).
DEVICE_STATUSES: tuple[str, ...] = (
    "standby", "self_test", "normal", "alarm", "fault", "discharging", "pv_charging",
    "ac_charging", "pv_and_ac_charging", "pv_and_ac_charging_bypass", "pv_charging_bypass",
    "ac_charging_bypass", "bypass", "pv_charging_discharging",
)


@dataclass(frozen=True, slots=True)
class Quantity:
    """One named quantity of the vocabulary.

    Attributes
    ----------
    name : str
        snake_case name used as the key in :attr:`Reading.values`.
    unit : str
        SI unit (``V``, ``A``, ``W``, ``Wh``, ``VA``, ``Hz``, ``%``, ``degC``) or "".
    description : str
        One line, as in the pvlib glossary.
    kind : {'numeric', 'enum', 'flags', 'text'}
        How the value is represented (see module docstring).
    choices : tuple of str
        Allowed names for ``enum`` quantities (empty otherwise).
    """

    name: str
    unit: str
    description: str
    kind: Kind = "numeric"
    choices: tuple[str, ...] = ()


def _q(name: str, unit: str, description: str, kind: Kind = "numeric",
       choices: Iterable[str] = ()) -> tuple[str, Quantity]:
    return name, Quantity(name, unit, description, kind, tuple(choices))


_CHARGING_SOURCES = ("none", "solar", "grid", "solar_and_grid")

QUANTITIES: Mapping[str, Quantity] = MappingProxyType(dict([
    # DC side: battery, PV, load
    _q("battery_voltage", "V", "Battery (main) voltage."),
    _q("battery_current", "A", "Net battery current, positive when charging."),
    _q("battery_charge_current", "A", "Battery charging current (not negative)."),
    _q("battery_discharge_current", "A", "Battery discharging current (not negative)."),
    _q("battery_charge_power", "W", "Power delivered to the battery by the charger."),
    _q("battery_soc", "%", "Battery state of charge."),
    _q("battery_temperature", "degC", "Battery temperature."),
    _q("pv_voltage", "V", "PV array (panel) voltage."),
    _q("pv_current", "A", "PV array current."),
    _q("pv_power", "W", "PV array power."),
    _q("load_voltage", "V", "DC load output voltage."),
    _q("load_current", "A", "DC load output current."),
    _q("load_power", "W", "DC load output power."),
    _q("load_output_on", "", "Load output switched on (1) or off (0)."),
    _q("charge_state", "", "State of operation of the charger.", "enum", CHARGE_STATES),
    _q("tracker_mode", "", "MPP tracker operation.", "enum", ("off", "limited", "mppt")),
    _q("error_code", "", "Charger error code as sent by the device (0 = no error; "
       "VE.Direct names in protocols.vedirect.ERR_CODES)."),
    _q("off_reason", "", "Why the device is switched off.", "flags"),
    _q("alarm_reason", "", "Cause of the active alarm (inverters).", "flags"),
    _q("warnings", "", "Active warnings.", "flags"),
    _q("faults", "", "Active faults.", "flags"),
    _q("fault_active", "", "1 when any fault is active."),
    _q("relay_on", "", "Relay closed (1) or open (0)."),
    _q("charging_source", "", "What is charging the battery.", "enum", _CHARGING_SOURCES),
    _q("charging_to_float", "", "1 when the charger is moving to float."),
    _q("battery_status", "", "Battery voltage status.", "enum",
       ("normal", "over_voltage", "under_voltage", "low_voltage_disconnect", "fault", "open")),
    _q("input_voltage_status", "", "PV input voltage status.", "enum",
       ("normal", "no_power", "high", "error")),
    # battery monitor (VE.Direct BMV-60x/70x/71x, SmartShunt)
    _q("battery_power", "W", "Instantaneous battery power, positive when charging."),
    _q("consumed_charge", "Ah", "Charge consumed since full (negative as the monitor sends it)."),
    _q("time_to_go", "min", "Time until the battery is discharged at the present rate "
       "(absent while not discharging)."),
    _q("alarm_on", "", "1 while an alarm condition is active."),
    _q("starter_battery_voltage", "V", "Auxiliary (starter) battery voltage."),
    _q("midpoint_voltage", "V", "Mid-point voltage of the battery bank."),
    _q("midpoint_deviation", "%", "Mid-point deviation of the battery bank."),
    _q("monitor_model", "", "Battery monitor model description (BMV field, deprecated).",
       "text"),
    _q("dc_monitor_mode", "", "What a DC monitor (SmartShunt) is configured to measure.", "enum",
       ("solar_charger", "wind_turbine", "shaft_generator", "alternator", "fuel_cell",
        "water_generator", "dc_dc_charger", "ac_charger", "generic_source", "battery_monitor",
        "generic_load", "electric_drive", "fridge", "water_pump", "bilge_pump", "dc_system",
        "inverter", "water_heater")),
    # battery monitor history
    _q("deepest_discharge", "Ah", "Depth of the deepest discharge."),
    _q("last_discharge", "Ah", "Depth of the last discharge."),
    _q("average_discharge", "Ah", "Depth of the average discharge."),
    _q("charge_cycles", "", "Number of charge cycles."),
    _q("full_discharges", "", "Number of full discharges."),
    _q("cumulative_charge_drawn", "Ah", "Cumulative charge drawn from the battery."),
    _q("min_battery_voltage", "V", "Minimum battery voltage recorded."),
    _q("max_battery_voltage", "V", "Maximum battery voltage recorded."),
    _q("seconds_since_full_charge", "s", "Time since the last full charge."),
    _q("automatic_syncs", "", "Number of automatic synchronisations."),
    _q("low_voltage_alarms", "", "Number of low battery voltage alarms."),
    _q("high_voltage_alarms", "", "Number of high battery voltage alarms."),
    _q("low_starter_voltage_alarms", "", "Number of low auxiliary voltage alarms."),
    _q("high_starter_voltage_alarms", "", "Number of high auxiliary voltage alarms."),
    _q("min_starter_battery_voltage", "V", "Minimum auxiliary (starter) battery voltage."),
    _q("max_starter_battery_voltage", "V", "Maximum auxiliary (starter) battery voltage."),
    _q("discharged_energy_total", "Wh", "Energy drawn from the battery (DC monitor: produced)."),
    _q("charged_energy_total", "Wh", "Energy put into the battery (DC monitor: consumed)."),
    # further channels and DC-DC converters (Phoenix Smart charger, Smart BuckBoost/Orion)
    _q("battery_2_voltage", "V", "Channel 2 battery voltage."),
    _q("battery_2_current", "A", "Channel 2 battery current."),
    _q("battery_3_voltage", "V", "Channel 3 battery voltage."),
    _q("battery_3_current", "A", "Channel 3 battery current."),
    _q("dc_input_voltage", "V", "DC input voltage of a DC-DC converter."),
    _q("dc_input_current", "A", "DC input current of a DC-DC converter."),
    _q("dc_input_power", "W", "DC input power of a DC-DC converter."),
    _q("ble_capabilities", "", "Bluetooth switch-off capabilities.", "flags"),
    # energy counters
    _q("yield_today", "Wh", "PV energy yield since the start of the day."),
    _q("yield_yesterday", "Wh", "PV energy yield of the previous day."),
    _q("yield_month", "Wh", "PV energy yield this month."),
    _q("yield_year", "Wh", "PV energy yield this year."),
    _q("yield_total", "Wh", "PV energy yield total (user-resettable)."),
    _q("consumed_today", "Wh", "Load energy consumed today."),
    _q("consumed_month", "Wh", "Load energy consumed this month."),
    _q("consumed_year", "Wh", "Load energy consumed this year."),
    _q("consumed_total", "Wh", "Load energy consumed in total."),
    _q("max_power_today", "W", "Maximum PV power today."),
    _q("max_power_yesterday", "W", "Maximum PV power yesterday."),
    _q("pv_voltage_max_today", "V", "Maximum PV voltage today."),
    _q("pv_voltage_min_today", "V", "Minimum PV voltage today."),
    _q("battery_voltage_max_today", "V", "Maximum battery voltage today."),
    _q("battery_voltage_min_today", "V", "Minimum battery voltage today."),
    _q("day_sequence", "", "Day sequence number 0..364; a change means a new day."),
    # AC side: grid and inverter output
    _q("grid_voltage", "V", "Grid (AC input) voltage."),
    _q("grid_frequency", "Hz", "Grid (AC input) frequency."),
    _q("ac_output_voltage", "V", "Inverter AC output voltage."),
    _q("ac_output_frequency", "Hz", "Inverter AC output frequency."),
    _q("ac_output_current", "A", "Inverter AC output current."),
    _q("ac_output_apparent_power", "VA", "Inverter AC output apparent power."),
    _q("ac_output_power", "W", "Inverter AC output active power."),
    _q("load_percent", "%", "Inverter output load, max of W and VA percent."),
    _q("bus_voltage", "V", "Inverter DC bus voltage."),
    _q("scc_battery_voltage", "V", "Battery voltage measured by the solar charger."),
    _q("grid_feed_active", "", "1 when feeding solar power to the grid."),
    _q("grid_feed_power", "W", "Power fed to the grid."),
    _q("inverter_mode", "", "Operating mode of the inverter.", "enum", INVERTER_MODES),
    _q("device_status", "", "Run state of an inverter (Growatt SPF, Deye status registers).",
       "enum", DEVICE_STATUSES),
    _q("grid_power", "W", "Power drawn from the grid (negative when exporting)."),
    _q("ac_load_power", "W", "Power drawn by the AC loads."),
    # temperatures
    _q("heatsink_temperature", "degC", "Power stage heat-sink temperature."),
    _q("device_temperature", "degC", "Temperature inside the device case."),
    _q("ambient_temperature", "degC", "Ambient temperature."),
    _q("remote_battery_temperature", "degC", "Battery temperature from a remote sensor."),
    # ratings and settings (PI30 QPIRI, EPEver 0x3000 block)
    _q("rated_grid_voltage", "V", "Grid rating voltage."),
    _q("rated_grid_current", "A", "Grid rating current."),
    _q("rated_ac_output_voltage", "V", "AC output rating voltage."),
    _q("rated_ac_output_frequency", "Hz", "AC output rating frequency."),
    _q("rated_ac_output_current", "A", "AC output rating current."),
    _q("rated_ac_output_apparent_power", "VA", "AC output rating apparent power."),
    _q("rated_ac_output_power", "W", "AC output rating active power."),
    _q("rated_battery_voltage", "V", "Battery rating voltage."),
    _q("rated_pv_voltage", "V", "PV array rated voltage."),
    _q("rated_pv_current", "A", "PV array rated current."),
    _q("rated_pv_power", "W", "PV array rated power."),
    _q("rated_charge_current", "A", "Rated battery charging current."),
    _q("rated_charge_power", "W", "Rated battery charging power."),
    _q("rated_load_current", "A", "Rated load current."),
    _q("battery_system_voltage", "V", "Battery system voltage recognised by the device."),
    _q("charging_mode", "", "Charging method.", "enum", ("on_off", "pwm", "mppt")),
    _q("battery_recharge_voltage", "V", "Battery re-charge voltage."),
    _q("battery_redischarge_voltage", "V", "Battery re-discharge voltage."),
    _q("battery_under_voltage", "V", "Battery under (cut-off) voltage."),
    _q("battery_bulk_voltage", "V", "Battery bulk (C.V.) charging voltage."),
    _q("battery_float_voltage", "V", "Battery float charging voltage."),
    _q("battery_type", "", "Battery type setting.", "enum",
       ("agm", "flooded", "user", "pylon", "weco", "soltaro", "lib", "lic")),
    _q("max_ac_charge_current", "A", "Maximum charging current from the grid."),
    _q("max_charge_current", "A", "Maximum total charging current."),
    _q("input_voltage_range", "", "AC input voltage range.", "enum", ("appliance", "ups")),
    _q("output_source_priority", "", "Output source priority.", "enum",
       ("utility_first", "solar_first", "sbu_first")),
    _q("charger_source_priority", "", "Charger source priority.", "enum",
       ("utility_first", "solar_first", "solar_and_utility", "solar_only")),
    _q("parallel_max_num", "", "Maximum number of units in parallel."),
    _q("machine_type", "", "Machine type.", "enum",
       ("grid_tie", "off_grid", "hybrid", "off_grid_2_trackers", "off_grid_3_trackers")),
    _q("topology", "", "Inverter topology.", "enum", ("transformerless", "transformer")),
    _q("output_mode", "", "Output mode.", "enum",
       ("single", "parallel", "phase_1_of_3", "phase_2_of_3", "phase_3_of_3", "phase_1_of_2",
        "phase_2_of_2_120", "phase_2_of_2_180")),
    _q("pv_ok_condition", "", "PV OK condition for parallel systems (0 any unit, 1 all)."),
    _q("pv_power_balance", "", "PV power balance setting (0 or 1)."),
    _q("max_cv_charge_time", "min", "Maximum charging time at the C.V. stage."),
    _q("operation_logic", "", "Operation logic.", "enum", ("automatic", "online", "eco")),
    _q("max_discharge_current", "A", "Maximum battery discharging current."),
    _q("max_charge_current_limit", "A", "Largest selectable maximum charging current."),
    # second and third PV input, AC charger (PI30 QPIGS2)
    _q("pv2_voltage", "V", "Second PV input voltage."),
    _q("pv2_current", "A", "Second PV input current."),
    _q("pv2_power", "W", "Second PV input charging power."),
    _q("scc2_battery_voltage", "V", "Battery voltage measured by the second solar charger."),
    _q("scc2_charging", "", "1 while the second solar charger is charging."),
    _q("pv3_voltage", "V", "Third PV input voltage."),
    _q("pv3_current", "A", "Third PV input current."),
    _q("pv3_power", "W", "Third PV input charging power."),
    _q("scc3_battery_voltage", "V", "Battery voltage measured by the third solar charger."),
    _q("scc3_charging", "", "1 while the third solar charger is charging."),
    _q("pv_total_power", "W", "Charging power of all PV inputs together."),
    _q("ac_charge_current", "A", "Battery charging current from the AC input."),
    _q("ac_charge_power", "W", "Battery charging power from the AC input."),
    # parallel systems (PI30 QPGSn, one reading per unit)
    _q("parallel_unit_present", "", "1 when this unit of a parallel system exists."),
    _q("fault_code", "", "Inverter fault code as sent by the device (0 = no fault)."),
    _q("scc_ok", "", "1 when the unit's solar charger is working."),
    _q("grid_lost", "", "1 when the AC input (line) is lost."),
    _q("total_charge_current", "A", "Charging current of the whole parallel system."),
    _q("total_ac_output_apparent_power", "VA", "AC output apparent power of the whole system."),
    _q("total_ac_output_power", "W", "AC output active power of the whole system."),
    _q("total_load_percent", "%", "Output load of the whole parallel system."),
    # identity
    _q("product_id", "", "Product id as sent by the device (e.g. 0xA053).", "text"),
    _q("firmware_version", "", "Firmware version as sent by the device.", "text"),
    _q("serial_number", "", "Serial number.", "text"),
]))


def unknown_names(names: Iterable[str]) -> list[str]:
    """The names in ``names`` that are not in :data:`QUANTITIES` (sorted)."""
    return sorted(set(names) - QUANTITIES.keys())


def check_values(values: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless every item fits the vocabulary.

    Checks the name is known, numeric quantities are int/float (not bool), enum
    values are one of the choices and flags/text are strings. Used by the tests
    to prove decoders only emit known names; cheap enough for debug checks.
    """
    for name, value in values.items():
        quantity = QUANTITIES.get(name)
        if quantity is None:
            raise ValueError(f"unknown reading name {name!r}")
        if quantity.kind == "numeric":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name}: expected a number, got {value!r}")
        elif not isinstance(value, str):
            raise ValueError(f"{name}: expected a string, got {value!r}")
        elif quantity.kind == "enum" and value not in quantity.choices:
            raise ValueError(f"{name}: {value!r} is not one of {quantity.choices}")


@dataclass(frozen=True, slots=True)
class Reading:
    """Values read from one device at one instant.

    Attributes
    ----------
    device_id : str
        The source device (``mppt``, ``inverter``).
    timestamp : datetime
        When the values were received; timezone-aware, converted to UTC.
    values : Mapping[str, Value]
        Canonical name -> value in the unit of :data:`QUANTITIES`. Copied into a
        read-only mapping.
    """

    device_id: str
    timestamp: datetime
    values: Mapping[str, Value] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None or self.timestamp.utcoffset() is None:
            raise ValueError("Reading.timestamp must be timezone-aware (UTC)")
        object.__setattr__(self, "timestamp", self.timestamp.astimezone(UTC))
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def __reduce__(self) -> tuple[type[Reading], tuple[str, datetime, dict[str, Value]]]:
        """Pickle and deep-copy through the constructor (a mappingproxy cannot be pickled)."""
        return (Reading, (self.device_id, self.timestamp, dict(self.values)))

    def to_json_dict(self) -> dict[str, Any]:
        """``{"device_id", "timestamp" (ISO 8601 with Z), "values"}``, JSON-ready."""
        stamp = isoformat_z(self.timestamp)
        return {"device_id": self.device_id, "timestamp": stamp, "values": dict(self.values)}
