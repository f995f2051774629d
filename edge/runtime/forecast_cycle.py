"""The forecast issuer: the collaborator that turns a step's readings into a forecast.

Responsible for: the window of readings aggregated to the model's step,
issuing a forecast when :class:`edge.runtime.scheduling.ForecastScheduler`
says one is due (flagged ``inputs_stale`` when the PV source went quiet),
holding it while the clock is not synchronised, and the shadow hand-off:
right after each forecast of the active model, the rollout scores the
period just measured and its candidate's forecast goes out with
``shadow: true``.

Does NOT: build payload shapes (:mod:`edge.runtime.messages`), store them
(the ``put`` it is given), or load models.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from edge.forecasting.engine import CURTAILED_STATES, ForecastEngine, ForecastResult
from edge.runtime.contract import Topics
from edge.runtime.interfaces import Collaborator
from edge.runtime.messages import Message, forecast_message
from edge.runtime.scheduling import ClockSync, ForecastScheduler
from edge.runtime.window import ReadingWindow

if TYPE_CHECKING:
    from edge.runtime.rollout import Rollout
    from firmware_bridge.readings import Reading

__all__ = ["ForecastIssuer"]

log = logging.getLogger(__name__)


class ForecastIssuer(Collaborator):
    """Issues the forecast of each step from the readings of the PV device.

    Parameters
    ----------
    engine : ForecastEngine
        Features, model (``engine.holder``) and post-processing.
    topics : Topics
    pv_device : str
        Device id whose ``pv_power`` (and ``charge_state``, ``ambient_temperature``)
        feed the model.
    sync : ClockSync
        Forecasts are held while the clock is not synchronised.
    is_down : callable
        ``is_down(device_id)``: the device was disconnected or stale at the last check.
    put : callable
        ``put(message)`` stores a message in the outbox.
    rollout : Rollout, optional
        Gets every forecast for its shadow run.
    on_forecast : callable, optional
        Called with every forecast of the active model after it is stored.
    """

    def __init__(self, *, engine: ForecastEngine, topics: Topics, pv_device: str,
                 sync: ClockSync, is_down: Callable[[str], bool],
                 put: Callable[[Message], object], rollout: Rollout | None = None,
                 on_forecast: Callable[[ForecastResult], None] | None = None) -> None:
        self.engine, self.holder, self.topics = engine, engine.holder, topics
        self.pv_device, self.sync, self.is_down, self.put = pv_device, sync, is_down, put
        self.rollout, self.notify = rollout, on_forecast
        self.scheduler = ForecastScheduler(lambda: self.holder.spec.step_seconds)
        spec = self.holder.spec
        self.window = ReadingWindow(spec.step_seconds, spec.history_steps + 2)
        #: forecasts of the active model stored [-]
        self.issued = 0

    def start(self, now: datetime) -> None:
        """A fresh window; the first forecast is for the step after ``now``'s."""
        spec = self.holder.spec
        self.window = ReadingWindow(spec.step_seconds, spec.history_steps + 2)
        self.scheduler.reset(now.timestamp())

    def model_changed(self, now: datetime) -> None:
        """Another model runs: a new window and schedule when its step differs."""
        spec = self.holder.spec
        if self.window.step_s != spec.step_seconds:
            self.start(now)
        else:
            self.window.keep_periods = max(self.window.keep_periods, spec.history_steps + 2)

    def on_reading(self, reading: Reading) -> None:
        """Into the window."""
        self.window.add(reading.device_id, reading.timestamp, reading.values)

    def on_cycle(self, now: datetime) -> None:
        """Issue the forecast when one is due."""
        if self.scheduler.due(now.timestamp()):
            self.issue(now)

    def issue(self, now: datetime) -> None:
        """The forecast for the step ``now`` falls in (held while the clock is unsynchronised)."""
        issue = self.scheduler.take(now.timestamp())
        if not self.sync.ok():  # a forecast for the wrong date is worse than none
            self.sync.hold()
            return
        spec = self.holder.spec
        n, dev = spec.history_steps, self.pv_device
        pv = self.window.series(dev, "pv_power", issue, n)
        ends = [issue - (n - 1 - i) * spec.step_seconds for i in range(n)]
        curtailed = [self.window.last_text(dev, "charge_state", e) in CURTAILED_STATES
                     for e in ends]
        ghi = self.engine.ghi_history(issue, pv, curtailed)
        stale = self.is_down(dev) or self.window.count(dev, "pv_power", issue) == 0
        temp = self.window.mean(dev, "ambient_temperature", issue)
        result = self.engine.forecast(issue, ghi, inputs_stale=stale, temp_air=temp)
        self.put(forecast_message(
            self.topics, result, issue_time=result.issue_time,
            step_minutes=spec.step_minutes, model_version=self.holder.version,
            model_sha256=self.holder.sha256, inputs_stale=result.inputs_stale,
            pv_energy=self.engine.energy_outlook(result),
        ))
        self.issued += 1
        if self.rollout is not None:
            self._shadow(result, ghi, pv[-1] if pv else math.nan,
                         bool(curtailed and curtailed[-1]), temp)
        if stale:
            log.warning("forecast at %s issued with stale inputs", result.issue_time)
        if self.notify is not None:
            self.notify(result)

    def _shadow(self, result: ForecastResult, ghi: list[float], pv: float, curtailed: bool,
                temp: float) -> None:
        """Score the period just measured; publish the shadow model's forecast."""
        assert self.rollout is not None
        shadow = self.rollout.after_forecast(result, ghi, pv=pv, curtailed=curtailed,
                                             temp_air=temp)
        cand = self.rollout.candidate
        if shadow is not None and cand is not None:
            self.put(forecast_message(
                self.topics, shadow, issue_time=shadow.issue_time,
                step_minutes=self.holder.spec.step_minutes, model_version=cand.version,
                model_sha256=cand.sha256, inputs_stale=shadow.inputs_stale, shadow=True,
            ))
