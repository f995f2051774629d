"""The fleet subscriber: MQTT in, batched store writes out.

Responsible for: parsing ``helio/<site>/<device>/<stream>`` messages
(:func:`parse_message`, sans-IO), and the :class:`Monitor` I/O shell: a
paho-mqtt 2.x MQTT 5 client with a persistent session (``clean_start``
False, a session expiry interval) subscribed at QoS 1 to ``helio/+/+/#``,
or to ``$share/<group>/helio/+/+/#`` so several monitors split one fleet,
and a writer thread that stores messages in batches and acknowledges them
only after the batch is committed (so a crash loses nothing: the broker
redelivers, the store drops the copies). Periodic tasks (scoring, drift,
offline detection) run in the writer thread between batches; the alerts
they return are published to ``helio/<site>/monitor/alerts``.

Does NOT: decide what a message means beyond its topic and envelope (the
store does), or compute scores.

Broker settings matter: mosquitto queues at most ``max_queued_messages``
(default 1000) QoS 1 messages per client that is away *or merely behind*,
and silently drops the rest; measured on loopback with the defaults, a
burst of 20,000 readings lost about a quarter. Give the monitor's broker a
large bound sized for the longest outage (``max_queued_messages 1000000``, as
``configs/mosquitto/helio-fleet.conf`` ships) and persistence; drops there
still show up as sequence-gap loss in the store. Not ``0`` ("no limit"):
mosquitto 2.0.11 (Debian bookworm) then drops a client's connection after
each publish its ACL refuses, so a gateway with one refused message
reconnects over and over (the agent's publisher parks such a message and
goes on, but the broker should not force it to).

Retained messages are not delivered through shared subscriptions (MQTT 5,
section 4.8.2), so a monitor in a shared group also subscribes, unshared, to
``helio/+/+/status`` and ``helio/+/+/model``; both are idempotent upserts.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.runtime.contract import (
    DEFAULT_PREFIX,
    LEGACY_EPOCH,
    MONITOR_DEVICE,
    SCHEMA_VERSION,
    SHADOW_FORECAST_TOPIC,
    ContractError,
    TopicError,
    Topics,
    check_body,
    decode_payload,
    fleet_filter,
    parse_time,
    parse_topic,
    payload_limit,
)
from edge.runtime.mqtt import BrokerSettings, make_client
from firmware_bridge.timestamps import isoformat_z
from trainer.monitor.store import FleetMessage, MonitorStore, StoreBusy

__all__ = [
    "Alert",
    "MessageError",
    "Monitor",
    "MonitorConfig",
    "alert_payload",
    "parse_message",
]

log = logging.getLogger(__name__)

#: device id of the monitor's own topics (``helio/<site>/monitor/alerts``), never ingested
class MessageError(ValueError):
    """A fleet message that does not follow the contract (kept in ``rejected``)."""


#: How far a message's timestamp may be ahead of its receive time before it is rejected
#: (gateway clocks a little fast, the transit of a backlog after an outage is behind, not
#: ahead). [s]
MAX_AHEAD_S = 600.0
#: Streams whose timestamps place data in time (scoring, history); a status or an event
#: from a gateway whose clock is wrong is still taken (ordered by seq or receive time).
TIMED_STREAMS = frozenset({"reading", "forecast", "plan"})


def parse_message(
    topic: str, payload: bytes, received: float, *, prefix: str = DEFAULT_PREFIX,
    max_ahead_s: float = MAX_AHEAD_S,
) -> FleetMessage | None:
    """Decode and check one message of the topic tree.

    Parameters
    ----------
    topic : str
        ``<prefix>/<site>/<device>/<stream>[/...]``.
    payload : bytes
        UTF-8 JSON object (schema_version 1).
    received : float
        Receive time, UTC epoch. [s]
    prefix : str
        First topic level.
    max_ahead_s : float
        How far a reading's or forecast's timestamp may be ahead of
        ``received`` (0: no limit). [s]

    Returns
    -------
    FleetMessage or None
        None for the monitor's own topics.

    Raises
    ------
    MessageError
        On a foreign topic, or a payload that breaks the contract
        (:func:`edge.runtime.contract.check_body`): not UTF-8 JSON, ids
        that contradict the topic, a missing/invalid ``seq`` or
        ``timestamp`` on a sequenced stream, a field of the wrong type; or a
        reading or forecast ``timestamp`` more than :data:`MAX_AHEAD_S` ahead of
        ``received``.
    """
    try:
        where = parse_topic(topic, prefix)
    except TopicError as exc:
        raise MessageError(str(exc)) from None
    site, device, stream = where.site_id, where.device_id, where.stream
    if device == MONITOR_DEVICE:
        return None
    limit = payload_limit(stream)
    if len(payload) > limit:
        raise MessageError(f"{stream} payload of {len(payload)} bytes is over {limit}")
    try:
        body = decode_payload(payload)
        if stream == SHADOW_FORECAST_TOPIC:  # a shadow model's forecast: own topic, forecast's seq
            if body.get("shadow") is not True:
                raise ContractError(f"{topic!r} carries a forecast without shadow: true")
            stream = "forecast"
        check_body(site, device, stream, body)
    except ContractError as exc:
        raise MessageError(str(exc)) from None
    seq = body.get("seq") if isinstance(body.get("seq"), int) else None
    ts = parse_time(body.get("timestamp"))
    if (max_ahead_s > 0 and stream in TIMED_STREAMS and ts is not None
            and ts > received + max_ahead_s):
        # a gateway clock far ahead (even one that says clock_synced: false): stored, such a
        # reading would be the site's newest for years and stall its scoring
        raise MessageError(f"timestamp {str(body.get('timestamp'))[:40]} is {ts - received:.0f} s"
                           f" ahead of the monitor's receive time (at most {max_ahead_s:.0f} s)")
    epoch = body.get("epoch", LEGACY_EPOCH)
    return FleetMessage(site, device, stream, seq, ts, received, body,
                        payload if stream == "reading" else b"", epoch, topic)


@dataclass(frozen=True, slots=True)
class Alert:
    """An alarm raised by a periodic task (stored and published)."""

    site: str
    device: str
    code: str
    level: str
    message: str
    ts: float
    data: dict[str, Any] = field(default_factory=dict)
    cleared: bool = False


def toggle_alert(store: MonitorStore, active: bool, alert: Alert, key: str,
                 now: float) -> list[Alert]:
    """Raise ``alert`` (under ``key``) while ``active``, clear it once not: the alerts to publish.

    Nothing when the state did not change (an open alarm is not raised again).
    """
    base = {"site": alert.site, "device": alert.device, "code": alert.code, "key": key}
    if active:
        if store.raise_alert(**base, level=alert.level, ts=now, message=alert.message,
                             data=alert.data):
            return [alert]
        return []
    if store.clear_alert(**base, ts=now):
        return [dataclasses.replace(alert, level="info", cleared=True,
                                    message=f"cleared: {alert.code} {key}")]
    return []


def alert_payload(alert: Alert) -> bytes:
    """JSON of an alert, events style, for ``helio/<site>/monitor/alerts``."""
    body = {
        "schema_version": SCHEMA_VERSION,
        "site_id": alert.site,
        "device_id": MONITOR_DEVICE,
        "stream": "alerts",
        "timestamp": isoformat_z(datetime.fromtimestamp(int(alert.ts), UTC)),
        "level": alert.level,
        "code": alert.code,
        "state": "cleared" if alert.cleared else "raised",
        "message": alert.message,
        "data": {"device": alert.device, **alert.data},
    }
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """Connection and batching settings of ``helio-monitor run``.

    Attributes
    ----------
    host, port : str, int
        Broker.
    client_id : str
        Stable id: the persistent session is keyed on it.
    prefix : str
        Topic prefix.
    shared_group : str or None
        Join ``$share/<group>/...`` instead of a plain subscription.
    session_expiry_s : int
        How long the broker keeps the session (and queues QoS 1 messages)
        while the monitor is away. [s]
    keepalive : int
        MQTT keep-alive. [s]
    batch_size : int
        Most messages per transaction.
    flush_s : float
        Longest wait to fill a batch. [s]
    tasks_every_s : float
        Period of the scoring/drift/offline tasks. [s]
    max_ahead_s : float
        Readings and forecasts stamped further ahead of their receive time are
        rejected (0: no limit, for a simulation whose clock runs ahead). [s]
    ack_after_commit : bool
        Send each PUBACK only once the message is committed (nothing is lost
        if the monitor dies; costs throughput). False lets paho acknowledge
        on receipt: a crash can then lose the batch being written.
    tls : bool
        Use TLS; an empty ``ca_file`` means the system trust store.
    ca_file, cert_file, key_file : str
        CA bundle and optional client certificate and key (PEM).
    username, password : str
        Credentials (empty ``username``: anonymous).
    """

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "helio-monitor"
    prefix: str = DEFAULT_PREFIX
    shared_group: str | None = None
    session_expiry_s: int = 7 * 86400
    keepalive: int = 30
    batch_size: int = 2000
    flush_s: float = 0.05
    tasks_every_s: float = 30.0
    max_ahead_s: float = MAX_AHEAD_S
    ack_after_commit: bool = True
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def broker(self) -> BrokerSettings:
        """The connection settings for :func:`edge.runtime.mqtt.make_client`."""
        return BrokerSettings(self.host, self.port, self.client_id, self.keepalive, self.tls,
                              self.ca_file, self.cert_file, self.key_file, self.username,
                              self.password)


Task = Callable[[float], Sequence[Alert]]


@dataclass(slots=True)
class MonitorStats:
    """Counters of a running :class:`Monitor`."""

    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    alerts: int = 0
    alerts_refused: int = 0
    connected: bool = False


class Monitor:
    """Subscribe to the fleet and keep ``store`` up to date.

    Parameters
    ----------
    config : MonitorConfig
        Broker, session and batching.
    store : MonitorStore
        Where messages go; the writer thread is its only user while running.
    tasks : sequence of callables
        ``task(now) -> alerts``, run every ``config.tasks_every_s``.
    clock : callable
        UTC epoch seconds: receive times, and the ``now`` the tasks are given.
    monotonic : callable
        Seconds that never go back: the task schedule (a wall clock stepped
        back by NTP or by hand must not stall scoring and alerts). [s]
    """

    def __init__(
        self,
        config: MonitorConfig,
        store: MonitorStore,
        *,
        tasks: Sequence[Task] = (),
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.store = store
        self.tasks = list(tasks)
        self.clock = clock
        self.stats = MonitorStats()
        self._inbox: queue.SimpleQueue[tuple[str, bytes, int, int, float]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name="monitor-writer", daemon=True)
        self.monotonic = monotonic
        self._last_tasks = monotonic()
        self._store_lock = threading.Lock()
        #: set when the writer stopped on a failure not about one message
        self.failed = threading.Event()
        self.error: BaseException | None = None
        self.client = make_client(config.broker, mqtt5=True)
        self.client.manual_ack_set(config.ack_after_commit)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.reconnect_delay_set(1, 30)

    # ------------------------------------------------------------- lifecycle

    @property
    def filters(self) -> list[str]:
        """Subscription topic filters."""
        fleet = fleet_filter(prefix=self.config.prefix)
        if not self.config.shared_group:
            return [fleet]
        p = self.config.prefix
        return [f"$share/{self.config.shared_group}/{fleet}", fleet_filter("status", p),
                fleet_filter("model", p)]

    def start(self) -> None:
        """Connect (asynchronously, retrying) and start the network and writer threads."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.session_expiry_s
        self.client.connect_async(
            self.config.host, self.config.port, keepalive=self.config.keepalive,
            clean_start=False, properties=props,
        )
        self._writer.start()
        self.client.loop_start()

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect, store what has arrived, and stop the threads."""
        self.client.disconnect()
        self.client.loop_stop()
        self._stop.set()
        self._writer.join(timeout)

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Block until connected and subscribed (raises ``TimeoutError``)."""
        deadline = time.monotonic() + timeout
        while not self.stats.connected:
            if time.monotonic() > deadline:
                raise TimeoutError("monitor did not connect")
            time.sleep(0.02)

    # ----------------------------------------------------------- callbacks

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.warning("connect refused: %s", rc)
            return
        log.info("connected (session present: %s)", flags.session_present)
        client.subscribe([(f, 1) for f in self.filters])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        failed = [c for c in codes if c.is_failure]
        if failed:
            log.error("subscription refused: %s", failed)
            return
        self.stats.connected = True

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.stats.connected = False
        log.log(logging.WARNING if rc.is_failure else logging.INFO, "disconnected: %s", rc)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        if rc.is_failure:  # MQTT 5 PUBACK reason code >= 0x80: the broker refused the alert
            self.stats.alerts_refused += 1
            log.error("broker refused alert (mid %d): %s", mid, rc)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put((msg.topic, bytes(msg.payload), msg.mid, msg.qos, self.clock()))

    # -------------------------------------------------------------- writer

    def _drain(self) -> list[tuple[str, bytes, int, int, float]]:
        try:
            batch = [self._inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.config.flush_s
        while len(batch) < self.config.batch_size:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.002)
        return batch

    def _write_loop(self) -> None:
        try:
            while not (self._stop.is_set() and self._inbox.empty()):
                batch = self._drain()
                while batch:
                    try:
                        self._write(batch)
                        batch = []
                    except StoreBusy as exc:
                        # locked by another writer: keep the batch, unacknowledged
                        log.warning("store busy (%s); retrying in 1 s", exc)
                        if self._stop.wait(1.0):
                            return  # unacknowledged: the broker redelivers to the next session
                mono = self.monotonic()
                if self.tasks and mono - self._last_tasks >= self.config.tasks_every_s:
                    self._last_tasks = mono
                    self.run_tasks(self.clock())
        except BaseException as exc:  # disk full, I/O error, a bug: not about one message
            log.critical("store writer failed, stopping (nothing of the batch is acknowledged):"
                         " %s: %s", type(exc).__name__, exc, exc_info=True)
            self.error = exc
            self.failed.set()

    def _write(self, batch: list[tuple[str, bytes, int, int, float]]) -> None:
        messages: list[FleetMessage] = []
        rejects: list[tuple[str, bytes, str, float]] = []
        for topic, payload, _mid, _qos, received in batch:
            try:
                parsed = parse_message(topic, payload, received, prefix=self.config.prefix,
                                       max_ahead_s=self.config.max_ahead_s)
            except MessageError as exc:
                log.warning("rejected %s: %s", topic[:200], exc)
                rejects.append((topic, payload, str(exc), received))
                continue
            if parsed is not None:
                messages.append(parsed)
        with self._store_lock:
            res = self.store.write_batch(messages, rejects)
        if self.config.ack_after_commit:
            for _topic, _payload, mid, qos, _r in batch:
                if qos > 0:
                    self.client.ack(mid, qos)
        s = self.stats
        s.received += len(batch)
        s.inserted += res.inserted
        s.duplicates += res.duplicates
        s.rejected += res.rejected
        s.batches += 1

    def run_tasks(self, now: float) -> None:
        """Run the periodic tasks once and publish their alerts (errors are logged).

        Safe to call from any thread: the store is locked meanwhile.
        """
        for task in self.tasks:
            try:
                with self._store_lock:
                    alerts = task(now)
            except Exception:  # one failing task must not stop ingestion
                log.exception("monitor task %r failed", task)
                continue
            for alert in alerts:
                self.publish_alert(alert)

    def publish_alert(self, alert: Alert) -> None:
        """Publish ``alert`` on ``<prefix>/<site>/monitor/alerts`` (QoS 1)."""
        topic = Topics(alert.site, MONITOR_DEVICE, self.config.prefix).gateway("alerts")
        self.client.publish(topic, alert_payload(alert), qos=1)
        self.stats.alerts += 1

