"""Shared fakes and launchers for tests, bench, demo and the aarch64 job; laptop side,
not in the device wheel.

Holds: ``agent_rig`` (the agent on scripted devices, on a scaled or a manual clock).

Must not import: ``trainer``, TensorFlow. Nothing on the device imports it.
"""
