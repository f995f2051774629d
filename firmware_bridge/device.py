"""A polled device: transport + protocol, surviving real serial failures.

Responsible for: turning a :class:`~firmware_bridge.config.DeviceConfig`-shaped entry
into a :class:`Device` whose :meth:`Device.poll` returns a
:class:`~firmware_bridge.readings.Reading` (or None) and never raises on
serial faults: an adapter that vanishes and comes back (reconnect with
exponential backoff, without restarting the process), a device that stops
answering (timeouts counted, values go stale), garbage and noise (framers
drop bad frames, counted as checksum errors). Counters live in
:class:`DeviceStats`; state transitions are logged.

Does NOT: parse bytes (the protocol modules do, driven by :mod:`firmware_bridge.drivers`),
sleep for backoff (``poll`` returns None at once while waiting to retry; the
caller paces its loop), or publish anything.
"""

from __future__ import annotations

import dataclasses
import logging

from firmware_bridge.clock import Clock, SystemClock
from firmware_bridge.config import DeviceConfig
from firmware_bridge.drivers import DeviceStats, Driver, SettingResult, make_driver
from firmware_bridge.errors import BridgeError, DeviceTimeout, DeviceUnavailable
from firmware_bridge.readings import Reading, Value

__all__ = ["Device", "DeviceNotice", "DeviceSettings", "open_device"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceSettings:
    """Resilience knobs of a device (defaults suit real hardware).

    Attributes
    ----------
    stale_after : float
        A value not refreshed for this long is stale; 0 means
        ``max(10, 5 * poll_interval)``. [s]
    backoff_initial, backoff_max : float
        First and largest wait between reconnect attempts. [s]
    reopen_after_timeouts : int
        Consecutive timeouts after which the port is closed and reopened
        (USB adapters that wedge); 0 disables.
    device_id : int
        Modbus unit id (EPEver default 1).
    parallel_units : int
        PI30 parallel system: ask QPGS0 .. QPGS<n-1> every poll and make one
        reading per unit, device id ``<id>_<n>`` (:meth:`Device.poll_all`); 0 = none.
    """

    stale_after: float = 0.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    reopen_after_timeouts: int = 5
    device_id: int = 1
    parallel_units: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceNotice:
    """Something a device did that the operator should hear about once.

    Attributes
    ----------
    code : str
        ``device_unknown_field`` (a label or enum code the tables do not know) or
        ``device_command_unsupported`` (the device refused a command: NAK).
    message : str
        One line for people.
    subject : str
        The label, field code or command concerned.
    """

    code: str
    message: str
    subject: str


class Device:
    """One device on one port. Build with :func:`open_device`.

    Parameters
    ----------
    device_id : str
        Id put on every reading.
    driver : Driver
        Protocol-specific port handling (see :mod:`firmware_bridge.drivers`).
    clock : Clock
        Time source.
    settings : DeviceSettings
        Staleness and reconnection knobs.
    poll_interval : float
        Configured poll period, for the default staleness. [s]
    """

    def __init__(
        self,
        device_id: str,
        driver: Driver,
        *,
        clock: Clock,
        settings: DeviceSettings,
        poll_interval: float = 1.0,
    ) -> None:
        self.device_id = device_id
        self.driver = driver
        self.clock = clock
        self.settings = settings
        self.stale_after = settings.stale_after or max(10.0, 5.0 * poll_interval)
        self._stats = DeviceStats()
        self._values: dict[str, Value] = {}
        self._seen: dict[str, float] = {}
        self._last_mono: float | None = None
        self._retry_at = clock.monotonic()
        self._backoff = settings.backoff_initial
        self._ever_connected = False
        self._timeouts_in_row = 0
        self._down_logged = False
        self._noted: set[object] = set()
        self._notices: list[DeviceNotice] = []
        self._unit_readings: list[Reading] = []

    # ---------------------------------------------------------------- public
    @property
    def stats(self) -> DeviceStats:
        """Counters, with ``stale`` evaluated now."""
        now = self.clock.monotonic()
        self._stats.stale = self._last_mono is None or now - self._last_mono > self.stale_after
        return dataclasses.replace(
            self._stats,
            unknown_fields=dict(self._stats.unknown_fields),
            unsupported_commands=list(self._stats.unsupported_commands),
        )

    @property
    def values(self) -> dict[str, Value]:
        """Last known value of every name this device has sent."""
        return dict(self._values)

    def stale_names(self) -> list[str]:
        """Names whose last value is older than ``stale_after`` (sorted).

        Names the driver reads once per connection (PI30 QPIRI ratings) never go stale.
        """
        now = self.clock.monotonic()
        static = self.driver.static_names
        return sorted(
            n for n, t in self._seen.items() if now - t > self.stale_after and n not in static
        )

    def poll(self) -> Reading | None:
        """One poll cycle: connect if needed, exchange, return the fresh values.

        Returns None when disconnected (waiting to retry), on a timeout or
        when nothing valid arrived. Never raises on serial faults.
        """
        if not self._stats.connected and not self._connect():
            return None
        try:
            values = self.driver.poll(self._stats)
            self._note_new_unknowns()
        except DeviceTimeout as exc:
            self._note_new_unknowns()
            self._on_timeout(exc)
            return None
        except DeviceUnavailable as exc:
            self._on_lost(exc)
            return None
        except BridgeError as exc:
            self._note_new_unknowns()
            self._stats.protocol_errors += 1
            log.debug("%s: %s", self.device_id, exc)
            return None
        self._timeouts_in_row = 0
        units = self.driver.take_unit_values()
        if units:
            stamp = self.clock.now_utc()
            self._unit_readings = [
                Reading(f"{self.device_id}_{unit}", stamp, v) for unit, v in units.items() if v
            ]
        if not values:
            return None
        return self._accept(values)

    def poll_all(self) -> list[Reading]:
        """One poll cycle; the device's reading plus one per parallel unit (``<id>_<n>``)."""
        self._unit_readings = []
        reading = self.poll()
        out = [reading] if reading is not None else []
        out += self._unit_readings
        self._unit_readings = []
        return out

    def write_setting(
        self, name: str, value: Value, *, apply_timeout: float = 600.0,
        read_interval: float = 30.0,
    ) -> SettingResult:
        """Write one whitelisted setting and read it back (PI30 only; see
        :meth:`~firmware_bridge.drivers.Pi30Driver.write_setting`).

        Never raises on serial faults (status ``failed``, the port reconnects
        on the next poll); raises ``SettingError`` for a value out of range
        and TypeError for a driver without settings.
        """
        write = getattr(self.driver, "write_setting", None)
        if write is None:
            raise TypeError(f"{self.device_id}: its protocol has no setting commands")
        if not self._stats.connected and not self._connect():
            return SettingResult(name, value, "failed", None, "")
        try:
            result: SettingResult = write(name, value, self._stats, apply_timeout=apply_timeout,
                                          read_interval=read_interval)
        except DeviceUnavailable as exc:
            self._on_lost(exc)
            return SettingResult(name, value, "failed", None, "")
        self._note_new_unknowns()
        return result

    def take_notices(self) -> list[DeviceNotice]:
        """Notices raised since the last call (each unknown field or refused command once)."""
        out, self._notices = self._notices, []
        return out

    def close(self) -> None:
        """Close the port (``poll`` would reopen it)."""
        self.driver.close()
        self._stats.connected = False

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- private
    def _note_new_unknowns(self) -> None:
        """Log, and queue as a notice, each unknown field and refused command the first time."""
        stats = self._stats
        for key in stats.unknown_fields:
            if key not in self._noted:
                self._noted.add(key)
                log.warning("%s: the tables do not know %r; left out of readings",
                            self.device_id, key)
                self._notices.append(DeviceNotice(
                    "device_unknown_field", f"{self.device_id}: unknown field {key!r} left out",
                    key))
        for command in stats.unsupported_commands:
            if ("cmd", command) not in self._noted:
                self._noted.add(("cmd", command))
                # optional commands (QPIGS2, energy counters) that firmware may lack: not a fault
                log.info("%s: device refused %s; no longer asked", self.device_id, command)
                self._notices.append(DeviceNotice(
                    "device_command_unsupported",
                    f"{self.device_id}: device refused {command}; its values are left out",
                    command))

    def _connect(self) -> bool:
        now = self.clock.monotonic()
        if now < self._retry_at:
            return False
        try:
            self.driver.open()
        except DeviceUnavailable as exc:
            self._retry_at = now + self._backoff
            if not self._down_logged:
                log.warning("%s: cannot open (%s); retrying with backoff", self.device_id, exc)
                self._down_logged = True
            else:
                log.debug(
                    "%s: still unavailable, next try in %.1f s", self.device_id, self._backoff
                )
            self._backoff = min(self._backoff * 2.0, self.settings.backoff_max)
            return False
        if self._ever_connected:
            self._stats.reconnects += 1
        self._ever_connected = True
        self._stats.connected = True
        self._backoff = self.settings.backoff_initial
        self._down_logged = False
        log.info("%s: connected to %s", self.device_id, self.driver.url)
        return True

    def _on_lost(self, exc: BaseException) -> None:
        log.warning("%s: connection lost (%s)", self.device_id, exc)
        self.driver.close()
        self._stats.connected = False
        self._retry_at = self.clock.monotonic() + self.settings.backoff_initial
        self._backoff = self.settings.backoff_initial * 2.0
        self._down_logged = True

    def _on_timeout(self, exc: DeviceTimeout) -> None:
        self._stats.timeouts += 1
        self._timeouts_in_row += 1
        if self._timeouts_in_row == 1:
            log.warning("%s: %s", self.device_id, exc)
        limit = self.settings.reopen_after_timeouts
        if limit and self._timeouts_in_row % limit == 0:
            log.warning("%s: %d timeouts in a row, reopening the port", self.device_id, limit)
            self.driver.close()
            self._stats.connected = False
            self._retry_at = self.clock.monotonic()

    def _accept(self, values: dict[str, Value]) -> Reading:
        now = self.clock.monotonic()
        stamp = self.clock.now_utc()
        if self._last_mono is not None and now - self._last_mono > self.stale_after:
            log.info("%s: readings resumed", self.device_id)
        self._values.update(values)
        for name in values:
            self._seen[name] = now
        self._last_mono = now
        self._stats.last_reading_utc = stamp
        return Reading(self.device_id, stamp, values)


def open_device(
    cfg: DeviceConfig,
    *,
    clock: Clock | None = None,
    settings: DeviceSettings | None = None,
    connect: bool = True,
) -> Device:
    """A :class:`Device` for ``cfg`` (``firmware_bridge.config.DeviceConfig``).

    Parameters
    ----------
    cfg : DeviceConfig
        Id, protocol (a key of ``PROTOCOLS``), port URL, poll interval,
        baudrate (0 = the protocol's) and reply timeout.
    clock : Clock, optional
        Time source; the system clocks by default.
    settings : DeviceSettings, optional
        Staleness and reconnection knobs.
    connect : bool
        Try to open the port now (a failure is not an error: ``poll`` retries).

    Raises
    ------
    KeyError
        Unknown protocol name.
    """
    clock = clock or SystemClock()
    settings = settings or DeviceSettings()
    driver = make_driver(
        cfg.protocol,
        cfg.port,
        baudrate=cfg.baudrate,
        timeout=cfg.timeout,
        device_id=settings.device_id,
        monotonic=clock.monotonic,
        parallel_units=settings.parallel_units,
    )
    device = Device(cfg.id, driver, clock=clock, settings=settings, poll_interval=cfg.poll_interval)
    if connect:
        device._connect()
    return device
