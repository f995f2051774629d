"""MQTT publisher: drains the outbox to the broker at QoS 1, in order.

Responsible for: one background thread that connects (TLS, credentials),
registers the retained ``offline`` Last Will, publishes retained state
(status ``online``, model) on every connect, drains the outbox in insertion
order with a bounded number of unacknowledged messages, deletes each
message only after its PUBACK, dispatches subscribed inbound messages, and
reconnects forever with exponential back-off and jitter.

Does NOT: build payloads, decide what to publish, or exit because the
network is down.

It speaks MQTT 5, so a PUBACK carries a reason code: a message the broker
refused (reason code >= 0x80, e.g. 0x87 not authorised by its ACL) is not
taken as delivered: it is *parked* (:meth:`Outbox.park`: kept apart, with
the reason), counted (``PublisherStats.refused``, ``parked``,
``last_refusal``), and the drain goes on with the messages behind it; the
agent turns the count into a ``publish_refused`` event. Parked messages go
back to the end of the queue once the queue is drained and ``park_retry_s``
has passed, so a refusal that is later lifted (an ACL fixed) still delivers
them. Retained state refused by the broker is counted the same way.

Some brokers answer a refused publish by dropping the connection instead
(mosquitto 2.0.11 does so with ``max_queued_messages 0``), so no reason code
ever arrives and the same message would be first on every reconnect. When a
connection is lost with messages unacknowledged, the oldest of them becomes
a *suspect*: the next connection sends it alone and waits for its PUBACK.
Lost again with the suspect alone in flight, it is parked like a refused
message (reason ``connection dropped``) and the drain moves on; acknowledged,
the normal window resumes. An ordinary network drop costs one message sent
alone; a poison message costs two connections, never the ones behind it.

Each connection uses a fresh paho client driven by ``loop()`` in this
thread, so no message is silently re-sent by paho after a reconnect: after
an outage the drain restarts at the oldest unacknowledged row (messages in
flight when the link dropped are sent again; receivers de-duplicate on
``seq``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from edge.runtime.mqtt import BrokerSettings, make_client
from edge.runtime.outbox import Outbox, OutboxRow

__all__ = ["MqttPublisher", "PublisherStats"]

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]


@dataclass(slots=True)
class PublisherStats:
    """Counters since start."""

    connected: bool = False
    connects: int = 0
    connect_failures: int = 0
    published: int = 0
    acked: int = 0
    refused: int = 0
    parked: int = 0
    requeued: int = 0
    last_refusal: str = ""
    last_error: str = ""


@dataclass(slots=True)
class _Session:
    connack: threading.Event = field(default_factory=threading.Event)
    refused: str = ""
    lost: bool = False
    acked: deque[int] = field(default_factory=deque)
    nacked: deque[tuple[int, str]] = field(default_factory=deque)
    inflight: dict[int, int] = field(default_factory=dict)


class MqttPublisher:
    """Publishes the outbox and retained state over MQTT (paho-mqtt 2.x).

    Parameters
    ----------
    broker : BrokerSettings
        Connection settings.
    outbox : Outbox
        Durable queue to drain.
    will_topic : str
        Status topic for the retained Last Will.
    will_payload : bytes
        The ``offline`` status payload (also published on clean stop).
    max_inflight : int
        Unacknowledged QoS 1 messages allowed at once.
    reconnect_min_s, reconnect_max_s : float
        Back-off bounds; each wait is drawn from ``[d/2, d]``. [s]
    rng : random.Random, optional
        Jitter source (seeded in tests).
    mqtt5 : bool
        MQTT 5 (PUBACK reason codes are checked); False for a 3.1.1-only broker.
    park_retry_s : float
        How long a parked message waits before it is queued again. [s]
    """

    def __init__(
        self,
        broker: BrokerSettings,
        outbox: Outbox,
        *,
        will_topic: str,
        will_payload: bytes,
        max_inflight: int = 100,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 120.0,
        rng: random.Random | None = None,
        mqtt5: bool = True,
        park_retry_s: float = 3600.0,
    ) -> None:
        self.broker = broker
        self.outbox = outbox
        self.will_topic = will_topic
        self.will_payload = will_payload
        self.max_inflight = max_inflight
        self.mqtt5 = mqtt5
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.park_retry_s = park_retry_s
        self.stats = PublisherStats()
        #: oldest unacknowledged row when the last connection was lost (sent alone next)
        self._suspect: int | None = None
        self._last_requeue = time.monotonic()
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._retained: dict[str, bytes] = {}
        self._dirty: set[str] = set()
        self._live: deque[tuple[str, bytes, bool]] = deque(maxlen=10_000)
        self._handlers: dict[str, Handler] = {}
        self._new_filters: set[str] = set()
        self._connect_listeners: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ public API
    def start(self) -> None:
        """Start the background thread (returns at once)."""
        self._thread = threading.Thread(target=self._run, name="helio-mqtt", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish ``offline``, disconnect cleanly and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        """True while the background thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def connected(self) -> bool:
        """True while a broker connection is up."""
        return self.stats.connected

    def set_retained(self, topic: str, payload: bytes) -> None:
        """Publish retained state now if connected, and again on every connect."""
        with self._lock:
            self._retained[topic] = payload
            self._dirty.add(topic)

    def publish_live(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Best-effort publish, dropped while disconnected (discovery configs)."""
        self._live.append((topic, payload, retain))

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        """Call ``handler(topic, payload)`` (in the publisher thread; must not
        block) for messages matching ``topic_filter``; kept across reconnects."""
        with self._lock:
            self._handlers[topic_filter] = handler
            self._new_filters.add(topic_filter)

    def add_connect_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` in the publisher thread after each connect."""
        self._connect_listeners.append(callback)

    def wait_drained(self, timeout: float) -> bool:
        """Block until every message queued at the call is acknowledged (tests, benchmarks).

        Messages put while waiting do not count, so a running agent cannot keep it waiting.
        """
        self.outbox.flush()  # what the group commit holds becomes publishable now
        target = self.outbox.last_id()
        deadline = time.monotonic() + timeout
        while True:
            first = self.outbox.first_queued_id()
            if first is None or first > target:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    # ----------------------------------------------------------- the thread
    def _run(self) -> None:
        delay = self.reconnect_min_s
        while not self._stop.is_set():
            had_session = self._session()
            if self._stop.is_set():
                break
            if had_session:
                delay = self.reconnect_min_s
            wait = delay * (0.5 + 0.5 * self._rng.random())
            log.info("reconnecting to %s:%d in %.1f s", self.broker.host, self.broker.port, wait)
            self._stop.wait(wait)
            delay = min(delay * 2.0, self.reconnect_max_s)

    def _make_client(self, session: _Session) -> mqtt.Client:
        b = self.broker
        client = make_client(b, mqtt5=self.mqtt5)
        client.will_set(self.will_topic, self.will_payload, qos=1, retain=True)
        client.max_inflight_messages_set(self.max_inflight + 64)

        def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            if rc.is_failure:
                session.refused = str(rc)
            session.connack.set()

        def on_disconnect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            session.lost = True

        def on_publish(_c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
            if rc.is_failure:  # MQTT 5 PUBACK reason code >= 0x80: not delivered
                session.nacked.append((mid, str(rc)))
            else:
                session.acked.append(mid)

        def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
            self._dispatch(msg.topic, bytes(msg.payload))

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_publish = on_publish
        client.on_message = on_message
        return client

    def _connect(self, client: mqtt.Client, session: _Session) -> bool:
        b = self.broker
        try:
            client.connect(b.host, b.port, keepalive=b.keepalive)
        except (OSError, ValueError) as exc:  # refused, DNS, TLS, unreachable
            self._failed(f"connect to {b.host}:{b.port}: {exc}")
            return False
        deadline = time.monotonic() + 10.0
        while not session.connack.is_set() and time.monotonic() < deadline:
            if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS or self._stop.is_set():
                break
        if not session.connack.is_set() or session.refused:
            self._failed(f"broker refused or no CONNACK: {session.refused or 'timeout'}")
            client.disconnect()
            return False
        return True

    def _failed(self, reason: str) -> None:
        self.stats.connect_failures += 1
        self.stats.last_error = reason
        log.warning("%s", reason)

    def _session(self) -> bool:
        session = _Session()
        client = self._make_client(session)
        if not self._connect(client, session):
            return False
        self.stats.connected = True
        self.stats.connects += 1
        log.info("connected to %s:%d", self.broker.host, self.broker.port)
        try:
            self._on_connected(client)
            self._drain(client, session)
            if self._stop.is_set() and not session.lost:
                self._goodbye(client, session)
        finally:
            self.stats.connected = False
        return True

    def _on_connected(self, client: mqtt.Client) -> None:
        with self._lock:
            self._dirty = set(self._retained)
            self._new_filters = set(self._handlers)
        for cb in self._connect_listeners:
            cb()

    def _drain(self, client: mqtt.Client, session: _Session) -> None:
        """Publish queued rows in id order; delete each batch once acknowledged."""
        buffer: deque[OutboxRow] = deque()  # prefetched rows: few SQLite queries
        last_fetched = 0
        to_delete: list[int] = []
        last_flush = time.monotonic()
        while not self._stop.is_set() and not session.lost:
            while session.acked:
                row_id = session.inflight.pop(session.acked.popleft(), None)
                if row_id is not None:
                    to_delete.append(row_id)
                    self._suspect = None  # the message sent alone went through
            while session.nacked:  # parked: the ones behind it go on
                mid, reason = session.nacked.popleft()
                row_id = session.inflight.pop(mid, None)
                self._refused(reason, row_id)
                if row_id is not None:
                    to_delete = [i for i in to_delete if i != row_id]
                    if self.outbox.park(row_id, reason):
                        self.stats.parked += 1
                    if row_id == self._suspect:
                        self._suspect = None
            now = time.monotonic()
            if to_delete and (len(to_delete) >= 1000 or now - last_flush > 0.2):
                self.stats.acked += self.outbox.ack(to_delete)
                to_delete.clear()
                last_flush = now
            busy = self._publish_state(client)
            window = 1 if self._suspect is not None else self.max_inflight
            free = window - len(session.inflight)
            if free > 0 and not buffer:
                buffer.extend(self.outbox.peek(max(self.max_inflight, 500), after_id=last_fetched))
                if buffer:
                    last_fetched = buffer[-1].id
                elif not session.inflight and not to_delete:
                    self._requeue_parked(now)
            while free > 0 and buffer:
                row = buffer.popleft()
                info = client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    session.lost = True
                    break
                session.inflight[info.mid] = row.id
                self.stats.published += 1
                free -= 1
                busy = True
            if client.loop(timeout=0.0 if busy else 0.05) != mqtt.MQTT_ERR_SUCCESS:
                session.lost = True
        if to_delete:
            self.stats.acked += self.outbox.ack(to_delete)
        if session.lost:
            log.warning("connection to %s:%d lost", self.broker.host, self.broker.port)
            self.stats.last_error = "connection lost"
            self._after_loss(session)

    def _after_loss(self, session: _Session) -> None:
        """Suspect the oldest unacknowledged message; park it if it was already sent alone."""
        if not session.inflight:
            return
        oldest = min(session.inflight.values())
        if oldest != self._suspect:
            self._suspect = oldest
            return
        self._suspect = None
        reason = "connection dropped each time this message was sent"
        self._refused(reason, oldest)
        if self.outbox.park(oldest, reason):
            self.stats.parked += 1

    def _requeue_parked(self, now: float) -> None:
        """Queue parked messages again once per ``park_retry_s`` (the queue is drained)."""
        if now - self._last_requeue < self.park_retry_s:
            return
        self._last_requeue = now
        n = self.outbox.requeue_parked(older_than_s=self.park_retry_s)
        if n:
            self.stats.requeued += n
            log.info("%d parked messages queued again", n)

    def _refused(self, reason: str, row_id: int | None) -> None:
        self.stats.refused += 1
        what = f"outbox row {row_id}" if row_id is not None else "retained/live message"
        self.stats.last_refusal = f"{what}: {reason}"
        log.error("broker refused %s: %s", what, reason)

    def _publish_state(self, client: mqtt.Client) -> bool:
        with self._lock:
            dirty = [(t, self._retained[t]) for t in self._retained if t in self._dirty]
            self._dirty.clear()
            filters, self._new_filters = self._new_filters, set()
        for topic_filter in sorted(filters):  # subscriptions added before or after connect
            client.subscribe(topic_filter, qos=1)
        for topic, payload in dirty:
            client.publish(topic, payload, qos=1, retain=True)
        n_live = 0
        while self._live:
            topic, payload, retain = self._live.popleft()
            client.publish(topic, payload, qos=1, retain=retain)
            n_live += 1
        return bool(dirty) or n_live > 0

    def _goodbye(self, client: mqtt.Client, session: _Session) -> None:
        """Flush acks for a moment, publish ``offline`` and disconnect cleanly."""
        info = client.publish(self.will_topic, self.will_payload, qos=1, retain=True)
        deadline = time.monotonic() + 2.0
        while not info.is_published() and time.monotonic() < deadline and not session.lost:
            client.loop(timeout=0.05)
        client.disconnect()
        client.loop(timeout=0.1)

    def _dispatch(self, topic: str, payload: bytes) -> None:
        with self._lock:
            handlers = list(self._handlers.items())
        for topic_filter, handler in handlers:
            if mqtt.topic_matches_sub(topic_filter, topic):
                handler(topic, payload)
