"""``helio-train``: the cloud side: data, training, int8 bundles, rollout.

Subcommands live one per module (``add_arguments``/``run``); see
:mod:`firmware_bridge.clitools`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from firmware_bridge.clitools import dispatch

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "fit": ("trainer.commands.fit", "train, quantize, validate and write a signed bundle"),
    "evaluate": ("trainer.commands.evaluate", "score a bundle on any data"),
    "synth": ("trainer.commands.synth", "write synthetic site weather as CSV"),
    "keygen": ("trainer.commands.keygen", "make an Ed25519 key pair for signing bundles"),
    "sign": ("trainer.commands.sign", "sign a bundle's manifest"),
    "model-default": ("trainer.commands.model_default", "rebuild the shipped Abuja bundle"),
    "publish": ("trainer.commands.publish", "send a signed bundle to devices over MQTT"),
    "rollback": ("trainer.commands.rollback", "force devices back to their previous model"),
    "simulate-year": ("trainer.commands.simulate_year", "score the energy plan over a year"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``helio-train`` and ``python -m trainer``."""
    return dispatch("helio-train", __doc__.splitlines()[0], COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
