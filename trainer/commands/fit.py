"""``helio-train fit``: train, quantize, validate and write a signed bundle."""

# ruff: noqa: T201  (a command module: printing is its job)

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from firmware_bridge.config import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-train fit``."""
    parser.add_argument("--config", help="training config (configs/train/*.toml); without it "
                        "the shipped default, with step and horizons taken from --data")
    parser.add_argument("--site", help="site file for the PV array (and the location when the "
                        "data has none), with the default config; default configs/sites/abuja.toml")
    parser.add_argument("--data", help="weather file; without it, synthetic data for the site")
    parser.add_argument("--format", dest="fmt", help="reader name: tmy3, epw, bsrn, csv, ...")
    parser.add_argument("--split-date", help="YYYY-MM-DD: train before it, hold out from it on")
    parser.add_argument("--out", required=True, help="bundle directory to write")
    parser.add_argument("--force", action="store_true",
                        help="write the bundle even if the gate fails (marked unblessed)")
    parser.add_argument("--key", help="Ed25519 private key to sign with "
                        "(default ~/.config/helio-edge/signing.key if it exists)")


def _key(arg: str | None) -> str | None:
    from trainer.bundle_signing import DEFAULT_KEY_DIR, PRIVATE_NAME  # noqa: PLC0415

    if arg:
        return arg
    default = (DEFAULT_KEY_DIR / PRIVATE_NAME).expanduser()
    return str(default) if default.exists() else None


def _report(result: object) -> None:
    from trainer.fit import FitResult  # noqa: PLC0415

    assert isinstance(result, FitResult)
    for check in result.gate.checks:
        if not check.passed:
            print(f"  FAIL  {check.name}: {check.detail}", file=sys.stderr)
    outside = {k: v for k, v in result.feature_ranges.items() if v > 0}
    if outside:
        print("hold-out rows outside the training range: " + ", ".join(
            f"{k} {100 * v:.1f} %" for k, v in sorted(outside.items(), key=lambda kv: -kv[1])))
    else:
        print("hold-out rows outside the training range: none, for every feature")
    for h, sel in result.manifest.get("selection", {}).get("horizons", {}).items():
        w = sel["weights"]
        print(f"{h} min: smart persistence {w['smart_persistence']:.1f}, linear "
              f"{w['linear']:.1f}, network {w['network']:.1f} (chosen on the validation split)")
    print(f"gate: {sum(c.passed for c in result.gate.checks)}/{len(result.gate.checks)} "
          f"checks passed; int8 vs float32 RMSE {100 * result.int8.rmse_increase:+.2f} %, "
          f"model {len(result.model_bytes)} bytes")


def run(args: argparse.Namespace) -> int:
    """Run the pipeline; exit 1 when the gate fails (even with ``--force``), 2 on bad input."""
    from trainer.bundle_signing import SigningError, load_private_key  # noqa: PLC0415
    from trainer.config import DEFAULT_CONFIG, load_train_config  # noqa: PLC0415
    from trainer.data import DataError  # noqa: PLC0415
    from trainer.fit import fit  # noqa: PLC0415

    start = time.monotonic()

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - start:6.1f} s] {msg}", file=sys.stderr, flush=True)

    key = _key(args.key)
    try:
        if args.config is None and not args.data:
            raise DataError("give --config, or --data with --format to use the default config")
        cfg = load_train_config(args.config or DEFAULT_CONFIG)
        if args.config is None and args.site:
            cfg = dataclasses.replace(cfg, site=str(Path(args.site).resolve()))
            object.__setattr__(cfg, "base_dir", str(DEFAULT_CONFIG.parent))
        if key is not None:
            load_private_key(key)
        if args.data and not args.fmt:
            raise DataError("--data needs --format (tmy3, epw, csv, ...)")
        result = fit(cfg, out_dir=args.out, data=args.data, fmt=args.fmt,
                     split_date=args.split_date, force=args.force, key_path=key,
                     progress=progress, adapt=args.config is None)
    except (ConfigError, DataError, SigningError, ValueError) as exc:
        print(f"helio-train fit: {exc}", file=sys.stderr)
        return 2
    _report(result)
    if result.blessed:
        signed = "signed" if key else "UNSIGNED (no key: run helio-train keygen, then sign)"
        print(f"blessed bundle written to {args.out} ({signed})")
        return 0
    if args.force:
        print(f"gate FAILED; --force: UNBLESSED bundle written to {args.out}", file=sys.stderr)
    else:
        print("gate FAILED: no bundle written (use --force for an unblessed one)",
              file=sys.stderr)
    return 1
