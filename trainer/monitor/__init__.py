"""Central monitoring of a Helio Edge fleet over MQTT (``helio-monitor``).

Holds: ingest (validation against :mod:`edge.runtime.contract`, de-duplication,
loss accounting), the SQLite store, forecast scoring, drift detection, energy
plan scoring and its drift alarm (``plan_scoring``, ``plan_drift``), fleet
status, reports and export for retraining.

Must not import: ``edge.deploy``, ``edge.demo`` (it runs in the cloud, not on
a laptop beside a Pi).
"""
