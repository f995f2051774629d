"""What each stream's message body becomes in the store: one function per stream.

Responsible for: reading a :class:`~trainer.monitor.store.records.FleetMessage`'s
body (already checked by :func:`edge.runtime.contract.check_body`) through its
stream's schema in :mod:`edge.runtime.contract` (``ForecastBody.from_body``
and the like) into the flat records a backend writes. This is the only place
the store reads message fields.

Does NOT: write anything or check the contract (the monitor refuses bad
messages before the store sees them); sans-IO, no SQL.

A function may raise on a body the contract checks let through (a missing
key, bytes that are not UTF-8): the writer rolls that message back alone and
keeps it in ``rejected``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple

from edge.runtime.contract import EventBody, ForecastBody, ModelBody, PlanBody, StatusBody
from trainer.monitor.store.records import FleetMessage

__all__ = [
    "FORECAST_TARGETS",
    "EventRecord",
    "ForecastPointRecord",
    "ForecastRecord",
    "ManifestRecord",
    "ModelRecord",
    "PlanRecord",
    "ReadingRecord",
    "StatusRecord",
    "command_manifest",
    "event_record",
    "forecast_records",
    "manifest_record",
    "model_record",
    "plan_record",
    "reading_record",
    "status_record",
]

#: forecast quantities kept as points (each a ``{p10, p50, p90}`` object)
FORECAST_TARGETS = ("ghi", "dni", "dhi", "pv_power")


class ReadingRecord(NamedTuple):
    """A reading; ``body`` is the payload verbatim (JSON text)."""

    site: str
    device: str
    seq: int | None
    ts: float | None
    received: float
    body: str
    epoch: str


class ForecastRecord(NamedTuple):
    """A forecast message's envelope; ``issue`` [s] falls back to the timestamp."""

    site: str
    device: str
    seq: int | None
    ts: float | None
    issue: float | None
    model_version: str
    model_sha: str
    shadow: int
    inputs_stale: int
    received: float
    epoch: str


class ForecastPointRecord(NamedTuple):
    """One target at one horizon of a forecast; ``period_s`` is the step. [s]"""

    site: str
    device: str
    target: str
    horizon_min: int
    issue: float | None
    shadow: int
    model_sha: str
    period_end: float
    period_s: float
    p10: Any
    p50: Any
    p90: Any


class PlanRecord(NamedTuple):
    """An energy plan: the columns the queries need, ``body`` the plan fields as JSON text.

    ``issued``, ``horizon_end`` (the last period end), ``reserve_at`` and
    ``reserve_at_p50`` are epoch seconds [s]; ``reserve_soc`` [-].
    """

    site: str
    device: str
    seq: int | None
    ts: float | None
    issued: float
    horizon_end: float
    reserve_soc: float
    reserve_at: float | None
    reserve_at_p50: float | None
    received: float
    body: str
    epoch: str


#: envelope fields of a plan message that are not the plan's own
_ENVELOPE = frozenset({"schema_version", "site_id", "device_id", "stream", "seq", "epoch",
                       "timestamp", "clock_synced"})


class EventRecord(NamedTuple):
    """An event; ``data`` is JSON text."""

    site: str
    device: str
    seq: int | None
    ts: float | None
    level: str
    code: str
    message: str
    data: str
    received: float
    epoch: str


class StatusRecord(NamedTuple):
    """A heartbeat or Last Will; ``payload`` is the body as JSON text."""

    site: str
    device: str
    state: str
    ts: float | None
    received: float
    payload: str
    epoch: str
    seq: int | None


class ModelRecord(NamedTuple):
    """The model a gateway reports in one role; ``payload`` is the body as JSON text."""

    site: str
    device: str
    version: str
    sha256: str
    blessed: int
    role: str
    received: float
    payload: str


class ManifestRecord(NamedTuple):
    """A bundle manifest by its model's SHA-256; ``manifest`` is JSON text."""

    sha256: str
    version: str
    manifest: str


