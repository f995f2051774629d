"""Byte-exact device simulators on a pseudo-terminal or TCP.

Holds: one session per protocol (``vedirect``, ``pi30``, ``epever``) built
from the same tables as the decoders, the pty/TCP/HID endpoints and serving (``endpoints``),
switchable faults (``faults``) and :func:`start_simulator` (``runner``). A
simulator is driven through the small :class:`~.source.PlantSource`
interface (``source``): the physical model of a site that implements it lives
in :mod:`edge.simulation` (``helio-edge simulate``, the demo, the tests).

Must not import: ``edge``, ``trainer``.

``start_simulator`` and ``SimulatorHandle`` are imported lazily so that
importing a protocol session stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SimulatorHandle", "start_simulator"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from firmware_bridge.simulators import runner  # noqa: PLC0415 - lazy on purpose

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
