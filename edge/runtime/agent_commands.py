"""The commands the agent answers on ``cmd``, and what a model swap sets off.

Responsible for: the handlers of ``republish_discovery``, ``reload_model``
(through the rollout when there is one, so that a reload does not quietly
undo a promotion) and ``report_status`` in a
:class:`edge.runtime.inbound.CommandTable`, and :meth:`AgentCommands.activate`:
after any model swap the forecast issuer takes the new step, the retained
model message changes and Home Assistant hears of the new horizons.

Does NOT: parse commands (the table does) or verify bundles (the rollout does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from edge.forecasting.bundle import Bundle, BundleError
from edge.runtime.inbound import CommandError, CommandTable

if TYPE_CHECKING:
    from edge.forecasting.engine import ModelHolder
    from edge.runtime.discovery_tracker import DiscoveryTracker
    from edge.runtime.forecast_cycle import ForecastIssuer
    from edge.runtime.heartbeat import StatusReporter
    from edge.runtime.rollout import Rollout
    from firmware_bridge.clock import Clock

__all__ = ["AgentCommands"]


class AgentCommands:
    """Registers the agent's commands in ``table``.

    Parameters
    ----------
    table : CommandTable
    holder : ModelHolder
        The active model.
    clock : Clock
    forecaster : ForecastIssuer
    reporter : StatusReporter
    tracker : DiscoveryTracker
    rollout : Rollout, optional
    """

    def __init__(self, table: CommandTable, *, holder: ModelHolder, clock: Clock,
                 forecaster: ForecastIssuer, reporter: StatusReporter,
                 tracker: DiscoveryTracker, rollout: Rollout | None = None) -> None:
        self.holder, self.clock, self.rollout = holder, clock, rollout
        self.forecaster, self.reporter, self.tracker = forecaster, reporter, tracker
        table.register("republish_discovery", self._discovery)
        table.register("reload_model", self._reload)
        table.register("report_status", self._status)

    def _discovery(self, _args: Mapping[str, Any]) -> Mapping[str, Any]:
        self.tracker.announce_all()
        return {}

    def _reload(self, _args: Mapping[str, Any]) -> Mapping[str, Any]:
        old = self.holder.version
        try:
            if self.rollout is not None:  # must not quietly undo a promotion
                result = dict(self.rollout.reload_configured(self.holder.load_configured))
            else:
                bundle = self.holder.reload()
                result = {"old_version": old, "version": bundle.version,
                          "sha256": bundle.sha256}
        except BundleError as exc:
            raise CommandError(f"reload refused, keeping {old}: {exc}") from None
        self.model_changed()
        return result

    def _status(self, _args: Mapping[str, Any]) -> Mapping[str, Any]:
        self.reporter.publish_status()
        return {}

    def activate(self, bundle: Bundle) -> None:
        """Run a verified ``bundle`` from the next step on (call from the agent's thread)."""
        self.holder.swap(bundle)
        self.model_changed()

    def model_changed(self) -> None:
        """New step and window if needed, the retained model message, discovery again."""
        self.forecaster.model_changed(self.clock.now_utc())
        self.reporter.publish_model()
        self.tracker.announce_all()
