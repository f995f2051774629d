"""Simulated Voltronic PI30 (Axpert-class) hybrid inverter.

Responsible for: parsing ``command + CRC + CR`` requests with the
protocol's :class:`RequestFramer` / :func:`parse_request`, answering QPIGS,
QPIRI, QMOD, QPIWS (and QPI, QID, QVFW) from the plant through the
protocol's own encoders, NAK for unknown commands and bad CRCs, a realistic
reply latency, and the byte faults of :mod:`.faults`.

Profiles: ``pi30`` (21-field QPIGS; QPIGS2 and the energy counters are
NAKed, as on firmware without them), ``max`` (PI30MAX: 24-field QPIGS,
28-field QPIRI, the 3-field QPIGS2 and the PV energy counters QET, QEYyyyy,
QEMyyyymm, QEDyyyymmdd; the load counters QL* are NAKed), ``parallel2`` /
``parallel3`` (two or three ``pi30`` units in parallel sharing the plant's
load, each answering QPGSn; the unit the reader is wired to answers the rest).
The simulated inverter's calendar is the plant's: a dated counter command is
answered with the plant's current day, month or year, whatever date it asks.

Setting commands: the whitelisted setters of :mod:`..protocols.pi30.settings`
(POP, PCP, PBCV, PBDV, MUCHGC) are range-checked against the simulated unit's
ratings and answered ``(ACK`` (``(NAK`` when out of range, or for the
commands listed in the profile's ``nak`` option, as some firmware does with
``POP02`` or ``MUCHGC``); an accepted value is stored in the simulator (kept
across reconnects, like EEPROM) and shows in QPIRI after ``apply_delay``
seconds (real units take minutes). Options follow the profile after ``;``:
``pi30;grid=1;nak=POP02,MUCHGC;apply_delay=5`` (seconds, scaled by
``time_scale`` like the other timings; default :data:`APPLY_DELAY_S`).

What the settings change (only with ``grid=1``: AC input present, at the
rated grid voltage; the plant itself has no grid, so its battery state of
charge does not follow, only what this inverter reports): the load is served
from utility (QMOD ``L``, no battery discharge current, ``line_fail`` clear)
under ``utility_first``, under ``solar_first`` when the plant has no PV, and
under ``sbu_first`` once the battery voltage is below the back-to-grid voltage
(PBCV); otherwise from the battery. The battery charges from the grid at the
utility charge current (MUCHGC) under charger priority ``utility_first`` or
``solar_and_utility``, and under ``solar_first`` when the plant has no PV.

Does NOT: accept other setting commands (they are NAKed). USB-HID 8-byte
reports are the endpoint's business (:class:`~.endpoints.HidEndpoint`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from firmware_bridge.checksums import crc16_xmodem
from firmware_bridge.errors import BridgeError
from firmware_bridge.protocols import pi30
from firmware_bridge.protocols.base import ProtocolSpec
from firmware_bridge.readings import Value
from firmware_bridge.simulators.endpoints import OutputQueue
from firmware_bridge.simulators.faults import Faults
from firmware_bridge.simulators.modbus import SiteCounters
from firmware_bridge.simulators.source import PlantSource

__all__ = [
    "APPLY_DELAY_S",
    "LATENCY_S",
    "MUCHGC_CHOICES",
    "PROFILES",
    "Pi30Session",
    "SimulatedSettings",
    "inverter_values",
    "parse_profile",
    "ratings",
    "session_factory",
    "unit_values",
]

#: Command to reply: real inverters take 0.4-0.5 s, most of it the 2400-baud wire time.
LATENCY_S = 0.45
#: What the simulated unit answers to QMUCHGCR [A]
MUCHGC_CHOICES: tuple[int, ...] = (2, 10, 20, 30, 40, 50, 60)
_STATIC = {"QPI": "PI30", "QID": "92932004102453", "QVFW": "VERFW:00072.70"}
#: profile -> (QPIGS variant, units in parallel)
PROFILES: Mapping[str, tuple[str, int]] = {
    "pi30": ("pi30", 1), "max": ("max", 1), "parallel2": ("pi30", 2), "parallel3": ("pi30", 3),
}
#: Default delay before an accepted setting shows in QPIRI (before time_scale) [s]
APPLY_DELAY_S = 10.0
_MAX_EXTRA: dict[str, Value] = {"max_cv_charge_time": 120, "operation_logic": "automatic",
              "max_discharge_current": 150}


def ratings(plant: PlantSource) -> dict[str, Value]:
    """QPIRI values from the site's inverter and battery configuration."""
    r = plant.ratings
    current = round(r.inverter_rated_apparent_power / r.inverter_output_voltage, 1)
    nominal = r.battery_nominal_voltage
    return {
        "rated_grid_voltage": r.inverter_output_voltage,
        "rated_grid_current": current,
        "rated_ac_output_voltage": r.inverter_output_voltage,
        "rated_ac_output_frequency": r.inverter_output_frequency,
        "rated_ac_output_current": current,
        "rated_ac_output_apparent_power": r.inverter_rated_apparent_power,
        "rated_ac_output_power": r.inverter_rated_power,
        "rated_battery_voltage": nominal,
        "battery_recharge_voltage": round(nominal * 0.958, 1),
        "battery_under_voltage": round(nominal * 0.875, 1),
        "battery_bulk_voltage": r.battery_absorption_voltage,
        "battery_float_voltage": r.battery_float_voltage,
        "battery_type": "user",
        "max_ac_charge_current": 30,
        "max_charge_current": 80,
        "input_voltage_range": "appliance",
        "output_source_priority": "sbu_first",
        "charger_source_priority": "solar_only",
        "parallel_max_num": 9,
        "machine_type": "off_grid",
        "topology": "transformerless",
        "output_mode": "single",
        "battery_redischarge_voltage": round(nominal * 1.125, 1),
        "pv_ok_condition": 0,
        "pv_power_balance": 1,
    }


