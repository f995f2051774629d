"""Scripted stand-ins for the agent's devices and model, and a stub bundle.

Responsible for: :class:`ScriptedDevice` (a device whose readings come from
a function, unplugged on request, with the real :class:`DeviceStats`),
:class:`ConstPredictor` (constant clear-sky index quantiles, for agent tests
that are not about the model) and :func:`stub_bundle` (a bundle manifest
without model bytes).

Does NOT: replace the interpreter where a test is about the model: those
tests run the shipped int8 bundle on the real interpreter.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from edge.forecasting.bundle import Bundle
from edge.forecasting.features import FeatureSpec
from firmware_bridge.drivers import DeviceStats
from firmware_bridge.readings import Reading

__all__ = ["ConstPredictor", "ScriptedDevice", "stub_bundle"]


def stub_bundle(spec: Any = None, version: str = "stub-1") -> Any:
    """A Bundle whose manifest carries ``spec`` (no model bytes needed)."""

    spec = spec or FeatureSpec()
    features = spec.to_dict()
    features["scaling"] = {"offset": [0.0] * spec.n_features, "scale": [1.0] * spec.n_features}
    manifest = {
        "model_version": version, "blessed": True, "created": "2026-11-26T00:00:00Z",
        "step_minutes": spec.step_minutes, "horizons_min": list(spec.horizons_min),
        "features": features,
    }
    return Bundle("<stub>", manifest, json.dumps(manifest).encode(), b"", "00" * 32)


class ConstPredictor:
    """Clear-sky index quantiles (0.5, 0.8, 1.0) for every horizon."""

    def __init__(self, bundle: Any) -> None:
        self.n = len(bundle.manifest["horizons_min"])
        self.calls = 0

    def predict(self, features: Any, out: Any = None) -> Any:
        self.calls += 1
        assert np.all(np.isfinite(features))
        return np.tile(np.array([0.5, 0.8, 1.0], dtype=np.float32), self.n)


class ScriptedDevice:
    """A device whose readings come from ``values()``; ``plugged`` toggles faults."""

    def __init__(self, device_id: str, clock: Any, values: Callable[[], dict[str, Any]]) -> None:
        self.device_id, self.clock, self.values = device_id, clock, values
        self.plugged = True
        self._stats = DeviceStats()

    def poll(self) -> Any:
        if not self.plugged:
            if self._stats.connected:
                self._stats.connected = False
            self._stats.stale = True
            return None
        if not self._stats.connected:
            self._stats.connected = True
            self._stats.reconnects += 1
        now = self.clock.now_utc()
        self._stats.frames_good += 1
        self._stats.last_reading_utc = now
        self._stats.stale = False
        return Reading(self.device_id, now, self.values())

    def poll_all(self) -> list[Reading]:
        reading = self.poll()
        return [] if reading is None else [reading]

    def stale_names(self) -> list[str]:
        return []

    def take_notices(self) -> list[Any]:
        return []

    @property
    def stats(self) -> Any:
        return dataclasses.replace(self._stats)

    def close(self) -> None:
        self._stats.connected = False
