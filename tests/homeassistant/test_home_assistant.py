"""Helio's entities in a real Home Assistant (2025.4, MQTT integration), issue 12.

Opt-in (marker ``homeassistant``; run with HELIO_TEST_HOMEASSISTANT=1, as .ci/run
does): Home Assistant runs from its own Python 3.13 venv (tests/homeassistant/
setup_ha.sh) in a temporary config directory; the owner is created through
onboarding and the MQTT integration added through the config-flow REST API,
pointed at the test's mosquitto. The Abuja agent polls the VE.Direct and PI30
simulators (real serial code over ptys, the shipped int8 model) and announces
its entities, and plans after every forecast (the energy plan's entities read
the plan stream, which a spy keeps too). Everything is asserted through Home
Assistant's REST API.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.conftest import MOSQUITTO, Mosquitto, free_port
from tests.homeassistant.ha import HomeAssistant, ha_venv

pytestmark = [pytest.mark.homeassistant, pytest.mark.slow, pytest.mark.broker, pytest.mark.pty,
              pytest.mark.tflite]

P = "sensor.helio_abuja_01_"


def wait_until(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(1.0)


@dataclass
class Rig:
    ha: HomeAssistant
    broker: Mosquitto
    sims: dict[str, Any]
    agent: Any
    configs: dict[str, dict[str, Any]]  # the agent's discovery messages, latest per topic
    plans: dict[str, dict[str, Any]]  # the agent's plan messages by issue time

    def states(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.ha.states().items() if "helio_abuja_01" in k}


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    if os.environ.get("HELIO_TEST_HOMEASSISTANT") != "1":
        pytest.skip("opt-in: set HELIO_TEST_HOMEASSISTANT=1 (.ci/run does)")
    if MOSQUITTO is None:
        pytest.skip("mosquitto not installed")
    venv = ha_venv()
    assert venv is not None, "tests/homeassistant/setup_ha.sh made no usable venv"
    from edge.commands.run import build, load_holder  # noqa: PLC0415
    from edge.demo.runner import SITE_FILE, PlantClock, demo_config  # noqa: PLC0415
    from edge.forecasting.site import load_site  # noqa: PLC0415
    from edge.simulation import simulate_device  # noqa: PLC0415
    from edge.simulation.plant import Plant  # noqa: PLC0415

    tmp = tmp_path_factory.mktemp("ha")
    broker = Mosquitto("127.0.0.1", free_port(), tmp)
    broker.start()
    ha = HomeAssistant(venv, tmp / "config", free_port())
    stop = threading.Event()
    sims: dict[str, Any] = {}
    configs: dict[str, dict[str, Any]] = {}
    plans: dict[str, dict[str, Any]] = {}
    rt = None
    agent = None
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="discovery-spy")
    def keep(_c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        body = json.loads(m.payload)
        if m.topic.endswith("/plan"):
            plans[body["issued"]] = body
        else:
            configs[m.topic] = body

    spy.on_message = keep
    spy.connect("127.0.0.1", broker.port)
    spy.subscribe("homeassistant/device/+/config", qos=1)
    spy.subscribe("helio/abuja-01/gateway/plan", qos=1)
    spy.loop_start()
    try:
        ha.start()
        ha.onboard()
        entry = ha.add_mqtt("127.0.0.1", broker.port)
        assert entry["result"]["state"] == "loaded", entry
        site = load_site(SITE_FILE)
        today = datetime.now(UTC).date()
        plant = Plant(site, seed=5, start=datetime(today.year, today.month, today.day, 9, 0,
                                                   tzinfo=UTC), speed=60.0)
        sims.update(mppt=simulate_device("vedirect", site=site, plant=plant),
                    inverter=simulate_device("pi30", site=site, plant=plant))
        (tmp / "agent").mkdir()
        cfg = demo_config(tmp / "agent", broker.port, {k: s.url for k, s in sims.items()}, 60.0)
        rt = build(cfg, site, load_holder(cfg), clock=PlantClock(plant))
        rt.publisher.start()
        agent = threading.Thread(target=rt.agent.run, args=(stop,), daemon=True)
        agent.start()
        yield Rig(ha, broker, sims, rt.agent, configs, plans)
    except BaseException:
        print(ha.tail())
        raise
    finally:
        spy.loop_stop()
        spy.disconnect()
        stop.set()
        if agent is not None:
            agent.join(15)
        if rt is not None:
            rt.close()
        for s in sims.values():
            s.stop()
        ha.stop()
        broker.stop()


def _number(state: dict[str, Any]) -> float:
    return float(state["state"])


def test_entities_have_the_right_classes_units_and_plausible_states(rig: Rig) -> None:
    need = [f"{P}mppt_pv_power", f"{P}mppt_yield_today", f"{P}mppt_yield_total",
            f"{P}mppt_error_code", f"{P}inverter_battery_soc", f"{P}forecast_pv_power_15min",
            f"{P}forecast_pv_energy_next_3h", f"{P}forecast_pv_energy_rest_of_today",
            "binary_sensor.helio_abuja_01_mppt_load_output_on"]

    def ready() -> dict[str, dict[str, Any]] | None:
        s = rig.states()
        ok = all(k in s and s[k]["state"] not in ("unknown", "unavailable") for k in need)
        return s if ok else None

    s = wait_until(ready, 120, "the agent's entities with states in Home Assistant")
    a = {k: v["attributes"] for k, v in s.items()}
    # measured PV power
    assert a[f"{P}mppt_pv_power"]["device_class"] == "power"
    assert a[f"{P}mppt_pv_power"]["unit_of_measurement"] == "W"
    assert a[f"{P}mppt_pv_power"]["state_class"] == "measurement"
    assert 0 <= _number(s[f"{P}mppt_pv_power"]) <= 3000
    # energy counters: total_increasing (a reset is a new cycle)
    for name in ("yield_today", "yield_total"):
        attrs = a[f"{P}mppt_{name}"]
        assert (attrs["device_class"], attrs["unit_of_measurement"], attrs["state_class"]) == (
            "energy", "Wh", "total_increasing")
        assert _number(s[f"{P}mppt_{name}"]) >= 0
    assert _number(s[f"{P}mppt_yield_total"]) >= _number(s[f"{P}mppt_yield_today"])
    # yesterday's yield and codes: no statistics
    assert "state_class" not in a[f"{P}mppt_yield_yesterday"]
    assert "state_class" not in a[f"{P}mppt_error_code"]
    assert "state_class" not in a[f"{P}mppt_day_sequence"]
    # battery
    soc = a[f"{P}inverter_battery_soc"]
    assert (soc["device_class"], soc["unit_of_measurement"], soc["state_class"]) == (
        "battery", "%", "measurement")
    assert 0 <= _number(s[f"{P}inverter_battery_soc"]) <= 100
    # a 0/1 flag is a binary sensor
    flag = s["binary_sensor.helio_abuja_01_mppt_load_output_on"]
    assert flag["state"] in ("on", "off") and flag["attributes"]["device_class"] == "power"
    assert f"{P}mppt_load_output_on" not in s
    # enums
    assert a[f"{P}mppt_charge_state"]["device_class"] == "enum"
    assert s[f"{P}mppt_charge_state"]["state"] in a[f"{P}mppt_charge_state"]["options"]
    # forecasts: power and energy, P50 state within the P10-P90 attributes, no state class
    fpv = a[f"{P}forecast_pv_power_15min"]
    assert (fpv["device_class"], fpv["unit_of_measurement"]) == ("power", "W")
    assert "state_class" not in fpv
    assert fpv["p10"] <= _number(s[f"{P}forecast_pv_power_15min"]) <= fpv["p90"]
    e15 = a[f"{P}forecast_pv_energy_15min"]
    assert (e15["device_class"], e15["unit_of_measurement"]) == ("energy", "Wh")
    assert math.isclose(_number(s[f"{P}forecast_pv_energy_15min"]),
                        _number(s[f"{P}forecast_pv_power_15min"]) / 4, abs_tol=0.2)
    ghi = a[f"{P}forecast_ghi_60min"]
    assert (ghi["device_class"], ghi["unit_of_measurement"]) == ("irradiance", "W/m²")
    for key in ("next_3h", "rest_of_today"):
        e = a[f"{P}forecast_pv_energy_{key}"]
        assert (e["device_class"], e["unit_of_measurement"]) == ("energy", "Wh")
        assert "state_class" not in e
        assert e["p10"] <= _number(s[f"{P}forecast_pv_energy_{key}"]) <= e["p90"]
    assert (_number(s[f"{P}forecast_pv_energy_rest_of_today"])
            >= _number(s[f"{P}forecast_pv_energy_next_3h"]) > 0)  # late morning in Abuja
    # entity ids are valid: no hyphen anywhere
    assert all("-" not in k for k in s)


PLAN_ENTITIES = ("battery_reaches_reserve_at", "night_deficit_p50", "night_deficit_p10",
                 "surplus_today")


def test_the_energy_plan_shows_in_home_assistant(rig: Rig) -> None:
    """The plan's entities, created from the running agent's discovery, show the values of
    the plan message they last read (matched by its issue time)."""
    ids = [f"{P}{n}" for n in PLAN_ENTITIES]

    def ready() -> tuple[dict[str, dict[str, Any]], dict[str, Any]] | None:
        s = rig.states()
        if not all(k in s and s[k]["state"] != "unavailable" for k in ids):
            return None
        issued = {s[k]["attributes"].get("issued") for k in ids}
        if len(issued) != 1 or (plan := rig.plans.get(issued.pop() or "")) is None:
            return None  # not all updated from the same plan yet
        if any(s[k]["state"] == "unknown" for k in ids[1:]):
            return None
        return s, plan

    s, plan = wait_until(ready, 180, "the plan's entities with one plan's values")
    reserve = s[f"{P}battery_reaches_reserve_at"]
    assert reserve["attributes"]["device_class"] == "timestamp"
    assert reserve["attributes"]["friendly_name"].endswith("battery reaches reserve at")
    if plan["reserve_at"] is None:  # not within the plan
        assert reserve["state"] == "unknown"
    else:
        assert datetime.fromisoformat(reserve["state"]) == datetime.fromisoformat(
            plan["reserve_at"].replace("Z", "+00:00"))
    assert reserve["attributes"]["p50"] == plan["reserve_at_p50"]
    assert reserve["attributes"]["reserve_soc"] == plan["reserve_soc"] == 0.3
    for q in ("p50", "p10"):
        night = s[f"{P}night_deficit_{q}"]
        assert (night["attributes"]["device_class"],
                night["attributes"]["unit_of_measurement"]) == ("energy", "Wh")
        assert "state_class" not in night["attributes"]
        balance = plan["balance_to_sunrise_wh"][q]
        assert night["attributes"]["balance_to_sunrise_wh"] == balance
        assert _number(night) == pytest.approx(max(-balance, 0.0), abs=0.05)
    # the dry case (P10 balance) never has the smaller deficit
    assert _number(s[f"{P}night_deficit_p10"]) >= _number(s[f"{P}night_deficit_p50"])
    surplus = s[f"{P}surplus_today"]
    assert (surplus["attributes"]["device_class"],
            surplus["attributes"]["unit_of_measurement"]) == ("energy", "Wh")
    assert "state_class" not in surplus["attributes"]
    assert _number(surplus) == pytest.approx(plan["surplus_today_wh"]["p50"], abs=0.05)
    assert surplus["attributes"]["p10"] == plan["surplus_today_wh"]["p10"]
    assert surplus["attributes"]["p90"] == plan["surplus_today_wh"]["p90"]
    # the plan entities hang off the gateway's device, with the forecasts
    gw = rig.ha.template(f"{{{{ device_id('{P}forecast_pv_power_15min') }}}}")
    assert rig.ha.template(f"{{{{ device_id('{P}surplus_today') }}}}") == gw


def test_home_assistant_accepts_every_announced_entity(rig: Rig) -> None:
    """Each component of each device message becomes the entity its default_entity_id names."""
    wait_until(lambda: len(rig.configs) >= 3, 60, "device discovery messages")
    expected = {c["default_entity_id"] for body in rig.configs.values()
                for c in body["components"].values()}
    assert len(expected) > 40

    def missing() -> set[str]:
        return expected - set(rig.states())

    try:
        wait_until(lambda: not missing(), 60, "every announced entity in Home Assistant")
    except AssertionError:
        raise AssertionError(f"not in Home Assistant: {sorted(missing())}") from None
    log = rig.ha.tail(10**7)
    bad = [ln for ln in log.splitlines()
           if "mqtt" in ln.lower() and ("ERROR" in ln or "Invalid" in ln)]
    assert not bad, bad


def test_devices_carry_what_the_bridge_decodes(rig: Rig) -> None:
    def attr(entity: str, key: str) -> str:
        return rig.ha.template(f"{{{{ device_attr('{entity}', '{key}') }}}}")

    pv = f"{P}mppt_pv_power"
    wait_until(lambda: attr(pv, "serial_number") not in ("", "None"), 60, "device serial")
    from firmware_bridge.protocols.vedirect_products import VEDIRECT_PRODUCTS  # noqa: PLC0415

    pid = rig.agent.discovery_tracker.identity["mppt"]["product_id"]  # the PID sent
    assert attr(pv, "manufacturer") == "Victron Energy"
    assert attr(pv, "model") == VEDIRECT_PRODUCTS[int(pid, 16)]
    assert attr(pv, "model_id") == pid
    assert attr(pv, "serial_number") == "HQ2235ABC12"
    assert attr(pv, "sw_version") not in ("", "None")
    assert attr(f"{P}inverter_battery_soc", "model").startswith("PI30 inverter")
    assert attr(f"{P}forecast_pv_power_15min", "manufacturer") == "Helio Edge"
    # the source devices hang off the gateway's device
    gw = rig.ha.template(f"{{{{ device_id('{P}forecast_pv_power_15min') }}}}")
    assert attr(pv, "via_device_id") == gw


def _shadow_payload() -> tuple[str, bytes]:
    """What the agent publishes for a shadow model (edge.runtime.messages), absurd values."""
    from edge.runtime.messages import Topics, forecast_message  # noqa: PLC0415

    @dataclass(frozen=True)
    class Fc:
        horizons_min: tuple[int, ...]
        quantiles: dict[str, list[list[float]]]

    h = (15, 30, 60, 120, 180)
    huge = [[77777.0, 88888.0, 99999.0]] * len(h)
    msg = forecast_message(
        Topics("abuja-01", "gateway"),
        Fc(h, {q: huge for q in ("ghi", "dni", "dhi", "pv_power")}),
        issue_time=datetime.now(UTC).replace(microsecond=0), step_minutes=15,
        model_version="trial-model", model_sha256="cd" * 32, inputs_stale=False, shadow=True,
        pv_energy={"next_3h": {"p10": 7e6, "p50": 8e6, "p90": 9e6},
                   "rest_of_today": {"p10": 7e6, "p50": 8e6, "p90": 9e6}})
    return msg.topic, msg.encode(999_999)


def test_a_shadow_forecast_never_changes_the_forecast_entities(rig: Rig) -> None:
    topic, payload = _shadow_payload()
    assert topic == "helio/abuja-01/gateway/forecast/shadow"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="shadow-publisher")
    client.connect("127.0.0.1", rig.broker.port)
    client.loop_start()
    try:
        for _ in range(3):
            client.publish(topic, payload, qos=1).wait_for_publish(10)
            time.sleep(2.0)
        # meanwhile the live model keeps forecasting (one every 15 s at x60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for k, v in rig.states().items():
                if "forecast" not in k:
                    continue
                text = json.dumps(v)
                assert "88888" not in text and "8000000" not in text, (k, v)
                assert "trial-model" not in text
            time.sleep(2.0)
    finally:
        client.loop_stop()
        client.disconnect()


def test_unplugging_a_device_makes_its_entities_unavailable(rig: Rig) -> None:
    pv = f"{P}mppt_pv_power"
    wait_until(lambda: rig.states().get(pv, {}).get("state") not in (None, "unavailable"),
               60, "mppt available first")
    rig.sims.pop("mppt").stop()  # the charge controller's cable is pulled
    s = wait_until(lambda: (st := rig.states()) and st[pv]["state"] == "unavailable" and st,
                   60, "mppt entities unavailable")
    mppt = {k: v["state"] for k, v in s.items() if "_mppt_" in k}
    assert mppt and set(mppt.values()) == {"unavailable"}, mppt
    # the inverter and the forecasts stay available: only the dead device goes
    assert s[f"{P}inverter_battery_soc"]["state"] != "unavailable"
    assert s[f"{P}forecast_pv_power_15min"]["state"] != "unavailable"


def test_per_entity_discovery_for_older_home_assistant(rig: Rig) -> None:
    """The ``[discovery] per_entity`` form, rendered by the agent's code, as HA takes it."""
    from edge.runtime.contract import Topics  # noqa: PLC0415
    from edge.runtime.discovery import DiscoveryContext, reading_configs  # noqa: PLC0415
    from firmware_bridge.readings import QUANTITIES  # noqa: PLC0415
    from tests.trainer.monitor.conftest import reading, status  # noqa: PLC0415

    ctx = DiscoveryContext(Topics("kano-02", "gateway"), sw_version="test", per_entity=True)
    configs = reading_configs(ctx, "mppt", ["pv_power", "yield_total", "load_output_on"],
                              QUANTITIES, protocol="vedirect")
    assert [t.split("/")[1] for t, _ in configs] == ["binary_sensor", "sensor", "sensor"]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="per-entity")
    client.connect("127.0.0.1", rig.broker.port)
    client.loop_start()
    try:
        for topic, payload in configs:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
        time.sleep(1.0)
        client.publish(*status("kano-02", "gateway", time.time()), qos=1,
                       retain=True).wait_for_publish(10)
        client.publish(*reading("kano-02", "mppt", 1, time.time(), pv_power=812,
                                yield_total=123400, load_output_on=1),
                       qos=1).wait_for_publish(10)
        pv, total, flag = ("sensor.helio_kano_02_mppt_pv_power",
                           "sensor.helio_kano_02_mppt_yield_total",
                           "binary_sensor.helio_kano_02_mppt_load_output_on")
        s = wait_until(lambda: (st := rig.ha.states()).get(pv, {}).get("state") == "812" and st,
                       30, "the per-entity sensor's state")
        assert s[pv]["attributes"]["device_class"] == "power"
        assert s[total]["attributes"]["state_class"] == "total_increasing"
        assert s[total]["state"] == "123400"
        assert s[flag]["state"] == "on"
    finally:
        client.loop_stop()
        client.disconnect()
