"""``helio-train synth``: write synthetic site weather and PV power as CSV."""

# ruff: noqa: T201  (a command module: printing is its job)

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pandas as pd


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-train synth``."""
    parser.add_argument("--site", type=Path, default=Path("configs/sites/abuja.toml"),
                        help="site file (default: %(default)s)")
    parser.add_argument("--start", required=True, type=dt.date.fromisoformat,
                        help="first UTC day, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=1, help="number of days (default: 1)")
    parser.add_argument("--step", default="1min",
                        help="time step, e.g. 1min, 15min, 1h (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="cloud process seed (default: 0)")
    parser.add_argument("--out", required=True,
                        help="output CSV ('-' for stdout); readable with --format csv")


def _step_minutes(text: str) -> int:
    try:
        step = pd.Timedelta(text if not text.isdigit() else f"{text}min")
    except ValueError as exc:
        raise ValueError(f"bad --step {text!r}: {exc}") from None
    minutes, rest = divmod(step.total_seconds(), 60)
    if rest or minutes < 1:
        raise ValueError(f"--step {text!r} must be a whole number of minutes")
    return int(minutes)


def run(args: argparse.Namespace) -> int:
    """Generate, write, and print a one-line summary."""
    from edge.forecasting.site import load_site  # noqa: PLC0415
    from firmware_bridge.config import ConfigError  # noqa: PLC0415
    from trainer.synth import synthesize  # noqa: PLC0415

    try:
        site = load_site(args.site)
        step = _step_minutes(args.step)
        frame = synthesize(site, args.start, args.days, step_minutes=step, seed=args.seed)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"helio-train synth: {exc}", file=sys.stderr)
        return 2
    text = frame.to_csv(float_format="%.2f", date_format="%Y-%m-%dT%H:%M:%SZ")
    if args.out == "-":
        sys.stdout.write(text)
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    hours = step / 60.0
    energy = frame["pv_power"].sum() * hours / 1000.0 / args.days
    irr = frame["ghi"].sum() * hours / 1000.0 / args.days
    print(f"synth: {len(frame)} rows of {step} min for {site.site.id} from {args.start} "
          f"(seed {args.seed}) -> {args.out}; mean GHI {irr:.2f} kWh/m2/day, "
          f"PV {energy:.2f} kWh/day", file=sys.stderr if args.out == "-" else sys.stdout)
    return 0
