"""Deploy test fixtures: a real sshd on loopback, a device root, a fake service manager.

The "device" is this machine: a real OpenSSH server started by the test on
a free loopback port (generated host key, an authorized key for the current
user), and a directory that stands for the device's root. systemd does not
run here, so the service manager is a small script that records its calls
and starts the installed release's agent directly.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge.deploy.build import (
    Target,
    build_wheel,
    build_wheelhouse,
    default_cache_dir,
    wheel_requirements,
)
from tests.conftest import REPO, free_port, wait_port

SSHD = "/usr/sbin/sshd"
HAS_SSHD = os.path.exists(SSHD) and shutil.which("rsync") is not None and bool(
    shutil.which("ssh-keygen")
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "sshd" in item.keywords and not HAS_SSHD:
            item.add_marker(pytest.mark.skip(reason="openssh-server or rsync not installed"))


@dataclass
class Sshd:
    """A running sshd: how to reach it as the current user."""

    port: int
    user: str
    identity: Path
    known_hosts: Path
    proc: subprocess.Popen[bytes]

    @property
    def destination(self) -> str:
        return f"{self.user}@127.0.0.1"

    def cli_args(self) -> list[str]:
        """``helio-edge deploy`` options that reach this sshd."""
        return ["--device", self.destination, "--port", str(self.port), "-i", str(self.identity),
                "-o", f"UserKnownHostsFile={self.known_hosts}", "--connect-timeout", "5"]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real OpenSSH server on a free 127.0.0.1 port, key login for this user."""
    if not HAS_SSHD:
        pytest.skip("openssh-server or rsync not installed")
    d = tmp_path_factory.mktemp("sshd")
    _keygen(d / "host_ed25519")
    _keygen(d / "client_ed25519")
    shutil.copy(d / "client_ed25519.pub", d / "authorized_keys")
    port = free_port()
    user = getpass.getuser()
    (d / "sshd_config").write_text(textwrap.dedent(f"""\
        Port {port}
        ListenAddress 127.0.0.1
        HostKey {d}/host_ed25519
        PidFile {d}/sshd.pid
        AuthorizedKeysFile {d}/authorized_keys
        StrictModes no
        UsePAM no
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        PubkeyAuthentication yes
        PermitRootLogin prohibit-password
        AllowUsers {user}
        LogLevel ERROR
        """))
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
    log = (d / "sshd.log").open("wb")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                            stdout=log, stderr=log)
    try:
        wait_port("127.0.0.1", port, timeout=10)
        host_pub = (d / "host_ed25519.pub").read_text().split()
        (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
        yield Sshd(port, user, d / "client_ed25519", d / "known_hosts", proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def build_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Per-session cache for the wheel and staged releases."""
    return tmp_path_factory.mktemp("deploy-cache")


@pytest.fixture(scope="session")
def native_wheelhouse(session_wheel: Path) -> Path:
    """The ``edge`` extra's wheels for this machine (built once, cached across sessions)."""
    target = Target("native", "{}.{}".format(*sys.version_info[:2]))
    reqs = wheel_requirements(session_wheel, target)
    return build_wheelhouse(reqs, target, cache_dir=default_cache_dir())


FAKE_SYSTEMCTL = '''#!{python}
"""A stand-in for systemctl: records calls, runs the installed agent directly."""
import os, signal, subprocess, sys, time
ROOT = {root!r}
STATE = {state!r}
verb = sys.argv[1] if len(sys.argv) > 1 else ""
with open(os.path.join(STATE, "calls.log"), "a") as fh:
    fh.write(" ".join(sys.argv[1:]) + "\\n")
pidfile = os.path.join(STATE, "agent.pid")

def pid():
    try:
        p = int(open(pidfile).read())
        os.kill(p, 0)
        return p
    except (OSError, ValueError):
        return 0

def stop():
    p = pid()
    if p:
        os.kill(p, signal.SIGTERM)
        for _ in range(100):
            try:
                os.kill(p, 0)
            except OSError:
                break
            time.sleep(0.05)
        else:
            os.kill(p, signal.SIGKILL)
    if os.path.exists(pidfile):
        os.unlink(pidfile)

if verb in ("restart", "start"):
    stop()
    exe = os.path.join(ROOT, "opt/helio-edge/current/venv/bin/helio-edge")
    cfg = os.path.join(ROOT, "etc/helio-edge/config.toml")
    log = open(os.path.join(STATE, "agent.log"), "ab")
    p = subprocess.Popen([exe, "run", "--config", cfg], stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    open(pidfile, "w").write(str(p.pid))
elif verb == "stop":
    stop()
elif verb == "is-active":
    ok = bool(pid())
    print("active" if ok else "inactive")
    sys.exit(0 if ok else 3)
'''


@dataclass
class Device:
    """A directory standing for the device's root, and its service manager."""

    root: Path
    state: Path
    manager: Path

    def calls(self) -> list[str]:
        log = self.state / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def changes(self) -> list[str]:
        """Calls that change the service (everything but ``is-active`` queries)."""
        return [c for c in self.calls() if not c.startswith("is-active")]

    def agent_pid(self) -> int:
        try:
            return int((self.state / "agent.pid").read_text())
        except (OSError, ValueError):
            return 0

    def stop(self) -> None:
        subprocess.run([str(self.manager), "stop"], check=False)

    def current(self) -> str:
        link = self.root / "opt/helio-edge/current"
        return Path(os.readlink(link)).name if link.is_symlink() else ""


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    """An empty device root with a recording service manager; stops the agent after."""
    root = tmp_path / "device"
    state = tmp_path / "service"
    root.mkdir()
    state.mkdir()
    manager = tmp_path / "fake-systemctl"
    manager.write_text(FAKE_SYSTEMCTL.format(python=sys.executable, root=str(root),
                                             state=str(state)))
    manager.chmod(0o755)
    dev = Device(root, state, manager)
    try:
        yield dev
    finally:
        dev.stop()
        pid = dev.agent_pid()
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def session_wheel(build_cache: Path) -> Path:
    """The project wheel, built once per session from the working tree."""
    return build_wheel(REPO, build_cache / "wheels")
