"""``helio-edge deploy``: build a release and ship it to a device over SSH.

See docs/deploy.md. ``make deploy-to-device DEVICE=pi@host`` calls this.
Exit status: 0 deployed (or already deployed, or a dry run); 1 the deploy
failed or was rolled back (the device runs the previous release, or is
unchanged); 2 bad input (missing key, config, bundle, credentials).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edge.deploy.build import (
    ARCHES,
    BuildError,
    Target,
    build_wheel,
    build_wheelhouse,
    default_cache_dir,
    wheel_requirements,
    wheel_version,
)
from edge.deploy.orchestrate import DeployError, DeployOptions, DeployResult, deploy
from edge.deploy.release import DeviceLayout, Release, ReleaseInputs, stage_release
from edge.deploy.remote import Remote, SshTarget
from edge.forecasting.bundle import BundleError
from firmware_bridge.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = "configs/edge/abuja.toml"
DEFAULT_UNIT = "configs/systemd/helio-edge.service"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-edge deploy``."""
    g = parser.add_argument_group("what to deploy")
    g.add_argument("--device", required=True, metavar="USER@HOST", help="the Pi, as for ssh")
    g.add_argument("--site", type=Path, help="site file (default: the one the config names)")
    g.add_argument("--config", type=Path, default=None,
                   help="agent config template (default configs/edge/<site name>.toml, "
                   f"else {DEFAULT_CONFIG})")
    g.add_argument("--bundle", type=Path, help="model bundle dir or .tar.gz (default: config's)")
    g.add_argument("--public-key", type=Path, help="bundle signing public key (default: config's)")
    g.add_argument("--credentials", type=Path,
                   help="TOML file with this device's MQTT username and password")
    g.add_argument("--unit", type=Path, default=REPO / DEFAULT_UNIT, help="systemd unit file")
    g.add_argument("--source", type=Path, default=REPO, help="project tree to build the wheel from")
    g.add_argument("--wheel", type=Path, help="deploy this wheel instead of building one")
    b = parser.add_argument_group("wheelhouse (offline install)")
    b.add_argument("--arch", choices=ARCHES, default="aarch64",
                   help="device architecture: aarch64 (64-bit Pi OS), armv7l (32-bit)")
    b.add_argument("--native", dest="arch", action="store_const", const="native",
                   help="wheelhouse for this machine's platform (tests, x86 gateways)")
    b.add_argument("--python-version", default="3.11", help="device python3 major.minor")
    b.add_argument("--wheelhouse", type=Path, help="use this directory of wheels as is")
    b.add_argument("--no-wheelhouse", action="store_true",
                   help="no wheelhouse: the device installs dependencies from its index")
    b.add_argument("--extra-index-url", action="append", default=[], metavar="URL")
    b.add_argument("--cache-dir", type=Path, default=None,
                   help="local cache of wheels and releases (default ~/.cache/helio-edge)")
    s = parser.add_argument_group("ssh")
    s.add_argument("--port", type=int, default=0, help="ssh port (default 22 / ssh config)")
    s.add_argument("-i", "--identity", default="", help="ssh private key file")
    s.add_argument("-o", "--ssh-option", action="append", default=[], metavar="OPT",
                   help="extra ssh -o option, repeatable")
    s.add_argument("--connect-timeout", type=int, default=10, help="[s]")
    s.add_argument("--remote-python", default="python3", help="python on the device")
    d = parser.add_argument_group("on the device")
    d.add_argument("--device-root", default="/", help="install below this directory (tests)")
    d.add_argument("--service-manager", default="systemctl",
                   help="command taking daemon-reload/enable/restart/is-active <unit>")
    d.add_argument("--service-user", default="helio", help="the unit's User=")
    d.add_argument("--create-user", action=argparse.BooleanOptionalAction, default=None,
                   help="create the service user (default: when --device-root is /)")
    d.add_argument("--no-bytecode", dest="compile_bytecode", action="store_false",
                   help="do not byte-compile dependencies on the device (faster install, "
                   "slower first start)")
    d.add_argument("--keep", type=int, default=3, help="releases kept on the device")
    d.add_argument("--health-timeout", type=float, default=60.0, help="[s]")
    d.add_argument("--settle", type=float, default=5.0,
                   help="the service must still be active this long after passing [s]")
    d.add_argument("--health-skip", action="append", choices=["bundle", "devices", "broker"],
                   default=None, help="a `helio-edge check --skip` group when judging the new "
                   "release; repeatable, replaces the default (broker: the status topic is "
                   "still checked whenever the broker answers)")
    parser.add_argument("--dry-run", action="store_true", help="list every step, change nothing")


