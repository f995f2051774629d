"""The site's battery as the plan sees it, learned from the site's own measurements.

Responsible for: :class:`BatteryEstimate` (usable capacity [Wh] and where it
comes from, charge/discharge efficiency, inverter self-consumption [W] and
conversion efficiency, the charger's limit and the charge acceptance that
tapers near full, the reserve SOC) and the learners:

capacity
    charge counting: battery power integrated between two SOC readings at
    least :data:`MIN_DSOC` apart (no gap in between), the stored energy
    (``charge_efficiency x energy in - energy out``) divided by the SOC
    change gives one sample; the estimate is the median of the samples
    shrunk toward the site file's ``nominal_voltage x capacity`` with
    :data:`PRIOR_WEIGHT` pseudo-samples, bounded to :data:`CAPACITY_BOUNDS`
    times that value.
charge efficiency
    from segments that only charged against segments that only discharged
    (``capacity from discharging / (energy in / SOC change)``), bounded; the
    default is typical coulombic efficiency: :data:`CHARGE_EFFICIENCY`.
self-consumption
    at night (no PV) the battery feeds the inverter alone:
    ``-battery_power = P0 + load / eta_inverter``, fitted by least squares,
    bounded; the default P0 is :data:`SELF_CONSUMPTION_SHARE` of the
    inverter's rated power (a hybrid inverter's no-load draw) and eta
    :data:`INVERTER_EFFICIENCY`.

Discharge efficiency is 1: the SOC counts charge, and the measured battery
power already holds the voltage losses. Charge acceptance: the charger
limit (the site's ``ac_limit``) up to :data:`TAPER_SOC` (lead-acid
absorption; LiFePO4's constant-voltage phase), then linear to 0 at full.

Does NOT: integrate the plan (``edge.planning.plan``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.forecasting.site import Site

__all__ = [
    "BatteryEstimate",
    "CapacitySample",
    "capacity_samples",
    "estimate_battery",
    "self_consumption_fit",
]

FloatArray = npt.NDArray[np.float64]

#: SOC change a charge-counting segment needs. [-]
MIN_DSOC = 0.15
#: Longest charge-counting segment. [h]
MAX_SEGMENT_H = 36.0
#: Pseudo-samples of the site file's value in the capacity estimate.
PRIOR_WEIGHT = 3.0
#: Learned capacity stays within these multiples of the site file's. [-]
CAPACITY_BOUNDS = (0.5, 1.5)
#: Typical coulombic (charge) efficiency by chemistry. [-]
CHARGE_EFFICIENCY = {"lead_acid": 0.92, "lifepo4": 0.98}
CHARGE_EFFICIENCY_BOUNDS = (0.75, 1.0)
#: SOC above which charge acceptance tapers, by chemistry. [-]
TAPER_SOC = {"lead_acid": 0.85, "lifepo4": 0.95}
#: Default inverter no-load draw as a share of its rated power. [-]
SELF_CONSUMPTION_SHARE = 0.01
SELF_CONSUMPTION_BOUNDS = (0.0, 300.0)
#: Default inverter conversion efficiency (battery to AC load). [-]
INVERTER_EFFICIENCY = 0.93
INVERTER_EFFICIENCY_BOUNDS = (0.8, 1.0)
#: Night periods (with load and battery power) the self-consumption fit needs.
MIN_NIGHT_PERIODS = 24
#: Below this SOC a night period says nothing about self-consumption. [-]
EMPTY_SOC = 0.05
#: Samples kept for the capacity estimate (oldest dropped).
MAX_SAMPLES = 60


@dataclasses.dataclass(frozen=True, slots=True)
class CapacitySample:
    """One charge-counting segment.

    Attributes
    ----------
    end_k : int
        Grid index of the segment's last period.
    dsoc : float
        SOC change, signed. [-]
    energy_in, energy_out : float
        Battery energy charged and discharged in the segment (both >= 0). [Wh]
    """

    end_k: int
    dsoc: float
    energy_in: float
    energy_out: float

    def capacity(self, charge_efficiency: float) -> float:
        """Usable capacity this segment implies. [Wh]"""
        return (charge_efficiency * self.energy_in - self.energy_out) / self.dsoc

    def to_list(self) -> list[float]:
        """JSON form ``[end_k, dsoc, energy_in, energy_out]``."""
        return [self.end_k, round(self.dsoc, 5), round(self.energy_in, 2),
                round(self.energy_out, 2)]

    @classmethod
    def from_list(cls, v: Any) -> CapacitySample:
        """Inverse of :meth:`to_list`; ValueError when malformed."""
        if (not isinstance(v, list) or len(v) != 4
                or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
                or not all(math.isfinite(float(x)) for x in v) or v[1] == 0):
            raise ValueError(f"capacity sample {v!r} is not [end_k, dsoc, in, out]")
        return cls(int(v[0]), float(v[1]), float(v[2]), float(v[3]))


@dataclasses.dataclass(frozen=True, slots=True)
class BatteryEstimate:
    """The battery the plan integrates.

    Attributes
    ----------
    capacity_wh : float
        Usable capacity. [Wh]
    capacity_source : str
        ``"site_file"`` or ``"learned"``.
    capacity_prior_wh : float
        The site file's ``nominal_voltage x capacity``. [Wh]
    capacity_samples : int
        Charge-counting segments behind ``capacity_wh``.
    charge_efficiency, discharge_efficiency : float
        [-]
    efficiency_source : str
        ``"typical"`` or ``"learned"``.
    self_consumption_w : float
        Inverter no-load draw from the battery. [W]
    inverter_efficiency : float
        Battery-to-AC conversion efficiency for the load. [-]
    self_consumption_source : str
        ``"typical"`` or ``"learned"``.
    charge_power_max_w : float
        Charger limit into the battery. [W]
    taper_soc : float
        SOC above which acceptance falls linearly to 0 at full. [-]
    reserve_soc : float
        [-]
    """

    capacity_wh: float
    capacity_source: str
    capacity_prior_wh: float
    capacity_samples: int
    charge_efficiency: float
    discharge_efficiency: float
    efficiency_source: str
    self_consumption_w: float
    inverter_efficiency: float
    self_consumption_source: str
    charge_power_max_w: float
    taper_soc: float
    reserve_soc: float

    def charge_acceptance(self, soc: FloatArray) -> FloatArray:
        """Largest charging power the battery takes at ``soc``. [W]"""
        frac = np.clip((1.0 - soc) / (1.0 - self.taper_soc), 0.0, 1.0)
        return self.charge_power_max_w * frac

    def dc_demand(self, load: FloatArray) -> FloatArray:
        """DC power the inverter draws to serve AC ``load``. [W]"""
        return load / self.inverter_efficiency + self.self_consumption_w

    def to_body(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "capacity_wh": round(self.capacity_wh, 1),
            "capacity_source": self.capacity_source,
            "capacity_prior_wh": round(self.capacity_prior_wh, 1),
            "capacity_samples": self.capacity_samples,
            "charge_efficiency": round(self.charge_efficiency, 4),
            "discharge_efficiency": round(self.discharge_efficiency, 4),
            "efficiency_source": self.efficiency_source,
            "self_consumption_w": round(self.self_consumption_w, 1),
            "inverter_efficiency": round(self.inverter_efficiency, 4),
            "self_consumption_source": self.self_consumption_source,
            "charge_power_max_w": round(self.charge_power_max_w, 1),
            "taper_soc": self.taper_soc,
            "reserve_soc": self.reserve_soc,
        }


def capacity_samples(soc: FloatArray, battery_power: FloatArray, k0: int, step_s: int,
                     *, after_k: int = -1) -> list[CapacitySample]:
    """Charge-counting segments in a measured window.

    Parameters
    ----------
    soc, battery_power : numpy.ndarray
        Per period (oldest first): SOC at the period end [-] and mean
        battery power, positive charging [W]; NaN where missing.
    k0 : int
        Grid index of the first period.
    after_k : int
        Only segments starting after this grid index (already counted ones
        are skipped).

    Returns
    -------
    list of CapacitySample
        Non-overlapping, oldest first.
    """
    dt_h = step_s / 3600.0
    n = soc.shape[0]
    max_len = int(MAX_SEGMENT_H * 3600 / step_s)
    pin = np.where(battery_power > 0, battery_power, 0.0) * dt_h
    pout = np.where(battery_power < 0, -battery_power, 0.0) * dt_h
    cum_in = np.concatenate([[0.0], np.cumsum(np.nan_to_num(pin))])
    cum_out = np.concatenate([[0.0], np.cumsum(np.nan_to_num(pout))])
    gap = np.concatenate([[0], np.cumsum(~np.isfinite(battery_power))])
    out: list[CapacitySample] = []
    i = max(0, after_k - k0 + 1)
    while i < n:
        if not math.isfinite(soc[i]):
            i += 1
            continue
        stop = min(n, i + max_len + 1)
        dev = np.abs(soc[i + 1:stop] - soc[i])
        hit = np.flatnonzero(dev >= MIN_DSOC)
        if hit.size == 0:
            i += 1
            continue
        j = i + 1 + int(hit[0])
        # battery power of periods i+1..j (the charge between the two readings)
        if gap[j + 1] - gap[i + 1]:
            i += 1
            continue
        out.append(CapacitySample(k0 + j, float(soc[j] - soc[i]),
                                  float(cum_in[j + 1] - cum_in[i + 1]),
                                  float(cum_out[j + 1] - cum_out[i + 1])))
        i = j
    return out


def self_consumption_fit(load: FloatArray, battery_power: FloatArray, soc: FloatArray,
                         night: npt.NDArray[np.bool_]) -> tuple[float, float] | None:
    """``(P0 [W], eta_inverter [-])`` from night periods, or None when too few or ill-posed.

    Periods with the battery nearly empty (SOC under :data:`EMPTY_SOC`: the
    inverter may be cutting out) do not count.
    """
    ok = (night & np.isfinite(load) & np.isfinite(battery_power) & (battery_power < 0)
          & (np.nan_to_num(soc, nan=1.0) > EMPTY_SOC))
    if int(ok.sum()) < MIN_NIGHT_PERIODS:
        return None
    x, y = load[ok], -battery_power[ok]
    if float(np.std(x)) < 10.0:
        return None
    a = np.stack([np.ones_like(x), x], axis=1)
    (p0, slope), *_ = np.linalg.lstsq(a, y, rcond=None)
    if not (slope > 0 and math.isfinite(p0)):
        return None
    eta = min(max(1.0 / float(slope), INVERTER_EFFICIENCY_BOUNDS[0]),
              INVERTER_EFFICIENCY_BOUNDS[1])
    p0 = min(max(float(p0), SELF_CONSUMPTION_BOUNDS[0]), SELF_CONSUMPTION_BOUNDS[1])
    return p0, eta


def estimate_battery(site: Site, reserve_soc: float, samples: Sequence[CapacitySample],
                     self_consumption: tuple[float, float] | None) -> BatteryEstimate:
    """The battery estimate from the site file and what the site measured."""
    bat = site.battery
    prior = bat.nominal_voltage * bat.capacity
    eta_c = CHARGE_EFFICIENCY.get(bat.chemistry, 0.95)
    eff_source = "typical"
    charging = [s for s in samples if s.dsoc > 0 and s.energy_out < 0.05 * s.energy_in]
    discharging = [s for s in samples if s.dsoc < 0 and s.energy_in < 0.05 * s.energy_out]
    if len(charging) >= 2 and len(discharging) >= 2:
        c_dis = float(np.median([s.capacity(1.0) for s in discharging]))
        raw_in = float(np.median([s.energy_in / s.dsoc for s in charging]))
        if raw_in > 0 and c_dis > 0:
            eta_c = min(max(c_dis / raw_in, CHARGE_EFFICIENCY_BOUNDS[0]),
                        CHARGE_EFFICIENCY_BOUNDS[1])
            eff_source = "learned"
    caps = [c for c in (s.capacity(eta_c) for s in samples) if c > 0]
    lo, hi = CAPACITY_BOUNDS[0] * prior, CAPACITY_BOUNDS[1] * prior
    if caps:
        med = min(max(float(np.median(caps)), lo), hi)
        n = len(caps)
        capacity = (n * med + PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT)
        source = "learned"
    else:
        capacity, source, n = prior, "site_file", 0
    if self_consumption is None:
        p0 = SELF_CONSUMPTION_SHARE * site.inverter.rated_power
        eta_inv, sc_source = INVERTER_EFFICIENCY, "typical"
    else:
        (p0, eta_inv), sc_source = self_consumption, "learned"
    return BatteryEstimate(
        capacity_wh=float(min(max(capacity, lo), hi)),
        capacity_source=source,
        capacity_prior_wh=float(prior),
        capacity_samples=n,
        charge_efficiency=float(eta_c),
        discharge_efficiency=1.0,
        efficiency_source=eff_source,
        self_consumption_w=float(p0),
        inverter_efficiency=float(eta_inv),
        self_consumption_source=sc_source,
        charge_power_max_w=float(site.array.ac_limit),
        taper_soc=TAPER_SOC.get(bat.chemistry, 0.9),
        reserve_soc=float(reserve_soc),
    )
