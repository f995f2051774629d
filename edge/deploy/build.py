"""Deploy, local side: build the wheel and the offline wheelhouse.

Responsible for: building the project wheel from a clean copy of the source
tree, working out the ``edge`` extra's requirements *for the device's
platform* (markers evaluated for aarch64 or armv7l, not for this machine),
and downloading binary wheels for that platform into a cached wheelhouse so
the device installs with no internet at all.

Does NOT: talk to the device (:mod:`edge.deploy.remote`), stage the release
files (:mod:`edge.deploy.release`) or print (progress goes through the
``report`` callable the caller passes).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

__all__ = [
    "ARCHES",
    "NOT_ON_DEVICE",
    "BuildError",
    "Target",
    "build_wheel",
    "build_wheelhouse",
    "default_cache_dir",
    "wheel_requirements",
    "wheel_version",
]

#: Device architectures with a prebuilt wheelhouse recipe.
ARCHES = ("aarch64", "armv7l", "native")
#: piwheels carries the armv7l builds of numpy<2 and friends that PyPI lacks.
PIWHEELS = "https://www.piwheels.org/simple"

Report = Callable[[str], None]


class BuildError(RuntimeError):
    """The wheel or the wheelhouse could not be built (message says why)."""


@dataclass(frozen=True, slots=True)
class Target:
    """The device platform the wheelhouse is built for.

    Attributes
    ----------
    arch : str
        ``aarch64`` (64-bit Raspberry Pi OS), ``armv7l`` (32-bit) or
        ``native`` (this machine's platform: tests, x86 gateways).
    python_version : str
        ``major.minor`` of the device's ``python3`` (Raspberry Pi OS
        bookworm: 3.11).
    """

    arch: str = "aarch64"
    python_version: str = "3.11"

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise ValueError(f"arch {self.arch!r} not one of {ARCHES}")

    @property
    def machine(self) -> str:
        """``platform_machine`` as seen on the device."""
        return platform.machine() if self.arch == "native" else self.arch

    @property
    def key(self) -> str:
        """Short name used in cache directory names."""
        return f"{self.machine}-cp{self.python_version.replace('.', '')}"

    def pip_platform_args(self) -> list[str]:
        """``pip download`` options selecting the device's wheels."""
        if self.arch == "native":
            return []
        cp = "cp" + self.python_version.replace(".", "")
        args = ["--python-version", self.python_version, "--implementation", "cp"]
        args += ["--abi", cp, "--abi", "abi3", "--abi", "none"]
        if self.arch == "aarch64":
            # bookworm has glibc 2.36: every manylinux tag up to it runs there.
            tags = [f"manylinux_2_{m}_aarch64" for m in range(36, 16, -1)]
            tags += ["manylinux2014_aarch64", "linux_aarch64"]
        else:
            tags = [f"manylinux_2_{m}_armv7l" for m in range(36, 16, -1)]
            tags += ["manylinux2014_armv7l", "linux_armv7l"]
        for tag in [*tags, "any"]:
            args += ["--platform", tag]
        return args

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values of the device, for the ``edge`` extra."""
        return {
            "platform_machine": self.machine,
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
            "python_version": self.python_version,
            "python_full_version": self.python_version + ".0",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
        }


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/helio-edge`` (``~/.cache/helio-edge``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "helio-edge"


def _run(cmd: Sequence[str], what: str, *, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(
            list(cmd), cwd=cwd, capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise BuildError(f"{what}: cannot run {cmd[0]}: {exc}") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise BuildError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def _source_files(source: Path) -> list[Path]:
    """Files of the source tree a release is built from (git-tracked + new)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "-co", "--exclude-standard"],
            cwd=source, capture_output=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "build", "dist", "__pycache__"}
        return [
            p.relative_to(source)
            for p in source.rglob("*")
            if p.is_file() and not skip.intersection(p.relative_to(source).parts)
        ]
    return [Path(n) for n in out.decode().split("\0") if n and (source / n).is_file()]


#: Source folders the device wheel leaves out: the cloud side, the laptop-side
#: deploy, the demo and the site simulation never run on the Pi.
NOT_ON_DEVICE = ("trainer/", "edge/deploy/", "edge/demo/", "edge/simulation/", "edge/testkit/",
                 "bench/", "tests/", "docs/")


