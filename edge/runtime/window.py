"""Aggregate readings to the model's time step.

Responsible for: per-period means of numeric reading values (period
``(t - step, t]`` labelled by its end ``t`` on the UTC epoch grid, the
convention of :mod:`edge.forecasting.features`), the last non-numeric value of each
period (charge state), sample counts, and a bounded history.

Does NOT: estimate irradiance or decide staleness policy (the agent does),
or do I/O. Missing periods are NaN, never interpolated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime

__all__ = ["ReadingWindow", "period_end"]


def period_end(ts: datetime | float, step_s: int) -> int:
    """End of the period holding ``ts``: the smallest grid point ``>= ts``. [s]"""
    t = ts.timestamp() if isinstance(ts, datetime) else float(ts)
    return int(math.ceil(t / step_s) * step_s)


class ReadingWindow:
    """Per-period sums of reading values for the last ``keep_periods`` periods.

    Parameters
    ----------
    step_s : int
        Period length. [s]
    keep_periods : int
        Periods kept (older ones are dropped on :meth:`add`).
    """

    def __init__(self, step_s: int, keep_periods: int) -> None:
        if step_s <= 0 or keep_periods < 1:
            raise ValueError("step_s and keep_periods must be positive")
        self.step_s = step_s
        self.keep_periods = keep_periods
        self._sum: dict[int, dict[tuple[str, str], list[float]]] = {}
        self._last: dict[int, dict[tuple[str, str], str]] = {}

    def add(self, device_id: str, timestamp: datetime, values: Mapping[str, object]) -> None:
        """Add one reading's values to its period."""
        t = period_end(timestamp, self.step_s)
        sums = self._sum.setdefault(t, {})
        last = self._last.setdefault(t, {})
        for name, v in values.items():
            key = (device_id, name)
            if isinstance(v, int | float) and not isinstance(v, bool):
                fv = float(v)
                if math.isfinite(fv):
                    acc = sums.setdefault(key, [0.0, 0.0])
                    acc[0] += fv
                    acc[1] += 1.0
            elif isinstance(v, str):
                last[key] = v
        self._prune(t)

    def _prune(self, newest: int) -> None:
        cutoff = newest - self.keep_periods * self.step_s
        for table in (self._sum, self._last):
            for t in [t for t in table if t <= cutoff]:
                del table[t]

    def mean(self, device_id: str, name: str, end: int) -> float:
        """Mean of ``name`` in the period ending ``end``; NaN when no sample."""
        acc = self._sum.get(end, {}).get((device_id, name))
        return acc[0] / acc[1] if acc else math.nan

    def count(self, device_id: str, name: str, end: int) -> int:
        """Samples of ``name`` in the period ending ``end``."""
        acc = self._sum.get(end, {}).get((device_id, name))
        return int(acc[1]) if acc else 0

    def last_text(self, device_id: str, name: str, end: int) -> str | None:
        """Last string value (enum) of ``name`` in the period, or None."""
        return self._last.get(end, {}).get((device_id, name))

    def series(self, device_id: str, name: str, end: int, n: int) -> list[float]:
        """Means of the ``n`` periods ending at ``end``, oldest first."""
        return [self.mean(device_id, name, end - (n - 1 - i) * self.step_s) for i in range(n)]
