"""int8 conversion: int8 I/O, calibration sample, reproducibility, int8 vs float via the edge."""

# ruff: noqa: PLC0415  (TensorFlow-heavy modules are imported inside the tests that need them)

from __future__ import annotations

import numpy as np
import pytest

from edge.forecasting.bundle import Bundle, sha256_hex
from edge.forecasting.predictor import Predictor

pytestmark = pytest.mark.tensorflow

N_IN, N_H = 10, 3


def _fit(seed: int = 5):
    from trainer.config import ModelSection, QuantizationSection
    from trainer.model import FeatureScaling, fit_model
    from trainer.quantize import to_float_tflite, to_int8_tflite

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(2000, N_IN)) * 2 + 3).astype(np.float32)
    y = np.clip(0.7 + 0.1 * (x[:, :N_H] - 3) + 0.05 * rng.normal(size=(2000, N_H)), 0, 1.4)
    scaling = FeatureScaling.fit(x)
    z = scaling.apply(x)
    model = fit_model(z, y.astype(np.float32), np.ones_like(y, bool),
                      ModelSection(hidden=(16,), epochs=4, batch_size=128), seed=seed)
    qcfg = QuantizationSection(representative_samples=1000, representative_batch=100)
    return x, y, scaling, to_int8_tflite(model, z, qcfg), to_float_tflite(model)


@pytest.fixture(scope="module")
def converted():
    return _fit()


def _bundle(scaling, int8: bytes, flt: bytes) -> Bundle:
    manifest = {"horizons_min": [60, 120, 180], "features": {"scaling": scaling.to_dict()}}
    return Bundle("<memory>", manifest, b"", int8, sha256_hex(int8), flt)


def test_int8_model_has_int8_io(converted) -> None:
    from edge.forecasting.predictor import make_interpreter

    interp = make_interpreter(converted[3])
    assert interp.get_input_details()[0]["dtype"] == np.int8
    assert interp.get_output_details()[0]["dtype"] == np.int8


def test_int8_matches_float_through_edge_interpreter(converted) -> None:
    x, y, scaling, int8, flt = converted
    bundle = _bundle(scaling, int8, flt)
    p8 = Predictor(bundle)
    q8 = p8.predict_batch(x)
    qf = Predictor(bundle, variant="float32").predict_batch(x)
    r8 = np.sqrt(np.mean((q8[:, :, 1] - y) ** 2))
    rf = np.sqrt(np.mean((qf[:, :, 1] - y) ** 2))
    assert r8 <= 1.02 * rf
    assert p8.outputs_at_rails / p8.outputs_total < 0.005


def test_representative_rows_cover_extremes() -> None:
    from trainer.config import QuantizationSection
    from trainer.quantize import representative_rows

    x = np.random.default_rng(2).normal(size=(10000, 5)).astype(np.float32)
    rows = representative_rows(x, QuantizationSection(representative_samples=200))
    np.testing.assert_array_equal(rows.min(axis=0), x.min(axis=0))
    np.testing.assert_array_equal(rows.max(axis=0), x.max(axis=0))
    assert 200 <= len(rows) <= 210


def test_conversion_is_reproducible(converted) -> None:
    again = _fit()
    assert again[3] == converted[3]
    assert again[4] == converted[4]
