"""AgentConfig: strict loading, errors naming file and key (issue #4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.runtime.config import load_agent_config, load_credentials
from firmware_bridge.config import ConfigError

REPO = Path(__file__).resolve().parents[3]

GOOD = """
[agent]
site = "site.toml"
state_dir = "state"

[model]
bundle = "bundle"
public_key = "/etc/helio-edge/key.pub"

[mqtt]
host = "broker.example"
port = 8883
tls = true
ca_file = "ca.pem"
credentials_file = "creds.toml"

[[devices]]
id = "mppt"
protocol = "vedirect"
port = "/dev/ttyUSB0"

[[devices]]
id = "inverter"
protocol = "pi30"
port = "socket://127.0.0.1:5000"
poll_interval = 5.0
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def test_agent_config_loads_and_resolves_paths(tmp_path: Path) -> None:
    cfg = load_agent_config(_write(tmp_path, GOOD))
    assert cfg.agent.id == "gateway"
    assert cfg.agent.site == str(tmp_path / "site.toml")
    assert cfg.outbox_path == str(tmp_path / "state" / "outbox.sqlite")
    assert cfg.model.public_key == "/etc/helio-edge/key.pub"
    assert cfg.mqtt.ca_file == str(tmp_path / "ca.pem")
    assert [d.id for d in cfg.devices] == ["mppt", "inverter"]
    assert cfg.devices[1].port == "socket://127.0.0.1:5000"  # URLs untouched
    assert cfg.devices[1].poll_interval == 5.0
    assert cfg.outbox.synchronous == "full"


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda s: s.replace('host = "broker.example"', 'host = "b"\npasword = "x"'),
         "mqtt.pasword"),
        (lambda s: s.replace("port = 8883", 'port = "8883"'), "mqtt.port"),
        (lambda s: s.replace("port = 8883", "port = 70000"), "mqtt"),
        (lambda s: s.replace('poll_interval = 5.0', 'poll_interval = 5.0\nbaud = 1'),
         "devices[1].baud"),
        (lambda s: s.replace('id = "inverter"', 'id = "mppt"'), "devices[1].id"),
        (lambda s: s.replace('[model]\nbundle = "bundle"\n', '[model]\n'), "model.bundle"),
        (lambda s: s + '\n[outbox]\nsynchronous = "off"\n', "outbox.synchronous"),
        (lambda s: s.replace('state_dir = "state"', 'state_dir = "state"\npv_device = "x"'),
         "agent.pv_device"),
    ],
    ids=["unknown-key", "wrong-type", "range", "device-key", "dup-id", "missing", "literal",
         "pv-device"],
)
def test_agent_config_errors_name_file_and_key(tmp_path: Path, edit, key: str) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, edit(GOOD))
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    assert info.value.path == str(path)
    assert info.value.key == key
    assert str(path) in str(info.value)


def test_agent_config_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_agent_config(_write(tmp_path, "[agent\n"))


def test_credentials_file(tmp_path: Path) -> None:
    p = tmp_path / "creds.toml"
    p.write_text('username = "gw"\npassword = "s3cret"\n')
    c = load_credentials(p)
    assert (c.username, c.password) == ("gw", "s3cret")
    assert "s3cret" not in repr(load_agent_config(_write(tmp_path, GOOD)))
    p.write_text('user = "gw"\n')
    with pytest.raises(ConfigError, match="user"):
        load_credentials(p)


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "configs/edge").glob("*.toml")))
def test_shipped_edge_configs_load(name: str) -> None:
    cfg = load_agent_config(REPO / "configs/edge" / name)
    assert cfg.devices


def test_the_plan_table_defaults_resolves_and_refuses_unknown_keys(tmp_path: Path) -> None:
    cfg = load_agent_config(_write(tmp_path, GOOD))
    assert (cfg.plan.enabled, cfg.plan.reserve_soc, cfg.plan.scenarios) == (True, 0.3, 200)
    assert cfg.plan_state_path == str(tmp_path / "state" / "planner.json")
    cfg = load_agent_config(_write(tmp_path, GOOD + '\n[plan]\nenabled = false\n'
                                   'reserve_soc = 0.45\nstate_file = "p/plan.json"\n'))
    assert not cfg.plan.enabled and cfg.plan.reserve_soc == 0.45
    assert cfg.plan_state_path == str(tmp_path / "p" / "plan.json")
    for extra, key in (("reserve = 0.2", "plan.reserve"), ("reserve_soc = 1.2", "plan"),
                       ('scenarios = "many"', "plan.scenarios"), ("scenarios = 5", "plan")):
        path = _write(tmp_path, GOOD + f"\n[plan]\n{extra}\n")
        with pytest.raises(ConfigError) as info:
            load_agent_config(path)
        assert info.value.key == key, extra


def test_the_shipped_config_plans_with_the_planners_defaults() -> None:
    from edge.planning import PlanConfig  # noqa: PLC0415

    cfg = load_agent_config(REPO / "configs/edge/abuja.toml")
    assert cfg.plan.enabled
    assert cfg.plan.reserve_soc == PlanConfig().reserve_soc
    assert cfg.plan.scenarios == PlanConfig().scenarios
