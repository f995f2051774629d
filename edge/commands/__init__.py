"""Subcommands of ``helio-edge``, one module each.

Must not import: ``trainer``, TensorFlow; ``edge.deploy`` and
``edge.simulation`` only from ``deploy`` and ``simulate`` (the device wheel
leaves them out, and ``helio-edge`` then offers neither command).
"""
