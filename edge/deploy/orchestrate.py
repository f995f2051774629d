"""Ship a release to a Raspberry Pi over SSH, install the service, roll back on failure.

Responsible for: the order of a deploy and its safety rules. A deploy is

1. connect (``ssh``; ``sudo -n`` when the login user is not root),
2. probe the device (architecture, Python, current release; *already
   deployed* when the current release has the same id and its installed
   files still match: nothing is changed),
3. copy the wheelhouse and the release directory (``rsync``),
4. install (shared dependency environment + the release's venv, offline),
5. create the service user (on a real root),
6. switch, in one step that runs on the device: install the files and
   switch ``current`` atomically, restart the service, wait until it is
   healthy, and if it is not, switch back to the previous release and
   restart that (the device does this by itself, so a dropped SSH
   connection cannot leave it half way),
7. prune old releases (failed ones first) and unused wheels.

Nothing on the device changes before step 6, so a failed copy or install
leaves the running release untouched. The device is never left without a
working release.

Does NOT: build the wheel or stage files (:mod:`edge.deploy.build`,
:mod:`edge.deploy.release`), or print (``report`` receives progress lines).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from edge.deploy.release import DeviceLayout, Release
from edge.deploy.remote import DeployError, Remote

__all__ = ["DeployError", "DeployOptions", "DeployResult", "deploy", "plan"]

Outcome = Literal["deployed", "already-deployed", "rolled-back", "failed", "dry-run"]


@dataclass(frozen=True, slots=True)
class DeployOptions:
    """How to install on the device.

    Attributes
    ----------
    layout : DeviceLayout
        Device root (``/`` on a Pi; a directory in tests).
    service_manager : str
        Command taking ``daemon-reload|enable|restart|is-active <unit>``.
    service_user : str
        The unit's ``User=``; owns the credentials file.
    create_user : bool or None
        Create ``service_user`` (``useradd --system``, group dialout);
        None means only when the device root is ``/``.
    keep : int
        Releases kept on the device (the current one included).
    health_timeout : float
        Seconds to wait for the service to become healthy. [s]
    health_skip : tuple of str
        ``helio-edge check --skip`` groups left out when judging a release
        (default ``broker``: a site with no internet is no reason to roll
        back; the status topic is still checked whenever the broker answers).
    settle : float
        After the health check passes, the service must still be active
        this much later. [s]
    min_free_mb : float
        Refuse to start when the device has less free space. [MB]
    compile_bytecode : bool
        Byte-compile the dependencies at install time (the service cannot
        write ``.pyc`` files under ``ProtectSystem=strict``, so this makes
        every start faster; tests turn it off to install 3x faster).
    dry_run : bool
        List every step; change nothing.
    """

    layout: DeviceLayout = field(default_factory=DeviceLayout)
    service_manager: str = "systemctl"
    service_user: str = "helio"
    create_user: bool | None = None
    keep: int = 3
    health_timeout: float = 60.0
    health_skip: tuple[str, ...] = ("broker",)
    settle: float = 5.0
    min_free_mb: float = 800.0
    compile_bytecode: bool = True
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class DeployResult:
    """What happened.

    Attributes
    ----------
    release_id : str
        The release that was to be deployed.
    outcome : str
        ``deployed``, ``already-deployed``, ``rolled-back`` (the new release
        failed its health check; ``previous`` runs again), ``failed`` (no
        previous release to go back to) or ``dry-run``.
    previous : str
        The release that ran before ('' on a first deploy).
    message : str
        Why a deploy was rolled back or failed.
    """

    release_id: str
    outcome: Outcome
    previous: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when the requested release now runs (or would, in a dry run)."""
        return self.outcome in ("deployed", "already-deployed", "dry-run")


def plan(release: Release, opts: DeployOptions, wheelhouse: Path | None) -> list[str]:
    """One line per step, as ``--dry-run`` prints them."""
    lay = opts.layout
    rel = lay.release_dir(release.id)
    steps = ["connect over ssh; use `sudo -n` if the login user is not root",
             f"probe: architecture, python3, current release (same id {release.id} "
             "and unchanged files: already deployed, stop here)"]
    if wheelhouse is not None:
        steps.append(f"rsync {wheelhouse}/ -> {lay.base}/wheelhouse/")
    steps += [
        f"rsync {release.dir}/ -> {rel}/",
        f"install: {lay.base}/deps/<hash> (python3 -m venv, pip install --no-index "
        f"--find-links {lay.base}/wheelhouse) and {rel}/venv ({release.wheel_name})",
    ]
    if opts.create_user if opts.create_user is not None else lay.root == "/":
        steps.append(f"create system user {opts.service_user} in group dialout if missing")
    steps += [f"install {f['path']} mode {f['mode']} owner {f['owner']}"
              for f in release.manifest["files"]]
    steps += [
        f"ln -s releases/{release.id} current.helio-new && mv -T current.helio-new {lay.current}",
        f"{opts.service_manager} daemon-reload; enable; restart helio-edge.service",
        f"health: is-active + helio-edge check --config {lay.config} "
        f"{' '.join('--skip ' + k for k in opts.health_skip)} + status topic online "
        f"(up to {opts.health_timeout:.0f} s)",
        "on failure: switch current back to the previous release and restart it",
        f"prune: keep the newest {opts.keep} releases",
    ]
    return steps


