"""``helio-train simulate-year``: the device's planner over a simulated year, scored.

Runs the shipped int8 bundle and the device's planner (the same code as the
agent, fed only simulated measurements) over the project's sky, plant,
battery and household-load models at 15-min steps, and prints the
plan-accuracy report (:mod:`trainer.yearsim.report`) as a table or JSON.
With ``--weather FILE --format FMT`` the truth's irradiance and air
temperature come from a weather file instead of the sky model, and the plant
(the site file's array, battery, inverter and load) sits at the file's
location (:mod:`trainer.yearsim.weather`).
"""

# ruff: noqa: T201  (a command module: printing is its job)

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.simulation.grid import GridConfig

REPO = Path(__file__).resolve().parents[2]

_OUT_OF_CLIMATE = ("bundle {bundle} was trained on Abuja: at this site its forecasts are out "
                   "of their training climate (the plan still runs; the day-ahead PV "
                   "climatology is the site's own measured history)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-train simulate-year``."""
    parser.add_argument("--site", type=Path, default=REPO / "configs/sites/abuja.toml",
                        help="site file (default: the repository's Abuja site)")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2025, 1, 1),
                        help="first UTC day, YYYY-MM-DD (default: %(default)s)")
    parser.add_argument("--days", type=int, default=365, help="days to simulate (default: 365)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the weather, load, grid and plan scenarios (default: 0)")
    parser.add_argument("--policy", default="none",
                        help="control policy acting on each plan (default and only: none)")
    parser.add_argument("--grid", choices=("none", "abuja"), default="none",
                        help="grid of a hybrid site: none (off-grid, default) or abuja "
                        "(13.9 h/day supply, 11 h mean outages)")
    parser.add_argument("--grid-hours", type=float,
                        help="hours of grid supply per day (implies a grid)")
    parser.add_argument("--outage-hours", type=float,
                        help="mean outage length [h] (implies a grid)")
    parser.add_argument("--bundle", type=Path, default=REPO / "edge/data/bundles/abuja",
                        help="bundle the device runs (default: the shipped Abuja bundle)")
    parser.add_argument("--public-key", type=Path, default=REPO / "configs/keys/helio-default.pub",
                        help="its Ed25519 public key (default: %(default)s)")
    parser.add_argument("--weather", type=Path,
                        help="weather file for the truth's sky (irradiance, air temperature); "
                        "the plant moves to the file's location")
    parser.add_argument("--format", default="tmy3",
                        help="format of --weather, any trainer.data reader "
                        "(tmy3, tmy2, epw, csv, ...; default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _grid(args: argparse.Namespace) -> GridConfig | None:
    from edge.simulation.grid import ABUJA_GRID, GridConfig  # noqa: PLC0415

    if args.grid == "none" and args.grid_hours is None and args.outage_hours is None:
        return None
    return GridConfig(
        supply_hours=ABUJA_GRID.supply_hours if args.grid_hours is None else args.grid_hours,
        mean_outage_hours=(ABUJA_GRID.mean_outage_hours if args.outage_hours is None
                           else args.outage_hours),
        shape=ABUJA_GRID.shape,
    )


def run(args: argparse.Namespace) -> int:
    """Simulate, score, print; 2 on bad input."""
    from edge.forecasting.bundle import BundleError  # noqa: PLC0415
    from edge.forecasting.site import load_site  # noqa: PLC0415
    from firmware_bridge.config import ConfigError  # noqa: PLC0415
    from trainer.data import DataError  # noqa: PLC0415
    from trainer.yearsim.policy import make_policy  # noqa: PLC0415
    from trainer.yearsim.report import format_table, score, to_json  # noqa: PLC0415
    from trainer.yearsim.runner import load_holder  # noqa: PLC0415
    from trainer.yearsim.runner import run as simulate  # noqa: PLC0415
    from trainer.yearsim.weather import load_file_weather  # noqa: PLC0415

    try:
        if args.days < 2:
            raise ValueError("--days must be at least 2 (the naive plan needs yesterday)")
        site = load_site(args.site)
        policy = make_policy(args.policy)
        grid = _grid(args)
        holder = load_holder(args.bundle, args.public_key)
        start = dt.datetime.combine(args.start, dt.time(), tzinfo=dt.UTC)
        file_weather = None
        if args.weather is not None:
            file_weather = load_file_weather(args.weather, args.format, site, start=start,
                                             days=args.days)
            site = file_weather.site
    except (ConfigError, BundleError, DataError, OSError, ValueError) as exc:
        print(f"helio-train simulate-year: {exc}", file=sys.stderr)
        return 2

    def progress(done: int, total: int) -> None:
        if not args.json and done % (96 * 30) == 0:
            print(f"  ... day {done // 96} of {total // 96}", file=sys.stderr)

    rec = simulate(site, holder, start=start, days=args.days, seed=args.seed, policy=policy,
                   grid=grid, progress=progress,
                   weather=None if file_weather is None else file_weather.frame)
    report = score(rec)
    report["site"] = site.site.id
    report["seed"] = args.seed
    report["policy"] = policy.name
    report["grid"] = None if grid is None else {"supply_hours": grid.supply_hours,
                                                 "mean_outage_hours": grid.mean_outage_hours}
    report["bundle"] = holder.version
    report["weather"] = None if file_weather is None else {
        "file": str(file_weather.path), "format": args.format, "station": file_weather.name,
        "latitude": site.site.latitude, "longitude": site.site.longitude,
        "altitude": site.site.altitude, "timezone": site.site.timezone,
        "note": _OUT_OF_CLIMATE.format(bundle=holder.version),
    }
    if args.json:
        print(to_json(report))
    else:
        head = (f"helio-train simulate-year: {site.site.id}, {args.start} + {args.days} d, "
                f"seed {args.seed}, policy {policy.name}, "
                f"{'off-grid' if grid is None else f'grid {grid.supply_hours} h/d'}, "
                f"bundle {holder.version}")
        if file_weather is not None:
            head += (f"\n  weather: {file_weather.path.name} ({args.format}, "
                     f"{file_weather.name}); the plant sits at the file's location "
                     f"{site.site.latitude:.2f}, {site.site.longitude:.2f}, "
                     f"{site.site.altitude:.0f} m ({site.site.timezone}) with the site file's "
                     f"array, battery, inverter and load"
                     f"\n  note: {_OUT_OF_CLIMATE.format(bundle=holder.version)}")
        print(format_table(head, report))
    return 0
