"""Subcommands of ``helio-edge``, one module each."""
