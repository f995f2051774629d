"""Voltronic PI30 (Axpert, MPP Solar and rebrands), sans-IO.

Responsible for: request bytes (command + CRC-16/XMODEM + CR with the escape
quirk) and the reply framer (:mod:`.framer`), the field and status-bit tables of
QPIGS, QPIRI, QMOD, QPIWS, QPIGS2, QPGSn, QID, QVFW and the energy counters
QET/QEY/QEM/QED/QLT/QLY/QLM/QLD (:mod:`.tables`), the one decode API
:func:`decode` (:mod:`.decoder`: tolerant, a field that does not decode is left
out and reported in :attr:`Decoded.unknown`), and the encoders the simulator
uses (:mod:`.encoder`), built from the same tables; the whitelisted setting
commands with their range checks (:mod:`.settings`).

Does NOT: open ports, sleep, log, or decide the polling schedule (see
:data:`POLL_COMMANDS`). Must not import: anything beyond ``firmware_bridge.checksums``,
``errors``, ``readings`` and ``protocols.base`` (it is sans-IO).

Sources
-------
- Voltronic Power, "Infini-Solar / Axpert Inverter Communication Protocol",
  2015-09-24 (customer edition) §2.7-2.14; published copy:
  https://github.com/jblance/mpp-solar/blob/master/docs/Communication%20Protocol-20150924%20-%20Customer.pdf
- Voltronic Power, "MAX Communication Protocol" (PI30MAX), 2021-02-17
  §2.7-2.11 and §2.23-2.30; published copy:
  https://github.com/jblance/mpp-solar/blob/master/docs/protocols/PI30MAX.Communication.Protocol20210217.pdf
- Voltronic Power, "HS/MS/MSX RS232 Protocol", 2014-08-22 (after current
  upgrade) §2.15 (QPGSn); published copy:
  https://github.com/jblance/mpp-solar/blob/master/docs/HS_MS_MSX_RS232_Protocol_20140822_after_current_upgrade.pdf
- Firmware quirks (escaped and raw CRC bytes, ``(NAK`` without CRC, trailing
  LF, 97/98-byte and 28-field QPIRI replies) as seen in the public issue
  threads of jblance/mpp-solar (#11, #209), syssi/esphome-pipsolar (#87, #130)
  and ned-kelly/docker-voltronic-homeassistant (#4, #120).
"""

from __future__ import annotations

from firmware_bridge.protocols.pi30.decoder import COMMANDS, Decoded, decode
from firmware_bridge.protocols.pi30.encoder import (
    ENCODERS,
    build_response,
    encode_counter,
    encode_payload,
    encode_qmod,
    encode_qpgs,
    encode_qpigs,
    encode_qpigs2,
    encode_qpiri,
    encode_qpiws,
)
from firmware_bridge.protocols.pi30.framer import (
    Pi30Framer,
    Pi30Reply,
    RequestFramer,
    build_request,
    parse_request,
)
from firmware_bridge.protocols.pi30.settings import (
    MUCHGC_FALLBACK,
    SETTERS,
    Setter,
    SettingError,
    SettingRatings,
    build_setting,
    parse_current_choices,
    parse_setting,
    setting_ratings,
)
from firmware_bridge.protocols.pi30.tables import (
    ACK,
    BAUDRATE,
    ENERGY_COUNTERS,
    IDENTITY_COMMANDS,
    NAK,
    NAK_NO_CRC,
    OPTIONAL_COMMANDS,
    POLL_COMMANDS,
    QMOD_MODES,
    QPGS_FIELDS,
    QPGS_MAX_FIELDS,
    QPIGS2_FIELDS,
    QPIGS2_MAX_FIELDS,
    QPIGS_FIELDS,
    QPIGS_MAX_FIELDS,
    QPIRI_FIELDS,
    QPIWS_BITS,
    BitTable,
    Pi30Field,
    StatusBits,
    command_family,
    energy_commands,
)

__all__ = [
    "ACK",
    "BAUDRATE",
    "COMMANDS",
    "ENCODERS",
    "ENERGY_COUNTERS",
    "IDENTITY_COMMANDS",
    "MUCHGC_FALLBACK",
    "NAK",
    "NAK_NO_CRC",
    "OPTIONAL_COMMANDS",
    "POLL_COMMANDS",
    "QMOD_MODES",
    "QPGS_FIELDS",
    "QPGS_MAX_FIELDS",
    "QPIGS2_FIELDS",
    "QPIGS2_MAX_FIELDS",
    "QPIGS_FIELDS",
    "QPIGS_MAX_FIELDS",
    "QPIRI_FIELDS",
    "QPIWS_BITS",
    "SETTERS",
    "BitTable",
    "Decoded",
    "Pi30Field",
    "Pi30Framer",
    "Pi30Reply",
    "RequestFramer",
    "Setter",
    "SettingError",
    "SettingRatings",
    "StatusBits",
    "build_request",
    "build_response",
    "build_setting",
    "command_family",
    "decode",
    "encode_counter",
    "encode_payload",
    "encode_qmod",
    "encode_qpgs",
    "encode_qpigs",
    "encode_qpigs2",
    "encode_qpiri",
    "encode_qpiws",
    "energy_commands",
    "parse_current_choices",
    "parse_request",
    "parse_setting",
    "setting_ratings",
]
