"""Run a bundle's model on the device: quantise, invoke, dequantise.

Responsible for: creating a TFLite interpreter from model bytes with the
runtime the device has (ai-edge-litert, else tflite-runtime; never
TensorFlow), standardising float features with the bundle's scaling,
quantising them with the input scale and zero point, invoking, and turning
the int8 output back into clear-sky index quantiles per horizon. Buffers
are allocated once; :meth:`Predictor.predict` allocates nothing when given
``out``.

Does NOT: compute features (:mod:`edge.forecasting.features`) or irradiance/PV from the
quantiles (:mod:`edge.forecasting.forecast`), verify bundles
(:mod:`edge.forecasting.bundle`), or log.

Output: ``predict`` returns ``3 * n_horizons`` float32 values, horizon-major:
``out.reshape(n_horizons, 3)`` gives P10, P50, P90 of each horizon. The
model emits them quantile-major; the int8 output can swap neighbouring
quantiles by one quantum, so each horizon's triple is sorted here.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from edge.forecasting.bundle import Bundle

__all__ = ["InterpreterLike", "Predictor", "PredictorError", "make_interpreter", "runtime_name"]

F32 = npt.NDArray[np.float32]


class PredictorError(RuntimeError):
    """No TFLite runtime, or a model/bundle the predictor cannot run."""


class InterpreterLike(Protocol):
    """The part of the TFLite ``Interpreter`` API used here."""

    def allocate_tensors(self) -> None: ...
    def get_input_details(self) -> list[dict[str, Any]]: ...
    def get_output_details(self) -> list[dict[str, Any]]: ...
    def set_tensor(self, tensor_index: int, value: Any) -> None: ...
    def invoke(self) -> None: ...
    def get_tensor(self, tensor_index: int) -> Any: ...


def runtime_name() -> str:
    """Which TFLite runtime :func:`make_interpreter` would use (``""`` if none)."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401, PLC0415

        return "ai_edge_litert"
    except ImportError:
        pass
    try:
        import tflite_runtime.interpreter  # noqa: F401, PLC0415

        return "tflite_runtime"
    except ImportError:
        return ""


