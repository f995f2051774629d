"""edge.runtime.contract: the topic tree both the agent and the monitor use."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.runtime.contract import (
    SCHEMAS,
    SEQ_STREAMS,
    STREAMS,
    ContractError,
    DeviceHealth,
    Envelope,
    ForecastBody,
    ForecastEntry,
    StatusBody,
    TopicError,
    Topics,
    check_body,
    fleet_filter,
    parse_time,
    parse_topic,
    tree_filter,
)


@pytest.mark.parametrize("stream", [*STREAMS, "cmd/model"])
def test_parse_topic_inverts_topics_of(stream: str) -> None:
    topics = Topics("abuja-01", "gw", prefix="helio")
    parts = parse_topic(topics.of("mppt", stream), "helio")
    assert (parts.site_id, parts.device_id, parts.stream) == ("abuja-01", "mppt", stream)


@pytest.mark.parametrize(
    "topic",
    ["helio/abuja-01/mppt", "other/abuja-01/mppt/reading", "helio//mppt/reading",
     "helio/abuja-01//reading", "helio/abuja-01/mppt/"],
)
def test_parse_topic_refuses_topics_outside_the_tree(topic: str) -> None:
    with pytest.raises(TopicError, match="is not helio/<site>/<device>/<stream>"):
        parse_topic(topic, "helio")


def test_sequenced_streams_are_streams() -> None:
    assert set(SEQ_STREAMS) <= set(STREAMS)


def _reading_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {"schema_version": 1, "site_id": "s1", "device_id": "mppt",
                               "stream": "reading", "seq": 1,
                               "timestamp": "2026-06-01T12:00:00Z", "values": {"pv_power": 1.0}}
    body.update(changes)
    return body


def test_a_naive_message_timestamp_is_refused_naming_the_field() -> None:
    check_body("s1", "mppt", "reading", _reading_body())
    with pytest.raises(ContractError, match=r"timestamp .*no timezone"):
        check_body("s1", "mppt", "reading", _reading_body(timestamp="2026-06-01T12:00:00"))


def test_a_naive_forecast_period_end_is_refused_naming_the_entry() -> None:
    body = {"schema_version": 1, "site_id": "s1", "device_id": "gateway", "stream": "forecast",
            "seq": 1, "timestamp": "2026-06-01T12:00:00Z", "issue_time": "2026-06-01T12:00:00Z",
            "model": {"version": "v", "sha256": "x"}, "shadow": False, "step_minutes": 15,
            "forecasts": [{"horizon_min": 15, "period_end": "2026-06-01T12:15:00"}]}
    with pytest.raises(ContractError, match=r"forecasts\[0\]\.period_end .*no timezone"):
        check_body("s1", "gateway", "forecast", body)


def test_parse_time_refuses_what_parse_utc_refuses() -> None:
    assert parse_time("2026-06-01T12:00:00Z") == parse_time("2026-06-01T13:00:00+01:00")
    assert parse_time("2026-06-01T12:00:00") is None
    assert parse_time("0001-01-01T00:00:00+01:00") is None


def test_filters_match_the_topics_they_name() -> None:
    """The subscriptions of the monitor, the demo view and publish are built from the tree."""
    from paho.mqtt.client import topic_matches_sub  # noqa: PLC0415

    site = Topics("abuja-01", "gw")
    other = Topics("kano-02", "gw")
    assert site.cmd_model == "helio/abuja-01/gw/cmd/model"
    assert topic_matches_sub(site.every_device("status"), site.status)
    assert not topic_matches_sub(site.every_device("status"), other.status)
    assert not topic_matches_sub(site.every_device("status"), site.gateway("model"))
    for topic in (site.status, other.of("mppt", "reading"), site.cmd_model):
        assert topic_matches_sub(fleet_filter(), topic)
        assert topic_matches_sub(tree_filter(), topic)
        assert not topic_matches_sub(tree_filter("other"), topic)
    assert topic_matches_sub(fleet_filter("model"), other.gateway("model"))
    assert not topic_matches_sub(fleet_filter("model"), other.status)
    assert parse_topic(Topics("s", prefix="p").status, "p").device_id == "gateway"


def test_the_payload_table_of_the_architecture_doc_names_every_schema_field() -> None:
    """docs/architecture.md and the schemas say the same thing (one row per stream)."""
    doc = (Path(__file__).resolve().parents[3] / "docs/architecture.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(
        r"^\| `helio/<site>/(?:<\w+>|\w+)/([\w/]+)` .*$", doc, re.MULTILINE)}
    for stream, schema in SCHEMAS.items():
        assert stream in rows, f"no row for {stream}"
        names = set(schema.field_names() - Envelope.field_names())
        if schema is ForecastBody:
            names |= ForecastEntry.field_names()
        if schema is StatusBody:
            names |= DeviceHealth.field_names()
        missing = sorted(names - set(re.findall(r"\w+", rows[stream])))
        assert not missing, f"{stream}: the doc does not name {missing}"
