"""Device-side steps run directly on a directory standing for the device root.

These are the safety rules of a deploy, without SSH in the way: files land
with their modes, ``current`` switches atomically and only to an installed
release, drift is noticed, pruning never removes the running release.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import threading
import time
from pathlib import Path

import pytest

from edge.deploy import device_script as dd
from tests.edge.deploy.helpers import FILES_A, FILES_B, staged_release


def _mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


def test_activate_installs_files_with_modes_and_switches_current(tmp_path: Path) -> None:
    staged_release(tmp_path, "0.1.0-a", FILES_A)
    out = dd.activate({"root": str(tmp_path), "release": "0.1.0-a", "user": "nobody-here"})
    assert out == {"previous": ""}
    assert os.readlink(tmp_path / "opt/helio-edge/current") == "releases/0.1.0-a"
    assert (tmp_path / "etc/helio-edge/config.toml").read_bytes() == FILES_A[
        "etc/helio-edge/config.toml"][0]
    assert _mode(tmp_path / "etc/helio-edge/credentials.toml") == 0o600
    assert _mode(tmp_path / "etc/helio-edge/config.toml") == 0o640
    assert not list(tmp_path.rglob("*.helio-new"))


def test_activate_next_release_reports_previous_and_drops_stale_bundle_files(
    tmp_path: Path,
) -> None:
    staged_release(tmp_path, "0.1.0-a", FILES_A)
    staged_release(tmp_path, "0.1.0-b", FILES_B)
    root = str(tmp_path)
    dd.activate({"root": root, "release": "0.1.0-a", "user": "x"})
    out = dd.activate({"root": root, "release": "0.1.0-b", "user": "x"})
    assert out == {"previous": "0.1.0-a"}
    bundle = tmp_path / "var/lib/helio-edge/bundle"
    assert sorted(p.name for p in bundle.iterdir()) == ["model.tflite"]
    assert (bundle / "model.tflite").read_bytes() == b"model-b"
    # and back again: the rollback path restores a's files exactly
    assert dd.activate({"root": root, "release": "0.1.0-a", "user": "x"}) == {
        "previous": "0.1.0-b"}
    assert (bundle / "old_extra.bin").read_bytes() == b"only in a"
    assert dd.drift(root, json.loads(
        (tmp_path / "opt/helio-edge/releases/0.1.0-a/release.json").read_text())) == []


def test_activate_refuses_a_release_without_its_venv(tmp_path: Path) -> None:
    staged_release(tmp_path, "0.1.0-a", FILES_A)
    staged_release(tmp_path, "0.1.0-b", FILES_B, installed=False)
    root = str(tmp_path)
    dd.activate({"root": root, "release": "0.1.0-a", "user": "x"})
    with pytest.raises(dd.StepError, match="not installed"):
        dd.activate({"root": root, "release": "0.1.0-b", "user": "x"})
    assert os.readlink(tmp_path / "opt/helio-edge/current") == "releases/0.1.0-a"
    assert b"'a'" in (tmp_path / "etc/helio-edge/config.toml").read_bytes()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_activate_as_root_gives_secrets_to_the_service_user(tmp_path: Path) -> None:
    user = pwd.getpwuid(65534).pw_name  # nobody: exists on every Debian
    staged_release(tmp_path, "0.1.0-a", FILES_A)
    dd.activate({"root": str(tmp_path), "release": "0.1.0-a", "user": user})
    cred = (tmp_path / "etc/helio-edge/credentials.toml").stat()
    cfg = (tmp_path / "etc/helio-edge/config.toml").stat()
    assert (cred.st_uid, cred.st_mode & 0o777) == (65534, 0o600)
    assert cfg.st_uid == 0 and cfg.st_gid == pwd.getpwnam(user).pw_gid  # group-readable


def test_probe_sees_drift_in_an_installed_file(tmp_path: Path) -> None:
    staged_release(tmp_path, "0.1.0-a", FILES_A)
    root = str(tmp_path)
    dd.activate({"root": root, "release": "0.1.0-a", "user": "x"})
    info = dd.probe({"root": root})
    assert (info["current"], info["drift"]) == ("0.1.0-a", [])
    (tmp_path / "etc/helio-edge/config.toml").write_text("# edited by hand\n")
    assert dd.probe({"root": root})["drift"] == ["etc/helio-edge/config.toml"]


def test_prune_keeps_newest_and_never_the_current_release(tmp_path: Path) -> None:
    root = str(tmp_path)
    for i, rid in enumerate(["r1", "r2", "r3", "r4"]):
        rel = staged_release(tmp_path, rid, FILES_B, reqs=(f"dep=={i}",))
        t = time.time() - 100 + i
        os.utime(rel, (t, t))
        deps = tmp_path / "opt/helio-edge/deps" / dd._deps_key(
            json.loads((rel / "release.json").read_text()), "python3")
        deps.mkdir(parents=True)
    # current is the OLDEST one (a rollback happened): it must survive
    (tmp_path / "opt/helio-edge/current").symlink_to("releases/r1")
    out = dd.prune({"root": root, "keep": 2, "python": "python3"})
    left = sorted(p.name for p in (tmp_path / "opt/helio-edge/releases").iterdir())
    assert left == ["r1", "r4"]
    assert sorted(out["removed"]) == ["r2", "r3"]
    assert len(list((tmp_path / "opt/helio-edge/deps").iterdir())) == 2


def test_prune_drops_a_failed_release_before_an_older_good_one(tmp_path: Path) -> None:
    root = str(tmp_path)
    for i, rid in enumerate(["good-old", "failed-new", "current"]):
        rel = staged_release(tmp_path, rid, FILES_B)
        t = time.time() - 100 + i
        os.utime(rel, (t, t))
    (tmp_path / "opt/helio-edge/releases/failed-new/FAILED").write_text("check failed\n")
    (tmp_path / "opt/helio-edge/current").symlink_to("releases/current")
    assert dd.prune({"root": root, "keep": 2, "python": "python3"})["removed"] == ["failed-new"]


def test_service_runs_verbs_in_order_and_reports_failure(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    mgr = tmp_path / "mgr"
    mgr.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n[ \"$1\" != restart ] || exit 5\n")
    mgr.chmod(0o755)
    out = dd.service({"manager": str(mgr), "verbs": ["daemon-reload", "enable"]})
    assert out["time"] <= time.time()
    assert log.read_text().splitlines() == ["daemon-reload", f"enable {dd.UNIT}"]
    with pytest.raises(dd.StepError, match=r"restart helio-edge\.service failed"):
        dd.service({"manager": str(mgr), "verbs": ["restart"]})


def test_main_prints_result_line_and_fails_cleanly(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert dd.main(["probe", json.dumps({"root": str(tmp_path)})]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("RESULT ") and json.loads(last[7:])["current"] == ""
    assert dd.main(["activate", json.dumps({"root": str(tmp_path), "release": "x",
                                            "user": "x"})]) == 1
    assert "release x is not on the device" in capsys.readouterr().err


def test_changing_steps_wait_for_another_deploy(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    staged_release(tmp_path, "0.1.0-a", FILES_A)
    lock = tmp_path / "opt/helio-edge/.deploy.lock"
    args = json.dumps({"root": str(tmp_path), "release": "0.1.0-a", "user": "x"})
    done: list[int] = []
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # "another installer" is mid-deploy
        t = threading.Thread(target=lambda: done.append(dd.main(["activate", args])))
        t.start()
        time.sleep(0.5)
        assert done == [] and not (tmp_path / "opt/helio-edge/current").is_symlink()
        assert dd.main(["probe", json.dumps({"root": str(tmp_path)})]) == 0  # reads don't wait
    t.join(timeout=10)
    assert done == [0] and (tmp_path / "opt/helio-edge/current").is_symlink()
    assert "another deploy is running" in capsys.readouterr().out
