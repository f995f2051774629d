"""Free loopback ports and a real mosquitto broker on one.

Responsible for: :func:`free_port`, :func:`wait_port`,
:func:`find_mosquitto`, and :class:`Mosquitto`: a mosquitto process on a
free loopback port with a generated configuration (anonymous; the options
are the caller's), which :meth:`Mosquitto.stop` / :meth:`Mosquitto.start`
take down and bring back to simulate an outage. Used by the tests, the
bench, ``make demo`` and the aarch64 job.

Does NOT: embed a broker (the demo's amqtt fallback is
:mod:`edge.demo.broker`), or run the shipped fleet configuration (the
tests' ``tests/fleet_broker.py`` does).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = [
    "QUEUE_EVERYTHING",
    "Mosquitto",
    "find_mosquitto",
    "free_port",
    "persistent_options",
    "running_mosquitto",
    "wait_port",
]

#: no persistence, queues and in-flight windows large enough that a test never loses a message
QUEUE_EVERYTHING = ("persistence false", "max_queued_messages 1000000",
                    "max_inflight_messages 0", "log_dest none")


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until ``host:port`` accepts TCP connections. [s]

    Raises
    ------
    TimeoutError
        When it does not within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not open within {timeout} s")


def find_mosquitto() -> str | None:
    """The mosquitto binary, in PATH or Debian's /usr/sbin; None when absent."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None


def persistent_options(workdir: Path) -> tuple[str, ...]:
    """Options that keep subscriber sessions (and their queued QoS 1 messages) across
    restarts, stored under ``workdir``."""
    return ("persistence true", f"persistence_location {workdir}/",
            "max_queued_messages 1000000", "log_dest none",
            # as root mosquitto drops to user mosquitto, which cannot write the test's dir
            *(("user root",) if os.geteuid() == 0 else ()))


@dataclass
class Mosquitto:
    """A mosquitto process on ``host:port``, configured in ``workdir``.

    Parameters
    ----------
    host, port : str, int
        The one listener (anonymous access).
    workdir : Path
        Where ``mosquitto.conf`` is written.
    options : sequence of str
        Further configuration lines (default :data:`QUEUE_EVERYTHING`).
    binary : str, optional
        The mosquitto executable; default :func:`find_mosquitto`.
    """

    host: str
    port: int
    workdir: Path
    options: Sequence[str] = QUEUE_EVERYTHING
    binary: str | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def conf(self) -> Path:
        """The configuration file."""
        return self.workdir / "mosquitto.conf"

    def start(self, timeout: float = 10.0) -> None:
        """Write the configuration, start mosquitto and wait for its port. [s]

        Raises
        ------
        RuntimeError
            When there is no mosquitto binary.
        TimeoutError
            When the port does not open (the process is ended).
        """
        binary = self.binary or find_mosquitto()
        if binary is None:
            raise RuntimeError("mosquitto not installed (apt-get install mosquitto)")
        lines = [f"listener {self.port} {self.host}", "allow_anonymous true", *self.options]
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([binary, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(self.host, self.port, timeout)
        except TimeoutError:
            self.stop()
            raise

    def stop(self) -> None:
        """End the process (SIGTERM, then SIGKILL after 5 s); no-op when not running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Stop, then start on the same port."""
        self.stop()
        self.start()

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


@contextlib.contextmanager
def running_mosquitto(workdir: Path, options: Sequence[str] = QUEUE_EVERYTHING, *,
                      host: str = "127.0.0.1", binary: str | None = None,
                      ) -> Iterator[Mosquitto]:
    """A started :class:`Mosquitto` on a free port of ``host``, stopped on exit."""
    with Mosquitto(host, free_port(host), workdir, options, binary) as broker:
        yield broker
