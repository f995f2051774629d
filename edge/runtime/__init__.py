"""What runs on the Pi: the agent and its I/O.

Holds: the agent loop (``agent``), the durable outbox (``outbox``), the MQTT
publisher (``publisher``), the MQTT contract and message builders
(``contract``, ``messages``), Home Assistant discovery (``discovery``), the
reading window (``window``), inbound commands (``inbound``), model rollout on
the device (``rollout``), systemd notification (``sdnotify``) and the agent's
configuration (``config``).

Must not import: ``trainer``, TensorFlow, ``edge.deploy``, ``edge.demo``,
``edge.simulation``.
"""
