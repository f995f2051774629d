"""Payload contract checks of the fleet topic tree (schema_version 1).

Responsible for: deciding, before anything reaches the store, whether one
message follows the contract of docs/architecture.md (topic tree and
payload shapes per stream), and saying why not in one line. Every field
the store reads is checked for type and range here, so the store never
meets a value it cannot bind (a ``seq`` of 2**63, a list where a number
belongs, a forecast entry that is not an object, UTF-16 text).

Does NOT: parse topics (the caller passes the stream), do I/O, or decide
what a valid message means (the store does).

Pure functions without dependencies beyond the standard library, so the
edge can use the same shapes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "EPOCH_RE",
    "LEGACY_EPOCH",
    "MAX_PAYLOAD_BYTES",
    "MAX_SEQ",
    "ContractError",
    "check_body",
    "decode_payload",
    "parse_time",
]

#: ``schema_version`` this contract describes
SCHEMA_VERSION = 1
#: Largest sequence number (SQLite INTEGER is signed 64-bit).
MAX_SEQ = 2**63 - 1
#: Largest payload looked at; a bundle rollout (``cmd/model``) is the big one. [bytes]
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
#: An outbox epoch: the random id of one outbox database.
EPOCH_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The epoch of messages sent before epochs existed (all of them count as one).
LEGACY_EPOCH = ""
#: Streams whose messages carry ``seq`` (deduplicated, loss-accounted).
SEQ_STREAMS = ("reading", "forecast", "events")
#: Streams whose payload must carry ``schema_version`` and the ids of the topic.
DATA_STREAMS = (*SEQ_STREAMS, "status", "model")
FORECAST_TARGETS = ("ghi", "dni", "dhi", "pv_power")
QUANTILES = ("p10", "p50", "p90")
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
        for target in FORECAST_TARGETS:
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
