"""``helio-monitor report``: an HTML (or PNG) report of one site."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trainer.monitor.report import write_report
from trainer.monitor.store import Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-monitor report``."""
    parser.add_argument("--store", default="helio-monitor.sqlite", help="SQLite database file")
    parser.add_argument("--site", required=True, help="site id")
    parser.add_argument("--out", required=True, help="FILE.html (page) or FILE.png (figure)")
    parser.add_argument("--days", type=float, default=7.0, help="window of the plots [days]")


def run(args: argparse.Namespace) -> int:
    """Write the report; exit 1 when the site has no data."""
    if not Path(args.store).exists():
        sys.stderr.write(f"no store at {args.store}\n")
        return 1
    store = Store(args.store)
    try:
        if store.reading_span(args.site)[1] is None:
            sys.stderr.write(f"no data for site {args.site!r}\n")
            return 1
        path = write_report(store, args.site, args.out, days=args.days)
    finally:
        store.close()
    sys.stdout.write(f"wrote {path}\n")
    return 0
