"""VE.Direct text framer, decoder and encoders (sans-IO): captures, MPPT, BMV, SmartShunt,
BuckBoost and Phoenix blocks laid out by hand from VE.Direct Protocol 3.33 Table I (pp.
6-8), noise.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.errors import BridgeError, ChecksumError, FrameError, ProtocolError
from firmware_bridge.protocols import vedirect
from firmware_bridge.protocols.vedirect import TextBlock, VeDirectFramer
from firmware_bridge.readings import check_values
from tests.firmware_bridge.helpers import (
    BMV_HISTORY,
    BMV_HISTORY_VALUES,
    BMV_MAIN,
    BMV_MAIN_VALUES,
    SHUNT,
)
from tests.firmware_bridge.helpers import DATA as CAPTURES_DIR

DATA = CAPTURES_DIR / "vedirect"


# A SmartSolar 75/15 block, laid out by hand from VE.Direct Protocol 3.33 (pp. 5-8).
MPPT_BLOCK = bytes.fromhex(
    "0d0a" "504944" "09" "307841303533"  # \r\n PID \t 0xA053 (SmartSolar 75/15)
    "0d0a" "4657" "09" "313539"  # FW 159 (v1.59)
    "0d0a" "53455223" "09" "485131333238593654463" "6"  # SER# HQ1328Y6TF6
    "0d0a" "56" "09" "3132383030"  # V 12800 mV
    "0d0a" "49" "09" "2d353030"  # I -500 mA (discharging)
    "0d0a" "565056" "09" "3335323030"  # VPV 35200 mV
    "0d0a" "505056" "09" "3230"  # PPV 20 W
    "0d0a" "4353" "09" "34"  # CS 4 = absorption
    "0d0a" "4d505054" "09" "32"  # MPPT 2 = MPP tracker active
    "0d0a" "4f52" "09" "30783030303030303031"  # OR 0x00000001 = no input power
    "0d0a" "455252" "09" "3231"  # ERR 21 = current sensor issue
    "0d0a" "4c4f4144" "09" "6f6e"  # LOAD on (lower case, as old firmware)
    "0d0a" "494c" "09" "333030"  # IL 300 mA
    "0d0a" "483139" "09" "3132333435"  # H19 12345 x 0.01 kWh
    "0d0a" "483230" "09" "3137"  # H20 17 x 0.01 kWh
    "0d0a" "483231" "09" "313230"  # H21 120 W
    "0d0a" "48534453" "09" "2d2d2d"  # HSDS --- (no value)
    "0d0a" "5a5a5a" "09" "31"  # ZZZ 1 (a label this table does not know)
    "0d0a" "436865636b73756d" "09"  # Checksum \t
    "e5"  # checksum byte: all bytes sum to 0 mod 256
)


MPPT_VALUES = {
    "product_id": "0xA053", "firmware_version": "159", "serial_number": "HQ1328Y6TF6",
    "battery_voltage": 12.8, "battery_current": -0.5, "pv_voltage": 35.2, "pv_power": 20,
    "charge_state": "absorption", "tracker_mode": "mppt", "off_reason": "no_input_power",
    "error_code": 21, "load_output_on": 1, "load_current": 0.3, "yield_total": 123450,
    "yield_today": 170, "max_power_today": 120,
}


# README.md of tests/data/vedirect: blocks ok, checksum errors, format errors, hex ok, hex bad
CAPTURES = {
    "smartsolar_mppt.bin": (12, 1, 0, 4, 0),
    "bluesolar_fw123.bin": (5, 0, 0, 0, 0),
    "phoenix_inverter.bin": (6, 0, 0, 0, 0),
    "noisy.bin": (4, 2, 1, 0, 1),
}


def _feed_all(data: bytes, cuts: list[int] | None = None) -> tuple[list[TextBlock], VeDirectFramer]:
    framer = VeDirectFramer()
    bounds = [0, *(cuts or []), len(data)]
    blocks: list[TextBlock] = []
    for a, b in itertools.pairwise(bounds):
        blocks += framer.feed(data[a:b])
    return blocks, framer


def _counts(framer: VeDirectFramer) -> tuple[int, ...]:
    return (framer.blocks_ok, framer.checksum_errors, framer.format_errors, framer.hex_frames,
            framer.hex_errors)


def test_fixture_block_checksum_is_valid() -> None:
    assert sum(MPPT_BLOCK) % 256 == 0


def test_decode_annotated_block() -> None:
    blocks, framer = _feed_all(MPPT_BLOCK)
    assert len(blocks) == 1 and framer.blocks_ok == 1
    assert blocks[0].raw == MPPT_BLOCK
    assert vedirect.decode(blocks[0]) == MPPT_VALUES


@pytest.mark.parametrize("name", sorted(CAPTURES), ids=sorted(CAPTURES))
def test_captures_counts(name: str) -> None:
    blocks, framer = _feed_all((DATA / name).read_bytes())
    assert _counts(framer) == CAPTURES[name]
    assert len(blocks) == CAPTURES[name][0]
    assert framer.frames_bad == CAPTURES[name][1] + CAPTURES[name][2]


@pytest.mark.parametrize("name", sorted(CAPTURES), ids=sorted(CAPTURES))
def test_captures_split_at_every_offset(name: str) -> None:
    data = (DATA / name).read_bytes()
    whole, framer = _feed_all(data)
    for cut in range(1, len(data)):
        blocks, split = _feed_all(data, [cut])
        assert blocks == whole, cut
        assert _counts(split) == _counts(framer), cut


def test_capture_byte_by_byte_and_random_chunks() -> None:
    data = (DATA / "smartsolar_mppt.bin").read_bytes()
    whole, _ = _feed_all(data)
    assert _feed_all(data, list(range(1, len(data))))[0] == whole
    assert _feed_all(data, list(range(7, len(data), 61)))[0] == whole


def test_capture_smartsolar_values() -> None:
    blocks, framer = _feed_all((DATA / "smartsolar_mppt.bin").read_bytes())
    first = vedirect.decode(blocks[0])
    assert first["product_id"] == "0xA060"
    assert first["battery_voltage"] == 51.2  # V 51200 mV
    assert first["charge_state"] == "bulk"
    assert {b.raw[-1] for b in blocks} >= {0x3A, 0x0D, 0x0A}  # ':' CR LF checksum bytes
    assert [f.register for f in framer.take_hex_frames()] == [0x1050, 0x1050, 0xEDBB, 0x1050]
    assert framer.take_hex_frames() == []


def test_capture_bluesolar_no_value_and_missing_fields() -> None:
    blocks, _ = _feed_all((DATA / "bluesolar_fw123.bin").read_bytes())
    decoded = [vedirect.decode(b) for b in blocks]
    assert ["pv_voltage" in d for d in decoded] == [True, True, True, False, False]
    assert not {"tracker_mode", "off_reason", "load_output_on"} & decoded[0].keys()


def test_capture_phoenix_inverter() -> None:
    blocks, _ = _feed_all((DATA / "phoenix_inverter.bin").read_bytes())
    last = vedirect.decode(blocks[-1])
    assert last["inverter_mode"] == "inverter" and last["charge_state"] == "inverting"
    assert last["ac_output_voltage"] == 230.1 and last["ac_output_current"] == 1.6
    assert last["warnings"] == "low_voltage" and last["alarm_reason"] == ""


def _block_with_checksum(target: int) -> bytes:
    """An MPPT block whose serial number is chosen so the checksum byte is ``target``."""
    base = vedirect.encode_block({"serial_number": "HQ", "battery_voltage": 12.5})
    need = (-target - sum(base[:-1])) % 256 + 256  # what the extra characters must add
    count = -(-need // 122)
    chars = [need // count] * count
    chars[0] += need - sum(chars)
    raw = vedirect.encode_block({"serial_number": "HQ" + bytes(chars).decode(),
                                 "battery_voltage": 12.5})
    assert raw[-1] == target
    return raw


@pytest.mark.parametrize("target", [0x3A, 0x0D, 0x0A, 0x00, 0x09],
                         ids=[":", "CR", "LF", "NUL", "TAB"])
def test_checksum_byte_any_value_then_hex_frame(target: int) -> None:
    raw = _block_with_checksum(target)
    assert raw[-1] == target
    hexf = vedirect.build_async_frame(0xEDD5, 1280)
    data = raw + hexf + raw + raw
    for cut in range(len(data)):
        blocks, framer = _feed_all(data, [cut])
        assert [b.raw for b in blocks] == [raw] * 3, cut
        assert framer.hex_frames == 1 and framer.take_hex_frames()[0].value == 1280


def test_hex_frame_mid_block_is_cut_out() -> None:
    hexf = vedirect.build_async_frame(0x0201, 3, size=1)
    for at in range(2, len(MPPT_BLOCK) - 11):  # anywhere before "Checksum\t"
        blocks, framer = _feed_all(MPPT_BLOCK[:at] + hexf + MPPT_BLOCK[at:])
        assert [b.raw for b in blocks] == [MPPT_BLOCK], at
        assert framer.hex_frames == 1


def test_garbage_before_inside_and_after() -> None:
    before = b"\x00\xff\x80garbage\xfe"
    blocks, framer = _feed_all(before + MPPT_BLOCK + b"\xaa\x55" + MPPT_BLOCK + b"tail\xff")
    assert len(blocks) == 2 and framer.garbage_bytes == len(before) + 2
    broken = MPPT_BLOCK[:60] + b"\xff" + MPPT_BLOCK[60:]
    blocks, framer = _feed_all(MPPT_BLOCK + broken + MPPT_BLOCK)
    assert len(blocks) == 2 and framer.frames_bad == 1


def test_bad_block_dropped_whole() -> None:
    corrupted = bytearray(MPPT_BLOCK)
    corrupted[MPPT_BLOCK.index(b"12800")] = ord("2")  # V 22800: checksum now wrong
    blocks, framer = _feed_all(bytes(corrupted))
    assert blocks == [] and framer.checksum_errors == 1


def test_non_ascii_with_valid_sum_is_rejected() -> None:
    block = bytearray(MPPT_BLOCK)
    at = MPPT_BLOCK.index(b"HQ13")
    block[at] += 0x80
    block[at + 1] += 0x80  # +0x100 in all: sum mod 256 unchanged
    assert sum(block) % 256 == 0
    blocks, framer = _feed_all(bytes(block))
    assert blocks == [] and framer.format_errors == 1


def test_truncated_block_then_next_block() -> None:
    """A stall mid-block (no reset from the device layer) loses only the truncated block.

    A head shorter than one label and tab cannot be told from noise: it counts as garbage.
    """
    for cut in range(MPPT_BLOCK.index(b"\t") + 1, len(MPPT_BLOCK) - 12):
        blocks, framer = _feed_all(MPPT_BLOCK[:cut] + MPPT_BLOCK + MPPT_BLOCK)
        assert [b.raw for b in blocks] == [MPPT_BLOCK] * 2, cut
        assert framer.frames_bad == 1, cut


def test_merged_block_summing_to_zero_is_still_split() -> None:
    """A truncated head whose bytes happen to sum to 0 must not pass as one big block."""
    cut = next(c for c in range(20, len(MPPT_BLOCK) - 12) if sum(MPPT_BLOCK[:c]) % 256 == 0)
    merged = MPPT_BLOCK[:cut] + MPPT_BLOCK
    assert sum(merged) % 256 == 0
    blocks, framer = _feed_all(merged)
    assert [b.raw for b in blocks] == [MPPT_BLOCK]
    assert framer.checksum_errors == 1


def test_reset_drops_partial_block() -> None:
    framer = VeDirectFramer()
    assert framer.feed(MPPT_BLOCK[:100]) == []
    framer.reset()
    assert framer.feed(MPPT_BLOCK[100:]) == []
    assert len(framer.feed(MPPT_BLOCK)) == 1


def test_runaway_input_is_bounded() -> None:
    framer = VeDirectFramer()
    for _ in range(200):
        assert framer.feed(b"\r\nV\t12800" * 100) == []
    assert framer.overflows > 0 and framer.garbage_bytes > 100_000
    assert len(framer.feed(MPPT_BLOCK)) == 1


def test_decode_bad_value_raises_protocol_error() -> None:
    block = vedirect.build_block([("V", "12.8"), ("PPV", "20")])
    (parsed,) = VeDirectFramer().feed(block)
    with pytest.raises(ProtocolError, match=r"VE\.Direct V: bad value '12\.8'"):
        vedirect.decode(parsed)


def test_err_codes_name_the_documented_errors() -> None:
    assert vedirect.ERR_CODES[0] == "none" and vedirect.ERR_CODES[119] == "user_settings_invalid"
    assert len(set(vedirect.ERR_CODES.values())) == len(vedirect.ERR_CODES)


def test_decode_unknown_enum_code_is_left_out() -> None:
    (parsed,) = VeDirectFramer().feed(vedirect.build_block([("CS", "99"), ("PPV", "5")]))
    assert vedirect.decode(parsed) == {"pv_power": 5}


ROUND_TRIP = {
    "mppt": (vedirect.MPPT_LABELS, {
        "product_id": "0xA060", "firmware_version": "159", "serial_number": "HQ2132QY2KR",
        "battery_voltage": 53.12, "battery_current": -3.4, "pv_voltage": 81.03,
        "pv_power": 412, "charge_state": "float", "tracker_mode": "limited",
        "off_reason": "", "error_code": 0, "load_output_on": 0, "load_current": 0.0,
        "yield_total": 1045000, "yield_today": 2310, "max_power_today": 1015,
        "yield_yesterday": 3120, "max_power_yesterday": 990, "day_sequence": 17}),
    "phoenix": (vedirect.PHOENIX_LABELS, {
        "product_id": "0xA2E2", "firmware_version": "0116", "serial_number": "HQ1740ABCDE",
        "inverter_mode": "eco", "charge_state": "inverting", "ac_output_voltage": 229.87,
        "ac_output_current": 1.3, "ac_output_apparent_power": 299, "battery_voltage": 12.41,
        "alarm_reason": "low_voltage,overload", "warnings": "high_temperature",
        "off_reason": "power_switch,bit12"}),
}


@pytest.mark.parametrize("model", sorted(ROUND_TRIP), ids=sorted(ROUND_TRIP))
def test_encode_block_round_trip(model: str) -> None:
    labels, values = ROUND_TRIP[model]
    raw = vedirect.encode_block(values, labels)
    (block,) = VeDirectFramer().feed(raw)
    assert [label for label, _ in block.fields] == [
        label for label in labels if vedirect.LABELS[label].name in values]
    assert vedirect.decode(block) == values


def test_encode_none_is_sent_as_no_value() -> None:
    fields = vedirect.encode_fields({"battery_voltage": 12.5, "pv_voltage": None})
    assert fields == [("V", "12500"), ("VPV", "---")]


def test_hex_frame_builder_and_parser() -> None:
    raw = vedirect.build_async_frame(0xEDBB, 7712)
    check = (0x55 - 0xA - 0xBB - 0xED - 0x00 - 0x20 - 0x1E) & 0xFF  # 7712 = 0x1E20, LE
    assert raw == b":ABBED00201E" + f"{check:02X}\n".encode()
    frame = vedirect.parse_hex_frame(raw)
    assert (frame.command, frame.register, frame.value) == (0xA, 0xEDBB, 7712)
    with pytest.raises(ChecksumError):
        vedirect.parse_hex_frame(raw[:-3] + b"00\n")
    with pytest.raises(FrameError):
        vedirect.parse_hex_frame(b":A12\n"[:-2])


# -- properties -------------------------------------------------------------


@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=2000))
def test_random_bytes_never_raise(data: bytes, cut: int) -> None:
    framer = VeDirectFramer()
    try:
        blocks = framer.feed(data[:cut]) + framer.feed(data[cut:])
        for block in blocks:
            vedirect.decode(block)
    except BridgeError:
        pass
    assert framer.blocks_ok == len(blocks)


# Noise never contains CR or LF (a CR LF in noise legitimately starts a block, which
# then swallows the real one: the protocol has no other start marker), nor the
# end marker "Checksum<TAB>".
NOISE = (st.binary(max_size=40)
         .map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
         .filter(lambda b: b"Checksum\t" not in b))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(NOISE, st.integers(0, 4), st.integers(10000, 60000)),
                min_size=1, max_size=6), NOISE, st.integers(0, 10_000))
def test_blocks_buried_in_noise_are_all_recovered(
    parts: list[tuple[bytes, int, int]], tail: bytes, cut_seed: int
) -> None:
    stream = b""
    expected = []
    for noise, cs, mv in parts:
        block = vedirect.encode_block(
            {"battery_voltage": mv / 1000, "charge_state": ("off", "bulk", "absorption",
                                                             "float", "fault")[cs]})
        expected.append(block)
        stream += noise + block
    stream += tail
    cut = cut_seed % (len(stream) + 1)
    blocks, framer = _feed_all(stream, [cut])
    assert [b.raw for b in blocks] == expected
    assert framer.frames_bad == 0


LABEL_TEXT = st.tuples(
    st.sampled_from([*sorted(vedirect.LABELS), "XYZ"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
    .filter(lambda t: ":" not in t),
)


@given(st.lists(LABEL_TEXT, max_size=25, unique_by=lambda f: f[0]))  # a block has no repeats
def test_decode_of_any_well_formed_block_raises_only_protocol_error(
    fields: list[tuple[str, str]],
) -> None:
    (block,) = VeDirectFramer().feed(vedirect.build_block(fields))
    assert block.fields == tuple(fields)
    try:
        values = vedirect.decode(block)
    except ProtocolError:
        return
    assert set(values) <= {vedirect.LABELS[label].name for label, _ in fields if label != "XYZ"}


BUCKBOOST = bytes.fromhex(
    "0d0a" "504944" "09" "307841334630"  # PID 0xA3F0: Smart BuckBoost 12V/12V-50A
    "0d0a" "465745" "09" "303131354646"  # FWE 0115FF: fw 1.15 release
    "0d0a" "53455223" "09" "4851323232334142434445"  # SER# HQ2223ABCDE: serial
    "0d0a" "56" "09" "3133363530"  # V 13650: out 13.65 V
    "0d0a" "49" "09" "3230353030"  # I 20500: out 20.5 A
    "0d0a" "44435f494e5f56" "09" "31343230"  # DC_IN_V 1420: in 14.20 V
    "0d0a" "44435f494e5f49" "09" "323131"  # DC_IN_I 211: in 21.1 A
    "0d0a" "44435f494e5f50" "09" "333030"  # DC_IN_P 300: in 300 W
    "0d0a" "4d4f4445" "09" "31"  # MODE 1: charger
    "0d0a" "4353" "09" "33"  # CS 3: bulk
    "0d0a" "455252" "09" "30"  # ERR 0: no error
    "0d0a" "4f52" "09" "30783030303030303030"  # OR 0x00000000: not off
    "0d0a" "436865636b73756d" "09"  # Checksum \t
    "c4"  # checksum byte: all bytes sum to 0 mod 256
)


PHOENIX = bytes.fromhex(
    "0d0a" "504944" "09" "307841324532"  # PID 0xA2E2: Phoenix 12V 800VA
    "0d0a" "4657" "09" "30313136"  # FW 0116: fw 1.16
    "0d0a" "53455223" "09" "48513139323558595a3132"  # SER# HQ1925XYZ12: serial
    "0d0a" "4d4f4445" "09" "32"  # MODE 2: inverter
    "0d0a" "4353" "09" "39"  # CS 9: inverting
    "0d0a" "41435f4f55545f56" "09" "3233303031"  # AC_OUT_V 23001: 230.01 V
    "0d0a" "41435f4f55545f49" "09" "3237"  # AC_OUT_I 27: 2.7 A
    "0d0a" "41435f4f55545f53" "09" "363231"  # AC_OUT_S 621: 621 VA
    "0d0a" "56" "09" "3132333130"  # V 12310: 12.31 V
    "0d0a" "4152" "09" "30"  # AR 0: no alarm
    "0d0a" "5741524e" "09" "323537"  # WARN 257: low voltage + overload
    "0d0a" "4f52" "09" "30783030303030303030"  # OR 0x00000000: not off
    "0d0a" "436865636b73756d" "09"  # Checksum \t
    "07"  # checksum byte: all bytes sum to 0 mod 256
)


def _one(raw: bytes) -> vedirect.TextBlock:
    blocks = VeDirectFramer().feed(raw)
    assert len(blocks) == 1
    return blocks[0]


@pytest.mark.parametrize("raw", [BMV_MAIN, BMV_HISTORY, SHUNT, BUCKBOOST, PHOENIX],
                         ids=["bmv", "history", "shunt", "buckboost", "phoenix"])
def test_fixture_checksums_are_valid(raw: bytes) -> None:
    assert sum(raw) % 256 == 0


def test_bmv_main_block() -> None:
    block = _one(BMV_MAIN)
    assert vedirect.decode(block) == BMV_MAIN_VALUES
    assert vedirect.starts_update(block)
    assert vedirect.unknown_labels(block) == []


def test_bmv_history_block() -> None:
    block = _one(BMV_HISTORY)
    values = vedirect.decode(block)
    assert values == pytest.approx(BMV_HISTORY_VALUES)
    assert not vedirect.starts_update(block)
    check_values(values)


def test_smartshunt_block_infinite_ttg_no_sensor_and_unknown_label() -> None:
    block = _one(SHUNT)
    values = vedirect.decode(block)
    assert values == {
        "product_id": "0xA389", "battery_voltage": 26.4, "midpoint_voltage": 13.19,
        "midpoint_deviation": -1.2, "battery_current": 15.0, "battery_power": 396,
        "consumed_charge": 0.0, "battery_soc": 100.0, "alarm_on": 1, "relay_on": 0,
        "alarm_reason": "low_voltage,low_soc", "dc_monitor_mode": "battery_monitor",
        "ble_capabilities": "ble_off_supported",
    }
    assert "time_to_go" not in values  # -1 is "infinite": absent, not -1
    assert "battery_temperature" not in values  # '---'
    assert vedirect.unknown_labels(block) == ["XYZ"]
    check_values(values)


def test_buckboost_block() -> None:
    values = vedirect.decode(_one(BUCKBOOST))
    assert values == {
        "product_id": "0xA3F0", "firmware_version": "0115FF", "serial_number": "HQ2223ABCDE",
        "battery_voltage": 13.65, "battery_current": 20.5, "dc_input_voltage": 14.2,
        "dc_input_current": 21.1, "dc_input_power": 300, "inverter_mode": "charger",
        "charge_state": "bulk", "error_code": 0, "off_reason": "",
    }
    check_values(values)


def test_phoenix_block() -> None:
    values = vedirect.decode(_one(PHOENIX))
    assert values["ac_output_voltage"] == 230.01
    assert values["ac_output_current"] == 2.7
    assert values["ac_output_apparent_power"] == 621
    assert values["inverter_mode"] == "inverter" and values["charge_state"] == "inverting"
    assert values["warnings"] == "low_voltage,overload" and values["alarm_reason"] == ""
    check_values(values)


@pytest.mark.parametrize(
    "labels", [vedirect.BMV_LABELS, vedirect.SMARTSHUNT_LABELS, vedirect.BMV_HISTORY_LABELS,
               vedirect.BUCKBOOST_LABELS, vedirect.PHOENIX_LABELS],
    ids=["bmv", "shunt", "history", "buckboost", "phoenix"],
)
def test_encoder_round_trips_every_new_field(labels: tuple[str, ...]) -> None:
    """The simulator's encoder and the decoder are built from the same table."""
    values = {**BMV_MAIN_VALUES, **BMV_HISTORY_VALUES, "midpoint_voltage": 13.19,
              "midpoint_deviation": -1.2, "dc_monitor_mode": "fridge", "dc_input_voltage": 14.2,
              "dc_input_current": 21.1, "dc_input_power": 300, "inverter_mode": "charger",
              "charge_state": "bulk", "error_code": 0, "off_reason": "bms",
              "serial_number": "HQ1", "ac_output_voltage": 230.0, "ac_output_current": 2.7,
              "ac_output_apparent_power": 621, "warnings": "overload"}
    block = _one(vedirect.encode_block(values, labels))
    decoded = vedirect.decode(block)
    expected = {vedirect.LABELS[label].name for label in labels}
    assert set(decoded) == expected
    for name in expected:
        assert decoded[name] == (pytest.approx(values[name])
                                 if isinstance(values[name], float) else values[name])


