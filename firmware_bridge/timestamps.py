"""The one way timestamps are written and read: ISO 8601, UTC, with ``Z``.

Responsible for: :func:`isoformat_z` (``2026-11-26T19:35:00Z``, with
milliseconds only when the time has a fraction of a second) and
:func:`parse_utc` (the inverse, accepting ``Z`` or an offset). Every
payload, status field, manifest and log line of the project goes through
these two functions.

The policy for naive times (no ``Z``, no offset): refused. A time on the wire
(an MQTT payload, a signed command) or in a file the project writes always
carries its timezone, so a naive one is an error, never a guess; the callers
name the field in their error. Only readers of third-party data files that
document their timezone as UTC pass ``naive_is_utc=True``.

Does NOT: read a clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["isoformat_z", "parse_utc"]


def isoformat_z(ts: datetime) -> str:
    """``2026-11-26T19:35:00Z`` or ``2026-11-26T19:35:00.250Z``.

    Parameters
    ----------
    ts : datetime
        Aware, or naive taken as UTC.

    Returns
    -------
    str
        ISO 8601 in UTC with a ``Z``; milliseconds when ``ts`` has a
        fraction of a second, else whole seconds.
    """
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    ts = ts.astimezone(UTC)
    text = ts.isoformat(timespec="milliseconds" if ts.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_utc(text: str, *, naive_is_utc: bool = False) -> datetime:
    """An aware UTC datetime from ISO 8601 text with ``Z`` or an offset.

    Parameters
    ----------
    text : str
        ISO 8601 date and time.
    naive_is_utc : bool
        Take a time without a timezone as UTC (third-party data files that
        say so) instead of refusing it (the default, and the policy for
        everything on the wire).

    Raises
    ------
    ValueError
        When ``text`` is not ISO 8601, carries no timezone, or lies outside
        the range of ``datetime`` once converted to UTC.
    """
    stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        if naive_is_utc:
            return stamp.replace(tzinfo=UTC)
        raise ValueError(f"{text!r} has no timezone (add Z)")
    try:
        return stamp.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the range of a UTC time") from None
