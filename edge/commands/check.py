"""``helio-edge check --config FILE``: is this device ready to run?

Checks the config, the site, the bundle (signature, hashes, one test
prediction), each device (one reading), the outbox location, the broker
(a real MQTT connect with the configured TLS and credentials) and the
installed footprint (the size of the environment the agent runs from, its
largest packages, and whether a library that does not belong on a device
is importable: on an installed release that is a failure), and prints one
line per check, naming the files it used. On an installed release
(``/opt/helio-edge/current/venv/bin/helio-edge``) ``--config`` defaults to
the installed /etc/helio-edge/config.toml. Exit status: 0 all good, 1 a
check failed, 2 the config itself is bad (or none was given outside an
installed release). Creates nothing on disk.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.machinery
import importlib.metadata
import math
import os
import stat
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.commands._installed import installed_release
from edge.commands.run import load_checked
from edge.forecasting.bundle import BundleError
from edge.forecasting.site import Site
from edge.runtime.config import AgentConfig
from firmware_bridge.config import ConfigError

Check = tuple[bool, str]

#: Libraries the device does not need (trainer and laptop side); none should be importable there.
NOT_ON_DEVICE = ("pandas", "pvlib", "scipy", "h5py", "tensorflow")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--skip``."""
    parser.add_argument("--config", help="agent config (TOML); default on an installed "
                        "release: /etc/helio-edge/config.toml")
    parser.add_argument(
        "--skip", action="append", default=[], choices=["bundle", "devices", "broker", "footprint"],
        help="leave out a group of checks (repeatable)",
    )
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for each device and the broker")


