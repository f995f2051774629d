"""Laptop-side deployment: ``helio-edge deploy`` / ``make deploy-to-device``.

Holds: building the wheel and offline wheelhouse (``build``), staging a
release (``release``), SSH/rsync transport (``remote``), the orchestration
(``orchestrate``), and ``device_script.py``, a standard-library-only script that is sent to the
Pi's python3 on stdin (it is read as text, never imported by the rest).

Must not import: ``trainer``, TensorFlow. The device wheel does not carry
this package (the health check the Pi runs after a switch is
:mod:`edge.runtime.health`).
"""