@dataclasses.dataclass(slots=True)
class SimulatedSettings:
    """The inverter's settings, shared by every session of one simulator (its EEPROM).

    Attributes
    ----------
    grid : bool
        AC input present (at the rated grid voltage).
    nak : frozenset of str
        Setting commands (``POP02``) or prefixes (``MUCHGC``) this firmware refuses.
    apply_delay : float
        Seconds from ACK until QPIRI shows the value [s].
    stored : dict
        QPIRI field -> (value, time it shows from).
    """

    grid: bool = False
    nak: frozenset[str] = frozenset()
    apply_delay: float = 0.0
    stored: dict[str, tuple[Value, float]] = dataclasses.field(default_factory=dict)

    def applied(self, base: Mapping[str, Value], now: float) -> dict[str, Value]:
        """``base`` (the QPIRI values) with the settings that have taken effect by ``now``."""
        out = dict(base)
        out.update({name: value for name, (value, since) in self.stored.items() if now >= since})
        return out


def parse_profile(profile: str | None, time_scale: float) -> tuple[str, SimulatedSettings]:
    """``"pi30;grid=1;nak=POP02,MUCHGC;apply_delay=5"`` -> (profile, settings).

    Raises
    ------
    ValueError
        Unknown profile or option.
    """
    name, *options = (profile or "pi30").split(";")
    if name not in PROFILES:
        raise ValueError(f"unknown PI30 profile {name!r} (have {sorted(PROFILES)})")
    settings = SimulatedSettings(apply_delay=APPLY_DELAY_S * time_scale)
    for option in filter(None, options):
        key, _, text = option.partition("=")
        if key == "grid":
            settings.grid = text not in ("0", "false", "no")
        elif key == "nak":
            settings.nak = frozenset(filter(None, text.split(",")))
        elif key == "apply_delay":
            settings.apply_delay = float(text) * time_scale
        else:
            raise ValueError(f"unknown PI30 simulator option {key!r} in {profile!r}")
    return name, settings


def _serves_from_grid(values: Mapping[str, Value], battery_voltage: float, pv: float) -> bool:
    """Whether output priority (and PBCV under SBU) put the load on utility."""
    priority = values.get("output_source_priority")
    if priority == "utility_first":
        return True
    if priority == "solar_first":
        return pv <= 0.0
    back_to_grid = values.get("battery_recharge_voltage")
    return isinstance(back_to_grid, int | float) and battery_voltage < float(back_to_grid)


def _grid_charge_current(values: Mapping[str, Value], pv: float) -> float:
    """Battery current from the grid the charger priority allows [A]."""
    priority = values.get("charger_source_priority")
    if priority in ("utility_first", "solar_and_utility") or (
            priority == "solar_first" and pv <= 0.0):
        current = values.get("max_ac_charge_current")
        return float(current) if isinstance(current, int | float) else 0.0
    return 0.0