def check_bundle(cfg: AgentConfig, site: Site) -> Check:
    """Load and verify the bundle, run one prediction on clear-sky inputs."""
    from edge.commands.run import load_holder  # noqa: PLC0415
    from edge.forecasting.engine import ForecastEngine  # noqa: PLC0415
    from edge.forecasting.predictor import runtime_name  # noqa: PLC0415

    holder = load_holder(cfg)
    engine = ForecastEngine(site, holder)
    step = holder.spec.step_seconds
    issue = int(time.time() // step * step)
    geo = engine.geometry_for(issue)
    k = geo.index(issue)
    n = holder.spec.history_steps
    result = engine.forecast(issue, geo.ghi_clear[k - n + 1: k + 1].tolist(), inputs_stale=False)
    p50 = [row[1] for row in result.quantiles["pv_power"]]
    if not all(math.isfinite(v) for v in p50):
        return False, "test prediction is not finite"
    b = holder.bundle
    return True, (
        f"{cfg.model.bundle}: {b.version} sha256 {b.sha256[:12]}… "
        f"{'blessed' if b.blessed else 'UNBLESSED'}, "
        f"runtime {runtime_name()}, step {holder.spec.step_minutes} min, "
        f"horizons {list(holder.spec.horizons_min)}"
    )


def check_device(cfg: AgentConfig, index: int, timeout: float) -> Check:
    """Open one device and wait for one reading."""
    from firmware_bridge.device import open_device  # noqa: PLC0415

    dcfg = cfg.devices[index]
    dev = open_device(dcfg)
    try:
        deadline = time.monotonic() + max(timeout, 2 * dcfg.poll_interval)
        while time.monotonic() < deadline:
            reading = dev.poll()
            if reading is not None:
                return True, f"{dcfg.protocol} on {dcfg.port}: {len(reading.values)} values"
            time.sleep(min(dcfg.poll_interval, 0.5))
        st = dev.stats
        state = "connected but no valid reading" if st.connected else "cannot open the port"
        return False, (
            f"{dcfg.protocol} on {dcfg.port}: {state} within {timeout:.0f} s "
            f"(checksum errors {st.checksum_errors}, timeouts {st.timeouts})"
        )
    finally:
        dev.close()


def check_outbox(cfg: AgentConfig) -> Check:
    """The outbox file or its directory is writable (nothing is created)."""
    path = Path(cfg.outbox_path)
    target = path if path.exists() else path.parent
    while not target.exists() and target != target.parent:
        target = target.parent
    if os.access(target, os.W_OK):
        return True, f"{path} (writable)"
    return False, f"{path}: {target} is not writable by uid {os.getuid()}"


def check_broker(cfg: AgentConfig, site_id: str, timeout: float) -> Check:
    """One MQTT connect with the configured TLS and credentials."""
    from edge.runtime.mqtt import broker_settings, make_client  # noqa: PLC0415

    b = broker_settings(cfg, site_id, client_suffix="-check")
    client = make_client(b)
    result: list[str] = []
    client.on_connect = lambda _c, _u, _f, rc, _p: result.append(str(rc))
    t0 = time.monotonic()
    try:
        client.connect(b.host, b.port, keepalive=10)
        while not result and time.monotonic() - t0 < timeout:
            client.loop(timeout=0.1)
    except (OSError, ValueError) as exc:
        return False, f"{b.host}:{b.port}: {exc}"
    finally:
        client.disconnect()
    if not result:
        return False, f"{b.host}:{b.port}: no CONNACK within {timeout:.0f} s"
    if result[0] != "Success":
        return False, f"{b.host}:{b.port}: refused: {result[0]}"
    ms = (time.monotonic() - t0) * 1000
    return True, f"{b.host}:{b.port} {'TLS ' if b.tls else ''}connected in {ms:.0f} ms"


@dataclass(frozen=True, slots=True)
class Footprint:
    """What the running interpreter's environment holds.

    Attributes
    ----------
    prefix : str
        The environment (``sys.prefix``: the venv).
    prefix_bytes : int
        Size of the files below ``prefix`` (symbolic links not followed). [bytes]
    site_dirs : tuple of str
        The package directories on the import path (``site-packages``,
        ``dist-packages``), the venv's own and those linked in by ``.pth``.
    site_bytes : int
        Size of those directories together, the venv's counted once. [bytes]
    largest : tuple of (str, int)
        The biggest installed distributions and their sizes [bytes], largest first.
    importable : tuple of str
        The names of :data:`NOT_ON_DEVICE` that this environment can import.
    """

    prefix: str
    prefix_bytes: int
    site_dirs: tuple[str, ...]
    site_bytes: int
    largest: tuple[tuple[str, int], ...]
    importable: tuple[str, ...]


def _tree_bytes(root: Path, seen: set[tuple[int, int]]) -> int:
    """Bytes of the regular files below ``root``; ``seen`` (device, inode) counts each once."""
    total = 0
    for top, _dirs, files in os.walk(root):
        for name in files:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if stat.S_ISREG(st.st_mode) and key not in seen:
                seen.add(key)
                total += st.st_size
    return total


def _dist_bytes(dist: importlib.metadata.Distribution) -> int:
    total = 0
    for f in dist.files or ():
        try:
            total += Path(str(dist.locate_file(f))).stat().st_size
        except OSError:
            continue
    return total


def footprint(path: Sequence[str] | None = None, prefix: str | None = None,
              top: int = 5) -> Footprint:
    """Measure an environment (default: this interpreter's ``sys.path`` and ``sys.prefix``)."""
    entries = list(sys.path if path is None else path)
    where = prefix if prefix is not None else sys.prefix
    prefix_seen: set[tuple[int, int]] = set()
    prefix_bytes = _tree_bytes(Path(where), prefix_seen)
    site_dirs = tuple(dict.fromkeys(
        str(Path(e).resolve()) for e in entries
        if e and Path(e).name in ("site-packages", "dist-packages") and Path(e).is_dir()))
    site_seen: set[tuple[int, int]] = set()
    site_bytes = sum(_tree_bytes(Path(d), site_seen) for d in site_dirs)
    sizes: dict[str, int] = {}
    for dist in importlib.metadata.distributions(path=list(site_dirs)):
        name = dist.metadata["Name"] or "?"
        if name not in sizes:
            sizes[name] = _dist_bytes(dist)
    largest = tuple(sorted(sizes.items(), key=lambda kv: -kv[1])[:top])
    importable = tuple(n for n in NOT_ON_DEVICE
                       if importlib.machinery.PathFinder.find_spec(n, entries) is not None)
    return Footprint(where, prefix_bytes, site_dirs, site_bytes, largest, importable)


def check_footprint(on_device: bool) -> Check:
    """The installed footprint; a library of :data:`NOT_ON_DEVICE` fails on an installed release."""
    fp = footprint()
    mb = 1e6
    largest = ", ".join(f"{n} {b / mb:.0f} MB" for n, b in fp.largest)
    text = (f"{fp.prefix} {fp.prefix_bytes / mb:.1f} MB, packages {fp.site_bytes / mb:.0f} MB"
            f" in {len(fp.site_dirs)} dir(s) (largest: {largest or 'none'}); ")
    if not fp.importable:
        return True, text + "none of " + ", ".join(NOT_ON_DEVICE) + " is importable"
    text += "importable here, not needed on a device: " + ", ".join(fp.importable)
    if on_device:
        return False, text
    return True, text + " (not an installed release: not counted)"


def _run_check(name: str, fn: Callable[[], Check], out: list[tuple[str, bool, str]]) -> None:
    try:
        ok, detail = fn()
    except (BundleError, OSError, ValueError, KeyError, RuntimeError) as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    out.append((name, ok, detail))


def run(args: argparse.Namespace) -> int:
    """Print the report; 0 when everything passed."""
    config, origin = args.config, ""
    if config is None:
        installed = installed_release()
        if installed is None:
            sys.stderr.write("helio-edge check: --config FILE is needed: this is not an installed "
                             "release (/opt/helio-edge/current/venv/bin/helio-edge), whose "
                             "/etc/helio-edge/config.toml it would default to\n")
            return 2
        config, origin = str(installed.config), f" (installed release {installed.release_id})"
    try:
        cfg, site = load_checked(config)
    except ConfigError as exc:
        sys.stderr.write(f"helio-edge: config error: {exc}\n")
        return 2
    results: list[tuple[str, bool, str]] = [
        ("config", True, str(Path(config).resolve()) + origin),
        ("site", True, f"{cfg.agent.site}: {site.site.id} ({site.site.latitude}, "
                       f"{site.site.longitude}), {site.array.dc_capacity:.0f} Wp"),
    ]
    if "bundle" not in args.skip:
        _run_check("bundle", lambda: check_bundle(cfg, site), results)
    if "devices" not in args.skip:
        for i, d in enumerate(cfg.devices):
            _run_check(f"device {d.id}", functools.partial(check_device, cfg, i, args.timeout),
                       results)
    _run_check("outbox", lambda: check_outbox(cfg), results)
    if "footprint" not in args.skip:
        on_device = installed_release() is not None
        _run_check("footprint", lambda: check_footprint(on_device), results)
    if "broker" not in args.skip:
        _run_check("broker", lambda: check_broker(cfg, site.site.id, args.timeout), results)
    width = max(len(name) for name, _, _ in results)
    for name, ok, detail in results:
        sys.stdout.write(f"{name:<{width}}  {'OK  ' if ok else 'FAIL'}  {detail}\n")
    failed = [name for name, ok, _ in results if not ok]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    names = ": " + ", ".join(failed) if failed else ""
    sys.stdout.write(f"{stamp}: {len(failed)} problem(s){names}\n")
    return 1 if failed else 0
