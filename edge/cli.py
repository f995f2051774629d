"""``helio-edge``: the on-device agent and its tools.

Subcommands live one per module (``add_arguments``/``run``); see
:mod:`firmware_bridge.clitools`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from firmware_bridge.clitools import dispatch

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("edge.commands.run", "run the agent (what the systemd service starts)"),
    "check": ("edge.commands.check", "check config, bundle, devices and broker"),
    "predict": ("edge.commands.predict", "print one forecast as JSON, for debugging"),
    "deploy": ("edge.commands.deploy", "ship a release to a device over SSH, install it"),
    "simulate": ("edge.commands.simulate", "serve a simulated device of a site on a pty or TCP"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``helio-edge`` and ``python -m edge``."""
    return dispatch("helio-edge", __doc__.splitlines()[0], COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
