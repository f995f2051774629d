"""Fault injection for the simulators: names, rates, and byte mangling.

Responsible for: the catalogue of switchable faults (``--fault NAME[:RATE]``),
a seeded, thread-safe decision ``hit(name)``, and the byte-level damage the
protocol simulators apply to frames they send (flip a checksum, corrupt a
byte, truncate, split for a mid-frame stall).

Does NOT: know any protocol; each simulator decides what a fault means for
its frames (see the table below).

=====================  ======================================================
name                   effect
=====================  ======================================================
bad_checksum           checksum / CRC of a frame wrong (VE.Direct, PI30, Modbus)
corrupt_bytes          one byte of a frame replaced by another value
stall                  the frame stops mid-way for ``STALL_S`` then continues
hex_after_checksum     VE.Direct: async ``:A`` HEX frame right after the checksum
raw_zero_crc           PI30: replies whose CRC holds a raw 0x00 byte (a free
                       digit is varied until the CRC has one)
trailing_lf            PI30: LF after the CR
truncated              a frame cut short (no terminator)
concatenated           PI30: the previous reply sent again in front of the new one
silent                 the device stops answering (EPEver: until replugged)
disappear              the device vanishes and returns every ``DISAPPEAR_PERIOD_S``
                       (down for ``DISAPPEAR_DOWN_S``), scaled by ``time_scale``
=====================  ======================================================
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

import numpy as np

__all__ = ["DEFAULT_RATES", "FAULT_NAMES", "Faults", "parse_faults"]

#: fault name -> default probability per frame (1.0 = every frame / always on)
DEFAULT_RATES: Mapping[str, float] = {
    "bad_checksum": 0.2,
    "corrupt_bytes": 0.2,
    "stall": 0.2,
    "hex_after_checksum": 0.5,
    "raw_zero_crc": 1.0,
    "trailing_lf": 1.0,
    "truncated": 0.2,
    "concatenated": 0.2,
    "silent": 1.0,
    "disappear": 1.0,
}
FAULT_NAMES = tuple(DEFAULT_RATES)

STALL_S = 0.7  # longer than the 500 ms VE.Direct mid-frame reset rule [s]
DISAPPEAR_PERIOD_S = 30.0
DISAPPEAR_DOWN_S = 5.0


def parse_faults(specs: Iterable[str]) -> dict[str, float]:
    """``["stall", "bad_checksum:0.5"]`` -> ``{"stall": 0.2, "bad_checksum": 0.5}``.

    Raises
    ------
    ValueError
        Unknown name or a rate outside [0, 1].
    """
    out: dict[str, float] = {}
    for spec in specs:
        name, _, rate_text = spec.partition(":")
        name = name.strip().replace("-", "_")
        if name not in DEFAULT_RATES:
            raise ValueError(f"unknown fault {name!r} (known: {', '.join(FAULT_NAMES)})")
        rate = float(rate_text) if rate_text else DEFAULT_RATES[name]
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate for {name} must be within [0, 1], got {rate}")
        out[name] = rate
    return out


class Faults:
    """The active faults of one simulator; thread-safe, seeded.

    Parameters
    ----------
    specs : iterable of str or mapping
        Fault specs (``name[:rate]``) or a name -> rate mapping.
    seed : int
        Seed of the decisions and the damage.
    """

    def __init__(self, specs: Iterable[str] | Mapping[str, float] = (), *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = np.random.default_rng([seed & 0xFFFFFFFF, 0xFA17])
        self._rates: dict[str, float] = {}
        self.set(specs)

    def set(self, specs: Iterable[str] | Mapping[str, float]) -> None:
        """Replace the active faults."""
        rates = dict(specs) if isinstance(specs, Mapping) else parse_faults(specs)
        parse_faults(f"{k}:{v}" for k, v in rates.items())  # validate
        with self._lock:
            self._rates = rates

    @property
    def active(self) -> dict[str, float]:
        """Name -> rate of the faults switched on."""
        with self._lock:
            return dict(self._rates)

    def on(self, name: str) -> bool:
        """True when ``name`` is switched on at any rate."""
        with self._lock:
            return self._rates.get(name, 0.0) > 0.0

    def hit(self, name: str) -> bool:
        """Decide, at the fault's rate, whether it strikes this frame."""
        with self._lock:
            rate = self._rates.get(name, 0.0)
            return rate >= 1.0 or (rate > 0.0 and float(self._rng.random()) < rate)

    def integer(self, low: int, high: int) -> int:
        """A seeded integer in [low, high)."""
        with self._lock:
            return int(self._rng.integers(low, max(high, low + 1)))

    # ------------------------------------------------------------ damage
    def corrupt(self, frame: bytes, *, start: int = 0, end: int | None = None) -> bytes:
        """``frame`` with one byte in ``[start, end)`` replaced by a different value."""
        end = len(frame) if end is None else end
        if end <= start:
            return frame
        pos = self.integer(start, end)
        out = bytearray(frame)
        out[pos] = (out[pos] + self.integer(1, 255)) & 0xFF
        return bytes(out)

    def truncate(self, frame: bytes) -> bytes:
        """The first part of ``frame`` (at least one byte, never all of it)."""
        return frame[: self.integer(1, max(len(frame) - 1, 2))]

    def split(self, frame: bytes) -> tuple[bytes, bytes]:
        """``frame`` cut in two at a point inside it (for a stall)."""
        cut = self.integer(1, max(len(frame) - 1, 2))
        return frame[:cut], frame[cut:]
