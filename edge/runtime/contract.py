"""The MQTT contract, defined once: topics, streams, schema version, payload shapes.

Responsible for: the names the agent publishes under and the monitor reads
(``<prefix>/<site_id>/<device_id>/<stream>``), which streams carry a ``seq``,
which are retained, the reserved device id of the monitor, the forecast
quantities and units, :func:`parse_topic` (the inverse of
:meth:`Topics.of`), and the payload shapes: :func:`decode_payload` and
:func:`check_body` decide whether one message follows the contract and say
why not in one line (every field the monitor's store reads is checked for
type and range, so the store never meets a value it cannot bind: a ``seq``
of 2**63, a list where a number belongs, UTF-16 text). The outbox *epoch*
(:data:`EPOCH_RE`) is the random id of one outbox database, sent in every
message; messages without one belong to :data:`LEGACY_EPOCH`.
docs/architecture.md describes the payloads in prose; this module is what
code imports, on the device (:mod:`edge.runtime.messages`)
and in the cloud (:mod:`trainer.monitor`).

Does NOT: build or encode payloads (:mod:`edge.runtime.messages`), or do I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "EPOCH_RE",
    "FORECAST_QUANTITIES",
    "FORECAST_UNITS",
    "LEGACY_EPOCH",
    "MAX_PAYLOAD_BYTES",
    "MAX_SEQ",
    "MONITOR_DEVICE",
    "QUANTILES",
    "RETAINED_STREAMS",
    "SCHEMA_VERSION",
    "SEQ_STREAMS",
    "SHADOW_FORECAST_TOPIC",
    "STREAMS",
    "ContractError",
    "TopicError",
    "TopicParts",
    "Topics",
    "check_body",
    "decode_payload",
    "parse_time",
    "parse_topic",
]

#: ``schema_version`` of every payload.
SCHEMA_VERSION = 1
#: Streams of the topic tree (the last topic level; ``cmd`` may have sub-levels).
STREAMS = ("reading", "forecast", "status", "events", "model", "cmd", "alerts")
#: Streams whose ``seq`` counts (per device and stream) for duplicates and loss.
SEQ_STREAMS = ("reading", "forecast", "events")
#: Topic suffix of a shadow model's forecasts (``<prefix>/<site>/<gw>/forecast/shadow``):
#: the ``forecast`` stream (same ``seq`` counter) on its own topic, so consumers of
#: ``forecast`` (Home Assistant) never see a model on trial.
SHADOW_FORECAST_TOPIC = "forecast/shadow"
#: Streams published retained (state, not history).
RETAINED_STREAMS = ("status", "model")
#: Device id reserved for the fleet monitor's own topics (``<prefix>/<site>/monitor/alerts``).
MONITOR_DEVICE = "monitor"
#: Forecast quantities, in payload order, and their units.
FORECAST_UNITS: Mapping[str, str] = {"ghi": "W/m2", "dni": "W/m2", "dhi": "W/m2", "pv_power": "W"}
FORECAST_QUANTITIES: tuple[str, ...] = tuple(FORECAST_UNITS)
#: Quantile keys of each forecast quantity, in order.
QUANTILES = ("p10", "p50", "p90")


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic tree ``<prefix>/<site_id>/<device_id>/<stream>``."""

    site_id: str
    gateway_id: str = "gateway"
    prefix: str = "helio"

    def of(self, device_id: str, stream: str) -> str:
        """Topic of ``stream`` for ``device_id``."""
        return f"{self.prefix}/{self.site_id}/{device_id}/{stream}"

    def gateway(self, stream: str) -> str:
        """Topic of one of the gateway's own streams."""
        return self.of(self.gateway_id, stream)

    @property
    def status(self) -> str:
        """Retained status / Last Will topic."""
        return self.gateway("status")

    @property
    def cmd(self) -> str:
        """Inbound command topic."""
        return self.gateway("cmd")

    @property
    def cmd_model(self) -> str:
        """Inbound model-rollout topic (``cmd/model``: a signed bundle archive)."""
        return self.cmd + "/model"


class TopicError(ValueError):
    """A topic outside the tree."""


@dataclass(frozen=True, slots=True)
class TopicParts:
    """The levels of a topic of the tree (``stream`` keeps any sub-levels)."""

    site_id: str
    device_id: str
    stream: str


def parse_topic(topic: str, prefix: str = "helio") -> TopicParts:
    """Split ``<prefix>/<site>/<device>/<stream>[/...]``.

    Raises
    ------
    TopicError
        When the prefix differs or a level is missing or empty.
    """
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != prefix or not all(parts[1:4]):
        raise TopicError(f"topic {topic!r} is not {prefix}/<site>/<device>/<stream>")
    return TopicParts(parts[1], parts[2], "/".join(parts[3:]))


