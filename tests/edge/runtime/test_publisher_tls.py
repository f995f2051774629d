"""TLS and username/password from the credentials file, against a real mosquitto."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from edge.runtime.config import load_agent_config
from edge.runtime.mqtt import broker_settings
from edge.runtime.outbox import Outbox
from edge.runtime.publisher import MqttPublisher
from tests.conftest import MOSQUITTO, free_port, wait_port
from tests.fleet_broker import make_cert, write_pem

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="no mosquitto_passwd"),
]


@dataclass
class SecureBroker:
    port: int
    ca_file: str
    proc: subprocess.Popen[bytes]


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[SecureBroker]:
    assert MOSQUITTO is not None
    ca_key, srv_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca = make_cert("helio test CA", ca_key, None, None, ca=True)
    srv = make_cert("127.0.0.1", srv_key, ca.subject, ca_key, ca=False)
    ca_file = str(write_pem(tmp_path / "ca.pem", ca))
    passwd = tmp_path / "passwd"
    passwd.write_text("gateway:s3cret\n")
    subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True, capture_output=True)
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\n"
        f"cafile {ca_file}\ncertfile {write_pem(tmp_path / 'srv.pem', srv)!s}\n"
        f"keyfile {write_pem(tmp_path / 'srv.key', srv_key)!s}\npersistence false\nlog_dest none\n"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port("127.0.0.1", port)
    yield SecureBroker(port, ca_file, proc)
    proc.terminate()
    proc.wait(5)


def _config(tmp_path: Path, port: int, ca_file: str, password: str) -> Path:
    creds = tmp_path / "credentials.toml"
    creds.write_text(f'username = "gateway"\npassword = "{password}"\n')
    creds.chmod(0o600)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[agent]\nsite = "site.toml"\n[model]\nbundle = "b"\npublic_key = "k"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\ntls = true\nca_file = "{ca_file}"\n'
        f'credentials_file = "credentials.toml"\n'
    )
    return cfg


def _publisher(cfg_path: Path, box: Outbox) -> MqttPublisher:
    cfg = load_agent_config(cfg_path)
    return MqttPublisher(broker_settings(cfg, "s"), box, will_topic="helio/s/gateway/status",
                         will_payload=b"{}", reconnect_min_s=0.1, reconnect_max_s=0.3,
                         rng=random.Random(2))


def test_tls_with_credentials_file_delivers(secure_broker: SecureBroker, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    for _ in range(20):
        box.put("mppt", "reading", "helio/s/mppt/reading", lambda s: json.dumps([s]).encode())
    pub = _publisher(_config(tmp_path, secure_broker.port, secure_broker.ca_file, "s3cret"), box)
    pub.start()
    try:
        assert pub.wait_drained(20), pub.stats.last_error
        assert pub.stats.connects == 1
    finally:
        pub.stop()


def test_wrong_password_keeps_queue_and_retries(secure_broker: SecureBroker,
                                                tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.put("mppt", "reading", "helio/s/mppt/reading", lambda s: b"x")
    pub = _publisher(_config(tmp_path, secure_broker.port, secure_broker.ca_file, "wrong"), box)
    pub.start()
    try:
        time.sleep(1.5)
        assert pub.is_alive() and not pub.connected
        assert pub.stats.connect_failures >= 2
        assert "refused" in pub.stats.last_error or "auth" in pub.stats.last_error.lower()
        assert box.stats.queued == 1
    finally:
        pub.stop()


def test_untrusted_ca_is_refused(secure_broker: SecureBroker, tmp_path: Path) -> None:
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = make_cert("other CA", other_key, None, None, ca=True)
    other = str(write_pem(tmp_path / "other-ca.pem", other_ca))
    box = Outbox(tmp_path / "o.sqlite")
    pub = _publisher(_config(tmp_path, secure_broker.port, other, "s3cret"), box)
    pub.start()
    try:
        time.sleep(1.0)
        assert pub.is_alive() and not pub.connected
        assert "certificate" in pub.stats.last_error.lower()
    finally:
        pub.stop()