def _args(opts: DeployOptions, **extra: Any) -> dict[str, Any]:
    return {"root": opts.layout.root, **extra}


def deploy(
    release: Release,
    remote: Remote,
    opts: DeployOptions,
    *,
    wheelhouse: Path | None,
    report: Callable[[str], None],
) -> DeployResult:
    """Deploy ``release`` to the device behind ``remote``.

    Raises
    ------
    DeployError
        Before the switch (unreachable host, missing key, wrong
        architecture or Python, short of disk, failed copy or install):
        nothing on the device changed. During the switch only when the
        connection drops (the device finishes by itself) or when the
        rollback target is not healthy either.
    """
    if opts.dry_run:
        for i, line in enumerate(plan(release, opts, wheelhouse), 1):
            report(f"[dry-run {i}] {line}")
        return DeployResult(release.id, "dry-run")
    report(f"connecting to {remote.target.destination}")
    remote.connect()
    info = _probe(release, remote, opts, report)
    if info["current"] == release.id and not info["drift"]:
        report(f"already deployed: {release.id} is current and its files are unchanged; "
               "nothing changed")
        if info.get("service") not in (None, "active"):
            report("but the service is not active: see `journalctl -u helio-edge` on the device")
        return DeployResult(release.id, "already-deployed", previous=release.id)
    _upload_and_install(release, remote, opts, wheelhouse=wheelhouse, current=info["current"],
                        report=report)
    report(f"switching to {release.id} (the device rolls back by itself if it is not healthy)")
    try:
        out = remote.step("switch", _args(
            opts, release=release.id, user=opts.service_user, manager=opts.service_manager,
            timeout=opts.health_timeout, skip=list(opts.health_skip), settle=opts.settle,
        ), timeout=3 * opts.health_timeout + 600)
    except DeployError as exc:
        raise DeployError(f"{exc}\n  the device finishes the switch (or the rollback) by "
                          "itself; deploy again to see how it ended") from None
    previous, why = str(out["previous"]), str(out["message"])
    if out["outcome"] == "rollback-failed":
        raise DeployError(f"{release.id} failed and the rollback to {previous} did not become "
                          f"healthy either:\n{why}")
    if out["outcome"] != "deployed":
        return DeployResult(release.id, out["outcome"], previous=previous, message=why)
    report(f"healthy: {release.id} is live")
    remote.step("prune", _args(opts, keep=opts.keep, python=remote.python))
    return DeployResult(release.id, "deployed", previous=previous)


def _probe(release: Release, remote: Remote, opts: DeployOptions,
           report: Callable[[str], None]) -> dict[str, Any]:
    """What the device runs; DeployError when the release cannot go there."""
    info = remote.step("probe", _args(opts, manager=opts.service_manager))
    report(f"device: {info['machine']}, python {info['python']}, "
           f"current release: {info['current'] or 'none'} (service {info.get('service', '?')})")
    last = info.get("last_deploy")
    if last and last.get("outcome") != "deployed":
        report(f"note: the last deploy ({last.get('release')}) ended {last.get('outcome')}")
    _check_platform(release, info)
    if info.get("free_mb", 1e9) < opts.min_free_mb:
        raise DeployError(f"only {info['free_mb']:.0f} MB free under {opts.layout.base} on the "
                          f"device; need {opts.min_free_mb:.0f} MB (remove old files, or --keep "
                          "fewer)")
    return info


def _upload_and_install(release: Release, remote: Remote, opts: DeployOptions, *,
                        wheelhouse: Path | None, current: str,
                        report: Callable[[str], None]) -> None:
    """Copy and install without touching what runs (DeployError on failure)."""
    lay = opts.layout
    if wheelhouse is not None:
        report(f"copying wheelhouse ({len(release.manifest['wheelhouse'])} wheels)")
        remote.push(wheelhouse, f"{lay.base}/wheelhouse", delete=False)
    report(f"copying release {release.id}")
    remote.push(release.dir, lay.release_dir(release.id), delete=True, keep=("venv", "FAILED"))
    report("installing (offline)" if wheelhouse is not None else "installing (from the index)")
    try:
        remote.step("install", _args(opts, release=release.id, python=remote.python,
                                     compile=opts.compile_bytecode))
    except DeployError as exc:
        raise DeployError(f"install failed; {current or 'nothing'} still runs.\n{exc}") \
            from None
    if opts.create_user if opts.create_user is not None else lay.root == "/":
        remote.step("ensure_user", _args(opts, user=opts.service_user))


def _check_platform(release: Release, info: dict[str, Any]) -> None:
    target = release.manifest.get("target", {})
    machine, python = target.get("machine"), target.get("python")
    if machine and machine != info["machine"]:
        raise DeployError(f"the release was built for {machine} but the device is "
                          f"{info['machine']}: pass --arch {info['machine']}")
    if python and python != info["python"]:
        raise DeployError(f"the wheelhouse is for Python {python} but the device has "
                          f"{info['python']}: pass --python-version {info['python']}")
