"""The production broker configuration (configs/mosquitto/) run for real, for tests.

:func:`start_fleet_broker` starts mosquitto with ``helio-fleet.conf`` and
``helio-fleet.acl`` as shipped, rewriting only the listener (a free loopback
port), the certificate, password, ACL and persistence paths (a temporary
directory with a test CA and server certificate). Users and passwords are
made with ``mosquitto_passwd``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric import ec

from edge.runtime.mqtt import BrokerSettings, make_client
from edge.testkit.fakes import make_cert, write_pem
from edge.testkit.launchers import free_port, wait_port
from tests.conftest import MOSQUITTO, REPO

__all__ = ["HAS_PASSWD", "FleetBroker", "make_cert", "start_fleet_broker", "write_pem"]

CONF = REPO / "configs/mosquitto/helio-fleet.conf"
ACL = REPO / "configs/mosquitto/helio-fleet.acl"
HAS_PASSWD = shutil.which("mosquitto_passwd") is not None


@dataclass
class FleetBroker:
    """A running mosquitto with the production config; ``stop()`` ends it."""

    port: int
    ca_file: Path
    workdir: Path
    passwords: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    clients: list[mqtt.Client] = field(default_factory=list)

    def settings(self, user: str | None, client_id: str = "") -> BrokerSettings:
        """TLS settings for ``user`` (None: anonymous)."""
        return BrokerSettings("127.0.0.1", self.port, client_id, tls=True,
                              ca_file=str(self.ca_file), username=user or "",
                              password=self.passwords.get(user or "", ""))

    def credentials_file(self, user: str) -> Path:
        """The agent-format TOML credentials of ``user`` (mode 0600)."""
        path = self.workdir / f"{user}.credentials.toml"
        path.write_text(f'username = "{user}"\npassword = "{self.passwords[user]}"\n')
        path.chmod(0o600)
        return path

    def client(self, user: str | None) -> mqtt.Client:
        """A connected MQTT 5 client of ``user`` with its network loop running."""
        client = make_client(self.settings(user), mqtt5=True)
        client.connect("127.0.0.1", self.port, keepalive=10)
        client.loop_start()
        self.clients.append(client)
        return client

    def stop(self) -> None:
        for c in self.clients:
            c.disconnect()
            c.loop_stop()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)


def start_fleet_broker(workdir: Path, passwords: dict[str, str], *,
                       acl_text: str | None = None,
                       settings: dict[str, str] | None = None) -> FleetBroker:
    """Start the shipped fleet configuration on a free port with these users (and the
    shipped ACL, unless ``acl_text`` replaces it); ``settings`` replaces the values of
    these configuration keys (e.g. ``{"max_queued_messages": "0"}``)."""
    assert MOSQUITTO is not None
    workdir.mkdir(parents=True, exist_ok=True)
    ca_key, srv_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca = make_cert("helio test CA", ca_key, None, None, ca=True)
    srv = make_cert("127.0.0.1", srv_key, ca.subject, ca_key, ca=False)
    files = {"cafile": write_pem(workdir / "ca.pem", ca),
             "certfile": write_pem(workdir / "server.pem", srv),
             "keyfile": write_pem(workdir / "server.key", srv_key)}
    passwd = workdir / "passwd"
    passwd.write_text("".join(f"{u}:{p}\n" for u, p in passwords.items()))
    subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True, capture_output=True)
    acl = workdir / "acl"
    acl.write_text(ACL.read_text() if acl_text is None else acl_text)
    (workdir / "persist").mkdir(exist_ok=True)
    port = free_port()
    rewrite = {"listener": f"listener {port} 127.0.0.1",
               **{k: f"{k} {v}" for k, v in files.items()},
               "password_file": f"password_file {passwd}", "acl_file": f"acl_file {acl}",
               "persistence_location": f"persistence_location {workdir / 'persist'}/",
               **{k: f"{k} {v}" for k, v in (settings or {}).items()}}
    lines = [rewrite.get(line.split(" ", 1)[0], line) for line in CONF.read_text().splitlines()]
    lines.append("log_dest stderr")
    if os.geteuid() == 0:
        lines.append("user root")
    conf = workdir / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port("127.0.0.1", port)
    return FleetBroker(port, files["cafile"], workdir, dict(passwords), proc)
