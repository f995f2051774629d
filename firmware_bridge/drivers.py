"""Per-protocol port handling under :class:`firmware_bridge.device.Device`.

Responsible for: one exchange with a device per ``poll``: listen to a
streaming device for a window (VE.Direct: the latest complete block wins,
blocks merged so split field sets add up), send queries and frame the
replies (PI30: flush stale input, send QPIGS/QMOD/QPIWS, QPIRI once per
connection), or read register blocks through pymodbus (EPEver). Framer
rejects are added to ``stats.checksum_errors``. PI30 also writes the
whitelisted settings and reads them back (:meth:`Pi30Driver.write_setting`).

Does NOT: retry or reconnect (the device does), log, or keep readings.
Raises only :class:`~firmware_bridge.errors.DeviceUnavailable` (port gone),
:class:`~firmware_bridge.errors.DeviceTimeout` (nothing valid came) and
other :class:`~firmware_bridge.errors.BridgeError` subclasses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal, Protocol

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusException

from firmware_bridge.errors import BridgeError, DeviceTimeout, DeviceUnavailable, ProtocolError
from firmware_bridge.protocols import MODBUS_MAPS, PROTOCOLS
from firmware_bridge.protocols.base import ProtocolSpec, Values
from firmware_bridge.protocols.modbus_map import RegisterMap
from firmware_bridge.readings import Value
from firmware_bridge.timestamps import isoformat_z
from firmware_bridge.transport import Port, open_port

__all__ = [
    "DeviceStats",
    "Driver",
    "ModbusDriver",
    "Pi30Driver",
    "SettingResult",
    "VeDirectDriver",
    "make_driver",
    "modbus_driver",
    "pi30_driver",
    "vedirect_driver",
]

#: VE.Direct: restart framing after this much silence mid-block (OnBattery's rule) [s]
_STALL_RESET = 0.5
#: VE.Direct: an update (one or two blocks sent back to back) has ended after this much
#: silence; updates come once a second [s]
_QUIET = 0.1


@dataclasses.dataclass(slots=True)
class DeviceStats:
    """Counters of one device (the ``devices`` entry of the status message)."""

    connected: bool = False
    frames_good: int = 0
    checksum_errors: int = 0
    protocol_errors: int = 0
    timeouts: int = 0
    reconnects: int = 0
    last_reading_utc: datetime | None = None
    stale: bool = True
    #: label or field code the tables do not know -> times seen (VE.Direct labels as
    #: sent; PI30 ``"QPIRI battery_type=9"``, ``"QPIRI field 28"``)
    unknown_fields: dict[str, int] = dataclasses.field(default_factory=dict)
    #: commands the device refused (NAK) and that are no longer asked (PI30 QET...)
    unsupported_commands: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``last_reading`` as ISO 8601 with ``Z`` (or None)."""
        out = dataclasses.asdict(self)
        stamp = out.pop("last_reading_utc")
        out["last_reading"] = (
            isoformat_z(stamp) if stamp else None
        )
        return out


def count_unknown(stats: DeviceStats, key: str, n: int = 1) -> None:
    """Count ``n`` occurrences of something the tables do not know (label, enum code)."""
    stats.unknown_fields[key] = stats.unknown_fields.get(key, 0) + n


class Driver(Protocol):
    """What a device needs from a protocol driver."""

    url: str
    #: names read once per connection (ratings): never reported stale
    static_names: frozenset[str]

    def open(self) -> None:
        """Open the port; raises DeviceUnavailable."""
        ...

    def poll(self, stats: DeviceStats) -> Values:
        """One exchange; returns fresh canonical values."""
        ...

    def close(self) -> None:
        """Close the port; never raises."""
        ...

    def take_unit_values(self) -> dict[str, Values]:
        """Values of further units read in the last poll (unit suffix -> values), once."""
        ...


