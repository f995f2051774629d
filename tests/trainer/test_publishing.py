"""trainer.publishing: the signed cmd/model commands it builds and where it sends them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from edge.forecasting.bundle import load_public_key, read_bundle_files, sha256_hex
from edge.runtime.contract import ModelCommandBody, Topics, read_body
from edge.runtime.inbound import CommandError
from edge.runtime.signed_commands import CommandVerifier
from tests.trainer.monitor.conftest import Pub, Sub, status, wait_for
from tests.trainer.monitor.rollout_helpers import keypair, make_bundle
from trainer.bundle_signing import load_private_key
from trainer.cli import main as train_main
from trainer.publishing import (
    RolloutError,
    choose_targets,
    install_payload,
    model_topic,
    rollback_payload,
)

T0 = 1_780_000_000.0


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return keypair(tmp_path)


def test_model_topic_is_the_gateways_cmd_model_topic() -> None:
    assert model_topic("kano-02", "gw-b") == Topics("kano-02", "gw-b").cmd_model
    assert model_topic("kano-02", "gw-b", "fleet") == "fleet/kano-02/gw-b/cmd/model"


def test_install_command_verifies_on_the_gateway_it_names(tmp_path: Path, keys) -> None:
    """The trainer signs what the device checks: same fields, same bytes, same times."""
    bundle = make_bundle(tmp_path / "v2", keys[0], version="v2", kt=0.8)
    payload = install_payload(bundle, key=load_private_key(keys[0]), site="s1", device="gw",
                              rollout_id="r-7", ttl_s=3600.0, now=T0)
    body = json.loads(payload)
    archive = base64.b64decode(body["archive_b64"])
    assert body["archive_sha256"] == sha256_hex(archive) and body["archive_bytes"] == len(archive)
    assert body["sha256"] == sha256_hex(read_bundle_files(bundle)["model.tflite"])
    typed = read_body("s1", "gw", "cmd/model", body)  # what the monitor reads of it
    assert isinstance(typed, ModelCommandBody) and typed.manifest is not None
    assert typed.issued is not None and typed.issued.timestamp() == T0
    assert typed.manifest.model_version == "v2" and typed.rollout_id == "r-7"
    key = load_public_key(keys[1])
    verifier = CommandVerifier(key, site_id="s1", device_id="gw", ledger=tmp_path / "l.json")
    assert verifier.verify(body, now=T0 + 60) == "r-7"
    other = CommandVerifier(key, site_id="s1", device_id="gw-2", ledger=tmp_path / "m.json")
    with pytest.raises(CommandError, match="not s1/gw-2"):
        other.verify(body, now=T0 + 60)
    body["downgrade"] = True  # a signed field changed after signing
    fresh = CommandVerifier(key, site_id="s1", device_id="gw", ledger=tmp_path / "n.json")
    with pytest.raises(CommandError, match="does not verify"):
        fresh.verify(body, now=T0 + 60)


def test_rollback_command_expires_after_its_ttl(tmp_path: Path, keys) -> None:
    body = json.loads(rollback_payload(key=load_private_key(keys[0]), site="s1", device="gw",
                                       ttl_s=600.0, now=T0))
    assert (body["issued"], body["expires"]) == ("2026-05-28T20:26:40Z", "2026-05-28T20:36:40Z")
    verifier = CommandVerifier(load_public_key(keys[1]), site_id="s1", device_id="gw",
                               ledger=tmp_path / "l.json")
    with pytest.raises(CommandError, match="expired"):
        verifier.verify(body, now=T0 + 601)
    with pytest.raises(RolloutError, match="ttl"):
        rollback_payload(key=load_private_key(keys[0]), site="s1", device="gw", ttl_s=0.0)


def test_publisher_refuses_unsigned_bundle(tmp_path: Path, keys) -> None:
    unsigned = make_bundle(tmp_path / "u", keys[0], version="u", kt=0.5, sign=False)
    with pytest.raises(RolloutError, match=r"manifest\.sig is missing"):
        install_payload(unsigned, key=load_private_key(keys[0]), site="s", device="g")
    signed = make_bundle(tmp_path / "s", keys[0], version="s", kt=0.5)
    other_pub = keypair(tmp_path / "o")[1]
    with pytest.raises(RolloutError, match="signature"):
        install_payload(signed, key=load_private_key(keys[0]), site="s", device="g",
                        public_key=other_pub)


def test_choose_targets() -> None:
    gws = {"gw-c": "online", "gw-a": "offline", "gw-b": "online"}
    assert choose_targets(gws) == ["gw-a", "gw-b", "gw-c"]
    assert choose_targets(gws, canary=1) == ["gw-b"]  # first online one
    assert choose_targets(gws, canary=5) == ["gw-b", "gw-c"]
    assert choose_targets(gws, device="gw-x") == ["gw-x"]


@pytest.mark.broker
def test_publish_canary_and_rollback_reach_the_right_gateways(mosquitto, tmp_path: Path,
                                                             keys) -> None:
    site = "kano-02"
    pub = Pub(mosquitto.port)
    for gw, state in (("gw-a", "offline"), ("gw-b", "online"), ("gw-c", "online")):
        pub.send(*status(site, gw, 0.0, state=state), retain=True)
    pub.close()
    inbox = Sub(mosquitto.port, Topics(site).every_device("cmd/model"))
    bundle = make_bundle(tmp_path / "v2", keys[0], version="v2", kt=0.8)
    args = ["--site", site, "--port", str(mosquitto.port), "--wait", "0.5", "--key", str(keys[0])]
    assert train_main(["publish", "--bundle", str(bundle), "--canary", "1", *args]) == 0
    wait_for(lambda: len(inbox.messages) == 1, what="canary install")
    topic, body = inbox.messages[0]
    assert topic == f"helio/{site}/gw-b/cmd/model" and body["command"] == "install"
    assert body["version"] == "v2" and body["manifest"]["model_version"] == "v2"
    assert train_main(["rollback", *args]) == 0
    wait_for(lambda: len(inbox.messages) == 4, what="rollbacks")
    assert sorted(t.split("/")[2] for t, b in inbox.messages[1:]
                  if b["command"] == "rollback") == ["gw-a", "gw-b", "gw-c"]
    assert train_main(["rollback", "--site", "nowhere", "--port", str(mosquitto.port),
                       "--key", str(keys[0]),
                       "--wait", "0.3"]) == 1
    inbox.close()
