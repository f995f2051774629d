"""Home Assistant discovery payloads (issue #4)."""

from __future__ import annotations

import json

import pytest

from edge.runtime import discovery as d
from edge.runtime.contract import Topics
from firmware_bridge.readings import QUANTITIES

CTX = d.DiscoveryContext(Topics("abuja-01", "gateway"), "homeassistant", "0.1.0")


def _by_name(configs: list[tuple[str, bytes]]) -> dict[str, dict]:
    return {json.loads(p)["unique_id"]: json.loads(p) for _t, p in configs}


@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("battery_voltage", {"device_class": "voltage", "unit_of_measurement": "V",
                             "state_class": "measurement"}),
        ("pv_power", {"device_class": "power", "unit_of_measurement": "W",
                      "state_class": "measurement"}),
        ("yield_today", {"device_class": "energy", "unit_of_measurement": "Wh",
                         "state_class": "total_increasing"}),
        ("yield_total", {"device_class": "energy", "unit_of_measurement": "Wh",
                         "state_class": "total"}),
        ("yield_yesterday", {"device_class": "energy", "unit_of_measurement": "Wh"}),
        ("battery_soc", {"device_class": "battery", "unit_of_measurement": "%",
                         "state_class": "measurement"}),
        ("ac_output_apparent_power", {"device_class": "apparent_power",
                                      "unit_of_measurement": "VA",
                                      "state_class": "measurement"}),
        ("time_to_go", {"device_class": "duration", "unit_of_measurement": "min",
                        "state_class": "measurement"}),
        ("consumed_charge", {"unit_of_measurement": "Ah", "state_class": "measurement"}),
        ("charged_energy_total", {"device_class": "energy", "unit_of_measurement": "Wh",
                                  "state_class": "total"}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_reading_traits(name: str, expect: dict) -> None:
    q = QUANTITIES[name]
    assert d.sensor_traits(name, q.unit, q.kind) == expect


def test_reading_configs_shape() -> None:
    configs = d.reading_configs(CTX, "mppt", ["battery_voltage", "charge_state"], QUANTITIES,
                                protocol="vedirect")
    topics = [t for t, _ in configs]
    assert topics == ["homeassistant/sensor/helio_abuja-01_mppt_battery_voltage/config",
                      "homeassistant/sensor/helio_abuja-01_mppt_charge_state/config"]
    c = _by_name(configs)
    v = c["helio_abuja-01_mppt_battery_voltage"]
    assert v["state_topic"] == "helio/abuja-01/mppt/reading"
    assert v["value_template"] == "{{ value_json['values']['battery_voltage'] }}"
    assert v["availability"] == [{"topic": "helio/abuja-01/gateway/status",
                                  "value_template": "{{ value_json.state }}"}]
    assert v["device"]["via_device"] == CTX.gateway_ident()
    assert v["default_entity_id"] == "sensor.helio_abuja-01_mppt_battery_voltage"
    cs = c["helio_abuja-01_mppt_charge_state"]
    assert cs["device_class"] == "enum" and "bulk" in cs["options"]
    assert "state_class" not in cs


def test_forecast_configs_have_no_state_class() -> None:
    configs = d.forecast_configs(CTX, (15, 60))
    assert len(configs) == 8
    c = _by_name(configs)
    pv = c["helio_abuja-01_gateway_forecast_pv_power_60min"]
    assert pv["device_class"] == "power" and pv["unit_of_measurement"] == "W"
    assert pv["value_template"] == "{{ value_json.forecasts[1].pv_power.p50 }}"
    ghi = c["helio_abuja-01_gateway_forecast_ghi_15min"]
    assert ghi["device_class"] == "irradiance" and ghi["unit_of_measurement"] == "W/m²"
    assert all("state_class" not in cfg for cfg in c.values())
    assert pv["json_attributes_topic"] == "helio/abuja-01/gateway/forecast"
