"""Publishing to devices over MQTT: signed bundles and rollback commands (cloud side of rollout).

Responsible for: the ``cmd/model`` payloads (schema 1, JSON), one per
target gateway, each signed (``command_sig``: Ed25519 with the bundle key
over :func:`edge.runtime.signed_commands.signing_bytes`) and bound to the site and
gateway, an issue time and an expiry, and a rollout id the device accepts
only once:

* ``{"schema_version": 1, "command": "install", "rollout_id", "site_id",
  "device_id", "issued", "expires", "version", "sha256" (model file),
  "archive_sha256", "archive_bytes", "downgrade" (bool), "command_sig",
  "archive_b64" (the bundle as a deterministic ``.tar.gz``: model,
  manifest, signature, card), "manifest" (parsed, for the monitor's
  validation errors), "signature" (the ``manifest.sig`` text)}``
* ``{"schema_version": 1, "command": "rollback", "rollout_id", "site_id",
  "device_id", "issued", "expires", "command_sig"}``

finding a site's gateways from their retained ``status`` messages, picking
the targets (one device, the first N as a canary, or all), and publishing
at QoS 1 over MQTT 5 (a PUBACK reason code >= 0x80, e.g. refused by the
broker's ACL, is an error).

Does NOT: decide whether a device promotes the model (the device does,
after its shadow run: :mod:`edge.runtime.rollout`), or sign bundles
(:mod:`trainer.bundle_signing`; an unsigned bundle is refused here already).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.forecasting.bundle import (
    MANIFEST_FILE,
    MODEL_FILE,
    SIGNATURE_FILE,
    BundleError,
    archive_bytes,
    load_bundle,
    read_bundle_files,
    sha256_hex,
)
from edge.runtime.contract import DEFAULT_PREFIX, TopicError, Topics, parse_topic
from edge.runtime.mqtt import BrokerSettings, make_client
from edge.runtime.signed_commands import MAX_TTL_S, SIGNATURE_FIELD, signing_bytes
from firmware_bridge.timestamps import isoformat_z

__all__ = [
    "DEFAULT_TTL_S",
    "RolloutError",
    "choose_targets",
    "discover_gateways",
    "install_payload",
    "model_topic",
    "rollback_payload",
    "send",
    "sign_command",
]

SCHEMA_VERSION = 1
#: Default validity of a command (a gateway offline longer needs it sent again). [s]
DEFAULT_TTL_S = 3 * 86400.0


class RolloutError(Exception):
    """A rollout cannot be sent (bad bundle, no targets, broker unreachable or refusing)."""


def _iso(t: float) -> str:
    return isoformat_z(datetime.fromtimestamp(int(t), UTC))


def model_topic(site: str, gateway: str, prefix: str = DEFAULT_PREFIX) -> str:
    """``<prefix>/<site>/<gateway>/cmd/model``."""
    return Topics(site, gateway, prefix).cmd_model


def sign_command(body: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    """Add ``command_sig`` to ``body`` and return the compact JSON payload."""
    body[SIGNATURE_FIELD] = base64.b64encode(key.sign(signing_bytes(body))).decode()
    return json.dumps(body, separators=(",", ":")).encode()


def _envelope(command: str, site: str, device: str, *, rollout_id: str | None, ttl_s: float,
              now: float | None) -> dict[str, Any]:
    if not 0 < ttl_s <= MAX_TTL_S:
        raise RolloutError(f"ttl must be in (0, {MAX_TTL_S:.0f}] s, got {ttl_s}")
    t = time.time() if now is None else now
    return {"schema_version": SCHEMA_VERSION, "command": command,
            "rollout_id": rollout_id or uuid.uuid4().hex[:16], "site_id": site,
            "device_id": device, "issued": _iso(t), "expires": _iso(t + ttl_s)}


def install_payload(
    bundle: str | Path, *, key: Ed25519PrivateKey, site: str, device: str,
    public_key: str | Path | None = None, rollout_id: str | None = None,
    ttl_s: float = DEFAULT_TTL_S, downgrade: bool = False, now: float | None = None,
) -> bytes:
    """The signed ``install`` payload of a bundle directory or archive for one gateway.

    Parameters
    ----------
    bundle : str or Path
        Bundle written by ``helio-train fit`` (signed).
    key : Ed25519PrivateKey
        The bundle signing key; it signs the command too.
    site, device : str
        The gateway the command is for (another gateway refuses it).
    public_key : str or Path, optional
        When given, the bundle is verified with it first (as the device
        will), so a bundle the fleet would refuse is not sent.
    rollout_id : str, optional
        Identifier echoed in device events, accepted once (default: random).
    ttl_s : float
        Validity from now. [s]
    downgrade : bool
        Allow installing a bundle created before the running one.
    now : float, optional
        Issue time, UTC epoch (default: the system clock). [s]

    Raises
    ------
    RolloutError
        Missing files, no signature, or (with ``public_key``) a bundle that
        does not verify.
    """
    try:
        files = read_bundle_files(bundle)
        if public_key is not None:
            load_bundle(bundle, public_key)
    except BundleError as exc:
        raise RolloutError(str(exc)) from None
    for name in (MANIFEST_FILE, MODEL_FILE, SIGNATURE_FILE):
        if name not in files:
            raise RolloutError(f"bundle {bundle}: {name} is missing"
                               + (" (sign it: helio-train sign)" if name == SIGNATURE_FILE
                                  else ""))
    try:
        manifest = json.loads(files[MANIFEST_FILE])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RolloutError(f"bundle {bundle}: manifest.json is not JSON ({exc})") from None
    archive = archive_bytes(files)
    body = _envelope("install", site, device, rollout_id=rollout_id, ttl_s=ttl_s, now=now)
    body.update({
        "version": str(manifest.get("model_version", "")),
        "sha256": sha256_hex(files[MODEL_FILE]),
        "archive_sha256": sha256_hex(archive),
        "archive_bytes": len(archive),
        "downgrade": bool(downgrade),
        "archive_b64": base64.b64encode(archive).decode(),
        "manifest": manifest,
        "signature": files[SIGNATURE_FILE].decode("ascii", "replace").strip(),
    })
    return sign_command(body, key)


def rollback_payload(
    *, key: Ed25519PrivateKey, site: str, device: str, rollout_id: str | None = None,
    ttl_s: float = DEFAULT_TTL_S, now: float | None = None,
) -> bytes:
    """The signed ``rollback`` payload for one gateway (see :func:`install_payload`)."""
    return sign_command(_envelope("rollback", site, device, rollout_id=rollout_id, ttl_s=ttl_s,
                                  now=now), key)


def _connect(broker: BrokerSettings, **callbacks: Any) -> mqtt.Client:
    """A client connected to ``broker`` with its loop running, after a successful CONNACK."""
    client = make_client(broker, mqtt5=True)
    for name, callback in callbacks.items():
        setattr(client, name, callback)
    connack: list[Any] = []
    client.on_connect = lambda _c, _u, _f, rc, _p: connack.append(rc)
    where = f"broker {broker.host}:{broker.port}"
    try:
        client.connect(broker.host, broker.port, keepalive=30)
    except (OSError, ValueError) as exc:  # refused, DNS, TLS handshake
        raise RolloutError(f"{where} unreachable: {exc}") from None
    client.loop_start()
    deadline = time.monotonic() + 10.0
    while not connack and time.monotonic() < deadline:
        time.sleep(0.02)
    if not connack or connack[0].is_failure:
        client.disconnect()
        client.loop_stop()
        raise RolloutError(f"{where} refused the connection: "
                           f"{connack[0] if connack else 'no CONNACK (TLS or network)'}")
    return client


def discover_gateways(
    broker: BrokerSettings, site: str, *, prefix: str = DEFAULT_PREFIX, wait_s: float = 1.5,
) -> dict[str, str]:
    """Gateways of ``site`` from their retained status: gateway id -> state."""
    found: dict[str, str] = {}

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return
        if isinstance(body, dict):
            try:
                found[parse_topic(msg.topic, prefix).device_id] = str(body.get("state", ""))
            except TopicError:
                return

    client = _connect(broker, on_message=on_message)
    client.subscribe(Topics(site, prefix=prefix).every_device("status"), qos=1)
    time.sleep(wait_s)
    client.disconnect()
    client.loop_stop()
    return found


def choose_targets(
    gateways: dict[str, str], *, device: str | None = None, canary: int | None = None
) -> list[str]:
    """One named device, the first ``canary`` online gateways (sorted), or all of them."""
    if device:
        return [device]
    names = sorted(gateways)
    if canary is not None:
        online = [g for g in names if gateways[g] == "online"]
        return online[:canary]
    return names


def send(broker: BrokerSettings, messages: Sequence[tuple[str, bytes]], *,
         timeout_s: float = 30.0) -> None:
    """Publish ``(topic, payload)`` pairs at QoS 1 and wait for every PUBACK.

    Raises
    ------
    RolloutError
        Unreachable or refusing broker, no PUBACK in time, or a PUBACK
        whose reason code is a failure (not authorised by the ACL, ...).
    """
    refused: dict[int, str] = {}

    def on_publish(_c: mqtt.Client, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            refused[mid] = str(rc)

    client = _connect(broker, on_publish=on_publish)
    try:
        infos = [(t, client.publish(t, p, qos=1)) for t, p in messages]
        for topic, info in infos:
            info.wait_for_publish(timeout_s)
            if not info.is_published():
                raise RolloutError(f"broker did not acknowledge within {timeout_s} s")
            if info.mid in refused:
                raise RolloutError(f"broker refused {topic}: {refused[info.mid]}")
    finally:
        client.disconnect()
        client.loop_stop()
