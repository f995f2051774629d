"""A minimal embedded MQTT 3.1.1 broker for the demo when mosquitto is absent.

Responsible for: enough of MQTT 3.1.1 for ``make demo`` on a fresh machine:
CONNECT (with Will), PUBLISH QoS 0/1 (QoS 2 acknowledged and delivered at
QoS 1), PUBACK, SUBSCRIBE with ``+``/``#`` wildcards (granted QoS at most
1), UNSUBSCRIBE, retained messages, PINGREQ, DISCONNECT, keep-alive
timeouts (the Will is published on an unclean disconnect), and client-id
takeover. Always bound to loopback by default.

Does NOT: persist anything, keep sessions across connections, re-send
unacknowledged messages, authenticate, or aim at production use (use
mosquitto there).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
from dataclasses import dataclass, field

from paho.mqtt.client import topic_matches_sub

__all__ = ["EmbeddedBroker"]

log = logging.getLogger(__name__)

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = (
    8, 9, 10, 11, 12, 13, 14
)


class MqttProtocolError(Exception):
    """A client sent something this broker will not accept."""


def _encode_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(ptype: int, flags: int, body: bytes) -> bytes:
    """One MQTT control packet."""
    return bytes([(ptype << 4) | flags]) + _encode_length(len(body)) + body


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!H", len(b)) + b


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u8(self) -> int:
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        self.pos += 2
        return int(struct.unpack_from("!H", self.data, self.pos - 2)[0])

    def blob(self) -> bytes:
        n = self.u16()
        self.pos += n
        if self.pos > len(self.data):
            raise MqttProtocolError("truncated field")
        return self.data[self.pos - n:self.pos]

    def text(self) -> str:
        return self.blob().decode()

    def rest(self) -> bytes:
        return self.data[self.pos:]


@dataclass(eq=False)
class _Client:
    writer: asyncio.StreamWriter
    client_id: str = ""
    keepalive: int = 0
    subs: dict[str, int] = field(default_factory=dict)
    will: tuple[str, bytes, int, bool] | None = None
    next_pid: int = 0

    def pid(self) -> int:
        self.next_pid = self.next_pid % 65535 + 1
        return self.next_pid


class EmbeddedBroker:
    """An MQTT broker on its own thread and event loop.

    Parameters
    ----------
    host : str
        Address to bind (loopback by default).
    port : int
        Port; 0 picks a free one (see :attr:`port` after :meth:`start`).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._clients: dict[str, _Client] = {}
        self._retained: dict[str, tuple[bytes, int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # ------------------------------------------------------------ control
    def start(self, timeout: float = 10.0) -> int:
        """Start serving; returns the bound port."""
        self._thread = threading.Thread(target=self._main, name="mqtt-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._server is None:
            raise RuntimeError(f"embedded broker did not start on {self.host}:{self.port}")
        return self.port

    def stop(self) -> None:
        """Close every connection and stop the thread."""
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5.0)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, self.port)
            )
            self.port = int(self._server.sockets[0].getsockname()[1])
        except OSError:
            log.exception("embedded broker cannot bind %s:%d", self.host, self.port)
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for c in list(self._clients.values()):
                c.writer.close()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    # --------------------------------------------------------- connection
    async def _read_packet(self, reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
        head = await reader.readexactly(1)
        length, mult = 0, 1
        for _ in range(4):
            b = (await reader.readexactly(1))[0]
            length += (b & 0x7F) * mult
            if not b & 0x80:
                break
            mult *= 128
        else:
            raise MqttProtocolError("bad remaining length")
        body = await reader.readexactly(length) if length else b""
        return head[0] >> 4, head[0] & 0x0F, body

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = _Client(writer)
        clean = False
        try:
            ptype, _flags, body = await asyncio.wait_for(self._read_packet(reader), 10.0)
            if ptype != CONNECT:
                raise MqttProtocolError("first packet is not CONNECT")
            self._connect(client, body)
            while True:
                timeout = client.keepalive * 1.5 if client.keepalive else None
                ptype, flags, body = await asyncio.wait_for(self._read_packet(reader), timeout)
                if ptype == DISCONNECT:
                    clean = True
                    break
                self._handle(client, ptype, flags, body)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, MqttProtocolError,
                UnicodeDecodeError, IndexError, struct.error) as exc:
            log.debug("client %r gone: %r", client.client_id, exc)
        finally:
            if self._clients.get(client.client_id) is client:
                del self._clients[client.client_id]
                if not clean and client.will is not None:
                    self._publish(*client.will)
            writer.close()

    def _connect(self, client: _Client, body: bytes) -> None:
        r = _Reader(body)
        r.text()  # "MQTT" or "MQIsdp"
        r.u8()  # protocol level
        flags = r.u8()
        client.keepalive = r.u16()
        client.client_id = r.text() or f"auto-{id(client):x}"
        if flags & 0x04:
            topic, message = r.text(), r.blob()
            client.will = (topic, message, (flags >> 3) & 3, bool(flags & 0x20))
        old = self._clients.get(client.client_id)
        if old is not None:  # takeover: the old connection goes, without its Will
            old.will = None
            old.writer.close()
        self._clients[client.client_id] = client
        client.writer.write(packet(CONNACK, 0, b"\x00\x00"))

    def _handle(self, client: _Client, ptype: int, flags: int, body: bytes) -> None:
        w = client.writer
        if ptype == PUBLISH:
            qos, retain = (flags >> 1) & 3, bool(flags & 1)
            r = _Reader(body)
            topic = r.text()
            pid = r.u16() if qos else 0
            self._publish(topic, r.rest(), qos, retain)
            if qos == 1:
                w.write(packet(PUBACK, 0, struct.pack("!H", pid)))
            elif qos == 2:
                w.write(packet(PUBREC, 0, struct.pack("!H", pid)))
        elif ptype == PUBREL:
            w.write(packet(PUBCOMP, 0, body[:2]))
        elif ptype == SUBSCRIBE:
            self._subscribe(client, body)
        elif ptype == UNSUBSCRIBE:
            r = _Reader(body)
            pid = r.u16()
            while r.pos < len(body):
                client.subs.pop(r.text(), None)
            w.write(packet(UNSUBACK, 0, struct.pack("!H", pid)))
        elif ptype == PINGREQ:
            w.write(packet(PINGRESP, 0, b""))
        elif ptype in (PUBACK, PUBREC, PUBCOMP):
            if ptype == PUBREC:
                w.write(packet(PUBREL, 2, body[:2]))
        else:
            raise MqttProtocolError(f"unexpected packet type {ptype}")

    def _subscribe(self, client: _Client, body: bytes) -> None:
        r = _Reader(body)
        pid = r.u16()
        granted = bytearray()
        filters = []
        while r.pos < len(body):
            topic_filter, qos = r.text(), min(r.u8() & 3, 1)
            client.subs[topic_filter] = qos
            granted.append(qos)
            filters.append((topic_filter, qos))
        client.writer.write(packet(SUBACK, 0, struct.pack("!H", pid) + bytes(granted)))
        for topic, (payload, qos) in list(self._retained.items()):
            for topic_filter, sub_qos in filters:
                if topic_matches_sub(topic_filter, topic):
                    self._send(client, topic, payload, min(qos, sub_qos), True)
                    break

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if retain:
            if payload:
                self._retained[topic] = (payload, min(qos, 1))
            else:
                self._retained.pop(topic, None)
        for c in list(self._clients.values()):
            best = -1
            for topic_filter, sub_qos in c.subs.items():
                if topic_matches_sub(topic_filter, topic):
                    best = max(best, sub_qos)
            if best >= 0:
                self._send(c, topic, payload, min(qos, best), False)

    def _send(self, c: _Client, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if c.writer.is_closing():
            return
        body = _str(topic) + (struct.pack("!H", c.pid()) if qos else b"") + payload
        c.writer.write(packet(PUBLISH, (qos << 1) | int(retain), body))
