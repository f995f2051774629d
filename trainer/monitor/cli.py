"""``helio-monitor``: central monitoring of the fleet over MQTT.

Subcommands live one per module (``add_arguments``/``run``); see
:mod:`firmware_bridge.clitools`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from firmware_bridge.clitools import dispatch

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("trainer.monitor.commands.run", "subscribe to the fleet and keep the store"),
    "serve": ("trainer.monitor.commands.serve", "serve the live fleet dashboard and /metrics"),
    "status": ("trainer.monitor.commands.status", "print the fleet table"),
    "report": ("trainer.monitor.commands.report", "write an HTML report for a site"),
    "export": (
        "trainer.monitor.commands.export",
        "export a site's telemetry for helio-train fit --format helio",
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``helio-monitor`` and ``python -m trainer.monitor``."""
    return dispatch("helio-monitor", __doc__.splitlines()[0], COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
