"""``predict`` and ``check`` on an installed release use the installed files.

On a Pi, ``helio-edge predict --bundle ... --at ...`` run outside a checkout
failed with ``configs/sites/abuja.toml: file not found``: the default site
was relative to the current directory. Here a release is laid out as the
deploy installs it (``<root>/opt/helio-edge/releases/<id>/venv`` with its
``release.json``, the ``current`` link, /etc/helio-edge, /var/lib/helio-edge),
its venv a real one whose interpreter sees this checkout's code, and the
commands are run through it from an empty directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from edge.commands._installed import installed_release
from tests.conftest import REPO

pytestmark = pytest.mark.tflite

AT = "2026-06-21T11:07:00Z"


def _layout(root: Path, bundle: str, key: str) -> Path:
    """A device root with one installed release; returns its venv's python."""
    rel = root / "opt/helio-edge/releases/0.1.0-0123456789ab"
    (rel / "release.json").parent.mkdir(parents=True)
    (rel / "release.json").write_text(json.dumps({"id": rel.name}) + "\n")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(rel / "venv")],
                   check=True)
    vpy = rel / "venv/bin/python"
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = subprocess.run([str(vpy), "-c", where], capture_output=True, text=True,
                          check=True).stdout.strip()
    # as the deploy links the release's venv to its dependency env: here, this environment
    (Path(site) / "_helio_test.pth").write_text(
        f"{REPO}\n{sysconfig.get_path('purelib')}\n")
    (root / "opt/helio-edge/current").symlink_to(f"releases/{rel.name}")
    etc = root / "etc/helio-edge"
    (etc / "keys").mkdir(parents=True)
    shutil.copy(REPO / "configs/sites/abuja.toml", etc / "site.toml")
    shutil.copy(key, etc / "keys" / Path(key).name)
    shutil.copytree(bundle, root / "var/lib/helio-edge/bundle")
    (etc / "config.toml").write_text(f"""
[agent]
site = "{etc / 'site.toml'}"
state_dir = "{root / 'var/lib/helio-edge'}"

[model]
bundle = "{root / 'var/lib/helio-edge/bundle'}"
public_key = "{etc / 'keys' / Path(key).name}"

[mqtt]
host = "127.0.0.1"
port = 1
""")
    return root / "opt/helio-edge/current/venv/bin/python"


def _run(python: Path | str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "edge", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, check=False)


def test_installed_release_is_recognised_only_in_the_layout(tmp_path: Path) -> None:
    rel = tmp_path / "opt/helio-edge/releases/0.1.0-abc"
    (rel / "venv").mkdir(parents=True)
    assert installed_release(rel / "venv") is None  # no release.json yet
    (rel / "release.json").write_text("{}\n")
    found = installed_release(rel / "venv")
    assert found is not None and found.root == tmp_path and found.release_id == "0.1.0-abc"
    assert found.config == tmp_path / "etc/helio-edge/config.toml"
    (tmp_path / "opt/helio-edge/current").symlink_to("releases/0.1.0-abc")
    assert installed_release(tmp_path / "opt/helio-edge/current/venv") == found
    assert installed_release(REPO / ".venv") is None
    assert installed_release(sys.prefix) is None  # the test environment itself


def test_predict_and_check_default_to_the_installed_files(tmp_path: Path, shipped_bundle) -> None:  # type: ignore[no-untyped-def]
    bundle, key = shipped_bundle
    root = tmp_path / "device"
    python = _layout(root, bundle, key)
    elsewhere = tmp_path / "home"  # not a checkout: no configs/ here
    elsewhere.mkdir()
    installed_bundle = root / "var/lib/helio-edge/bundle"

    # the command from the issue: --bundle given, the site left to its default
    proc = _run(python, elsewhere, "predict", "--bundle", str(installed_bundle), "--at", AT)
    assert proc.returncode == 0, proc.stderr
    assert "file not found" not in proc.stderr
    assert f"site {root / 'etc/helio-edge/site.toml'}" in proc.stderr  # says what it used
    assert "installed release 0.1.0-0123456789ab" in proc.stderr
    # nothing but the time: the installed site, bundle and key
    bare = _run(python, elsewhere, "predict", "--at", AT)
    assert bare.returncode == 0, bare.stderr
    assert f"bundle {installed_bundle}" in bare.stderr
    assert f"public key {root / 'etc/helio-edge/keys' / Path(key).name}" in bare.stderr
    # the same forecast as from the checkout with every file named
    ref = _run(sys.executable, REPO, "predict", "--bundle", bundle, "--public-key", key,
               "--site", str(REPO / "configs/sites/abuja.toml"), "--at", AT)
    assert ref.returncode == 0, ref.stderr
    assert bare.stdout == proc.stdout == ref.stdout

    chk = _run(python, elsewhere, "check", "--skip", "devices", "--skip", "broker")
    lines = {ln.split()[0]: ln for ln in chk.stdout.splitlines() if ln.strip()}
    # this release's venv links in the test environment (pandas and more): on an installed
    # release that is the one problem
    assert chk.returncode == 1, chk.stdout + chk.stderr
    assert chk.stdout.splitlines()[-1].endswith("1 problem(s): footprint")
    assert "FAIL" in lines["footprint"] and "pandas" in lines["footprint"]
    assert str(root / "opt/helio-edge/current/venv") in lines["footprint"]
    assert str(root / "etc/helio-edge/config.toml") in lines["config"]
    assert "installed release 0.1.0-0123456789ab" in lines["config"]
    assert str(root / "etc/helio-edge/site.toml") in lines["site"]
    assert str(installed_bundle) in lines["bundle"] and "OK" in lines["bundle"]


def test_outside_an_installed_release_the_missing_inputs_are_named(tmp_path: Path) -> None:
    proc = _run(sys.executable, tmp_path, "predict", "--at", AT)
    assert proc.returncode == 2
    assert "--bundle" in proc.stderr and "not an installed release" in proc.stderr
    chk = _run(sys.executable, tmp_path, "check")
    assert chk.returncode == 2
    assert "--config" in chk.stderr and "/etc/helio-edge/config.toml" in chk.stderr
