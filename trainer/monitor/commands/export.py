"""``helio-monitor export``: a site's telemetry as CSV for ``helio-train fit --format helio``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from trainer.monitor.export import write_helio_csv
from trainer.monitor.store import Store


def _epoch(text: str) -> float:
    ts = pd.Timestamp(text)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return float(ts.timestamp())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-monitor export``."""
    parser.add_argument("--store", default="helio-monitor.sqlite", help="SQLite database file")
    parser.add_argument("--site", required=True, help="site id")
    parser.add_argument("--since", required=True, help="start, ISO date/time (UTC if no zone)")
    parser.add_argument("--until", default=None, help="end (default: the newest reading)")
    parser.add_argument("--interval", type=float, default=60.0, metavar="S",
                        help="averaging interval [s]")
    parser.add_argument("--out", required=True, help="CSV file to write")


def run(args: argparse.Namespace) -> int:
    """Write the file; exit 1 when there is nothing to export."""
    if not Path(args.store).exists():
        sys.stderr.write(f"no store at {args.store}" + "\n")
        return 1
    try:
        since = _epoch(args.since)
        until = _epoch(args.until) if args.until else float("inf")
    except ValueError as exc:
        sys.stderr.write(f"bad date: {exc}" + "\n")
        return 2
    store = Store(args.store)
    try:
        n = write_helio_csv(store, args.site, args.out, since=since, until=until,
                            interval_s=args.interval)
    finally:
        store.close()
    if n == 0:
        sys.stderr.write(f"no readings for site {args.site!r} in that window" + "\n")
        return 1
    sys.stdout.write(f"wrote {n} rows to {args.out}" + "\n")
    return 0
