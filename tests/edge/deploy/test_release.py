"""Staging a release on the installer's machine: checks, rendering, identity."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.deploy.build import Target, wheel_requirements
from edge.deploy.release import DeviceLayout, ReleaseInputs, dump_toml, stage_release
from edge.forecasting.bundle import BundleError
from edge.runtime.config import load_agent_config
from firmware_bridge.config import ConfigError
from tests.conftest import REPO
from tests.edge.deploy.helpers import PUBLIC_KEY, UNIT, needs_bundle, write_template

TARGET = {"machine": "x86_64", "python": "3.11"}


@pytest.fixture
def inputs(tmp_path: Path, session_wheel: Path) -> ReleaseInputs:
    cred = tmp_path / "cred.toml"
    cred.write_text('username = "site-7"\npassword = "s3cret"\n')
    return ReleaseInputs(
        wheel=session_wheel,
        requirements=tuple(wheel_requirements(session_wheel, Target("native"))),
        wheelhouse=None, agent_config=write_template(tmp_path / "agent.toml", port=1883),
        unit=UNIT, credentials=cred,
    )


def _stage(inputs: ReleaseInputs, out: Path, root: str = "/srv/pi") -> object:
    return stage_release(inputs, DeviceLayout(root), version="0.1.0", out_root=out,
                         target=TARGET, source=REPO)


@needs_bundle
def test_stage_renders_device_paths_and_keeps_secrets_private(
    inputs: ReleaseInputs, tmp_path: Path
) -> None:
    rel = stage_release(inputs, DeviceLayout("/srv/pi"), version="0.1.0",
                        out_root=tmp_path / "out", target=TARGET)
    files = rel.dir / "files"
    cfg = tomllib.loads((files / "etc/helio-edge/config.toml").read_text())
    assert cfg["agent"]["site"] == "/srv/pi/etc/helio-edge/site.toml"
    assert cfg["agent"]["state_dir"] == "/srv/pi/var/lib/helio-edge"
    assert cfg["model"]["bundle"] == "/srv/pi/var/lib/helio-edge/bundle"
    assert cfg["model"]["public_key"] == f"/srv/pi/etc/helio-edge/keys/{PUBLIC_KEY.name}"
    assert cfg["mqtt"]["credentials_file"] == "/srv/pi/etc/helio-edge/credentials.toml"
    assert (files / "etc/helio-edge/credentials.toml").stat().st_mode & 0o777 == 0o600
    entry = {f["path"]: f for f in rel.manifest["files"]}["etc/helio-edge/credentials.toml"]
    assert (entry["mode"], entry["owner"]) == ("0600", "service")
    unit = (files / "etc/systemd/system/helio-edge.service").read_text()
    assert "ExecStart=/srv/pi/opt/helio-edge/current/venv/bin/helio-edge run --config " \
           "/srv/pi/etc/helio-edge/config.toml" in unit
    assert json.loads((rel.dir / "release.json").read_text())["id"] == rel.id
    assert (rel.dir / "wheels" / inputs.wheel.name).is_file()


@needs_bundle
def test_stage_on_real_root_keeps_unit_and_config_loadable(
    inputs: ReleaseInputs, tmp_path: Path
) -> None:
    rel = stage_release(inputs, DeviceLayout("/"), version="0.1.0", out_root=tmp_path / "o",
                        target=TARGET)
    unit = (rel.dir / "files/etc/systemd/system/helio-edge.service").read_text()
    assert unit == UNIT.read_text()
    # the rendered file passes the agent's own strict loader
    cfg = load_agent_config(rel.dir / "files/etc/helio-edge/config.toml")
    assert cfg.model.bundle == "/var/lib/helio-edge/bundle"
    assert cfg.mqtt.credentials_file == "/etc/helio-edge/credentials.toml"


@needs_bundle
def test_release_id_depends_on_content_only(inputs: ReleaseInputs, tmp_path: Path) -> None:
    a = _stage(inputs, tmp_path / "a")
    b = _stage(inputs, tmp_path / "b")
    assert a.id == b.id and a.id.startswith("0.1.0-")  # type: ignore[attr-defined]
    changed = write_template(tmp_path / "agent2.toml", port=1883, heartbeat_s=7.0)
    c = _stage(_replace(inputs, agent_config=changed), tmp_path / "c")
    assert c.id != a.id  # type: ignore[attr-defined]
    other_root = _stage(inputs, tmp_path / "d", root="/other")
    assert other_root.id != a.id  # type: ignore[attr-defined]


def _replace(inputs: ReleaseInputs, **kw: object) -> ReleaseInputs:
    return dataclasses.replace(inputs, **kw)  # type: ignore[arg-type]


@needs_bundle
def test_missing_credentials_when_config_names_them(inputs: ReleaseInputs, tmp_path: Path) -> None:
    tpl = write_template(tmp_path / "t.toml", port=1883,
                         credentials_file=str(tmp_path / "cred.toml"))
    with pytest.raises(ConfigError, match="pass --credentials"):
        _stage(_replace(inputs, agent_config=tpl, credentials=None), tmp_path / "o")


@needs_bundle
@pytest.mark.parametrize("field,match", [
    ("bundle", "model bundle not found"),
    ("public_key", "bundle public key not found"),
    ("credentials", "credentials file not found"),
    ("site", "site file not found"),
    ("agent_config", "file not found"),
], ids=["bundle", "key", "credentials", "site", "config"])
def test_missing_input_is_named(inputs: ReleaseInputs, tmp_path: Path, field: str,
                                match: str) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        _stage(_replace(inputs, **{field: tmp_path / "nope"}), tmp_path / "o")
    assert "nope" in str(err.value)
    assert not (tmp_path / "o").exists() or not any(
        p.name != ".staging" for p in (tmp_path / "o").iterdir())


@needs_bundle
def test_bundle_signed_by_another_key_is_refused_before_anything_ships(
    inputs: ReleaseInputs, tmp_path: Path
) -> None:
    other = tmp_path / "other.pub"
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(BundleError):
        _stage(_replace(inputs, public_key=other), tmp_path / "o")


def test_dump_toml_round_trips_the_agent_config_shape() -> None:
    data = {
        "agent": {"id": "gw", "site": 'C:\\odd "path"', "heartbeat_s": 60.0},
        "model": {"bundle": "/b", "allow_unblessed": False},
        "mqtt": {"port": 1883, "tls": True},
        "devices": [{"id": "mppt", "protocol": "vedirect", "port": "/dev/ttyUSB0",
                     "poll_interval": 1.0},
                    {"id": "inv", "protocol": "pi30", "port": "socket://h:1", "timeout": 2}],
        "site": {"linke_turbidity": [5.5, 6.0]},
        "rollout": {"shadow_s": 3600, "gate": {"max_ratio": 1.0, "min-samples": 96}},
    }
    text = dump_toml(data, header="generated\nsecond line")
    assert text.startswith("# generated\n# second line\n")
    assert tomllib.loads(text) == data

