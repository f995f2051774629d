"""``helio-edge check``'s footprint: the environment's size, its largest packages, and
whether a library that does not belong on a device is importable."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from edge.commands.check import NOT_ON_DEVICE, footprint
from tests.edge.commands.helpers import agent_config, cli


def _dist(site: Path, name: str, size: int) -> None:
    """A distribution as pip installs it: the package, its dist-info and RECORD."""
    (site / name).mkdir()
    (site / name / "__init__.py").write_bytes(b"#" * size)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "RECORD").write_text(f"{name}/__init__.py,,\n{info.name}/METADATA,,\n"
                                 f"{info.name}/RECORD,,\n")


def test_footprint_of_an_environment(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    site = venv / "lib/python3/site-packages"
    site.mkdir(parents=True)
    _dist(site, "bigpkg", 300_000)
    _dist(site, "smallpkg", 2_000)
    (site / "scipy").mkdir()  # importable without any metadata
    (site / "scipy/__init__.py").write_text("")
    os.link(site / "bigpkg/__init__.py", site / "bigpkg/again.py")  # one file, two names
    (venv / "bin").mkdir()
    (venv / "bin/python").symlink_to(sys.executable)  # the interpreter is not the venv's size
    linked = tmp_path / "deps/site-packages"  # a dependency env a .pth would add
    linked.mkdir(parents=True)
    _dist(linked, "pandas", 50_000)

    fp = footprint(path=[str(site), str(linked), str(tmp_path / "missing")], prefix=str(venv))
    assert fp.importable == ("pandas", "scipy")  # in NOT_ON_DEVICE's order
    assert [n for n, _ in fp.largest] == ["bigpkg", "pandas", "smallpkg"]
    assert fp.largest[0][1] >= 300_000
    assert fp.site_dirs == (str(site.resolve()), str(linked.resolve()))
    assert 352_000 <= fp.site_bytes < 360_000  # the hard link counted once
    assert 302_000 <= fp.prefix_bytes < 310_000  # the interpreter link not followed
    clean = footprint(path=[str(tmp_path / "deps")], prefix=str(venv))
    assert clean.importable == () and clean.site_dirs == ()


def test_check_reports_the_footprint_of_this_environment(tmp_path: Path) -> None:
    cfg = agent_config(tmp_path, str(tmp_path / "no-bundle"), str(tmp_path / "no-key"))
    proc = cli("check", "--config", str(cfg), "--skip", "bundle", "--skip", "devices",
               "--skip", "broker")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("footprint"))
    assert "OK" in line and sys.prefix in line and "largest: " in line
    # the test environment has some of the heavy libraries (all of them with the trainer,
    # fewer on the legacy edge stack): each is named, and not counted as a problem outside
    # an installed release
    named = line.split("not needed on a device: ")[1]
    present = [m for m in NOT_ON_DEVICE if importlib.util.find_spec(m) is not None]
    assert present, "the test environment was expected to carry at least pandas"
    assert all(m in named for m in present) and "not counted" in named
    assert proc.returncode == 0, proc.stdout + proc.stderr
    skipped = cli("check", "--config", str(cfg), "--skip", "bundle", "--skip", "devices",
                  "--skip", "broker", "--skip", "footprint")
    assert "footprint" not in skipped.stdout and skipped.returncode == 0
