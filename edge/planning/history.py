"""The measured periods the planner keeps: a fixed-size ring buffer on the 15-min grid.

Responsible for: :class:`PeriodObservation` (one measured period) and
:class:`History` (the last ``days x periods_per_day`` periods, O(1) append,
aligned views as numpy arrays with NaN where a period is missing). Where no
AC load is measured but battery and PV power are (a BMV without an
inverter reading), the load is taken as ``pv_power - battery_power`` (the
DC-side draw, inverter losses included).

Does NOT: forecast, or read a clock.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["FIELDS", "History", "PeriodObservation", "period_index"]

FloatArray = npt.NDArray[np.float64]

#: Stored fields, in state order.
FIELDS = ("load_power", "pv_power", "soc", "battery_power")


@dataclasses.dataclass(frozen=True, slots=True)
class PeriodObservation:
    """One measured 15-min period (means over the period).

    Attributes
    ----------
    end : datetime
        Period end, UTC, on the step grid.
    load_power : float
        AC load; NaN if not measured. [W]
    pv_power : float
        Delivered PV (charge controller output); NaN if not measured. [W]
    soc : float
        State of charge at the period end; NaN if not measured. [-]
    battery_power : float
        Battery power, positive charging; NaN if not measured. [W]
    curtailed : bool
        PV was limited by a full battery or the charger state.
    """

    end: datetime
    load_power: float
    pv_power: float
    soc: float
    battery_power: float = math.nan
    curtailed: bool = False


def period_index(t: datetime, step_s: int) -> int:
    """Grid index ``k`` of period end ``t`` (``t = k * step_s`` since the epoch).

    Raises
    ------
    ValueError
        When ``t`` is naive or off the grid.
    """
    if t.tzinfo is None:
        raise ValueError(f"time {t!r} must be timezone-aware (UTC)")
    sec = t.timestamp()
    k, rem = divmod(sec, step_s)
    if rem:
        raise ValueError(f"time {t.isoformat()} is not on the {step_s} s grid")
    return int(k)


def index_time(k: int, step_s: int) -> datetime:
    """Period end of grid index ``k`` (UTC)."""
    return datetime.fromtimestamp(k * step_s, UTC)


class History:
    """Ring buffer of measured periods.

    Parameters
    ----------
    size : int
        Number of periods kept (``history_days x periods per day``).
    step_s : int
        Period length. [s]
    """

    def __init__(self, size: int, step_s: int) -> None:
        if size < 1:
            raise ValueError("history size must be positive")
        self.size = size
        self.step_s = step_s
        self._k = np.full(size, -1, dtype=np.int64)
        self._v = np.full((len(FIELDS), size), np.nan, dtype=np.float64)
        self._cut = np.zeros(size, dtype=np.bool_)
        self.last_k = -1
        #: incremented on every append (cache key for derived views)
        self.version = 0

    def copy(self) -> History:
        """An independent copy (the arrays copied)."""
        twin = History(self.size, self.step_s)
        twin._k, twin._v, twin._cut = self._k.copy(), self._v.copy(), self._cut.copy()
        twin.last_k, twin.version = self.last_k, self.version
        return twin

    def append(self, obs: PeriodObservation) -> None:
        """Store one period (a later period for the same end replaces it)."""
        k = period_index(obs.end, self.step_s)
        load = float(obs.load_power)
        pv, batt = float(obs.pv_power), float(obs.battery_power)
        if not math.isfinite(load) and math.isfinite(pv) and math.isfinite(batt):
            load = max(pv - batt, 0.0)
        soc = float(obs.soc)
        if math.isfinite(soc):
            soc = min(max(soc, 0.0), 1.0)
        slot = k % self.size
        self._k[slot] = k
        self._v[:, slot] = (load, pv, soc, batt)
        self._cut[slot] = bool(obs.curtailed)
        self.last_k = max(self.last_k, k)
        self.version += 1

    def window(self, k_end: int, n: int) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """Fields of the ``n`` periods ending at ``k_end`` (oldest first).

        Returns
        -------
        values : numpy.ndarray
            ``(len(FIELDS), n)``, NaN where a period is missing.
        curtailed : numpy.ndarray of bool
            ``(n,)``.
        """
        ks = np.arange(k_end - n + 1, k_end + 1, dtype=np.int64)
        slots = ks % self.size
        ok = self._k[slots] == ks
        vals = np.where(ok[None, :], self._v[:, slots], np.nan)
        return vals, np.where(ok, self._cut[slots], False)

    def first_k(self) -> int:
        """Grid index of the oldest period held (-1 when empty)."""
        held = self._k[self._k > self.last_k - self.size]
        return int(held.min()) if self.last_k >= 0 and held.size else -1

    def count(self) -> int:
        """Number of periods held within ``size`` of the newest one."""
        if self.last_k < 0:
            return 0
        return int(np.count_nonzero(self._k > self.last_k - self.size))

    # ---------------------------------------------------------------- state

    def state(self) -> dict[str, Any]:
        """JSON-able: the held periods, oldest first, NaN as ``None``.

        Power is kept to 0.1 W and SOC to 0.0001 (the state is written to
        the Pi's SD card; finer figures are noise).
        """
        order = np.argsort(self._k)
        held = order[self._k[order] >= 0]
        out: dict[str, Any] = {"k": [int(v) for v in self._k[held]]}
        for i, name in enumerate(FIELDS):
            nd = 4 if name == "soc" else 1
            out[name] = [None if not math.isfinite(v) else round(float(v), nd)
                         for v in self._v[i, held]]
        out["curtailed"] = [bool(v) for v in self._cut[held]]
        return out

    @classmethod
    def from_state(cls, size: int, step_s: int, data: Any) -> History:
        """Inverse of :meth:`state`; raises ValueError when malformed."""
        if not isinstance(data, dict):
            raise ValueError("history state must be a mapping")
        hist = cls(size, step_s)
        try:
            ks = data["k"]
            cols = [data[name] for name in FIELDS]
            cut = data["curtailed"]
        except KeyError as exc:
            raise ValueError(f"history state lacks {exc}") from None
        if not isinstance(ks, list) or any(
                not isinstance(c, list) or len(c) != len(ks) for c in [*cols, cut]):
            raise ValueError("history state columns must be lists of equal length")
        for j, k in enumerate(ks):
            if not isinstance(k, int) or isinstance(k, bool) or k < 0:
                raise ValueError(f"history period index {k!r} is not a non-negative integer")
            vals = []
            for c in cols:
                v = c[j]
                if v is None:
                    vals.append(math.nan)
                elif isinstance(v, int | float) and not isinstance(v, bool):
                    vals.append(float(v))
                else:
                    raise ValueError(f"history value {v!r} is not a number")
            if not isinstance(cut[j], bool):
                raise ValueError(f"curtailed flag {cut[j]!r} is not a boolean")
            slot = k % size
            hist._k[slot] = k
            hist._v[:, slot] = vals
            hist._cut[slot] = cut[j]
            hist.last_k = max(hist.last_k, k)
        hist.version = 1
        return hist
