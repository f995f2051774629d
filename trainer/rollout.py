"""Cloud side of model rollout: send signed bundles (or a rollback) to devices over MQTT.

Responsible for: the ``cmd/model`` payloads (schema 1, JSON):

* ``{"schema_version": 1, "command": "install", "rollout_id", "version",
  "sha256" (model file), "archive_sha256", "archive_b64" (the bundle as a
  deterministic ``.tar.gz``: model, manifest, signature, card), "manifest"
  (parsed, for the monitor's validation errors), "signature" (the
  ``manifest.sig`` text), "issued"}``
* ``{"schema_version": 1, "command": "rollback", "rollout_id", "issued"}``

finding a site's gateways from their retained ``status`` messages, picking
the targets (one device, the first N as a canary, or all), and publishing
at QoS 1.

Does NOT: decide whether a device promotes the model (the device does,
after its shadow run: :mod:`edge.runtime.rollout`), or sign bundles
(:mod:`trainer.signing`; an unsigned bundle is refused here already).
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
from edge.runtime.mqtt import BrokerSettings, make_client
from firmware_bridge.timestamps import isoformat_z

__all__ = [
    "RolloutError",
    "choose_targets",
    "discover_gateways",
    "install_payload",
    "model_topic",
    "rollback_payload",
    "send",
]

SCHEMA_VERSION = 1


class RolloutError(Exception):
    """A rollout cannot be sent (bad bundle, no targets, broker unreachable)."""


def _now() -> str:
    return isoformat_z(datetime.now(UTC).replace(microsecond=0))


def model_topic(site: str, gateway: str, prefix: str = "helio") -> str:
    """``<prefix>/<site>/<gateway>/cmd/model``."""
    return f"{prefix}/{site}/{gateway}/cmd/model"


def install_payload(
    bundle: str | Path, *, public_key: str | Path | None = None, rollout_id: str | None = None
) -> bytes:
    """The ``install`` payload of a bundle directory or archive.

    Parameters
    ----------
    bundle : str or Path
        Bundle written by ``helio-train fit`` (signed).
    public_key : str or Path, optional
        When given, the bundle is verified with it first (as the device
        will), so a bundle the fleet would refuse is not sent.
    rollout_id : str, optional
        Identifier echoed in device events (default: random).

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
    body: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "command": "install",
        "rollout_id": rollout_id or uuid.uuid4().hex[:12],
        "version": str(manifest.get("model_version", "")),
        "sha256": sha256_hex(files[MODEL_FILE]),
        "archive_sha256": sha256_hex(archive),
        "archive_b64": base64.b64encode(archive).decode(),
        "manifest": manifest,
        "signature": files[SIGNATURE_FILE].decode("ascii", "replace").strip(),
        "issued": _now(),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def rollback_payload(*, rollout_id: str | None = None) -> bytes:
    """The ``rollback`` payload."""
    body = {"schema_version": SCHEMA_VERSION, "command": "rollback",
            "rollout_id": rollout_id or uuid.uuid4().hex[:12], "issued": _now()}
    return json.dumps(body, separators=(",", ":")).encode()


def _client(host: str, port: int, client_id: str = "") -> mqtt.Client:
    return make_client(BrokerSettings(host, port, client_id), mqtt5=True)


def discover_gateways(
    host: str, port: int, site: str, *, prefix: str = "helio", wait_s: float = 1.5
) -> dict[str, str]:
    """Gateways of ``site`` from their retained status: gateway id -> state."""
    found: dict[str, str] = {}

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return
        if isinstance(body, dict):
            found[msg.topic.split("/")[2]] = str(body.get("state", ""))

    client = _client(host, port)
    client.on_message = on_message
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise RolloutError(f"broker {host}:{port} unreachable: {exc}") from None
    client.subscribe(f"{prefix}/{site}/+/status", qos=1)
    client.loop_start()
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


def send(host: str, port: int, messages: Sequence[tuple[str, bytes]], *,
         timeout_s: float = 30.0) -> None:
    """Publish ``(topic, payload)`` pairs at QoS 1 and wait for every PUBACK."""
    client = _client(host, port)
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise RolloutError(f"broker {host}:{port} unreachable: {exc}") from None
    client.loop_start()
    try:
        infos = [client.publish(t, p, qos=1) for t, p in messages]
        for info in infos:
            info.wait_for_publish(timeout_s)
            if not info.is_published():
                raise RolloutError(f"broker did not acknowledge within {timeout_s} s")
    finally:
        client.disconnect()
        client.loop_stop()
