"""Registry of device protocols: ``PROTOCOLS[name] -> ProtocolSpec``.

Responsible for: naming the protocols the bridge speaks and pointing at each
one's sans-IO module (field tables, framer, decoders, encoders).
Does NOT: do I/O; the device layer (:mod:`firmware_bridge.device`) and the
simulators use these modules. Must not import: ``edge``, ``trainer``, or any
I/O module of the bridge (``transport``, ``device``, ``drivers``).

Per protocol (all pure, no I/O)
-------------------------------
``vedirect`` (streaming, 19200 baud)
    ``VeDirectFramer().feed(bytes) -> list[TextBlock]`` (+ ``take_hex_frames()``),
    ``decode(block) -> Values``; encoders ``encode_block(values, labels)``,
    ``encode_fields``, ``build_block``, ``build_async_frame``, ``build_hex_frame``.
``pi30`` (request-response, 2400 baud)
    ``build_request(cmd) -> bytes``, ``Pi30Framer().feed(bytes) -> list[Pi30Reply]``,
    ``decode(cmd, reply) -> Values`` (``ProtocolError`` on NAK), ``POLL_COMMANDS``;
    for simulators ``RequestFramer``, ``parse_request(bytes) -> cmd``,
    ``encode_payload(cmd, values)``, ``build_response(payload, raw_zero_crc=,
    trailing_lf=)``, ``NAK``, ``NAK_NO_CRC``, ``ACK``.
Modbus devices (pymodbus does RTU): one entry per map file
    ``maps/<name>.toml`` (:mod:`.modbus_map`): ``epever`` (EPEver Tracer),
    ``srne`` (SRNE ML/MC charge controllers), ``growatt_spf`` (Growatt SPF
    off-grid inverters), ``deye`` (Deye/Sunsynk single-phase hybrids).
    ``MODBUS_MAPS[name]`` has ``read_blocks()``, ``decode({address: word})``
    and ``encode(values)``; one generic driver and one generic simulator serve
    them all.

Adding a Modbus device is one map file plus its test
----------------------------------------------------
Write ``firmware_bridge/protocols/maps/<name>.toml`` (format in
:mod:`.modbus_map`; cite the vendor document, or where the figures come from,
in its header; canonical names only, new ones go into ``readings.QUANTITIES``
first) and ``tests/firmware_bridge/test_map_<name>.py`` (a vendor example or
hand-made register snapshot decoded, an encode/decode round trip). The
registry below picks the file up, ``helio-bridge read --protocol <name>``
reads it, and ``start_simulator("<name>", ...)`` serves it.

Adding another kind of protocol touches four places and nothing else
--------------------------------------------------------------------
1. ``firmware_bridge/protocols/<name>.py``: frozen field tables (vendor label
   -> canonical name in :data:`firmware_bridge.readings.QUANTITIES`, scale to
   SI), a framer with ``feed(bytes) -> list[frame]``, ``reset()`` and the
   ``frames_ok`` / ``frames_bad`` counters (see :class:`.base.Framer`), decoders
   returning ``{canonical name: SI value}``, and encoders built from the same
   tables. New quantity names go into ``readings.QUANTITIES`` first.
2. One entry in :data:`PROTOCOLS` below.
3. ``firmware_bridge/simulators/<name>.py``, driven by the module's encoders so
   the simulator and the decoder cannot drift apart.
4. ``tests/data/<name>/`` captures with a ``README.md`` recording provenance,
   and ``tests/firmware_bridge/test_<name>.py`` (whole, split at every offset,
   in garbage, hypothesis noise; plus a test that decoders only emit known names).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from firmware_bridge.protocols import epever, modbus_map, pi30, vedirect
from firmware_bridge.protocols.base import Framer, ProtocolSpec, Values

__all__ = [
    "MODBUS_MAPS",
    "PROTOCOLS",
    "Framer",
    "ProtocolSpec",
    "Values",
    "epever",
    "modbus_map",
    "pi30",
    "vedirect",
]


#: Modbus protocol name -> its register map (every ``maps/*.toml``).
MODBUS_MAPS: Mapping[str, modbus_map.RegisterMap] = MappingProxyType({
    **modbus_map.load_maps(),
    "epever": epever.MAP,  # the same object the epever module decodes with
})


def _modbus_specs() -> dict[str, ProtocolSpec]:
    return {
        name: ProtocolSpec(
            name=name, baudrate=m.baudrate, kind="modbus", module=modbus_map, make_framer=None,
            description=m.description,
        )
        for name, m in MODBUS_MAPS.items()
    }


PROTOCOLS: Mapping[str, ProtocolSpec] = MappingProxyType({
    "vedirect": ProtocolSpec(
        name="vedirect", baudrate=vedirect.BAUDRATE, kind="streaming", module=vedirect,
        make_framer=vedirect.VeDirectFramer,
        description="Victron VE.Direct text protocol (MPPT chargers, Phoenix inverters)",
    ),
    "pi30": ProtocolSpec(
        name="pi30", baudrate=pi30.BAUDRATE, kind="request-response", module=pi30,
        make_framer=pi30.Pi30Framer,
        description="Voltronic PI30 (Axpert, MPP Solar and rebrands)",
    ),
    **_modbus_specs(),
})
