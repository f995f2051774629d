"""The pollers: one thread per device, their queue of readings, the device checks.

Responsible for: polling each device on its own interval (a thread each, or
once on the caller's thread with :meth:`Pollers.poll_once`), queueing every
reading with the names that went stale, restarting a poller that crashed,
and turning device notices and connected/stale transitions into events.

Does NOT: store or publish readings (the agent loop does), or parse bytes.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from edge.runtime.interfaces import DeviceLike, EventSink
    from firmware_bridge.clock import Clock
    from firmware_bridge.readings import Reading

__all__ = ["Polled", "Poller", "Pollers"]

#: status key -> (value that is bad, event code when it turns bad, when it recovers)
_TRANSITIONS = {
    "connected": (False, "device_disconnected", "device_connected"),
    "stale": (True, "device_stale", "device_fresh"),
}
#: Readings waiting for the loop. [-]
QUEUE_SIZE = 10_000
#: Longest a poller waits for room in a full queue. [s]
PUT_TIMEOUT_S = 5.0


class Polled(NamedTuple):
    """One reading and the names of its device that are stale."""

    reading: Reading
    stale: list[str]


@dataclass(slots=True)
class Poller:
    """One device and its thread."""

    device_id: str
    device: DeviceLike
    interval: float  # [s]
    thread: threading.Thread | None = None
    error: BaseException | None = None
    last: dict[str, Any] = field(default_factory=dict)
    was_stale: bool = False  # a device_stale event went out (the start-up state is stale)


class Pollers:
    """The pollers of all devices and the queue their readings go to.

    Parameters
    ----------
    devices : mapping
        Device id -> opened device.
    intervals : mapping
        Device id -> poll interval (1 s when absent). [s]
    clock : Clock
        Monotonic time for the poll intervals.
    """

    def __init__(self, devices: Mapping[str, DeviceLike], intervals: Mapping[str, float],
                 clock: Clock) -> None:
        self.clock = clock
        self.pollers = {dev_id: Poller(dev_id, dev, intervals.get(dev_id, 1.0))
                        for dev_id, dev in devices.items()}
        self._queue: queue.Queue[Polled] = queue.Queue(maxsize=QUEUE_SIZE)
        self._stop = threading.Event()
        self._threads = False

    def __getitem__(self, device_id: str) -> Poller:
        return self.pollers[device_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.pollers)

    def __len__(self) -> int:
        return len(self.pollers)

    # ---------------------------------------------------------- polling
    def start(self, stop: threading.Event) -> None:
        """One thread per device, until ``stop`` is set."""
        self._stop, self._threads = stop, True
        for p in self.pollers.values():
            self._start(p)

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the threads (after ``stop`` is set). [s]"""
        for p in self.pollers.values():
            if p.thread is not None:
                p.thread.join(timeout=timeout)

    def poll_once(self) -> None:
        """Poll every device once on the caller's thread."""
        for p in self.pollers.values():
            self._poll(p)

    def _start(self, p: Poller) -> None:
        p.error = None
        p.thread = threading.Thread(target=self._loop, args=(p, self._stop),
                                    name=f"poll-{p.device_id}", daemon=True)
        p.thread.start()

    def _loop(self, p: Poller, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                t0 = self.clock.monotonic()
                self._poll(p)
                stop.wait(max(p.interval - (self.clock.monotonic() - t0), 0.0))
        except Exception as exc:  # handed to the loop, which reports and restarts it
            p.error = exc

    def _poll(self, p: Poller) -> None:
        """One poll of one device (its reading and its parallel units') into the queue."""
        for reading in p.device.poll_all():
            stale = p.device.stale_names() if reading.device_id == p.device_id else []
            self._queue.put(Polled(reading, stale), timeout=PUT_TIMEOUT_S)

    # ---------------------------------------------------------- the queue
    def take(self, wait: float = 0.0) -> Polled | None:
        """The next reading, waiting up to ``wait`` for one; None if there is none. [s]"""
        try:
            return self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    # ---------------------------------------------------------- checks
    def status(self) -> dict[str, dict[str, Any]]:
        """Device id -> the status-message view of its counters."""
        return {k: p.device.stats.to_dict() for k, p in self.pollers.items()}

    def is_down(self, device_id: str) -> bool:
        """The device is unknown, or was disconnected or stale at the last check."""
        p = self.pollers.get(device_id)
        return p is None or not p.last.get("connected", True) or bool(p.last.get("stale", False))

    def check(self, emit: EventSink) -> bool:
        """Restart crashed pollers, report notices and transitions; True when a device's
        connection changed (the retained status should say so at once)."""
        changed = False
        for p in self.pollers.values():
            if p.error is not None:
                err, p.error = p.error, None
                emit("error", "poller_crashed", f"{p.device_id}: {err!r}; restarting",
                     device=p.device_id)
                if self._threads:
                    self._start(p)
            for notice in p.device.take_notices():
                # once per unknown field or refused command (firmware_bridge.device.DeviceNotice)
                emit("warning", notice.code, notice.message, device=p.device_id,
                     subject=notice.subject)
            status = p.device.stats.to_dict()
            changed = changed or p.last.get("connected") != status["connected"]
            for key, (bad_value, bad_code, good_code) in _TRANSITIONS.items():
                old = p.last.get(key)
                if old is None or old == status[key]:
                    continue
                bad = status[key] == bad_value
                if key == "stale":
                    if not bad and not p.was_stale:
                        continue  # first readings after start: nothing recovered
                    p.was_stale = bad
                emit("warning" if bad else "info", bad_code if bad else good_code,
                     f"{p.device_id}: {key} is now {status[key]}",
                     device=p.device_id, stats=status)
            p.last = status
        return changed
