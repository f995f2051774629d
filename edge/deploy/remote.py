"""Deploy, transport: SSH commands and rsync copies to the device.

Responsible for: building the ``ssh``/``rsync`` command lines (port,
identity file, options, ``sudo -n`` when the login user is not root),
running the device-side steps of :mod:`edge.deploy.device_script` by sending that
file to the device's ``python3`` over SSH, and turning SSH failures into a
:class:`DeployError` that says what to fix (unreachable host, refused key,
no passwordless sudo).

Does NOT: decide what to deploy or when to roll back (:mod:`edge.deploy.orchestrate`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DeployError", "Remote", "SshTarget"]

log = logging.getLogger(__name__)

#: The standard-library script the Pi runs (fed to its python3 on stdin; never imported here).
DEVICE_SCRIPT = Path(__file__).with_name("device_script.py")

#: ssh's own exit status for connection and authentication failures.
SSH_FAILED = 255


class DeployError(RuntimeError):
    """A deploy could not go on; the message tells the installer what to fix."""


@dataclass(frozen=True, slots=True)
class SshTarget:
    """How to reach the device.

    Attributes
    ----------
    destination : str
        ``user@host`` (or an alias from ``~/.ssh/config``).
    port : int
        SSH port; 0 leaves it to ``~/.ssh/config`` (22).
    identity : str
        Private key file (``-i``); empty uses the SSH agent / defaults.
    options : tuple of str
        Extra ``-o`` options (``UserKnownHostsFile=...``).
    connect_timeout : int
        Seconds before an unreachable host is reported. [s]
    """

    destination: str
    port: int = 0
    identity: str = ""
    options: tuple[str, ...] = ()
    connect_timeout: int = 10

    def ssh_argv(self) -> list[str]:
        """``ssh`` and its options, without the destination."""
        argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}",
                "-o", "StrictHostKeyChecking=accept-new", "-o", "ServerAliveInterval=15"]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.identity:
            argv += ["-i", self.identity, "-o", "IdentitiesOnly=yes"]
        for opt in self.options:
            argv += ["-o", opt]
        return argv


def _explain(target: SshTarget, stderr: str) -> str:
    text = stderr.strip()
    hint = ""
    if "Permission denied" in text:
        hint = ("the device refused the key: copy it with "
                f"`ssh-copy-id {target.destination}` (see docs/deploy.md)")
    elif "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION" in text:
        hint = "the device's host key changed: check it, then `ssh-keygen -R <host>`"
    else:
        hint = "is the device on, on the network, and running sshd?"
    return f"cannot reach {target.destination}: {text.splitlines()[-1] if text else 'ssh failed'}" \
           f"\n  {hint}"


@dataclass
class Remote:
    """Runs device steps over SSH and copies directories with rsync.

    Parameters
    ----------
    target : SshTarget
        The device.
    python : str
        The device's Python interpreter.
    report : callable
        Receives progress lines (the device's own output included).
    """

    target: SshTarget
    python: str = "python3"
    report: Callable[[str], None] = lambda _m: None
    sudo: bool = field(default=False, init=False)

    def check_identity(self) -> None:
        """Raise :class:`DeployError` when the identity file is missing."""
        if self.target.identity and not Path(self.target.identity).is_file():
            raise DeployError(f"SSH key {self.target.identity} not found "
                              "(create one with `ssh-keygen -t ed25519`, see docs/deploy.md)")

    def _ssh(
        self, command: str, stdin: str, timeout: float,
        on_line: Callable[[str], None] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on the device; stdout lines go to ``on_line`` as they come."""
        argv = [*self.target.ssh_argv(), self.target.destination, command]
        log.debug("ssh: %s", shlex.join(argv))
        return self._stream(argv, stdin, timeout, on_line)

    def _stream(
        self, argv: Sequence[str], stdin: str, timeout: float,
        on_line: Callable[[str], None] | None = None, env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` locally feeding ``stdin``; stream stdout lines; kill at ``timeout``.

        The transport under :meth:`_ssh` (a subclass may reach the device by
        another local command, e.g. ``chroot``, and reuse this).
        """
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, bufsize=1, env=env)
        except OSError as exc:
            raise DeployError(f"cannot run {argv[0]}: {exc}") from None
        err: list[str] = []
        reader = threading.Thread(target=lambda: err.extend(proc.stderr or ()), daemon=True)
        reader.start()
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        out: list[str] = []
        try:
            assert proc.stdin is not None and proc.stdout is not None
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(stdin)
                proc.stdin.close()
            for line in proc.stdout:
                out.append(line)
                if on_line is not None:
                    on_line(line.rstrip("\n"))
            proc.wait()
        finally:
            timer.cancel()
            reader.join(timeout=5)
        if expired.is_set():
            raise DeployError(f"{self.target.destination}: no answer within {timeout:.0f} s")
        return subprocess.CompletedProcess(list(argv), proc.returncode, "".join(out),
                                           "".join(err))

    def connect(self) -> None:
        """Check the device answers, and decide whether to use ``sudo -n``."""
        self.check_identity()
        done = self._ssh("id -u", "", timeout=self.target.connect_timeout + 20)
        if done.returncode == SSH_FAILED:
            raise DeployError(_explain(self.target, done.stderr))
        if done.returncode != 0:
            raise DeployError(f"{self.target.destination}: `id -u` failed: {done.stderr.strip()}")
        self.sudo = done.stdout.strip() != "0"
        if self.sudo:
            probe = self._ssh("sudo -n true", "", timeout=30)
            if probe.returncode != 0:
                raise DeployError(
                    f"{self.target.destination}: the login user is not root and has no "
                    "passwordless sudo; see docs/deploy.md (sudoers line)")

    def step(self, name: str, args: dict[str, Any], *, timeout: float = 1800.0) -> dict[str, Any]:
        """Run :mod:`edge.deploy.device_script` step ``name`` on the device.

        Raises
        ------
        DeployError
            With the step's own explanation when it fails.
        """
        cmd = shlex.join([self.python, "-", name, json.dumps(args)])
        if self.sudo:
            cmd = "sudo -n " + cmd
        source = DEVICE_SCRIPT.read_text()
        result: dict[str, Any] = {}

        def line(text: str) -> None:
            if text.startswith("RESULT "):
                result.update(json.loads(text[len("RESULT "):]))
            elif text.strip():
                self.report(text)

        done = self._ssh(cmd, source, timeout=timeout, on_line=line)
        if done.returncode == SSH_FAILED:
            raise DeployError(_explain(self.target, done.stderr))
        if done.returncode != 0:
            raise DeployError(f"{name} on {self.target.destination}: "
                              f"{done.stderr.strip() or 'failed'}")
        return result

    def push(self, local_dir: Path, remote_dir: str, *, delete: bool,
             keep: Sequence[str] = ()) -> None:
        """rsync ``local_dir/`` into ``remote_dir/`` (created if missing).

        ``keep`` names top-level entries on the device that ``delete`` must
        not remove (a release's ``venv``: it may be the one running).
        """
        argv = ["rsync", "-a", "--no-owner", "--no-group", "-e", shlex.join(self.target.ssh_argv())]
        if delete:
            argv.append("--delete")
        for name in keep:
            argv += ["--exclude", f"/{name}"]
        # create the target first (works with old rsyncs, e.g. macOS's 2.6.9: no --mkpath)
        sudo = "sudo -n " if self.sudo else ""
        argv += ["--rsync-path", f"{sudo}mkdir -p {shlex.quote(remote_dir)} && {sudo}rsync"]
        argv += [f"{local_dir}/", f"{self.target.destination}:{remote_dir}/"]
        log.debug("rsync: %s", shlex.join(argv))
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode == SSH_FAILED:
            raise DeployError(_explain(self.target, done.stderr))
        if done.returncode != 0:
            raise DeployError(f"copying {local_dir.name} to the device failed "
                              f"(rsync exit {done.returncode}; is rsync installed there?):\n"
                              f"{done.stderr.strip()}")

    def describe(self, commands: Sequence[str]) -> list[str]:
        """The shell form of what a step would run (for ``--dry-run``)."""
        return [shlex.join([*self.target.ssh_argv(), self.target.destination, c])
                for c in commands]
