"""Recording stand-ins, test certificates and hostile archives.

Responsible for: :class:`RecordingPublisher` (keeps what the agent hands to
its publisher, and routes inbound messages to the subscribed handlers, with
no network), :class:`CountingNotifier` (a systemd notifier that counts
watchdog pings), :func:`make_cert` / :func:`write_pem` (a throw-away EC
certificate authority and server certificate for TLS on 127.0.0.1), and
:func:`zeros_gzip` / :func:`bomb_tar` (compression bombs for the rollout's
refusal paths).

Does NOT: stand in for a component a user has for real: brokers, ptys and
interpreters are started for real by the tests (see :mod:`.launchers`).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import ipaddress
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from edge.runtime.publisher import PublisherStats
from edge.testkit.devices import ConstPredictor, ScriptedDevice, stub_bundle

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "ConstPredictor",
    "CountingNotifier",
    "RecordingPublisher",
    "ScriptedDevice",
    "bomb_tar",
    "make_cert",
    "stub_bundle",
    "write_pem",
    "zeros_gzip",
]

_MIB = 1 << 20


class RecordingPublisher:
    """Keeps what the agent hands to a publisher (no network).

    Attributes
    ----------
    retained : dict[str, list[bytes]]
        Every retained payload set, per topic, in order.
    live : list[tuple[str, bytes]]
        Every live (not queued) publish, in order.
    handlers : dict[str, Callable[[str, bytes], None]]
        The subscribed handler per topic filter.
    """

    def __init__(self) -> None:
        self.retained: dict[str, list[bytes]] = {}
        self.live: list[tuple[str, bytes]] = []
        self.handlers: dict[str, Callable[[str, bytes], None]] = {}
        self.listeners: list[Callable[[], None]] = []
        self.stats = PublisherStats()

    def set_retained(self, topic: str, payload: bytes) -> None:
        """Record a retained payload."""
        self.retained.setdefault(topic, []).append(payload)

    def publish_live(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Record a live publish."""
        self.live.append((topic, payload))

    def subscribe(self, topic_filter: str, handler: Callable[[str, bytes], None]) -> None:
        """Remember ``handler`` for ``topic_filter``."""
        self.handlers[topic_filter] = handler

    def add_connect_listener(self, callback: Callable[[], None]) -> None:
        """Remember a callback for (re)connects."""
        self.listeners.append(callback)

    def is_alive(self) -> bool:
        """Always alive."""
        return True

    def inbound(self, topic: str, payload: bytes) -> None:
        """Deliver a message as the broker would: to every handler whose filter matches."""
        for topic_filter, handler in self.handlers.items():
            if topic_matches(topic_filter, topic):
                handler(topic, payload)


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches the MQTT ``topic_filter`` (``+`` and ``#`` wildcards)."""
    import paho.mqtt.client as mqtt  # noqa: PLC0415 - only where inbound is used

    return bool(mqtt.topic_matches_sub(topic_filter, topic))


class CountingNotifier:
    """A systemd notifier that counts watchdog pings (1 s watchdog, so pings every 0.5 s)."""

    #: the watchdog period the agent reads from the notifier [s]
    watchdog_s = 1.0

    def __init__(self) -> None:
        self.pings = 0

    def ready(self, status: str = "") -> bool:
        """Accept READY=1."""
        return True

    def watchdog(self) -> bool:
        """Count a WATCHDOG=1."""
        self.pings += 1
        return True

    def status(self, text: str) -> bool:
        """Accept STATUS=."""
        return True

    def stopping(self) -> bool:
        """Accept STOPPING=1."""
        return True


def make_cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None,
              issuer_key: ec.EllipticCurvePrivateKey | None, ca: bool) -> x509.Certificate:
    """A certificate for ``subject`` valid for a day (from five minutes ago).

    Self-signed when ``issuer`` is None; a server certificate (``ca`` False)
    names 127.0.0.1 as its subject alternative name.
    """
    from cryptography import x509  # noqa: PLC0415 - laptop-side dependency
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5))
         .not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


def write_pem(path: Path, obj: x509.Certificate | ec.EllipticCurvePrivateKey) -> Path:
    """Write a certificate or an (unencrypted PKCS#8) private key as PEM; returns ``path``."""
    from cryptography import x509  # noqa: PLC0415 - laptop-side dependency
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    if isinstance(obj, x509.Certificate):
        path.write_bytes(obj.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(obj.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return path


def zeros_gzip(n: int) -> bytes:
    """``n`` bytes of zeros (whole MiB), gzipped (about 1000:1). [bytes]"""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        block = bytes(_MIB)
        for _ in range(n >> 20):
            gz.write(block)
    return buf.getvalue()


def bomb_tar(member_bytes: int) -> bytes:
    """A .tar.gz with one member ``model.tflite`` of ``member_bytes`` zeros (whole MiB,
    compresses about 1000:1); the header claims the full size. [bytes]"""
    info = tarfile.TarInfo("model.tflite")
    info.size = member_bytes
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(info.tobuf(format=tarfile.USTAR_FORMAT))
        block = bytes(_MIB)
        for _ in range(member_bytes >> 20):
            gz.write(block)
        gz.write(bytes(1024))
    return buf.getvalue()
