"""A battery bank for the plant: state of charge and terminal voltage.

Responsible for: SOC bookkeeping (charge efficiency for lead-acid) and the
terminal voltage as a function of SOC and current (open-circuit curve with a
knee when nearly empty, internal resistance, and the gassing overpotential
that makes a nearly full lead-acid bank reach its absorption voltage), plus
the current that holds a voltage set point (absorption, float).

Does NOT: know about charge stages or the inverter (:mod:`.plant` does).
"""

from __future__ import annotations

import math

from edge.forecasting.site import BatteryConfig

__all__ = ["Battery"]

_GASSING_V_PER_CELL = 10.6 / 24.0  # extra charge overpotential near full, per 2 V cell [V]


class Battery:
    """A battery bank: SOC bookkeeping and terminal voltage from SOC and current.

    Parameters
    ----------
    cfg : BatteryConfig
        Nominal voltage [V], capacity [Ah], chemistry.
    soc : float
        Initial state of charge. [-]
    """

    def __init__(self, cfg: BatteryConfig, soc: float) -> None:
        self.cfg = cfg
        self.soc = soc
        cells = cfg.nominal_voltage / 2.0 if cfg.chemistry == "lead_acid" else 0.0
        self._scale = cfg.nominal_voltage / 48.0
        self._cells = cells
        self.r0 = 0.05 * self._scale  # internal resistance incl. polarisation [ohm]

    def ocv(self) -> float:
        """Open-circuit voltage. [V]"""
        if self.cfg.chemistry == "lifepo4":
            s = self.soc
            return self._scale * (48.0 + 4.0 * s + 1.5 * math.exp((s - 1.0) / 0.03))
        knee = 4.0 * math.exp(-self.soc / 0.05)  # steep drop when nearly empty
        return self._scale * (46.4 + 4.4 * self.soc - knee)

    def voltage(self, current: float) -> float:
        """Terminal voltage at ``current`` (+ charging). [V]"""
        v = self.ocv() + current * self.r0
        if current > 0.0:
            near_full = max(0.0, (self.soc - 0.7) / 0.3) ** 2
            gas = _GASSING_V_PER_CELL * 24.0 * self._scale * near_full
            v += gas * (1.0 - math.exp(-current / 2.0))
        return v

    def current_for(self, v_target: float, i_max: float) -> float:
        """Largest current in [-inf, i_max] whose terminal voltage stays <= v_target. [A]"""
        if self.voltage(i_max) <= v_target:
            return i_max
        if self.voltage(0.0) >= v_target:
            return (v_target - self.ocv()) / self.r0  # <= 0: the battery must give
        lo, hi = 0.0, i_max
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self.voltage(mid) <= v_target else (lo, mid)
        return lo

    def integrate(self, current: float, dt: float) -> None:
        """Move the SOC by ``current`` for ``dt`` seconds (charge efficiency 0.92)."""
        eff = 0.92 if current > 0 and self.cfg.chemistry == "lead_acid" else 1.0
        self.soc = min(1.0, max(0.0, self.soc + eff * current * dt / 3600.0 / self.cfg.capacity))
