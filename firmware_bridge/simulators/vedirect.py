"""Simulated Victron SmartSolar/BlueSolar MPPT and BMV battery monitor (VE.Direct text).

Responsible for: one text block per second (scaled by ``time_scale``) built
with :func:`firmware_bridge.protocols.vedirect.encode_block` (the decoder's
own table) from the plant's charge controller state, in the field order of
real firmware profiles, with the faults of :mod:`.faults` applied to the
bytes on the wire. The ``bmv`` profile is a BMV-702 on the plant's battery:
every update is two blocks, the main block (voltage, current, power, consumed
Ah, SOC, time-to-go, alarm) and the history block H1-H18, which the monitor
keeps in its memory (:class:`MonitorHistory`) as the battery charges and
discharges.

It also answers HEX ``get`` (``:7``) requests for the common run-time
registers and ``ping`` (``:1``), as newer firmware does while streaming
text; other HEX commands get the "unknown command" reply (``:3``).

Does NOT: implement HEX ``set`` (settings cannot be changed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime

from firmware_bridge.errors import BridgeError
from firmware_bridge.protocols import vedirect
from firmware_bridge.protocols.base import ProtocolSpec
from firmware_bridge.readings import Value
from firmware_bridge.simulators.endpoints import OutputQueue
from firmware_bridge.simulators.faults import Faults
from firmware_bridge.simulators.source import PlantSource, PlantState

__all__ = [
    "BMV_PROFILE",
    "PROFILES",
    "MonitorHistory",
    "VeDirectSession",
    "bmv_values",
    "mppt_values",
    "session_factory",
]

#: firmware profile -> (labels in order, product id, firmware)
PROFILES: Mapping[str, tuple[tuple[str, ...], str, str]] = {
    "smartsolar": (vedirect.MPPT_LABELS, "0xA060", "161"),
    "bluesolar": (vedirect.MPPT_LABELS_BASIC, "0xA042", "123"),
}
#: the battery monitor profile: (product id, firmware, model text) of a BMV-702
BMV_PROFILE: tuple[str, str, str] = ("0x204", "308", "702")
BLOCK_INTERVAL_S = 1.0
_FULL_SOC = 99.5  # [%] the monitor synchronises (full charge) above this
_LOW_SOC_ALARM = 20.0  # [%] BMV default low-SOC alarm
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


def bmv_values(state: PlantState, capacity: float) -> dict[str, Value | None]:
    """The main-block values a BMV-702 on the plant's battery reports.

    Parameters
    ----------
    state : PlantState
        The plant now.
    capacity : float
        Battery capacity. [Ah]
    """
    current = state.battery_current
    consumed = -(100.0 - state.battery_soc) / 100.0 * capacity
    ttg: float | None = None
    if current < -0.05:  # discharging: minutes until empty at this rate (BMV caps at 240 h)
        ttg = min(state.battery_soc / 100.0 * capacity / -current * 60.0, 14400.0)
    alarm = state.battery_soc < _LOW_SOC_ALARM
    pid, firmware, model = BMV_PROFILE
    return {
        "product_id": pid,
        "battery_voltage": state.battery_voltage,
        "battery_current": current,
        "battery_power": round(state.battery_voltage * current),
        "consumed_charge": consumed,
        "battery_soc": state.battery_soc,
        "time_to_go": None if ttg is None else round(ttg),
        "alarm_on": int(alarm),
        "relay_on": 0,
        "alarm_reason": "low_soc" if alarm else "",
        "monitor_model": model,
        "firmware_version": firmware,
    }


class MonitorHistory:
    """The history a battery monitor keeps (H1-H18), updated from each plant state.

    Depths are negative amp-hours as the BMV sends them; energies integrate
    V * I over the plant's (simulated) time.
    """

    def __init__(self, capacity: float) -> None:
        self.capacity = capacity
        self.time: datetime | None = None
        self.deepest = self.last = 0.0
        self.depths: list[float] = []
        self.cycles = self.full_discharges = self.syncs = self.low_alarms = 0
        self.drawn = 0.0  # [Ah], negative
        self.v_min = self.v_max = float("nan")
        self.full_at: datetime | None = None
        self.discharged = self.charged = 0.0  # [Wh]
        self._in_alarm = self._empty = False
        self._below_full = False

    def update(self, state: PlantState) -> dict[str, Value]:
        """Account for the time since the last update; the history block's values."""
        consumed = -(100.0 - state.battery_soc) / 100.0 * self.capacity
        if self.time is not None:
            hours = max((state.time - self.time).total_seconds(), 0.0) / 3600.0
            power = state.battery_voltage * state.battery_current
            if state.battery_current < 0:
                self.drawn += state.battery_current * hours
                self.discharged += -power * hours
            else:
                self.charged += power * hours
        self.time = state.time
        if self.full_at is None:
            self.full_at = state.time
        if self.v_min != self.v_min:  # first update (NaN)
            self.v_min = self.v_max = state.battery_voltage
        self.v_min = min(self.v_min, state.battery_voltage)
        self.v_max = max(self.v_max, state.battery_voltage)
        self.last = min(self.last, consumed)
        self.deepest = min(self.deepest, consumed)
        if state.battery_soc >= _FULL_SOC and self._below_full:  # a full charge: synchronised
            self.depths.append(self.last)
            self.cycles += 1
            self.syncs += 1
            self.full_at = state.time
            self.last = 0.0
        self._below_full = state.battery_soc < _FULL_SOC
        alarm = state.battery_soc < _LOW_SOC_ALARM
        self.low_alarms += alarm and not self._in_alarm
        self._in_alarm = alarm
        empty = state.battery_soc < 1.0
        self.full_discharges += empty and not self._empty
        self._empty = empty
        average = sum(self.depths) / len(self.depths) if self.depths else self.last
        return {
            "deepest_discharge": self.deepest,
            "last_discharge": self.last,
            "average_discharge": average,
            "charge_cycles": self.cycles,
            "full_discharges": self.full_discharges,
            "cumulative_charge_drawn": self.drawn,
            "min_battery_voltage": self.v_min,
            "max_battery_voltage": self.v_max,
            "seconds_since_full_charge": round((state.time - self.full_at).total_seconds()),
            "automatic_syncs": self.syncs,
            "low_voltage_alarms": self.low_alarms,
            "high_voltage_alarms": 0,
            "discharged_energy_total": self.discharged,
            "charged_energy_total": self.charged,
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
        A key of :data:`PROFILES`, or ``bmv`` (a BMV-702 on the plant's battery).
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
        self.bmv: MonitorHistory | None = None
        if profile == "bmv":
            self.bmv = MonitorHistory(plant.ratings.battery_capacity)
            self.labels, (self.product_id, self.firmware, _) = vedirect.BMV_LABELS, BMV_PROFILE
        else:
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
        """One update for the plant's present state (the BMV sends two blocks)."""
        state = self.plant.state()
        if self.bmv is not None:
            main = bmv_values(state, self.bmv.capacity)
            history = self.bmv.update(state)
            return (vedirect.encode_block(main, vedirect.BMV_LABELS)
                    + vedirect.encode_block(history, vedirect.BMV_HISTORY_LABELS)), state
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


def session_factory(
    spec: ProtocolSpec, plant: PlantSource, faults: Faults, *, time_scale: float,
    profile: str | None,
) -> Callable[[], VeDirectSession]:
    """Session maker of the VE.Direct entry of the registry (profile default ``smartsolar``)."""
    return lambda: VeDirectSession(
        plant, faults, profile=profile or "smartsolar", time_scale=time_scale,
        now=time.monotonic(),
    )
