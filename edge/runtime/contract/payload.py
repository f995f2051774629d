"""Payloads before their schema: size caps per stream, JSON decoding, times, limits.

Responsible for: :class:`ContractError`, :func:`decode_payload` (UTF-8 JSON object,
finite numbers), :func:`payload_limit` (per-stream caps), :func:`parse_time` (through
:func:`firmware_bridge.timestamps.parse_utc`: a naive time is refused), the epoch and
sequence-number rules.

Does NOT: know the fields of a stream (:mod:`.streams`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal, get_args

from edge.runtime.contract.topics import (
    SEQ_STREAMS,
)
from firmware_bridge.timestamps import parse_utc

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
EventLevel = Literal["info", "warning", "error"]
StatusState = Literal["online", "offline"]
EVENT_LEVELS: tuple[str, ...] = get_args(EventLevel)
STATUS_STATES: tuple[str, ...] = get_args(StatusState)
_MAX_TEXT = 4096
_MAX_ENTRIES = 10_000
#: Longest key of a name -> value mapping (reading values, units, device tables). [chars]
_MAX_KEY = 64
#: Largest payload per stream (others: :data:`STREAM_DEFAULT_BYTES`; ``cmd/model`` carries
#: a bundle: :data:`MAX_PAYLOAD_BYTES`). A reading of tens of values is about 1 KiB. [bytes]
STREAM_MAX_BYTES: Mapping[str, int] = {"reading": 64 * 1024, "events": 64 * 1024,
                                       "cmd": 64 * 1024, "cmd/model": MAX_PAYLOAD_BYTES}
#: Largest payload of any other stream (status, forecast, model, plan, alerts). [bytes]
STREAM_DEFAULT_BYTES = 1024 * 1024


def payload_limit(stream: str) -> int:
    """Largest payload accepted on ``stream`` (sub-streams such as ``forecast/shadow`` share
    their stream's). [bytes]"""
    return STREAM_MAX_BYTES.get(stream, STREAM_MAX_BYTES.get(stream.split("/", 1)[0],
                                                             STREAM_DEFAULT_BYTES))


class ContractError(ValueError):
    """A message that does not follow the payload contract (the text says why)."""


def parse_time(value: Any) -> float | None:
    """ISO 8601 text with ``Z`` or an offset -> UTC epoch seconds, else None. [s]

    Through :func:`firmware_bridge.timestamps.parse_utc`, so a naive time
    (no timezone) is not a time here either.
    """
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return parse_utc(value).timestamp()
    except (ValueError, OverflowError, OSError):
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


