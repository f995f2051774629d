"""Deploy, device side: the steps that run on the Raspberry Pi.

Responsible for: everything ``helio-edge deploy`` does *on* the device,
one step per call: probe what is installed, create the shared dependency
environment and the release's virtual environment from the offline
wheelhouse, install the release's files (config, credentials, bundle, key,
unit) with their modes and owners, switch the ``current`` link atomically,
drive the service manager, wait for health, and prune old releases.

This file is sent over SSH and run by the device's ``python3``
(``python3 - <step> '<json>'``), so it uses the standard library only and
nothing from the rest of the package. Each step prints progress lines and a
last line ``RESULT <json>``; a failure exits non-zero with the reason.

Does NOT: build or copy anything (the installer's side does that), or know
about SSH.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import hashlib
import json
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

UNIT = "helio-edge.service"
#: waits for NTP at boot, so ``After=time-sync.target`` in the unit means something
TIME_SYNC_UNIT = "systemd-time-wait-sync.service"


class StepError(Exception):
    """A device step failed; the message is shown to the installer."""


def _say(msg: str) -> None:
    try:
        sys.stdout.write(f"  {msg}\n")
        sys.stdout.flush()
    except OSError:  # the installer's connection is gone; the step goes on
        pass


def _base(root: str) -> Path:
    return Path(root) / "opt" / "helio-edge"


def _run(cmd: list[str], what: str, timeout: float = 900.0) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              cwd="/")  # never import from the login directory
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StepError(f"{what}: {exc}") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr + done.stdout).strip().splitlines()[-12:])
        raise StepError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def _manifest(root: str, release_id: str) -> dict[str, Any]:
    path = _base(root) / "releases" / release_id / "release.json"
    with contextlib.suppress(OSError):  # it holds file hashes (the credentials' too): root only
        os.chmod(path, 0o600)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StepError(f"release {release_id} is not on the device ({exc})") from None
    return data


def _current_id(root: str) -> str:
    link = _base(root) / "current"
    return Path(os.readlink(link)).name if link.is_symlink() else ""


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def probe(args: dict[str, Any]) -> dict[str, Any]:
    """What the device is and what it runs now."""
    root = args["root"]
    current = _current_id(root)
    releases = _base(root) / "releases"
    out: dict[str, Any] = {
        "uid": os.geteuid(),
        "machine": os.uname().machine,
        "python": "{}.{}".format(*sys.version_info[:2]),
        "current": current,
        "content_sha256": "",
        "drift": [],
        "releases": sorted(p.name for p in releases.iterdir()) if releases.is_dir() else [],
    }
    where = _base(root)
    while not where.exists():
        where = where.parent
    out["free_mb"] = shutil.disk_usage(where).free / 1e6
    last = _base(root) / "last-deploy.json"
    with contextlib.suppress(OSError, ValueError):
        out["last_deploy"] = json.loads(last.read_text())
    if args.get("manager"):
        st = subprocess.run([*shlex.split(args["manager"]), "is-active", UNIT],
                            capture_output=True, text=True, check=False)
        out["service"] = st.stdout.strip() or f"exit {st.returncode}"
    if current:
        try:
            man = _manifest(root, current)
        except StepError:
            return out
        out["content_sha256"] = man.get("content_sha256", "")
        out["drift"] = drift(root, man)
    return out


def drift(root: str, manifest: dict[str, Any]) -> list[str]:
    """Installed files that differ from ``manifest`` (missing or changed)."""
    bad = []
    for f in manifest["files"]:
        dest = Path(root) / f["path"]
        if not dest.is_file() or _sha256(dest) != f["sha256"]:
            bad.append(f["path"])
    rel = _base(root) / "releases" / manifest["id"] / "venv" / ".complete"
    if not rel.exists():
        bad.append(str(rel))
    return bad


def _deps_key(manifest: dict[str, Any], python: str) -> str:
    text = "\n".join([python, *manifest["requirements"], *manifest.get("wheelhouse", [])])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def install(args: dict[str, Any]) -> dict[str, Any]:
    """Create the shared dependency env (if new) and the release's venv."""
    root, rid, python = args["root"], args["release"], args["python"]
    man = _manifest(root, rid)
    base = _base(root)
    deps = base / "deps" / _deps_key(man, python)
    if not (deps / ".complete").exists():
        _say(f"creating dependency environment {deps.name} ({len(man['requirements'])} reqs)")
        shutil.rmtree(deps, ignore_errors=True)
        _run([python, "-m", "venv", str(deps)], "python3 -m venv (is python3-venv installed?)")
        pip = [str(deps / "bin" / "python"), "-m", "pip", "install", "-q"]
        if not args.get("compile", True):
            pip.append("--no-compile")
        if man.get("wheelhouse"):
            wh = base / "wheelhouse"
            pip += ["--no-index", "--find-links", str(wh)]
            pip += [str(wh / w) for w in man["wheelhouse"]]
        else:
            pip += list(man["requirements"])
        _run(pip, "installing dependencies")
        (deps / ".complete").write_text(rid + "\n")
    else:
        _say(f"dependency environment {deps.name} already present")
    venv = base / "releases" / rid / "venv"
    if not (venv / ".complete").exists():
        _say(f"creating virtual environment {venv}")
        shutil.rmtree(venv, ignore_errors=True)
        _run([python, "-m", "venv", "--without-pip", str(venv)], "python3 -m venv")
        vpy = str(venv / "bin" / "python")
        where = "import sysconfig; print(sysconfig.get_path('purelib'))"
        site = Path(_run([vpy, "-c", where], "locating site-packages").strip())
        dsite = _run([str(deps / "bin" / "python"), "-c", where], "locating deps").strip()
        (site / "_helio_deps.pth").write_text(dsite + "\n")
        wheel = base / "releases" / rid / "wheels" / man["wheel"]
        _run([vpy, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
             f"installing {man['wheel']}")
        _run([str(venv / "bin" / "helio-edge"), "--help"], "running the installed helio-edge")
        (venv / ".complete").write_text(rid + "\n")
    else:
        _say("virtual environment already present")
    return {"deps": deps.name}


def ensure_user(args: dict[str, Any]) -> dict[str, Any]:
    """Create the system user for the service (group dialout for serial ports)."""
    user = args["user"]
    try:
        pwd.getpwnam(user)
        _say(f"user {user} exists")
        return {"created": False}
    except KeyError:
        pass
    cmd = ["useradd", "--system", "--home-dir", "/var/lib/helio-edge", "--no-create-home",
           "--shell", "/usr/sbin/nologin", "--user-group", "--groups", "dialout", user]
    _run(cmd, f"creating user {user}")
    _say(f"created system user {user} (groups: dialout)")
    return {"created": True}


def _owner_ids(user: str) -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return None
    return pw.pw_uid, grp.getgrgid(pw.pw_gid).gr_gid


#: the service user's state directory: everything below it may have been planted by
#: that user, so root never follows a symlink there
STATE_DIR = "var/lib/helio-edge"


def _real_dirs(root: str, rel_dir: str) -> Path:
    """``root/rel_dir`` as real directories: a symlink below the state directory is
    removed and replaced by a directory (never followed); returns the path."""
    path = Path(root)
    guarded = False
    for part in Path(rel_dir).parts:
        path = path / part
        guarded = guarded or str(path.relative_to(root)) == STATE_DIR
        if path.is_symlink() and guarded:
            _say(f"replacing symlink {path} -> {os.readlink(path)} by a directory")
            path.unlink()
        if not path.exists():
            path.mkdir(mode=0o755)
        elif not path.is_dir():
            raise StepError(f"{path} is not a directory")
    return path


def _walk_files(top: Path) -> list[Path]:
    """Files and symlinks below ``top`` without following any symlink."""
    out: list[Path] = []
    for d, dirs, files in os.walk(top, followlinks=False):
        out += [Path(d) / f for f in files]
        out += [Path(d) / x for x in dirs if (Path(d) / x).is_symlink()]
    return sorted(out)


def _install_file(src: Path, dest: Path, f: dict[str, Any], ids: tuple[int, int] | None) -> None:
    tmp = dest.with_name(dest.name + ".helio-new")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
        shutil.copyfileobj(inp, out)
    os.chmod(tmp, int(f["mode"], 8))
    if ids is not None:
        uid = ids[0] if f["owner"] == "service" else 0
        # group-readable config files: root-owned, group = service group
        gid = ids[1] if f["mode"] in ("0640", "0600") else 0
        os.chown(tmp, uid, gid)
    os.replace(tmp, dest)


def activate(args: dict[str, Any]) -> dict[str, Any]:
    """Install the release's files and switch ``current`` to it, atomically."""
    root, rid = args["root"], args["release"]
    man = _manifest(root, rid)
    rel = _base(root) / "releases" / rid
    if not (rel / "venv" / ".complete").exists():
        raise StepError(f"release {rid} is not installed (no venv); refusing to activate")
    ids = _owner_ids(args["user"])
    owned = {f"{STATE_DIR}/bundle"}
    keep = {f["path"] for f in man["files"]}
    for d in owned:
        top = _real_dirs(root, d)  # a symlinked bundle directory is not followed
        for p in _walk_files(top):
            if str(p.relative_to(root)) not in keep:
                p.unlink()  # a file, or a symlink itself (never its target)
    for f in man["files"]:
        dest = _real_dirs(root, str(Path(f["path"]).parent)) / Path(f["path"]).name
        _install_file(rel / "files" / f["path"], dest, f, ids)
        _say(f"installed /{f['path']} ({f['mode']})")
    previous = _current_id(root)
    link = _base(root) / "current"
    tmp = link.with_name("current.helio-new")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(f"releases/{rid}", tmp)
    os.replace(tmp, link)  # rename(2): the link is never missing
    os.utime(rel)  # newest activation first when pruning
    _say(f"current -> releases/{rid} (was {previous or 'none'})")
    return {"previous": previous}


def service(args: dict[str, Any]) -> dict[str, Any]:
    """Run service-manager verbs (``daemon-reload``, ``enable``, ``restart`` ...)."""
    manager = shlex.split(args["manager"])
    started = time.time()
    for verb in args["verbs"]:
        cmd = [*manager, verb] + ([] if verb == "daemon-reload" else [UNIT])
        _run(cmd, " ".join(cmd), timeout=120)
        _say(" ".join(cmd))
    return {"time": started}


def _check_once(root: str, manager: list[str], skip: list[str]) -> str:
    """Empty when healthy, else what is wrong."""
    active = subprocess.run([*manager, "is-active", UNIT],
                            capture_output=True, text=True, check=False)
    if active.returncode != 0:
        return f"service not active: {(active.stdout + active.stderr).strip()}"
    exe = str(_base(root) / "current" / "venv" / "bin" / "helio-edge")
    cfg = str(Path(root) / "etc" / "helio-edge" / "config.toml")
    # never "devices": the running agent holds the serial ports, and a second reader on a
    # tty splits its bytes; the agent's own status (next) reports the devices instead
    skips = [a for k in sorted({*skip, "devices"}) for a in ("--skip", k)]
    chk = subprocess.run([exe, "check", "--config", cfg, *skips],
                         capture_output=True, text=True, check=False, cwd="/")
    if chk.returncode != 0:
        return "helio-edge check failed:\n" + (chk.stdout + chk.stderr).strip()
    return ""


def health(args: dict[str, Any]) -> dict[str, Any]:
    """Wait until the service is active, ``check`` passes and status is online.

    After that the service must still be active ``settle`` seconds later
    (a crash-looping agent can look active for a moment).
    """
    root, manager = args["root"], shlex.split(args["manager"])
    deadline = time.monotonic() + float(args["timeout"])
    problem = "not checked"
    while time.monotonic() < deadline:
        problem = _check_once(root, manager, list(args.get("skip", [])))
        if not problem:
            break
        time.sleep(1.0)
    if problem:
        raise StepError(problem)
    _say("service active, helio-edge check passed")
    vpy = str(_base(root) / "current" / "venv" / "bin" / "python")
    cfg = str(Path(root) / "etc" / "helio-edge" / "config.toml")
    left = max(5.0, deadline - time.monotonic())
    cmd = [vpy, "-m", "edge.runtime.health", "--config", cfg, "--timeout", f"{left:.0f}",
           "--since", str(args["since"])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd="/")
    out = (done.stdout + done.stderr).strip()
    if done.returncode == 2:
        _say(f"status topic not checked: {out}")
    elif done.returncode != 0:
        raise StepError(f"status topic: {out}")
    else:
        _say(out)
    time.sleep(float(args.get("settle", 0.0)))
    again = subprocess.run([*manager, "is-active", UNIT], capture_output=True, text=True,
                           check=False)
    if again.returncode != 0:
        raise StepError(f"service stopped after starting: {again.stdout.strip()}")
    return {}


def _enable_time_sync(manager: list[str]) -> None:
    """Enable ``systemd-time-wait-sync.service``, so the unit's ``After=time-sync.target``
    waits for NTP (a Pi has no real-time clock); a system without it only gets a note."""
    cmd = [*manager, "enable", TIME_SYNC_UNIT]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        _say(" ".join(cmd))
    else:
        _say(f"note: could not enable {TIME_SYNC_UNIT} ({(done.stdout + done.stderr).strip()});"
             " the agent holds forecasts until the clock is synchronised anyway")


def _start(args: dict[str, Any], rid: str) -> dict[str, Any]:
    """Activate ``rid``, restart the service, wait for health (StepError if not)."""
    out = activate({**args, "release": rid})
    _enable_time_sync(shlex.split(args["manager"]))
    started = service({**args, "verbs": ["daemon-reload", "enable", "restart"]})
    health({**args, "since": started["time"]})
    return out


def switch(args: dict[str, Any]) -> dict[str, Any]:
    """Switch to the new release; if it is not healthy, switch back. All on the device.

    Runs as one step so that a dropped SSH connection cannot stop it half
    way: hangups are ignored, and progress that cannot be shown is dropped.
    The outcome is also written to ``/opt/helio-edge/last-deploy.json``.
    """
    root, rid = args["root"], args["release"]
    previous = _current_id(root)
    previous = "" if previous == rid else previous
    marker = _base(root) / "releases" / rid / "FAILED"
    result: dict[str, Any] = {"release": rid, "previous": previous, "time": time.time()}
    try:
        _start(args, rid)
        marker.unlink(missing_ok=True)
        result.update(outcome="deployed", message="")
    except (StepError, OSError) as exc:  # OSError: disk full while installing files
        why = str(exc) if isinstance(exc, StepError) else f"install failed: {exc}"
        marker.write_text(why + "\n")
        _say(f"health check failed for {rid}:")
        for line in why.splitlines():
            _say(f"  {line}")
        result.update(outcome="failed", message=why)
        if previous:
            _say(f"rolling back to {previous}")
            try:
                # the previous release was healthy: give it time rather than give up on it
                _start({**args, "timeout": max(2 * float(args["timeout"]), 60.0)}, previous)
                result["outcome"] = "rolled-back"
                _say(f"rolled back: {previous} runs again")
            except (StepError, OSError) as again:
                result.update(outcome="rollback-failed", message=f"{why}\nrollback: {again}")
        else:
            _say("no previous release to roll back to; the new release stays installed")
    (_base(root) / "last-deploy.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def prune(args: dict[str, Any]) -> dict[str, Any]:
    """Keep the newest ``keep`` releases (never current), drop unused dep envs."""
    root, keep = args["root"], int(args["keep"])
    base = _base(root)
    current = _current_id(root)
    rels = sorted((base / "releases").iterdir(),
                  key=lambda p: ((p / "FAILED").exists(), -p.stat().st_mtime))
    kept = [p for p in rels if p.name == current] + [p for p in rels if p.name != current]
    removed = [p.name for p in kept[max(keep, 1):]]
    for name in removed:
        shutil.rmtree(base / "releases" / name)
        _say(f"removed release {name}")
    used, wheels = set(), set()
    for p in kept[: max(keep, 1)]:
        try:
            man = json.loads((p / "release.json").read_text())
            used.add(_deps_key(man, args["python"]))
            wheels.update(man.get("wheelhouse", []))
        except (OSError, ValueError, KeyError):
            return {"removed": removed}  # unreadable manifest: keep everything else
    house = base / "wheelhouse"
    stale = [w for w in house.glob("*.whl") if w.name not in wheels] if house.is_dir() else []
    for w in stale:
        w.unlink()
    if stale:
        _say(f"removed {len(stale)} wheels no kept release needs")
    deps = base / "deps"
    for d in sorted(deps.iterdir()) if deps.is_dir() else []:
        if d.name not in used:
            shutil.rmtree(d)
            _say(f"removed unused dependency environment {d.name}")
    return {"removed": removed}


STEPS = {f.__name__: f for f in
         (probe, install, ensure_user, activate, service, health, switch, prune)}


#: Steps that change the device: one at a time, whoever runs them.
LOCKED = {"install", "ensure_user", "activate", "switch", "prune"}


@contextlib.contextmanager
def _device_lock(root: str, step: str) -> Iterator[None]:
    """Hold ``/opt/helio-edge/.deploy.lock`` so two installers cannot interleave."""
    if step not in LOCKED:
        yield
        return
    base = _base(root)
    base.mkdir(parents=True, exist_ok=True)
    with (base / ".deploy.lock").open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            _say("another deploy is running on this device; waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def main(argv: list[str]) -> int:
    """``python3 - <step> '<json args>'``."""
    with contextlib.suppress(ValueError):  # only possible in the main thread
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # finish the step if SSH drops
    try:
        args = json.loads(argv[1])
        with _device_lock(args.get("root", "/"), argv[0]):
            result = STEPS[argv[0]](args)
    except StepError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    with contextlib.suppress(OSError):
        sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
