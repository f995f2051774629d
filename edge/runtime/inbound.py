"""Inbound messages: admission from the MQTT thread, the command table, rejection reports.

Responsible for: :class:`InboundGate`, which admits a message from the MQTT
network thread within its topic's token bucket and the queue's byte budget
and hands it to the agent loop; :class:`CommandTable`, which parses a JSON
command on ``helio/<site>/<gw>/cmd`` (``{"command": name, ...}``) and runs
the handler registered for that name from a short whitelist, or the handler
registered for a sub-topic (``cmd/model``: the model rollout), and turns
every outcome into an event (``command_ok`` / ``command_rejected`` /
``command_failed``); :class:`RejectionReporter`, which reports refused
commands of one kind once per window and sums up the rest, and the drops,
at the heartbeat.

Does NOT: execute anything not in the table, evaluate payloads, or do I/O.
Handlers run in the agent loop's thread. Time comes from the injected clock.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.runtime.interfaces import EventSink
    from firmware_bridge.clock import Clock

__all__ = [
    "INBOUND_BURST", "INBOUND_MAX_BYTES", "INBOUND_PER_CYCLE", "INBOUND_RATE",
    "REJECTION_WINDOW_S", "CommandError", "CommandOutcome", "CommandTable", "InboundGate",
    "RejectionReporter",
]

#: Largest JSON command accepted. [bytes]
MAX_COMMAND_BYTES = 4096

#: Inbound messages admitted per topic: a sustained rate [1/s] and a burst [-].
INBOUND_RATE = 2.0
INBOUND_BURST = 10
#: Most payload bytes waiting in the inbound queue (a bundle rollout is the big one). [bytes]
INBOUND_MAX_BYTES = 48 * 1024 * 1024
#: Most messages waiting in the inbound queue. [-]
INBOUND_QUEUE = 100
#: Inbound messages handled per loop cycle, after the readings. [-]
INBOUND_PER_CYCLE = 2
#: Refused commands of one kind are reported once per window, then summed up. [s]
REJECTION_WINDOW_S = 60.0
#: The key that counts inbound messages on topics the agent did not subscribe by name.
OTHER_TOPIC = "<other>"

CommandHandler = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
TopicHandler = Callable[[bytes], Mapping[str, Any] | None]


class CommandError(Exception):
    """A handler refuses a command; the message goes into the error event."""


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What happened, ready for :func:`edge.runtime.messages.event_message`."""

    level: str
    code: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)


class CommandTable:
    """Whitelisted commands by name, and raw handlers by sub-topic.

    Parameters
    ----------
    cmd_topic : str
        ``helio/<site>/<gw>/cmd``.
    """

    def __init__(self, cmd_topic: str) -> None:
        self.cmd_topic = cmd_topic
        self._commands: dict[str, CommandHandler] = {}
        self._topics: dict[str, TopicHandler] = {}

    @property
    def subscription(self) -> str:
        """Topic filter covering ``cmd`` and ``cmd/<sub>``."""
        return self.cmd_topic + "/#"

    @property
    def commands(self) -> tuple[str, ...]:
        """Registered command names."""
        return tuple(sorted(self._commands))

    def register(self, name: str, handler: CommandHandler) -> None:
        """Allow ``{"command": name}``; ``handler(args)`` returns event data."""
        self._commands[name] = handler

    def register_topic(self, sub: str, handler: TopicHandler) -> None:
        """Send raw payloads on ``<cmd_topic>/<sub>`` to ``handler(payload)``."""
        self._topics[sub] = handler

    def handle(self, topic: str, payload: bytes) -> CommandOutcome:
        """Run the command in ``payload`` received on ``topic``; never raises
        for bad input (only handler bugs propagate, to the agent loop)."""
        if topic == self.cmd_topic:
            return self._json_command(payload)
        sub = topic[len(self.cmd_topic) + 1:] if topic.startswith(self.cmd_topic + "/") else ""
        handler = self._topics.get(sub)
        if handler is None:
            return _rejected(f"no handler for topic {topic!r}", topic=topic)
        try:
            data = handler(payload)
        except CommandError as exc:
            return CommandOutcome("error", "command_failed", str(exc), {"topic": topic})
        return CommandOutcome("info", "command_ok", f"{sub} done", dict(data or {}))

    def _json_command(self, payload: bytes) -> CommandOutcome:
        if len(payload) > MAX_COMMAND_BYTES:
            return _rejected(f"command larger than {MAX_COMMAND_BYTES} bytes")
        try:
            body = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _rejected(f"command is not JSON: {exc}")
        if not isinstance(body, dict) or not isinstance(body.get("command"), str):
            return _rejected('expected {"command": "<name>"}')
        name = body["command"]
        handler = self._commands.get(name)
        if handler is None:
            return _rejected(
                f"unknown command {name[:64]!r}; allowed: {', '.join(self.commands)}",
                command=name[:64],
            )
        args = {k: v for k, v in body.items() if k != "command"}
        try:
            data = handler(args)
        except CommandError as exc:
            return CommandOutcome("error", "command_failed", str(exc), {"command": name})
        result = {"command": name, **(data or {})}
        return CommandOutcome("info", "command_ok", f"{name} done", result)