class _PortDriver:
    """Shared open/close of a pyserial port."""

    def __init__(
        self, url: str, *, baudrate: int, timeout: float, monotonic: Callable[[], float]
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.timeout = timeout
        self.monotonic = monotonic
        self.port: Port | None = None
        self.static_names: frozenset[str] = frozenset()

    def open(self) -> None:
        self.close()
        self.port = open_port(self.url, baudrate=self.baudrate, timeout=self.timeout)
        self.on_open()

    def on_open(self) -> None:
        """Hook run after each (re)open."""

    def take_unit_values(self) -> dict[str, Values]:
        """No further units on this port."""
        return {}

    def close(self) -> None:
        if self.port is not None:
            self.port.close()
            self.port = None

    def _port(self) -> Port:
        if self.port is None:
            raise DeviceUnavailable(f"{self.url}: not open")
        return self.port


class VeDirectDriver(_PortDriver):
    """Listen to a VE.Direct text stream for up to ``timeout`` seconds per poll.

    One poll returns one device update: a block that carries ``PID`` opens an
    update and the blocks after it without ``PID`` (a BMV's history block) are
    merged into it. The update ends when the line has been quiet for
    ``_QUIET`` seconds or the next update begins (that block is kept for the
    next poll). A lost second block still leaves the first as a reading.
    Labels the table does not know are counted per label in
    ``stats.unknown_fields``.
    """

    def on_open(self) -> None:
        self.framer = PROTOCOLS["vedirect"].module.VeDirectFramer()
        self._next: list[Any] = []  # blocks of the next update, read early

    def poll(self, stats: DeviceStats) -> Values:
        port, framer = self._port(), self.framer
        module = PROTOCOLS["vedirect"].module
        bad0 = framer.frames_bad
        update: list[Any] = self._next
        self._next = []
        deadline = self.monotonic() + self.timeout
        last_byte = self.monotonic()
        while (left := deadline - self.monotonic()) > 0:
            chunk = port.read_some(left)
            now = self.monotonic()
            if chunk:
                if now - last_byte > _STALL_RESET:
                    framer.reset()
                last_byte = now
                for block in framer.feed(chunk):
                    if self._next or (update and module.starts_update(block)):
                        self._next.append(block)
                    else:
                        update.append(block)
            if update and (self._next or (now - last_byte >= _QUIET and not port.pending())):
                break
        stats.checksum_errors += framer.frames_bad - bad0
        if not update:
            raise DeviceTimeout(f"{self.url}: no valid VE.Direct block within {self.timeout} s")
        values: Values = {}
        for block in update:
            try:
                values.update(module.decode_block(block))
            except BridgeError:
                stats.protocol_errors += 1
                continue
            stats.frames_good += 1
            for label in module.unknown_labels(block):
                count_unknown(stats, label)
        return values


class _NakError(ProtocolError):
    """The device refused a command."""


#: Outcome of :meth:`Pi30Driver.write_setting`.
SettingStatus = Literal["applied", "refused", "not_applied", "unsupported", "failed"]


@dataclasses.dataclass(frozen=True, slots=True)
class SettingResult:
    """What became of one setting write.

    Attributes
    ----------
    name : str
        The setting (its QPIRI field, a key of ``pi30.SETTERS``).
    value : Value
        What was asked.
    status : str
        ``applied`` (ACK and QPIRI reads it back), ``refused`` (the device
        answered NAK: now recorded as unsupported), ``not_applied`` (ACK, but
        QPIRI did not show it within the bound), ``unsupported`` (refused
        before: not sent again) or ``failed`` (no valid answer to the command:
        a serial fault, counted in the stats like a read's).
    read_back : Value or None
        The last QPIRI value of the setting (None when none was read).
    command : str
        The command text sent (``POP02``).
    """

    name: str
    value: Value
    status: SettingStatus
    read_back: Value | None
    command: str


class Pi30Driver(_PortDriver):
    """Query a PI30 inverter.

    Every poll: QPIGS, QMOD, QPIWS, QPIGS2 (second PV input) and, with
    ``parallel_units`` > 0, QPGS0 .. QPGS<n-1> (one reading per unit, see
    :meth:`take_unit_values`). Once per connection: QPIRI. At most once per
    ``energy_period``: the energy counters QET, QEYyyyy, QEMyyyymm,
    QEDyyyymmdd (and the load counters QLT...), dated with ``today()``, the
    inverter's local date. A command the firmware refuses (NAK) other than
    the four basic ones is recorded once in ``stats.unsupported_commands`` and
    not asked again (a refused PV or load counter stands for its whole group:
    QET refused, QEY/QEM/QED are not asked); fields a reply carries that the tables do not know are
    counted in ``stats.unknown_fields``. Also once per connection: QID and
    QVFW (``serial_number``, ``firmware_version``) and QMUCHGCR (the allowed
    utility charge currents, for :meth:`write_setting`), each optional.
    ``sleep`` waits between read-backs of :meth:`write_setting` (injected).
    """

    def __init__(
        self,
        url: str,
        *,
        baudrate: int,
        timeout: float,
        monotonic: Callable[[], float],
        parallel_units: int = 0,
        energy_period: float = 60.0,
        today: Callable[[], date] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(url, baudrate=baudrate, timeout=timeout, monotonic=monotonic)
        self.sleep = sleep
        self.ratings: Values = {}
        self.utility_currents: tuple[int, ...] = ()
        self.parallel_units = parallel_units
        self.energy_period = energy_period
        self.today = today or (lambda: datetime.now().astimezone().date())
        self._units: dict[str, Values] = {}

    def on_open(self) -> None:
        self.need_ratings = True
        self.need_identity = True
        self._energy_due = self.monotonic()

    def take_unit_values(self) -> dict[str, Values]:
        """Per-unit values of the last poll (parallel systems): ``{"0": {...}, "1": {...}}``."""
        out, self._units = self._units, {}
        return out

    def _commands(self, stats: DeviceStats) -> list[tuple[str, bool]]:
        """(command, optional) pairs to send this poll."""
        module = PROTOCOLS["pi30"].module
        refused = set(stats.unsupported_commands)
        out = [("QPIRI", False)] if self.need_ratings else []
        out += [(command, False) for command in module.POLL_COMMANDS]
        out += [(command, True) for command in module.OPTIONAL_COMMANDS]
        out += [(f"QPGS{n}", True) for n in range(self.parallel_units)]
        if self.monotonic() >= self._energy_due:
            self._energy_due = self.monotonic() + self.energy_period
            out += [(command, True) for command in module.energy_commands(self.today())]
        if self.need_identity:  # after the live values: identity can wait a poll
            out += [(command, True) for command in (*module.IDENTITY_COMMANDS, "QMUCHGCR")]
            self.need_identity = False
        return [(c, opt) for c, opt in out if module.command_family(c) not in refused
                and c not in refused]

    def poll(self, stats: DeviceStats) -> Values:
        module = PROTOCOLS["pi30"].module
        values: Values = {}
        answered = False
        for command, optional in self._commands(stats):
            if module.command_family(command) in stats.unsupported_commands:
                continue  # a sibling counter was refused earlier in this poll
            try:
                answer = self.query(command, stats)
            except DeviceTimeout:
                if not answered:
                    raise  # silent from the first query: one timeout for the poll
                stats.timeouts += 1
                continue
            except DeviceUnavailable:
                raise
            except _NakError:
                answered = True
                if optional:
                    family = module.command_family(command)
                    if family in module.ENERGY_COUNTERS:  # QET refused: no QE* at all
                        stats.unsupported_commands += [
                            f for f in module.ENERGY_COUNTERS
                            if f[:2] == family[:2] and f not in stats.unsupported_commands]
                    else:
                        stats.unsupported_commands.append(
                            family if family != "QPGS" else command)
                else:
                    stats.protocol_errors += 1
                continue
            except BridgeError:  # a reply that does not decode
                answered = True
                stats.protocol_errors += 1
                continue
            answered = True
            if command == "QPIRI":
                self.need_ratings = False
                self.ratings = dict(answer)
                self.static_names = (frozenset(answer) | frozenset(module.ENERGY_COUNTERS.values())
                                     | {"serial_number", "firmware_version"})
            if command == "QMUCHGCR":
                continue
            if module.command_family(command) == "QPGS":
                self._units[command[4:]] = answer
            else:
                values.update(answer)
        return values

    def query(self, command: str, stats: DeviceStats) -> Values:
        """Send one command and decode its reply (unknown fields are counted)."""
        module = PROTOCOLS["pi30"].module
        reply = self._exchange(command, module.build_request(command), stats)
        if reply.nak:
            raise _NakError(f"{command}: device answered NAK")
        if command == "QMUCHGCR":
            self.utility_currents = module.parse_current_choices(reply.payload)
            stats.frames_good += 1
            return {}
        decoded = module.decode(command, reply)
        for key in decoded.unknown:
            count_unknown(stats, key)
        stats.frames_good += 1
        values: Values = decoded.values
        return values

    def write_setting(
        self, name: str, value: Value, stats: DeviceStats, *,
        apply_timeout: float = 600.0, read_interval: float = 30.0,
    ) -> SettingResult:
        """Send one whitelisted setting, then read it back with QPIRI until it shows.

        Parameters
        ----------
        name : str
            A key of ``pi30.SETTERS`` (``output_source_priority``...).
        value : Value
            Enum name or number ([V] for PBCV/PBDV, [A] for MUCHGC).
        stats : DeviceStats
            Counters: serial faults are counted as for reads; a NAK'd command
            is appended to ``unsupported_commands`` and never sent again.
        apply_timeout : float
            How long to wait for QPIRI to show the value; real units can take
            minutes (esphome-pipsolar #27) [s].
        read_interval : float
            Wait between QPIRI read-backs [s].

        Raises
        ------
        SettingError
            ``name`` is not whitelisted or ``value`` is out of this unit's range
            (nothing is sent). Without the unit's QPIRI (it does not answer) the
            result is ``failed`` and nothing is sent.
        DeviceUnavailable
            The port is not open.
        """
        module = PROTOCOLS["pi30"].module
        if name not in module.SETTERS:
            module.build_setting(name, value, None)  # raises: not on the whitelist
        if not self.ratings:
            with contextlib.suppress(BridgeError):
                self.ratings = dict(self._read_qpiri(stats))
            if not self.ratings:  # no QPIRI: no range to check against, nothing sent
                return SettingResult(name, value, "failed", None, "")
        ratings = module.setting_ratings(self.ratings, self.utility_currents)
        request = module.build_setting(name, value, ratings)
        command = request[:-3].decode("ascii")
        setter = module.SETTERS[name]
        before = setter.read_back(self.ratings) if self.ratings else None

        def result(status: SettingStatus, read_back: Value | None) -> SettingResult:
            return SettingResult(name, value, status, read_back, command)

        if command in stats.unsupported_commands:
            return result("unsupported", before)
        try:
            reply = self._exchange(command, request, stats)
        except DeviceUnavailable:
            raise
        except DeviceTimeout:
            stats.timeouts += 1
            return result("failed", before)
        if reply.nak:
            stats.unsupported_commands.append(command)
            return result("refused", before)
        if not reply.ack:
            stats.protocol_errors += 1
            return result("failed", before)
        stats.frames_good += 1
        deadline = self.monotonic() + apply_timeout
        read_back = before
        while True:
            try:
                qpiri = self._read_qpiri(stats)
            except DeviceUnavailable:
                raise
            except BridgeError:
                qpiri = {}
            else:
                self.ratings = dict(qpiri)
                read_back = setter.read_back(qpiri)
                if _same(read_back, value):
                    return result("applied", read_back)
            if self.monotonic() + read_interval > deadline:
                return result("not_applied", read_back)
            self.sleep(read_interval)

    def _read_qpiri(self, stats: DeviceStats) -> Values:
        """One QPIRI, with faults counted as for a poll's queries."""
        try:
            return self.query("QPIRI", stats)
        except DeviceTimeout:
            stats.timeouts += 1
            raise
        except DeviceUnavailable:
            raise
        except BridgeError:
            stats.protocol_errors += 1
            raise

    def _exchange(self, command: str, request: bytes, stats: DeviceStats) -> Any:
        """Send ``request``; the last valid reply (framer rejects counted)."""
        module = PROTOCOLS["pi30"].module
        port = self._port()
        framer = module.Pi30Framer()
        port.flush_input()
        port.write(request)
        replies: list[Any] = []

        def done(chunk: bytes) -> bool:
            replies.extend(framer.feed(chunk))
            return bool(replies)

        port.read_for(self.timeout, stop=done)
        stats.checksum_errors += framer.frames_bad
        if not replies:
            raise DeviceTimeout(f"{self.url}: no valid reply to {command} within {self.timeout} s")
        return replies[-1]


def _same(read_back: Value | None, wanted: Value) -> bool:
    """Whether a QPIRI value shows the setting (numbers to 0.05)."""
    if isinstance(wanted, int | float) and isinstance(read_back, int | float):
        return abs(float(read_back) - float(wanted)) < 0.05
    return read_back == wanted


class ModbusDriver:
    """Read any register map through pymodbus's serial client (one generic driver).

    Each poll reads the map's :meth:`~.modbus_map.RegisterMap.read_blocks` (input
    registers with fc 4, holding registers with fc 3) and decodes the snapshot
    with the same map; enum codes the map does not know are counted in
    ``stats.unknown_fields``. pymodbus's ``ModbusSerialClient`` opens ports with
    ``serial.serial_for_url``, so device paths, pty links and
    ``socket://host:port`` all work.
    """

    def __init__(
        self, url: str, *, baudrate: int, timeout: float, device_id: int,
        register_map: RegisterMap,
    ) -> None:
        self.register_map = register_map
        self.blocks = register_map.read_blocks()
        self.url = url
        self.baudrate = baudrate
        self.timeout = timeout
        self.device_id = device_id
        self.client: ModbusSerialClient | None = None
        self._rx = bytearray()
        self.static_names: frozenset[str] = frozenset()

    def _trace(self, sending: bool, data: bytes) -> bytes:
        """pymodbus packet hook: keep the bytes received since the last request."""
        if sending:
            self._rx.clear()
        else:
            self._rx += data
        return data

    def open(self) -> None:
        self.close()
        client = ModbusSerialClient(
            self.url,
            baudrate=self.baudrate,
            timeout=self.timeout,
            retries=0,
            reconnect_delay=0,
            trace_packet=self._trace,
        )
        if not client.connect():
            raise DeviceUnavailable(f"cannot open {self.url}")
        self.client = client

    def poll(self, stats: DeviceStats) -> Values:
        registers: dict[int, int] = {}
        for table, address, count in self.blocks:
            words = self._read_block(table, address, count, stats)
            if words is None:  # no reply at all
                if not registers:
                    raise DeviceTimeout(f"{self.url}: no reply from unit {self.device_id}")
                stats.timeouts += 1
                continue
            registers.update(zip(range(address, address + count), words, strict=False))
        unknown: list[str] = []
        values: Values = self.register_map.decode(registers, unknown)
        for key in unknown:
            count_unknown(stats, key)
        return values

    def _read_block(
        self, table: str, address: int, count: int, stats: DeviceStats
    ) -> list[int] | None:
        """Words of one block ([] after a bad or refused reply, None after silence)."""
        client = self.client
        if client is None or not client.connected:
            raise DeviceUnavailable(f"{self.url}: not open")
        try:
            read = (client.read_input_registers if table == "input"
                    else client.read_holding_registers)
            reply = read(address, count=count, device_id=self.device_id)
        except ConnectionException as exc:
            raise DeviceUnavailable(f"{self.url}: {exc}") from exc
        except ModbusException:
            if not client.connected:
                raise DeviceUnavailable(f"{self.url}: port closed") from None
            if self._rx:  # bytes came, but no valid frame: CRC or framing damage
                stats.checksum_errors += 1
                return []
            return None
        if reply.isError():
            stats.protocol_errors += 1
            return []
        stats.frames_good += 1
        return list(reply.registers)

    def take_unit_values(self) -> dict[str, Values]:
        """No further units on this port."""
        return {}

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()  # type: ignore[no-untyped-call]
            self.client = None


def vedirect_driver(
    spec: ProtocolSpec, url: str, *, baudrate: int, timeout: float,
    monotonic: Callable[[], float], **_: object,
) -> Driver:
    """Driver factory of the VE.Direct entry of ``PROTOCOLS`` (see :func:`make_driver`)."""
    return VeDirectDriver(url, baudrate=baudrate, timeout=timeout, monotonic=monotonic)


def pi30_driver(
    spec: ProtocolSpec, url: str, *, baudrate: int, timeout: float,
    monotonic: Callable[[], float], parallel_units: int = 0, **_: object,
) -> Driver:
    """Driver factory of the PI30 entry of ``PROTOCOLS`` (see :func:`make_driver`)."""
    return Pi30Driver(url, baudrate=baudrate, timeout=timeout, monotonic=monotonic,
                      parallel_units=parallel_units)


def modbus_driver(
    spec: ProtocolSpec, url: str, *, baudrate: int, timeout: float, device_id: int = 1,
    **_: object,
) -> Driver:
    """Driver factory of every Modbus map in ``PROTOCOLS`` (see :func:`make_driver`)."""
    return ModbusDriver(url, baudrate=baudrate, timeout=timeout, device_id=device_id,
                        register_map=MODBUS_MAPS[spec.name])


def make_driver(
    protocol: str,
    url: str,
    *,
    baudrate: int = 0,
    timeout: float = 2.0,
    device_id: int = 1,
    monotonic: Callable[[], float] = time.monotonic,
    parallel_units: int = 0,
) -> Driver:
    """The driver for ``protocol`` (a key of ``PROTOCOLS``) on ``url``.

    The protocol's spec names its factory (:attr:`ProtocolSpec.driver`); every
    factory takes the same keywords and uses those that apply to it.

    Raises
    ------
    KeyError
        Unknown protocol.
    """
    spec = PROTOCOLS[protocol]
    driver: Driver = spec.driver_factory()(
        spec, url, baudrate=baudrate or spec.baudrate, timeout=timeout, device_id=device_id,
        monotonic=monotonic, parallel_units=parallel_units,
    )
    return driver
