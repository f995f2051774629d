"""firmware_bridge.timestamps: the one ISO 8601 UTC writer and reader."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from firmware_bridge.timestamps import isoformat_z, parse_utc

T0 = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (T0, "2026-06-21T12:00:00Z"),
        (T0.replace(microsecond=250000), "2026-06-21T12:00:00.250Z"),
        (T0.astimezone(ZoneInfo("Africa/Lagos")), "2026-06-21T12:00:00Z"),
    ],
    ids=["utc", "millis", "other-zone"],
)
def test_isoformat_z(ts: datetime, text: str) -> None:
    assert isoformat_z(ts) == text



@pytest.mark.parametrize(
    "text",
    ["2026-06-21T12:00:00Z", "2026-06-21T13:00:00+01:00", "2026-06-21T12:00:00.000Z"],
)
def test_parse_utc_round_trips(text: str) -> None:
    assert parse_utc(text) == T0
    assert parse_utc(isoformat_z(parse_utc(text))) == T0


def test_parse_utc_refuses_naive_unless_told() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        parse_utc("2026-06-21T12:00:00")
    assert parse_utc("2026-06-21T12:00:00", naive_is_utc=True) == T0


def test_naive_datetime_is_written_as_utc() -> None:
    assert isoformat_z(datetime(2026, 6, 21, 12, 0)) == "2026-06-21T12:00:00Z"
