"""PI30 setting commands (sans-IO): the whitelist, range checks, ACK/NAK, QID/QVFW, QPGS0."""

from __future__ import annotations

import pytest

from firmware_bridge.checksums import crc16_xmodem
from firmware_bridge.errors import ProtocolError
from firmware_bridge.protocols import pi30
from tests.firmware_bridge.protocols.pi30.payloads import (
    QPGS0_MAX_LEADING_ZERO,
    QPGS_EMPTY_SLOT,
)

R48 = pi30.setting_ratings({"rated_battery_voltage": 48.0})
R24 = pi30.setting_ratings({"rated_battery_voltage": 24.0}, (10, 20, 25))


def _request(text: str) -> bytes:
    """Command + CRC-16/XMODEM (0x28, 0x0D, 0x0A sent +1) + CR, computed here."""
    crc = crc16_xmodem(text.encode())
    return text.encode() + bytes(b + (b in b"(\r\n") for b in (crc >> 8, crc & 0xFF)) + b"\r"


@pytest.mark.parametrize(("name", "value", "ratings", "text"), [
    ("output_source_priority", "utility_first", R48, "POP00"),
    ("output_source_priority", "solar_first", R48, "POP01"),
    ("output_source_priority", "sbu_first", R48, "POP02"),
    ("charger_source_priority", "utility_first", R48, "PCP00"),
    ("charger_source_priority", "solar_only", R48, "PCP03"),
    ("battery_recharge_voltage", 46.0, R48, "PBCV46.0"),
    ("battery_recharge_voltage", 23.5, R24, "PBCV23.5"),
    ("battery_redischarge_voltage", 0.0, R48, "PBDV00.0"),
    ("battery_redischarge_voltage", 54, R48, "PBDV54.0"),
    ("max_ac_charge_current", 30, R48, "MUCHGC030"),
    ("max_ac_charge_current", 25, R24, "MUCHGC025"),
])
def test_build_setting_formats_each_setter(name: str, value: object, ratings: object,
                                           text: str) -> None:
    request = pi30.build_setting(name, value, ratings)  # type: ignore[arg-type]
    assert request == pi30.build_request(text)
    assert pi30.parse_request(request) == text
    assert request == _request(text)
    setter, parsed = pi30.parse_setting(text) or (None, None)
    assert setter is not None and setter.name == name and parsed == value


def test_pop02_carries_the_escaped_crc_real_inverters_expect() -> None:
    # CRC 0xE20A: its 0x0A byte is sent as 0x0B, as the firmware expects
    assert pi30.build_setting("output_source_priority", "sbu_first", R48) == b"POP02\xe2\x0b\r"


@pytest.mark.parametrize(("name", "value", "ratings", "why"), [
    ("battery_recharge_voltage", 52.0, R48, "not allowed on this 48 V unit"),
    ("battery_recharge_voltage", 46.5, R48, "allowed: 44, 45"),
    ("battery_recharge_voltage", 46.0, R24, "not allowed on this 24 V unit"),
    ("battery_redischarge_voltage", 47.0, R48, "not allowed"),
    ("max_ac_charge_current", 25, R48, "allowed: 2, 10, 20, 30"),  # documented fallback
    ("max_ac_charge_current", 30, R24, "allowed: 10, 20, 25"),  # the unit's QMUCHGCR
    ("output_source_priority", "grid_first", R48, "not one of"),
    ("output_source_priority", 2, R48, "not one of"),
    ("battery_recharge_voltage", "46", R48, "not a number"),
    ("battery_type", "user", R48, "not a whitelisted PI30 setting"),
])
def test_build_setting_refuses_values_out_of_range(name: str, value: object, ratings: object,
                                                   why: str) -> None:
    with pytest.raises(pi30.SettingError, match=why):
        pi30.build_setting(name, value, ratings)  # type: ignore[arg-type]


def test_ratings_need_a_known_nominal_voltage() -> None:
    with pytest.raises(pi30.SettingError, match="12, 24 or 48"):
        pi30.setting_ratings({"rated_battery_voltage": 36.0})
    with pytest.raises(pi30.SettingError):
        pi30.setting_ratings({})


def test_every_setter_reads_back_from_a_qpiri_field() -> None:
    qpiri = {spec.name for spec in pi30.QPIRI_FIELDS}
    assert set(pi30.SETTERS) <= qpiri


def test_ack_and_nak_replies_frame_as_answers_not_errors() -> None:
    framer = pi30.Pi30Framer()
    replies = framer.feed(pi30.ACK + pi30.NAK + pi30.NAK_NO_CRC)
    assert [(r.ack, r.nak) for r in replies] == [(True, False), (False, True), (False, True)]
    assert framer.frames_bad == 0


def test_qmuchgcr_choices() -> None:
    assert pi30.parse_current_choices("002 010 020 030 040") == (2, 10, 20, 30, 40)
    with pytest.raises(ProtocolError):
        pi30.parse_current_choices("002 x")


def test_qid_and_qvfw_decode_into_the_identity_names() -> None:
    assert pi30.decode("QID", "92932004102453").values == {"serial_number": "92932004102453"}
    assert pi30.decode("QVFW", "VERFW:00072.70").values == {"firmware_version": "00072.70"}
    with pytest.raises(ProtocolError):
        pi30.decode("QVFW", "00072.70")
    with pytest.raises(ProtocolError):
        pi30.decode("QID", "")


def test_qpgs0_with_a_leading_zero_but_live_values_is_present() -> None:
    decoded = pi30.decode("QPGS0", QPGS0_MAX_LEADING_ZERO)
    assert decoded.unknown == ()
    values = decoded.values
    assert values["parallel_unit_present"] == 1
    assert values["serial_number"] == "92932105105315"
    assert values["ac_output_voltage"] == 230.0
    assert values["battery_voltage"] == 52.1
    assert values["ac_output_power"] == 312
    assert values["battery_current"] == -7
    assert values["inverter_mode"] == "battery"


def test_an_empty_parallel_slot_stays_absent() -> None:
    assert pi30.decode("QPGS2", QPGS_EMPTY_SLOT).values == {"parallel_unit_present": 0}
