"""PI30 decoding (sans-IO): the captures, replies as real firmware sends them.

QPIRI variants, QPIGS2, QPGSn and energy counters; what is left out and
reported; and that only ProtocolError escapes.

Captures in tests/data/pi30 (see its README)."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.checksums import crc16_xmodem
from firmware_bridge.errors import ProtocolError
from firmware_bridge.protocols import pi30
from firmware_bridge.protocols.pi30 import Pi30Framer, Pi30Reply
from firmware_bridge.readings import check_values
from tests.firmware_bridge.helpers import DATA as CAPTURES_DIR
from tests.firmware_bridge.protocols.pi30.payloads import COMMANDS, EXAMPLE

DATA = CAPTURES_DIR / "pi30"


EXAMPLE_VALUES = {
    "grid_voltage": 0.0, "grid_frequency": 0.0, "ac_output_voltage": 230.0,
    "ac_output_frequency": 49.9, "ac_output_apparent_power": 161, "ac_output_power": 119,
    "load_percent": 3, "bus_voltage": 460, "battery_voltage": 57.5,
    "battery_charge_current": 12, "battery_soc": 100, "heatsink_temperature": 69,
    "pv_current": 14, "pv_voltage": 103.8, "scc_battery_voltage": 57.45,
    "battery_discharge_current": 0, "pv_power": 856, "load_output_on": 1,
    "charging_source": "solar", "charging_to_float": 0, "battery_current": 12,
}


def _feed(data: bytes, cuts: list[int] | None = None) -> tuple[list[Pi30Reply], Pi30Framer]:
    framer = Pi30Framer()
    bounds = [0, *(cuts or []), len(data)]
    out: list[Pi30Reply] = []
    for a, b in itertools.pairwise(bounds):
        out += framer.feed(data[a:b])
    return out, framer


def test_example_reply_decodes() -> None:
    (reply,), framer = _feed(EXAMPLE)
    assert reply.raw == EXAMPLE[:-1] and framer.replies_ok == 1
    assert pi30.decode("QPIGS", reply).values == EXAMPLE_VALUES


def test_capture_qpigs_quirks_decode_same_payloads() -> None:
    replies, _ = _feed((DATA / "qpigs.bin").read_bytes())
    crc_bytes = [r.raw[-2:] for r in replies]
    assert replies[2].payload == replies[3].payload  # raw 0x00 and bumped 0x01 CRC byte
    assert crc_bytes[2] != crc_bytes[3] and 0 in crc_bytes[2]
    true_crc = crc16_xmodem(replies[4].raw[:-2]).to_bytes(2, "big")
    assert crc_bytes[4] != true_crc  # the escaped CRC byte was accepted


def test_capture_qpigs_max_variant() -> None:
    replies, _ = _feed((DATA / "qpigs_max.bin").read_bytes())
    first = pi30.decode("QPIGS", replies[0]).values
    assert first["pv_current"] == 7.5 and first["grid_feed_power"] == 0
    assert first["grid_feed_active"] == 0


def test_capture_qpiri_variants_agree() -> None:
    replies, _ = _feed((DATA / "qpiri.bin").read_bytes())
    short, long = (pi30.decode("QPIRI", r).values for r in replies)
    assert {k: long[k] for k in short} == short
    assert long.keys() - short.keys() == {"max_cv_charge_time", "operation_logic",
                                          "max_discharge_current"}
    assert short["battery_type"] == "user" and short["output_source_priority"] == "solar_first"
    assert short["charger_source_priority"] == "solar_and_utility"
    assert short["machine_type"] == "off_grid" and short["rated_ac_output_power"] == 4000


def test_capture_qmod_letters() -> None:
    replies, _ = _feed((DATA / "qmod.bin").read_bytes())
    modes = [pi30.decode("QMOD", r).values["inverter_mode"] for r in replies if not r.nak]
    assert modes == ["power_on", "standby", "line", "battery", "fault", "power_saving", "bypass"]


def test_capture_qpiws_fault_depends_on_b1() -> None:
    replies, _ = _feed((DATA / "qpiws.bin").read_bytes())
    assert [pi30.decode("QPIWS", r).values for r in replies] == [
        {"warnings": "", "faults": "", "fault_active": 0},
        {"warnings": "line_fail", "faults": "", "fault_active": 0},
        {"warnings": "", "faults": "fan_locked", "fault_active": 1},
    ]
    assert pi30.decode("QPIWS", "0" * 10 + "1" + "0" * 25).values["warnings"] == "fan_locked"


@pytest.mark.parametrize(
    ("command", "payload", "match"),
    [("QPIGS", "000.0 00.0", "at least 21"),
     ("QPIRI", "230.0", "at least 25"), ("QMOD", "Z", "nothing decodes"),
     ("QPIWS", "0101", "32+"), ("QXYZ", "1", "no decoder")],
    ids=["qpigs-short", "qpiri-short", "qmod", "qpiws", "unknown"],
)
def test_decode_errors_name_the_problem(command: str, payload: str, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        pi30.decode(command, payload)


PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=140)


FIELDS_LIKE = st.lists(st.sampled_from(["0", "1", "00110110", "010", "12.5", "-3", "x", "NAK",
                                        "230.0", "0000", "99999", ""]), max_size=30).map(" ".join)


@given(st.sampled_from(sorted(pi30.COMMANDS)), st.one_of(PRINTABLE, FIELDS_LIKE))
def test_decoders_raise_only_protocol_error(command: str, payload: str) -> None:
    try:
        values = pi30.decode(command, payload).values
    except ProtocolError:
        return
    assert values


EXAMPLE_PAYLOAD = ("000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 "
                   "57.45 00000 00110110 00 00 00856 010")


def _replies(name: str) -> list[pi30.Pi30Reply]:
    framer = pi30.Pi30Framer()
    replies = framer.feed((DATA / name).read_bytes())
    assert framer.frames_bad == 0
    return replies


def test_qpiri_27_fields_with_battery_type_9() -> None:
    first, _ = _replies("qpiri_variants.bin")
    decoded = pi30.decode("QPIRI", first)
    assert decoded.unknown == ()
    assert decoded.values["battery_type"] == "lic"
    assert decoded.values["max_cv_charge_time"] == 120
    assert decoded.values["operation_logic"] == "automatic"
    assert "max_discharge_current" not in decoded.values
    check_values(decoded.values)


def test_qpiri_28_fields_unknown_code_and_dash_left_out_not_the_reply() -> None:
    _, second = _replies("qpiri_variants.bin")
    decoded = pi30.decode("QPIRI", second)
    assert decoded.unknown == ("QPIRI battery_type=4", "QPIRI battery_redischarge_voltage='-'")
    assert "battery_type" not in decoded.values
    assert "battery_redischarge_voltage" not in decoded.values
    assert decoded.values["max_discharge_current"] == 150
    assert decoded.values["rated_ac_output_power"] == 4000  # the rest is all there
    assert len(decoded.values) == 28 - 2
    check_values(decoded.values)


def test_qpiri_fields_beyond_the_table_are_reported() -> None:
    payload = pi30.encode_qpiri({}, fields=28) + " 7 8"
    decoded = pi30.decode("QPIRI", payload)
    assert decoded.unknown == ("QPIRI field 29", "QPIRI field 30")


def test_qpigs_dash_and_bad_status_bits_keep_the_rest() -> None:
    payload = EXAMPLE_PAYLOAD.replace("57.50", "-").replace("00110110", "0011x110")
    decoded = pi30.decode("QPIGS", payload)
    assert "battery_voltage" not in decoded.values
    assert "charging_source" not in decoded.values and "load_output_on" not in decoded.values
    assert decoded.values["pv_power"] == 856 and decoded.values["charging_to_float"] == 0
    assert decoded.unknown == ("QPIGS battery_voltage='-'",
                               "QPIGS status bits b7..b0='0011x110'")


def test_qmod_unknown_letter_raises_naming_the_letter() -> None:
    with pytest.raises(ProtocolError, match=r"nothing decodes .*QMOD mode='Z'"):
        pi30.decode("QMOD", "Z")


def test_qpiws_unnamed_bit_and_bad_character_reported() -> None:
    bits = "0" * 5 + "1" + "0" * 32 + "1" + "x"  # b6 line fail, b39 unnamed, b40 'x'
    decoded = pi30.decode("QPIWS", bits)
    assert decoded.values["warnings"] == "line_fail"
    assert decoded.unknown == ("QPIWS bit 40='x'", "QPIWS bit 39")


def test_qpigs2_both_variants() -> None:
    full, short = (pi30.decode("QPIGS2", r).values for r in _replies("qpigs2.bin"))
    assert full == {
        "pv2_current": 12, "pv2_voltage": 310.5, "scc2_battery_voltage": 53.1, "pv2_power": 3726,
        "scc2_charging": 1, "scc3_charging": 0, "ac_charge_current": 0, "ac_charge_power": 0,
        "pv3_current": 0, "pv3_voltage": 0.0, "scc3_battery_voltage": 0.0, "pv3_power": 0,
        "pv_total_power": 5526,
    }
    assert short == {"pv2_current": 7.5, "pv2_voltage": 245.3, "pv2_power": 1840}
    check_values(full)
    check_values(short)


def test_qpgs_present_absent_and_max_units() -> None:
    present, absent, max_unit = (pi30.decode("QPGS0", r) for r in _replies("qpgs.bin"))
    assert present.unknown == ()
    v = present.values
    assert v["serial_number"] == "92932004102453" and v["inverter_mode"] == "battery"
    assert (v["battery_voltage"], v["battery_soc"], v["pv_voltage"]) == (53.1, 78, 240.0)
    assert (v["ac_output_power"], v["total_ac_output_power"]) == (1020, 2040)
    assert v["charging_source"] == "solar" and v["scc_ok"] == 1 and v["grid_lost"] == 0
    assert v["battery_status"] == "normal" and v["load_output_on"] == 1
    assert v["output_mode"] == "parallel" and v["charger_source_priority"] == "solar_only"
    assert (v["pv_current"], v["battery_current"]) == (7, 12)
    assert absent.values == {"parallel_unit_present": 0}
    assert max_unit.values["pv2_voltage"] == 240.7 and max_unit.values["pv2_current"] == 6
    for decoded in (present, max_unit):
        check_values(decoded.values)


def test_energy_counters_decode_and_dated_commands() -> None:
    replies = _replies("qe.bin")
    commands = pi30.energy_commands(date(2026, 3, 1), ("QET", "QEY", "QEM", "QED"))
    assert commands == ("QET", "QEY2026", "QEM202603", "QED20260301")
    values = {}
    for command, reply in zip(commands, replies[:4], strict=True):
        values.update(pi30.decode(command, reply).values)
    assert values == {"yield_total": 5217340, "yield_year": 1234567, "yield_month": 123456,
                      "yield_today": 4321}
    assert replies[4].nak
    with pytest.raises(ProtocolError, match="NAK"):
        pi30.decode("QED20260301", replies[4])


@given(st.sampled_from(COMMANDS), st.text(alphabet="0123456789.- ABLx", max_size=200))
def test_tolerant_decoders_raise_only_protocol_error(command: str, payload: str) -> None:
    try:
        decoded = pi30.decode(command, payload)
    except ProtocolError:
        return
    assert decoded.values
    check_values(decoded.values)
