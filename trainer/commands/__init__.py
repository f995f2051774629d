"""Subcommands of ``helio-train``, one module each.

Must not import: ``edge.deploy``, ``edge.demo``.
"""
