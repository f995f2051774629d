"""Simulated Victron SmartSolar/BlueSolar MPPT speaking VE.Direct text mode.

Responsible for: one text block per second (scaled by ``time_scale``) built
with :func:`firmware_bridge.protocols.vedirect.encode_block` (the decoder's
own table) from the plant's charge controller state, in the field order of
real firmware profiles, with the faults of :mod:`.faults` applied to the
bytes on the wire.

It also answers HEX ``get`` (``:7``) requests for the common run-time
registers and ``ping`` (``:1``), as newer firmware does while streaming
text; other HEX commands get the "unknown command" reply (``:3``).

Does NOT: implement HEX ``set`` (settings cannot be changed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from firmware_bridge.errors import BridgeError
from firmware_bridge.protocols import vedirect
from firmware_bridge.readings import Value
from firmware_bridge.simulators.base import OutputQueue
from firmware_bridge.simulators.faults import Faults
from firmware_bridge.simulators.source import PlantSource, PlantState

__all__ = ["PROFILES", "VeDirectSession", "mppt_values"]

#: firmware profile -> (labels in order, product id, firmware)
PROFILES: Mapping[str, tuple[tuple[str, ...], str, str]] = {
    "smartsolar": (vedirect.MPPT_LABELS, "0xA060", "161"),
    "bluesolar": (vedirect.MPPT_LABELS_BASIC, "0xA042", "123"),
}
BLOCK_INTERVAL_S = 1.0
_EDBB_PANEL_VOLTAGE = 0xEDBB  # HEX register, 0.01 V
_HEX_LATENCY_S = 0.02
_CS_CODE = {name: code for code, name in vedirect.CS_CODES.items()}
_TRACKER_CODE = {name: code for code, name in vedirect.MPPT_CODES.items()}

#: HEX register -> (size [bytes], raw value from the plant state), VE.Direct HEX scales
HEX_REGISTERS: Mapping[int, tuple[int, Callable[[PlantState], int]]] = {
    0xEDBB: (2, lambda s: round(s.pv_voltage * 100)),  # panel voltage 0.01 V
    0xEDBC: (4, lambda s: round(s.pv_power * 100)),  # panel power 0.01 W
    0xEDD5: (2, lambda s: round(s.battery_voltage * 100)),  # charger voltage 0.01 V
    0xEDD7: (2, lambda s: round(s.charger_current * 10)),  # charger current 0.1 A
    0xEDAD: (2, lambda s: 0),  # load current 0.1 A
    0x0201: (1, lambda s: _CS_CODE[s.charge_state]),  # device state
    0xEDDA: (1, lambda s: 0),  # charger error
    0xEDB3: (1, lambda s: 0 if s.charge_state == "off" else 2 if s.charge_state == "bulk" else 1),
    0xEDD3: (2, lambda s: round(s.yield_today / 10)),  # yield today 0.01 kWh
    0xEDDC: (4, lambda s: round(s.yield_total / 10)),  # user yield 0.01 kWh
    0xEDD2: (2, lambda s: round(s.max_power_today)),  # max power today W
    0xEDD0: (2, lambda s: round(s.max_power_yesterday)),  # max power yesterday W
}


def mppt_values(state: PlantState, *, product_id: str, firmware: str) -> dict[str, Value]:
    """The canonical values a VE.Direct MPPT reports for ``state``."""
    v = state.charger_values()
    stage = str(v["charge_state"])
    tracker = "off" if stage == "off" else ("mppt" if stage == "bulk" else "limited")
    return {
        "product_id": product_id,
        "firmware_version": firmware,
        "serial_number": "HQ2235ABC12",
        "battery_voltage": v["battery_voltage"],
        "battery_current": v["battery_current"],
        "pv_voltage": v["pv_voltage"],
        "pv_power": round(float(v["pv_power"])),
        "charge_state": stage,
        "tracker_mode": tracker,
        "off_reason": "no_input_power" if stage == "off" else "",
        "error_code": 0,
        "load_output_on": 0,
        "load_current": 0.0,
        "yield_total": state.yield_total,
        "yield_today": state.yield_today,
        "max_power_today": round(state.max_power_today),
        "yield_yesterday": state.yield_yesterday,
        "max_power_yesterday": round(state.max_power_yesterday),
        "day_sequence": state.day_sequence % 365,
    }


class VeDirectSession:
    """The text stream one reader sees.

    Parameters
    ----------
    plant : PlantSource
        Source of the values.
    faults : Faults
        Active faults.
    profile : str
        A key of :data:`PROFILES`.
    time_scale : float
        Multiplies the block interval (tests run at 0.1).
    now : float
        Monotonic time of the connection. [s]
    """

    def __init__(
        self,
        plant: PlantSource,
        faults: Faults,
        *,
        profile: str = "smartsolar",
        time_scale: float = 1.0,
        now: float = 0.0,
    ) -> None:
        self.plant = plant
        self.faults = faults
        self.labels, self.product_id, self.firmware = PROFILES[profile]
        self.interval = BLOCK_INTERVAL_S * time_scale
        self.out = OutputQueue()
        self._next = now + 0.05 * time_scale
        self._rx = bytearray()

    def receive(self, data: bytes, now: float) -> None:
        """HEX requests (``:`` ... ``\\n``); anything else is ignored, as in text mode."""
        self._rx += data
        while (nl := self._rx.find(b"\n")) >= 0:
            line = bytes(self._rx[:nl]).strip()
            del self._rx[: nl + 1]
            start = line.rfind(b":")
            if start < 0 or self.faults.on("silent"):
                continue
            try:
                request = vedirect.parse_hex_frame(line[start:])
            except BridgeError:
                continue  # a real device ignores HEX frames with a bad check byte
            self.out.put(now + _HEX_LATENCY_S, self.hex_reply(request.command, request.payload))
        if len(self._rx) > 256:
            self._rx.clear()

    def hex_reply(self, command: int, payload: bytes) -> bytes:
        """The HEX frame answering ``command`` with ``payload``."""
        if command == 0x1:  # ping -> 0x5 with the firmware version (BCD-ish, LE)
            return vedirect.build_hex_frame(
                0x5, (0x4000 | int(self.firmware, 16)).to_bytes(2, "little")
            )
        if command != 0x7 or len(payload) < 2:
            return vedirect.build_hex_frame(0x3, payload[:2])  # unknown command
        register = int.from_bytes(payload[:2], "little")
        entry = HEX_REGISTERS.get(register)
        if entry is None:
            return vedirect.build_hex_frame(0x7, payload[:2] + b"\x01")  # flags: unknown id
        size, value = entry
        raw = value(self.plant.state()) & ((1 << 8 * size) - 1)
        return vedirect.build_hex_frame(0x7, payload[:2] + b"\x00" + raw.to_bytes(size, "little"))

    def wakeup(self) -> float:
        return min(self._next, self.out.next_time())

    def due(self, now: float) -> list[bytes]:
        while self._next <= now:
            if not self.faults.on("silent"):
                self._emit(self._next)
            self._next += self.interval
            if self._next < now - 5 * self.interval:  # fell far behind: skip, do not burst
                self._next = now
        return self.out.pop_due(now)

    def block(self) -> tuple[bytes, PlantState]:
        """One valid block for the plant's present state."""
        state = self.plant.state()
        values = mppt_values(state, product_id=self.product_id, firmware=self.firmware)
        return vedirect.encode_block(values, self.labels), state

    def _emit(self, at: float) -> None:
        frame, state = self.block()
        f = self.faults
        if f.hit("bad_checksum"):
            frame = frame[:-1] + bytes(((frame[-1] + 1) & 0xFF,))
        if f.hit("corrupt_bytes"):
            frame = f.corrupt(frame, start=2, end=len(frame) - 1)
        if f.hit("truncated"):
            frame = f.truncate(frame)
        if f.hit("hex_after_checksum"):
            raw = round(state.pv_voltage * 100.0)
            frame += vedirect.build_async_frame(_EDBB_PANEL_VOLTAGE, raw & 0xFFFF)
        self.out.put_frame(at, frame, f)
