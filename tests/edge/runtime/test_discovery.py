"""Home Assistant discovery payloads (issue #4, issue 12).

The shapes are checked here; tests/homeassistant runs them through a real Home
Assistant (2025.4) with the MQTT integration.
"""

from __future__ import annotations

import json

import pytest

from edge.runtime import discovery as d
from edge.runtime.contract import Topics
from firmware_bridge.readings import QUANTITIES

CTX = d.DiscoveryContext(Topics("abuja-01", "gateway"), "homeassistant", "0.1.0")
PER_ENTITY = d.DiscoveryContext(Topics("abuja-01", "gateway"), "homeassistant", "0.1.0",
                                per_entity=True)


def _components(configs: list[tuple[str, bytes]]) -> dict[str, dict]:
    [(_topic, payload)] = configs
    return json.loads(payload)["components"]


@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("battery_voltage", {"device_class": "voltage", "unit_of_measurement": "V",
                             "state_class": "measurement"}),
        ("pv_power", {"device_class": "power", "unit_of_measurement": "W",
                      "state_class": "measurement"}),
        ("yield_today", {"device_class": "energy", "unit_of_measurement": "Wh",
                         "state_class": "total_increasing"}),
        # user-resettable lifetime counter: a reset is a new cycle, not a negative yield
        ("yield_total", {"device_class": "energy", "unit_of_measurement": "Wh",
                         "state_class": "total_increasing"}),
        ("consumed_total", {"device_class": "energy", "unit_of_measurement": "Wh",
                            "state_class": "total_increasing"}),
        ("yield_yesterday", {"device_class": "energy", "unit_of_measurement": "Wh"}),
        ("battery_soc", {"device_class": "battery", "unit_of_measurement": "%",
                         "state_class": "measurement"}),
        ("ac_output_apparent_power", {"device_class": "apparent_power",
                                      "unit_of_measurement": "VA",
                                      "state_class": "measurement"}),
        ("time_to_go", {"device_class": "duration", "unit_of_measurement": "min",
                        "state_class": "measurement"}),
        ("consumed_charge", {"unit_of_measurement": "Ah", "state_class": "measurement"}),
        # a lifetime counter that only grows: total_increasing like the charger's yields
        ("charged_energy_total", {"device_class": "energy", "unit_of_measurement": "Wh",
                                  "state_class": "total_increasing"}),
        ("error_code", {}),
        ("day_sequence", {}),
        ("rated_ac_output_power", {"device_class": "power", "unit_of_measurement": "W"}),
        ("battery_float_voltage", {"device_class": "voltage", "unit_of_measurement": "V"}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_reading_traits(name: str, expect: dict) -> None:
    q = QUANTITIES[name]
    assert d.sensor_traits(name, q.unit, q.kind) == expect


def test_one_device_based_message_per_device() -> None:
    names = ["battery_voltage", "charge_state", "load_output_on", "error_code", "serial_number",
             "yield_total"]
    configs = d.reading_configs(CTX, "mppt", names, QUANTITIES, protocol="vedirect",
                                identity={"product_id": "0xA053", "serial_number": "HQ22",
                                          "firmware_version": "161"})
    [(topic, payload)] = configs
    assert topic == "homeassistant/device/helio_abuja-01_mppt_device/config"
    body = json.loads(payload)
    assert body["origin"]["name"] == "helio-edge"
    assert body["device"] == {
        "identifiers": ["helio_abuja-01_mppt_device"], "name": "Helio abuja-01 mppt",
        "via_device": "helio_abuja-01_gateway_gateway", "manufacturer": "Victron Energy",
        "model": "SmartSolar MPPT 75|15", "model_id": "0xA053", "serial_number": "HQ22",
        "sw_version": "161"}
    c = body["components"]
    assert set(c) == {f"helio_abuja-01_mppt_{n}" for n in names}
    v = c["helio_abuja-01_mppt_battery_voltage"]
    assert v["platform"] == "sensor" and v["unique_id"] == "helio_abuja-01_mppt_battery_voltage"
    assert v["state_topic"] == "helio/abuja-01/mppt/reading"
    assert v["value_template"] == "{{ value_json['values']['battery_voltage'] }}"
    # a valid entity id: no hyphen
    assert v["default_entity_id"] == "sensor.helio_abuja_01_mppt_battery_voltage"
    assert "entity_category" not in v
    flag = c["helio_abuja-01_mppt_load_output_on"]
    assert flag["platform"] == "binary_sensor" and flag["device_class"] == "power"
    assert flag["default_entity_id"] == "binary_sensor.helio_abuja_01_mppt_load_output_on"
    assert "state_class" not in flag and "unit_of_measurement" not in flag
    assert "state_class" not in c["helio_abuja-01_mppt_error_code"]
    assert c["helio_abuja-01_mppt_serial_number"]["entity_category"] == "diagnostic"
    assert c["helio_abuja-01_mppt_charge_state"]["device_class"] == "enum"
    assert c["helio_abuja-01_mppt_yield_total"]["state_class"] == "total_increasing"


def test_ratings_and_settings_are_diagnostic() -> None:
    names = ["rated_ac_output_power", "battery_float_voltage", "output_source_priority",
             "ac_output_power"]
    c = _components(d.reading_configs(CTX, "inverter", names, QUANTITIES, protocol="pi30",
                                      identity={"rated_ac_output_apparent_power": 5000}))
    cat = {k.rsplit("inverter_", 1)[1]: v.get("entity_category") for k, v in c.items()}
    assert cat == {"rated_ac_output_power": "diagnostic", "battery_float_voltage": "diagnostic",
                   "output_source_priority": "diagnostic", "ac_output_power": None}
    assert "state_class" not in c["helio_abuja-01_inverter_rated_ac_output_power"]
    dev = d.device_block(CTX, "inverter", "pi30", {"rated_ac_output_apparent_power": 5000})
    assert dev["model"] == "PI30 inverter 5000 VA"


def test_device_availability_needs_gateway_and_device() -> None:
    """One availability entry on the status topic whose template checks both."""
    [(_, payload)] = d.reading_configs(CTX, "mppt", ["pv_power"], QUANTITIES)
    body = json.loads(payload)
    [avail] = body["availability"]
    assert avail["topic"] == "helio/abuja-01/gateway/status"
    t = avail["value_template"]
    assert "value_json.state == 'online'" in t and "['mppt']" in t
    assert "d.connected" in t and "d.stale" in t
    [(_, gw)] = d.forecast_configs(CTX, (15,))
    assert json.loads(gw)["availability"] == [
        {"topic": "helio/abuja-01/gateway/status", "value_template": "{{ value_json.state }}"}]


def test_binary_flag_template_ignores_missing_values() -> None:
    [(_, payload)] = d.reading_configs(CTX, "inverter", ["fault_active"], QUANTITIES)
    [c] = json.loads(payload)["components"].values()
    assert c["device_class"] == "problem"
    assert "{% if v is number %}" in c["value_template"]


def test_per_entity_switch_for_older_home_assistant() -> None:
    configs = d.reading_configs(PER_ENTITY, "mppt", ["battery_voltage", "load_output_on"],
                                QUANTITIES, protocol="vedirect")
    topics = [t for t, _ in configs]
    assert topics == ["homeassistant/sensor/helio_abuja-01_mppt_battery_voltage/config",
                      "homeassistant/binary_sensor/helio_abuja-01_mppt_load_output_on/config"]
    v = json.loads(configs[0][1])
    assert v["device"]["identifiers"] == ["helio_abuja-01_mppt_device"]
    assert v["origin"]["name"] == "helio-edge" and v["qos"] == 1
    assert len(v["availability"]) == 1


def test_forecast_entities_power_energy_and_outlook() -> None:
    c = _components(d.forecast_configs(CTX, (15, 60)))
    # per horizon: ghi, dni, dhi, pv_power, pv_energy; plus next 3 h and rest of today
    assert len(c) == 2 * 5 + 2
    pv = c["helio_abuja-01_gateway_forecast_pv_power_60min"]
    assert pv["device_class"] == "power" and pv["unit_of_measurement"] == "W"
    assert pv["value_template"] == "{{ value_json.forecasts[1].pv_power.p50 }}"
    assert pv["default_entity_id"] == "sensor.helio_abuja_01_forecast_pv_power_60min"
    ghi = c["helio_abuja-01_gateway_forecast_ghi_15min"]
    assert ghi["device_class"] == "irradiance" and ghi["unit_of_measurement"] == "W/m²"
    energy = c["helio_abuja-01_gateway_forecast_pv_energy_15min"]
    assert energy["device_class"] == "energy" and energy["unit_of_measurement"] == "Wh"
    assert energy["value_template"] == "{{ value_json.forecasts[0].pv_energy.p50 }}"
    for key in ("next_3h", "rest_of_today"):
        e = c[f"helio_abuja-01_gateway_forecast_pv_energy_{key}"]
        assert e["value_template"] == f"{{{{ value_json.pv_energy.{key}.p50 }}}}"
        assert e["device_class"] == "energy"
        assert '"p10": value_json.pv_energy.' in e["json_attributes_template"]
    assert all("state_class" not in cfg for cfg in c.values())  # forecasts: no statistics
    # never the shadow model's topic (issue 11 item 15)
    assert {cfg["state_topic"] for cfg in c.values()} == {"helio/abuja-01/gateway/forecast"}
    assert {cfg["json_attributes_topic"] for cfg in c.values()} == {
        "helio/abuja-01/gateway/forecast"}


def test_unique_ids_are_ascii_only() -> None:
    ctx = d.DiscoveryContext(Topics("abuja-01", "gateway"))
    assert ctx.uid("mppt", "pv_power") == "helio_abuja-01_mppt_pv_power"
    assert ctx.uid("mppt", "päss") == "helio_abuja-01_mppt_p_ss"
    assert d.slugify("Helio abuja-01 mppt") == "helio_abuja_01_mppt"


def test_plan_entities_join_the_gateways_device_message() -> None:
    """With the plan, the gateway's one device message lists the plan's entities too
    (a device message without them would remove them)."""
    assert len(_components(d.forecast_configs(CTX, (15,)))) == 5 + 2
    c = _components(d.forecast_configs(CTX, (15,), plan=True))
    assert len(c) == 5 + 2 + 4
    plan = {k: v for k, v in c.items() if v["state_topic"] == "helio/abuja-01/gateway/plan"}
    assert sorted(plan) == [f"helio_abuja-01_gateway_{n}" for n in (
        "battery_reaches_reserve_at", "night_deficit_p10", "night_deficit_p50",
        "surplus_today")]
    reserve = plan["helio_abuja-01_gateway_battery_reaches_reserve_at"]
    assert reserve["device_class"] == "timestamp" and "unit_of_measurement" not in reserve
    assert reserve["name"] == "battery reaches reserve at"
    assert reserve["default_entity_id"] == "sensor.helio_abuja_01_battery_reaches_reserve_at"
    # null (not within the plan) renders HA's "None": unknown, not a bad timestamp
    assert reserve["value_template"] == (
        "{{ value_json.reserve_at if value_json.reserve_at else 'None' }}")
    assert '"p50": value_json.reserve_at_p50' in reserve["json_attributes_template"]
    for q in ("p10", "p50"):
        night = plan[f"helio_abuja-01_gateway_night_deficit_{q}"]
        assert (night["device_class"], night["unit_of_measurement"]) == ("energy", "Wh")
        assert night["value_template"] == (
            f"{{{{ [0, -(value_json.balance_to_sunrise_wh.{q})] | max | round(1) }}}}")
    surplus = plan["helio_abuja-01_gateway_surplus_today"]
    assert (surplus["device_class"], surplus["unit_of_measurement"]) == ("energy", "Wh")
    assert surplus["value_template"] == "{{ value_json.surplus_today_wh.p50 }}"
    assert '"p90": value_json.surplus_today_wh.p90' in surplus["json_attributes_template"]
    # energy forecasts: HA allows only total/total_increasing for energy, a plan is neither
    assert all("state_class" not in v for v in plan.values())
    assert {v["json_attributes_topic"] for v in plan.values()} == {
        "helio/abuja-01/gateway/plan"}
    [(_, gw)] = d.forecast_configs(CTX, (15,), plan=True)
    assert json.loads(gw)["availability"] == [
        {"topic": "helio/abuja-01/gateway/status", "value_template": "{{ value_json.state }}"}]
