"""Keras model -> full-integer int8 TFLite (and a float32 twin for checks).

Responsible for: conversion through ``TFLiteConverter.from_keras_model``
(the Keras 3 path that calibrates correctly), a representative dataset drawn
evenly from the standardised training features in batches, and reading the
input/output quantization parameters back for the manifest.

Does NOT: run the model for validation (that goes through the real edge
interpreter in :mod:`edge.forecasting.predictor`), or write files.

Calibration notes: TFLite records min/max of every activation over all the
representative batches. Too few rows, or rows from one season only, give
ranges that are too narrow and outputs pinned at the int8 rails; the
validation gate measures the share of outputs at -128/127.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from trainer.config import QuantizationSection

__all__ = ["representative_rows", "to_float_tflite", "to_int8_tflite"]


def representative_rows(x: np.ndarray, cfg: QuantizationSection) -> np.ndarray:
    """Rows of ``x`` spread evenly over its whole span (every season), at most the configured count.

    The extreme rows of every feature are always included, so no input
    range seen in training is clipped at calibration.
    """
    n = len(x)
    if n == 0:
        raise ValueError("no training rows to calibrate on")
    take = min(n, cfg.representative_samples)
    idx = np.linspace(0, n - 1, take).round().astype(np.int64)
    extremes = np.concatenate([np.argmin(x, axis=0), np.argmax(x, axis=0)])
    idx = np.unique(np.concatenate([idx, extremes]))
    return np.asarray(x[idx], dtype=np.float32)


def _batches(rows: np.ndarray, batch: int) -> Iterator[list[np.ndarray]]:
    for start in range(0, len(rows), batch):
        yield [rows[start : start + batch]]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the converter's chatter on stdout/stderr of this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def to_int8_tflite(model: Any, x_train: np.ndarray, cfg: QuantizationSection) -> bytes:
    """Full-integer int8 TFLite with int8 input and output.

    Parameters
    ----------
    model : keras.Model
        The trained float model (input already standardised).
    x_train : numpy.ndarray
        Standardised training features; the representative sample is
        drawn from them with :func:`representative_rows`.
    cfg : QuantizationSection
        Sample size and batch size of the calibration.

    Returns
    -------
    bytes
        The ``.tflite`` flatbuffer. Deterministic for a given model and data.
    """
    rows = representative_rows(x_train, cfg)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: _batches(rows, cfg.representative_batch)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with _quiet():
        return bytes(conv.convert())


def to_float_tflite(model: Any) -> bytes:
    """Plain float32 TFLite of ``model`` (the reference for the int8 check)."""
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    with _quiet():
        return bytes(conv.convert())
