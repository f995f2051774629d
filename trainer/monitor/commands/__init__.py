"""Subcommands of ``helio-monitor``, one module each."""
