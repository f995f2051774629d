"""The offline install on the device: dependency env from the wheelhouse, release venv.

Runs the device-side ``install`` step for real (``python3 -m venv``, ``pip
install --no-index``) into a directory standing for the device root, with
the session's wheelhouse for this machine and no package index at all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge import deploy_device as dd

pytestmark = pytest.mark.slow


def _stage(root: Path, rid: str, wheel: Path, wheelhouse: Path) -> None:
    rel = root / "opt/helio-edge/releases" / rid
    (rel / "wheels").mkdir(parents=True)
    shutil.copy2(wheel, rel / "wheels" / wheel.name)
    wheels = sorted(p.name for p in wheelhouse.glob("*.whl"))
    manifest = {"id": rid, "content_sha256": "0" * 64, "wheel": wheel.name,
                "requirements": ["pvlib>=0.11"], "wheelhouse": wheels, "files": []}
    (rel / "release.json").write_text(json.dumps(manifest))


def test_install_offline_then_second_release_reuses_dependencies(
    tmp_path: Path, session_wheel: Path, native_wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "device"
    shutil.copytree(native_wheelhouse, root / "opt/helio-edge/wheelhouse")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/nothing")  # no index reachable
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    _stage(root, "0.1.0-aaaa", session_wheel, native_wheelhouse)
    py = shutil.which("python3") or sys.executable
    out = dd.install({"root": str(root), "release": "0.1.0-aaaa", "python": py,
                      "compile": False})
    venv = root / "opt/helio-edge/releases/0.1.0-aaaa/venv"
    assert (venv / ".complete").exists()
    run = subprocess.run(
        [str(venv / "bin/python"), "-c",
         "import edge, pvlib, paho.mqtt, sys; print(edge.__file__); print(pvlib.__file__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path)
    edge_file, pvlib_file = run.stdout.split()
    assert edge_file.startswith(str(venv))  # the release's own code
    assert pvlib_file.startswith(str(root / "opt/helio-edge/deps" / out["deps"]))
    help_run = subprocess.run([str(venv / "bin/helio-edge"), "--help"], capture_output=True,
                              text=True, check=False, cwd=tmp_path)
    assert help_run.returncode == 0 and "deploy" in help_run.stdout

    _stage(root, "0.1.0-bbbb", session_wheel, native_wheelhouse)
    again = dd.install({"root": str(root), "release": "0.1.0-bbbb", "python": py,
                        "compile": False})
    assert again["deps"] == out["deps"]
    assert len(list((root / "opt/helio-edge/deps").iterdir())) == 1
