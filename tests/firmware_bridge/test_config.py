"""The strict config loader: ids fit MQTT topics, unknown keys and wrong types name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge.config import ConfigError, DeviceConfig, check_id, from_mapping, load_toml


@pytest.mark.parametrize("good", ["abuja-01", "mppt", "A_b-9"])
def test_check_id_accepts_topic_safe_ids(good: str) -> None:
    assert check_id(good) == good


@pytest.mark.parametrize("bad", ["", "a/b", "a+b", "a#", "naïve", "a b"])
def test_check_id_rejects_what_a_topic_level_cannot_hold(bad: str) -> None:
    with pytest.raises(ValueError, match="site"):
        check_id(bad, "site")


def test_device_config_from_mapping_converts_and_defaults() -> None:
    cfg = from_mapping(DeviceConfig, {"id": "mppt", "protocol": "vedirect", "port": "loop://",
                                      "poll_interval": 2})
    assert cfg == DeviceConfig("mppt", "vedirect", "loop://", poll_interval=2.0)
    assert isinstance(cfg.poll_interval, float) and cfg.timeout == 2.0 and cfg.baudrate == 0


@pytest.mark.parametrize(("data", "key", "message"), [
    ({"id": "x", "protocol": "pi30"}, "device.port", "required key is missing"),
    ({"id": "x", "protocol": "pi30", "port": "p", "speed": 1}, "device.speed", "unknown key"),
    ({"id": "x", "protocol": "pi30", "port": "p", "baudrate": True}, "device.baudrate",
     "expected an integer"),
    ({"id": "x", "protocol": "pi30", "port": "p", "timeout": "2"}, "device.timeout",
     "expected a number"),
    ({"id": "x", "protocol": "pi30", "port": "p", "timeout": 0}, "device", "timeout"),
    ({"id": "x/y", "protocol": "pi30", "port": "p"}, "device", "id"),
])
def test_errors_name_file_and_key(data: dict[str, object], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_mapping(DeviceConfig, data, path="site.toml", prefix="device")
    assert info.value.path == "site.toml"
    assert info.value.key == key
    assert message in info.value.message


def test_load_toml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("a = [")
    with pytest.raises(ConfigError, match="invalid TOML") as info:
        load_toml(bad)
    assert info.value.path == str(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_toml(tmp_path / "missing.toml")
    good = tmp_path / "good.toml"
    good.write_text('[device]\nid = "mppt"\n')
    assert load_toml(good) == {"device": {"id": "mppt"}}
