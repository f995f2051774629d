"""Trainer benchmark: chronological hold-outs on real and synthetic data, beside their targets.

Data sets, each scored on a hold-out LATER than everything the model trained on:

* Greensboro NC (pvlib ``723170TYA.CSV``, TMY3) and Sand Point AK
  (``703165TY.csv``, TMY3): train January..September, score October..December
  (``--split-date 1990-10-01``), no config (the shipped default, as a new user
  runs ``helio-train fit --data FILE --format tmy3 --split-date 1990-10-01``).
* Miami FL (``12839.tm2``, TMY2): the same split in the file's year, no config.
* synthetic Abuja at 15 min with ``configs/train/abuja.toml``: two years,
  train on the first, score the second.

For each, per horizon on the daytime hold-out (GHI): the smart-persistence RMSE,
the skill against smart persistence of CLIPER (fitted on the training rows),
of the regularised linear model (ridge on the same features, fitted on the
fitting rows) and of the bundle (int8, through the edge interpreter), the
bundle's P10-P90 coverage and the blend chosen on the validation split; then
int8 against float32, the gate verdict and wall time. Finally the latency of
one edge prediction. The targets are printed beside, not asserted.
"""

# ruff: noqa: PLC0415  (TensorFlow-heavy modules are imported inside main)

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SPLIT_MONTH_DAY = "10-01"


def _pvlib_data(name: str) -> Path:
    import pvlib

    return Path(pvlib.__file__).parent / "data" / name


def _cases() -> list[dict[str, Any]]:
    return [
        {"name": "Greensboro NC, 723170TYA.CSV (TMY3), Jan-Sep / Oct-Dec", "data": "723170TYA.CSV",
         "fmt": "tmy3", "tmy3": True},
        {"name": "Sand Point AK, 703165TY.csv (TMY3), Jan-Sep / Oct-Dec", "data": "703165TY.csv",
         "fmt": "tmy3", "tmy3": True},
        {"name": "Miami FL, 12839.tm2 (TMY2), Jan-Sep / Oct-Dec", "data": "12839.tm2",
         "fmt": "tmy2", "tmy3": False},
        {"name": "synthetic Abuja, 15 min, 2025 / 2026", "data": None, "fmt": None,
         "tmy3": False},
    ]


def _split_date(path: Path, fmt: str) -> str:
    from trainer.data import read_weather

    frame, _ = read_weather(path, fmt)
    return f"{frame.index[0].year}-{SPLIT_MONTH_DAY}"


def _run(case: dict[str, Any], tmp: Path) -> tuple[Any, float, str]:
    from trainer.config import DEFAULT_CONFIG, load_train_config
    from trainer.fit import fit

    t = time.perf_counter()
    if case["data"] is None:
        cfg = load_train_config(REPO / "configs" / "train" / "abuja.toml")
        split = "2026-01-01"  # synthetic_start 2025-01-01, 730 days
        result = fit(cfg, out_dir=tmp / "b", split_date=split, force=True)
    else:
        path = _pvlib_data(case["data"])
        split = _split_date(path, case["fmt"])
        result = fit(load_train_config(DEFAULT_CONFIG), out_dir=tmp / "b", data=str(path),
                     fmt=case["fmt"], split_date=split, force=True, adapt=True)
    return result, time.perf_counter() - t, split


def _table(case: dict[str, Any], result: Any, seconds: float, split: str) -> list[str]:
    misses = []
    rows = {r.horizon_min: r for r in result.rows if r.target == "ghi" and r.season == "all"}
    sel = result.manifest["selection"]["horizons"]
    print(f"\n{case['name']} (hold-out from {split}; daytime GHI; skills vs smart persistence)")
    print(f"{'horizon':>8} {'n':>6} {'SP RMSE':>8} {'CLIPER':>8} {'linear':>8} {'bundle':>8}"
          f" {'+/-SE':>6} {'cover':>6}  blend SP/lin/net")
    for h, r in sorted(rows.items()):
        s = r.skill_vs_smart_persistence
        sp_rmse = r.rmse / (1.0 - s) if s < 1 else float("nan")
        cl = 1.0 - (1.0 - s) / (1.0 - r.skill_vs_cliper)
        lin = r.linear_skill_vs_smart_persistence
        w = sel[str(h)]["weights"]
        print(f"{h:>5} min {r.n:>6} {sp_rmse:>8.1f} {cl:>+8.3f} {lin:>+8.3f} {s:>+8.3f}"
              f" {r.skill_se_vs_smart_persistence:>6.3f} {r.coverage_p10_p90:>6.3f}  "
              f"{w['smart_persistence']:.1f}/{w['linear']:.1f}/{w['network']:.1f}")
        if s < 0:
            misses.append(f"{h} min skill {s:+.3f} < 0")
        if s < lin - 0.01:
            misses.append(f"{h} min skill {s:+.3f} < linear {lin:+.3f} - 0.01")
        if not 0.75 <= r.coverage_p10_p90 <= 0.85:
            misses.append(f"{h} min coverage {r.coverage_p10_p90:.3f} outside 0.75-0.85")
        if case["tmy3"] and h == 60 and s < 0.05:
            misses.append(f"60 min skill {s:+.3f} < 0.05 (TMY3 target)")
        if case["tmy3"] and h == 180 and s < 0.15:
            misses.append(f"180 min skill {s:+.3f} < 0.15 (TMY3 target)")
    i8 = result.int8
    print(f"int8 vs float32 (edge interpreter): P50 clear-sky-index RMSE {i8.rmse_int8:.4f} vs "
          f"{i8.rmse_float:.4f} ({100 * i8.rmse_increase:+.2f} %), max |diff| "
          f"{i8.max_abs_diff:.3f}, rails {100 * i8.rail_share:.3f} %; model "
          f"{len(result.model_bytes)} bytes; {seconds:.0f} s; blessed={result.blessed}")
    outside = {k: v for k, v in result.feature_ranges.items() if v > 0}
    print("hold-out rows outside the training range: "
          + (", ".join(f"{k} {100 * v:.1f} %" for k, v in outside.items()) or "none"))
    for c in result.gate.failures:
        print(f"  gate FAIL: {c.name}: {c.detail}")
    print("targets missed: " + ("; ".join(misses) if misses else "none"))
    return misses


def _latency(result: Any) -> float:
    """Median microseconds of one edge prediction (quantise, invoke, dequantise, sort)."""
    from edge.forecasting.predictor import Predictor

    p = Predictor(result.bundle)
    x = np.zeros(p.n_features, dtype=np.float32)
    out = np.empty(3 * p.n_horizons, dtype=np.float32)
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(2000):
            p.predict(x, out=out)
        runs.append((time.perf_counter() - t) / 2000 * 1e6)
    return float(np.median(runs))


def main() -> None:
    """Fit and score every case; print the tables and the targets missed."""
    total = 0
    result = None
    for case in _cases():
        with tempfile.TemporaryDirectory() as tmp:
            result, seconds, split = _run(case, Path(tmp))
        total += len(_table(case, result, seconds, split))
    if result is not None:
        print(f"\nedge predict (int8, 1 thread): {_latency(result):.1f} us per call")
    print(f"targets missed in total: {total}")


if __name__ == "__main__":
    main()
