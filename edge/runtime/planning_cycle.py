"""The energy plan on the running agent: measured periods in, one plan per forecast out.

Responsible for: :class:`PlanningCycle`, the agent's collaborator around
:class:`edge.planning.EnergyPlanner`. It aggregates the readings to the
planner's 15-min periods (:class:`edge.runtime.window.ReadingWindow`) and,
once a period has ended and its grace has passed, observes one
:class:`edge.planning.PeriodObservation`: load = the inverter's AC output
power (``total_ac_output_power`` of a parallel system before any unit's
``ac_output_power``; where none is wired the planner's history takes
``pv_power - battery_power``, a BMV-only site), PV = the PV device's
``pv_power``, SOC = the last ``battery_soc`` of the period (a device that
also measures ``battery_power``, a BMV, before an inverter's estimate),
battery power, and curtailed = the PV device's charge state in
:data:`edge.forecasting.engine.CURTAILED_STATES`. Right after each forecast
of the active model it plans with that forecast and stores the plan
(:func:`edge.runtime.messages.plan_message`) in the outbox.

It never plans on an unsynchronised clock (readings taken meanwhile are
not aggregated either: their periods are wrong) nor without a SOC reading
in the last hour; it then publishes nothing and says why once
(``plan_held`` event, ``reason`` ``clock_unsynchronised`` or ``no_soc``),
and again only after a plan went out in between.

The once-a-day refresh (load-method selection, climatology, battery,
spread calibration: ~0.3 s on x86, seconds on a Pi) runs on a worker
thread over a snapshot of the planner (:meth:`EnergyPlanner.snapshot`);
the loop adopts the refreshed daily models atomically at its next pass
(:meth:`EnergyPlanner.adopt`), so a forecast cycle only ever samples and
propagates scenarios. Until the first refresh is done no plan is made
(the worker is started at once, the first forecast comes a step later);
at a local midnight the first plan of the day still uses yesterday's models.

State: the planner's history and battery samples go to the state file
(:func:`edge.runtime.statefile.write_private`) every ``save_every_s`` and
on a clean stop; a file that cannot be read, or whose content the planner
refuses, is moved aside and reported (``state_recovered``), and the
planner starts fresh.

Does NOT: read the clock (the loop passes the wall time; the worker takes
none), build payload shapes, or talk MQTT.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from edge.forecasting.engine import CURTAILED_STATES, ForecastResult
from edge.forecasting.site import Site
from edge.planning import EnergyPlanner, PeriodObservation, PlanConfig
from edge.planning.plan import EnergyPlan
from edge.runtime.contract import Topics
from edge.runtime.interfaces import Collaborator, EventSink
from edge.runtime.messages import Message, plan_message
from edge.runtime.scheduling import GRACE_FRACTION, MAX_GRACE_S
from edge.runtime.statefile import CorruptStateError, move_aside, read_state, write_private
from edge.runtime.window import ReadingWindow, period_end

if TYPE_CHECKING:
    from firmware_bridge.readings import Reading

__all__ = ["SOC_MAX_AGE_S", "PlanningCycle"]

log = logging.getLogger(__name__)

#: A SOC reading older than this is not the SOC now. [s]
SOC_MAX_AGE_S = 3600.0
#: Periods held in the window (late readings of the period just ended still count). [-]
_KEEP_PERIODS = 6


class PlanningCycle(Collaborator):
    """Builds the planner's periods from the readings, plans after each forecast.

    Parameters
    ----------
    site : Site
    config : PlanConfig
    topics : Topics
    devices : sequence of str
        The configured device ids, in config order (the first one reporting a
        quantity is its source).
    pv_device : str
        Whose ``pv_power`` and ``charge_state`` are the PV and the curtailment.
    synced : callable
        ``synced()`` -> is the system clock synchronised (``ClockSync.ok``)?
    put : callable
        ``put(message)`` stores a message in the outbox.
    emit : EventSink
    state_path : str or Path, optional
        The state file; None keeps nothing across restarts.
    save_every_s : float
        Seconds between state writes. [s]
    background : bool
        Refresh on a worker thread (False: inline, for tests on a manual clock).
    """

    def __init__(self, *, site: Site, config: PlanConfig, topics: Topics,
                 devices: Sequence[str], pv_device: str, synced: Callable[[], bool],
                 put: Callable[[Message], object], emit: EventSink,
                 state_path: str | Path | None = None, save_every_s: float = 3600.0,
                 background: bool = True) -> None:
        self.site, self.config, self.topics = site, config, topics
        self.devices, self.pv_device = tuple(devices), pv_device
        self.synced, self.put, self.emit = synced, put, emit
        self.state_path = Path(state_path) if state_path is not None else None
        self.save_every_s, self.background = save_every_s, background
        self.step_s = config.step_s
        self.grace = min(GRACE_FRACTION * self.step_s, MAX_GRACE_S)
        self.planner = self._restore()
        self.window = ReadingWindow(self.step_s, _KEEP_PERIODS)
        self._soc_last: dict[int, dict[str, float]] = {}  # period end -> device -> last SOC [-]
        self._soc_now: tuple[float, float] = (math.nan, -math.inf)  # (SOC [-], time [s])
        self._observed = self.planner.history.last_k * self.step_s  # newest period observed [s]
        self._saved_at: float | None = None
        self._held: str | None = None  # the reason already reported
        self._worker: threading.Thread | None = None
        self._refreshed: EnergyPlanner | None = None
        self._checked_k = -1  # newest period whose refresh need was looked at
        self._lock = threading.Lock()
        #: plans stored [-]
        self.published = 0
        #: the last plan stored
        self.last_plan: EnergyPlan | None = None

    # ------------------------------------------------------------ state

    def _restore(self) -> EnergyPlanner:
        path = self.state_path
        if path is None:
            return EnergyPlanner(self.site, self.config)
        try:
            state = read_state(path)
        except CorruptStateError as exc:
            self._recovered(exc.path, exc.moved_to, exc.error)
            return EnergyPlanner(self.site, self.config)
        if state is None:
            return EnergyPlanner(self.site, self.config)
        try:
            return EnergyPlanner.from_state(self.site, self.config, state)
        except (ValueError, TypeError, KeyError) as exc:
            moved = move_aside(path)
            self._recovered(str(path), moved, str(exc))
            return EnergyPlanner(self.site, self.config)

    def _recovered(self, path: str, moved_to: str, error: str) -> None:
        log.warning("planner state %s unreadable (%s); moved to %s", path, error, moved_to)
        self.emit("warning", "state_recovered",
                  f"planner state unreadable ({error}); moved aside, the planner starts fresh",
                  file=path, moved_to=moved_to, error=error[:200])

    def save(self) -> None:
        """Write the planner's state now (atomically, mode 0600)."""
        if self.state_path is None:
            return
        data = json.dumps(self.planner.state(), separators=(",", ":"), allow_nan=False)
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        write_private(self.state_path, data.encode())

    # ------------------------------------------------------------ the hooks

    def on_reading(self, reading: Reading) -> None:
        """Into the period's sums (not while the clock is unsynchronised)."""
        if reading.device_id not in self.devices or not self.synced():
            return
        self.window.add(reading.device_id, reading.timestamp, reading.values)
        soc = reading.values.get("battery_soc")
        if isinstance(soc, int | float) and not isinstance(soc, bool) and math.isfinite(soc):
            t = period_end(reading.timestamp, self.step_s)
            self._soc_last.setdefault(t, {})[reading.device_id] = float(soc) / 100.0
            for old in [k for k in self._soc_last if k <= t - _KEEP_PERIODS * self.step_s]:
                del self._soc_last[old]

    def on_cycle(self, now: datetime) -> None:
        """Observe the periods that ended; adopt or start a refresh; save when due."""
        now_s = now.timestamp()
        if self.synced():
            self._observe_until(now_s - self.grace)
        self._adopt()
        last = self.planner.history.last_k
        if last >= 0 and self._worker is None and last != self._checked_k:
            end = datetime.fromtimestamp(last * self.step_s, UTC)
            if self.planner.refresh_due(end):  # a failed refresh is tried again a period later
                self._start_refresh(end)
            self._checked_k = last
        if self._saved_at is None or abs(now_s - self._saved_at) >= self.save_every_s:
            if self._saved_at is not None:
                self._save_logged()
            self._saved_at = now_s

    def on_forecast(self, result: ForecastResult) -> None:
        """Plan from the period the forecast was issued at, with the forecast; store the plan."""
        issue = result.issue_time
        t = int(issue.timestamp())
        if t % self.step_s:  # a model on another step: plan on the planner's grid only
            return
        if not self.synced():
            self._hold("clock_unsynchronised", "the system clock is not synchronised")
            return
        self._observe_until(t)
        self._adopt()
        soc, at = self._soc_now
        if not math.isfinite(soc) or t - at > SOC_MAX_AGE_S:
            self._hold("no_soc", "no battery_soc reading in the last hour")
            return
        if self.planner.daily is None:
            if self._worker is None:
                self._start_refresh(issue)
            if self._worker is not None:  # the first refresh is still running
                log.info("plan at %s skipped: the planner's first refresh is running", issue)
                return
        plan = self.planner.plan(issue, soc, result, refresh=False)
        self.put(plan_message(self.topics, plan))
        self.published += 1
        self.last_plan = plan
        self._held = None

    def on_stop(self) -> None:
        """Wait briefly for a running refresh, then save the state (a clean stop)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout=10.0)
        self._save_logged()

    # ------------------------------------------------------------ periods

    def _observe_until(self, until_s: float) -> None:
        """Observe each period with readings that ended at or before ``until_s``. [s]"""
        step = self.step_s
        last = int(until_s // step * step)
        if last < self._observed - 2 * step:  # the wall clock went back
            self._observed = last - step
        first = max(self._observed + step, last - (_KEEP_PERIODS - 1) * step)
        for t in range(first, last + 1, step):
            obs = self._period(t)
            if obs is not None:
                self.planner.observe(obs)
        self._observed = max(self._observed, last)

    def _period(self, t: int) -> PeriodObservation | None:
        """The measured period ending at ``t`` [s]; None when nothing was read in it."""
        w = self.window
        if not any(w.count(d, n, t) for d in self.devices
                   for n in ("pv_power", "ac_output_power", "battery_soc", "battery_power")):
            return None

        def first(name: str, devices: Sequence[str] = self.devices) -> float:
            for d in devices:
                if w.count(d, name, t):
                    return w.mean(d, name, t)
            return math.nan

        load = first("total_ac_output_power")
        if not math.isfinite(load):
            load = first("ac_output_power")
        socs = self._soc_last.get(t, {})
        bmv = [d for d in self.devices if d in socs and w.count(d, "battery_power", t)]
        src = next(iter(bmv), next((d for d in self.devices if d in socs), None))
        soc = socs[src] if src is not None else math.nan
        if math.isfinite(soc):
            self._soc_now = (soc, float(t))
        charge = w.last_text(self.pv_device, "charge_state", t)
        return PeriodObservation(
            end=datetime.fromtimestamp(t, UTC), load_power=load,
            pv_power=first("pv_power", (self.pv_device,)), soc=soc,
            battery_power=first("battery_power"), curtailed=charge in CURTAILED_STATES)

    # ------------------------------------------------------------ the daily refresh

    def _start_refresh(self, end: datetime) -> None:
        twin = self.planner.snapshot()
        if not self.background:
            twin.refresh(end)
            self.planner.adopt(twin)
            return

        def run() -> None:
            try:
                twin.refresh(end)
            except Exception:  # the loop keeps yesterday's models; next pass tries again
                log.exception("planner refresh failed")
                with self._lock:
                    self._refreshed = None
                return
            with self._lock:
                self._refreshed = twin

        self._worker = threading.Thread(target=run, name="plan-refresh", daemon=True)
        self._worker.start()

    def _adopt(self) -> None:
        worker = self._worker
        if worker is None or worker.is_alive():
            return
        with self._lock:
            twin, self._refreshed = self._refreshed, None
        self._worker = None
        if twin is not None:
            self.planner.adopt(twin)

    def wait_refresh(self, timeout: float = 30.0) -> None:
        """Wait for a running refresh and adopt it (tests, the benchmark). [s]"""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        self._adopt()

    # ------------------------------------------------------------ helpers

    def _hold(self, reason: str, text: str) -> None:
        if self._held == reason:
            return
        self._held = reason
        log.info("no plan: %s", text)
        self.emit("info", "plan_held", f"no energy plan: {text}", reason=reason)

    def _save_logged(self) -> None:
        try:
            self.save()
        except OSError as exc:  # a full or read-only card: keep planning, say so
            log.warning("cannot write the planner state: %s", exc)
            self.emit("warning", "state_write_failed",
                      f"cannot write the planner state: {exc}", file=str(self.state_path))
