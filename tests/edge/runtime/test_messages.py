"""Topic tree and schema-1 payloads (docs/architecture.md): what the builders put on the wire."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from edge.runtime import messages as m
from edge.runtime.contract import (
    FORECAST_QUANTITIES,
    QUANTILES,
    SHADOW_FORECAST_TOPIC,
    ContractError,
    EventBody,
    ForecastBody,
    ForecastEntry,
    ModelBody,
    Quantiles,
    ReadingBody,
    StatusBody,
    Topics,
    parse_topic,
    read_body,
)
from firmware_bridge.timestamps import isoformat_z

TOPICS = Topics("abuja-01", "gateway")
T0 = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class _Reading:
    device_id: str
    timestamp: datetime
    values: dict[str, float | int | str]


@dataclass(frozen=True)
class _Forecast:
    horizons_min: tuple[int, ...]
    quantiles: dict[str, list[list[float]]]


def test_topics_follow_tree() -> None:
    assert TOPICS.of("mppt", "reading") == "helio/abuja-01/mppt/reading"
    assert TOPICS.status == "helio/abuja-01/gateway/status"
    assert TOPICS.cmd == "helio/abuja-01/gateway/cmd"


def test_reading_payload_fields_and_seq() -> None:
    r = _Reading("mppt", T0, {"battery_voltage": 52.4, "charge_state": "bulk",
                              "pv_power": float("nan")})
    msg = m.reading_message(TOPICS, r, {"battery_voltage": "V", "pv_power": "W"})
    assert msg.topic == "helio/abuja-01/mppt/reading" and not msg.retain and msg.qos == 1
    body = json.loads(msg.encode(7))
    assert body["schema_version"] == 1
    assert list(body)[:6] == ["schema_version", "site_id", "device_id", "stream", "seq",
                              "timestamp"]
    assert body["seq"] == 7 and body["device_id"] == "mppt" and body["stream"] == "reading"
    assert body["timestamp"] == "2026-06-21T12:00:00Z"
    assert body["values"] == {"battery_voltage": 52.4, "charge_state": "bulk", "pv_power": None}
    assert body["units"] == {"battery_voltage": "V", "charge_state": "", "pv_power": "W"}
    assert body["stale"] == []


def test_forecast_payload_is_solcast_like() -> None:
    f = _Forecast((15, 60), {
        "ghi": [[100.0, 200.0, 300.0], [50.0, 60.0, 70.0]],
        "dni": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
        "dhi": [[7.0, 8.0, 9.0], [1.0, 1.0, 1.0]],
        "pv_power": [[500.0, 900.0, 1400.0], [-0.2, 0.0, 10.0]],
    })
    msg = m.forecast_message(TOPICS, f, issue_time=T0, step_minutes=15, model_version="v3",
                             model_sha256="ab" * 32, inputs_stale=True)
    body = json.loads(msg.encode(1))
    assert msg.topic == "helio/abuja-01/gateway/forecast"
    assert body["issue_time"] == "2026-06-21T12:00:00Z"
    assert body["model"] == {"version": "v3", "sha256": "ab" * 32}
    assert body["inputs_stale"] is True and body["shadow"] is False
    assert body["units"] == {"ghi": "W/m2", "dni": "W/m2", "dhi": "W/m2", "pv_power": "W",
                             "pv_energy": "Wh"}
    first, second = body["forecasts"]
    # energy of each 15-minute period: P10/P50/P90 power x 0.25 h
    assert first["pv_energy"] == {"p10": 125.0, "p50": 225.0, "p90": 350.0}
    assert "pv_energy" not in body  # the outlook only when the agent passes one
    assert first["horizon_min"] == 15 and first["period"] == "PT15M"
    assert first["period_end"] == isoformat_z(T0 + timedelta(minutes=15))
    assert second["period_end"] == "2026-06-21T13:00:00Z"
    assert first["ghi"] == {"p10": 100.0, "p50": 200.0, "p90": 300.0}
    assert second["pv_power"]["p10"] == 0.0  # no negative power


def test_status_and_lwt_and_event_and_model() -> None:
    st = m.status_message(TOPICS, now=T0, devices={"mppt": {"connected": True}}, queued=3,
                          evicted=1, model_version="v1", model_sha256="00", uptime_s=12.345)
    assert st.retain
    body = json.loads(st.encode(2))
    assert body["state"] == "online" and body["outbox"] == {"queued": 3, "evicted": 1, "parked": 0}
    assert body["uptime_s"] == 12.3 and body["devices"]["mppt"]["connected"] is True
    lwt = json.loads(m.offline_status(TOPICS))
    assert lwt == {"schema_version": 1, "site_id": "abuja-01", "device_id": "gateway",
                   "stream": "status", "state": "offline"}
    ev = json.loads(m.event_message(TOPICS, now=T0, level="warning", code="x", message="y",
                                    data={"a": 1}).encode(5))
    assert (ev["level"], ev["code"], ev["data"], ev["seq"]) == ("warning", "x", {"a": 1}, 5)
    with pytest.raises(ValueError, match="level"):
        m.event_message(TOPICS, now=T0, level="fatal", code="x", message="y")
    mm = m.model_message(TOPICS, now=T0, version="v1", sha256="s", blessed=True, created="c")
    assert mm.retain and json.loads(mm.encode(1))["role"] == "active"


def test_shadow_forecast_has_its_own_topic_and_shares_the_forecast_counter() -> None:
    """Home Assistant reads ``forecast``; the trial model goes elsewhere."""
    f = _Forecast((15,), {q: [[1.0, 2.0, 3.0]] for q in ("ghi", "dni", "dhi", "pv_power")})
    live, shadow = (m.forecast_message(TOPICS, f, issue_time=T0, step_minutes=15,
                                       model_version=v, model_sha256="ab" * 32,
                                       inputs_stale=False, shadow=s)
                    for v, s in (("v1", False), ("v2", True)))
    assert live.topic == "helio/abuja-01/gateway/forecast"
    assert shadow.topic == "helio/abuja-01/gateway/forecast/shadow"
    assert shadow.topic == TOPICS.gateway(SHADOW_FORECAST_TOPIC)
    # one seq counter (the outbox keys it on device and stream): no collision downstream
    assert live.stream == shadow.stream == "forecast"
    assert json.loads(shadow.encode(8))["shadow"] is True


def _read_back(msg: m.Message, seq: int = 1) -> object:
    where = parse_topic(msg.topic)
    stream = "forecast" if where.stream == SHADOW_FORECAST_TOPIC else where.stream
    return read_body(where.site_id, where.device_id, stream, json.loads(msg.encode(seq, "ep-1")))


def test_every_built_message_reads_back_through_its_schema() -> None:
    """The builders and the checks use one schema: what the agent sends, the monitor reads."""
    r = _Reading("mppt", T0, {"battery_voltage": 52.4, "charge_state": "bulk",
                              "pv_power": float("inf"), "yield_today": 3})
    reading = _read_back(m.reading_message(TOPICS, r, {"battery_voltage": "V"},
                                           stale=["charge_state"]), 7)
    assert isinstance(reading, ReadingBody)
    assert (reading.seq, reading.epoch, reading.timestamp) == (7, "ep-1", T0)
    assert reading.values == {"battery_voltage": 52.4, "charge_state": "bulk",
                              "pv_power": None, "yield_today": 3}
    assert reading.stale == ("charge_state",) and reading.units["charge_state"] == ""

    f = _Forecast((15, 30), {q: [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]] for q in FORECAST_QUANTITIES})
    outlook = {"next_3h": {"p10": 1.0, "p50": 2.0, "p90": 3.0}, "rest_of_today": None,
               "day_end": T0 + timedelta(hours=6)}
    for shadow in (False, True):
        fc = _read_back(m.forecast_message(TOPICS, f, issue_time=T0, step_minutes=15,
                                           model_version="v", model_sha256="ab",
                                           inputs_stale=False, shadow=shadow,
                                           pv_energy=outlook))
        assert isinstance(fc, ForecastBody) and fc.shadow is shadow
        assert fc.issue_time == T0 and fc.model.version == "v" and len(fc.forecasts) == 2
        assert fc.forecasts[1].period_end == T0 + timedelta(minutes=30)
        assert fc.forecasts[1].pv_power == Quantiles(p10=4.0, p50=5.0, p90=6.0)
        assert fc.pv_energy is not None and fc.pv_energy.day_end == T0 + timedelta(hours=6)
        assert fc.pv_energy.rest_of_today is None

    st = _read_back(m.status_message(TOPICS, now=T0, devices={"mppt": {
        "connected": True, "frames_good": 4, "last_reading": "2026-06-21T11:59:59Z"}},
        queued=3, evicted=0, model_version="v1", model_sha256="00", uptime_s=1.0))
    assert isinstance(st, StatusBody) and st.state == "online"
    assert st.devices["mppt"].frames_good == 4 and st.outbox is not None
    assert st.devices["mppt"].last_reading == T0 - timedelta(seconds=1)
    where = parse_topic(TOPICS.status)
    lwt = read_body(where.site_id, where.device_id, "status", json.loads(m.offline_status(TOPICS)))
    assert isinstance(lwt, StatusBody) and lwt.state == "offline" and lwt.timestamp is None

    ev = _read_back(m.event_message(TOPICS, now=T0, level="error", code="c", message="t"), 2)
    assert isinstance(ev, EventBody) and (ev.level, ev.code, ev.data) == ("error", "c", {})
    mm = _read_back(m.model_message(TOPICS, now=T0, version="v1", sha256="s", blessed=False,
                                    created="2026-06-01T00:00:00Z"))
    assert isinstance(mm, ModelBody) and mm.blessed is False and mm.role == "active"


def test_forecast_schema_names_every_quantity_and_quantile() -> None:
    assert set(FORECAST_QUANTITIES) <= ForecastEntry.field_names()
    assert set(QUANTILES) == Quantiles.field_names()


def test_a_read_names_the_path_of_the_bad_field() -> None:
    f = _Forecast((15,), {q: [[1.0, 2.0, 3.0]] for q in FORECAST_QUANTITIES})
    body = json.loads(m.forecast_message(TOPICS, f, issue_time=T0, step_minutes=15,
                                         model_version="v", model_sha256="ab",
                                         inputs_stale=False).encode(1))
    body["forecasts"][0]["dhi"]["p90"] = "high"
    with pytest.raises(ContractError, match=r"forecasts\[0\]\.dhi\.p90 must be a finite number"):
        ForecastBody.from_body(body)
    del body["issue_time"]
    with pytest.raises(ContractError, match="issue_time is missing"):
        ForecastBody.from_body(body)


def test_a_builder_cannot_send_a_field_the_schema_does_not_name() -> None:
    with pytest.raises(ValueError, match="StatusBody has no field uptime"):
        m._named(StatusBody, {"state": "online", "uptime": 1.0})
