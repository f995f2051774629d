"""``helio-edge deploy`` end to end over a real sshd: a device root, the real agent.

The device is this machine reached over SSH on loopback; its root is a
directory. The service manager is a script that records its calls and
starts the installed release's agent directly, against a real mosquitto.
One scenario test walks a device through its life (first deploy, the same
release again, a second release, a broken release rolled back), because
the first install of the dependency environment is the expensive part.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from edge.cli import main
from edge.deploy.remote import DeployError, Remote, SshTarget
from edge.runtime.config import load_agent_config
from edge.runtime.health import wait_online
from tests.conftest import free_port
from tests.edge.deploy.helpers import needs_bundle, write_template

pytestmark = [pytest.mark.sshd, pytest.mark.broker, pytest.mark.slow, needs_bundle]


@pytest.fixture
def deploy_cli(capsys, sshd, device, native_wheelhouse, build_cache, session_wheel):  # type: ignore[no-untyped-def]
    """Run ``helio-edge deploy`` against the test sshd and device; (exit, stdout, stderr)."""

    def run(template: Path, cred: Path, *extra: str) -> tuple[int, str, str]:
        # one wheel for the whole session: the working tree may change under a running test
        argv = ["deploy", *sshd.cli_args(), "--native", "--wheelhouse", str(native_wheelhouse),
                "--wheel", str(session_wheel), "--cache-dir", str(build_cache),
                "--config", str(template), "--credentials", str(cred),
                "--device-root", str(device.root), "--service-manager", str(device.manager),
                "--health-timeout", "40", "--settle", "1", "--no-bytecode", *extra]
        code = main(argv)
        out = capsys.readouterr()
        with (device.root.parent / "deploy.log").open("a") as log:  # for post-mortems
            log.write(f"$ helio-edge {' '.join(argv)}\n{out.out}{out.err}exit {code}\n\n")
        return code, out.out, out.err

    return run


def _tree(root: Path) -> dict[str, tuple[int, float]]:
    """Every path deploy owns below root with its size and mtime.

    Leaves out the venvs' insides and the running agent's own state (outbox).
    """
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if "/venv/" in rel or "/deps/" in rel or "__pycache__" in rel or "outbox" in rel:
            continue
        st = p.lstat()
        out[rel] = (st.st_size, st.st_mtime)
    return out


def _check_installed(device) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    exe = device.root / "opt/helio-edge/current/venv/bin/helio-edge"
    cfg = device.root / "etc/helio-edge/config.toml"
    return subprocess.run([str(exe), "check", "--config", str(cfg), "--skip", "devices"],
                          capture_output=True, text=True, timeout=120, check=False)


def test_deploy_lifecycle_first_same_second_broken_rollback(  # type: ignore[no-untyped-def]
    deploy_cli, sshd, device, mosquitto, tmp_path
) -> None:
    cred = tmp_path / "cred.toml"
    cred.write_text('username = "abuja-01"\npassword = "not-a-real-secret"\n')
    cred.chmod(0o600)
    tpl_a = write_template(tmp_path / "a.toml", port=mosquitto.port)
    root = device.root

    # 0. a first deploy that fails its health check: nothing to roll back to, it says so
    tpl_0 = write_template(tmp_path / "zero.toml", port=mosquitto.port, devices=[
        {"id": "mppt", "protocol": "vedirect", "port": "/dev/ttyHELIO-FIRST-MISSING"}])
    code, out, err = deploy_cli(tpl_0, cred, "--health-timeout", "8")
    assert code == 1
    assert "no previous release to roll back to" in out and "failed" in err
    rel_0 = device.current()
    assert (root / "opt/helio-edge/releases" / rel_0 / "FAILED").is_file()

    # 1. the first good deploy: installs, starts, healthy
    code, out, err = deploy_cli(tpl_a, cred)
    assert code == 0, out + err
    assert f"note: the last deploy ({rel_0}) ended failed" in out
    assert "deployed: 0.1.0-" in out and "healthy" in out
    rel_a = device.current()
    assert rel_a.startswith("0.1.0-") and rel_a != rel_0
    assert (root / "etc/helio-edge/credentials.toml").stat().st_mode & 0o777 == 0o600
    cfg = load_agent_config(root / "etc/helio-edge/config.toml")
    assert cfg.model.bundle == str(root / "var/lib/helio-edge/bundle")
    assert cfg.mqtt.credentials_file == str(root / "etc/helio-edge/credentials.toml")
    assert device.changes()[-3:] == ["daemon-reload", "enable helio-edge.service",
                                     "restart helio-edge.service"]
    assert "is-active helio-edge.service" in device.calls()
    # the release's venv has its own code and the shared, offline-installed dependencies
    where = subprocess.run(
        [str(root / "opt/helio-edge/current/venv/bin/python"), "-c",
         "import edge, paho; print(edge.__file__); print(paho.__file__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path).stdout.split()
    where = [os.path.realpath(w) for w in where]
    assert where[0].startswith(str(root / "opt/helio-edge/releases" / rel_a / "venv"))
    assert where[1].startswith(str(root / "opt/helio-edge/deps"))
    # the installed agent runs: check passes from the installed venv, status is online
    chk = _check_installed(device)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert wait_online(cfg, time.time() - 60, timeout=20)[0] == 0
    # the installed unit verifies against the installed tree
    if shutil.which("systemd-analyze"):
        unit = root / "etc/systemd/system/helio-edge.service"
        v = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                           text=True, timeout=60, check=False)
        assert v.returncode == 0, v.stderr
        assert [ln for ln in v.stderr.splitlines() if unit.name in ln] == []

    # 2. the same release again: nothing changes, not even a restart
    before, changes, pid = _tree(root), device.changes(), device.agent_pid()
    code, out, _ = deploy_cli(tpl_a, cred)
    assert code == 0
    assert f"already deployed: {rel_a}" in out
    assert _tree(root) == before and device.changes() == changes and device.agent_pid() == pid

    # 2b. someone edited the installed config by hand: the same release is re-applied,
    #     its (running) venv is kept, not rebuilt
    venv_stamp = (root / "opt/helio-edge/releases" / rel_a / "venv/.complete").stat()
    (root / "etc/helio-edge/config.toml").write_text("# edited on site\n")
    code, out, err = deploy_cli(tpl_a, cred)
    assert code == 0, out + err
    assert "already deployed" not in out and "virtual environment already present" in out
    assert load_agent_config(root / "etc/helio-edge/config.toml").agent.heartbeat_s == 2.0
    assert (root / "opt/helio-edge/releases" / rel_a / "venv/.complete").stat() == venv_stamp
    assert device.current() == rel_a

    # 3. a second release (config change): new id, previous kept for rollback (--keep 2)
    tpl_b = write_template(tmp_path / "b.toml", port=mosquitto.port, heartbeat_s=3.0)
    code, out, err = deploy_cli(tpl_b, cred, "--keep", "2")
    assert code == 0, out + err
    rel_b = device.current()
    assert rel_b != rel_a
    assert "dependency environment" in out and "already present" in out  # reused, not rebuilt
    assert load_agent_config(root / "etc/helio-edge/config.toml").agent.heartbeat_s == 3.0
    releases = sorted(p.name for p in (root / "opt/helio-edge/releases").iterdir())
    assert releases == sorted([rel_a, rel_b])
    assert f"removed release {rel_0}" in out
    pid_b = device.agent_pid()
    assert pid_b and pid_b != pid

    # 4. a broken release (its serial device does not exist): check fails, rolled back
    tpl_c = write_template(tmp_path / "c.toml", port=mosquitto.port, devices=[
        {"id": "mppt", "protocol": "vedirect", "port": "/dev/ttyHELIO-NOT-THERE"}])
    code, out, err = deploy_cli(tpl_c, cred, "--health-timeout", "15")
    assert code == 1
    assert "health check failed" in out and "device mppt" in out
    assert f"rolling back to {rel_b}" in out and f"{rel_b} runs again" in err
    assert device.current() == rel_b
    assert load_agent_config(root / "etc/helio-edge/config.toml").devices == ()
    assert device.agent_pid() and device.agent_pid() != pid_b  # restarted on rel_b
    assert _check_installed(device).returncode == 0
    assert device.calls()[-1] == "is-active helio-edge.service"

    # 5. the installer's link drops in the middle of a switch (back to rel_a): the device
    #    finishes on its own and records how it ended
    remote = Remote(SshTarget(sshd.destination, port=sshd.port, identity=str(sshd.identity),
                              options=(f"UserKnownHostsFile={sshd.known_hosts}",)))
    remote.connect()
    with pytest.raises(DeployError, match="no answer"):
        remote.step("switch", {"root": str(root), "release": rel_a, "user": "helio",
                               "manager": str(device.manager), "timeout": 40, "skip": ["broker"],
                               "settle": 1}, timeout=1.0)
    last = root / "opt/helio-edge/last-deploy.json"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and rel_a not in (last.read_text() if last.exists() else ""):
        time.sleep(0.5)
    assert json.loads(last.read_text())["outcome"] == "deployed"
    assert device.current() == rel_a
    assert load_agent_config(root / "etc/helio-edge/config.toml").agent.heartbeat_s == 2.0


def test_unreachable_host_is_a_clear_error_and_changes_nothing(  # type: ignore[no-untyped-def]
    capsys, device, native_wheelhouse, build_cache, tmp_path
) -> None:
    cred = tmp_path / "cred.toml"
    cred.write_text('username = "u"\npassword = "p"\n')
    tpl = write_template(tmp_path / "a.toml", port=1883)
    port = free_port()  # nothing listens here
    code = main(["deploy", "--device", "pi@127.0.0.1", "--port", str(port),
                 "--connect-timeout", "3", "--native", "--wheelhouse", str(native_wheelhouse),
                 "--cache-dir", str(build_cache), "--config", str(tpl), "--credentials",
                 str(cred), "--device-root", str(device.root),
                 "--service-manager", str(device.manager)])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot reach pi@127.0.0.1" in err and "device on" in err
    assert list(device.root.iterdir()) == [] and device.calls() == []


def test_dry_run_lists_every_step_and_touches_nothing(  # type: ignore[no-untyped-def]
    deploy_cli, device, tmp_path
) -> None:
    cred = tmp_path / "cred.toml"
    cred.write_text('username = "u"\npassword = "p"\n')
    tpl = write_template(tmp_path / "a.toml", port=1883)
    code, out, _ = deploy_cli(tpl, cred, "--dry-run")
    assert code == 0
    steps = [ln for ln in out.splitlines() if "[dry-run" in ln]
    text = "\n".join(steps)
    for needle in ("rsync", "pip install --no-index", "etc/helio-edge/credentials.toml mode 0600",
                   "mv -T", "restart", "helio-edge check", "previous release", "prune"):
        assert needle in text, needle
    assert list(device.root.iterdir()) == [] and device.calls() == []


def test_missing_credentials_file_fails_before_connecting(  # type: ignore[no-untyped-def]
    capsys, device, native_wheelhouse, build_cache, tmp_path
) -> None:
    tpl = write_template(tmp_path / "a.toml", port=1883)
    code = main(["deploy", "--device", "pi@192.0.2.1", "--native", "--wheelhouse",
                 str(native_wheelhouse), "--cache-dir", str(build_cache), "--config", str(tpl),
                 "--credentials", str(tmp_path / "missing.toml"),
                 "--device-root", str(device.root)])
    assert code == 2
    assert "missing.toml" in capsys.readouterr().err
    assert not os.listdir(device.root)
