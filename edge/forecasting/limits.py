"""The numbers of the reference science: clips, daytime, usable PV, quantile levels.

Responsible for: defining each constant once. :mod:`edge.forecasting.reference`
re-exports them with the functions that use them (read that module's
docstring for what they mean and why the two clips differ); the feature
code (:mod:`edge.forecasting.features`) and the PV chain
(:mod:`edge.forecasting.forecast`) import them from here, because the
reference functions call those two modules.

Does NOT: compute anything.
"""

from __future__ import annotations

__all__ = [
    "CLIP_MARGIN",
    "DEFAULT_TEMP_AIR",
    "GHI_CLEAR_MIN",
    "KT_DEFAULT",
    "KT_MAX",
    "PV_INDEX_HOLD_MAX",
    "QUANTILE_LEVELS",
    "QUANTILE_NAMES",
    "USABLE_FRACTION",
    "ZENITH_LIMIT",
]

#: Largest clear-sky index of one period kept (cloud enhancement rarely exceeds it). [-]
KT_MAX = 1.5
#: Largest PV clear-sky index held for hours ahead (enhancement is brief). [-]
PV_INDEX_HOLD_MAX = 1.3
#: Clear-sky index taken where a period carries none (dawn, a whole night window). [-]
KT_DEFAULT = 1.0
#: Periods with the sun further from zenith than this carry no index and are not scored. [°]
ZENITH_LIMIT = 85.0
#: Periods with less clear-sky GHI than this carry no index and are not scored. [W/m²]
GHI_CLEAR_MIN = 20.0
#: Clear-sky PV below this share of the DC capacity gives no PV clear-sky index. [-]
USABLE_FRACTION = 0.02
#: PV at or above this share of the output limit is clipped: no PV clear-sky index. [-]
CLIP_MARGIN = 0.98
#: Air temperature assumed when none is measured (the chain's default). [°C]
DEFAULT_TEMP_AIR = 25.0
#: Quantile levels of the model output, in order. [-]
QUANTILE_LEVELS = (0.1, 0.5, 0.9)
#: The same levels as named in payloads and the monitor's store.
QUANTILE_NAMES = ("p10", "p50", "p90")
