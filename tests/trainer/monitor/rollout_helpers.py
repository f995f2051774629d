"""Signed test bundles and a fake predictor for the rollout tests.

The bundles are verified for real (:func:`edge.forecasting.bundle.load_bundle`:
signature, hashes, gate, feature spec); only the interpreter is replaced by
a predictor returning a fixed clear-sky index named in the manifest, so a
test can say which model forecasts better. The real interpreter runs in the
end-to-end test.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.forecasting.bundle import MANIFEST_FILE, MODEL_FILE, Bundle, load_bundle, sha256_hex
from edge.forecasting.engine import ForecastEngine, ModelHolder
from edge.forecasting.features import FeatureSpec
from edge.forecasting.site import load_site
from edge.runtime.config import RolloutConfig
from edge.runtime.rollout import Rollout
from edge.testkit.fakes import bomb_tar, zeros_gzip  # noqa: F401 - test_rollout_signed imports them here
from trainer.bundle import manifest_bytes
from trainer.bundle_signing import generate_keypair, load_private_key, sign_bundle_dir
from trainer.publishing import install_payload, rollback_payload

#: the site and gateway the test devices are (abuja.toml, default agent id)
SITE_ID, GATEWAY = "abuja-01", "gateway"


def keypair(tmp: Path) -> tuple[Path, Path]:
    """(private, public) key files."""
    return generate_keypair(tmp / "keys")


def make_bundle(out: Path, priv: Path, *, version: str, kt: float, blessed: bool = True,
                spec: FeatureSpec | None = None, sign: bool = True,
                created: str = "2026-11-26T00:00:00Z") -> Path:
    """A signed bundle directory whose fake model forecasts clear-sky index ``kt``."""
    spec = spec or FeatureSpec()
    out.mkdir(parents=True, exist_ok=True)
    model = f"fake model {version} kt={kt}".encode()
    (out / MODEL_FILE).write_bytes(model)
    features = spec.to_dict()
    features["scaling"] = {"offset": [0.0] * spec.n_features, "scale": [1.0] * spec.n_features}
    manifest: dict[str, Any] = {
        "schema_version": 1, "model_version": version, "blessed": blessed,
        "created": created, "step_minutes": spec.step_minutes,
        "horizons_min": list(spec.horizons_min), "features": features,
        "model": {"file": MODEL_FILE, "sha256": sha256_hex(model)}, "files": {},
        "test_kt": kt,
        "metrics": [{"target": "pv_power", "horizon_min": h, "season": "all", "n": 100,
                     "rmse": 100.0} for h in spec.horizons_min],
    }
    (out / MANIFEST_FILE).write_bytes(manifest_bytes(manifest))
    if sign:
        sign_bundle_dir(out, priv)
    return out


class KtPredictor:
    """Quantiles (0.9 kt, kt, 1.1 kt) of the manifest's ``test_kt`` for every horizon."""

    def __init__(self, bundle: Bundle) -> None:
        kt = float(bundle.manifest["test_kt"])
        n = len(bundle.manifest["horizons_min"])
        self.out = np.tile(np.array([0.9 * kt, kt, 1.1 * kt], dtype=np.float32), n)

    def predict(self, features: Any, out: Any = None) -> Any:
        return self.out.copy()


class ManualClock:
    """A clock that moves only when told; monotonic time is the wall time's epoch seconds.

    Kept for test_rollout*.py, whose subclass steps ``t``; they move to
    :class:`edge.testkit.clocks.ManualClock` (``monotonic_start=START.timestamp()``,
    ``step_wall``) with their owners.
    """

    def __init__(self, start: datetime) -> None:
        self.t = start.astimezone(UTC)

    def now_utc(self) -> datetime:
        return self.t

    def monotonic(self) -> float:
        return self.t.timestamp()

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def tamper(bundle: Path) -> None:
    """Change the model file after signing."""
    (bundle / MODEL_FILE).write_bytes((bundle / MODEL_FILE).read_bytes() + b"!")


def manifest_of(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / MANIFEST_FILE).read_bytes())


def install(bundle: Path, priv: Path, **kw: Any) -> bytes:
    """A signed install command for the test gateway (``kw``: install_payload options)."""
    kw.setdefault("site", SITE_ID)
    kw.setdefault("device", GATEWAY)
    return install_payload(bundle, key=load_private_key(priv), **kw)


def rollback(priv: Path, **kw: Any) -> bytes:
    """A signed rollback command for the test gateway."""
    kw.setdefault("site", SITE_ID)
    kw.setdefault("device", GATEWAY)
    return rollback_payload(key=load_private_key(priv), **kw)


# ------------------------------------------------ the model side of an agent

SITE = load_site(Path(__file__).resolve().parents[3] / "configs/sites/abuja.toml")
START = datetime(2026, 1, 10, 7, 0, tzinfo=UTC)  # 08:00 in Abuja
CFG = RolloutConfig(shadow_s=6 * 3600, max_shadow_s=12 * 3600, min_pairs=8)


class Device:
    """The model side of an agent: holder, engine, rollout, and the events it reported."""

    def __init__(self, tmp: Path, priv: Path, pub: Path, *, kt: float = 0.5) -> None:
        self.active_dir = make_bundle(tmp / "v1", priv, version="v1", kt=kt)
        self.pub = pub
        self.clock = ManualClock(START)
        self.holder = ModelHolder(lambda: load_bundle(self.active_dir, pub), KtPredictor)
        self.engine = ForecastEngine(SITE, self.holder)
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.changes = 0
        self.models = tmp / "state" / "models"
        self.rollout = self.new_rollout()
        truth = make_bundle(tmp / "truth", priv, version="truth", kt=0.8)
        self.truth = ForecastEngine(SITE, ModelHolder(lambda: load_bundle(truth, pub),
                                                      KtPredictor))
        self.shadow_published = 0

    def new_rollout(self) -> Rollout:
        r = Rollout(holder=self.holder, site=SITE, public_key=self.pub, models_dir=self.models,
                    config=CFG, clock=self.clock, make_predictor=KtPredictor)
        r.bind(report=lambda level, code, msg, **data: self.events.append((level, code, data)),
               on_change=self._changed)
        return r

    def _changed(self) -> None:
        self.changes += 1

    def codes(self) -> list[str]:
        return [c for _l, c, _d in self.events]

    def run(self, hours: float) -> None:
        """Forecast every 15 min; the actual is what the truth model (kt 0.8) said."""
        previous_truth = None
        for _ in range(int(hours * 4)):
            issue = int(self.clock.now_utc().timestamp())
            ghi = [math.nan] * self.holder.spec.history_steps
            active = self.engine.forecast(issue, ghi, inputs_stale=False)
            assert active.quantiles["pv_power"][0][1] == pytest.approx(
                self.engine.forecast(issue, ghi, inputs_stale=False).quantiles["pv_power"][0][1])
            pv = previous_truth.quantiles["pv_power"][0][1] if previous_truth else math.nan
            shadow = self.rollout.after_forecast(active, ghi, pv=pv, curtailed=False)
            self.shadow_published += shadow is not None
            previous_truth = self.truth.forecast(issue, ghi, inputs_stale=False)
            self.clock.advance(900)
