"""Shared fakes and launchers for tests, bench, demo and the aarch64 job; laptop side,
not in the device wheel.

Holds: :mod:`~edge.testkit.agent_rig` (the agent on scripted devices, on a
scaled or a manual clock), :mod:`~edge.testkit.clocks` (a :class:`~edge.testkit.clocks.ManualClock`
that moves only when told), :mod:`~edge.testkit.fakes` (recording stand-ins
for the agent's publisher and systemd notifier, test certificates, hostile
archives) and :mod:`~edge.testkit.launchers` (free loopback ports, a real
mosquitto on one).

Must not import: ``trainer`` or ``tests`` (the bench, the demo and the
aarch64 job use this room without the test suite). Device code
(``edge.forecasting``, ``edge.runtime``, ``edge.commands``) must not import
this room: it is left out of the device wheel.
"""
