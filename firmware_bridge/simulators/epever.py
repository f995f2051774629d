"""Simulated EPEver Tracer charge controller: a Modbus RTU responder on pymodbus's framer.

Responsible for: decoding RTU requests with pymodbus's ``FramerRTU`` (CRC,
framing, PDUs), answering input-register reads from
:func:`firmware_bridge.protocols.epever.encode` of the plant's state (the
decoder's own table), holding registers, coils and discrete inputs, and
exception responses for unmapped addresses and unsupported functions, at
slave id 1. Faults: bad CRC, corrupted or truncated replies, a stall, and
``silent`` (stops answering until power-cycled, i.e. replugged).

Does NOT: frame Modbus by hand, or write settings (writes are refused with
ILLEGAL_FUNCTION).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsResponse
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
)

from firmware_bridge.protocols import epever
from firmware_bridge.readings import Value
from firmware_bridge.simulators.base import OutputQueue
from firmware_bridge.simulators.faults import Faults
from firmware_bridge.simulators.source import PlantSource, PlantState

__all__ = ["EpeverController", "EpeverSession"]

LATENCY_S = 0.02  # reply turnaround of a Tracer at 115200 baud [s]
_FRAME_GAP = 0.05  # silence that ends a partial RTU frame (t3.5, generously) [s]
#: input-register ranges a real Tracer answers (gaps between them are rejected)
_INPUT_RANGES = (
    (0x3000, 0x3009),
    (0x300E, 0x300F),
    (0x3100, 0x3113),
    (0x311A, 0x311E),
    (0x3200, 0x3203),
    (0x3300, 0x3316),
    (0x331A, 0x331F),
)


def _holding(plant: PlantSource) -> dict[int, int]:
    """Settings registers 0x9000-0x9070 (battery type, capacity, voltage set points x100)."""
    r = plant.ratings
    regs = dict.fromkeys(range(0x9000, 0x9071), 0)
    regs[0x9000] = 0  # user-defined battery
    regs[0x9001] = round(r.battery_capacity)
    regs[0x9006] = round(r.battery_absorption_voltage * 100)  # boost (absorption) voltage
    regs[0x9008] = round(r.battery_float_voltage * 100)
    regs[0x9067] = 4  # rated voltage code: 48 V
    return regs


class EpeverController:
    """The controller's memory: registers derived from the plant, daily extremes, energy.

    Shared by every session of one simulator (one device on the bus).
    """

    def __init__(
        self, plant: PlantSource, faults: Faults, *, device_id: int = epever.SLAVE_ID
    ) -> None:
        self.plant = plant
        self.faults = faults
        self.device_id = device_id
        self.holding = _holding(plant)
        self._day: int | None = None
        self._extremes: dict[str, float] = {}
        self._month: tuple[date, float, float] | None = None

    def values(self, state: PlantState) -> dict[str, Value]:
        """Canonical values of the controller for ``state``."""
        self._track(state)
        r = self.plant.ratings
        charging = state.charger_current * state.battery_voltage
        stage = state.charge_state
        return {
            "rated_pv_voltage": 150.0,
            "rated_pv_current": 60.0,
            "rated_pv_power": r.array_dc_capacity,
            "rated_battery_voltage": r.battery_nominal_voltage,
            "rated_charge_current": 60.0,
            "rated_charge_power": r.charger_output_limit,
            "charging_mode": "mppt",
            "rated_load_current": 20.0,
            "pv_voltage": state.pv_voltage,
            "pv_current": state.pv_current,
            "pv_power": state.pv_power,
            "battery_voltage": state.battery_voltage,
            "battery_charge_current": state.charger_current,
            "battery_charge_power": charging,
            "load_voltage": state.battery_voltage,
            "load_current": 0.0,
            "load_power": 0.0,
            "battery_temperature": state.battery_temperature,
            "device_temperature": state.charger_temperature - 4.0,
            "heatsink_temperature": state.charger_temperature,
            "battery_soc": round(state.battery_soc),
            "remote_battery_temperature": state.battery_temperature,
            "battery_system_voltage": r.battery_nominal_voltage,
            "battery_status": "under_voltage" if state.battery_soc < 10.0 else "normal",
            "charge_state": stage,
            "input_voltage_status": "no_power" if state.pv_voltage < 1.0 else "normal",
            "load_output_on": 0,
            "faults": "",
            **self._extremes,
            "consumed_today": 0.0,
            "consumed_month": 0.0,
            "consumed_year": 0.0,
            "consumed_total": 0.0,
            "yield_today": state.yield_today,
            "yield_month": self._month[1] + state.yield_today if self._month else 0.0,
            "yield_year": self._month[2] + state.yield_today if self._month else 0.0,
            "yield_total": state.yield_total,
            "battery_current": state.charger_current,
            "ambient_temperature": state.temp_air,
        }

    def _track(self, state: PlantState) -> None:
        if self._day != state.day_sequence:
            if self._day is not None and self._month is not None:
                month_start, month, year = self._month
                today = state.time.date()
                month = 0.0 if today.month != month_start.month else month + state.yield_yesterday
                year = 0.0 if today.year != month_start.year else year + state.yield_yesterday
                self._month = (today, month, year)
            self._day = state.day_sequence
            self._extremes = {}
            if self._month is None:
                self._month = (state.time.date(), 0.0, 0.0)
        pairs = (("pv_voltage", state.pv_voltage), ("battery_voltage", state.battery_voltage))
        for name, value in pairs:
            hi, lo = f"{name}_max_today", f"{name}_min_today"
            self._extremes[hi] = max(self._extremes.get(hi, value), value)
            self._extremes[lo] = min(self._extremes.get(lo, value), value)

    def input_registers(self) -> dict[int, int]:
        """Every answerable input register, from the plant's present state."""
        regs = {a: 0 for lo, hi in _INPUT_RANGES for a in range(lo, hi)}
        regs.update(epever.encode(self.values(self.plant.state())))
        return regs

    def respond(self, request: ModbusPDU) -> ModbusPDU | None:
        """The response PDU for ``request`` (None: not addressed to us)."""
        if request.dev_id not in (self.device_id, 0):
            return None
        fc, address, count = request.function_code, request.address, request.count
        response: ModbusPDU
        if fc in (3, 4):
            table = self.holding if fc == 3 else self.input_registers()
            words = [table.get(a) for a in range(address, address + count)]
            if not count or any(w is None for w in words):
                response = ExceptionResponse(fc, ExcCodes.ILLEGAL_ADDRESS)
            else:
                cls: Any = ReadHoldingRegistersResponse if fc == 3 else ReadInputRegistersResponse
                response = cls(registers=[int(w or 0) for w in words])
        elif fc in (1, 2):
            response = self._bits(fc, address, count)
        else:
            response = ExceptionResponse(fc, ExcCodes.ILLEGAL_FUNCTION)
        response.dev_id = request.dev_id
        return response

    def _bits(self, fc: int, address: int, count: int) -> ModbusPDU:
        night = self.plant.state().pv_voltage < 1.0
        table = (
            {0: True, 1: False, 2: False, 5: False, 6: False}
            if fc == 1
            else {0x2000: False, 0x200C: night}
        )
        bits = [table.get(a) for a in range(address, address + count)]
        if not count or any(b is None for b in bits):
            return ExceptionResponse(fc, ExcCodes.ILLEGAL_ADDRESS)
        cls: Any = ReadCoilsResponse if fc == 1 else ReadDiscreteInputsResponse
        return cls(bits=[bool(b) for b in bits])  # type: ignore[no-any-return]


class EpeverSession:
    """One reader on the RS-485 line (pty or TCP)."""

    def __init__(self, controller: EpeverController, *, time_scale: float = 1.0) -> None:
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