def unit_values(plant: PlantSource, unit: int, units: int) -> dict[str, Value]:
    """QPGSn values of unit ``unit`` of ``units`` sharing the plant's load equally."""
    state = plant.state()
    on = state.inverter_on
    share = 1.0 / units
    total_va, total_w = state.ac_output_apparent_power, state.load_power
    rated = plant.ratings.inverter_rated_power
    percent = round(100.0 * total_w / (rated * units)) if rated else 0
    return {
        "parallel_unit_present": 1,
        "serial_number": f"9293200410{2453 + unit:04d}",
        "inverter_mode": "battery" if on else "standby",
        "fault_code": 0,
        "grid_voltage": 0.0,
        "grid_frequency": 0.0,
        "ac_output_voltage": state.ac_output_voltage if on else 0.0,
        "ac_output_frequency": state.ac_output_frequency if on else 0.0,
        "ac_output_apparent_power": total_va * share,
        "ac_output_power": total_w * share,
        "load_percent": percent,
        "battery_voltage": state.battery_voltage,
        "battery_charge_current": max(state.battery_current, 0.0) * share,
        "battery_discharge_current": max(-state.battery_current, 0.0) * share,
        "battery_soc": state.battery_soc,
        "pv_voltage": 0.0,
        "pv_current": 0,
        "total_charge_current": max(state.battery_current, 0.0),
        "total_ac_output_apparent_power": total_va,
        "total_ac_output_power": total_w,
        "total_load_percent": percent,
        "scc_ok": 1,
        "charging_source": "none",
        "battery_status": "under_voltage" if state.battery_soc < 10.0 else "normal",
        "grid_lost": 1,
        "load_output_on": int(on),
        "output_mode": "parallel",
        "charger_source_priority": "solar_only",
        "max_charge_current": 80,
        "max_charge_current_limit": 120,
        "max_ac_charge_current": 30,
    }


_ABSENT_UNIT: dict[str, Value] = {"parallel_unit_present": 0, "serial_number": "00000000000000",
                "inverter_mode": "standby", "scc_ok": 0}


def inverter_values(plant: PlantSource) -> dict[str, Value]:
    """QPIGS/QMOD/QPIWS values for the plant's present state."""
    state = plant.state()
    values: dict[str, Value] = dict(state.inverter_values())
    warnings = ["line_fail"]  # stand-alone system: no grid on the AC input
    if state.battery_soc < 20.0:
        warnings.append("battery_low_alarm")
    if not state.inverter_on:
        warnings.append("battery_under_shutdown")
    values.update(
        scc_battery_voltage=0.0,
        charging_source="none",
        load_output_on=int(state.inverter_on),
        charging_to_float=0,
        warnings=",".join(warnings),
        faults="",
    )
    return values


