"""Physical model of one off-grid site, shared by all of its simulators.

Responsible for: the state that the simulated charge controller and inverter
report, advanced in simulated time (optionally faster than real time):
sky -> plane-of-array irradiance -> cell temperature -> PVWatts DC power ->
MPPT charge controller (bulk, absorption, float; PV curtailed when the
battery is full; output clipped at its limit) -> lead-acid/LiFePO4 battery
(state of charge, terminal voltage from SOC and current) <- inverter
carrying a household load (morning and evening peaks, appliance events),
with daily yield counters; on a hybrid site with a grid process, the load
runs from the grid (inverter bypass) while the grid is up. The state is
exposed as canonical reading values (names of :mod:`firmware_bridge.readings`).

Does NOT: speak any protocol, sleep, or start threads. One :class:`Plant`
serves every simulator of a site (so charger and inverter agree); it is
thread-safe.

The PV array feeds the external MPPT charge controller; the hybrid
inverter's own solar input is idle (its PV fields read zero).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from edge.forecasting.forecast import dc_power_from_poa, transposition_coefficients
from edge.forecasting.site import Site
from edge.simulation.battery import Battery
from edge.simulation.grid import GridProcess
from edge.simulation.loadprofile import LoadProfile
from edge.simulation.sky import SkyModel, SkyRegime, WeatherFileSky
from firmware_bridge.simulators.source import PlantRatings, PlantState

__all__ = ["Plant", "PlantState"]

_MAX_STEP = 10.0  # simulated seconds per integration step
_CC_EFFICIENCY = 0.97  # charge controller DC/DC efficiency
_ABSORPTION_MAX_S = 2 * 3600.0


class _PvDay:
    """One solar day of array output on the sky model's minute grid."""

    def __init__(self, plant_site: Site, start: float, frame: pd.DataFrame) -> None:
        self.start = start
        # the forecast's PV model chain: isotropic transposition, SAPM cell
        # temperature, PVWatts DC with system losses (no inverter: the charge
        # controller below decides how much of it is taken)
        coef = transposition_coefficients(
            plant_site.array, frame["zenith"].to_numpy(), frame["azimuth"].to_numpy()
        )
        poa = (coef[:, 0] * frame["dni"].to_numpy(dtype=float)
               + coef[:, 1] * frame["dhi"].to_numpy(dtype=float)
               + coef[:, 2] * frame["ghi"].to_numpy(dtype=float))
        poa = np.nan_to_num(np.clip(poa, 0.0, None))
        tcell, pdc = dc_power_from_poa(poa, plant_site.array, frame["temp_air"].to_numpy())
        self.names = ("ghi", "poa", "tcell", "temp_air", "pdc")
        self.table = np.vstack(
            [
                frame["ghi"].to_numpy(dtype=float),
                poa,
                tcell,
                frame["temp_air"].to_numpy(dtype=float),
                pdc,
            ]
        )

    def at(self, epoch: float) -> dict[str, float]:
        last = self.table.shape[1] - 1
        minute = min(max((epoch - self.start) / 60.0, 0.0), float(last))
        i = min(int(minute), last - 1)
        w = minute - i
        row = self.table[:, i] * (1.0 - w) + self.table[:, i + 1] * w
        return dict(zip(self.names, row.tolist(), strict=True))


