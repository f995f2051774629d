"""Simulated EPEver Tracer charge controller: the generic Modbus device plus its extras.

Responsible for: the EPEver map (``protocols/maps/epever.toml``) served by
:class:`~.modbus.ModbusController`, plus what a real Tracer also answers that
the map does not read: the settings holding registers 0x9000-0x9070 (battery
type, capacity, voltage set points x100), coils and discrete inputs, at slave
id 1. Faults and RTU framing are the generic session's.

Does NOT: write settings (writes are refused with ILLEGAL_FUNCTION).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsResponse

from firmware_bridge.protocols import epever
from firmware_bridge.protocols.base import ProtocolSpec
from firmware_bridge.readings import Value
from firmware_bridge.simulators.faults import Faults
from firmware_bridge.simulators.modbus import LATENCY_S, ModbusController, ModbusSession
from firmware_bridge.simulators.source import PlantSource, PlantState

__all__ = ["LATENCY_S", "EpeverController", "EpeverSession", "session_factory"]

EpeverSession = ModbusSession


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


class EpeverController(ModbusController):
    """The Tracer's memory: the map's registers, its settings, coils and discrete inputs."""

    def __init__(
        self, plant: PlantSource, faults: Faults, *, device_id: int = epever.SLAVE_ID
    ) -> None:
        super().__init__(epever.MAP, plant, faults, device_id=device_id, extra_holding=_holding)

    def values(self, state: PlantState) -> dict[str, Value]:
        """The site's values as a charge controller sees them: its own output current,
        no DC load on its load terminals."""
        values = super().values(state)
        values.update(battery_current=state.charger_current, consumed_today=0.0,
                      consumed_month=0.0, consumed_year=0.0, consumed_total=0.0)
        return values

    @property
    def holding(self) -> dict[int, int]:
        """The settings registers."""
        return self.extra_holding

    def input_registers(self) -> dict[int, int]:
        """Every answerable input register, from the plant's present state."""
        words = self.registers("input")
        return {a: words.get(a, 0) for lo, hi, _ in epever.MAP.ranges for a in range(lo, hi + 1)}

    def other_function(self, request: ModbusPDU) -> ModbusPDU:
        fc, address, count = request.function_code, request.address, request.count
        if fc not in (1, 2):
            return ExceptionResponse(fc, ExcCodes.ILLEGAL_FUNCTION)
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


def session_factory(
    spec: ProtocolSpec, plant: PlantSource, faults: Faults, *, time_scale: float,
    profile: str | None = None,
) -> Callable[[], EpeverSession]:
    """Session maker of the EPEver entry (one controller shared by every connection)."""
    controller = EpeverController(plant, faults)
    return lambda: EpeverSession(controller, time_scale=time_scale)
