"""One simulated Modbus RTU device for any register map, on pymodbus's framer.

Responsible for: decoding RTU requests with pymodbus's ``FramerRTU`` (CRC,
framing, PDUs); answering input-register (fc 4) and holding-register (fc 3)
reads from :meth:`~firmware_bridge.protocols.modbus_map.RegisterMap.encode` of
the plant's values (the decoder's own map); exception responses for addresses
the map does not make readable and for unsupported functions; the byte faults
of :mod:`.faults` (bad CRC, corrupted or truncated replies, a stall) and
``silent`` (stops answering until power-cycled, i.e. replugged).

The values a device holds come from :func:`site_values`: one canonical
dictionary of the whole site (charge controller, battery, inverter), of which
each map encodes the names it has. So a charge controller map (EPEver, SRNE)
and a hybrid inverter map (Growatt SPF, Deye) are served by the same code.

Does NOT: frame Modbus by hand, or write settings (writes are refused with
ILLEGAL_FUNCTION).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
)

from firmware_bridge.protocols import MODBUS_MAPS
from firmware_bridge.protocols.base import ProtocolSpec
from firmware_bridge.protocols.modbus_map import RegisterMap, Table
from firmware_bridge.readings import Value
from firmware_bridge.simulators.endpoints import OutputQueue
from firmware_bridge.simulators.faults import Faults
from firmware_bridge.simulators.source import PlantSource, PlantState

__all__ = [
    "LATENCY_S",
    "ModbusController",
    "ModbusSession",
    "SiteCounters",
    "session_factory",
    "site_values",
]

LATENCY_S = 0.02  # reply turnaround [s]
_FRAME_GAP = 0.05  # silence that ends a partial RTU frame (t3.5, generously) [s]


class SiteCounters:
    """Daily extremes and month/year energy a device keeps in its own memory."""

    def __init__(self) -> None:
        self._day: int | None = None
        self.extremes: dict[str, float] = {}
        self._month: tuple[date, float, float] | None = None

    def track(self, state: PlantState) -> None:
        """Roll the day, month and year over as ``state`` moves on."""
        if self._day != state.day_sequence:
            if self._day is not None and self._month is not None:
                month_start, month, year = self._month
                today = state.time.date()
                month = 0.0 if today.month != month_start.month else month + state.yield_yesterday
                year = 0.0 if today.year != month_start.year else year + state.yield_yesterday
                self._month = (today, month, year)
            self._day = state.day_sequence
            self.extremes = {}
            if self._month is None:
                self._month = (state.time.date(), 0.0, 0.0)
        pairs = (("pv_voltage", state.pv_voltage), ("battery_voltage", state.battery_voltage))
        for name, value in pairs:
            hi, lo = f"{name}_max_today", f"{name}_min_today"
            self.extremes[hi] = max(self.extremes.get(hi, value), value)
            self.extremes[lo] = min(self.extremes.get(lo, value), value)

    def month_year(self, state: PlantState) -> tuple[float, float]:
        """PV energy this month and this year. [Wh]"""
        if self._month is None:
            return 0.0, 0.0
        return self._month[1] + state.yield_today, self._month[2] + state.yield_today


def site_values(plant: PlantSource, state: PlantState, counters: SiteCounters) -> dict[str, Value]:
    """Canonical values of every quantity a Modbus device of the site may hold."""
    counters.track(state)
    r = plant.ratings
    month, year = counters.month_year(state)
    on = state.inverter_on
    return {
        "rated_pv_voltage": 150.0,
        "rated_pv_current": 60.0,
        "rated_pv_power": r.array_dc_capacity,
        "rated_battery_voltage": r.battery_nominal_voltage,
        "rated_charge_current": 60.0,
        "rated_charge_power": r.charger_output_limit,
        "rated_ac_output_power": r.inverter_rated_power,
        "charging_mode": "mppt",
        "rated_load_current": 20.0,
        "pv_voltage": state.pv_voltage,
        "pv_current": state.pv_current,
        "pv_power": state.pv_power,
        "pv2_voltage": 0.0,
        "pv2_current": 0.0,
        "pv2_power": 0.0,
        "battery_voltage": state.battery_voltage,
        "battery_charge_current": state.charger_current,
        "battery_discharge_current": max(-state.battery_current, 0.0),
        "battery_charge_power": state.charger_current * state.battery_voltage,
        "battery_current": state.battery_current,
        "battery_power": state.battery_current * state.battery_voltage,
        "battery_soc": round(state.battery_soc),
        "battery_temperature": state.battery_temperature,
        "load_voltage": state.battery_voltage,
        "load_current": 0.0,
        "load_power": 0.0,
        "load_output_on": 0,
        "device_temperature": state.charger_temperature - 4.0,
        "heatsink_temperature": state.charger_temperature,
        "remote_battery_temperature": state.battery_temperature,
        "ambient_temperature": state.temp_air,
        "battery_system_voltage": r.battery_nominal_voltage,
        "battery_status": "under_voltage" if state.battery_soc < 10.0 else "normal",
        "charge_state": state.charge_state,
        "input_voltage_status": "no_power" if state.pv_voltage < 1.0 else "normal",
        "faults": "",
        "fault_code": 0,
        **counters.extremes,
        "max_power_today": state.max_power_today,
        "consumed_today": state.consumed_today,
        "consumed_month": 0.0,
        "consumed_year": 0.0,
        "consumed_total": state.consumed_total,
        "yield_today": state.yield_today,
        "yield_month": month,
        "yield_year": year,
        "yield_total": state.yield_total,
        "grid_voltage": 0.0,
        "grid_frequency": 0.0,
        "ac_output_voltage": state.ac_output_voltage if on else 0.0,
        "ac_output_frequency": state.ac_output_frequency if on else 0.0,
        "ac_output_apparent_power": state.ac_output_apparent_power,
        "ac_output_power": state.load_power,
        "ac_output_current": state.ac_output_apparent_power / state.ac_output_voltage
        if on and state.ac_output_voltage else 0.0,
        "ac_load_power": state.load_power,
        "grid_power": 0.0,
        "load_percent": state.load_percent,
        "bus_voltage": state.bus_voltage,
        "ac_charge_current": 0.0,
        "ac_charge_power": 0.0,
        "device_status": ("pv_charging_discharging" if state.pv_power > 0 and on
                          else "discharging" if on else "standby"),
    }


class ModbusController:
    """The device's memory for one map: registers derived from the plant.

    Shared by every session of one simulator (one device on the bus).

    Parameters
    ----------
    register_map : RegisterMap
        What the device holds and which addresses it answers.
    plant : PlantSource
        Source of the values.
    faults : Faults
        Active faults.
    device_id : int, optional
        Unit id (the map's by default).
    extra_holding : callable, optional
        More holding registers (settings) beyond the map: ``plant -> {address: word}``.
    """

    def __init__(
        self,
        register_map: RegisterMap,
        plant: PlantSource,
        faults: Faults,
        *,
        device_id: int | None = None,
        extra_holding: Callable[[PlantSource], dict[int, int]] | None = None,
    ) -> None:
        self.map = register_map
        self.plant = plant
        self.faults = faults
        self.device_id = register_map.unit if device_id is None else device_id
        self.counters = SiteCounters()
        self.extra_holding = extra_holding(plant) if extra_holding else {}
        self._statuses = frozenset(
            name for r in register_map.registers if r.name == "device_status"
            for name in r.enum.values())

    def values(self, state: PlantState) -> dict[str, Value]:
        """Canonical values of the device for ``state``.

        ``device_status`` is the first of the site's candidate states the map's
        status register can say (Growatt: PV charging + discharging; Deye: normal).
        """
        values = site_values(self.plant, state, self.counters)
        if self._statuses:
            on = state.inverter_on
            candidates = ([str(values["device_status"]), "discharging", "normal"] if on
                          else ["standby"])
            values["device_status"] = next(
                (c for c in candidates if c in self._statuses), candidates[-1])
        return values

    def registers(self, table: str) -> dict[int, int]:
        """Every answerable register of ``table`` ('input' or 'holding'), from the plant now."""
        words = self.map.encode(self.values(self.plant.state()),
                                "input" if table == "input" else "holding")
        if table == "holding":
            words = {**self.extra_holding, **words}
        return words

    def read(self, table: str, address: int, count: int) -> list[int] | None:
        """Words of a read request, or None when an address is not readable."""
        tab: Table = "input" if table == "input" else "holding"
        extra = self.extra_holding if tab == "holding" else {}
        if not count or not all(self.map.readable(tab, a) or a in extra
                                for a in range(address, address + count)):
            return None
        words = self.registers(tab)
        return [words.get(a, 0) for a in range(address, address + count)]

    def respond(self, request: ModbusPDU) -> ModbusPDU | None:
        """The response PDU for ``request`` (None: not addressed to us)."""
        if request.dev_id not in (self.device_id, 0):
            return None
        fc = request.function_code
        response: ModbusPDU
        if fc in (3, 4):
            words = self.read("holding" if fc == 3 else "input", request.address, request.count)
            if words is None:
                response = ExceptionResponse(fc, ExcCodes.ILLEGAL_ADDRESS)
            else:
                cls: Any = ReadHoldingRegistersResponse if fc == 3 else ReadInputRegistersResponse
                response = cls(registers=words)
        else:
            response = self.other_function(request)
        response.dev_id = request.dev_id
        return response

    def other_function(self, request: ModbusPDU) -> ModbusPDU:
        """Functions other than register reads: refused (subclasses add coils and such)."""
        return ExceptionResponse(request.function_code, ExcCodes.ILLEGAL_FUNCTION)


class ModbusSession:
    """One reader on the RS-485 line (pty or TCP)."""

    def __init__(self, controller: ModbusController, *, time_scale: float = 1.0) -> None:
        self.controller = controller
        self.faults = controller.faults
        self.latency = LATENCY_S * time_scale
        self.framer = FramerRTU(DecodePDU(True))
        self.out = OutputQueue()
        self._buf = bytearray()
        self._last_rx = float("-inf")
        self.dead = False  # "silent" latches until the device is power-cycled

    def receive(self, data: bytes, now: float) -> None:
        if now - self._last_rx > _FRAME_GAP:
            self._buf.clear()  # a new frame after an inter-frame silence
        self._last_rx = now
        self._buf += data
        while self._buf:
            try:
                used, pdu = self.framer.handleFrame(bytes(self._buf), 0, 0)
            except Exception:
                self._buf.clear()
                return
            if not used:
                return
            del self._buf[:used]
            if pdu is not None:
                self._answer(pdu, now)

    def _answer(self, request: ModbusPDU, now: float) -> None:
        if self.faults.on("silent"):
            self.dead = True
        if self.dead:
            return
        response = self.controller.respond(request)
        if response is None:
            return
        frame = self.framer.buildFrame(response)
        f, at = self.faults, now + self.latency
        if f.hit("bad_checksum"):
            frame = frame[:-1] + bytes((frame[-1] ^ 0xA5,))
        if f.hit("corrupt_bytes"):
            frame = f.corrupt(frame, start=1, end=len(frame) - 2)
        if f.hit("truncated"):
            frame = f.truncate(frame)
        self.out.put_frame(at, frame, f)

    def wakeup(self) -> float:
        return self.out.next_time()

    def due(self, now: float) -> list[bytes]:
        return self.out.pop_due(now)


def session_factory(
    spec: ProtocolSpec, plant: PlantSource, faults: Faults, *, time_scale: float,
    profile: str | None = None,
) -> Callable[[], ModbusSession]:
    """Session maker of a Modbus map entry: the generic controller serving the spec's map."""
    controller = ModbusController(MODBUS_MAPS[spec.name], plant, faults)
    return lambda: ModbusSession(controller, time_scale=time_scale)
