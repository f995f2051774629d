"""Subcommands of ``helio-train``, one module each."""