class Plant:
    """The site in simulated time; thread-safe, shared by a site's simulators.

    Parameters
    ----------
    site : Site
        Array, battery, inverter and load of the site.
    seed : int
        Seed of the sky and load processes.
    start : datetime, optional
        Simulated time at construction (UTC-aware); default now.
    speed : float
        Simulated seconds per real second (0 freezes the clock; use
        :meth:`advance`).
    soc : float
        Initial state of charge. [-]
    regime : SkyRegime, optional
        Weather shift for drift experiments.
    clock : callable
        Monotonic real-time clock. [s]
    grid : GridProcess, optional
        Grid availability of a hybrid site; while it supplies, the load is
        carried by the grid and the battery only charges from PV. None: off-grid.
    max_step : float
        Longest integration step; the year simulation uses 60 s. [s]
    weather : pandas.DataFrame, optional
        Weather read from a file (canonical frame of ``trainer.data``,
        stamped onto the simulated years) driving
        :class:`~edge.simulation.sky.WeatherFileSky` instead of the stochastic
        :class:`~edge.simulation.sky.SkyModel`; ``site.site`` must then be the
        file's location. Not with ``regime``.
    """

    def __init__(
        self,
        site: Site,
        *,
        seed: int = 0,
        start: datetime | None = None,
        speed: float = 1.0,
        soc: float = 0.6,
        regime: SkyRegime | None = None,
        clock: Callable[[], float] = time.monotonic,
        grid: GridProcess | None = None,
        max_step: float = _MAX_STEP,
        weather: pd.DataFrame | None = None,
    ) -> None:
        self.site = site
        self.ratings = PlantRatings(
            array_dc_capacity=site.array.dc_capacity,
            charger_output_limit=site.array.ac_limit,
            battery_nominal_voltage=site.battery.nominal_voltage,
            battery_capacity=site.battery.capacity,
            battery_absorption_voltage=site.battery.absorption_voltage,
            battery_float_voltage=site.battery.float_voltage,
            inverter_rated_power=site.inverter.rated_power,
            inverter_rated_apparent_power=site.inverter.rated_apparent_power,
            inverter_output_voltage=site.inverter.output_voltage,
            inverter_output_frequency=site.inverter.output_frequency,
        )
        self.speed = speed
        self.sky: SkyModel | WeatherFileSky
        if weather is None:
            self.sky = SkyModel(site.site, seed, regime=regime)
        elif regime is not None:
            raise ValueError("a weather file's sky takes no regime")
        else:
            self.sky = WeatherFileSky(site.site, weather)
        self.load = LoadProfile(site.load, site.site.timezone, seed)
        self._zone = ZoneInfo(site.site.timezone)
        self._clock = clock
        self.grid = grid
        self._max_step = max_step
        self._lock = threading.RLock()
        self._battery = Battery(site.battery, soc)
        self._t = (start or datetime.now(UTC)).astimezone(UTC)
        self._t0 = self._t
        self._mono0 = clock()
        self._pv: _PvDay | None = None
        self._stage = "off"
        self._stage_since = self._t
        self._inverter_on = True
        self._heatsink = self._charger_temp = 30.0
        self._energy = {
            "yield_today": 0.0,
            "yield_yesterday": 0.0,
            "yield_total": 0.0,
            "max_power_today": 0.0,
            "max_power_yesterday": 0.0,
            "consumed_today": 0.0,
            "consumed_total": 0.0,
        }
        self._local_day: date = self._t.astimezone(self._zone).date()
        self._day_sequence = 0
        self._state = self._evaluate(self._t, dt=0.0)

    # ------------------------------------------------------------------ time
    def now(self) -> datetime:
        """Current simulated time (UTC), from the real clock and ``speed``."""
        with self._lock:
            elapsed = (self._clock() - self._mono0) * self.speed
            return max(self._t, self._t0 + timedelta(seconds=elapsed))

    def state(self) -> PlantState:
        """The state at :meth:`now`, integrating up to it first."""
        with self._lock:
            self._run_until(self.now())
            return self._state

    def advance(self, seconds: float) -> PlantState:
        """Move simulated time forward by ``seconds`` (tests, frozen clocks)."""
        with self._lock:
            self._t0 += timedelta(seconds=seconds)
            self._run_until(self._t + timedelta(seconds=seconds))
            return self._state

    def set_regime(self, regime: SkyRegime) -> None:
        """Change the weather regime from now on."""
        with self._lock:
            self.sky.set_regime(regime)
            self._pv = None

    def _run_until(self, target: datetime) -> None:
        remaining = (target - self._t).total_seconds()
        while remaining > 1e-6:
            dt = min(self._max_step, remaining)
            self._t += timedelta(seconds=dt)
            self._state = self._evaluate(self._t, dt)
            remaining -= dt

    # --------------------------------------------------------------- physics
    def _pv_at(self, t: datetime) -> dict[str, float]:
        start, frame = self.sky.day(t)
        if self._pv is None or self._pv.start != start:
            self._pv = _PvDay(self.site, start, frame)
        return self._pv.at((t - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())

    def _inverter(self, t: datetime, v_batt: float) -> tuple[float, float, float]:
        """(AC power [W], apparent power [VA], DC current [A]) with low-voltage cut-off."""
        if self.grid is not None and self.grid.available(t):  # bypass: the grid carries it
            p_grid = min(self.load.power(t), self.site.inverter.rated_power)
            s_grid = min(p_grid / self.load.power_factor(p_grid),
                         self.site.inverter.rated_apparent_power)
            return p_grid, s_grid, 0.0
        nominal = self.site.battery.nominal_voltage
        if self._inverter_on and v_batt < 0.9 * nominal:
            self._inverter_on = False
        elif not self._inverter_on and v_batt > 1.04 * nominal:
            self._inverter_on = True
        if not self._inverter_on:
            return 0.0, 0.0, 0.0
        rated = self.site.inverter.rated_power
        p_ac = min(self.load.power(t), rated)
        s_ac = min(p_ac / self.load.power_factor(p_ac), self.site.inverter.rated_apparent_power)
        losses = 35.0 + 0.02 * p_ac + 0.03 * p_ac**2 / rated
        return p_ac, s_ac, (p_ac + losses) / max(v_batt, 1.0)

    def _charge_target(self, t: datetime, i_pv_max: float, i_inv: float) -> float:
        """Charger output current for the present stage, updating the stage. [A]"""
        batt, cfg = self._battery, self.site.battery
        if i_pv_max <= 0.05:
            self._set_stage("off", t)
            return 0.0
        if self._stage == "off":
            self._set_stage("bulk", t)
        if self._stage == "float" and batt.ocv() < cfg.float_voltage - 0.1 * cfg.nominal_voltage:
            self._set_stage("bulk", t)
        if self._stage == "bulk":
            if batt.voltage(i_pv_max - i_inv) < cfg.absorption_voltage:
                return i_pv_max
            self._set_stage("absorption", t)
        if self._stage == "absorption":
            held = batt.current_for(cfg.absorption_voltage, i_pv_max - i_inv)
            in_stage = (t - self._stage_since).total_seconds()
            tail = held < 0.02 * cfg.capacity and in_stage > 600.0
            if tail or in_stage > _ABSORPTION_MAX_S:
                self._set_stage("float", t)
            else:
                return min(max(held + i_inv, 0.0), i_pv_max)
        held = batt.current_for(cfg.float_voltage, i_pv_max - i_inv)
        return min(max(held + i_inv, 0.0), i_pv_max)

    def _set_stage(self, stage: str, t: datetime) -> None:
        if stage != self._stage:
            self._stage, self._stage_since = stage, t

    def _evaluate(self, t: datetime, dt: float) -> PlantState:
        self._roll_day(t)
        pv = self._pv_at(t)
        batt = self._battery
        v_est = batt.voltage(0.0)
        p_ac, s_ac, i_inv = self._inverter(t, v_est)
        limit = min(self.site.array.ac_limit, pv["pdc"] * _CC_EFFICIENCY)
        i_pv_max = limit / max(v_est, 1.0)
        for _ in range(3):  # output power, not current, is what the converter limits
            i_pv_max = limit / max(batt.voltage(i_pv_max - i_inv), 1.0)
        i_chg = self._charge_target(t, i_pv_max, i_inv)
        i_batt = i_chg - i_inv
        v_batt = batt.voltage(i_batt)
        p_out = i_chg * v_batt
        pv_power = p_out / _CC_EFFICIENCY if i_chg > 0 else 0.0
        batt.integrate(i_batt, dt)
        self._account(p_out, p_ac, dt)
        self._heatsink += (pv["temp_air"] + 5.0 + 0.006 * p_ac - self._heatsink) * min(dt / 600, 1)
        self._charger_temp += (pv["temp_air"] + 3.0 + 0.008 * p_out - self._charger_temp) * min(
            dt / 600, 1
        )
        v_pv = self._pv_voltage(pv, pv_power)
        rated = self.site.inverter
        return PlantState(
            time=t,
            ghi=pv["ghi"],
            poa_global=pv["poa"],
            temp_air=pv["temp_air"],
            temp_cell=pv["tcell"],
            pv_available=pv["pdc"],
            pv_power=pv_power,
            pv_voltage=v_pv,
            pv_current=pv_power / v_pv if v_pv > 1.0 else 0.0,
            charger_current=i_chg,
            charge_state=self._stage,
            battery_voltage=v_batt,
            battery_current=i_batt,
            battery_soc=100.0 * batt.soc,
            battery_temperature=pv["temp_air"] + 2.0,
            load_power=p_ac,
            ac_output_apparent_power=s_ac,
            ac_output_voltage=rated.output_voltage - 0.4 * s_ac / rated.rated_apparent_power,
            ac_output_frequency=rated.output_frequency,
            inverter_dc_current=i_inv,
            inverter_on=self._inverter_on,
            load_percent=100.0 * max(p_ac / rated.rated_power, s_ac / rated.rated_apparent_power),
            bus_voltage=(380.0 if self._inverter_on else 0.0) + 0.05 * v_batt,
            heatsink_temperature=self._heatsink,
            charger_temperature=self._charger_temp,
            day_sequence=self._day_sequence,
            curtailed=max(pv["pdc"] - pv_power, 0.0) if limit > 0 else 0.0,
            **self._energy,
        )

    def _pv_voltage(self, pv: dict[str, float], pv_power: float) -> float:
        """Operating voltage: Vmp at MPP, towards Voc when curtailed, ~0 at night. [V]"""
        if pv["poa"] < 1.0:
            return 0.0
        vmp = 2.0 * self.site.battery.nominal_voltage * (1.0 - 0.0035 * (pv["tcell"] - 25.0))
        vmp *= 1.0 + 0.05 * math.log(max(pv["poa"], 5.0) / 1000.0)
        if pv["pdc"] <= 0.0:
            return vmp
        headroom = 1.0 - min(pv_power / pv["pdc"], 1.0)
        return vmp * (1.0 + 0.2 * headroom)

    def _account(self, p_out: float, p_ac: float, dt: float) -> None:
        e = self._energy
        e["yield_today"] += p_out * dt / 3600.0
        e["yield_total"] += p_out * dt / 3600.0
        e["max_power_today"] = max(e["max_power_today"], p_out)
        e["consumed_today"] += p_ac * dt / 3600.0
        e["consumed_total"] += p_ac * dt / 3600.0

    def _roll_day(self, t: datetime) -> None:
        today = t.astimezone(self._zone).date()
        if today == self._local_day:
            return
        e = self._energy
        e["yield_yesterday"], e["max_power_yesterday"] = e["yield_today"], e["max_power_today"]
        e["yield_today"] = e["max_power_today"] = e["consumed_today"] = 0.0
        self._day_sequence += (today - self._local_day).days
        self._local_day = today