def build_wheel(source: Path, out_dir: Path, *, python: str = sys.executable) -> Path:
    """Build the device wheel from a clean copy of ``source`` (cached).

    The copy keeps ``build/`` and ``*.egg-info`` out of the working tree and
    leaves out ignored files (virtual environments, caches) and everything
    under :data:`NOT_ON_DEVICE`, so the wheel carries only what runs on the
    device. The wheel is cached under ``out_dir/<hash of the source files>/``.

    Returns
    -------
    Path
        The ``helio_edge-<version>-py3-none-any.whl``.
    """
    files = sorted(f for f in _source_files(source)
                   if not f.as_posix().startswith(NOT_ON_DEVICE))
    digest = hashlib.sha256()
    for rel in files:
        digest.update(rel.as_posix().encode() + b"\0" + (source / rel).read_bytes() + b"\0")
    cached = out_dir / digest.hexdigest()[:16]
    built = sorted(cached.glob("*.whl"))
    if len(built) == 1:
        return built[0]
    with tempfile.TemporaryDirectory(prefix="helio-wheel-") as tmp:
        src = Path(tmp) / "src"
        for rel in files:
            dest = src / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, dest)
        wheels = Path(tmp) / "wheels"
        cmd = [python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        _run([*cmd, "-w", str(wheels), str(src)], "building the wheel")
        built = sorted(wheels.glob("*.whl"))
        if len(built) != 1:
            raise BuildError(f"expected one wheel, pip produced {[p.name for p in built]}")
        cached.mkdir(parents=True, exist_ok=True)
        final = cached / built[0].name
        shutil.copy2(built[0], final)
    return final


def _wheel_metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        name = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
        if name is None:
            raise BuildError(f"{wheel.name}: no METADATA inside")
        return zf.read(name).decode("utf-8")


def wheel_version(wheel: Path) -> str:
    """The ``Version`` field of a wheel's metadata."""
    return str(Parser().parsestr(_wheel_metadata(wheel), headersonly=True)["Version"])


def wheel_requirements(wheel: Path, target: Target, extra: str = "edge") -> list[str]:
    """Requirements of ``wheel`` plus ``extra``, with markers evaluated for ``target``.

    Returns requirement strings without markers (``"pvlib>=0.11"``), sorted.
    """
    # packaging is a build-side tool (pip, setuptools); the device's CLI never needs it
    from packaging.requirements import Requirement  # noqa: PLC0415

    meta = Parser().parsestr(_wheel_metadata(wheel), headersonly=True)
    env = target.marker_environment()
    out = []
    for line in meta.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({**env, "extra": extra}):
            req.marker = None
            out.append(str(req))
    return sorted(set(out))


def build_wheelhouse(
    requirements: Sequence[str],
    target: Target,
    *,
    cache_dir: Path,
    python: str = sys.executable,
    extra_index_urls: Sequence[str] = (),
    report: Report = lambda _m: None,
) -> Path:
    """Download binary wheels of ``requirements`` for ``target`` (cached).

    The cache key is the sorted requirement list and the target, so a second
    deploy with the same dependencies reuses the directory without network.

    Returns
    -------
    Path
        A directory of ``.whl`` files (and nothing else but a ``.complete``
        stamp).

    Raises
    ------
    BuildError
        When pip cannot find a binary wheel for the device (the message
        carries pip's last lines, naming the package).
    """
    indexes = list(extra_index_urls)
    if target.arch == "armv7l" and PIWHEELS not in indexes:
        indexes.append(PIWHEELS)
    key = hashlib.sha256("\n".join([target.key, *sorted(requirements), *indexes]).encode())
    dest = cache_dir / "wheelhouse" / f"{target.key}-{key.hexdigest()[:12]}"
    if (dest / ".complete").exists():
        report(f"wheelhouse for {target.key}: cached at {dest}")
        return dest
    report(f"wheelhouse for {target.key}: downloading {len(requirements)} requirements")
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = [python, "-m", "pip", "download", "-q", "--only-binary=:all:", "--dest", str(tmp)]
    for url in indexes:
        cmd += ["--extra-index-url", url]
    _run([*cmd, *target.pip_platform_args(), *requirements], f"wheelhouse for {target.key}")
    (tmp / ".complete").write_text("\n".join(sorted(requirements)) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest
