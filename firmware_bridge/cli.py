"""``helio-bridge``: decode captures, read devices.

Subcommands live one per module (``add_arguments``/``run``); see
:mod:`firmware_bridge.clitools`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from firmware_bridge.clitools import dispatch

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "decode": ("firmware_bridge.commands.decode", "decode a raw capture to JSON lines"),
    "read": ("firmware_bridge.commands.read", "read a device and print readings as JSON lines"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``helio-bridge`` and ``python -m firmware_bridge``."""
    return dispatch("helio-bridge", __doc__.splitlines()[0], COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
