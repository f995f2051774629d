"""The demo: the whole system on one machine (``make demo``, ``python -m edge.demo``).

Holds: the demo runner (simulated devices on ptys driven by the site
simulation, a local broker, the agent, a live view). Laptop side only: the
device wheel does not carry this package.

Must not import: ``trainer``, TensorFlow. Nothing on the device imports it.
"""
