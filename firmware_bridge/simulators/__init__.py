"""Device simulators driven by a physical model of the site.

``sky`` (the one sky model), ``plant`` (PV array, charge controller,
battery, inverter, household load) and one byte-exact simulator per
protocol (``vedirect``, ``pi30``, ``epever``), served on a pseudo-terminal or
TCP by :func:`start_simulator` (``runner``), with switchable ``faults``.
This package may import :mod:`edge.config` and :mod:`edge.forecasting.solar`.

``start_simulator`` and ``SimulatorHandle`` are imported lazily so that
``from edge.simulation.sky import synthetic_weather`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SimulatorHandle", "start_simulator"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from firmware_bridge.simulators import runner  # noqa: PLC0415 - lazy on purpose

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
