"""What each stream's message body becomes in the store (pure: no database)."""

from __future__ import annotations

import json

import pytest

from edge.runtime.contract import ContractError
from tests.trainer.monitor.conftest import envelope, forecast, iso, offline, reading, status
from trainer.monitor.ingest import parse_message
from trainer.monitor.store import FleetMessage, bodies

T0 = 1_780_000_000.0


def _msg(topic_payload: tuple[str, bytes]) -> FleetMessage:
    msg = parse_message(*topic_payload, T0 + 1)
    assert msg is not None
    return msg


def test_a_reading_is_stored_verbatim() -> None:
    topic, payload = reading("s1", "mppt", 3, T0, epoch="e1", pv_power=12.5)
    record = bodies.reading_record(_msg((topic, payload)))
    assert record == ("s1", "mppt", 3, T0, T0 + 1, payload.decode(), "e1")
    built = FleetMessage("s1", "mppt", "reading", 4, T0, T0, {"values": {"x": 1}})
    assert json.loads(bodies.reading_record(built).body) == {"values": {"x": 1}}


def test_a_reading_that_is_not_utf8_raises_for_the_writer_to_reject() -> None:
    with pytest.raises(UnicodeDecodeError):
        bodies.reading_record(FleetMessage("s1", "mppt", "reading", 4, T0, T0, {}, b"\xff"))


def test_a_forecast_gives_its_envelope_and_a_point_per_target_and_horizon() -> None:
    head, points = bodies.forecast_records(
        _msg(forecast("s1", "gw", 7, T0, {15: 100.0, 60: 50.0}, sha="sha-x", version="v3",
                      shadow=True, step=30)))
    assert (head.seq, head.issue, head.model_version, head.model_sha, head.shadow,
            head.inputs_stale) == (7, T0, "v3", "sha-x", 1, 0)
    assert len(points) == 8
    pv60 = next(p for p in points if p.target == "pv_power" and p.horizon_min == 60)
    assert (pv60.issue, pv60.period_end, pv60.period_s, pv60.shadow) == (
        T0, T0 + 3600, 1800.0, 1)
    assert (pv60.p10, pv60.p50, pv60.p90) == pytest.approx((40.0, 50.0, 60.0))


def test_a_forecast_is_read_through_its_schema() -> None:
    """A body the contract would refuse (here built by hand, without issue time) raises,
    for the writer to keep it in ``rejected``; a target a forecast leaves out gives no point."""
    body = envelope("s1", "gw", "forecast", T0, 1, model={"version": "v", "sha256": "s"},
                    shadow=False, step_minutes=15, forecasts=[
                        {"horizon_min": 15, "period_end": iso(T0 + 900), "pv_power": {"p50": 1.0}}])
    with pytest.raises(ContractError, match="issue_time is missing"):
        bodies.forecast_records(FleetMessage("s1", "gw", "forecast", 1, T0, T0, body))
    head, points = bodies.forecast_records(
        FleetMessage("s1", "gw", "forecast", 1, T0, T0, {**body, "issue_time": iso(T0)}))
    assert head.issue == T0 and head.model_version == "v" and head.shadow == 0
    assert [(p.target, p.horizon_min, p.period_s, p.p10, p.p50) for p in points] == [
        ("pv_power", 15, 900.0, None, 1.0)]


def test_an_event_keeps_its_data_as_json() -> None:
    msg = FleetMessage("s1", "gw", "events", 2, T0, T0 + 1,
                       envelope("s1", "gw", "events", T0, 2, level="warning",
                                code="model_refused", message="bad", data={"reason": "sha"}),
                       epoch="e1")
    record = bodies.event_record(msg)
    assert record[:7] == ("s1", "gw", 2, T0, "warning", "model_refused", "bad")
    assert json.loads(record.data) == {"reason": "sha"}
    assert (record.received, record.epoch) == (T0 + 1, "e1")


def test_a_status_and_the_last_will() -> None:
    record = bodies.status_record(_msg(status("s1", "gw", T0, seq=5, epoch="e1")))
    assert (record.state, record.ts, record.seq, record.epoch) == ("online", T0, 5, "e1")
    assert json.loads(record.payload)["model"]["version"] == "v1"
    will = bodies.status_record(_msg(("helio/s1/gw/status", offline("s1", "gw"))))
    assert (will.state, will.seq) == ("offline", None)


def test_a_model_message_is_active_unless_it_says_otherwise() -> None:
    active = bodies.model_record(FleetMessage(
        "s1", "gw", "model", None, None, T0,
        envelope("s1", "gw", "model", version="v2", sha256="ab")))
    assert (active.version, active.sha256, active.blessed, active.role) == (
        "v2", "ab", 0, "active")
    shadow = bodies.model_record(FleetMessage(
        "s1", "gw", "model", None, None, T0,
        envelope("s1", "gw", "model", version="v2", sha256="ab", role="shadow",
                 blessed=True)))
    assert (shadow.role, shadow.blessed) == ("shadow", 1)


def test_a_manifest_needs_a_model_sha() -> None:
    record = bodies.manifest_record({"model_version": "v1", "model": {"sha256": "ab"}})
    assert record is not None and (record.sha256, record.version) == ("ab", "v1")
    assert bodies.manifest_record({"model": "ab"}) is None
    cmd = FleetMessage("s1", "gw", "cmd/model", None, None, T0, {"manifest": "not an object"})
    assert bodies.command_manifest(cmd) is None
