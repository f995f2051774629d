"""Subcommands of ``helio-bridge``, one module each."""