# ------------------------------------------------------------ payload shapes

#: Largest sequence number (SQLite INTEGER is signed 64-bit).
MAX_SEQ = 2**63 - 1
#: Largest payload looked at; a bundle rollout (``cmd/model``) is the big one. [bytes]
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
#: An outbox epoch: the random id of one outbox database.
EPOCH_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The epoch of messages sent before epochs existed (all of them count as one).
LEGACY_EPOCH = ""
#: Streams whose payload must carry ``schema_version`` and the ids of the topic.
DATA_STREAMS = (*SEQ_STREAMS, "status", "model")
EVENT_LEVELS = ("info", "warning", "error")
STATUS_STATES = ("online", "offline")
_MAX_TEXT = 4096
_MAX_ENTRIES = 10_000


class ContractError(ValueError):
    """A message that does not follow the payload contract (the text says why)."""


def parse_time(value: Any) -> float | None:
    """ISO 8601 text (``...Z``) -> UTC epoch seconds; None when not a valid time. [s]"""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    try:
        return ts.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def decode_payload(payload: bytes) -> dict[str, Any]:
    """UTF-8 JSON object -> dict (no BOM, no UTF-16/32, finite numbers only).

    Raises
    ------
    ContractError
        Too large, not UTF-8, not JSON, or not an object.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(f"payload is not JSON (not UTF-8: {exc.reason})") from None
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ContractError(f"payload is not JSON: {exc}") from None
    except ValueError as exc:  # NaN, Infinity
        raise ContractError(f"payload is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ContractError("payload is not a JSON object")
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# ----------------------------------------------------------------- helpers


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return -MAX_SEQ <= v <= MAX_SEQ
    return isinstance(v, float) and math.isfinite(v)


def _number(body: Mapping[str, Any], key: str, where: str) -> None:
    if not _is_number(body.get(key)):
        raise ContractError(f"{where}{key} must be a finite number, got {_show(body.get(key))}")


def _int(body: Mapping[str, Any], key: str, where: str, lo: int, hi: int) -> int:
    v = body.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ContractError(f"{where}{key} must be an integer in {lo}..{hi}, got {_show(v)}")
    return v


def _text(body: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> None:
    v = body.get(key)
    if v is None and optional:
        return
    if not isinstance(v, str) or len(v) > _MAX_TEXT:
        raise ContractError(f"{where}{key} must be text, got {_show(v)}")


def _bool(body: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> None:
    v = body.get(key)
    if v is None and optional:
        return
    if not isinstance(v, bool):
        raise ContractError(f"{where}{key} must be true or false, got {_show(v)}")


def _object(body: Mapping[str, Any], key: str, where: str, *,
            optional: bool = False) -> Mapping[str, Any]:
    v = body.get(key)
    if v is None and optional:
        return {}
    if not isinstance(v, dict):
        raise ContractError(f"{where}{key} must be an object, got {_show(v)}")
    return v


def _time(body: Mapping[str, Any], key: str, where: str) -> None:
    if parse_time(body.get(key)) is None:
        raise ContractError(f"{where}{key} must be an ISO 8601 time, got {_show(body.get(key))}")


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


# ------------------------------------------------------------ the streams


def _reading(body: Mapping[str, Any]) -> None:
    values = _object(body, "values", "")
    if len(values) > _MAX_ENTRIES:
        raise ContractError(f"values has {len(values)} entries")
    for name, v in values.items():
        if v is not None and not isinstance(v, str) and not _is_number(v):
            raise ContractError(f"values.{name[:40]} must be a number, text or null,"
                                f" got {_show(v)}")
    units = _object(body, "units", "", optional=True)
    for name, u in units.items():
        if not isinstance(u, str):
            raise ContractError(f"units.{name[:40]} must be text, got {_show(u)}")
    stale = body.get("stale", [])
    if not isinstance(stale, list) or not all(isinstance(s, str) for s in stale):
        raise ContractError(f"stale must be a list of names, got {_show(stale)}")


def _forecast(body: Mapping[str, Any]) -> None:
    _time(body, "issue_time", "")
    model = _object(body, "model", "")
    _text(model, "version", "model.")
    _text(model, "sha256", "model.")
    _bool(body, "shadow", "")
    _bool(body, "inputs_stale", "", optional=True)
    _int(body, "step_minutes", "", 1, 1440)
    entries = body.get("forecasts")
    if not isinstance(entries, list) or len(entries) > _MAX_ENTRIES:
        raise ContractError(f"forecasts must be a list, got {_show(entries)}")
    for i, entry in enumerate(entries):
        where = f"forecasts[{i}]."
        if not isinstance(entry, dict):
            raise ContractError(f"forecasts[{i}] must be an object, got {_show(entry)}")
        _int(entry, "horizon_min", where, 0, 366 * 1440)
        _time(entry, "period_end", where)
        for target in FORECAST_QUANTITIES:
            if target not in entry:
                continue
            q = _object(entry, target, where)
            for name in QUANTILES:
                if q.get(name) is not None:
                    _number(q, name, f"{where}{target}.")


def _status(body: Mapping[str, Any]) -> None:
    state = body.get("state")
    if state not in STATUS_STATES:
        raise ContractError(f"state must be online or offline, got {_show(state)}")
    if "timestamp" in body:
        _time(body, "timestamp", "")
    devices = _object(body, "devices", "", optional=True)
    for name, health in devices.items():
        if not isinstance(health, dict):
            raise ContractError(f"devices.{name[:40]} must be an object, got {_show(health)}")
        for key in ("frames_good", "checksum_errors", "timeouts", "reconnects"):
            if key in health and not _is_number(health[key]):
                raise ContractError(f"devices.{name[:40]}.{key} must be a number,"
                                    f" got {_show(health[key])}")
    model = _object(body, "model", "", optional=True)
    for key in ("version", "sha256"):
        _text(model, key, "model.", optional=True)


def _events(body: Mapping[str, Any]) -> None:
    if body.get("level") not in EVENT_LEVELS:
        raise ContractError(f"level must be info, warning or error, got {_show(body.get('level'))}")
    _text(body, "code", "")
    _text(body, "message", "", optional=True)
    _object(body, "data", "", optional=True)


def _model(body: Mapping[str, Any]) -> None:
    _text(body, "version", "")
    _text(body, "sha256", "")
    _bool(body, "blessed", "", optional=True)
    _text(body, "role", "", optional=True)


def _cmd_model(body: Mapping[str, Any]) -> None:
    manifest = _object(body, "manifest", "", optional=True)
    if manifest:
        model = _object(manifest, "model", "manifest.", optional=True)
        _text(model, "sha256", "manifest.model.", optional=True)
        _text(manifest, "model_version", "manifest.", optional=True)


_SHAPES = {"reading": _reading, "forecast": _forecast, "status": _status, "events": _events,
           "model": _model, "cmd/model": _cmd_model}


def check_body(site: str, device: str, stream: str, body: Mapping[str, Any]) -> None:
    """Check one decoded payload received on ``<prefix>/<site>/<device>/<stream>``.

    The envelope (``schema_version`` 1, ``site_id`` and ``device_id`` equal
    to the topic's, ``stream`` if present, ``seq`` in 1..2**63-1 and an ISO
    8601 ``timestamp`` on the sequenced streams, ``epoch`` if present) and
    the shape of each known stream. Streams not in the contract only get
    the envelope checks that apply to them.

    Raises
    ------
    ContractError
        With the first violation found.
    """
    data = stream in DATA_STREAMS
    if data or "schema_version" in body:
        v = body.get("schema_version")
        if isinstance(v, bool) or v != SCHEMA_VERSION:
            raise ContractError(f"schema_version must be {SCHEMA_VERSION}, got {_show(v)}")
    for key, expected in (("site_id", site), ("device_id", device)):
        if (key in body or data) and body.get(key) != expected:
            raise ContractError(f"{key} {_show(body.get(key))} contradicts the topic"
                                f" ({expected!r})")
    if "stream" in body and body["stream"] != stream:
        raise ContractError(f"stream {_show(body['stream'])} contradicts the topic ({stream!r})")
    if "clock_synced" in body and not isinstance(body["clock_synced"], bool):
        raise ContractError("clock_synced must be true or false,"
                            f" got {_show(body['clock_synced'])}")
    if "epoch" in body and not (isinstance(body["epoch"], str)
                                and EPOCH_RE.fullmatch(body["epoch"])):
        raise ContractError(f"epoch must be 1-64 of [A-Za-z0-9_-], got {_show(body['epoch'])}")
    if stream in SEQ_STREAMS:
        _int(body, "seq", "", 1, MAX_SEQ)
        _time(body, "timestamp", "")
    elif "seq" in body:
        _int(body, "seq", "", 1, MAX_SEQ)
    shape = _SHAPES.get(stream)
    if shape is not None:
        shape(body)