def make_interpreter(model_bytes: bytes, *, num_threads: int = 1) -> InterpreterLike:
    """A TFLite interpreter for ``model_bytes``, tensors allocated.

    Tries ``ai_edge_litert.interpreter.Interpreter`` then
    ``tflite_runtime.interpreter.Interpreter``; never imports TensorFlow.

    Raises
    ------
    PredictorError
        If neither runtime is installed or the model cannot be loaded.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter  # noqa: PLC0415
        except ImportError:
            raise PredictorError(
                "no TFLite runtime: install ai-edge-litert (64-bit) or "
                "tflite-runtime==2.14.0 with numpy<2 (32-bit ARM)"
            ) from None
    try:
        interp = Interpreter(model_content=bytes(model_bytes), num_threads=num_threads)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise PredictorError(f"cannot load the model: {exc}") from None
    return interp  # type: ignore[no-any-return]


class Predictor:
    """The bundle's model, ready to run one feature vector at a time.

    Parameters
    ----------
    bundle : Bundle
        A verified bundle (:func:`edge.forecasting.bundle.load_bundle`).
    variant : {"int8", "float32"}
        Run the int8 model (the default, what devices run) or the bundle's
        float32 twin (for int8-vs-float checks).
    num_threads : int
        Interpreter threads.

    Attributes
    ----------
    n_features, n_horizons : int
        Input length and number of horizons.
    outputs_total, outputs_at_rails : int
        Running count of int8 output values, and of those at -128 or 127
        (saturation), over all :meth:`predict_batch` calls.
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        variant: Literal["int8", "float32"] = "int8",
        num_threads: int = 1,
    ) -> None:
        model = bundle.model_bytes if variant == "int8" else bundle.float_model_bytes
        if model is None:
            raise PredictorError(f"bundle {bundle.source} has no {variant} model")
        self.variant = variant
        self.runtime = runtime_name()
        self._interp = make_interpreter(model, num_threads=num_threads)
        scaling = bundle.manifest["features"]["scaling"]
        self._offset = np.asarray(scaling["offset"], dtype=np.float32)
        self._scale = np.asarray(scaling["scale"], dtype=np.float32)
        self.n_features = len(self._offset)
        self.n_horizons = len(bundle.horizons_min)
        self._setup_io()
        self.outputs_total = 0
        self.outputs_at_rails = 0

    def _setup_io(self) -> None:
        inp = self._interp.get_input_details()[0]
        out = self._interp.get_output_details()[0]
        n_out = 3 * self.n_horizons
        if int(np.prod(inp["shape"])) != self.n_features:
            raise PredictorError(
                f"model input has shape {list(inp['shape'])}, bundle scaling has "
                f"{self.n_features} features"
            )
        if int(np.prod(out["shape"])) != n_out:
            raise PredictorError(f"model output shape {list(out['shape'])} != [1, {n_out}]")
        self._in_index = int(inp["index"])
        self._out_index = int(out["index"])
        self._in_dtype = np.dtype(inp["dtype"])
        self._out_dtype = np.dtype(out["dtype"])
        self.input_quantization = (float(inp["quantization"][0]), int(inp["quantization"][1]))
        self.output_quantization = (float(out["quantization"][0]), int(out["quantization"][1]))
        self._quantized_in = self._in_dtype == np.int8
        self._quantized_out = self._out_dtype == np.int8
        if self._quantized_in and self.input_quantization[0] <= 0:
            raise PredictorError("int8 model input has no quantization scale")
        self._z = np.zeros(self.n_features, dtype=np.float32)
        self._in = np.zeros(tuple(int(d) for d in inp["shape"]), dtype=self._in_dtype)
        self._in_flat = self._in.reshape(-1)
        in_scale, in_zero = self.input_quantization if self._quantized_in else (1.0, 0)
        gain = 1.0 / (self._scale.astype(np.float64) * in_scale)
        self._in_gain = gain.astype(np.float32)
        self._in_bias = (in_zero - self._offset * gain).astype(np.float32)
        self._deq = np.zeros(n_out, dtype=np.float32)
        out_scale, out_zero = self.output_quantization
        codes = np.arange(256, dtype=np.uint8).view(np.int8).astype(np.float32)
        self._lut = ((codes - out_zero) * out_scale).astype(np.float32)
        self._deq_hq = self._deq.reshape(3, self.n_horizons).T  # view: [horizon, quantile]
        self._shape = (self.n_features,)

    @property
    def quantized(self) -> bool:
        """True for an int8-in, int8-out model."""
        return bool(self._quantized_in and self._quantized_out)

    def _quantize_input(self, features: npt.NDArray[Any]) -> None:
        # z = (x - offset) / scale, then q = rint(z / s_in + zp), folded into one affine map
        z = self._z
        np.multiply(features, self._in_gain, out=z, casting="unsafe")
        np.add(z, self._in_bias, out=z)
        if self._quantized_in:
            np.clip(z, -128.0, 127.0, out=z)
            np.rint(z, out=self._in_flat, casting="unsafe")
        else:
            self._in_flat[:] = z

    def _dequantize_output(self, raw: npt.NDArray[Any]) -> None:
        if self._quantized_out:
            # one table lookup per value: int8 code (as uint8 index) -> float
            np.take(self._lut, raw.reshape(-1).view(np.uint8), out=self._deq)
        else:
            self._deq[:] = raw.reshape(-1)

    def predict(
        self, features: npt.ArrayLike, out: F32 | None = None, *,
        raw_out: npt.NDArray[Any] | None = None,
    ) -> F32:
        """Clear-sky index quantiles for one feature vector.

        Parameters
        ----------
        features : array_like of float
            Raw (unscaled) features from :mod:`edge.forecasting.features`, length
            :attr:`n_features`.
        out : numpy.ndarray of float32, optional
            Preallocated result of length ``3 * n_horizons`` (no allocation).
        raw_out : numpy.ndarray, optional
            Receives the raw (int8) model output, model order.

        Returns
        -------
        numpy.ndarray of float32
            Horizon-major P10/P50/P90 of the clear-sky index. [-]
        """
        x = np.asarray(features)
        if x.shape != self._shape:
            raise ValueError(f"expected {self.n_features} features, got shape {x.shape}")
        self._quantize_input(x)
        self._interp.set_tensor(self._in_index, self._in)
        self._interp.invoke()
        raw = self._interp.get_tensor(self._out_index)
        self._dequantize_output(raw)
        if raw_out is not None:
            raw_out[:] = raw.reshape(-1)
        if out is None:
            out = np.empty(3 * self.n_horizons, dtype=np.float32)
        # quantile-major [3, H] -> horizon-major [H, 3], sorted per horizon
        view = out.reshape(self.n_horizons, 3)
        view[:] = self._deq_hq
        view.sort(axis=1)
        return out

    def predict_batch(self, features: npt.ArrayLike) -> F32:
        """:meth:`predict` for each row; returns (n, n_horizons, 3) quantiles.

        Also counts int8 output values at the rails (-128 or 127) into
        :attr:`outputs_at_rails` / :attr:`outputs_total`.
        """
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"expected a 2-D feature array, got shape {x.shape}")
        result = np.empty((len(x), self.n_horizons, 3), dtype=np.float32)
        raw = np.empty((len(x), 3 * self.n_horizons), dtype=self._out_dtype)
        for i in range(len(x)):
            self.predict(x[i], out=result[i].reshape(-1), raw_out=raw[i])
        if self._quantized_out:
            self.outputs_total += raw.size
            self.outputs_at_rails += int(np.count_nonzero((raw == -128) | (raw == 127)))
        return result
