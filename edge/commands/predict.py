"""``helio-edge predict --at TIME [--bundle DIR] [--history CSV]``: one forecast as JSON.

For debugging a bundle, on the device or off it. On an installed release
(``/opt/helio-edge/current/venv/bin/helio-edge``) the site, bundle and public
key default to the installed ones (/etc/helio-edge/site.toml,
/var/lib/helio-edge/bundle, /etc/helio-edge/keys/), from any directory; in a
source checkout the site defaults to the repository's Abuja site and
``--bundle`` is needed. The files used are named on stderr. The issue time is ``--at`` rounded
down to the bundle's step. History comes from a CSV of recent
measurements (``timestamp`` in UTC plus ``ghi`` [W/m²] or ``pv_power`` [W];
averaged per period ``(t - step, t]``), or, without one, from clear-sky
irradiance (a clear-sky index of 1).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import sys
from pathlib import Path

from edge.commands._installed import InstalledRelease, installed_release
from edge.forecasting.bundle import BundleError, load_bundle
from edge.forecasting.engine import ForecastEngine, ModelHolder
from edge.forecasting.predictor import Predictor
from edge.forecasting.site import load_site
from edge.runtime.contract import Topics
from edge.runtime.messages import forecast_message
from edge.runtime.window import ReadingWindow
from firmware_bridge.config import ConfigError
from firmware_bridge.timestamps import parse_utc

#: Looked for when --public-key is not given: next to the bundle, then the
#: repository's default key (``make model`` writes it).
KEY_CANDIDATES = (
    "{bundle}.pub",
    "{bundle}/../signing.pub",
    "{repo}/configs/keys/helio-default.pub",
)
REPO = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options."""
    parser.add_argument("--bundle", help="bundle directory or .tar.gz (default on an installed "
                        "release: /var/lib/helio-edge/bundle)")
    parser.add_argument("--at", required=True,
                        help="issue time, ISO 8601 (UTC unless an offset is given)")
    parser.add_argument("--history", help="CSV: timestamp, ghi [W/m2] or pv_power [W]")
    parser.add_argument("--site", help="site file (default: /etc/helio-edge/site.toml on an "
                        "installed release, else the checkout's configs/sites/abuja.toml)")
    parser.add_argument("--public-key", help="Ed25519 public key (PEM) the bundle is signed with")
    parser.add_argument("--allow-unblessed", action="store_true",
                        help="accept a bundle that failed the validation gate")


def parse_time(text: str) -> dt.datetime:
    """ISO 8601 -> aware UTC datetime (naive means UTC)."""
    return parse_utc(text, naive_is_utc=True)


def find_key(bundle: str, given: str | None, installed: InstalledRelease | None = None) -> str:
    """The public key to verify with (on an installed release: the installed one)."""
    if given:
        return given
    if installed is not None:
        keys = installed.public_keys()
        if len(keys) == 1:
            return str(keys[0])
        if keys:
            raise BundleError(f"{len(keys)} public keys in {keys[0].parent}; pass --public-key")
    for pattern in KEY_CANDIDATES:
        p = Path(pattern.format(bundle=str(bundle).rstrip("/"), repo=REPO))
        if p.is_file():
            return str(p)
    raise BundleError(f"no public key found next to {bundle}; pass --public-key")


def read_history(path: str, step_s: int) -> tuple[str, ReadingWindow]:
    """Period means of the CSV's ``ghi`` (preferred) or ``pv_power`` column."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or ())
        if "timestamp" not in cols or not cols & {"ghi", "pv_power"}:
            raise ValueError(f"{path}: need columns timestamp and ghi or pv_power, got "
                             f"{sorted(cols)}")
        name = "ghi" if "ghi" in cols else "pv_power"
        window = ReadingWindow(step_s, 10**6)
        for i, row in enumerate(reader, start=2):
            try:
                ts, value = parse_time(row["timestamp"]), float(row[name])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}: line {i}: {exc}") from None
            window.add("csv", ts, {name: value})
    return name, window


def default_inputs(args: argparse.Namespace) -> tuple[str, str, str, str]:
    """Site, bundle and key files to use, and where they came from.

    Raises
    ------
    ConfigError
        No ``--bundle`` outside an installed release.
    BundleError
        No public key to be found.
    """
    installed = installed_release()
    if installed is not None:
        origin = f"installed release {installed.release_id}"
        site = args.site or str(installed.site)
        bundle = args.bundle or str(installed.bundle)
    else:
        origin = "source checkout"
        site = args.site or str(REPO / "configs/sites/abuja.toml")
        if not args.bundle:
            raise ConfigError("--bundle", "", "not given, and this is not an installed release "
                              "(/opt/helio-edge/current/venv/bin/helio-edge) whose bundle it "
                              "could default to")
        bundle = args.bundle
    return site, bundle, find_key(bundle, args.public_key, installed), origin


def run(args: argparse.Namespace) -> int:
    """Print one forecast (the MQTT payload without ``seq``)."""
    try:
        site_file, bundle, key, origin = default_inputs(args)
        sys.stderr.write(f"helio-edge predict: site {site_file}, bundle {bundle}, "
                         f"public key {key} ({origin})\n")
        site = load_site(site_file, require_linke_turbidity=True)
        at = parse_time(args.at)
        holder = ModelHolder(
            lambda: load_bundle(bundle, key, allow_unblessed=args.allow_unblessed),
            Predictor,
        )
        spec = holder.spec
        issue = int(at.timestamp() // spec.step_seconds * spec.step_seconds)
        engine = ForecastEngine(site, holder)
        geo = engine.geometry_for(issue)
        k, n = geo.index(issue), spec.history_steps
        ends = [issue - (n - 1 - i) * spec.step_seconds for i in range(n)]
        if args.history:
            name, window = read_history(args.history, spec.step_seconds)
            values = [window.mean("csv", name, e) for e in ends]
            ghi = values if name == "ghi" else engine.ghi_history(issue, values, [False] * n)
        else:
            ghi = geo.ghi_clear[k - n + 1: k + 1].tolist()
        stale = not math.isfinite(ghi[-1])
        result = engine.forecast(issue, ghi, inputs_stale=stale)
    except (ConfigError, BundleError, ValueError, OSError, RuntimeError) as exc:
        sys.stderr.write(f"helio-edge predict: {exc}\n")
        return 2 if isinstance(exc, ConfigError) else 1
    msg = forecast_message(
        Topics(site.site.id), result, issue_time=result.issue_time,
        step_minutes=spec.step_minutes, model_version=holder.version,
        model_sha256=holder.sha256, inputs_stale=result.inputs_stale,
    )
    body = dict(msg.body)
    body["history_ghi"] = [None if not math.isfinite(v) else round(v, 1) for v in ghi]
    sys.stdout.write(json.dumps(body, indent=2) + "\n")
    return 0