class _Progress:
    """Prints progress lines prefixed with the seconds since the start."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self, msg: str) -> None:
        sys.stdout.write(f"[{time.monotonic() - self.t0:4.0f}s] {msg}\n")
        sys.stdout.flush()


def _fail(msg: str) -> None:
    sys.stderr.write(f"helio-edge deploy: {msg}\n")


def _agent_config(args: argparse.Namespace) -> Path:
    if args.config is not None:
        return Path(args.config)
    if args.site is not None:
        by_site = Path(args.source) / "configs" / "edge" / f"{Path(args.site).stem}.toml"
        if by_site.exists():
            return by_site
    return Path(args.source) / DEFAULT_CONFIG


def _build(
    args: argparse.Namespace, layout: DeviceLayout, cache: Path, say: _Progress
) -> tuple[Release, Path | None]:
    target = Target(args.arch, args.python_version)
    if args.wheel is not None:
        if not args.wheel.is_file():
            raise BuildError(f"wheel {args.wheel} not found")
        wheel = args.wheel
    else:
        if not (Path(args.source) / "setup.py").is_file():
            raise BuildError(f"{args.source} is not a helio-edge checkout: pass --source DIR "
                             "or --wheel FILE")
        say(f"building the wheel from {args.source}")
        wheel = build_wheel(args.source, cache / "wheels")
    reqs = wheel_requirements(wheel, target)
    if args.no_wheelhouse:
        wheelhouse = None
    elif args.wheelhouse is not None:
        if not args.wheelhouse.is_dir():
            raise BuildError(f"wheelhouse {args.wheelhouse} is not a directory")
        wheelhouse = args.wheelhouse
    else:
        wheelhouse = build_wheelhouse(reqs, target, cache_dir=cache,
                                      extra_index_urls=args.extra_index_url, report=say)
    inputs = ReleaseInputs(
        wheel=wheel, requirements=tuple(reqs), wheelhouse=wheelhouse,
        agent_config=_agent_config(args), unit=args.unit, site=args.site, bundle=args.bundle,
        public_key=args.public_key, credentials=args.credentials,
    )
    release = stage_release(
        inputs, layout, version=wheel_version(wheel), out_root=cache / "releases",
        target={"machine": target.machine, "python": target.python_version}, source=args.source,
    )
    say(f"release {release.id} staged in {release.dir}")
    return release, wheelhouse


def run(args: argparse.Namespace) -> int:
    """Build, copy, install, switch, check; roll back on failure."""
    say = _Progress()
    layout = DeviceLayout(args.device_root)
    cache = args.cache_dir or default_cache_dir()
    opts = DeployOptions(
        layout=layout, service_manager=args.service_manager, service_user=args.service_user,
        create_user=args.create_user, keep=args.keep, health_timeout=args.health_timeout,
        health_skip=tuple(args.health_skip or ["broker"]),
        settle=args.settle, compile_bytecode=args.compile_bytecode, dry_run=args.dry_run,
    )
    target = SshTarget(args.device, port=args.port, identity=args.identity,
                       options=tuple(args.ssh_option), connect_timeout=args.connect_timeout)
    remote = Remote(target, python=args.remote_python, report=say)
    try:
        remote.check_identity()
        release, wheelhouse = _build(args, layout, cache, say)
    except (ConfigError, BundleError, BuildError, DeployError) as exc:
        _fail(str(exc))
        return 2
    try:
        result: DeployResult = deploy(release, remote, opts, wheelhouse=wheelhouse, report=say)
    except DeployError as exc:
        _fail(str(exc))
        return 1
    took = time.monotonic() - say.t0
    if result.ok:
        say(f"{result.outcome}: {result.release_id} on {args.device} ({took:.0f} s)")
        return 0
    again = f"; {result.previous} runs again" if result.previous else ""
    _fail(f"{result.outcome}: {result.release_id} did not become healthy{again}")
    return 1