class Pi30Session:
    """One reader's conversation with the inverter.

    Parameters
    ----------
    plant : PlantSource
        Source of the values.
    faults : Faults
        Active faults.
    variant : str
        A key of :data:`PROFILES`: ``pi30`` (21-field QPIGS), ``max`` (24 fields,
        QPIGS2, energy counters), ``parallel2``, ``parallel3``.
    time_scale : float
        Multiplies the reply latency.
    """

    def __init__(
        self, plant: PlantSource, faults: Faults, *, variant: str = "pi30", time_scale: float = 1.0,
        settings: SimulatedSettings | None = None,
    ) -> None:
        self.plant = plant
        self.faults = faults
        self.profile = variant
        self.settings = settings or SimulatedSettings(apply_delay=APPLY_DELAY_S * time_scale)
        self._now = 0.0
        self.variant, self.units = PROFILES[variant]
        self.counters = SiteCounters()
        self.latency = LATENCY_S * time_scale
        self.framer = pi30.RequestFramer()
        self.out = OutputQueue()
        self.requests: list[str] = []
        self._previous = b""

    def receive(self, data: bytes, now: float) -> None:
        for frame in self.framer.feed(data):
            if self.faults.on("silent"):
                continue
            try:
                command = pi30.parse_request(frame)
            except BridgeError:
                self.out.put(now + self.latency, pi30.NAK)
                continue
            self.requests.append(command)
            self._now = now
            if self._setting(command, now + self.latency) is None:
                self._reply(command, now + self.latency)

    def wakeup(self) -> float:
        return self.out.next_time()

    def due(self, now: float) -> list[bytes]:
        return self.out.pop_due(now)

    def _ratings(self) -> dict[str, Value]:
        """QPIRI values with the settings applied by now."""
        return self.settings.applied(ratings(self.plant), self._now)

    def _setting(self, command: str, at: float) -> bool | None:
        """Answer a setting command (True ACK, False NAK); None if ``command`` is not one."""
        try:
            parsed = pi30.parse_setting(command)
        except pi30.SettingError:
            self.out.put(at, pi30.NAK)
            return False
        if parsed is None:
            return None
        setter, value = parsed
        refused = command in self.settings.nak or setter.prefix in self.settings.nak
        try:
            limits = pi30.setting_ratings(ratings(self.plant), MUCHGC_CHOICES)
            setter.command(value, limits)
        except pi30.SettingError:
            refused = True
        if refused:
            self.out.put(at, pi30.NAK)
            return False
        self.settings.stored[setter.name] = (value, at + self.settings.apply_delay)
        self.out.put(at, pi30.ACK)
        return True

    def _grid_values(self, values: dict[str, Value]) -> dict[str, Value]:
        """QPIGS/QMOD/QPIWS values with AC input present, per the applied settings."""
        state = self.plant.state()
        settings = self._ratings()
        values.update(grid_voltage=settings["rated_grid_voltage"],
                      grid_frequency=settings["rated_ac_output_frequency"])
        values["warnings"] = ",".join(
            w for w in str(values["warnings"]).split(",") if w and w != "line_fail")
        battery = state.charger_current  # the inverter's draw removed below when on utility
        if _serves_from_grid(settings, state.battery_voltage, state.pv_power):
            values["inverter_mode"] = "line"
        else:
            battery -= state.inverter_dc_current
        grid_charge = _grid_charge_current(settings, state.pv_power)
        if grid_charge > 0.0:
            battery += grid_charge
            values["charging_source"] = "grid"
        values["battery_charge_current"] = max(battery, 0.0)
        values["battery_discharge_current"] = max(-battery, 0.0)
        return values

    def _values(self) -> dict[str, Value]:
        values = inverter_values(self.plant)
        return self._grid_values(values) if self.settings.grid else values

    def payload(self, command: str) -> str | None:
        """The reply payload for ``command``; None when the inverter does not know it."""
        if command in _STATIC:
            return _STATIC[command]
        if command == "QMUCHGCR":
            return " ".join(f"{c:03d}" for c in MUCHGC_CHOICES)
        if command == "QPIRI":
            values = self._ratings()
            if self.units > 1:
                values["output_mode"] = "parallel"
            if self.variant == "max":
                return pi30.encode_qpiri({**values, **_MAX_EXTRA}, fields=28)
            return pi30.encode_qpiri(values)
        if command == "QPIGS":
            return self._qpigs(self._values())
        if command in ("QMOD", "QPIWS"):
            return pi30.encode_payload(command, self._values())
        family = pi30.command_family(command)
        if family == "QPGS" and self.units > 1:
            unit = int(command[4:])
            if unit >= self.units:
                return pi30.encode_qpgs(_ABSENT_UNIT)
            return pi30.encode_qpgs(unit_values(self.plant, unit, self.units))
        if self.variant != "max":
            return None
        if command == "QPIGS2":
            return pi30.encode_qpigs2({"pv2_current": 0.0, "pv2_voltage": 0.0, "pv2_power": 0},
                                      variant="max")
        if family in ("QET", "QEY", "QEM", "QED"):
            state = self.plant.state()
            self.counters.track(state)
            month, year = self.counters.month_year(state)
            return pi30.encode_counter(command, {
                "yield_total": state.yield_total, "yield_year": year, "yield_month": month,
                "yield_today": state.yield_today})
        return None

    def _qpigs(self, values: Mapping[str, Value]) -> str:
        payload = pi30.encode_qpigs(values, variant=self.variant)
        if not self.faults.hit("raw_zero_crc"):
            return payload
        # Vary free digits (bus voltage, AC voltage tenths) until the CRC holds 0x00.
        bus, acv = float(values["bus_voltage"]), float(values["ac_output_voltage"])
        for k in range(400):
            trial = dict(
                values, bus_voltage=bus + k % 40 - 20, ac_output_voltage=acv + k // 40 / 10
            )
            text = pi30.encode_qpigs(trial, variant=self.variant)
            crc = crc16_xmodem(b"(" + text.encode("ascii"))
            if crc >> 8 == 0 or crc & 0xFF == 0:
                return text
        return payload

    def _reply(self, command: str, at: float) -> None:
        payload = self.payload(command)
        if payload is None:
            self.out.put(at, pi30.NAK)
            return
        f = self.faults
        frame = pi30.build_response(payload, raw_zero_crc=True, trailing_lf=f.hit("trailing_lf"))
        end = len(frame) - (2 if frame.endswith(b"\n") else 1)  # index of CR
        if f.hit("bad_checksum"):
            crc = frame[end - 1]
            bad = crc ^ 0x5A
            frame = (
                frame[: end - 1]
                + bytes((bad if bad not in b"\r\n(" else bad ^ 0x01,))
                + frame[end:]
            )
        if f.hit("corrupt_bytes"):
            frame = f.corrupt(frame, start=1, end=end - 2)
        if f.hit("truncated"):
            frame = f.truncate(frame[:end])
        previous, self._previous = self._previous, frame
        if previous and f.hit("concatenated"):  # overlapping reads on real inverters
            frame = previous + frame
        self.out.put_frame(at, frame, f)


def session_factory(
    spec: ProtocolSpec, plant: PlantSource, faults: Faults, *, time_scale: float,
    profile: str | None,
) -> Callable[[], Pi30Session]:
    """Session maker of the PI30 entry of the registry (profile default ``pi30``).

    The sessions of one simulator share its :class:`SimulatedSettings` (see
    :func:`parse_profile` for the options after the profile name).
    """
    name, settings = parse_profile(profile, time_scale)
    return lambda: Pi30Session(plant, faults, variant=name, time_scale=time_scale,
                               settings=settings)
