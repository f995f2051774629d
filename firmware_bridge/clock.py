"""Clocks: the agent never calls ``time`` or ``datetime.now`` directly.

Responsible for: the :class:`Clock` protocol (UTC wall time, monotonic
time, sleep) with a real :class:`SystemClock` and a time-accelerated
:class:`ScaledClock` for demos (wall time runs ``speed`` times faster from
a chosen start; sleeping and monotonic time stay real).

Does NOT: schedule anything.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ScaledClock", "SystemClock"]


class Clock(Protocol):
    """Time source injected into the agent and the devices."""

    def now_utc(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds for intervals and timeouts. [s]"""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``. [s]"""
        ...


class SystemClock:
    """The real clock."""

    def now_utc(self) -> datetime:
        """Current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """``time.monotonic()``. [s]"""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """``time.sleep(seconds)``."""
        time.sleep(max(seconds, 0.0))


class ScaledClock:
    """UTC time running ``speed`` times faster than real time from ``start``.

    Parameters
    ----------
    speed : float
        Simulated seconds per real second (60: a minute a second).
    start : datetime, optional
        Simulated time at construction; default now.
    """

    def __init__(self, speed: float, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.start = (start or datetime.now(UTC)).astimezone(UTC)
        self._t0 = time.monotonic()

    def now_utc(self) -> datetime:
        """Simulated UTC time."""
        return self.start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    def monotonic(self) -> float:
        """Real monotonic seconds. [s]"""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Real sleep. [s]"""
        time.sleep(max(seconds, 0.0))
