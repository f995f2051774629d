"""Conditioning whole-day scenario blocks on what the day has shown so far.

Responsible for: :func:`analog_weights`, the probability of drawing each
past day as today's block given the part of today already measured: past
days whose same periods differed little in level from today's are likelier
(a Gaussian kernel on the mean difference, its width half the spread of the
past days' means; a floor keeps every day possible so the spread does not
collapse). A morning under heavy cloud makes the afternoon likelier to be
cloudy; a household drawing more than usual since midnight likely goes on
doing so. Used for the PV clear-sky index rows and the load residual rows.

Does NOT: sample (the callers draw with these weights).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["FLOOR", "MIN_PERIODS", "analog_weights"]

FloatArray = npt.NDArray[np.float64]

#: Share of the probability spread evenly over all past days. [-]
FLOOR = 0.25
#: Measured periods of today needed before conditioning on them.
MIN_PERIODS = 4
#: Kernel width as a share of the spread of the past days' means. [-]
WIDTH = 0.5


def analog_weights(past: FloatArray, today: FloatArray) -> FloatArray | None:
    """Weights ``(days,)`` summing to 1, or None (draw uniformly) when today says too little.

    Parameters
    ----------
    past : numpy.ndarray
        ``(days, m)``: the past days' values at the periods today has measured.
    today : numpy.ndarray
        ``(m,)``: today's values there; NaN where not measured.
    """
    ok = np.isfinite(today) & np.isfinite(past).all(axis=0)
    if int(ok.sum()) < MIN_PERIODS or past.shape[0] < 3:
        return None
    means = past[:, ok].mean(axis=1)
    spread = float(means.std())
    if spread <= 1e-9:
        return None
    d = means - float(today[ok].mean())
    k = np.exp(-0.5 * (d / (WIDTH * spread)) ** 2)
    w = (1.0 - FLOOR) * k / k.sum() + FLOOR / past.shape[0]
    return np.asarray(w / w.sum(), dtype=np.float64)
