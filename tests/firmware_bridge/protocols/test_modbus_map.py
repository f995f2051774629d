"""Modbus register maps as data (maps/*.toml): loader, decode, encode, blocks, simulators.

Snapshots are laid out by hand from the sources cited in each map's header.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.simulation.plant import Plant
from firmware_bridge.config import ConfigError
from firmware_bridge.protocols import MODBUS_MAPS
from firmware_bridge.protocols.modbus_map import MAPS_DIR, RegisterMap, load_map
from firmware_bridge.readings import check_values
from tests.firmware_bridge.helpers import DeviceFactory, SimFactory, assert_close, first_reading

MAPS = dict(MODBUS_MAPS)


def _map(name: str) -> RegisterMap:
    return MAPS[name]


def test_every_map_file_is_registered() -> None:
    assert {p.stem for p in MAPS_DIR.glob("*.toml")} == set(MAPS)
    assert set(MAPS) == {"epever", "srne", "growatt_spf", "deye"}
    for m in MAPS.values():
        assert m.source and m.description
        assert "Source" in m.path.read_text() or "source" in m.path.read_text()


def test_srne_snapshot() -> None:
    words = {
        0x0100: 87,  # SOC 87 %
        0x0101: 132,  # 13.2 V
        0x0102: 1234,  # 12.34 A charging
        0x0103: 0x1A85,  # controller 0x1A = 26 degC, battery 0x85 = sign + 5 = -5 degC
        0x0104: 131, 0x0105: 250, 0x0106: 33,  # load 13.1 V, 2.50 A, 33 W
        0x0107: 385, 0x0108: 512, 0x0109: 197,  # PV 38.5 V, 5.12 A, 197 W
        0x010B: 121, 0x010C: 144,  # battery min 12.1 V, max 14.4 V today
        0x010F: 251,  # max charging power today 251 W
        0x0113: 715, 0x0114: 24,  # 715 Wh generated, 24 Wh consumed today
        0x011C: 0x0015, 0x011D: 0x6FE4,  # 0x00156FE4 = 1404900 Wh, high word first
        0x011E: 0, 0x011F: 24,
        0x0120: 0x8005,  # load on (b15), charging state 5 = float
        0x0122: 0x0006,  # b2 under-voltage warning, b1 over-voltage
    }
    values = _map("srne").decode(words)
    assert values == {
        "battery_soc": 87, "battery_voltage": 13.2, "battery_charge_current": 12.34,
        "device_temperature": 26, "battery_temperature": -5, "load_voltage": 13.1,
        "load_current": 2.5, "load_power": 33, "pv_voltage": 38.5, "pv_current": 5.12,
        "pv_power": 197, "battery_voltage_min_today": 12.1, "battery_voltage_max_today": 14.4,
        "max_power_today": 251, "yield_today": 715, "consumed_today": 24,
        "yield_total": 1404900, "consumed_total": 24, "load_output_on": 1,
        "charge_state": "float", "faults": "battery_under_voltage_warning,battery_over_voltage",
        "fault_active": 1,
    }
    check_values(values)


def test_srne_unknown_charging_state_is_left_out_and_reported() -> None:
    unknown: list[str] = []
    values = _map("srne").decode({0x0120: 0x0006}, unknown)  # 6 = current limiting
    assert values == {"load_output_on": 0}
    assert unknown == ["srne charge_state=6"]


def test_growatt_spf_snapshot() -> None:
    words = {
        0: 12,  # PV charge + discharge
        1: 3215, 2: 0,  # PV1 321.5 V
        3: 0x0000, 4: 0x4E20,  # PV1 power 20000 x 0.1 = 2000 W, high word first
        5: 0, 6: 0, 7: 63, 8: 0,  # PV1 6.3 A
        9: 0x0000, 10: 0x2EE0,  # output 12000 x 0.1 = 1200 W
        13: 0, 14: 0,
        17: 5312, 18: 81,  # battery 53.12 V, SOC 81 %
        19: 3900, 20: 0, 21: 0, 22: 2300, 23: 5000,  # bus 390 V; output 230 V 50 Hz
        25: 412, 27: 241, 34: 57, 42: 0,  # 41.2 degC; load 24.1 %; 5.7 A; no fault
        48: 0, 49: 123,  # PV1 today 12.3 kWh
        50: 0x0001, 51: 0x86A0,  # PV1 total 100000 x 0.1 kWh
        68: 0, 73: 0,
    }
    values = _map("growatt_spf").decode(words)
    assert values["device_status"] == "pv_charging_discharging"
    assert values["pv_power"] == 2000.0 and values["ac_output_power"] == 1200.0
    assert values["battery_voltage"] == 53.12 and values["battery_soc"] == 81
    assert values["grid_frequency"] == 0.0 and values["ac_output_frequency"] == 50.0
    assert values["yield_today"] == 12300 and values["yield_total"] == 10_000_000
    assert values["load_percent"] == 24.1 and values["fault_code"] == 0
    check_values(values)


def test_deye_snapshot() -> None:
    words = {
        16: 0xC350, 17: 0x0000,  # rated 50000 x 0.1 = 5000 W, low word first
        59: 2,  # normal
        90: 1412, 91: 1455, 95: 1290,  # 41.2, 45.5, 29.0 degC (x0.1 - 100)
        96: 0x86A0, 97: 0x0001,  # total PV 100000 x 0.1 kWh
        108: 187,  # PV today 18.7 kWh
        109: 3620, 110: 84, 186: 3040,  # PV1 362.0 V, 8.4 A, 3040 W
        169: 0xFF9C,  # grid -100 W (exporting)
        175: 1850, 178: 1790,  # inverter 1850 W, load 1790 W
        182: 1253, 183: 5230, 184: 64,  # battery 25.3 degC, 52.30 V, 64 %
        190: 0xFB50,  # -1200 W on the device (charging) -> +1200 W
        191: 0xF894,  # -19.00 A on the device (charging) -> +19.0 A
    }
    values = _map("deye").decode(words)
    assert values["rated_ac_output_power"] == 5000.0
    assert values["device_status"] == "normal"
    assert values["device_temperature"] == pytest.approx(41.2)
    assert values["ambient_temperature"] == pytest.approx(29.0)
    assert values["battery_temperature"] == pytest.approx(25.3)
    assert values["yield_total"] == 10_000_000 and values["yield_today"] == 18700
    assert values["grid_power"] == -100 and values["ac_load_power"] == 1790
    assert values["battery_power"] == 1200 and values["battery_current"] == 19.0
    assert values["battery_voltage"] == 52.3 and values["battery_soc"] == 64
    check_values(values)


SITE = {
    "pv_voltage": 96.3, "pv_current": 12.4, "pv_power": 1194.0, "battery_voltage": 53.1,
    "battery_charge_current": 21.5, "battery_soc": 93, "battery_temperature": -3.0,
    "device_temperature": 31.0, "load_voltage": 53.1, "load_current": 1.2, "load_power": 64.0,
    "battery_voltage_min_today": 49.9, "battery_voltage_max_today": 57.6,
    "max_power_today": 2100.0, "yield_today": 8840.0, "consumed_today": 1230.0,
    "yield_total": 6100000.0, "consumed_total": 1280450.0, "load_output_on": 1,
    "charge_state": "bulk", "faults": "", "fault_active": 0, "battery_power": -850.0,
    "battery_current": -16.0, "ac_output_power": 640.0, "ac_load_power": 640.0,
    "grid_power": 0.0, "device_status": "discharging", "ac_output_voltage": 230.1,
    "ac_output_frequency": 50.0, "grid_voltage": 0.0, "grid_frequency": 0.0,
    "bus_voltage": 390.0, "load_percent": 12.8, "ac_output_current": 2.8, "fault_code": 0,
    "pv2_voltage": 0.0, "pv2_current": 0.0, "pv2_power": 0.0, "ac_charge_power": 0.0,
    "ac_charge_current": 0.0, "battery_discharge_current": 16.0, "heatsink_temperature": 40.5,
    "ambient_temperature": 29.0, "yield_month": 190000.0, "yield_year": 2400000.0,
    "consumed_month": 36400.0, "consumed_year": 512000.0, "rated_ac_output_power": 5000.0,
}


@pytest.mark.parametrize("name", ["srne", "growatt_spf", "deye"])
def test_encode_decode_round_trip(name: str) -> None:
    m = _map(name)
    if name == "growatt_spf":  # the SPF has no charge state; Deye's status codes differ
        values = {**SITE, "device_status": "pv_charging_discharging"}
    elif name == "deye":
        values = {**SITE, "device_status": "normal"}
    else:
        values = SITE
    words = m.encode(values)
    assert all(0 <= w <= 0xFFFF for w in words.values())
    decoded = m.decode(words)
    check_values(decoded)
    assert set(decoded) == m.names
    resolution = {r.name: 10.0**r.exp / 2 for r in m.registers if r.name}
    for key, got in decoded.items():
        want = values[key]
        if isinstance(want, float):
            assert got == pytest.approx(want, abs=max(resolution.get(key, 0.5), 1e-6)), key
        else:
            assert got == want, key


@settings(max_examples=200)
@given(st.sampled_from(sorted(MAPS)), st.dictionaries(st.integers(0, 0x3400),
                                                      st.integers(0, 0xFFFF), max_size=80))
def test_random_words_decode_to_known_names_only(name: str, words: dict[int, int]) -> None:
    m = _map(name)
    everything = {a: words.get(a, 0x5A5A) for t, first, n in m.read_blocks()
                  for a in range(first, first + n)} | words
    unknown: list[str] = []
    values = m.decode(everything, unknown)
    check_values(values)
    assert all(key.startswith(f"{name} ") for key in unknown)


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[device]\nname='x'\n", "device.word_order", "missing"),
        ("[device]\nname='bad'\n", "device.name", "file name"),
        ("[device]\nname='x'\ndescription='d'\nsource='s'\nbaudrate=9600\n"
         "word_order='low_first'\ncolour='red'\n[[register]]\naddress=1\nname='pv_power'\n",
         "device.colour", "unknown key"),
        ("[device]\nname='x'\ndescription='d'\nsource='s'\nbaudrate=9600\n"
         "word_order='low_first'\n[[register]]\naddress=1\nname='pv_watts'\n",
         "register[0].name", "QUANTITIES"),
        ("[device]\nname='x'\ndescription='d'\nsource='s'\nbaudrate=9600\n"
         "word_order='low_first'\n[[register]]\naddress=1\nname='pv_power'\nscale=0.5\n",
         "register[0].scale", "power of ten"),
        ("[device]\nname='x'\ndescription='d'\nsource='s'\nbaudrate=9600\n"
         "word_order='low_first'\n[[register]]\naddress=1\nname='pv_power'\nwords=2\n"
         "[[register]]\naddress=2\nname='pv_voltage'\n", "register", "mapped twice"),
    ],
    ids=["missing", "name", "unknown-key", "unknown-name", "scale", "overlap"],
)
def test_bad_map_names_file_and_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    path = tmp_path / "x.toml"
    if "name='bad'" in text:
        path = tmp_path / "bad_name_file.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_map(path)
    assert err.value.path == str(path) and err.value.key == key


@pytest.mark.pty
@pytest.mark.parametrize("name", ["srne", "growatt_spf", "deye"])
def test_generic_simulator_and_driver(
    simulator: SimFactory, device: DeviceFactory, frozen_plant: Plant, name: str
) -> None:
    """One generic simulator serves the map; one generic driver reads it back."""
    sim = simulator(name)
    dev = device(name, sim.url)
    reading = first_reading(dev, ("battery_voltage", "pv_voltage"))
    check_values(reading.values)
    state = frozen_plant.state()
    scale = {"srne": 0.05, "growatt_spf": 0.005, "deye": 0.005}[name]
    assert_close(dict(reading.values), {
        "battery_voltage": (state.battery_voltage, scale),
        "pv_voltage": (state.pv_voltage, 0.05),
        "battery_soc": (round(state.battery_soc), 0.0),
    })
    assert dev.stats.frames_good == len(_map(name).read_blocks())
    if name != "srne":  # inverters: a run state their status register can say, at noon
        assert reading.values["device_status"] == (
            "normal" if name == "deye" else "pv_charging_discharging")
    assert dev.stats.protocol_errors == 0 and dev.stats.checksum_errors == 0
