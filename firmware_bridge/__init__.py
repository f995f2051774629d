"""firmware_bridge: serial charge controllers, battery monitors and inverters -> SI readings.

Holds: the one vocabulary of reading names (``readings``), a sans-IO core
(framers, decoders and protocol tables under ``protocols``, ``checksums``),
a thin I/O shell (``transport``, ``device``, ``drivers``), the byte-level
device simulators (``simulators``), and what every layer above shares: the
strict config loader, ``DeviceConfig`` and the id rule (``config``), the
clock (``clock``) and the timestamp format (``timestamps``). No MQTT, no ML.

Must not import: ``edge``, ``trainer`` (it is the bottom layer; a test reads
the imports to hold it).
"""