def test_ttg_none_encodes_as_minus_one() -> None:
    block = _one(vedirect.encode_block({"time_to_go": None, "battery_soc": 100.0},
                                       vedirect.BMV_LABELS))
    assert "TTG\t-1" in block.lines
    assert vedirect.decode(block) == {"battery_soc": 100.0}


# ------------------------------------------------------------------ random bytes

NEW_LABELS = st.sampled_from(["P", "CE", "TTG", "Alarm", "VS", "VM", "DM", "MON", "BMV", "H1",
                              "H9", "H17", "DC_IN_V", "DC_IN_P", "CAP_BLE", "AR", "XYZ"])


FIELD_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)


@settings(max_examples=300)
@given(st.binary(max_size=600), st.lists(st.tuples(NEW_LABELS, FIELD_TEXT), max_size=10,
                                         unique_by=lambda f: f[0]))
def test_random_bytes_and_fields_raise_only_bridge_errors(
    noise: bytes, fields: list[tuple[str, str]]
) -> None:
    """Garbage and valid blocks of random battery-monitor fields: only BridgeError escapes."""
    data = noise + vedirect.build_block(fields) + noise
    for block in VeDirectFramer().feed(data):
        vedirect.unknown_labels(block)
        vedirect.starts_update(block)
        try:
            values = vedirect.decode(block)
        except BridgeError:
            continue
        check_values(values)
