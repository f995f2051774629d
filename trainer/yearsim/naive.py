"""The naive plan the device's plan is judged against: yesterday, repeated.

Responsible for: the SOC trajectory of the next 24 h if the load and the
delivered PV of the last 24 measured hours came again, period by period,
integrated through the planner's own battery model
(:func:`edge.planning.plan.propagate` with the plan's learned
:class:`~edge.planning.battery.BatteryEstimate`), so the two plans differ
only in their forecasts.

Does NOT: forecast or use anything the device did not measure.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.planning.battery import BatteryEstimate
from edge.planning.plan import propagate

__all__ = ["naive_soc"]


def naive_soc(
    battery: BatteryEstimate,
    soc0: float,
    load: npt.NDArray[np.float64],
    pv: npt.NDArray[np.float64],
    step_s: int,
) -> npt.NDArray[np.float64]:
    """SOC at the end of each of the next ``len(load)`` steps. [-]

    Parameters
    ----------
    battery : BatteryEstimate
        The plan's battery.
    soc0 : float
        Measured SOC now. [-]
    load, pv : numpy.ndarray
        Measured AC load and delivered PV of the same periods yesterday,
        oldest first; missing values count as zero. [W]
    step_s : int
        [s]
    """
    load = np.nan_to_num(np.asarray(load, dtype=float))[:, None]
    pv = np.nan_to_num(np.asarray(pv, dtype=float))[:, None]
    return np.asarray(propagate(soc0, pv, load, battery, step_s).soc[:, 0])
