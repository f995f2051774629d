"""Device simulators driven by a physical model of the site.

``sky`` (the one sky model), ``plant`` (PV array, charge controller,
battery, inverter, household load) and one byte-exact simulator per
protocol, served on a pseudo-terminal or TCP by :func:`start_simulator`.
This package may import :mod:`edge.config` and :mod:`edge.solar`.
"""

from __future__ import annotations