def reading_record(msg: FleetMessage) -> ReadingRecord:
    """The ``reading`` stream: stored verbatim (queried by value name later)."""
    body = msg.raw.decode() if msg.raw else json.dumps(msg.body)
    return ReadingRecord(msg.site, msg.device, msg.seq, msg.ts, msg.received, body, msg.epoch)


def forecast_records(msg: FleetMessage) -> tuple[ForecastRecord, list[ForecastPointRecord]]:
    """The ``forecast`` stream: its envelope and one point per target and horizon."""
    fc = ForecastBody.from_body(msg.body)
    issue = fc.issue_time.timestamp()
    shadow = int(fc.shadow)
    sha = fc.model.sha256
    head = ForecastRecord(msg.site, msg.device, msg.seq, msg.ts, issue, fc.model.version, sha,
                          shadow, int(fc.inputs_stale), msg.received, msg.epoch)
    period_s = 60.0 * float(fc.step_minutes)
    points = []
    for entry in fc.forecasts:
        end = entry.period_end.timestamp()
        for target in FORECAST_TARGETS:
            q = getattr(entry, target)
            if q is None:
                continue
            points.append(ForecastPointRecord(
                msg.site, msg.device, target, entry.horizon_min, issue, shadow, sha,
                end, period_s, q.p10, q.p50, q.p90))
    return head, points


def plan_record(msg: FleetMessage) -> PlanRecord:
    """The ``plan`` stream: kept as its plan fields (the envelope dropped) plus the times.

    Raises
    ------
    ValueError
        A plan without an issue time or period ends, or whose SOC quantiles
        do not have one value per period end (the writer keeps it in
        ``rejected``).
    """
    plan = PlanBody.from_body(msg.body)  # its lists are checked against period_end there
    ends = [t.timestamp() for t in plan.period_end]
    if not ends:
        raise ValueError("a plan needs its period ends")
    fields = {k: v for k, v in msg.body.items() if k not in _ENVELOPE}

    def epoch(t: datetime | None) -> float | None:
        return None if t is None else t.timestamp()

    return PlanRecord(msg.site, msg.device, msg.seq, msg.ts, plan.issued.timestamp(), max(ends),
                      plan.reserve_soc, epoch(plan.reserve_at), epoch(plan.reserve_at_p50),
                      msg.received, json.dumps(fields, separators=(",", ":")), msg.epoch)


def event_record(msg: FleetMessage) -> EventRecord:
    """The ``events`` stream."""
    ev = EventBody.from_body(msg.body)
    return EventRecord(msg.site, msg.device, msg.seq, msg.ts, ev.level, ev.code,
                       ev.message or "", json.dumps(dict(ev.data)), msg.received, msg.epoch)


def status_record(msg: FleetMessage) -> StatusRecord:
    """The ``status`` stream (heartbeats and the Last Will)."""
    st = StatusBody.from_body(msg.body)
    return StatusRecord(msg.site, msg.device, st.state, msg.ts, msg.received,
                        json.dumps(msg.body), msg.epoch, msg.seq)


def model_record(msg: FleetMessage) -> ModelRecord:
    """The ``model`` stream (retained: the model of one role; ``active`` when unnamed)."""
    m = ModelBody.from_body(msg.body)
    return ModelRecord(msg.site, msg.device, m.version, m.sha256, int(bool(m.blessed)),
                       m.role or "active", msg.received, json.dumps(msg.body))


def manifest_record(manifest: dict[str, Any]) -> ManifestRecord | None:
    """A bundle manifest (validation metrics); None when it names no model SHA-256."""
    model = manifest.get("model")
    sha = str(model.get("sha256", "")) if isinstance(model, dict) else ""
    if not sha:
        return None
    return ManifestRecord(sha, str(manifest.get("model_version", "")), json.dumps(manifest))


def command_manifest(msg: FleetMessage) -> ManifestRecord | None:
    """The ``cmd/model`` stream: the manifest of the bundle sent to a gateway, if any."""
    manifest = msg.body.get("manifest")
    return manifest_record(manifest) if isinstance(manifest, dict) else None
