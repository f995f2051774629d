"""Trainer benchmark: the real TMY3 files shipped with pvlib, trained and scored chronologically.

For Greensboro NC (723170TYA.CSV) and Sand Point AK (703165TY.csv), hourly:
``trainer.fit.fit`` with ``configs/train/tmy3.toml`` (60/120/180 min; the last
quarter of every month held out, so every season is in both sets), then
skill against smart persistence per horizon and season, int8 vs float32
RMSE, model size, wall time of fit+quantize+validate, and the latency of
set_tensor+invoke+get_tensor against calling the Keras model.

Goals (issue #3): skill >= 0.10 at 1 h and >= 0.25 at 3 h, never negative;
int8 RMSE within 1 % of float32; model < 64 KB; < 2 min per site-year.
Printed, not asserted.
"""

# ruff: noqa: PLC0415  (TensorFlow-heavy modules are imported inside the tests that need them)

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "train" / "tmy3.toml"
FILES = {"Greensboro NC": "723170TYA.CSV", "Sand Point AK": "703165TY.csv"}


def _pvlib_data(name: str) -> Path:
    import pvlib

    return Path(pvlib.__file__).parent / "data" / name


def _latency(result) -> tuple[float, float]:
    """Median microseconds per call: edge interpreter (set+invoke+get) and Keras model call."""
    from edge.forecasting.predictor import Predictor

    p = Predictor(result.bundle)
    interp = p._interp  # the raw interpreter calls, as the issue asks
    x = np.zeros_like(p._in)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(2000):
            interp.set_tensor(p._in_index, x)
            interp.invoke()
            interp.get_tensor(p._out_index)
        times.append((time.perf_counter() - t) / 2000 * 1e6)
    lite = float(np.median(times))
    model = result.keras_model
    xk = np.zeros((1, p.n_features), dtype=np.float32)
    model(xk, training=False)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(50):
            model(xk, training=False)
        times.append((time.perf_counter() - t) / 50 * 1e6)
    return lite, float(np.median(times))


def _table(site: str, result, seconds: float, lite_us: float, keras_us: float) -> None:
    rows = [r for r in result.rows if r.target == "ghi"]
    seasons = sorted({r.season for r in rows} - {"all"})
    horizons = sorted({r.horizon_min for r in rows})
    print(f"\n{site}: GHI skill vs smart persistence (daytime hold-out; +/- day-block "
          "bootstrap SE, n per cell)")
    print(f"{'horizon':>8} {'all':>20}" + "".join(f"{s:>20}" for s in seasons)
          + f"{'vs CLIPER':>17}{'cover':>7}")
    for h in horizons:
        cells = {r.season: r for r in rows if r.horizon_min == h}
        line = f"{h:>5} min"
        for s in ["all", *seasons]:
            r = cells.get(s)
            line += (f"{r.skill_vs_smart_persistence:>+8.3f}"
                     f"+/-{r.skill_se_vs_smart_persistence:.3f} ({r.n:>4})" if r else f"{'-':>20}")
        a = cells["all"]
        print(line + f"{a.skill_vs_cliper:>+11.3f}+/-{a.skill_se_vs_cliper:.3f}"
              f"{a.coverage_p10_p90:>7.2f}")
    pv = {r.horizon_min: r.skill_vs_smart_persistence for r in result.rows
          if r.target == "pv_power" and r.season == "all"}
    print("PV power skill (all): " + ", ".join(f"{h} min {s:+.3f}" for h, s in sorted(pv.items())))
    i8 = result.int8
    print(f"int8 vs float32 RMSE: {100 * i8.rmse_increase:+.2f} % "
          f"(rails {100 * i8.rail_share:.3f} %); model {len(result.model_bytes)} bytes; "
          f"fit+quantize+validate {seconds:.1f} s; blessed={result.blessed}")
    print(f"latency: set_tensor+invoke+get_tensor {lite_us:.1f} us, Keras call {keras_us:.0f} us,"
          f" ratio Keras/TFLite {keras_us / lite_us:.0f}x")
    for c in result.gate.failures:
        print(f"  gate FAIL: {c.name}: {c.detail}")


def main() -> None:
    """Run the benchmark on both TMY3 files and print the tables."""
    from trainer.config import load_train_config
    from trainer.fit import fit

    cfg = load_train_config(CONFIG)
    for site, name in FILES.items():
        path = _pvlib_data(name)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            result = fit(cfg, out_dir=Path(tmp) / "bundle", data=str(path), fmt="tmy3",
                         force=True)
            seconds = time.perf_counter() - t
        lite_us, keras_us = _latency(result)
        _table(site, result, seconds, lite_us, keras_us)


if __name__ == "__main__":
    main()
