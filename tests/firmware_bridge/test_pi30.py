"""PI30 request builder, reply framer, decoders and encoders (sans-IO)."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.checksums import crc16_xmodem
from firmware_bridge.errors import BridgeError, ChecksumError, FrameError, ProtocolError
from firmware_bridge.protocols import pi30
from firmware_bridge.protocols.pi30 import Pi30Framer, Pi30Reply
from tests.firmware_bridge.helpers import DATA as CAPTURES_DIR

DATA = CAPTURES_DIR / "pi30"

# The mpp-solar QPIGS test response (protocols.md B2), annotated per PI30 §2.9.
EXAMPLE = bytes.fromhex(
    "28"  # (
    "3030302e30" "20"  # grid voltage 000.0 V
    "30302e30" "20"  # grid frequency 00.0 Hz
    "3233302e30" "20"  # AC output voltage 230.0 V
    "34392e39" "20"  # AC output frequency 49.9 Hz
    "30313631" "20"  # AC output apparent power 0161 VA
    "30313139" "20"  # AC output active power 0119 W
    "303033" "20"  # load percent 003 %
    "343630" "20"  # bus voltage 460 V
    "35372e3530" "20"  # battery voltage 57.50 V
    "303132" "20"  # battery charging current 012 A
    "313030" "20"  # battery capacity 100 %
    "30303639" "20"  # heat-sink temperature 0069
    "30303134" "20"  # PV input current 0014 A
    "3130332e38" "20"  # PV input voltage 103.8 V
    "35372e3435" "20"  # battery voltage from SCC 57.45 V
    "3030303030" "20"  # battery discharge current 00000 A
    "3030313130313130" "20"  # status b7..b0: b5 SCC fw updated, b4 load on, b2 b1 SCC charging
    "3030" "20"  # fan offset 00 x 10 mV
    "3030" "20"  # EEPROM version 00
    "3030383536" "20"  # PV charging power 00856 W
    "303130"  # status b10..b8: b9 switched on
    "248c"  # CRC-16/XMODEM 0x248C
    "0d"  # CR
)
EXAMPLE_VALUES = {
    "grid_voltage": 0.0, "grid_frequency": 0.0, "ac_output_voltage": 230.0,
    "ac_output_frequency": 49.9, "ac_output_apparent_power": 161, "ac_output_power": 119,
    "load_percent": 3, "bus_voltage": 460, "battery_voltage": 57.5,
    "battery_charge_current": 12, "battery_soc": 100, "heatsink_temperature": 69,
    "pv_current": 14, "pv_voltage": 103.8, "scc_battery_voltage": 57.45,
    "battery_discharge_current": 0, "pv_power": 856, "load_output_on": 1,
    "charging_source": "solar", "charging_to_float": 0, "battery_current": 12,
}

# tests/data/pi30/README.md: command, decoded, NAKs, CRC errors
CAPTURES = {
    "qpigs.bin": ("QPIGS", 7, 2, 1),
    "qpigs_max.bin": ("QPIGS", 4, 0, 0),
    "qpiri.bin": ("QPIRI", 2, 0, 0),
    "qmod.bin": ("QMOD", 7, 1, 0),
    "qpiws.bin": ("QPIWS", 3, 0, 0),
}


def _feed(data: bytes, cuts: list[int] | None = None) -> tuple[list[Pi30Reply], Pi30Framer]:
    framer = Pi30Framer()
    bounds = [0, *(cuts or []), len(data)]
    out: list[Pi30Reply] = []
    for a, b in itertools.pairwise(bounds):
        out += framer.feed(data[a:b])
    return out, framer


def _decode_all(command: str, replies: list[Pi30Reply]) -> tuple[list[dict[str, object]], int]:
    values, refused = [], 0
    for reply in replies:
        try:
            values.append(pi30.decode(command, reply).values)
        except ProtocolError:
            refused += 1
    return values, refused


@pytest.mark.parametrize(
    ("command", "expected"),
    [("QPIGS", "5150494753b7a90d"), ("QMOD", "514d4f4449c10d"), ("QPIWS", "5150495753b4da0d"),
     ("QPIRI", "5150495249f8540d"), ("POP02", "504f503032e20b0d")],
    ids=["QPIGS", "QMOD", "QPIWS", "QPIRI", "POP02-escaped"],
)
def test_build_request_bytes(command: str, expected: str) -> None:
    assert pi30.build_request(command) == bytes.fromhex(expected)
    assert pi30.parse_request(bytes.fromhex(expected)) == command


def test_parse_request_accepts_raw_crc_and_trailing_lf() -> None:
    assert pi30.parse_request(b"POP02\xe2\x0a\r\n") == "POP02"  # raw 0x0A, not escaped


@pytest.mark.parametrize(
    ("data", "error"),
    [(b"QPIGS\xb7\xaa\r", ChecksumError), (b"QP\r", FrameError),
     (b"Q\xffIGS\xb7\xa9\r", FrameError)],
    ids=["bad-crc", "short", "not-ascii"],
)
def test_parse_request_rejects(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        pi30.parse_request(data)


def test_request_framer_splits_requests() -> None:
    framer = pi30.RequestFramer()
    stream = pi30.build_request("QPIGS") + b"\n\x00" + pi30.build_request("QMOD")
    frames = framer.feed(stream[:4]) + framer.feed(stream[4:])
    assert [pi30.parse_request(f) for f in frames] == ["QPIGS", "QMOD"]


def test_example_reply_decodes() -> None:
    (reply,), framer = _feed(EXAMPLE)
    assert reply.raw == EXAMPLE[:-1] and framer.replies_ok == 1
    assert pi30.decode("QPIGS", reply).values == EXAMPLE_VALUES


@pytest.mark.parametrize("name", sorted(CAPTURES), ids=sorted(CAPTURES))
def test_captures_counts(name: str) -> None:
    command, decoded, naks, crc_errors = CAPTURES[name]
    replies, framer = _feed((DATA / name).read_bytes())
    values, refused = _decode_all(command, replies)
    assert (len(values), refused, framer.naks, framer.crc_errors) == (
        decoded, naks, naks, crc_errors)
    assert framer.format_errors == 0


@pytest.mark.parametrize("name", sorted(CAPTURES), ids=sorted(CAPTURES))
def test_captures_split_at_every_offset(name: str) -> None:
    data = (DATA / name).read_bytes()
    whole, framer = _feed(data)
    for cut in range(1, len(data)):
        replies, split = _feed(data, [cut])
        assert replies == whole, cut
        assert (split.crc_errors, split.naks) == (framer.crc_errors, framer.naks), cut


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


@pytest.mark.parametrize("nak", [b"(NAKss\r", b"(NAK\r", b"(NAKss\r\n"],
                         ids=["crc", "no-crc", "lf"])
def test_nak_raises_protocol_error(nak: bytes) -> None:
    (reply,), framer = _feed(b"\n" + nak)
    assert reply.nak and framer.naks == 1
    with pytest.raises(ProtocolError, match="NAK"):
        pi30.decode("QPIGS", reply)


def test_ack() -> None:
    (reply,), _ = _feed(pi30.ACK)
    assert reply.ack and not reply.nak


def _payload_with_crc_byte(byte: int) -> str:
    for t in range(100_000):
        payload = f"{t:05d}"
        crc = crc16_xmodem(b"(" + payload.encode())
        if byte in (crc >> 8, crc & 0xFF):
            return payload
    raise AssertionError(byte)


@pytest.mark.parametrize("byte", [0x00, 0x28, 0x0A, 0x0D], ids=["NUL", "(", "LF", "CR"])
def test_crc_byte_raw_or_escaped(byte: int) -> None:
    payload = _payload_with_crc_byte(byte)
    body = b"(" + payload.encode()
    raw = body + crc16_xmodem(body).to_bytes(2, "big") + b"\r"
    escaped = pi30.build_response(payload, raw_zero_crc=False)
    assert raw != escaped
    for data in (raw, escaped, raw + escaped, escaped + b"\n" + raw):
        replies, framer = _feed(data)
        assert [r.payload for r in replies] == [payload] * (len(data) // len(raw)), data
        assert framer.frames_bad == 0


def test_corrupted_reply_counted_and_dropped() -> None:
    bad = bytearray(EXAMPLE)
    bad[10] ^= 0x01
    replies, framer = _feed(bytes(bad) + EXAMPLE)
    assert [r.raw for r in replies] == [EXAMPLE[:-1]] and framer.crc_errors == 1


def test_stale_bytes_before_reply_are_skipped() -> None:
    replies, framer = _feed(EXAMPLE[:30] + EXAMPLE)  # truncated reply, then a fresh one
    assert [r.raw for r in replies] == [EXAMPLE[:-1]] and framer.garbage_bytes == 30


def test_reset_flushes_stale_input() -> None:
    framer = Pi30Framer()
    assert framer.feed(EXAMPLE[:50]) == []
    framer.reset()
    assert framer.feed(EXAMPLE[50:]) == []
    assert len(framer.feed(EXAMPLE)) == 1


def test_runaway_input_is_bounded() -> None:
    framer = Pi30Framer()
    for _ in range(100):
        assert framer.feed(b"(" + b"1" * 1000) == []
    assert framer.overflows > 0
    assert len(framer.feed(b"\r" + EXAMPLE)) == 1


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


SIM_VALUES = {
    "grid_voltage": 229.8, "grid_frequency": 50.0, "ac_output_voltage": 230.1,
    "ac_output_frequency": 50.0, "ac_output_apparent_power": 1234, "ac_output_power": 1100,
    "load_percent": 24, "bus_voltage": 402, "battery_voltage": 52.37,
    "battery_charge_current": 0, "battery_soc": 64, "heatsink_temperature": 38,
    "pv_current": 0, "pv_voltage": 0.0, "scc_battery_voltage": 0.0,
    "battery_discharge_current": 25, "pv_power": 0, "load_output_on": 1,
    "charging_source": "none", "charging_to_float": 0, "battery_current": -25,
}


@pytest.mark.parametrize("variant", ["pi30", "max"])
def test_encode_qpigs_round_trip_and_widths(variant: str) -> None:
    payload = pi30.encode_qpigs(SIM_VALUES, variant=variant)
    parts = payload.split(" ")
    assert len(parts) == (24 if variant == "max" else 21)
    example_widths = [len(p) for p in EXAMPLE[1:-3].decode().split(" ")]
    assert [len(p) for p in parts[:21]] == example_widths
    decoded = pi30.decode("QPIGS", pi30.build_response(payload)[1:-3].decode()).values
    assert {k: decoded[k] for k in SIM_VALUES} == SIM_VALUES


@pytest.mark.parametrize("source", ["none", "solar", "grid", "solar_and_grid"])
def test_encode_qpigs_status_bits(source: str) -> None:
    values = {**SIM_VALUES, "charging_source": source, "charging_to_float": 1}
    decoded = pi30.decode("QPIGS", pi30.encode_qpigs(values)).values
    assert (decoded["charging_source"], decoded["charging_to_float"]) == (source, 1)


def test_encode_qpiri_qmod_qpiws_round_trip() -> None:
    payload = (DATA / "qpiri.bin").read_bytes()[1:].split(b"\r")[0][:-2].decode()
    ratings = pi30.decode("QPIRI", payload).values
    assert pi30.decode("QPIRI", pi30.encode_payload("QPIRI", ratings)).values == ratings
    for mode in pi30.QMOD_MODES.values():
        decoded = pi30.decode("QMOD", pi30.encode_qmod({"inverter_mode": mode}))
        assert decoded.values["inverter_mode"] == mode
    status = {"warnings": "line_fail,battery_low_alarm,pv_voltage_high_2",
              "faults": "overload,battery_short", "fault_active": 1}
    assert pi30.decode("QPIWS", pi30.encode_qpiws(status)).values == status


@pytest.mark.parametrize(("raw_zero", "lf"), [(True, False), (False, True)])
def test_build_response_options(raw_zero: bool, lf: bool) -> None:
    payload = _payload_with_crc_byte(0x00)
    data = pi30.build_response(payload, raw_zero_crc=raw_zero, trailing_lf=lf)
    assert data.endswith(b"\r\n" if lf else b"\r")
    assert (0 in data[-4 if lf else -3 :]) == raw_zero
    (reply,), _ = _feed(data)
    assert reply.payload == payload


def test_nak_constants() -> None:
    assert b"(NAK" + crc16_xmodem(b"(NAK").to_bytes(2, "big") + b"\r" == pi30.NAK
    assert b"(ACK" + crc16_xmodem(b"(ACK").to_bytes(2, "big") + b"\r" == pi30.ACK


# -- properties -------------------------------------------------------------


@given(st.binary(max_size=1500), st.integers(0, 1500))
def test_random_bytes_never_raise(data: bytes, cut: int) -> None:
    framer = Pi30Framer()
    replies = framer.feed(data[:cut]) + framer.feed(data[cut:])
    for reply in replies:
        with contextlib.suppress(BridgeError):
            pi30.decode("QPIGS", reply)
    assert framer.replies_ok == len(replies)


# Noise holds no '(' or CR: either would legitimately start or end a reply.
NOISE = st.binary(max_size=30).map(lambda b: b.replace(b"(", b"").replace(b"\r", b""))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(NOISE, st.integers(0, 99), st.booleans()), min_size=1, max_size=6),
       NOISE, st.integers(0, 10_000))
def test_replies_buried_in_noise_are_all_recovered(
    parts: list[tuple[bytes, int, bool]], tail: bytes, cut_seed: int
) -> None:
    stream, expected = b"", []
    for noise, soc, lf in parts:
        payload = pi30.encode_qpigs({**SIM_VALUES, "battery_soc": soc})
        expected.append(payload)
        stream += noise + pi30.build_response(payload, trailing_lf=lf)
    stream += tail
    replies, framer = _feed(stream, [cut_seed % (len(stream) + 1)])
    assert [r.payload for r in replies] == expected
    assert framer.frames_bad == 0
    assert [pi30.decode("QPIGS", r).values["battery_soc"] for r in replies] == [p[1] for p in parts]


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
