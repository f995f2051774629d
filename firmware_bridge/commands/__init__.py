"""Subcommands of ``helio-bridge`` (``decode``, ``read``), one module each.

Must not import: ``edge``, ``trainer``.
"""
