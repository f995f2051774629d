"""The status-topic part of the health check (runs on the device after a restart)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from edge.runtime.config import load_agent_config
from edge.runtime.health import main, online_since, status_topic
from tests.conftest import MOSQUITTO, free_port, wait_port
from tests.edge.deploy.helpers import needs_bundle, write_template

SINCE = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def _status(state: str, stamp: str | None) -> bytes:
    body = {"schema_version": 1, "site_id": "abuja-01", "device_id": "gateway",
            "stream": "status", "state": state}
    if stamp is not None:
        body["timestamp"] = stamp
    return json.dumps(body).encode()


@pytest.mark.parametrize("payload,ok", [
    (_status("online", "2027-01-15T08:00:05Z"), True),
    (_status("online", "2027-01-15T07:59:59.500Z"), True),   # within 1 s of clock jitter
    (_status("online", "2027-01-15T07:58:00Z"), False),      # the old release's retained status
    (_status("offline", "2027-01-15T08:00:05Z"), False),
    (_status("offline", None), False),                       # the Last Will has no timestamp
    (b"not json", False),
    (b'{"state": "online", "timestamp": "yesterday"}', False),
], ids=["fresh", "jitter", "stale", "offline", "lwt", "garbage", "bad-stamp"])
def test_online_since(payload: bytes, ok: bool) -> None:
    assert online_since(payload, SINCE) is ok


@needs_bundle
def test_status_topic_and_unreachable_broker_exit_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    tpl = write_template(tmp_path / "a.toml", port=free_port())  # nobody listens
    assert status_topic(load_agent_config(tpl)) == "helio/abuja-01/gateway/status"
    assert main(["--config", str(tpl), "--since", str(time.time()), "--timeout", "2"]) == 2
    assert "unreachable" in capsys.readouterr().out


@pytest.mark.broker
@needs_bundle
def test_no_fresh_status_within_timeout_exit_1(tmp_path: Path, mosquitto, capsys) -> None:  # type: ignore[no-untyped-def]
    tpl = write_template(tmp_path / "a.toml", port=mosquitto.port)
    assert main(["--config", str(tpl), "--since", str(time.time()), "--timeout", "1"]) == 1
    assert "no online status on helio/abuja-01/gateway/status" in capsys.readouterr().out


@pytest.mark.broker
@needs_bundle
def test_broker_refusing_the_credentials_fails_fast(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Wrong credentials shipped with a release must fail it, not look like 'offline'."""
    if MOSQUITTO is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto or mosquitto_passwd not installed")
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "abuja-01", "right"], check=True)
    pw.chmod(0o600)
    port = free_port()
    conf = tmp_path / "m.conf"
    # "user root": started as root, mosquitto would drop to a user that cannot read tmp_path
    conf.write_text(f"user root\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {pw}\n"
                    "persistence false\nlog_dest stderr\nlog_type error\n")
    broker = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_port("127.0.0.1", port)
        cred = tmp_path / "cred.toml"
        cred.write_text('username = "abuja-01"\npassword = "wrong"\n')
        tpl = write_template(tmp_path / "a.toml", port=port, credentials_file=str(cred))
        t0 = time.monotonic()
        assert main(["--config", str(tpl), "--since", str(time.time()), "--timeout", "20"]) == 1
        assert time.monotonic() - t0 < 10
        assert "refused" in capsys.readouterr().out
    finally:
        broker.terminate()
        broker.wait(timeout=5)
