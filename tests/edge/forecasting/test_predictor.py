"""The edge predictor on the shipped bundle, through the real TFLite interpreter.

No TensorFlow: runs with ai-edge-litert or tflite-runtime 2.14 (legacy env).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edge.forecasting.bundle import Bundle, load_bundle
from edge.forecasting.features import DailyGeometry, FeatureSpec, compute_feature_matrix
from edge.forecasting.predictor import Predictor, PredictorError, make_interpreter
from edge.forecasting.site import load_site

pytestmark = pytest.mark.tflite

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "edge" / "data" / "bundles" / "abuja"
DEFAULT_PUB = REPO / "configs" / "keys" / "helio-default.pub"


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return load_bundle(SHIPPED, DEFAULT_PUB)


def _features(bundle: Bundle, days: int, seed: int = 0) -> np.ndarray:
    """Daytime feature rows from edge.forecasting.features on a cloudy-ish synthetic GHI series."""
    spec = FeatureSpec.from_dict(bundle.manifest["features"])
    site = load_site(REPO / "configs" / "sites" / "abuja.toml").site
    step = pd.Timedelta(minutes=spec.step_minutes)
    start = pd.Timestamp("2025-08-01", tz="UTC") + step
    ends = pd.date_range(start, periods=days * 96, freq=step)
    geometry = DailyGeometry.for_range(site, ends[0], ends[-1], spec)
    rng = np.random.default_rng(seed)
    kt = np.clip(0.75 + np.cumsum(rng.normal(0, 0.08, len(ends))) * 0.3, 0.1, 1.1)
    k = geometry.index(ends[0])
    ghi = kt * geometry.ghi_clear[k : k + len(ends)]
    x = compute_feature_matrix(spec, pd.DataFrame({"ghi": ghi}, index=ends), geometry)
    return x[geometry.cos_zenith[k : k + len(ends)] > 0.1]


def test_predict_shape_and_quantiles_never_cross(bundle: Bundle) -> None:
    p = Predictor(bundle)
    assert p.quantized
    x = _features(bundle, 4)
    q = p.predict_batch(x)
    assert q.shape == (len(x), len(bundle.horizons_min), 3)
    assert np.all(np.diff(q, axis=2) >= 0)
    assert np.isfinite(q).all()


def test_int8_close_to_float32(bundle: Bundle) -> None:
    x = _features(bundle, 4, seed=1)
    p8 = Predictor(bundle)
    q8 = p8.predict_batch(x)
    qf = Predictor(bundle, variant="float32").predict_batch(x)
    out_scale = p8.output_quantization[0]
    # a few output quanta (tflite-runtime 2.14 may differ by one more quantum)
    assert np.sqrt(np.mean((q8 - qf) ** 2)) < 3 * out_scale
    assert np.median(np.abs(q8 - qf)) <= 2 * out_scale
    assert p8.outputs_at_rails / p8.outputs_total < 0.01


def test_predict_into_preallocated_buffer(bundle: Bundle) -> None:
    p = Predictor(bundle)
    x = _features(bundle, 1)[10]
    out = np.empty(3 * p.n_horizons, dtype=np.float32)
    assert p.predict(x, out=out) is out
    np.testing.assert_array_equal(out, p.predict(x))


def test_predict_rejects_wrong_length(bundle: Bundle) -> None:
    p = Predictor(bundle)
    with pytest.raises(ValueError, match="expected"):
        p.predict(np.zeros(p.n_features + 1, dtype=np.float32))


def test_make_interpreter_rejects_garbage() -> None:
    with pytest.raises(PredictorError, match="cannot load the model"):
        make_interpreter(b"definitely not a flatbuffer")


def test_missing_float_model_is_a_clear_error(bundle: Bundle) -> None:
    with pytest.raises(PredictorError, match="no float32 model"):
        Predictor(dataclasses.replace(bundle, float_model_bytes=None), variant="float32")


def test_edge_path_never_imports_tensorflow() -> None:
    code = (
        "import sys\n"
        "from edge.forecasting.bundle import load_bundle\n"
        "from edge.forecasting.predictor import Predictor\n"
        f"b = load_bundle({str(SHIPPED)!r}, {str(DEFAULT_PUB)!r})\n"
        "p = Predictor(b)\n"
        "import numpy as np\n"
        "p.predict(np.asarray(b.manifest['features']['scaling']['offset'], dtype=np.float32))\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert out.stdout.split()[-2:] == ["False", "False"]
