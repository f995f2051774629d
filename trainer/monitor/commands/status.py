"""``helio-monitor status``: print the fleet table from the store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trainer.monitor.fleet import fleet_table, format_table
from trainer.monitor.store import Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-monitor status``."""
    parser.add_argument("--store", default="helio-monitor.sqlite", help="SQLite database file")
    parser.add_argument("--site", default=None, help="only this site")
    parser.add_argument("--offline-after", type=float, default=180.0, metavar="S",
                        help="heartbeat timeout before a gateway counts as silent [s]")
    parser.add_argument("--alerts", action="store_true", help="also list open alarms")


def run(args: argparse.Namespace) -> int:
    """Print the table; exit 1 if the store does not exist."""
    if not Path(args.store).exists():
        sys.stderr.write(f"no store at {args.store} (run helio-monitor run first)\n")
        return 1
    store = Store(args.store)
    try:
        rows = fleet_table(store, offline_after_s=args.offline_after, site=args.site)
        sys.stdout.write(format_table(rows) + "\n")
        if args.alerts:
            for a in store.alerts(args.site, open_only=True):
                sys.stdout.write(f"ALERT {a.level:7} {a.site}/{a.device} {a.code}:"
                                 f" {a.message}\n")
    finally:
        store.close()
    return 0
