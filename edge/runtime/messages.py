"""MQTT payloads, schema_version 1: built with the field names of :mod:`.contract`'s schemas.

Responsible for: topic names and payload dictionaries for readings,
forecasts, status, events and the model, and their JSON encoding with the
sequence number the outbox assigns. Each body is checked against the names
of its schema (:class:`~edge.runtime.contract.ReadingBody`, ...) when it is
built, so a key the contract does not know cannot reach the wire; the
tests read every built message back through
:func:`edge.runtime.contract.read_body`.

Does NOT: do I/O, assign sequence numbers, or decide when to publish.

Every builder returns a :class:`Message` whose ``body`` lacks ``seq``;
``Message.encode(seq)`` adds it and serialises compactly. Timestamps are
ISO 8601 UTC with a ``Z``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from edge.runtime.contract import (
    EVENT_LEVELS,
    FORECAST_QUANTITIES,
    FORECAST_UNITS,
    QUANTILES,
    SCHEMA_VERSION,
    SHADOW_FORECAST_TOPIC,
    EventBody,
    ForecastBody,
    ModelBody,
    PlanBody,
    ReadingBody,
    Schema,
    StatusBody,
    Topics,
)
from firmware_bridge.timestamps import isoformat_z

__all__ = [
    "ForecastLike",
    "Message",
    "PlanLike",
    "ReadingLike",
    "event_message",
    "forecast_message",
    "model_message",
    "offline_status",
    "plan_message",
    "reading_message",
    "status_message",
]

class ReadingLike(Protocol):
    """What :func:`reading_message` needs from ``firmware_bridge.Reading``."""

    @property
    def device_id(self) -> str: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def values(self) -> Mapping[str, float | int | str]: ...


class ForecastLike(Protocol):
    """What :func:`forecast_message` needs from a post-processed forecast.

    ``quantiles[name]`` is a sequence over horizons of ``(p10, p50, p90)``
    for each name in :data:`FORECAST_QUANTITIES`. [W/m²] or [W]
    """

    @property
    def horizons_min(self) -> Sequence[int]: ...
    @property
    def quantiles(self) -> Mapping[str, Sequence[Sequence[float]]]: ...


class PlanLike(Protocol):
    """What :func:`plan_message` needs from :class:`edge.planning.plan.EnergyPlan`."""

    @property
    def issued(self) -> datetime: ...
    def to_body(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Message:
    """A payload ready for the outbox or the publisher."""

    topic: str
    device_id: str
    stream: str
    body: Mapping[str, Any]
    retain: bool = False
    qos: int = 1
    extra: Mapping[str, Any] = field(default_factory=dict)

    def encode(self, seq: int, epoch: str = "") -> bytes:
        """The JSON payload with ``seq`` (and the outbox ``epoch``, if given) after ``stream``."""
        out: dict[str, Any] = {}
        for k, v in self.body.items():
            out[k] = v
            if k == "stream":
                out["seq"] = seq
                if epoch:
                    out["epoch"] = epoch
        return json.dumps(out, separators=(",", ":"), allow_nan=False).encode()


def _named(schema: type[Schema], body: dict[str, Any]) -> dict[str, Any]:
    """``body``, once every key is a field of ``schema`` (a misspelt key fails here).

    Raises
    ------
    ValueError
        A key the schema does not name.
    """
    unknown = body.keys() - schema.field_names()
    if unknown:
        raise ValueError(f"{schema.__name__} has no field {', '.join(sorted(unknown))}")
    return body


def _head(topics: Topics, device_id: str, stream: str, ts: datetime) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "site_id": topics.site_id,
        "device_id": device_id,
        "stream": stream,
        "timestamp": isoformat_z(ts),
    }


def _clean(value: float | int | str) -> float | int | str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def reading_message(
    topics: Topics,
    reading: ReadingLike,
    units: Mapping[str, str],
    *,
    stale: Sequence[str] = (),
) -> Message:
    """A ``reading`` message for one source device.

    Parameters
    ----------
    topics : Topics
        Topic tree of this site.
    reading : Reading
        Canonical values in SI units.
    units : mapping
        Unit of each value name (from ``firmware_bridge.readings.QUANTITIES``);
        names without a unit get ``""``.
    stale : sequence of str
        Names whose values are held over from an earlier frame.
    """
    body = _head(topics, reading.device_id, "reading", reading.timestamp)
    body["values"] = {k: _clean(v) for k, v in reading.values.items()}
    body["units"] = {k: units.get(k, "") for k in reading.values}
    body["stale"] = list(stale)
    return Message(topics.of(reading.device_id, "reading"), reading.device_id, "reading",
                   _named(ReadingBody, body))


def forecast_message(
    topics: Topics,
    forecast: ForecastLike,
    *,
    issue_time: datetime,
    step_minutes: int,
    model_version: str,
    model_sha256: str,
    inputs_stale: bool,
    shadow: bool = False,
    pv_energy: Mapping[str, Any] | None = None,
) -> Message:
    """A Solcast-like ``forecast`` message.

    Each entry covers ``period_end - step`` to ``period_end`` where
    ``period_end = issue_time + horizon``. A shadow model's forecast goes to
    its own topic, ``.../forecast/shadow`` (:data:`SHADOW_FORECAST_TOPIC`), so
    consumers of ``forecast`` (Home Assistant) never see the trial model; it
    stays in the ``forecast`` stream (one ``seq`` counter for both), so a
    receiver de-duplicates and counts loss as before.

    Every entry also carries ``pv_energy`` (its PV power times the period)
    [Wh]; ``pv_energy`` (the outlook of :func:`edge.forecasting.energy.
    energy_outlook`: ``next_3h``, ``rest_of_today``, ``day_end``) goes at the
    top level when given.
    """
    body = _head(topics, topics.gateway_id, "forecast", issue_time)
    body["issue_time"] = isoformat_z(issue_time)
    body["model"] = {"version": model_version, "sha256": model_sha256}
    body["shadow"] = shadow
    body["inputs_stale"] = inputs_stale
    body["step_minutes"] = step_minutes
    body["units"] = {**FORECAST_UNITS, "pv_energy": "Wh"}
    entries = []
    for i, horizon in enumerate(forecast.horizons_min):
        entry: dict[str, Any] = {
            "horizon_min": int(horizon),
            "period_end": isoformat_z(issue_time + timedelta(minutes=int(horizon))),
            "period": f"PT{int(step_minutes)}M",
        }
        for name in FORECAST_QUANTITIES:
            q = forecast.quantiles[name][i]
            pairs = zip(QUANTILES, q, strict=True)
            entry[name] = {k: round(max(float(v), 0.0), 1) for k, v in pairs}
        entry["pv_energy"] = {k: round(v * step_minutes / 60.0, 1)
                              for k, v in entry["pv_power"].items()}
        entries.append(entry)
    body["forecasts"] = entries
    if pv_energy is not None:
        body["pv_energy"] = {
            k: isoformat_z(v) if isinstance(v, datetime) else dict(v) if isinstance(v, Mapping)
            else v for k, v in pv_energy.items()}
    topic = topics.gateway(SHADOW_FORECAST_TOPIC if shadow else "forecast")
    return Message(topic, topics.gateway_id, "forecast", _named(ForecastBody, body))


def status_message(
    topics: Topics,
    *,
    now: datetime,
    devices: Mapping[str, Mapping[str, Any]],
    queued: int,
    evicted: int,
    model_version: str,
    model_sha256: str,
    uptime_s: float,
    state: str = "online",
) -> Message:
    """The retained ``status`` message (heartbeat)."""
    body = _head(topics, topics.gateway_id, "status", now)
    body["state"] = state
    body["devices"] = {k: dict(v) for k, v in devices.items()}
    body["outbox"] = {"queued": queued, "evicted": evicted}
    body["model"] = {"version": model_version, "sha256": model_sha256}
    body["uptime_s"] = round(uptime_s, 1)
    return Message(topics.status, topics.gateway_id, "status", _named(StatusBody, body),
                   retain=True)


def offline_status(topics: Topics) -> bytes:
    """The Last Will payload (no timestamp: the broker sends it later)."""
    body = {
        "schema_version": SCHEMA_VERSION,
        "site_id": topics.site_id,
        "device_id": topics.gateway_id,
        "stream": "status",
        "state": "offline",
    }
    return json.dumps(_named(StatusBody, body), separators=(",", ":")).encode()


def event_message(
    topics: Topics,
    *,
    now: datetime,
    level: str,
    code: str,
    message: str,
    data: Mapping[str, Any] | None = None,
) -> Message:
    """An ``events`` message (``level`` is info, warning or error)."""
    if level not in EVENT_LEVELS:
        raise ValueError(f"unknown event level {level!r}")
    body = _head(topics, topics.gateway_id, "events", now)
    body.update(level=level, code=code, message=message, data=dict(data or {}))
    return Message(topics.gateway("events"), topics.gateway_id, "events",
                   _named(EventBody, body))


def model_message(
    topics: Topics,
    *,
    now: datetime,
    version: str,
    sha256: str,
    blessed: bool,
    created: str,
    role: str = "active",
) -> Message:
    """The retained ``model`` message: the model the agent runs."""
    body = _head(topics, topics.gateway_id, "model", now)
    body.update(version=version, sha256=sha256, blessed=blessed, created=created, role=role)
    return Message(topics.gateway("model"), topics.gateway_id, "model", _named(ModelBody, body),
                   retain=True)


def plan_message(topics: Topics, plan: PlanLike) -> Message:
    """The ``plan`` message (QoS 1, not retained, sequenced): the envelope plus ``plan.to_body()``.

    ``timestamp`` is the plan's issue time. The body is read back through
    :class:`~edge.runtime.contract.PlanBody` here, so a plan that breaks the
    contract (a list of the wrong length, a SOC outside [0, 1], a
    non-finite number) fails at the device, not at the monitor.

    Raises
    ------
    ValueError
        A key the schema does not name, or a body the schema refuses
        (:class:`~edge.runtime.contract.ContractError`).
    """
    body = _head(topics, topics.gateway_id, "plan", plan.issued)
    body.update(plan.to_body())
    PlanBody.from_body({**body, "seq": 1})
    return Message(topics.plan, topics.gateway_id, "plan", _named(PlanBody, body))
