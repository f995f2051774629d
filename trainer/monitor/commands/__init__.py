"""Subcommands of ``helio-monitor``, one module each.

Must not import: ``edge.deploy``, ``edge.demo``.
"""
