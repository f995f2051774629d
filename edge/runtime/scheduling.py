"""When forecasts are due, and whether the clock can be trusted to issue them.

Responsible for: :class:`ForecastScheduler` (issue times on the model's
step, a grace after the step ends so its last readings arrive, rescheduling
when the wall clock goes back) and :class:`ClockSync` (asks whether the
system clock is synchronised at most once a second, reports changes as
events, counts the forecasts held meanwhile).

Does NOT: read the clock's wall time itself (the caller passes it), build
forecasts or publish anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.runtime.interfaces import EventSink
    from firmware_bridge.clock import Clock

__all__ = ["ClockSync", "ForecastScheduler"]

log = logging.getLogger(__name__)

#: Longest wait after a step ends before its forecast is issued. [s]
MAX_GRACE_S = 10.0
#: Share of the step waited after it ends (whichever is shorter). [-]
GRACE_FRACTION = 0.05


class ForecastScheduler:
    """Issue times on the model's step.

    Parameters
    ----------
    step_s : callable
        ``step_s()`` -> the active model's step, asked at every call (a
        model swap may change it). [s]
    """

    def __init__(self, step_s: Callable[[], int]) -> None:
        self.step_s = step_s
        #: start of the step whose forecast is due next [s since the epoch]
        self.next_issue = 0

    def issue_time(self, now_s: float) -> int:
        """Start of the step ``now_s`` falls in. [s since the epoch]"""
        step = self.step_s()
        return int(now_s // step * step)

    @property
    def grace(self) -> float:
        """Wait after a step ends before its forecast. [s]"""
        return min(GRACE_FRACTION * self.step_s(), MAX_GRACE_S)

    def reset(self, now_s: float) -> None:
        """The next forecast is for the step after the one ``now_s`` is in."""
        self.next_issue = self.issue_time(now_s) + self.step_s()

    def due(self, now_s: float) -> bool:
        """A forecast is due at ``now_s`` (the wall time going back reschedules). [s]"""
        if now_s < self.next_issue - 2 * self.step_s():  # the clock went back (NTP after boot)
            log.warning("clock went back; rescheduling the next forecast")
            self.reset(now_s)
        return now_s >= self.next_issue + self.grace

    def take(self, now_s: float) -> int:
        """The issue time of the forecast due now; schedules the next one. [s since the epoch]"""
        issue = self.issue_time(now_s)
        self.next_issue = issue + self.step_s()
        return issue


class ClockSync:
    """Is the system clock synchronised? Asked at most once per ``every_s``.

    Parameters
    ----------
    clock : Clock
        Monotonic time between the questions.
    time_synced : callable, optional
        ``time_synced() -> bool`` (:func:`edge.runtime.timesync.clock_synchronized`);
        None: always synchronised (simulated clocks, a trusted real-time clock).
    emit : EventSink
        ``clock_unsynchronised`` / ``clock_synchronised`` events on changes.
    every_s : float
        Shortest time between two questions. [s]
    """

    def __init__(self, clock: Clock, time_synced: Callable[[], bool] | None,
                 emit: EventSink, *, every_s: float = 1.0) -> None:
        self.clock, self.time_synced, self.emit, self.every_s = clock, time_synced, emit, every_s
        self._synced: bool | None = None
        self._checked = -1e9
        #: forecasts not issued because the clock was not synchronised [-]
        self.held = 0

    def ok(self) -> bool:
        """The clock is synchronised (events on changes)."""
        if self.time_synced is None:
            return True
        now = self.clock.monotonic()
        if now - self._checked < self.every_s and self._synced is not None:
            return self._synced
        self._checked = now
        synced = bool(self.time_synced())
        if synced != self._synced:
            if not synced:
                self.emit("warning", "clock_unsynchronised",
                          "system clock not synchronised (no NTP yet): readings are marked"
                          " clock_synced=false and forecasts are held")
            elif self._synced is not None:
                self.emit("info", "clock_synchronised",
                          f"system clock synchronised; forecasts resume ({self.held} held)",
                          held=self.held)
            self._synced = synced
        return synced

    def hold(self) -> None:
        """Count a forecast held."""
        self.held += 1
