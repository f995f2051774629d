"""``helio-train evaluate``: score a bundle on any data."""

# ruff: noqa: T201  (a command module: printing is its job)

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from firmware_bridge.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ("target", "horizon_min", "n", "rmse", "mae", "mbe", "skill_vs_smart_persistence")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-train evaluate``."""
    parser.add_argument("--bundle", required=True, help="bundle directory or .tar.gz")
    parser.add_argument("--data", required=True, help="weather or telemetry file")
    parser.add_argument("--format", dest="fmt", required=True, help="tmy3, epw, csv, helio, ...")
    parser.add_argument("--since", help="score issue times from this date (YYYY-MM-DD) on")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.add_argument("--site", default=str(REPO / "configs" / "sites" / "abuja.toml"),
                        help="site file: PV array, and location when the data has none")
    parser.add_argument("--public-key", help="trusted public key (default: "
                        "~/.config/helio-edge/signing.pub, else configs/keys/helio-default.pub)")


def _public_key(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    mine = Path("~/.config/helio-edge/signing.pub").expanduser()
    return mine if mine.exists() else REPO / "configs" / "keys" / "helio-default.pub"


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def run(args: argparse.Namespace) -> int:
    """Print the metrics of the bundle on the data (daytime, all seasons and per season)."""
    from edge.forecasting.bundle import BundleError  # noqa: PLC0415
    from edge.forecasting.site import load_site  # noqa: PLC0415
    from trainer.bundle import open_for_scoring  # noqa: PLC0415
    from trainer.data import DataError  # noqa: PLC0415
    from trainer.evaluation import evaluate_bundle  # noqa: PLC0415

    try:
        key = _public_key(args.public_key)
        bundle, notes = open_for_scoring(args.bundle, key if key.exists() else None)
        rows = evaluate_bundle(bundle, load_site(args.site), args.data, args.fmt, args.since)
    except (BundleError, ConfigError, DataError, ValueError) as exc:
        print(f"helio-train evaluate: {exc}", file=sys.stderr)
        return 2
    dicts = [r.to_dict() for r in rows]
    if args.json:
        out = {"bundle": str(args.bundle), "model_version": bundle.version,
               "sha256": bundle.sha256, "data": str(args.data), "since": args.since,
               "blessed": bool(bundle.manifest.get("blessed", False)), "notes": notes,
               "metrics": dicts}
        print(json.dumps(out, indent=2))
        return 0
    print(f"model {bundle.version} ({bundle.sha256[:12]}) on {args.data}, daytime rows")
    for note in notes:
        print(f"NOTE: {note}")
    if not args.since:
        print("NOTE: no --since: every row is scored, including any the model trained on; "
              "give the training split date for a chronological hold-out score")
    header = (*COLUMNS, "season")
    print("  ".join(f"{h:>12}" for h in header))
    for d in dicts:
        print("  ".join(f"{_fmt(d[c]):>12}" for c in header))
    return 0
