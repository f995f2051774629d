"""A clock for tests and benchmarks that moves only when told.

Responsible for: :class:`ManualClock`, an implementation of
:class:`firmware_bridge.clock.Clock` whose UTC wall time and monotonic time
advance only through :meth:`ManualClock.advance` (or ``sleep``), and whose
wall time can be stepped alone (:meth:`ManualClock.step_wall`), as NTP does
to a Pi that booted without a real-time clock.

Does NOT: run on real time; code that needs real sleeping uses
:class:`firmware_bridge.clock.SystemClock` or ``ScaledClock``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["ManualClock"]


class ManualClock:
    """Simulated time: wall and monotonic clocks that move only when told.

    Parameters
    ----------
    start : datetime
        UTC wall time at construction (timezone-aware).
    monotonic_start : float, default 0.0
        Monotonic time at construction. [s]

    Attributes
    ----------
    wall : datetime
        The current UTC wall time.
    mono : float
        The current monotonic time (assign to model a restart). [s]
    """

    def __init__(self, start: datetime, *, monotonic_start: float = 0.0) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.start = start.astimezone(UTC)
        self.wall = self.start
        self.mono = float(monotonic_start)
        self._mono0 = self.mono

    @property
    def elapsed(self) -> float:
        """Monotonic seconds since construction. [s]"""
        return self.mono - self._mono0

    def now_utc(self) -> datetime:
        """The simulated UTC wall time."""
        return self.wall

    def monotonic(self) -> float:
        """The simulated monotonic time. [s]"""
        return self.mono

    def sleep(self, seconds: float) -> None:
        """Advance both clocks by ``seconds`` (negative: not at all), at once. [s]"""
        self.advance(max(seconds, 0.0))

    def advance(self, seconds: float) -> None:
        """Move wall and monotonic time on by ``seconds``. [s]

        Raises
        ------
        ValueError
            When ``seconds`` is negative: monotonic time never goes back
            (use :meth:`step_wall` for a wall clock that does).
        """
        if seconds < 0:
            raise ValueError("monotonic time cannot go back; use step_wall")
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds

    def step_wall(self, seconds: float) -> None:
        """Step the wall clock alone, forward or back (an NTP step). [s]"""
        self.wall += timedelta(seconds=seconds)