def _rejected(message: str, **data: Any) -> CommandOutcome:
    return CommandOutcome("error", "command_rejected", message, data)


@dataclass(slots=True)
class _Bucket:
    """A token bucket (``tokens`` refill at a rate, up to a burst)."""

    tokens: float
    stamp: float = 0.0

    def take(self, now: float, rate: float, burst: int) -> bool:
        self.tokens = min(float(burst), self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class InboundGate:
    """A bounded queue of inbound ``(topic, payload)`` from the MQTT thread to the loop.

    Parameters
    ----------
    clock : Clock
        Monotonic time for the token buckets.
    topics : iterable of str
        Topics with a bucket of their own; every other topic shares one
        (counted as ``"<other>"``).
    rate : float
        Sustained admissions per topic. [1/s]
    burst : int
        Admissions per topic at once. [-]
    max_bytes : int
        Most payload bytes waiting. [bytes]
    max_messages : int
        Most messages waiting. [-]
    """

    def __init__(self, clock: Clock, topics: Iterable[str], *, rate: float = INBOUND_RATE,
                 burst: int = INBOUND_BURST, max_bytes: int = INBOUND_MAX_BYTES,
                 max_messages: int = INBOUND_QUEUE) -> None:
        self.clock = clock
        self.topics = frozenset(topics)
        self.rate, self.burst, self.max_bytes = rate, burst, max_bytes
        self._queue: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=max_messages)
        self._lock = threading.Lock()
        self._bytes = 0
        self._buckets: dict[str, _Bucket] = {}
        #: inbound messages dropped over the rate or size budget, by topic
        self.dropped: dict[str, int] = {}

    @property
    def queued(self) -> int:
        """Messages waiting. [-]"""
        return self._queue.qsize()

    @property
    def queued_bytes(self) -> int:
        """Payload bytes waiting. [bytes]"""
        return self._bytes

    def offer(self, topic: str, payload: bytes) -> None:
        """From the MQTT thread: admit within the topic's budget and the queue's bytes;
        a message refused is counted in :attr:`dropped`."""
        key = topic if topic in self.topics else OTHER_TOPIC
        bucket = self._buckets.setdefault(key, _Bucket(self.burst))
        if not bucket.take(self.clock.monotonic(), self.rate, self.burst) \
                or not self.put(topic, payload):
            self.dropped[key] = self.dropped.get(key, 0) + 1

    def put(self, topic: str, payload: bytes) -> bool:
        """Queue without the rate budget (the loop's own markers); False when full."""
        size = len(payload)
        with self._lock:
            if self._bytes + size > self.max_bytes:
                return False
            try:
                self._queue.put_nowait((topic, payload))
            except queue.Full:
                return False
            self._bytes += size
        return True

    def take(self) -> tuple[str, bytes] | None:
        """The oldest waiting message, or None."""
        try:
            item = self._queue.get_nowait()
        except queue.Empty:
            return None
        with self._lock:
            self._bytes -= len(item[1])
        return item


class RejectionReporter:
    """Turns command outcomes into events without flooding the events stream.

    ``command_rejected`` and ``command_failed`` are reported once per kind per
    window; the rest are counted, and :meth:`report_suppressed` (at the
    heartbeat) sums them up in one event per kind, and the messages the
    :class:`InboundGate` dropped in one ``inbound_dropped`` event.

    Parameters
    ----------
    clock : Clock
        Monotonic time for the windows.
    emit : EventSink
        Where the events go.
    dropped : mapping
        Topic -> messages dropped so far (:attr:`InboundGate.dropped`).
    window_s : float
        Length of a reporting window. [s]
    """

    CODES = ("command_rejected", "command_failed")

    def __init__(self, clock: Clock, emit: EventSink, dropped: Mapping[str, int], *,
                 window_s: float = REJECTION_WINDOW_S) -> None:
        self.clock, self.emit, self.dropped, self.window_s = clock, emit, dropped, window_s
        self._windows: dict[str, list[float]] = {}  # code -> [window start, suppressed]
        self._dropped_reported = 0

    def report(self, outcome: CommandOutcome) -> None:
        """One event for ``outcome``, unless its kind was reported in this window."""
        if outcome.code in self.CODES:
            now = self.clock.monotonic()
            first = self._windows.get(outcome.code)
            if first is not None and now - first[0] < self.window_s:
                first[1] += 1
                return
            self._windows[outcome.code] = [now, 0]
        self.emit(outcome.level, outcome.code, outcome.message, **dict(outcome.data))

    def report_suppressed(self) -> None:
        """One summary event for the rejections of ended windows and for new drops."""
        now = self.clock.monotonic()
        for code, window in list(self._windows.items()):
            if now - window[0] >= self.window_s:
                del self._windows[code]
                if window[1]:
                    self.emit("error", code, f"{int(window[1])} more inbound messages refused"
                              f" in {self.window_s:.0f} s (not reported one by one)",
                              suppressed=int(window[1]))
        dropped = sum(self.dropped.values())
        if dropped > self._dropped_reported:
            self.emit("warning", "inbound_dropped",
                      f"{dropped - self._dropped_reported} inbound messages dropped over the"
                      " rate or size budget", dropped=dropped - self._dropped_reported,
                      by_topic=dict(self.dropped))
            self._dropped_reported = dropped
