"""EPEver / EPSolar Tracer (AN, BN, LS-B) over Modbus RTU: its register map.

The map is data: ``maps/epever.toml`` (input registers, 32-bit values low word
first, status words as bit fields; sources in its header). This module keeps
the names the rest of the bridge and the tests use for it.

Does NOT: frame Modbus (pymodbus does RTU, CRC and exceptions), open ports or
retry. The device layer reads :data:`READ_BLOCKS` with pymodbus's
``read_input_registers(address, count=..., device_id=1)`` and passes the words
to :func:`decode` as ``{address: word}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from firmware_bridge.protocols.base import Values
from firmware_bridge.protocols.modbus_map import MAPS_DIR, MapRegister, RegisterMap, load_map
from firmware_bridge.readings import Value

__all__ = [
    "BAUDRATE",
    "MAP",
    "READ_BLOCKS",
    "REGISTERS",
    "SLAVE_ID",
    "Register",
    "decode",
    "encode",
]

#: The register map (``maps/epever.toml``).
MAP: RegisterMap = load_map(MAPS_DIR / "epever.toml")
BAUDRATE = MAP.baudrate
SLAVE_ID = MAP.unit
Register = MapRegister
#: Every register (status words have ``name == ""`` and bit fields).
REGISTERS: tuple[MapRegister, ...] = MAP.registers
#: (first address, count) of the input-register blocks to read each poll.
READ_BLOCKS: tuple[tuple[int, int], ...] = tuple((a, c) for _, a, c in MAP.read_blocks())


def decode(registers: Mapping[int, int]) -> Values:
    """Canonical SI values from a snapshot ``{address: 16-bit word}`` (see :class:`RegisterMap`)."""
    return MAP.decode(registers)


def encode(values: Mapping[str, Value | None]) -> dict[int, int]:
    """Register words a controller would hold for ``values`` (for the simulator)."""
    return MAP.encode(values)
