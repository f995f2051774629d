"""The root install steps against a hostile state directory, a full disk,
the running agent's serial ports, and who may read release.json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.deploy import device_script as dd
from tests.edge.deploy.helpers import FILES_A, FILES_B, staged_release

REPO = Path(__file__).resolve().parents[3]


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"  # stands for /etc/ssh or any root-only directory
    victim.mkdir()
    (victim / "sshd_config").write_text("PermitRootLogin no\n")
    return victim


def test_symlinked_bundle_directory_is_not_followed(tmp_path: Path) -> None:
    """Before: the stale-file cleanup deleted the files in the link's target (as root)."""
    root = tmp_path / "root"
    victim = _victim(tmp_path)
    staged_release(root, "0.1.0-a", FILES_A)
    state = root / "var/lib/helio-edge"
    state.mkdir(parents=True)
    (state / "bundle").symlink_to(victim)  # planted by the service user
    dd.activate({"root": str(root), "release": "0.1.0-a", "user": "x"})
    assert (victim / "sshd_config").read_text() == "PermitRootLogin no\n"
    assert sorted(p.name for p in victim.iterdir()) == ["sshd_config"]
    bundle = state / "bundle"
    assert not bundle.is_symlink() and (bundle / "model.tflite").read_bytes() == b"model-a"


def test_symlinks_inside_the_bundle_are_removed_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    victim = _victim(tmp_path)
    staged_release(root, "0.1.0-a", FILES_A)
    bundle = root / "var/lib/helio-edge/bundle"
    bundle.mkdir(parents=True)
    (bundle / "model.tflite").symlink_to(victim / "sshd_config")  # a file link to overwrite
    (bundle / "linkdir").symlink_to(victim)  # a directory link to walk into
    dd.activate({"root": str(root), "release": "0.1.0-a", "user": "x"})
    assert (victim / "sshd_config").read_text() == "PermitRootLogin no\n"
    assert not (bundle / "model.tflite").is_symlink()
    assert (bundle / "model.tflite").read_bytes() == b"model-a"
    assert not (bundle / "linkdir").exists() and (victim / "sshd_config").exists()


def test_release_json_is_readable_by_root_only(tmp_path: Path) -> None:
    rel = staged_release(tmp_path, "0.1.0-a", FILES_A)
    (rel / "release.json").chmod(0o644)
    dd.activate({"root": str(tmp_path), "release": "0.1.0-a", "user": "x"})
    assert (rel / "release.json").stat().st_mode & 0o077 == 0


def _fake_release_tools(rel: Path) -> None:
    """helio-edge check and the status wait of a release (the agent itself is not run)."""
    bindir = rel / "venv" / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    (bindir / "helio-edge").write_text(f'#!/bin/sh\necho "$@" >> {rel}/check-args\nexit 0\n')
    (bindir / "python").write_text("#!/bin/sh\necho 'no broker here'\nexit 2\n")
    for f in bindir.iterdir():
        f.chmod(0o755)


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="no prlimit (util-linux)")
def test_disk_full_during_install_rolls_back(tmp_path: Path) -> None:
    """Before: an OSError in the install step escaped the switch: no rollback, files of two
    releases mixed, the service not restarted on the old one."""
    root = tmp_path / "root"
    rel_a = staged_release(root, "0.1.0-a", FILES_A)
    big = dict(FILES_B)
    big["var/lib/helio-edge/bundle/model.tflite"] = (b"m" * 400_000, "0644", "root")
    rel_b = staged_release(root, "0.1.0-b", big)
    for rel in (rel_a, rel_b):
        _fake_release_tools(rel)
    manager = tmp_path / "systemctl"
    manager.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/calls\nexit 0\n")
    manager.chmod(0o755)
    dd.activate({"root": str(root), "release": "0.1.0-a", "user": "x"})
    args = {"root": str(root), "release": "0.1.0-b", "user": "x", "manager": str(manager),
            "timeout": 10, "settle": 0}
    # files may not grow past 100 kB: the 400 kB model cannot be written (EFBIG, as ENOSPC)
    code = ("import sys; from edge.deploy import device_script as dd;"
            " sys.exit(dd.main(['switch', sys.argv[1]]))")
    done = subprocess.run(["prlimit", "--fsize=100000", sys.executable, "-c", code,
                           json.dumps(args)], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120,
                          check=False)
    result = json.loads((root / "opt/helio-edge/last-deploy.json").read_text())
    assert result["outcome"] == "rolled-back", done.stderr
    assert "install failed" in result["message"]
    assert os.readlink(root / "opt/helio-edge/current") == "releases/0.1.0-a"
    assert (root / "etc/helio-edge/config.toml").read_bytes() == FILES_A[
        "etc/helio-edge/config.toml"][0]
    assert (root / "var/lib/helio-edge/bundle/model.tflite").read_bytes() == b"model-a"
    calls = (tmp_path / "calls").read_text()
    assert "restart helio-edge.service" in calls
    assert "enable systemd-time-wait-sync.service" in calls  # time-sync.target means synced
    # the health check never opened the devices the running agent holds
    for line in (rel_a / "check-args").read_text().splitlines():
        assert "--skip devices" in line
